//! A file record's life, in one place: how long each state lives, and what each change
//! (create, delete, apply an object event's outcome, adopt an object that arrived without
//! a record) does to the record and to its owner's quota usage.
//!
//! - **Pending**: written when an upload is issued ([`pending`], [`pending_multipart`]). A
//!   PUT's or a form's lives until its signature stops working, plus the pending retention
//!   ([`pending_expiry`]); a multipart upload's until the bucket's lifecycle rule has aborted
//!   it, plus the same retention ([`multipart_expiry`]). It reserves its declared size until
//!   then.
//! - **Ready**: never expires; its bytes count until it is deleted.
//! - **Rejected**: until the rejected retention ([`rejected_expiry`]); it counts nothing.
//! - **Deleted** (a tombstone): a day past the later of now and the upload's own expiry
//!   ([`tombstone`]), so that an event arriving late finds it and changes nothing.
//!
//! A change is decided in two steps, both pure: [`next`] gives the record after it from the
//! record as read (or says the change is already done or superseded), and [`account`] moves
//! the owner's usage from the record before to the record after, refusing what does not fit.
//! [`crate::ports::FileRecords::change`], written once for both stores, reads, calls these,
//! and commits the record and the usage together, conditional on neither having moved.
//!
//! ## The quota
//!
//! Each user has bytes and files ([`QuotaLimits`]), counted in one [`Usage`]. Issuing an
//! upload reserves its declared size; the reservation holds until the upload's record would
//! expire. When the object arrives the reservation is settled into the user's ready bytes
//! and files (refused if that goes over), and it is released when the upload is rejected or
//! aborted; deleting a ready file gives its bytes back. Expired reservations (uploads that
//! never arrived) are dropped whenever the usage is next changed, so nothing needs to watch
//! the table's TTL deletions. The stores write the usage with the record, conditionally, so
//! parallel requests of one user cannot overshoot.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ids::{FileId, ObjectKey};
use super::parts::MultipartRequest;
use super::record::{FileRecord, FileStatus, Outcome, UploadMode};
use super::sequencer::Sequencer;
use super::time::whole_seconds;
use super::upload::UploadRequest;

/// How long a tombstone outlives the upload it ends (a day): S3 delivers events late
/// sometimes, and temporary credentials (at most 12 hours) can still write the key.
pub const TOMBSTONE_SECONDS: i64 = 86_400;

/// One change of one record.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Write a new pending record, reserving its declared size.
    Create(&'a FileRecord),
    /// Replace the record by its tombstone, giving back what it counted.
    Delete,
    /// Record an object event's outcome: `Ready` settles the upload, `Rejected` releases it.
    Apply {
        sequencer: &'a Sequencer,
        outcome: &'a Outcome,
    },
    /// Write the record of an object that arrived without one, its outcome applied.
    Adopt {
        record: &'a FileRecord,
        sequencer: &'a Sequencer,
        outcome: &'a Outcome,
    },
}

/// Whether a change took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// The record is gone (or, for an adoption, already there), or a newer (or the same)
    /// event was applied first.
    Superseded,
}

/// A change refused; nothing is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A create found a different record under its key.
    AlreadyExists,
    /// The change would take its owner over quota.
    Quota(QuotaExceeded),
}

/// What a change does, decided from the record as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing to write: answer this.
    Done(Applied),
    /// Write this record (records are never removed: a delete writes a tombstone).
    Write(Box<FileRecord>),
}

/// The record after `change`, from the record `before` as read (`now` in epoch seconds).
///
/// The superseded rule lives here: an event for a missing record or a tombstone, or one no
/// newer than the last applied, changes nothing; so does an adoption that finds a record, or
/// a delete that finds none. A create that finds the very record it would write is its own
/// earlier write (a retried call whose first answer was lost), and succeeds.
pub fn next(change: &Change<'_>, before: Option<&FileRecord>, now: i64) -> Result<Next, Refusal> {
    const SUPERSEDED: Next = Next::Done(Applied::Superseded);
    Ok(match (change, before) {
        (Change::Create(record), None) => Next::Write(Box::new((*record).clone())),
        (Change::Create(record), Some(existing)) if existing == *record => Next::Done(Applied::Yes),
        (Change::Create(_), Some(_)) => return Err(Refusal::AlreadyExists),
        (Change::Delete, Some(record)) if record.is_live() => {
            Next::Write(Box::new(tombstone(record, now)))
        }
        (Change::Delete, _) => SUPERSEDED,
        (Change::Apply { sequencer, outcome }, Some(record))
            if record.is_live() && !record.has_applied(sequencer) =>
        {
            let mut after = record.clone();
            after.apply(sequencer, outcome);
            Next::Write(Box::new(after))
        }
        (Change::Apply { .. }, _) => SUPERSEDED,
        (
            Change::Adopt {
                record,
                sequencer,
                outcome,
            },
            None,
        ) => {
            let mut after = (*record).clone();
            after.apply(sequencer, outcome);
            Next::Write(Box::new(after))
        }
        (Change::Adopt { .. }, Some(_)) => SUPERSEDED,
    })
}

