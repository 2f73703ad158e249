//! The ownership table, as the functions use it: the file records and each owner's quota
//! usage, changed together so that a record never exists without its bytes counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::counters::{Counted, Counter, Tally};
use crate::domain::ids::{FileId, OwnerId};
pub use crate::domain::lifecycle::Applied;
use crate::domain::lifecycle::{self, Change, Next};
use crate::domain::quota::{QuotaLimits, Usage};
use crate::domain::record::{FileRecord, Outcome};
use crate::domain::sequencer::Sequencer;

/// One page of a listing, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<FileRecord>,
    /// The last file id of this page when more may follow.
    pub next: Option<FileId>,
}

#[async_trait]
pub trait FileRecords: Send + Sync {
    /// Make one [`Change`] of the record `owner`/`file_id` and its owner's usage together,
    /// or neither: read both, decide by [`lifecycle::next`] and [`lifecycle::account`], and
    /// write both on condition that neither moved since the read (trying again when one
    /// did). A refusal writes nothing.
    async fn change(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        change: Change<'_>,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError>;
    /// Write a new pending record and reserve its declared size in its owner's quota, in one
    /// step. Refuses to overwrite ([`StoreError::AlreadyExists`]) and what does not fit
    /// ([`StoreError::Quota`]). Idempotent: the very same record already there is this
    /// create's own earlier write (a retried call whose first answer was lost), and succeeds.
    async fn create(&self, record: &FileRecord, limits: &QuotaLimits) -> Result<(), StoreError> {
        let change = Change::Create(record);
        self.change(record.owner(), record.file_id(), change, limits)
            .await
            .map(drop)
    }
    /// The record as stored, tombstones included: for record-ownership, which must see
    /// them. The API asks [`FileRecords::get`].
    async fn get_stored(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError>;
    /// The record as its owner may see it: a tombstone is no record.
    async fn get(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        Ok(self
            .get_stored(owner, file_id)
            .await?
            .filter(FileRecord::is_live))
    }
    /// Newest first, at most `limit`, strictly older than `before` when given; tombstones
    /// are left out (a page may then hold fewer than `limit` records, with `next` set).
    async fn list(
        &self,
        owner: &OwnerId,
        limit: u32,
        before: Option<FileId>,
    ) -> Result<Page, StoreError>;
    /// Replace the record by its tombstone ([`lifecycle::tombstone`]) and give back its
    /// bytes (ready) or its reservation (pending); a missing record or a tombstone is left
    /// as it is, and is not an error.
    async fn delete(&self, owner: &OwnerId, file_id: FileId) -> Result<(), StoreError> {
        // A tombstone counts nothing: no limit is consulted.
        self.change(owner, file_id, Change::Delete, &QuotaLimits::UNLIMITED)
            .await
            .map(drop)
    }
    /// Record an object event's outcome if the record exists, is not a tombstone, and
    /// `sequencer` is newer than the one stored. `Ready` settles the upload in the quota
    /// ([`StoreError::Quota`] and nothing written when it does not fit); `Rejected` releases
    /// it.
    async fn apply(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        sequencer: &Sequencer,
        outcome: &Outcome,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError> {
        let change = Change::Apply { sequencer, outcome };
        self.change(owner, file_id, change, limits).await
    }
    /// Write the record of an object that arrived without one (an upload by temporary
    /// credentials) with its outcome applied, settling a `Ready` one in the quota. Refuses
    /// to overwrite a record ([`Applied::Superseded`]).
    async fn adopt(
        &self,
        record: &FileRecord,
        sequencer: &Sequencer,
        outcome: &Outcome,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError> {
        let change = Change::Adopt {
            record,
            sequencer,
            outcome,
        };
        self.change(record.owner(), record.file_id(), change, limits)
            .await
    }
    /// The owner's usage: ready bytes and files, and reservations.
    async fn usage(&self, owner: &OwnerId) -> Result<Usage, StoreError>;
    /// Count one more of `counter` for `owner` at `now` (the rule is [`Counter::count`]),
    /// committed only if nobody counted in between; [`Counted::Full`] writes nothing.
    async fn count(
        &self,
        owner: &OwnerId,
        counter: &Counter,
        now: i64,
    ) -> Result<Counted, StoreError>;
}

#[derive(Default)]
struct Tables {
    rows: BTreeMap<(OwnerId, FileId), FileRecord>,
    usage: BTreeMap<OwnerId, Usage>,
    counts: BTreeMap<(OwnerId, String), Tally>,
}

/// An in-process store for tests and examples, with the DynamoDB adapter's semantics.
#[derive(Default)]
pub struct MemoryRecords {
    tables: Mutex<Tables>,
}

impl MemoryRecords {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A poisoned lock only means another test thread panicked; the map is still usable.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl FileRecords for MemoryRecords {
    async fn change(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        change: Change<'_>,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError> {
        let mut tables = self.tables();
        let key = (owner.clone(), file_id);
        let now = chrono::Utc::now().timestamp();
        let before = tables.rows.get(&key);
        let after = match lifecycle::next(&change, before, now)? {
            Next::Done(applied) => return Ok(applied),
            Next::Write(after) => *after,
        };
        let mut usage = tables.usage.get(owner).cloned().unwrap_or_default();
        lifecycle::account(&mut usage, before, Some(&after), limits, now)
            .map_err(StoreError::Quota)?;
        tables.usage.insert(owner.clone(), usage);
        tables.rows.insert(key, after);
        Ok(Applied::Yes)
    }

    async fn get_stored(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        Ok(self.tables().rows.get(&(owner.clone(), file_id)).cloned())
    }

    async fn list(
        &self,
        owner: &OwnerId,
        limit: u32,
        before: Option<FileId>,
    ) -> Result<Page, StoreError> {
        let tables = self.tables();
        let mut mine: Vec<&FileRecord> = tables
            .rows
            .values()
            .filter(|r| r.owner() == owner && before.is_none_or(|b| r.file_id() < b))
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse(r.file_id()));
        // As DynamoDB's Query does: the page is counted first, then tombstones dropped.
        let limit = limit as usize;
        let more = mine.len() > limit;
        let counted: Vec<&FileRecord> = mine.into_iter().take(limit).collect();
        let next = if more {
            counted.last().map(|r| r.file_id())
        } else {
            None
        };
        let records = counted
            .into_iter()
            .filter(|r| r.is_live())
            .cloned()
            .collect();
        Ok(Page { records, next })
    }

    async fn usage(&self, owner: &OwnerId) -> Result<Usage, StoreError> {
        Ok(self.tables().usage.get(owner).cloned().unwrap_or_default())
    }

    async fn count(
        &self,
        owner: &OwnerId,
        counter: &Counter,
        now: i64,
    ) -> Result<Counted, StoreError> {
        let mut tables = self.tables();
        let key = (owner.clone(), counter.name().to_owned());
        let counted = counter.count(tables.counts.get(&key).copied(), now);
        if let Counted::Yes(tally) = counted {
            tables.counts.insert(key, tally);
        }
        Ok(counted)
    }
}
