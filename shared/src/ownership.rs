//! What to do when an object appears: the pure decision of the ObjectCreated function.
//!
//! Inputs are what the event says, what HEAD says about the object now, and the record.
//! Events repeat, arrive late and out of order, so the decision only acts when the event
//! still describes the object that is there, and the record write is conditional on the
//! event's sequencer being newer than the last one applied.

use crate::objects::ObjectInfo;
use crate::records::{FileRecord, FileStatus};
use crate::sequencer::Sequencer;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do; the reason is logged.
    Skip(&'static str),
    /// The object matches its pending record.
    MarkReady { size: u64, etag: String },
    /// The object does not match: delete it and mark the record rejected.
    Reject { reason: String },
    /// An object under `users/` with no record (never issued, expired, or deleted by its
    /// owner while the upload was running): nobody can see it, so delete it.
    DeleteOrphan,
    /// This event's rejection was recorded but the object is still there (an earlier
    /// attempt failed between the two steps): delete it.
    EnsureDeleted,
}

pub fn decide(
    record: Option<&FileRecord>,
    object: Option<&ObjectInfo>,
    event_etag: Option<&str>,
    sequencer: &Sequencer,
) -> Decision {
    let Some(object) = object else {
        return Decision::Skip("the object no longer exists");
    };
    if event_etag.is_some_and(|etag| etag.trim_matches('"') != object.etag) {
        return Decision::Skip(
            "the object was replaced after this event; its own event will follow",
        );
    }
    let Some(record) = record else {
        return Decision::DeleteOrphan;
    };
    if let Some(applied) = &record.sequencer {
        if applied > sequencer {
            return Decision::Skip("a newer event for this key was already applied");
        }
        if applied == sequencer {
            return if record.status == FileStatus::Rejected {
                Decision::EnsureDeleted
            } else {
                Decision::Skip("this event was already applied")
            };
        }
    }
    match mismatch(record, object) {
        Some(reason) => Decision::Reject { reason },
        None => Decision::MarkReady {
            size: object.size,
            etag: object.etag.clone(),
        },
    }
}

/// Why the stored object is not the one the record promised, if it is not.
pub fn mismatch(record: &FileRecord, object: &ObjectInfo) -> Option<String> {
    if object.size != record.size {
        return Some(format!(
            "size_mismatch: declared {} bytes, received {} bytes",
            record.size, object.size
        ));
    }
    let stored_type = object.content_type.as_deref().unwrap_or("");
    if stored_type != record.content_type {
        return Some(format!(
            "content_type_mismatch: declared {}, received {}",
            record.content_type,
            if stored_type.is_empty() {
                "none"
            } else {
                stored_type
            }
        ));
    }
    if let Some(expected) = &record.sha256
        && object.sha256.as_deref() != Some(expected.as_str())
    {
        return Some("checksum_mismatch: the object's SHA-256 is not the declared one".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FileId, OwnerId};
    use chrono::Utc;

    fn record(status: FileStatus, sequencer: Option<&str>) -> FileRecord {
        FileRecord {
            owner: OwnerId::from_sub("alice").unwrap(),
            file_id: FileId::generate(),
            filename: "a.png".into(),
            content_type: "image/png".into(),
            size: 10,
            sha256: Some("c2hh".into()),
            status,
            reason: None,
            created_at: Utc::now(),
            uploaded_at: None,
            etag: None,
            sequencer: sequencer.map(|s| Sequencer::parse(s).unwrap()),
            expires_at: Some(0),
        }
    }

    fn object() -> ObjectInfo {
        ObjectInfo {
            size: 10,
            content_type: Some("image/png".into()),
            etag: "e1".into(),
            sha256: Some("c2hh".into()),
        }
    }

    fn seq(s: &str) -> Sequencer {
        Sequencer::parse(s).unwrap()
    }

    #[test]
    fn a_matching_object_makes_the_record_ready() {
        let decision = decide(
            Some(&record(FileStatus::Pending, None)),
            Some(&object()),
            Some("e1"),
            &seq("0A"),
        );
        assert_eq!(
            decision,
            Decision::MarkReady {
                size: 10,
                etag: "e1".into()
            }
        );
    }

    #[test]
    fn each_mismatch_is_a_rejection_with_a_reason() {
        let r = record(FileStatus::Pending, None);
        let cases = [
            (
                ObjectInfo {
                    size: 11,
                    ..object()
                },
                "size_mismatch",
            ),
            (
                ObjectInfo {
                    content_type: Some("text/html".into()),
                    ..object()
                },
                "content_type_mismatch",
            ),
            (
                ObjectInfo {
                    content_type: None,
                    ..object()
                },
                "content_type_mismatch",
            ),
            (
                ObjectInfo {
                    sha256: None,
                    ..object()
                },
                "checksum_mismatch",
            ),
            (
                ObjectInfo {
                    sha256: Some("b3RoZXI=".into()),
                    ..object()
                },
                "checksum_mismatch",
            ),
        ];
        for (obj, code) in cases {
            match decide(Some(&r), Some(&obj), None, &seq("0A")) {
                Decision::Reject { reason } => assert!(reason.starts_with(code), "{reason}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn no_checksum_declared_means_none_is_required() {
        let r = FileRecord {
            sha256: None,
            ..record(FileStatus::Pending, None)
        };
        let obj = ObjectInfo {
            sha256: None,
            ..object()
        };
        assert!(matches!(
            decide(Some(&r), Some(&obj), None, &seq("0A")),
            Decision::MarkReady { .. }
        ));
    }

    #[test]
    fn repeats_late_and_stale_events_change_nothing() {
        let ready = record(FileStatus::Ready, Some("0B"));
        assert_eq!(
            decide(Some(&ready), Some(&object()), Some("e1"), &seq("0B")),
            Decision::Skip("this event was already applied")
        );
        assert!(matches!(
            decide(Some(&ready), Some(&object()), Some("e1"), &seq("0A")),
            Decision::Skip(_)
        ));
        assert!(matches!(
            decide(Some(&ready), None, Some("e1"), &seq("0C")),
            Decision::Skip(_)
        ));
        assert!(matches!(
            decide(Some(&ready), Some(&object()), Some("e0"), &seq("0C")),
            Decision::Skip(_)
        ));
    }

    #[test]
    fn a_retried_rejection_finishes_the_delete() {
        let rejected = record(FileStatus::Rejected, Some("0B"));
        assert_eq!(
            decide(Some(&rejected), Some(&object()), None, &seq("0B")),
            Decision::EnsureDeleted
        );
    }

    #[test]
    fn a_later_good_upload_after_a_rejection_becomes_ready() {
        let rejected = record(FileStatus::Rejected, Some("0B"));
        assert!(matches!(
            decide(Some(&rejected), Some(&object()), None, &seq("0C")),
            Decision::MarkReady { .. }
        ));
    }

    #[test]
    fn objects_without_records_are_orphans() {
        assert_eq!(
            decide(None, Some(&object()), Some("\"e1\""), &seq("0A")),
            Decision::DeleteOrphan
        );
    }
}
