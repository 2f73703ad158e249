//! What to do when an object appears: the pure decision of the ObjectCreated function.
//!
//! Inputs are what the event says, what HEAD (and, for the types we sniff, the first bytes)
//! says about the object now, and the record. Events repeat, arrive late and out of order,
//! so the decision only acts when the event still describes the object that is there, and
//! the record write is conditional on the event's sequencer being newer than the last one
//! applied. An object with no record (an upload by temporary credentials) is adopted: it
//! gets a record made from what it says about itself (its size, Content-Type and `filename`
//! metadata), `ready` if it passes the checks every upload passes (the allow-list and its
//! active-content rule, the size limit, the content check; the quota when the record is
//! written), otherwise `rejected` with the object deleted. An object whose record is a
//! tombstone (the upload cancelled, the file deleted, even while the event was handled) is
//! deleted, and the tombstone stays.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::ids::ObjectKey;
use super::record::{FileRecord, FileStatus, Rejection, RejectionReason};
use super::sequencer::Sequencer;
use super::sniff;
use super::upload::{ByteSize, ContentType, Filename, Transfer, UploadError, UploadRules};

/// The user metadata a client may set on an upload by temporary credentials, to name it.
pub const FILENAME_METADATA: &str = "filename";

/// What HEAD tells us about a stored object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: ByteSize,
    pub content_type: Option<String>,
    /// Without the surrounding quotes.
    pub etag: String,
    /// Base64 SHA-256, when the object was uploaded with one and the HEAD asked for it.
    pub sha256: Option<String>,
    /// Base64 full-object CRC64NVME, when S3 holds one and the HEAD asked for it.
    pub crc64nvme: Option<String>,
    /// User metadata (`x-amz-meta-*`, names without the prefix).
    pub metadata: BTreeMap<String, String>,
    /// The stored headers that change how the object is served (`Content-Disposition`,
    /// `Cache-Control`, `Content-Encoding`, `Content-Language`), by their header names,
    /// when set. Nothing of ours sets any of them.
    pub served_headers: BTreeMap<&'static str, String>,
    /// The first bytes, read when the declared type is one we sniff.
    pub first_bytes: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do; the reason is logged.
    Skip(&'static str),
    /// The object matches its pending record.
    MarkReady { size: ByteSize, etag: String },
    /// The object does not match: delete it and mark the record rejected.
    Reject(Rejection),
    /// An object with no record: an upload by temporary credentials (or one whose pending
    /// record was deleted while it ran). Give it a record by [`adopt`].
    Adopt,
    /// This event's rejection was recorded but the object is still there (an earlier
    /// attempt failed between the two steps): delete it.
    EnsureDeleted,
    /// The record is a tombstone (the upload was cancelled, or the file deleted): whatever
    /// arrives for this key is removed, and the tombstone stays.
    Discard,
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
        return Decision::Adopt;
    };
    if !record.is_live() {
        return Decision::Discard;
    }
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

/// The headers an upload may not set: CloudFront would serve the object with them
/// (`Content-Disposition: inline` over the attachment rule, a year-long `Cache-Control` or
/// `Expires` at the edge, so that a deleted file stays there, a `Content-Encoding` that makes
/// the browser decode something else than the checked bytes, ...). None of our upload modes
/// asks for them, so any of them was set by the uploader.
pub const SERVED_HEADERS: [&str; 5] = [
    "Content-Disposition",
    "Cache-Control",
    "Content-Encoding",
    "Content-Language",
    "Expires",
];

/// Whether the uploader set a header we never ask for: one of [`SERVED_HEADERS`], or user
/// metadata other than [`FILENAME_METADATA`]. Checked on every mode, because a presigned
/// PUT's unsigned headers, a form's and a credentials upload's can carry them.
pub fn unrequested_headers(object: &ObjectInfo) -> Option<Rejection> {
    let mut found: Vec<String> = object
        .served_headers
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .filter(|(name, value)| !(**name == "Cache-Control" && only_forbids_caching(value)))
        .map(|(name, _)| (*name).to_owned())
        .collect();
    found.extend(
        object
            .metadata
            .keys()
            .filter(|name| !name.eq_ignore_ascii_case(FILENAME_METADATA))
            .map(|name| format!("x-amz-meta-{}", name.to_ascii_lowercase())),
    );
    if found.is_empty() {
        return None;
    }
    Some(Rejection::new(
        RejectionReason::HeadersNotAllowed,
        format!(
            "the upload set {}, which this service never asks for",
            found.join(", ")
        ),
    ))
}

