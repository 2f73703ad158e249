//! The ownership record: one per file, keyed by owner and file id.
//!
//! Issuing an upload writes a `pending` record with a time-to-live; the ObjectCreated
//! function turns it `ready` or `rejected`. A record is only ever made through
//! [`FileRecord::pending`] from a checked [`UploadRequest`], and changed only through
//! [`FileRecord::apply`], so every record holds parsed values and a consistent state.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{FileId, ObjectKey, OwnerId};
use super::parts::{Crc64Checksum, MultipartRequest};
use super::sequencer::Sequencer;
use super::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Pending,
    Ready,
    Rejected,
    /// A tombstone: the upload was cancelled or the file deleted. Never shown to the owner;
    /// it tells record-ownership to remove an object that still arrives for this key (a
    /// cancelled upload's URL stays valid until it expires) instead of adopting it.
    Deleted,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Rejected => "rejected",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            "rejected" => Some(Self::Rejected),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// How an upload's bytes travel to S3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadMode {
    /// A presigned PUT (`POST /uploads`).
    Put,
    /// A browser POST form (`POST /uploads/form`).
    Form,
    /// A multipart upload (`POST /uploads/multipart`), with its S3 upload id and its parts'
    /// size (the last part holds the rest).
    Multipart { upload_id: String, part_size: u64 },
    /// Temporary credentials (`POST /credentials`): the client made the key; the record is
    /// written when the object arrives.
    Credentials,
}

impl UploadMode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Form => "form",
            Self::Multipart { .. } => "multipart",
            Self::Credentials => "credentials",
        }
    }

    pub fn upload_id(&self) -> Option<&str> {
        match self {
            Self::Multipart { upload_id, .. } => Some(upload_id),
            _ => None,
        }
    }

    pub fn part_size(&self) -> Option<u64> {
        match self {
            Self::Multipart { part_size, .. } => Some(*part_size),
            _ => None,
        }
    }

    /// Read back the stored form (`mode`; `upload_id` and `part_size` for multipart).
    pub fn parse(mode: &str, upload_id: Option<String>, part_size: Option<u64>) -> Option<Self> {
        match (mode, upload_id, part_size) {
            ("put", None, None) => Some(Self::Put),
            ("form", None, None) => Some(Self::Form),
            ("multipart", Some(upload_id), Some(part_size))
                if !upload_id.is_empty() && part_size > 0 =>
            {
                Some(Self::Multipart {
                    upload_id,
                    part_size,
                })
            }
            ("credentials", None, None) => Some(Self::Credentials),
            _ => None,
        }
    }
}

/// Why an arrived object was refused: the fixed list a rejected file's `reason` starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectionReason {
    /// The object's size is not the declared size.
    SizeMismatch,
    /// The object's Content-Type is not the declared one.
    ContentTypeMismatch,
    /// The object's checksum is missing or not the declared one.
    ChecksumMismatch,
    /// The object's first bytes are not those of its declared type.
    ContentMismatch,
    /// The object's type is not in the allow-list (uploads by temporary credentials).
    ContentTypeNotAllowed,
    /// The object is larger than allowed, or empty (uploads by temporary credentials).
    SizeNotAllowed,
    /// The object does not fit in its owner's quota.
    QuotaExceeded,
    /// The upload set a header this service never asks for (`Content-Disposition`,
    /// `Cache-Control`, `Content-Encoding`, `Content-Language`, or `x-amz-meta-*` other than
    /// `filename`): it would change how the file is served.
    HeadersNotAllowed,
    /// Nobody can read the object back (an archive storage class, or a customer's own
    /// encryption key), so it can be neither checked nor viewed.
    Unreadable,
    /// The temporary credential that uploaded it had already added as many objects as one
    /// credential may (`CREDENTIALS_MAX_OBJECTS`).
    CredentialLimit,
}

impl RejectionReason {
    pub const ALL: [Self; 10] = [
        Self::SizeMismatch,
        Self::ContentTypeMismatch,
        Self::ChecksumMismatch,
        Self::ContentMismatch,
        Self::ContentTypeNotAllowed,
        Self::SizeNotAllowed,
        Self::QuotaExceeded,
        Self::HeadersNotAllowed,
        Self::Unreadable,
        Self::CredentialLimit,
    ];

    /// The snake_case code the owner sees at the start of `reason`.
    pub fn code(self) -> &'static str {
        match self {
            Self::SizeMismatch => "size_mismatch",
            Self::ContentTypeMismatch => "content_type_mismatch",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::ContentMismatch => "content_mismatch",
            Self::ContentTypeNotAllowed => "content_type_not_allowed",
            Self::SizeNotAllowed => "size_not_allowed",
            Self::QuotaExceeded => "quota_exceeded",
            Self::HeadersNotAllowed => "headers_not_allowed",
            Self::Unreadable => "object_unreadable",
            Self::CredentialLimit => "credential_limit",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.code() == code)
    }
}

