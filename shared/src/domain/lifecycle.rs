//! A file record's life, in one place: how long each state lives, and what each change
//! (create, delete, apply an object event's outcome, adopt an object that arrived without
//! a record) does to the record and to its owner's quota usage.
//!
//! - **Pending** (a PUT or form upload): until its signature stops working, plus the pending
//!   retention ([`pending_expiry`]); a multipart upload's until the bucket's lifecycle rule
//!   has aborted it, plus the same retention ([`multipart_expiry`]). It reserves its
//!   declared size until then.
//! - **Ready**: never expires; its bytes count until it is deleted.
//! - **Rejected**: until the rejected retention ([`rejected_expiry`]); it counts nothing.
//! - **Deleted** (a tombstone): a day past the later of now and the upload's own expiry
//!   ([`tombstone`]), so that an event arriving late finds it and changes nothing.
//!
//! A change is decided in two steps, both pure: [`next`] gives the record after it from the
//! record as read (or says the change is already done or superseded), and [`account`] moves
//! the owner's usage from the record before to the record after, refusing what does not fit.
//! Both stores ([`crate::ports::MemoryRecords`] and the DynamoDB adapter) read, call these,
//! and write the record and the usage together, conditional on neither having moved.

use std::time::Duration;

use super::quota::{QuotaExceeded, QuotaLimits, Usage};
use super::record::{FileRecord, FileStatus, Outcome};
use super::sequencer::Sequencer;

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
}