/// Whether a `Cache-Control` only restricts caching (`no-cache`, `no-store`, `max-age=0`,
/// `private`, `must-revalidate`, `no-transform`). Browsers send such a header with a PUT by
/// themselves (Chromium with its cache disabled, `fetch` with `cache: "no-store"`), and S3
/// stores a PUT's `Cache-Control` with the object; it can only make CloudFront cache less.
/// Anything that allows caching (`public`, `max-age=N`, `s-maxage`, `immutable`, …) is refused.
fn only_forbids_caching(value: &str) -> bool {
    value.split(',').map(str::trim).all(|directive| {
        let directive = directive.to_ascii_lowercase();
        matches!(
            directive.as_str(),
            "no-cache"
                | "no-store"
                | "max-age=0"
                | "private"
                | "must-revalidate"
                | "no-transform"
                | ""
        )
    })
}

/// Why the stored object is not the one the record promised, if it is not.
pub fn mismatch(record: &FileRecord, object: &ObjectInfo) -> Option<Rejection> {
    if let Some(rejection) = unrequested_headers(object) {
        return Some(rejection);
    }
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
    if let Some(expected) = record.crc64nvme()
        && object.crc64nvme.as_deref() != Some(expected.as_str())
    {
        return Some(Rejection::new(
            RejectionReason::ChecksumMismatch,
            "the object's CRC64NVME is not the declared one",
        ));
    }
    sniffed(record.content_type(), object)
}

/// The content check: for the types we sniff, the first bytes must be that type's.
fn sniffed(content_type: &ContentType, object: &ObjectInfo) -> Option<Rejection> {
    let essence = content_type.essence();
    if !sniff::is_checked(essence) {
        return None;
    }
    let bytes = object.first_bytes.as_deref().unwrap_or_default();
    sniff::mismatch(essence, bytes).map(|why| Rejection::new(RejectionReason::ContentMismatch, why))
}

/// An adopted object: its record (pending), and whether it passes the checks every upload
/// passes (the allow-list, the size limit, the content check). The quota is checked when the
/// record is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    pub record: FileRecord,
    pub verdict: Result<(), Rejection>,
}