/// How a record's change moves its owner's usage: a ready record's bytes and file are
/// given back and any reservation released; then the record after counts again, a ready one
/// settled (refused when it does not fit) and a pending one reserved until it expires. A
/// rejected record or a tombstone counts nothing, so a delete is never refused.
pub fn account(
    usage: &mut Usage,
    before: Option<&FileRecord>,
    after: Option<&FileRecord>,
    limits: &QuotaLimits,
    now: i64,
) -> Result<(), QuotaExceeded> {
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
        usage.settle(new.file_id(), new.size().get(), now, limits)?;
    } else if let Some(new) = in_status(after, FileStatus::Pending) {
        let expires_at = new.expires_at().unwrap_or(i64::MAX);
        usage.reserve(new.file_id(), new.size().get(), expires_at, now, limits)?;
    }
    Ok(())
}

/// The tombstone that replaces `record` when the upload is cancelled or the file deleted:
/// kept until [`TOMBSTONE_SECONDS`] after the later of `now` and the upload's own expiry,
/// when nothing issued for this key can still arrive.
pub fn tombstone(record: &FileRecord, now: i64) -> FileRecord {
    let until = record.expires_at.unwrap_or(now).max(now);
    FileRecord {
        status: FileStatus::Deleted,
        rejection: None,
        expires_at: Some(until.saturating_add(TOMBSTONE_SECONDS)),
        ..record.clone()
    }
}

/// The pending record of a single-request upload (a PUT or a form) of `upload` to `key`,
/// issued at `now`, whose signature works until `usable_until`: it lives until
/// [`pending_expiry`], reserving its declared size meanwhile.
pub fn pending(
    key: ObjectKey,
    upload: &UploadRequest,
    mode: UploadMode,
    usable_until: DateTime<Utc>,
    retention: Duration,
    now: DateTime<Utc>,
) -> FileRecord {
    let expires_at = pending_expiry(usable_until.timestamp(), retention);
    FileRecord::pending(key, upload, mode, whole_seconds(now), expires_at)
}

/// The pending record of a multipart upload created in S3 as `upload_id` at `now`: it lives
/// until [`multipart_expiry`], when the bucket's lifecycle rule has aborted the upload.
pub fn pending_multipart(
    key: ObjectKey,
    request: &MultipartRequest,
    upload_id: String,
    now: DateTime<Utc>,
    abort_days: u64,
    retention: Duration,
) -> FileRecord {
    let now = whole_seconds(now);
    let expires_at = multipart_expiry(now.timestamp(), abort_days, retention);
    FileRecord::pending_multipart(key, request, upload_id, now, expires_at)
}

/// When a single-request upload's pending record (a PUT or a form) expires: `retention`
/// after its signature stops working at `usable_until` (epoch seconds).
pub fn pending_expiry(usable_until: i64, retention: Duration) -> i64 {
    usable_until.saturating_add(seconds(retention))
}

/// When a multipart upload's pending record expires: `retention` after the bucket's
/// lifecycle rule has aborted the upload, `abort_days` after it was created at `now`.
pub fn multipart_expiry(now: i64, abort_days: u64, retention: Duration) -> i64 {
    let abort_after = i64::try_from(abort_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
    now.saturating_add(abort_after)
        .saturating_add(seconds(retention))
}

/// When a rejected record, rejected at `now`, expires.
pub fn rejected_expiry(now: i64, retention: Duration) -> i64 {
    now.saturating_add(seconds(retention))
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The limits of one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaLimits {
    pub max_bytes: u64,
    pub max_files: u64,
}

impl QuotaLimits {
    /// Limits that refuse nothing: for changes that only give back (a delete).
    pub const UNLIMITED: Self = Self {
        max_bytes: u64::MAX,
        max_files: u64::MAX,
    };
}

/// Uploads in progress a user may have at once, whatever the quota: this bounds the size of
/// the usage item (DynamoDB items are at most 400 KB).
pub const MAX_PENDING_UPLOADS: usize = 1000;

/// An issued upload not settled yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub bytes: u64,
    /// Epoch seconds; after this the upload can no longer arrive and the bytes are free.
    pub expires_at: i64,
}

/// What a user has: ready bytes and files, and reservations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
    pub reservations: BTreeMap<FileId, Reservation>,
}

