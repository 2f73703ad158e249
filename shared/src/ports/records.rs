//! The ownership table, as the functions use it: the file records and each owner's quota
//! usage, changed together so that a record never exists without its bytes counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::counters::{Counted, Counter, Tally};
use crate::domain::ids::{FileId, OwnerId};
use crate::domain::quota::{QuotaLimits, Usage};
use crate::domain::record::{FileRecord, FileStatus, Outcome};
use crate::domain::sequencer::Sequencer;

/// Whether a conditional write took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// The record is gone (or, for an adoption, already there), or a newer (or the same)
    /// event was applied first.
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
    /// Write a new pending record and reserve its declared size in its owner's quota, in one
    /// step. Refuses to overwrite ([`StoreError::AlreadyExists`]) and what does not fit
    /// ([`StoreError::Quota`]). Idempotent: the very same record already there is this
    /// create's own earlier write (a retried call whose first answer was lost), and succeeds.
    async fn create(&self, record: &FileRecord, limits: &QuotaLimits) -> Result<(), StoreError>;
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
    /// Replace the record by its tombstone ([`FileRecord::tombstone`]) and give back its
    /// bytes (ready) or its reservation (pending); a missing record or a tombstone is left
    /// as it is, and is not an error.
    async fn delete(&self, owner: &OwnerId, file_id: FileId) -> Result<(), StoreError>;
    /// Record an object event's outcome if the record exists, is not a tombstone, and
    /// `sequencer` is newer than the one stored. `Ready` settles the upload in the quota ([`StoreError::Quota`] and
    /// nothing written when it does not fit); `Rejected` releases it.
    async fn apply(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        sequencer: &Sequencer,
        outcome: &Outcome,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError>;
    /// Write the record of an object that arrived without one (an upload by temporary
    /// credentials) with its outcome applied, settling a `Ready` one in the quota. Refuses
    /// to overwrite a record ([`Applied::Superseded`]).
    async fn adopt(
        &self,
        record: &FileRecord,
        sequencer: &Sequencer,
        outcome: &Outcome,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError>;
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

/// How a record's change moves its owner's usage: the rule both stores follow.
pub fn account(
    usage: &mut Usage,
    before: Option<&FileRecord>,
    after: Option<&FileRecord>,
    limits: &QuotaLimits,
    now: i64,
) -> Result<(), StoreError> {
    fn in_status(r: Option<&FileRecord>, status: FileStatus) -> Option<&FileRecord> {
        r.filter(|r| r.status() == status)
    }
    // What the record stops counting for.
    if let Some(old) = in_status(before, FileStatus::Ready) {
        usage.remove(old.size().get(), now);
    }
    if let Some(old) = before {
        usage.release(old.file_id(), now);
    }
    // What it starts counting for.
    if let Some(new) = in_status(after, FileStatus::Ready) {
        usage
            .settle(new.file_id(), new.size().get(), now, limits)
            .map_err(StoreError::Quota)?;
    } else if let Some(new) = in_status(after, FileStatus::Pending) {
        let expires_at = new.expires_at().unwrap_or(i64::MAX);
        usage
            .reserve(new.file_id(), new.size().get(), expires_at, now, limits)
            .map_err(StoreError::Quota)?;
    }
    Ok(())
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

    /// Write one record and its owner's usage together, or neither (records are never
    /// removed: a delete writes a tombstone).
    fn change(
        tables: &mut Tables,
        before: Option<&FileRecord>,
        after: FileRecord,
        limits: &QuotaLimits,
    ) -> Result<(), StoreError> {
        let owner = after.owner().clone();
        let mut usage = tables.usage.get(&owner).cloned().unwrap_or_default();
        account(&mut usage, before, Some(&after), limits, now())?;
        tables.usage.insert(owner.clone(), usage);
        tables.rows.insert((owner, after.file_id()), after);
        Ok(())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Limits that never refuse: a removal only gives back.
const NO_LIMITS: QuotaLimits = QuotaLimits {
    max_bytes: u64::MAX,
    max_files: u64::MAX,
};

#[async_trait]
impl FileRecords for MemoryRecords {
    async fn create(&self, record: &FileRecord, limits: &QuotaLimits) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let key = (record.owner().clone(), record.file_id());
        match tables.rows.get(&key) {
            Some(existing) if existing == record => return Ok(()),
            Some(_) => return Err(StoreError::AlreadyExists),
            None => {}
        }
        Self::change(&mut tables, None, record.clone(), limits)
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

    async fn delete(&self, owner: &OwnerId, file_id: FileId) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let Some(before) = tables.rows.get(&(owner.clone(), file_id)).cloned() else {
            return Ok(());
        };
        if !before.is_live() {
            return Ok(());
        }
        let tombstone = before.tombstone(now());
        Self::change(&mut tables, Some(&before), tombstone, &NO_LIMITS)
    }

    async fn apply(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        sequencer: &Sequencer,
        outcome: &Outcome,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError> {
        let mut tables = self.tables();
        let Some(before) = tables.rows.get(&(owner.clone(), file_id)).cloned() else {
            return Ok(Applied::Superseded);
        };
        if !before.is_live() || before.has_applied(sequencer) {
            return Ok(Applied::Superseded);
        }
        let mut after = before.clone();
        after.apply(sequencer, outcome);
        Self::change(&mut tables, Some(&before), after, limits)?;
        Ok(Applied::Yes)
    }

    async fn adopt(
        &self,
        record: &FileRecord,
        sequencer: &Sequencer,
        outcome: &Outcome,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError> {
        let mut tables = self.tables();
        let key = (record.owner().clone(), record.file_id());
        if tables.rows.contains_key(&key) {
            return Ok(Applied::Superseded);
        }
        let mut after = record.clone();
        after.apply(sequencer, outcome);
        Self::change(&mut tables, None, after, limits)?;
        Ok(Applied::Yes)
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