/// Make a record for an object that arrived without one, from what it says about itself:
/// its Content-Type, its size, and the `filename` metadata (else the file id).
pub fn adopt(
    key: &ObjectKey,
    object: &ObjectInfo,
    rules: &UploadRules,
    now: DateTime<Utc>,
) -> Adoption {
    let filename = object
        .metadata
        .get(FILENAME_METADATA)
        .and_then(|name| Filename::from_metadata(name))
        .unwrap_or_else(|| Filename::of_file_id(key.file_id));
    let content_type = object
        .content_type
        .as_deref()
        .and_then(|t| ContentType::parse(t).ok());
    let record_type = content_type
        .clone()
        .unwrap_or_else(ContentType::octet_stream);
    let record = FileRecord::arrived(key.clone(), filename, record_type, object.size, now);
    let verdict = match &content_type {
        None => Err(Rejection::new(
            RejectionReason::ContentTypeNotAllowed,
            format!(
                "the object has no usable Content-Type ({})",
                object.content_type.as_deref().unwrap_or("none")
            ),
        )),
        Some(content_type) => match rules.admit(content_type, object.size, Transfer::Multipart) {
            Err(
                err @ (UploadError::TypeNotAllowed { .. }
                | UploadError::ActiveContent(_)
                | UploadError::ParameterNotAccepted(_)),
            ) => Err(Rejection::new(
                RejectionReason::ContentTypeNotAllowed,
                err.to_string(),
            )),
            Err(err) => Err(Rejection::new(
                RejectionReason::SizeNotAllowed,
                err.to_string(),
            )),
            Ok(()) => unrequested_headers(object)
                .or_else(|| sniffed(content_type, object))
                .map_or(Ok(()), Err),
        },
    };
    Adoption { record, verdict }
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
        let mut record = FileRecord::pending(
            key,
            &upload,
            crate::domain::record::UploadMode::Put,
            Utc::now(),
            0,
        );
        if let Some(seq) = sequencer {
            let outcome = match status {
                FileStatus::Pending => panic!("a pending record has no sequencer"),
                FileStatus::Deleted => panic!("a tombstone is made by FileRecord::tombstone"),
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
            first_bytes: Some(PNG_START.to_vec()),
            ..ObjectInfo::default()
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
    fn whatever_arrives_for_a_tombstone_is_discarded() {
        let now = Utc::now().timestamp();
        for before in [
            record(FileStatus::Pending, None),
            record(FileStatus::Ready, Some("0B")),
        ] {
            let tombstone = crate::domain::lifecycle::tombstone(&before, now);
            assert!(!tombstone.is_live());
            assert_eq!(tombstone.file_id(), before.file_id());
            // Kept a day past the later of now and the upload's own expiry.
            assert_eq!(
                tombstone.expires_at(),
                Some(before.expires_at().unwrap_or(now).max(now) + 86_400)
            );
            // A matching object, a mismatched one, a newer event or a repeat: discarded.
            let other = ObjectInfo {
                size: ByteSize::new(11),
                ..object()
            };
            for (object, sequencer) in [(object(), "0A"), (other, "0C"), (object(), "0B")] {
                assert_eq!(
                    decide(Some(&tombstone), Some(&object), None, &seq(sequencer)),
                    Decision::Discard
                );
            }
            // Nothing there: nothing to do.
            assert!(matches!(
                decide(Some(&tombstone), None, None, &seq("0C")),
                Decision::Skip(_)
            ));
        }
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
    fn objects_without_records_are_adopted() {
        assert_eq!(
            decide(None, Some(&object()), Some("\"e1\""), &seq("0A")),
            Decision::Adopt
        );
    }

    fn rules() -> UploadRules {
        UploadRules {
            allowed_types: ["image/*", "application/pdf"]
                .iter()
                .map(|t| crate::domain::upload::ContentTypeRule::parse(t).unwrap())
                .collect(),
            max_bytes: 100,
            active_types: vec![],
        }
    }

    const PNG_START: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn the_first_bytes_must_be_the_declared_type() {
        let r = record(FileStatus::Pending, None);
        let html = ObjectInfo {
            first_bytes: Some(b"<html><script>".to_vec()),
            ..object()
        };
        match decide(Some(&r), Some(&html), None, &seq("0A")) {
            Decision::Reject(rejection) => {
                assert_eq!(rejection.reason(), RejectionReason::ContentMismatch);
                assert_eq!(
                    rejection.to_string(),
                    "content_mismatch: declared image/png, but the file does not start like one"
                );
            }
            other => panic!("{other:?}"),
        }
        let png = ObjectInfo {
            first_bytes: Some(PNG_START.to_vec()),
            ..object()
        };
        assert!(matches!(
            decide(Some(&r), Some(&png), None, &seq("0A")),
            Decision::MarkReady { .. }
        ));
    }

    #[test]
    fn adopted_objects_pass_the_same_checks() {
        let key = ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate());
        let now = Utc::now();
        let good = ObjectInfo {
            size: ByteSize::new(20),
            content_type: Some("image/png".into()),
            first_bytes: Some(PNG_START.to_vec()),
            metadata: [(
                FILENAME_METADATA.to_owned(),
                "holiday%20%C3%A9t%C3%A9.png".to_owned(),
            )]
            .into(),
            ..ObjectInfo::default()
        };
        let adoption = adopt(&key, &good, &rules(), now);
        assert_eq!(adoption.verdict, Ok(()));
        assert_eq!(adoption.record.filename().as_str(), "holiday été.png");
        assert_eq!(
            adoption.record.mode(),
            &crate::domain::record::UploadMode::Credentials
        );
        assert_eq!(adoption.record.size(), ByteSize::new(20));

        let unnamed = ObjectInfo {
            metadata: BTreeMap::new(),
            ..good.clone()
        };
        assert_eq!(
            adopt(&key, &unnamed, &rules(), now)
                .record
                .filename()
                .as_str(),
            key.file_id.to_string()
        );
        for (object, reason) in [
            (
                ObjectInfo {
                    content_type: Some("text/html".into()),
                    ..good.clone()
                },
                RejectionReason::ContentTypeNotAllowed,
            ),
            // `image/*` allows it, but an SVG can carry a script: refused unless opted in.
            (
                ObjectInfo {
                    content_type: Some("image/svg+xml".into()),
                    first_bytes: Some(b"<svg xmlns=\"http://www.w3.org/2000/svg\">".to_vec()),
                    ..good.clone()
                },
                RejectionReason::ContentTypeNotAllowed,
            ),
            (
                ObjectInfo {
                    content_type: None,
                    ..good.clone()
                },
                RejectionReason::ContentTypeNotAllowed,
            ),
            (
                ObjectInfo {
                    size: ByteSize::new(101),
                    ..good.clone()
                },
                RejectionReason::SizeNotAllowed,
            ),
            (
                ObjectInfo {
                    size: ByteSize::new(0),
                    ..good.clone()
                },
                RejectionReason::SizeNotAllowed,
            ),
            (
                ObjectInfo {
                    first_bytes: Some(b"GIF89a".to_vec()),
                    ..good.clone()
                },
                RejectionReason::ContentMismatch,
            ),
        ] {
            let verdict = adopt(&key, &object, &rules(), now).verdict;
            assert_eq!(verdict.map_err(|r| r.reason()), Err(reason), "{object:?}");
        }
        // Opted in by name (ACTIVE_CONTENT_TYPES), the same SVG is adopted.
        let svg = ObjectInfo {
            content_type: Some("image/svg+xml".into()),
            first_bytes: Some(b"<svg xmlns=\"http://www.w3.org/2000/svg\">".to_vec()),
            ..good.clone()
        };
        let opted_in = UploadRules {
            active_types: vec!["image/svg+xml".into()],
            ..rules()
        };
        assert_eq!(adopt(&key, &svg, &opted_in, now).verdict, Ok(()));
    }

    /// Each header an uploader could add, as HEAD reports it.
    fn smuggled() -> Vec<(ObjectInfo, &'static str)> {
        let mut cases: Vec<(ObjectInfo, &'static str)> = SERVED_HEADERS
            .iter()
            .map(|name| {
                let mut object = object();
                object.served_headers.insert(name, "x".into());
                (object, *name)
            })
            .collect();
        let mut meta = object();
        meta.metadata.insert("Owner".into(), "bob".into());
        cases.push((meta, "x-amz-meta-owner"));
        cases
    }

    #[test]
    fn headers_we_never_ask_for_are_rejected_on_every_mode() {
        for (object, name) in smuggled() {
            // An issued upload (PUT, form, multipart).
            let Decision::Reject(rejection) = decide(
                Some(&record(FileStatus::Pending, None)),
                Some(&object),
                None,
                &seq("0A"),
            ) else {
                panic!("{name} accepted");
            };
            assert_eq!(rejection.reason(), RejectionReason::HeadersNotAllowed);
            assert!(rejection.detail().contains(name), "{rejection}");
            // An adopted one (temporary credentials).
            let key = ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate());
            let verdict = adopt(&key, &object, &rules(), Utc::now()).verdict;
            assert_eq!(
                verdict.map_err(|r| r.reason()),
                Err(RejectionReason::HeadersNotAllowed),
                "{name}"
            );
        }
        // Our own metadata, and empty values (S3 keeps none), are fine.
        let mut ours = object();
        ours.metadata
            .insert(FILENAME_METADATA.into(), "a.png".into());
        ours.served_headers.insert("Cache-Control", String::new());
        assert_eq!(unrequested_headers(&ours), None);
        // What a browser may add to a PUT by itself only forbids caching: accepted.
        for harmless in [
            "no-cache",
            "no-store, no-cache",
            "max-age=0",
            "No-Cache, private",
        ] {
            ours.served_headers.insert("Cache-Control", harmless.into());
            assert_eq!(unrequested_headers(&ours), None, "{harmless}");
        }
        for caching in [
            "public",
            "max-age=31536000",
            "no-cache, s-maxage=60",
            "immutable",
        ] {
            ours.served_headers.insert("Cache-Control", caching.into());
            assert!(unrequested_headers(&ours).is_some(), "{caching}");
        }
    }

    #[test]
    fn a_declared_crc64nvme_must_be_the_objects() {
        let mut r = record(FileStatus::Pending, None);
        r.sha256 = None;
        r.crc64nvme = Some(crate::domain::parts::Crc64Checksum::from_value(7));
        let other = ObjectInfo {
            crc64nvme: Some(
                crate::domain::parts::Crc64Checksum::from_value(8)
                    .as_str()
                    .into(),
            ),
            sha256: None,
            ..object()
        };
        assert!(matches!(
            decide(Some(&r), Some(&other), None, &seq("0A")),
            Decision::Reject(_)
        ));
        let same = ObjectInfo {
            crc64nvme: Some(
                crate::domain::parts::Crc64Checksum::from_value(7)
                    .as_str()
                    .into(),
            ),
            ..other
        };
        assert!(matches!(
            decide(Some(&r), Some(&same), None, &seq("0A")),
            Decision::MarkReady { .. }
        ));
    }
}
