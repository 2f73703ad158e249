//! Temporary credentials for a browser, from STS AssumeRole with a session policy.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// Credentials STS issued. `Debug` never prints the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: DateTime<Utc>,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait CredentialsIssuer: Send + Sync {
    /// Credentials limited by `policy` (a session policy), named `session_name`, valid for
    /// `duration`.
    async fn issue(
        &self,
        session_name: &str,
        policy: &str,
        duration: Duration,
    ) -> Result<TemporaryCredentials, StoreError>;
}

/// Issues fixed credentials and remembers the last policy asked for, for tests.
pub struct StaticIssuer {
    pub credentials: TemporaryCredentials,
    pub last: std::sync::Mutex<Option<(String, String, Duration)>>,
}

impl StaticIssuer {
    pub fn new(credentials: TemporaryCredentials) -> Self {
        Self {
            credentials,
            last: std::sync::Mutex::new(None),
        }
    }
}

#[async_trait]
impl CredentialsIssuer for StaticIssuer {
    async fn issue(
        &self,
        session_name: &str,
        policy: &str,
        duration: Duration,
    ) -> Result<TemporaryCredentials, StoreError> {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((session_name.to_owned(), policy.to_owned(), duration));
        Ok(self.credentials.clone())
    }
}
