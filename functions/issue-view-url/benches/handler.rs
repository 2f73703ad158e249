//! One view request in process, as the Lambda runtime hands it over: the API Gateway event
//! JSON parsed into a request, the route, the record read (the in-memory store standing in
//! for DynamoDB), the CloudFront signature, the JSON answer. No network: what is left is this
//! function's own CPU time per request, next to the signature alone with the same key, so the
//! ratio shows what the handler adds to the signature.
//!
//! Run with `cargo bench -p issue-view-url --bench handler` (or scripts/perf, which writes
//! docs/performance.md).

// A benchmark setup that fails should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use issue_view_url::{Config, Deps, handle};
use shared::cloudfront::{HashAlgorithm, SigningKey};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::quota::QuotaLimits;
use shared::domain::record::{FileRecord, Outcome, UploadMode};
use shared::domain::sequencer::Sequencer;
use shared::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};
use shared::ports::{FileRecords, MemoryObjects, MemoryRecords, StaticSecret};

const VIEW_URL: &str = include_str!("../../../events/api-get-view-url.json");
const COOKIES: &str = include_str!("../../../events/api-post-file-cookies.json");
const RSA: &str = include_str!("../../../shared/testdata/rsa2048-pkcs1.pem");
const EC: &str = include_str!("../../../shared/testdata/p256-pkcs8.pem");
/// The caller and the file named in events/api-get-view-url.json.
const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const FILE: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const CDN: &str = "https://d111111abcdef8.cloudfront.net";
const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";

/// The view function with one ready file of the caller's, signing with `pem`.
fn deps(runtime: &tokio::runtime::Runtime, pem: &str) -> Deps {
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("CDN_BASE_URL", CDN),
        ("SIGNING_KEY_SECRET_ID", "private-uploads/signing-key"),
        ("CLOUDFRONT_HASH_ALGORITHM", "sha256"),
    ];
    let records = Arc::new(MemoryRecords::default());
    let upload = UploadRequest {
        filename: Filename::parse("holiday photo.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(1024),
        sha256: None,
    };
    let key = ObjectKey::new(
        OwnerId::from_sub(SUB).unwrap(),
        FileId::parse(FILE).unwrap(),
    );
    let now = Utc::now();
    let mut record =
        FileRecord::pending(key, &upload, UploadMode::Put, now, now.timestamp() + 3600);
    record.apply(
        &Sequencer::parse("0A").unwrap(),
        &Outcome::Ready {
            size: ByteSize::new(1024),
            etag: "e".into(),
            uploaded_at: now,
        },
    );
    let limits = QuotaLimits {
        max_bytes: u64::MAX / 4,
        max_files: u64::MAX / 4,
    };
    runtime.block_on(records.create(&record, &limits)).unwrap();
    let secret =
        serde_json::json!({"key_pair_id": KEY_PAIR_ID, "private_key_pem": pem}).to_string();
    Deps::new(
        Config::from_env(&env).unwrap(),
        records,
        Arc::new(MemoryObjects::default()),
        Arc::new(StaticSecret(secret)),
    )
}

fn view(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let url = format!("{CDN}/users/{SUB}/{FILE}");
    for (name, pem) in [("rsa2048_sha256", RSA), ("ecdsa_p256_sha256", EC)] {
        let deps = deps(&runtime, pem);
        // What a user would get (and the key is loaded before the clock starts, as it is
        // once per container).
        for (event, status) in [(VIEW_URL, 200), (COOKIES, 204)] {
            let response = runtime
                .block_on(handle(
                    &deps,
                    lambda_http::request::from_str(event).unwrap(),
                ))
                .unwrap();
            assert_eq!(response.status(), status, "{:?}", response.body());
        }
        let mut group = c.benchmark_group(format!("handler_view_{name}"));
        group.bench_function("get_view_url", |b| {
            b.iter(|| {
                let request = lambda_http::request::from_str(VIEW_URL).unwrap();
                let response = runtime.block_on(handle(&deps, request)).unwrap();
                assert_eq!(response.status(), 200);
                response
            })
        });
        group.bench_function("post_file_cookies", |b| {
            b.iter(|| {
                let request = lambda_http::request::from_str(COOKIES).unwrap();
                let response = runtime.block_on(handle(&deps, request)).unwrap();
                assert_eq!(response.status(), 204);
                response
            })
        });
        // The Lambda runtime's share: the API Gateway event JSON into a request.
        group.bench_function("event_parse_alone", |b| {
            b.iter(|| lambda_http::request::from_str(black_box(VIEW_URL)).unwrap())
        });
        let key = SigningKey::from_pem(KEY_PAIR_ID, pem).unwrap();
        let expires = Utc::now().timestamp() + 600;
        group.bench_function("signature_alone", |b| {
            b.iter(|| {
                key.sign_canned_url(black_box(&url), expires, HashAlgorithm::Sha256)
                    .unwrap()
            })
        });
        group.finish();
    }
}

criterion_group!(benches, view);
criterion_main!(benches);
