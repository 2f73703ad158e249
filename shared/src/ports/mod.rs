//! Ports: the narrow traits the functions call for state they do not own (the ownership
//! table with each user's quota, the bucket and its multipart uploads, the signing-key
//! secret, STS), their one error type, and in-memory implementations for tests. The AWS adapters in [`crate::aws`] implement the same traits.

pub mod credentials;
pub mod multipart;
pub mod objects;
pub mod records;
pub mod secrets;

pub use credentials::{CredentialsIssuer, StaticIssuer, TemporaryCredentials};
pub use multipart::{
    CompletedPart, Completion, MemoryMultipart, MultipartUploads, Unfinished, UploadedPart,
};
pub use objects::{MemoryObjects, ObjectStore};
pub use records::{Applied, FileRecords, MemoryRecords, Page};
pub use secrets::{SecretSource, StaticSecret};

use crate::domain::lifecycle::QuotaExceeded;
use crate::domain::lifecycle::Refusal;

/// Why a store call failed, in the two kinds a caller acts on differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A create found a row already there.
    #[error("record already exists")]
    AlreadyExists,
    /// Throttled, timed out or unreachable: worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (permissions, bad data): a bug or a misconfiguration.
    #[error("store failed: {0}")]
    Failed(String),
    /// The write would take its owner over quota; nothing was written.
    #[error("{0}")]
    Quota(QuotaExceeded),
    /// The object exists but nobody can read it: an archive storage class (S3 answers a GET
    /// with `InvalidObjectState`) or a customer-provided key (S3 answers 400 without it).
    /// Asking again changes nothing.
    #[error("object unreadable: {0}")]
    Unreadable(String),
}

impl From<Refusal> for StoreError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::AlreadyExists => Self::AlreadyExists,
            Refusal::Quota(exceeded) => Self::Quota(exceeded),
        }
    }
}

impl StoreError {
    /// Whether the same call may succeed if made again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}
