//! The ownership record: one row per file, keyed by owner and file id.
//!
//! Issuing an upload writes a `pending` row with a time-to-live; the ObjectCreated function
//! turns it `ready` or `rejected`. The [`FileRecords`] trait is the narrow port the
//! functions need; DynamoDB implements it in production and [`MemoryRecords`] in tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{FileId, OwnerId};
use crate::sequencer::Sequencer;
use crate::time::rfc3339;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Pending,
    Ready,
    Rejected,
}

impl FileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "ready" => Some(Self::Ready),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// One file as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub owner: OwnerId,
    pub file_id: FileId,
    pub filename: String,
    pub content_type: String,
    /// Declared size while pending; the stored object's size once ready.
    pub size: u64,
    pub sha256: Option<String>,
    pub status: FileStatus,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub etag: Option<String>,
    /// The S3 event sequencer of the last object event applied to this record.
    pub sequencer: Option<Sequencer>,
    /// When DynamoDB may delete the row (epoch seconds); `None` keeps it for good.
    pub expires_at: Option<i64>,
}

/// The `File` object of the API contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileView {
    pub file_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub status: FileStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
}

impl From<&FileRecord> for FileView {
    fn from(record: &FileRecord) -> Self {
        Self {
            file_id: record.file_id.to_string(),
            filename: record.filename.clone(),
            content_type: record.content_type.clone(),
            size: record.size,
            sha256: record.sha256.clone(),
            status: record.status,
            reason: record.reason.clone(),
            created_at: rfc3339(record.created_at),
            uploaded_at: record.uploaded_at.map(rfc3339),
        }
    }
}

/// What the ObjectCreated function concluded about an object, applied atomically to the
/// record only if the event is newer than the last one applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready {
        size: u64,
        etag: String,
        uploaded_at: DateTime<Utc>,
    },
    Rejected {
        reason: String,
        expires_at: i64,
    },
}

/// Whether a conditional write took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// The record is gone, or a newer (or the same) event was applied first.
    Superseded,
}

/// One page of a listing, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<FileRecord>,
    /// The last file id of this page when more may follow.
    pub next: Option<FileId>,
}

#[derive(Debug, thiserror::Error)]
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
}

#[async_trait]
pub trait FileRecords: Send + Sync {
    /// Write a new record; refuses to overwrite.
    async fn create(&self, record: &FileRecord) -> Result<(), StoreError>;
    async fn get(&self, owner: &OwnerId, file_id: FileId)
    -> Result<Option<FileRecord>, StoreError>;
    /// Newest first, at most `limit`, strictly older than `before` when given.
    async fn list(
        &self,
        owner: &OwnerId,
        limit: u32,
        before: Option<FileId>,
    ) -> Result<Page, StoreError>;
    /// Remove the record; removing a missing record is not an error.
    async fn delete(&self, owner: &OwnerId, file_id: FileId) -> Result<(), StoreError>;
    /// Record an object event's outcome if the record exists and `sequencer` is newer than
    /// the one stored.
    async fn apply(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        sequencer: &Sequencer,
        outcome: &Outcome,
    ) -> Result<Applied, StoreError>;
}

/// Applies an outcome to a record in memory: the same rules the DynamoDB update expresses.
pub fn apply_outcome(record: &mut FileRecord, sequencer: &Sequencer, outcome: &Outcome) {
    record.sequencer = Some(sequencer.clone());
    match outcome {
        Outcome::Ready {
            size,
            etag,
            uploaded_at,
        } => {
            record.status = FileStatus::Ready;
            record.size = *size;
            record.etag = Some(etag.clone());
            record.uploaded_at = Some(*uploaded_at);
            record.reason = None;
            record.expires_at = None;
        }
        Outcome::Rejected { reason, expires_at } => {
            record.status = FileStatus::Rejected;
            record.reason = Some(reason.clone());
            record.expires_at = Some(*expires_at);
        }
    }
}

/// An in-process store for tests and examples.
#[derive(Default)]
pub struct MemoryRecords {
    rows: Mutex<BTreeMap<(OwnerId, FileId), FileRecord>>,
}

impl MemoryRecords {
    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<(OwnerId, FileId), FileRecord>> {
        // A poisoned lock only means another test thread panicked; the map is still usable.
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl FileRecords for MemoryRecords {
    async fn create(&self, record: &FileRecord) -> Result<(), StoreError> {
        let mut rows = self.rows();
        let key = (record.owner.clone(), record.file_id);
        if rows.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        rows.insert(key, record.clone());
        Ok(())
    }

    async fn get(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        Ok(self.rows().get(&(owner.clone(), file_id)).cloned())
    }

    async fn list(
        &self,
        owner: &OwnerId,
        limit: u32,
        before: Option<FileId>,
    ) -> Result<Page, StoreError> {
        let rows = self.rows();
        let mut mine: Vec<&FileRecord> = rows
            .values()
            .filter(|r| &r.owner == owner && before.is_none_or(|b| r.file_id < b))
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse(r.file_id));
        let limit = limit as usize;
        let more = mine.len() > limit;
        let records: Vec<FileRecord> = mine.into_iter().take(limit).cloned().collect();
        let next = if more {
            records.last().map(|r| r.file_id)
        } else {
            None
        };
        Ok(Page { records, next })
    }

    async fn delete(&self, owner: &OwnerId, file_id: FileId) -> Result<(), StoreError> {
        self.rows().remove(&(owner.clone(), file_id));
        Ok(())
    }

    async fn apply(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        sequencer: &Sequencer,
        outcome: &Outcome,
    ) -> Result<Applied, StoreError> {
        let mut rows = self.rows();
        let Some(record) = rows.get_mut(&(owner.clone(), file_id)) else {
            return Ok(Applied::Superseded);
        };
        if record.sequencer.as_ref().is_some_and(|s| s >= sequencer) {
            return Ok(Applied::Superseded);
        }
        apply_outcome(record, sequencer, outcome);
        Ok(Applied::Yes)
    }
}