/// Why an upload does not fit, with the numbers the client is told.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "quota exceeded: {used_bytes} of {max_bytes} bytes and {used_files} of {max_files} files are in use or reserved; this upload needs {requested_bytes} bytes{more}"
)]
pub struct QuotaExceeded {
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub used_files: u64,
    pub max_files: u64,
    pub requested_bytes: u64,
    /// Extra words when the limit hit is the number of uploads in progress.
    pub more: &'static str,
}

impl Usage {
    /// Forget reservations that can no longer be settled.
    fn drop_expired(&mut self, now: i64) {
        self.reservations.retain(|_, r| r.expires_at > now);
    }

    /// Bytes and files in use or reserved.
    pub fn in_use(&self, now: i64) -> (u64, u64) {
        let live = self.reservations.values().filter(|r| r.expires_at > now);
        let (bytes, files) =
            live.fold((0u64, 0u64), |(b, f), r| (b.saturating_add(r.bytes), f + 1));
        (
            self.bytes.saturating_add(bytes),
            self.files.saturating_add(files),
        )
    }

    fn check(&self, bytes: u64, now: i64, limits: &QuotaLimits) -> Result<(), QuotaExceeded> {
        let (used_bytes, used_files) = self.in_use(now);
        let too_many_pending = self.reservations.len() >= MAX_PENDING_UPLOADS;
        if used_bytes.saturating_add(bytes) > limits.max_bytes
            || used_files.saturating_add(1) > limits.max_files
            || too_many_pending
        {
            return Err(QuotaExceeded {
                used_bytes,
                max_bytes: limits.max_bytes,
                used_files,
                max_files: limits.max_files,
                requested_bytes: bytes,
                more: if too_many_pending {
                    " (at most 1000 uploads may be in progress at once)"
                } else {
                    ""
                },
            });
        }
        Ok(())
    }

    /// Reserve `bytes` for a new upload until `expires_at`.
    pub fn reserve(
        &mut self,
        file_id: FileId,
        bytes: u64,
        expires_at: i64,
        now: i64,
        limits: &QuotaLimits,
    ) -> Result<(), QuotaExceeded> {
        self.drop_expired(now);
        self.reservations.remove(&file_id);
        self.check(bytes, now, limits)?;
        self.reservations
            .insert(file_id, Reservation { bytes, expires_at });
        Ok(())
    }

    /// The object arrived with `bytes`: count it as a ready file, in place of its
    /// reservation (if any: uploads by temporary credentials have none). Refused when it
    /// does not fit; the reservation is released either way.
    pub fn settle(
        &mut self,
        file_id: FileId,
        bytes: u64,
        now: i64,
        limits: &QuotaLimits,
    ) -> Result<(), QuotaExceeded> {
        self.drop_expired(now);
        self.reservations.remove(&file_id);
        self.check(bytes, now, limits)?;
        self.bytes = self.bytes.saturating_add(bytes);
        self.files = self.files.saturating_add(1);
        Ok(())
    }

    /// The upload will not arrive (rejected, aborted, or its pending record deleted).
    pub fn release(&mut self, file_id: FileId, now: i64) {
        self.drop_expired(now);
        self.reservations.remove(&file_id);
    }

    /// A ready file of `bytes` was deleted.
    pub fn remove(&mut self, bytes: u64, now: i64) {
        self.drop_expired(now);
        self.bytes = self.bytes.saturating_sub(bytes);
        self.files = self.files.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::ids::{FileId, ObjectKey, OwnerId};
    use crate::domain::record::{Rejection, RejectionReason, UploadMode};
    use crate::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};

    const LIMITS: QuotaLimits = QuotaLimits {
        max_bytes: 100,
        max_files: 10,
    };
    const NOW: i64 = 1_800_000_000;

    fn pending(size: u64) -> FileRecord {
        let upload = UploadRequest {
            filename: Filename::parse("a.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(size),
            sha256: None,
        };
        FileRecord::pending(
            ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate()),
            &upload,
            UploadMode::Put,
            Utc.timestamp_opt(NOW, 0).unwrap(),
            NOW + 900,
        )
    }

    fn ready(size: u64) -> Outcome {
        Outcome::Ready {
            size: ByteSize::new(size),
            etag: "e".into(),
            uploaded_at: Utc.timestamp_opt(NOW, 0).unwrap(),
        }
    }

