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
use shared::domain::record::{FileRecord, FileStatus, RejectionReason};
use shared::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};
use shared::ports::{FileRecords, MemoryObjects, MemoryRecords, ObjectStore, StoreError};

const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const FILE: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const ETAG: &str = "0f343b0931126a20f133d67c2b018a3b";

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
    FileRecord::pending(key, &upload, Utc::now(), Utc::now().timestamp() + 3600)
}

fn stored(size: u64, content_type: &str) -> ObjectInfo {
    ObjectInfo {
        size: ByteSize::new(size),
        content_type: Some(content_type.into()),
        etag: ETAG.into(),
        sha256: None,
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
    w.records.create(&pending(None)).await.unwrap();
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
        w.records.create(&pending(None)).await.unwrap();
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
async fn a_missing_checksum_is_a_rejection() {
    let w = world();
    w.records
        .create(&pending(Some(
            "X3C/GKCGAHAW6UiwSu07ghA6Nr6kF1W2zd+vEKzjxu8=",
        )))
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
    w.records.create(&pending(None)).await.unwrap();
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
            why: "the key is not users/{owner}/{file_id}".into()
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
async fn objects_without_a_record_are_removed() {
    let w = world();
    w.objects.put(&key(), stored(1024, "image/png"));
    let report = handle(&w.deps, invocation(event_json())).await.unwrap();
    assert_eq!(
        report.records[0].outcome,
        RecordOutcome::Deleted {
            why: "no ownership record".into()
        }
    );
    assert!(!w.objects.contains(&key()));
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
        w.records.create(&pending(None)).await.unwrap();
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
