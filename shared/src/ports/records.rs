//! The ownership table, as the functions use it: the file records and each owner's quota
//! usage, changed together so that a record never exists without its bytes counted.
//!
//! A store is a ledger: it loads what one change needs (the record, then the owner's usage
//! and its version), and commits the result on condition that neither moved since; it lists;
//! and it counts the same way. What to write is decided here, once, for both stores
//! ([`FileRecords::change`] and [`FileRecords::count`], the one retry loop for lost races),
//! by the rules of [`crate::domain::lifecycle`] and [`crate::domain::counters`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::counters::{Counted, Counter, Tally};
use crate::domain::ids::{FileId, OwnerId};
pub use crate::domain::lifecycle::Applied;
use crate::domain::lifecycle::{self, Change, Next, QuotaLimits, Usage};
use crate::domain::record::{FileRecord, Outcome};
use crate::domain::sequencer::Sequencer;

/// How often a change or a count is tried when what it read moved under it.
pub const ATTEMPTS: u32 = 10;

/// One page of a listing, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub records: Vec<FileRecord>,
    /// The last file id of this page when more may follow.
    pub next: Option<FileId>,
}

/// The version an owner's usage was read at: `None` when it has never been written. A
/// commit writes the next one.
pub type UsageVersion = Option<u64>;

/// Whether a conditional commit took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committed {
    Yes,
    /// What was read moved since: read again.
    Moved,
}

/// A random wait before attempt `attempt` (1…): up to 10 ms × 2^attempt, at most 1 s, so
/// that contenders that collided back off by different amounts (DynamoDB cancels every
/// transaction of a conflict, not all but one).
pub fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let cap = (10u64 << attempt.min(7)).min(1000);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    Duration::from_millis(hasher.finish() % cap + 1)
}

#[async_trait]
pub trait FileRecords: Send + Sync {
    // ---- The ledger: what each store implements.

    /// The record as stored, tombstones included: for record-ownership, which must see
    /// them. The API asks [`FileRecords::get`].
    async fn get_stored(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError>;
    /// The owner's usage (ready bytes and files, and reservations) and its version.
    async fn load_usage(&self, owner: &OwnerId) -> Result<(Usage, UsageVersion), StoreError>;
    /// Write `after` and the owner's `usage` together, or neither, on condition that the
    /// record is still `before` and the usage still at `version`.
    async fn commit(
        &self,
        before: Option<&FileRecord>,
        after: &FileRecord,
        usage: &Usage,
        version: UsageVersion,
    ) -> Result<Committed, StoreError>;
    /// Newest first, at most `limit`, strictly older than `before` when given; tombstones
    /// are left out (a page may then hold fewer than `limit` records, with `next` set).
    async fn list(
        &self,
        owner: &OwnerId,
        limit: u32,
        before: Option<FileId>,
    ) -> Result<Page, StoreError>;
    /// The tally of `counter` for `owner` (`None`: never counted, or expired and removed).
    async fn load_tally(
        &self,
        owner: &OwnerId,
        counter: &Counter,
    ) -> Result<Option<Tally>, StoreError>;
    /// Write the tally `after`, on condition that it is still `before`.
    async fn commit_tally(
        &self,
        owner: &OwnerId,
        counter: &Counter,
        before: Option<Tally>,
        after: Tally,
    ) -> Result<Committed, StoreError>;
    /// Wait `wait` before trying again after a lost race.
    async fn pause(&self, wait: Duration);

    // ---- Written once, on the ledger.

    /// Make one [`Change`] of the record `owner`/`file_id` and its owner's usage together,
    /// or neither: read the record, decide by [`lifecycle::next`]; when there is something
    /// to write, read the usage, move it by [`lifecycle::account`], and commit both, trying
    /// again (up to [`ATTEMPTS`] times) when either moved since the read. A refusal writes
    /// nothing.
    async fn change(
        &self,
        owner: &OwnerId,
        file_id: FileId,
        change: Change<'_>,
        limits: &QuotaLimits,
    ) -> Result<Applied, StoreError> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.pause(backoff(attempt)).await;
            }
            let before = self.get_stored(owner, file_id).await?;
            let now = chrono::Utc::now().timestamp();
            let after = match lifecycle::next(&change, before.as_ref(), now)? {
                Next::Done(applied) => return Ok(applied),
                Next::Write(after) => *after,
            };
            let (mut usage, version) = self.load_usage(owner).await?;
            lifecycle::account(&mut usage, before.as_ref(), Some(&after), limits, now)
                .map_err(StoreError::Quota)?;
            match self
                .commit(before.as_ref(), &after, &usage, version)
                .await?
            {
                Committed::Yes => return Ok(Applied::Yes),
                Committed::Moved => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the record or its owner's usage kept changing; try again".into(),
        ))
    }
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
    async fn usage(&self, owner: &OwnerId) -> Result<Usage, StoreError> {
        Ok(self.load_usage(owner).await?.0)
    }
    /// Count one more of `counter` for `owner` at `now` (the rule is [`Counter::count`]),
    /// committed only if nobody counted in between (trying again up to [`ATTEMPTS`] times);
    /// [`Counted::Full`] writes nothing.
    async fn count(
        &self,
        owner: &OwnerId,
        counter: &Counter,
        now: i64,
    ) -> Result<Counted, StoreError> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.pause(backoff(attempt)).await;
            }
            let stored = self.load_tally(owner, counter).await?;
            let counted = counter.count(stored, now);
            let Counted::Yes(tally) = counted else {
                return Ok(counted);
            };
            match self.commit_tally(owner, counter, stored, tally).await? {
                Committed::Yes => return Ok(counted),
                Committed::Moved => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the count kept changing; try again".into(),
        ))
    }
}

