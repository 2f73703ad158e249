//! The ownership table, as the functions use it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ids::{FileId, OwnerId};
use crate::domain::record::{FileRecord, Outcome};
use crate::domain::sequencer::Sequencer;

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

/// An in-process store for tests and examples, with the DynamoDB adapter's semantics.
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
        let key = (record.owner().clone(), record.file_id());
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
            .filter(|r| r.owner() == owner && before.is_none_or(|b| r.file_id() < b))
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse(r.file_id()));
        let limit = limit as usize;
        let more = mine.len() > limit;
        let records: Vec<FileRecord> = mine.into_iter().take(limit).cloned().collect();
        let next = if more {
            records.last().map(FileRecord::file_id)
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
        if record.has_applied(sequencer) {
            return Ok(Applied::Superseded);
        }
        record.apply(sequencer, outcome);
        Ok(Applied::Yes)
    }
}
