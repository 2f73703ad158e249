//! S3 event notifications through record-ownership: any JSON the function could be invoked
//! with (the input), against a bucket holding one object at the key the sample event names
//! and its pending record, and one with no record (adopted, and counted against the
//! temporary credential the event's principal names, if any). The function must never
//! panic; what it reports is its business.
#![no_main]

use std::sync::{Arc, OnceLock};

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Context, LambdaEvent};
use libfuzzer_sys::fuzz_target;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::ownership::ObjectInfo;
use shared::domain::record::{FileRecord, UploadMode};
use shared::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};
use shared::ports::{FileRecords, MemoryObjects, MemoryRecords};

const SAMPLE: &str = include_str!("../../events/s3-object-created.json");
const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const FILE: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
/// An object with no record, as temporary credentials upload them.
const ADOPTED: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6e";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    // The raw key decoding every record goes through.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = record_ownership::event_key::decode_event_key(text) {
            let _ = ObjectKey::parse(&key);
        }
        let _ = shared::domain::sequencer::Sequencer::parse(text);
        // A credential id read from a principal is always one we could have made.
        if let Some(id) = shared::domain::credentials::credential_of_principal(text) {
            assert_eq!(id.len(), shared::domain::credentials::CREDENTIAL_ID_LEN);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
    }
    // The input as a whole event, or else the sample event with its record's key, event
    // name, sequencer, ETag, size, bucket and principal replaced by the input's NUL-separated fields
    // (so most inputs reach the handler's logic, not only the JSON parser).
    let event = match serde_json::from_slice::<S3Event>(data) {
        Ok(event) => event,
        Err(_) => {
            let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
            let record = &mut event["Records"][0];
            let mut fields = data
                .split(|b| *b == 0)
                .map(|f| String::from_utf8_lossy(f).into_owned());
            if let Some(key) = fields.next() {
                record["s3"]["object"]["key"] = key.into();
            }
            if let Some(name) = fields.next() {
                record["eventName"] = name.into();
            }
            if let Some(sequencer) = fields.next() {
                record["s3"]["object"]["sequencer"] = sequencer.into();
            }
            if let Some(etag) = fields.next() {
                record["s3"]["object"]["eTag"] = etag.into();
            }
            if let Some(size) = fields.next() {
                record["s3"]["object"]["size"] = size.parse::<i64>().unwrap_or_default().into();
            }
            if let Some(bucket) = fields.next() {
                record["s3"]["bucket"]["name"] = bucket.into();
            }
            if let Some(principal) = fields.next() {
                record["userIdentity"]["principalId"] = principal.into();
            }
            match serde_json::from_value::<S3Event>(event) {
                Ok(event) => event,
                Err(_) => return,
            }
        }
    };
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf"),
        ("QUOTA_BYTES", "3000"),
        ("QUOTA_FILES", "10"),
        ("CREDENTIALS_MAX_OBJECTS", "1"),
    ];
    let records = Arc::new(MemoryRecords::default());
    let objects = Arc::new(MemoryObjects::default());
    let key = ObjectKey::new(
        OwnerId::from_sub(SUB).unwrap(),
        FileId::parse(FILE).unwrap(),
    );
    objects.put(
        &key.to_string(),
        ObjectInfo {
            size: ByteSize::new(1024),
            content_type: Some("image/png".into()),
            etag: "efc76d557de7077b1deabc4c3755cac5".into(),
            first_bytes: Some(b"\x89PNG\r\n\x1a\n\0\0\0\0".to_vec()),
            ..ObjectInfo::default()
        },
    );
    let unrecorded = ObjectKey::new(
        OwnerId::from_sub(SUB).unwrap(),
        FileId::parse(ADOPTED).unwrap(),
    );
    objects.put(
        &unrecorded.to_string(),
        ObjectInfo {
            size: ByteSize::new(12),
            content_type: Some("image/png".into()),
            etag: "0f343b0931126a20f133d67c2b018a3b".into(),
            first_bytes: Some(b"\x89PNG\r\n\x1a\n\0\0\0\0".to_vec()),
            ..ObjectInfo::default()
        },
    );
    let upload = UploadRequest {
        filename: Filename::parse("a.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(1024),
        sha256: None,
    };
    let deps = record_ownership::Deps::new(
        record_ownership::Config::from_env(&env).unwrap(),
        records.clone(),
        objects,
    );
    runtime().block_on(async {
        let pending = FileRecord::pending(key, &upload, UploadMode::Put, chrono::Utc::now(), 0);
        let limits = shared::domain::lifecycle::QuotaLimits {
            max_bytes: 1 << 40,
            max_files: 1 << 20,
        };
        records.create(&pending, &limits).await.unwrap();
        let _ = record_ownership::handle(&deps, LambdaEvent::new(event, Context::default())).await;
    });
});