#[derive(Default)]
struct Tables {
    rows: BTreeMap<(OwnerId, FileId), FileRecord>,
    usage: BTreeMap<OwnerId, (Usage, u64)>,
    counts: BTreeMap<(OwnerId, String), Tally>,
}

/// An in-process ledger for tests and examples, with the DynamoDB adapter's conditions:
/// a map behind a lock.
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
    async fn get_stored(
        &self,
        owner: &OwnerId,
        file_id: FileId,
    ) -> Result<Option<FileRecord>, StoreError> {
        Ok(self.tables().rows.get(&(owner.clone(), file_id)).cloned())
    }

    async fn load_usage(&self, owner: &OwnerId) -> Result<(Usage, UsageVersion), StoreError> {
        Ok(match self.tables().usage.get(owner) {
            Some((usage, version)) => (usage.clone(), Some(*version)),
            None => (Usage::default(), None),
        })
    }

    async fn commit(
        &self,
        before: Option<&FileRecord>,
        after: &FileRecord,
        usage: &Usage,
        version: UsageVersion,
    ) -> Result<Committed, StoreError> {
        let mut tables = self.tables();
        let owner = after.owner().clone();
        let key = (owner.clone(), after.file_id());
        let stored_version = tables.usage.get(&owner).map(|(_, v)| *v);
        if tables.rows.get(&key) != before || stored_version != version {
            return Ok(Committed::Moved);
        }
        tables
            .usage
            .insert(owner, (usage.clone(), version.map_or(1, |v| v + 1)));
        tables.rows.insert(key, after.clone());
        Ok(Committed::Yes)
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

    async fn load_tally(
        &self,
        owner: &OwnerId,
        counter: &Counter,
    ) -> Result<Option<Tally>, StoreError> {
        let key = (owner.clone(), counter.name().to_owned());
        Ok(self.tables().counts.get(&key).copied())
    }

    /// Commits take microseconds under one lock: a loser only lets the winner's thread run.
    async fn pause(&self, _wait: Duration) {
        std::thread::yield_now();
    }

    async fn commit_tally(
        &self,
        owner: &OwnerId,
        counter: &Counter,
        before: Option<Tally>,
        after: Tally,
    ) -> Result<Committed, StoreError> {
        let mut tables = self.tables();
        let key = (owner.clone(), counter.name().to_owned());
        if tables.counts.get(&key).copied() != before {
            return Ok(Committed::Moved);
        }
        tables.counts.insert(key, after);
        Ok(Committed::Yes)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::ids::ObjectKey;
    use crate::domain::record::UploadMode;
    use crate::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};

    fn pending(owner: &OwnerId, size: u64) -> FileRecord {
        let upload = UploadRequest {
            filename: Filename::parse("a.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(size),
            sha256: None,
        };
        let now = Utc::now();
        FileRecord::pending(
            ObjectKey::new(owner.clone(), FileId::generate()),
            &upload,
            UploadMode::Put,
            Utc.timestamp_opt(now.timestamp(), 0).unwrap(),
            now.timestamp() + 900,
        )
    }

    #[tokio::test]
    async fn a_commit_on_a_stale_read_writes_nothing() {
        let store = MemoryRecords::default();
        let owner = OwnerId::from_sub("alice").unwrap();
        let first = pending(&owner, 10);
        let (usage, version) = store.load_usage(&owner).await.unwrap();
        assert_eq!(version, None);
        // Someone else commits in between: the usage moved.
        store.create(&first, &QuotaLimits::UNLIMITED).await.unwrap();
        let second = pending(&owner, 20);
        let stale = store.commit(None, &second, &usage, version).await.unwrap();
        assert_eq!(stale, Committed::Moved);
        assert_eq!(store.get(&owner, second.file_id()).await.unwrap(), None);
        // The record moved: a commit that read it as absent loses too.
        let (usage, version) = store.load_usage(&owner).await.unwrap();
        let lost = store.commit(None, &first, &usage, version).await.unwrap();
        assert_eq!(lost, Committed::Moved);
        // Read afresh, the same write goes through, and the usage's version moves on.
        let fresh = store.commit(None, &second, &usage, version).await.unwrap();
        assert_eq!(fresh, Committed::Yes);
        assert_eq!(store.load_usage(&owner).await.unwrap().1, Some(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_creates_retry_and_cannot_overshoot_the_quota() {
        let store = std::sync::Arc::new(MemoryRecords::default());
        let owner = OwnerId::from_sub("alice").unwrap();
        let limits = QuotaLimits {
            max_bytes: 50,
            max_files: 100,
        };
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, record) = (store.clone(), pending(&owner, 10));
                tokio::spawn(async move { store.create(&record, &limits).await })
            })
            .collect();
        let mut created = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => created += 1,
                Err(StoreError::Quota(_)) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(created, 5);
        let usage = store.usage(&owner).await.unwrap();
        assert_eq!(usage.in_use(Utc::now().timestamp()), (50, 5));
    }
}
