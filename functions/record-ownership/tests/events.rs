//! The ownership handler fed `events/s3-object-created.json`, the file
//! `sam local invoke RecordOwnershipFunction -e` uses.

// Test helpers fail loudly on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::s3::S3Event;
use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use record_ownership::{Config, Deps, RecordOutcome, handle};
use serde_json::{Value, json};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::ownership::ObjectInfo;
use shared::domain::record::{FileRecord, FileStatus, RejectionReason, UploadMode};
use shared::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};
use shared::ports::{FileRecords, MemoryObjects, MemoryRecords, ObjectStore, StoreError};

/// Limits no test reaches.
const UNLIMITED: shared::domain::lifecycle::QuotaLimits = shared::domain::lifecycle::QuotaLimits {
    max_bytes: u64::MAX / 4,
    max_files: u64::MAX / 4,
};

const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const FILE: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const ETAG: &str = "efc76d557de7077b1deabc4c3755cac5";

fn key() -> String {
    format!("users/{SUB}/{FILE}")
}

fn event_json() -> Value {
    let path = format!(
        "{}/../../events/s3-object-created.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn invocation(event: Value) -> LambdaEvent<S3Event> {
    LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
}

struct World {
    deps: Deps,
    records: Arc<MemoryRecords>,
    objects: Arc<MemoryObjects>,
}

fn world_with(objects: Arc<dyn ObjectStore>, memory: Arc<MemoryObjects>) -> World {
    let config = Config::from_env(&[
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf"),
        ("QUOTA_BYTES", "3000"),
        ("QUOTA_FILES", "10"),
    ])
    .unwrap();
    let records = Arc::new(MemoryRecords::default());
    World {
        deps: Deps::new(config, records.clone(), objects),
        records,
        objects: memory,
    }
}

fn world() -> World {
    let objects = Arc::new(MemoryObjects::default());
    world_with(objects.clone(), objects)
}

fn pending(sha256: Option<&str>) -> FileRecord {
    let upload = UploadRequest {
        filename: Filename::parse("holiday photo.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(1024),
        sha256: sha256.map(|s| Sha256Checksum::parse(s).unwrap()),
    };
    let key = ObjectKey::new(
        OwnerId::from_sub(SUB).unwrap(),
        FileId::parse(FILE).unwrap(),
    );
    FileRecord::pending(
        key,
        &upload,
        UploadMode::Put,
        Utc::now(),
        Utc::now().timestamp() + 3600,
    )
}

/// The first bytes of the object the event file names: a PNG.
const PNG_START: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\0";

fn stored(size: u64, content_type: &str) -> ObjectInfo {
    ObjectInfo {
        size: ByteSize::new(size),
        content_type: Some(content_type.into()),
        etag: ETAG.into(),
        first_bytes: Some(PNG_START.to_vec()),
        ..ObjectInfo::default()
    }
}

async fn current(w: &World) -> Option<FileRecord> {
    w.records
        .get(
            &OwnerId::from_sub(SUB).unwrap(),
            FileId::parse(FILE).unwrap(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_matching_upload_becomes_ready_exactly_once() {
    let w = world();
    w.records.create(&pending(None), &UNLIMITED).await.unwrap();
    w.objects.put(&key(), stored(1024, "image/png"));

    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    assert_eq!(report.records[0].outcome, RecordOutcome::Ready);
    let record = current(&w).await.unwrap();
    assert_eq!(record.status(), FileStatus::Ready);
    assert_eq!(record.etag(), Some(ETAG));
    assert_eq!(record.expires_at(), None, "a ready record never expires");
    assert_eq!(
        shared::domain::time::rfc3339(record.uploaded_at().unwrap()),
        "2026-11-22T14:30:05Z"
    );

    // The same event again (S3 delivers at least once) changes nothing.
    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    assert_eq!(
        report.records[0].outcome,
        RecordOutcome::Skipped {
            why: "this event was already applied".into()
        }
    );
    assert_eq!(current(&w).await.unwrap(), record);

    // An older event arriving late changes nothing either.
    let mut late = event_json();
    late["Records"][0]["s3"]["object"]["sequencer"] = json!("0A1B2C3D4E5F678800");
    handle(&w.deps, invocation(late)).await.unwrap();
    assert_eq!(current(&w).await.unwrap(), record);
}

#[tokio::test]
async fn a_mismatched_upload_is_deleted_and_rejected() {
    for (object, reason, detail) in [
        (
            stored(2048, "image/png"),
            RejectionReason::SizeMismatch,
            "size_mismatch: declared 1024 bytes, received 2048 bytes",
        ),
        (
            stored(1024, "text/html"),
            RejectionReason::ContentTypeMismatch,
            "content_type_mismatch: declared image/png, received text/html",
        ),
    ] {
        let w = world();
        w.records.create(&pending(None), &UNLIMITED).await.unwrap();
        w.objects.put(&key(), object);
        let report = handle(&w.deps, invocation(event_json())).await.unwrap();
        assert_eq!(
            report.records[0].outcome,
            RecordOutcome::Rejected {
                reason: detail.into()
            }
        );
        assert!(!w.objects.contains(&key()), "the object is gone");
        let record = current(&w).await.unwrap();
        assert_eq!(record.status(), FileStatus::Rejected);
        assert_eq!(record.rejection().unwrap().reason(), reason);
        assert_eq!(record.rejection().unwrap().to_string(), detail);
    }
}

#[tokio::test]
async fn an_object_for_a_cancelled_upload_or_a_deleted_file_is_removed_and_not_adopted() {
    let owner = OwnerId::from_sub(SUB).unwrap();
    let file_id = FileId::parse(FILE).unwrap();
    for deleted_after_ready in [false, true] {
        let w = world();
        w.records.create(&pending(None), &UNLIMITED).await.unwrap();
        if deleted_after_ready {
            w.objects.put(&key(), stored(1024, "image/png"));
            handle(&w.deps, invocation(event_json())).await.unwrap();
            assert_eq!(current(&w).await.unwrap().status(), FileStatus::Ready);
        }
        // DELETE /uploads/{id} or DELETE /files/{id}: the record becomes a tombstone.
        w.records.delete(&owner, file_id).await.unwrap();
        // The object (still) there, its event (again, or late): removed, not adopted.
        w.objects.put(&key(), stored(1024, "image/png"));
        let mut event = event_json();
        event["Records"][0]["s3"]["object"]["sequencer"] = "0FFFFFFFFFFFFFFFFF".into();
        let report = handle(&w.deps, invocation(event)).await.unwrap();
        assert_eq!(
            report.records[0].outcome,
            RecordOutcome::Deleted {
                why: "the upload was cancelled or the file deleted".into()
            }
        );
        assert!(!w.objects.contains(&key()), "the object is gone");
        assert_eq!(current(&w).await, None, "no record for the owner");
        let tombstone = w
            .records
            .get_stored(&owner, file_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tombstone.status(), FileStatus::Deleted);
        let usage = w.records.usage(&owner).await.unwrap();
        assert_eq!((usage.bytes, usage.files), (0, 0));
        assert!(usage.reservations.is_empty());
    }
}

#[tokio::test]
async fn a_missing_checksum_is_a_rejection() {
    let w = world();
    w.records
        .create(
            &pending(Some("X3C/GKCGAHAW6UiwSu07ghA6Nr6kF1W2zd+vEKzjxu8=")),
            &UNLIMITED,
        )
        .await
        .unwrap();
    w.objects.put(&key(), stored(1024, "image/png"));
    handle(&w.deps, invocation(event_json())).await.unwrap();
    assert_eq!(
        current(&w).await.unwrap().rejection().unwrap().reason(),
        RejectionReason::ChecksumMismatch
    );
}

#[tokio::test]
async fn objects_that_are_gone_or_foreign_are_not_errors() {
    let w = world();
    w.records.create(&pending(None), &UNLIMITED).await.unwrap();
    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    assert_eq!(
        report.records[0].outcome,
        RecordOutcome::Skipped {
            why: "the object no longer exists".into()
        }
    );
    assert_eq!(current(&w).await.unwrap().status(), FileStatus::Pending);

    let mut outside = event_json();
    outside["Records"][0]["s3"]["object"]["key"] = json!("public/index.html");
    let report = handle(&w.deps, invocation(outside)).await.unwrap();
    assert_eq!(
        report.records[0].outcome,
        RecordOutcome::Ignored {
            why: "the key is outside users/".into()
        }
    );

    let mut other_bucket = event_json();
    other_bucket["Records"][0]["s3"]["bucket"]["name"] = json!("someone-elses-bucket");
    let report = handle(&w.deps, invocation(other_bucket)).await.unwrap();
    assert_eq!(
        report.records[0].outcome,
        RecordOutcome::Ignored {
            why: "the event is for another bucket".into()
        }
    );
}

#[tokio::test]
async fn an_object_without_a_record_is_adopted_when_it_passes_every_check() {
    let w = world();
    let mut named = stored(1024, "image/png");
    named
        .metadata
        .insert("filename".into(), "from uppy.png".into());
    w.objects.put(&key(), named);
    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    assert_eq!(report.records[0].outcome, RecordOutcome::Ready);
    let record = current(&w).await.unwrap();
    assert_eq!(record.status(), FileStatus::Ready);
    assert_eq!(record.mode(), &UploadMode::Credentials);
    assert_eq!(record.filename().as_str(), "from uppy.png");
    assert_eq!(record.expires_at(), None);
    let owner = OwnerId::from_sub(SUB).unwrap();
    let usage = w.records.usage(&owner).await.unwrap();
    assert_eq!(
        (usage.bytes, usage.files),
        (1024, 1),
        "settled in the quota"
    );
    assert!(w.objects.contains(&key()));
    // The same event again changes nothing.
    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    assert!(matches!(
        report.records[0].outcome,
        RecordOutcome::Skipped { .. }
    ));
}

#[tokio::test]
async fn an_adopted_object_that_fails_a_check_is_removed_and_its_record_says_why() {
    let not_png = ObjectInfo {
        first_bytes: Some(b"<svg onload=alert(1)>".to_vec()),
        ..stored(1024, "image/png")
    };
    let cases = [
        (stored(1024, "text/html"), "content_type_not_allowed"),
        (not_png, "content_mismatch"),
        (stored(3001, "image/png"), "quota_exceeded"),
    ];
    for (object, reason) in cases {
        let w = world();
        w.objects.put(&key(), object);
        let report = handle(&w.deps, invocation(event_json())).await.unwrap();
        let RecordOutcome::Rejected { reason: got } = &report.records[0].outcome else {
            panic!("{report:?}")
        };
        assert!(got.starts_with(reason), "{got}");
        assert!(!w.objects.contains(&key()), "the object is gone");
        let record = current(&w).await.unwrap();
        assert_eq!(record.status(), FileStatus::Rejected);
        assert_eq!(record.rejection().unwrap().reason().code(), reason);
        let usage = w
            .records
            .usage(&OwnerId::from_sub(SUB).unwrap())
            .await
            .unwrap();
        assert_eq!((usage.bytes, usage.files), (0, 0), "nothing counted");
    }
}

#[tokio::test]
async fn anything_else_under_users_is_removed() {
    for bad in [
        format!("users/{SUB}/not-a-file-id"),
        format!("users/{SUB}/../someone/{FILE}"),
        format!("users/{SUB}/./{FILE}"),
        format!("users/{SUB}//{FILE}"),
        format!("users/{SUB}/{FILE}/extra"),
        "users/loose-object".to_owned(),
    ] {
        let w = world();
        w.objects.put(&bad, stored(1024, "image/png"));
        let mut event = event_json();
        event["Records"][0]["s3"]["object"]["key"] =
            json!(record_ownership::event_key::encode_event_key(&bad));
        let report = handle(&w.deps, invocation(event)).await.unwrap();
        assert_eq!(
            report.records[0].outcome,
            RecordOutcome::Deleted {
                why: "the key is not users/{owner}/{file_id}".into()
            },
            "{bad}"
        );
        assert!(!w.objects.contains(&bad), "{bad}");
    }
}

#[tokio::test]
async fn an_upload_that_would_go_over_quota_is_rejected_on_arrival() {
    let w = world();
    // Another ready file already holds 2500 of the 3000 bytes.
    let other = ObjectKey::new(OwnerId::from_sub(SUB).unwrap(), FileId::generate());
    let mut big = FileRecord::pending(
        other,
        &UploadRequest {
            filename: Filename::parse("big.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(2500),
            sha256: None,
        },
        UploadMode::Put,
        Utc::now(),
        Utc::now().timestamp() + 3600,
    );
    big.apply(
        &shared::domain::sequencer::Sequencer::parse("01").unwrap(),
        &shared::domain::record::Outcome::Ready {
            size: ByteSize::new(2500),
            etag: "e".into(),
            uploaded_at: Utc::now(),
        },
    );
    w.records.create(&big, &UNLIMITED).await.unwrap();
    // This upload was issued (here with no limit) before the big one settled: it no longer
    // fits when it arrives.
    w.records.create(&pending(None), &UNLIMITED).await.unwrap();
    w.objects.put(&key(), stored(1024, "image/png"));
    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    let RecordOutcome::Rejected { reason } = &report.records[0].outcome else {
        panic!("{report:?}")
    };
    assert!(reason.starts_with("quota_exceeded: "), "{reason}");
    assert!(!w.objects.contains(&key()));
    let usage = w
        .records
        .usage(&OwnerId::from_sub(SUB).unwrap())
        .await
        .unwrap();
    assert_eq!((usage.bytes, usage.files), (2500, 1));
}

/// Fails HEAD for one key with a given error, as a throttled or misconfigured S3 would.
struct Flaky {
    inner: Arc<MemoryObjects>,
    failing_key: String,
    error: StoreError,
}

#[async_trait]
impl ObjectStore for Flaky {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        if key == self.failing_key {
            return Err(self.error.clone());
        }
        self.inner.head(key).await
    }
    async fn first_bytes(&self, key: &str, n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.first_bytes(key, n).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

#[tokio::test]
async fn a_failing_record_loses_none_of_the_others_says_if_retryable_and_fails_the_invocation() {
    for (error, retryable) in [
        (StoreError::Unavailable("SlowDown (HTTP 503)".into()), true),
        (StoreError::Failed("AccessDenied (HTTP 403)".into()), false),
    ] {
        let memory = Arc::new(MemoryObjects::default());
        let failing = format!("users/{SUB}/{}", FileId::generate());
        let w = world_with(
            Arc::new(Flaky {
                inner: memory.clone(),
                failing_key: failing.clone(),
                error: error.clone(),
            }),
            memory,
        );
        w.records.create(&pending(None), &UNLIMITED).await.unwrap();
        w.objects.put(&key(), stored(1024, "image/png"));

        let mut event = event_json();
        let mut bad = event["Records"][0].clone();
        bad["s3"]["object"]["key"] = json!(failing);
        event["Records"] = json!([bad, event["Records"][0].clone()]);

        let report = record_ownership::process_event(
            &w.deps,
            &serde_json::from_value(event.clone()).unwrap(),
        )
        .await;
        assert_eq!(
            report.records[0].outcome,
            RecordOutcome::Failed {
                error: error.to_string(),
                retryable
            }
        );
        assert_eq!(
            report.records[1].outcome,
            RecordOutcome::Ready,
            "the good record was processed"
        );

        // Through the Lambda handler the invocation fails either way: a transient failure
        // is retried by Lambda, a permanent one ends in the failure queue, never dropped.
        let err = handle(&w.deps, invocation(event)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "1 of 2 records failed ({} retryable); retry the event",
                usize::from(retryable)
            )
        );
        assert_eq!(current(&w).await.unwrap().status(), FileStatus::Ready);
    }
}

#[tokio::test]
async fn one_temporary_credential_adds_at_most_its_limit_of_objects() {
    let config = Config::from_env(&[
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        ("ALLOWED_CONTENT_TYPES", "image/*"),
        ("CREDENTIALS_MAX_OBJECTS", "2"),
    ])
    .unwrap();
    let records = Arc::new(MemoryRecords::default());
    let objects = Arc::new(MemoryObjects::default());
    let deps = Deps::new(config, records.clone(), objects.clone());
    let owner = OwnerId::from_sub(SUB).unwrap();
    // As S3 names the session of a credential of POST /credentials: `pu-<id>-<owner>`.
    let by = |credential: &str| format!("AWS:AROAEXAMPLEROLEID:pu-{credential}-{SUB}");
    let arrive = |principal: String| {
        let (deps, objects) = (&deps, objects.clone());
        async move {
            let file_id = FileId::generate();
            let key = format!("users/{SUB}/{file_id}");
            objects.put(&key, stored(1024, "image/png"));
            let mut event = event_json();
            event["Records"][0]["s3"]["object"]["key"] = json!(key);
            event["Records"][0]["userIdentity"]["principalId"] = json!(principal);
            let report = handle(deps, invocation(event)).await.unwrap();
            (file_id, key, report.records[0].outcome.clone())
        }
    };
    for _ in 0..2 {
        let (_, key, outcome) = arrive(by("0123456789ab")).await;
        assert_eq!(outcome, RecordOutcome::Ready);
        assert!(objects.contains(&key));
    }
    let (file_id, key, outcome) = arrive(by("0123456789ab")).await;
    let RecordOutcome::Rejected { reason } = outcome else {
        panic!("the third object of a credential limited to two: {outcome:?}")
    };
    assert!(reason.starts_with("credential_limit"), "{reason}");
    assert!(!objects.contains(&key), "removed");
    let record = records.get(&owner, file_id).await.unwrap().unwrap();
    assert_eq!(record.status(), FileStatus::Rejected);
    assert_eq!(
        record.rejection().map(|r| r.reason()),
        Some(RejectionReason::CredentialLimit)
    );
    assert_eq!(records.usage(&owner).await.unwrap().files, 2);

    let (_, _, outcome) = arrive(by("ba9876543210")).await;
    assert_eq!(
        outcome,
        RecordOutcome::Ready,
        "another credential has its own count"
    );
    let (_, _, outcome) = arrive("AWS:AROAEXAMPLEROLEID:issue-upload-url".into()).await;
    assert_eq!(
        outcome,
        RecordOutcome::Ready,
        "the function's own role (presigned uploads) is no temporary credential"
    );
}