/// A rejection as its owner sees it: the reason and what exactly differed. Shown (and
/// stored) as `"<code>: <detail>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    reason: RejectionReason,
    detail: String,
}

impl Rejection {
    pub fn new(reason: RejectionReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    pub fn reason(&self) -> RejectionReason {
        self.reason
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Read back the text [`fmt::Display`] writes.
    pub fn parse(text: &str) -> Option<Self> {
        let (code, detail) = text.split_once(": ").unwrap_or((text, ""));
        Some(Self::new(RejectionReason::from_code(code)?, detail))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason.code())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// One file as stored. Fields are readable by everyone and writable only inside this crate
/// (the stores rebuild records they read back).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub(crate) key: ObjectKey,
    pub(crate) filename: Filename,
    pub(crate) content_type: ContentType,
    /// Declared size while pending; the stored object's size once ready.
    pub(crate) size: ByteSize,
    pub(crate) sha256: Option<Sha256Checksum>,
    /// The whole object's CRC64NVME, declared for a multipart upload.
    pub(crate) crc64nvme: Option<Crc64Checksum>,
    pub(crate) mode: UploadMode,
    pub(crate) status: FileStatus,
    pub(crate) rejection: Option<Rejection>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) uploaded_at: Option<DateTime<Utc>>,
    pub(crate) etag: Option<String>,
    /// The S3 event sequencer of the last object event applied to this record.
    pub(crate) sequencer: Option<Sequencer>,
    /// When DynamoDB may delete the row (epoch seconds); `None` keeps it for good.
    pub(crate) expires_at: Option<i64>,
}

/// What the ObjectCreated function concluded about an object, applied to the record only if
/// the event is newer than the last one applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready {
        size: ByteSize,
        etag: String,
        uploaded_at: DateTime<Utc>,
    },
    Rejected {
        rejection: Rejection,
        expires_at: i64,
    },
}

impl FileRecord {
    /// The record of a newly issued upload (`Put` or `Form`): `pending` until its object
    /// arrives, and removed by DynamoDB's TTL at `expires_at` (epoch seconds) if it never
    /// does.
    pub fn pending(
        key: ObjectKey,
        upload: &UploadRequest,
        mode: UploadMode,
        created_at: DateTime<Utc>,
        expires_at: i64,
    ) -> Self {
        Self {
            key,
            filename: upload.filename.clone(),
            content_type: upload.content_type.clone(),
            size: upload.size,
            sha256: upload.sha256.clone(),
            crc64nvme: None,
            mode,
            status: FileStatus::Pending,
            rejection: None,
            created_at,
            uploaded_at: None,
            etag: None,
            sequencer: None,
            expires_at: Some(expires_at),
        }
    }

    /// The record of a multipart upload just created in S3 as `upload_id`.
    pub fn pending_multipart(
        key: ObjectKey,
        request: &MultipartRequest,
        upload_id: String,
        created_at: DateTime<Utc>,
        expires_at: i64,
    ) -> Self {
        Self {
            crc64nvme: request.crc64nvme.clone(),
            ..Self::pending(
                key,
                &request.upload,
                UploadMode::Multipart {
                    upload_id,
                    part_size: request.plan.part_size,
                },
                created_at,
                expires_at,
            )
        }
    }

