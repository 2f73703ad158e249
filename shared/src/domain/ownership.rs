//! What to do when an object appears: the pure decision of the ObjectCreated function.
//!
//! Inputs are what the event says, what HEAD says about the object now, and the record.
//! Events repeat, arrive late and out of order, so the decision only acts when the event
//! still describes the object that is there, and the record write is conditional on the
//! event's sequencer being newer than the last one applied.

use super::record::{FileRecord, FileStatus, Rejection, RejectionReason};
use super::sequencer::Sequencer;
use super::upload::ByteSize;

/// What HEAD tells us about a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: ByteSize,
    pub content_type: Option<String>,
    /// Without the surrounding quotes.
    pub etag: String,
    /// Base64 SHA-256, when the object was uploaded with one and the HEAD asked for it.
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do; the reason is logged.
    Skip(&'static str),
    /// The object matches its pending record.
    MarkReady { size: ByteSize, etag: String },
    /// The object does not match: delete it and mark the record rejected.
    Reject(Rejection),
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
    if let Some(applied) = record.sequencer() {
        if applied > sequencer {
            return Decision::Skip("a newer event for this key was already applied");
        }
        if applied == sequencer {
            return if record.status() == FileStatus::Rejected {
                Decision::EnsureDeleted
            } else {
                Decision::Skip("this event was already applied")
            };
        }
    }
    match mismatch(record, object) {
        Some(rejection) => Decision::Reject(rejection),
        None => Decision::MarkReady {
            size: object.size,
            etag: object.etag.clone(),
        },
    }
}

/// Why the stored object is not the one the record promised, if it is not.
pub fn mismatch(record: &FileRecord, object: &ObjectInfo) -> Option<Rejection> {
    if object.size != record.size() {
        return Some(Rejection::new(
            RejectionReason::SizeMismatch,
            format!(
                "declared {} bytes, received {} bytes",
                record.size(),
                object.size
            ),
        ));
    }
    let stored_type = object.content_type.as_deref().unwrap_or("");
    if stored_type != record.content_type().as_str() {
        return Some(Rejection::new(
            RejectionReason::ContentTypeMismatch,
            format!(
                "declared {}, received {}",
                record.content_type(),
                if stored_type.is_empty() {
                    "none"
                } else {
                    stored_type
                }
            ),
        ));
    }
    if let Some(expected) = record.sha256()
        && object.sha256.as_deref() != Some(expected.as_str())
    {
        return Some(Rejection::new(
            RejectionReason::ChecksumMismatch,
            "the object's SHA-256 is not the declared one",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{FileId, ObjectKey, OwnerId};
    use crate::domain::record::Outcome;
    use crate::domain::upload::{ContentType, Filename, Sha256Checksum, UploadRequest};
    use chrono::Utc;

    fn checksum() -> Sha256Checksum {
        Sha256Checksum::from_digest(&[7; 32])
    }

    /// A record in `status`, with `sequencer` as the last event applied.
    fn record(status: FileStatus, sequencer: Option<&str>) -> FileRecord {
        let upload = UploadRequest {
            filename: Filename::parse("a.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(10),
            sha256: Some(checksum()),
        };
        let key = ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate());
        let mut record = FileRecord::pending(key, &upload, Utc::now(), 0);
        if let Some(seq) = sequencer {
            let outcome = match status {
                FileStatus::Pending => panic!("a pending record has no sequencer"),
                FileStatus::Ready => Outcome::Ready {
                    size: ByteSize::new(10),
                    etag: "e1".into(),
                    uploaded_at: Utc::now(),
                },
                FileStatus::Rejected => Outcome::Rejected {
                    rejection: Rejection::new(RejectionReason::SizeMismatch, ""),
                    expires_at: 0,
                },
            };
            record.apply(&Sequencer::parse(seq).unwrap(), &outcome);
        }
        assert_eq!(record.status(), status);
        record
    }

    fn object() -> ObjectInfo {
        ObjectInfo {
            size: ByteSize::new(10),
            content_type: Some("image/png".into()),
            etag: "e1".into(),
            sha256: Some(checksum().as_str().to_owned()),
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
                size: ByteSize::new(10),
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
                    size: ByteSize::new(11),
                    ..object()
                },
                RejectionReason::SizeMismatch,
            ),
            (
                ObjectInfo {
                    content_type: Some("text/html".into()),
                    ..object()
                },
                RejectionReason::ContentTypeMismatch,
            ),
            (
                ObjectInfo {
                    content_type: None,
                    ..object()
                },
                RejectionReason::ContentTypeMismatch,
            ),
            (
                ObjectInfo {
                    sha256: None,
                    ..object()
                },
                RejectionReason::ChecksumMismatch,
            ),
            (
                ObjectInfo {
                    sha256: Some("b3RoZXI=".into()),
                    ..object()
                },
                RejectionReason::ChecksumMismatch,
            ),
        ];
        for (obj, want) in cases {
            match decide(Some(&r), Some(&obj), None, &seq("0A")) {
                Decision::Reject(rejection) => assert_eq!(rejection.reason(), want, "{rejection}"),
                other => panic!("{other:?}"),
            }
        }
        let Decision::Reject(size) = decide(
            Some(&r),
            Some(&ObjectInfo {
                size: ByteSize::new(12),
                ..object()
            }),
            None,
            &seq("0A"),
        ) else {
            panic!("a size mismatch")
        };
        assert_eq!(
            size.to_string(),
            "size_mismatch: declared 10 bytes, received 12 bytes"
        );
    }

    #[test]
    fn no_checksum_declared_means_none_is_required() {
        let mut r = record(FileStatus::Pending, None);
        r.sha256 = None;
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