    fn rejected() -> Outcome {
        Outcome::Rejected {
            rejection: Rejection::new(RejectionReason::SizeMismatch, "declared 5, received 6"),
            expires_at: NOW + 60,
        }
    }

    fn seq(text: &str) -> Sequencer {
        Sequencer::parse(text).unwrap()
    }

    fn written(next: Result<Next, Refusal>) -> FileRecord {
        match next {
            Ok(Next::Write(record)) => *record,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn create_writes_once_and_its_retry_succeeds() {
        let record = pending(5);
        let change = Change::Create(&record);
        assert_eq!(written(next(&change, None, NOW)), record);
        assert_eq!(
            next(&change, Some(&record), NOW),
            Ok(Next::Done(Applied::Yes))
        );
        assert_eq!(
            next(&change, Some(&pending(5)), NOW),
            Err(Refusal::AlreadyExists)
        );
    }

    #[test]
    fn events_apply_once_in_sequencer_order() {
        let record = pending(5);
        let (older, first, later) = (seq("09"), seq("0A"), seq("0B"));
        let outcome = ready(5);
        let apply = |sequencer| Change::Apply {
            sequencer,
            outcome: &outcome,
        };
        let after = written(next(&apply(&first), Some(&record), NOW));
        assert_eq!(after.status(), FileStatus::Ready);
        // The same event again, or an older one: superseded.
        let superseded = Ok(Next::Done(Applied::Superseded));
        assert_eq!(next(&apply(&first), Some(&after), NOW), superseded);
        assert_eq!(next(&apply(&older), Some(&after), NOW), superseded);
        // A newer one applies; nothing there, or a tombstone: superseded.
        assert!(matches!(
            next(&apply(&later), Some(&after), NOW),
            Ok(Next::Write(_))
        ));
        assert_eq!(next(&apply(&later), None, NOW), superseded);
        let gone = tombstone(&record, NOW);
        assert_eq!(next(&apply(&later), Some(&gone), NOW), superseded);
    }

    #[test]
    fn adoption_writes_only_where_nothing_is() {
        let record = pending(5);
        let (sequencer, outcome) = (seq("0A"), rejected());
        let adopt = Change::Adopt {
            record: &record,
            sequencer: &sequencer,
            outcome: &outcome,
        };
        let after = written(next(&adopt, None, NOW));
        assert_eq!(after.status(), FileStatus::Rejected);
        assert_eq!(after.expires_at(), Some(NOW + 60));
        for there in [record.clone(), tombstone(&record, NOW)] {
            assert_eq!(
                next(&adopt, Some(&there), NOW),
                Ok(Next::Done(Applied::Superseded))
            );
        }
    }

    #[test]
    fn delete_leaves_a_tombstone_past_every_late_event() {
        let record = pending(5);
        let gone = written(next(&Change::Delete, Some(&record), NOW));
        assert!(!gone.is_live());
        assert_eq!(gone.expires_at(), Some(NOW + 900 + TOMBSTONE_SECONDS));
        // A ready record never expires: a day from now.
        let mut kept = record.clone();
        kept.apply(&seq("0A"), &ready(5));
        assert_eq!(
            written(next(&Change::Delete, Some(&kept), NOW)).expires_at(),
            Some(NOW + TOMBSTONE_SECONDS)
        );
        for there in [None, Some(&gone)] {
            assert_eq!(
                next(&Change::Delete, there, NOW),
                Ok(Next::Done(Applied::Superseded))
            );
        }
    }

    #[test]
    fn usage_follows_the_record() {
        let mut usage = Usage::default();
        let record = pending(60);
        account(&mut usage, None, Some(&record), &LIMITS, NOW).unwrap();
        assert_eq!(usage.in_use(NOW), (60, 1));
        // Another 60 bytes do not fit beside the reservation; nothing moves.
        let other = pending(60);
        let before = usage.clone();
        let refused = account(&mut usage, None, Some(&other), &LIMITS, NOW).unwrap_err();
        assert_eq!(refused.requested_bytes, 60);
        assert_eq!(usage, before);
        // Settled as ready with its real size, then deleted: all given back.
        let mut done = record.clone();
        done.apply(&seq("0A"), &ready(50));
        account(&mut usage, Some(&record), Some(&done), &LIMITS, NOW).unwrap();
        assert_eq!(
            (usage.bytes, usage.files, usage.reservations.len()),
            (50, 1, 0)
        );
        // A delete is never refused, whatever the limits.
        let gone = tombstone(&done, NOW);
        let none = QuotaLimits {
            max_bytes: 0,
            max_files: 0,
        };
        account(&mut usage, Some(&done), Some(&gone), &none, NOW).unwrap();
        assert_eq!(usage.in_use(NOW), (0, 0));
        // A rejected upload releases its reservation.
        account(&mut usage, None, Some(&other), &LIMITS, NOW).unwrap();
        let mut bad = other.clone();
        bad.apply(&seq("0A"), &rejected());
        account(&mut usage, Some(&other), Some(&bad), &LIMITS, NOW).unwrap();
        assert_eq!(usage.in_use(NOW), (0, 0));
    }

    #[test]
    fn lifetimes() {
        let day = Duration::from_secs(86_400);
        assert_eq!(pending_expiry(NOW, day), NOW + 86_400);
        assert_eq!(multipart_expiry(NOW, 7, day), NOW + 8 * 86_400);
        assert_eq!(rejected_expiry(NOW, day), NOW + 86_400);
        assert_eq!(pending_expiry(i64::MAX - 1, day), i64::MAX);
        assert_eq!(multipart_expiry(NOW, u64::MAX, Duration::MAX), i64::MAX);
    }

    /// The quota's own rules, on a [`Usage`] alone.
    mod usage {
        use super::super::*;
        use crate::domain::ids::FileId;

        const LIMITS: QuotaLimits = QuotaLimits {
            max_bytes: 100,
            max_files: 3,
        };

        #[test]
        fn reservations_count_until_they_expire() {
            let mut usage = Usage::default();
            let (a, b, c) = (FileId::generate(), FileId::generate(), FileId::generate());
            usage.reserve(a, 60, 1_000, 0, &LIMITS).unwrap();
            let err = usage.reserve(b, 41, 1_000, 0, &LIMITS).unwrap_err();
            assert_eq!(
                (err.used_bytes, err.max_bytes, err.requested_bytes),
                (60, 100, 41)
            );
            assert!(
                err.to_string()
                    .starts_with("quota exceeded: 60 of 100 bytes"),
                "{err}"
            );
            usage.reserve(b, 40, 1_000, 0, &LIMITS).unwrap();
            assert_eq!(usage.in_use(0), (100, 2));
            // After a's upload could no longer arrive, its bytes are free again.
            assert_eq!(usage.in_use(1_000), (0, 0));
            usage.reserve(c, 90, 2_000, 1_000, &LIMITS).unwrap();
            assert!(
                !usage.reservations.contains_key(&a),
                "expired ones are dropped"
            );
        }

        #[test]
        fn settling_replaces_the_reservation_and_release_frees_it() {
            let mut usage = Usage::default();
            let (a, b) = (FileId::generate(), FileId::generate());
            usage.reserve(a, 50, 1_000, 0, &LIMITS).unwrap();
            usage.settle(a, 50, 10, &LIMITS).unwrap();
            assert_eq!((usage.bytes, usage.files), (50, 1));
            assert!(usage.reservations.is_empty());
            assert_eq!(usage.in_use(10), (50, 1));
            // An arrival with no reservation (temporary credentials) that does not fit.
            let err = usage.settle(b, 51, 10, &LIMITS).unwrap_err();
            assert_eq!(err.used_bytes, 50);
            assert_eq!((usage.bytes, usage.files), (50, 1), "nothing counted");
            usage.reserve(b, 10, 1_000, 10, &LIMITS).unwrap();
            usage.release(b, 20);
            assert_eq!(usage.in_use(20), (50, 1));
            usage.remove(50, 30);
            assert_eq!(usage.in_use(30), (0, 0));
        }

        #[test]
        fn files_are_counted_too() {
            let mut usage = Usage::default();
            for _ in 0..3 {
                usage
                    .reserve(FileId::generate(), 1, 1_000, 0, &LIMITS)
                    .unwrap();
            }
            let err = usage
                .reserve(FileId::generate(), 1, 1_000, 0, &LIMITS)
                .unwrap_err();
            assert_eq!((err.used_files, err.max_files), (3, 3));
        }

        #[test]
        fn in_progress_uploads_are_bounded() {
            let limits = QuotaLimits {
                max_bytes: u64::MAX,
                max_files: u64::MAX,
            };
            let mut usage = Usage::default();
            for _ in 0..MAX_PENDING_UPLOADS {
                usage
                    .reserve(FileId::generate(), 1, 1_000, 0, &limits)
                    .unwrap();
            }
            let err = usage
                .reserve(FileId::generate(), 1, 1_000, 0, &limits)
                .unwrap_err();
            assert!(err.to_string().contains("in progress"), "{err}");
        }
    }
}