    /// The record of an object that arrived by temporary credentials, with no record: what
    /// the object says about itself, before its checks are applied (as an outcome).
    pub fn arrived(
        key: ObjectKey,
        filename: Filename,
        content_type: ContentType,
        size: ByteSize,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            key,
            filename,
            content_type,
            size,
            sha256: None,
            crc64nvme: None,
            mode: UploadMode::Credentials,
            status: FileStatus::Pending,
            rejection: None,
            created_at,
            uploaded_at: None,
            etag: None,
            sequencer: None,
            expires_at: None,
        }
    }

    /// Apply an object event's outcome: the same change the DynamoDB update expresses.
    pub fn apply(&mut self, sequencer: &Sequencer, outcome: &Outcome) {
        self.sequencer = Some(sequencer.clone());
        match outcome {
            Outcome::Ready {
                size,
                etag,
                uploaded_at,
            } => {
                self.status = FileStatus::Ready;
                self.size = *size;
                self.etag = Some(etag.clone());
                self.uploaded_at = Some(*uploaded_at);
                self.rejection = None;
                self.expires_at = None;
            }
            Outcome::Rejected {
                rejection,
                expires_at,
            } => {
                self.status = FileStatus::Rejected;
                self.rejection = Some(rejection.clone());
                self.expires_at = Some(*expires_at);
            }
        }
    }

    /// Whether the owner sees this record (anything but a tombstone).
    pub fn is_live(&self) -> bool {
        self.status != FileStatus::Deleted
    }

    /// Whether an event with `sequencer` is no newer than the last one applied.
    pub fn has_applied(&self, sequencer: &Sequencer) -> bool {
        self.sequencer.as_ref().is_some_and(|s| s >= sequencer)
    }

    pub fn key(&self) -> &ObjectKey {
        &self.key
    }

    pub fn owner(&self) -> &OwnerId {
        &self.key.owner
    }

    pub fn file_id(&self) -> FileId {
        self.key.file_id
    }

    pub fn filename(&self) -> &Filename {
        &self.filename
    }

    pub fn content_type(&self) -> &ContentType {
        &self.content_type
    }

    pub fn size(&self) -> ByteSize {
        self.size
    }

    pub fn sha256(&self) -> Option<&Sha256Checksum> {
        self.sha256.as_ref()
    }

    pub fn crc64nvme(&self) -> Option<&Crc64Checksum> {
        self.crc64nvme.as_ref()
    }

    pub fn mode(&self) -> &UploadMode {
        &self.mode
    }

    pub fn status(&self) -> FileStatus {
        self.status
    }

    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    pub fn uploaded_at(&self) -> Option<DateTime<Utc>> {
        self.uploaded_at
    }

    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    pub fn sequencer(&self) -> Option<&Sequencer> {
        self.sequencer.as_ref()
    }

    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pending() -> FileRecord {
        let upload = UploadRequest {
            filename: Filename::parse("a.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(10),
            sha256: None,
        };
        let key = ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate());
        FileRecord::pending(
            key,
            &upload,
            UploadMode::Put,
            Utc.timestamp_opt(1_000, 0).unwrap(),
            5_000,
        )
    }

    #[test]
    fn ready_clears_the_ttl_and_rejected_sets_it() {
        let mut record = pending();
        assert_eq!(
            (record.status(), record.expires_at()),
            (FileStatus::Pending, Some(5_000))
        );
        let seq = Sequencer::parse("0A").unwrap();
        let rejection = Rejection::new(RejectionReason::SizeMismatch, "declared 10 bytes");
        record.apply(
            &seq,
            &Outcome::Rejected {
                rejection: rejection.clone(),
                expires_at: 9_000,
            },
        );
        assert_eq!(record.status(), FileStatus::Rejected);
        assert_eq!(record.rejection(), Some(&rejection));
        assert_eq!(record.expires_at(), Some(9_000));
        assert!(record.has_applied(&seq));

        let later = Sequencer::parse("0B").unwrap();
        assert!(!record.has_applied(&later));
        let uploaded_at = Utc.timestamp_opt(2_000, 0).unwrap();
        record.apply(
            &later,
            &Outcome::Ready {
                size: ByteSize::new(10),
                etag: "e".into(),
                uploaded_at,
            },
        );
        assert_eq!(record.status(), FileStatus::Ready);
        assert_eq!(record.rejection(), None);
        assert_eq!(record.expires_at(), None, "a ready record never expires");
        assert_eq!(record.uploaded_at(), Some(uploaded_at));
    }

    #[test]
    fn rejections_read_back_what_they_write() {
        for reason in RejectionReason::ALL {
            let rejection = Rejection::new(reason, "declared 1, received 2: odd");
            assert_eq!(Rejection::parse(&rejection.to_string()), Some(rejection));
            let bare = Rejection::new(reason, "");
            assert_eq!(bare.to_string(), reason.code());
            assert_eq!(Rejection::parse(reason.code()), Some(bare));
        }
        assert_eq!(Rejection::parse("made_up: x"), None);
    }

    #[test]
    fn modes_read_back_what_they_write() {
        for mode in [
            UploadMode::Put,
            UploadMode::Form,
            UploadMode::Multipart {
                upload_id: "u1".into(),
                part_size: 5 << 20,
            },
            UploadMode::Credentials,
        ] {
            let upload_id = mode.upload_id().map(str::to_owned);
            assert_eq!(
                UploadMode::parse(mode.as_str(), upload_id, mode.part_size()),
                Some(mode)
            );
        }
        assert_eq!(UploadMode::parse("multipart", None, Some(1)), None);
        assert_eq!(UploadMode::parse("put", Some("u".into()), None), None);
    }
}
