//! One upload request in process, as the Lambda runtime hands it over: the API Gateway event
//! JSON parsed into a request, the route, the body checks, the in-memory record store (the
//! DynamoDB transaction's stand-in), the presigned PUT (or a multipart upload's first page of
//! part URLs), the JSON answer. No network: what is left is this function's own CPU time per
//! request.
//!
//! Run with `cargo bench -p issue-upload-url --bench handler` (or scripts/perf, which writes
//! docs/performance.md).

// A benchmark setup that fails should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::{Criterion, criterion_group, criterion_main};
use issue_upload_url::{Config, Deps, handle};
use shared::ports::{MemoryMultipart, MemoryRecords, StaticIssuer, TemporaryCredentials};

const EVENT: &str = include_str!("../../../events/api-post-uploads.json");
const MULTIPART: &str = include_str!("../../../events/api-post-uploads-multipart.json");
/// A fresh store before the owner's pending uploads reach the cap (`MAX_PENDING_UPLOADS`).
const BATCH: u64 = 500;
/// A fresh store before the owner's unfinished multipart uploads reach the default
/// `MAX_UNFINISHED_UPLOADS` (20), which each request lists.
const MULTIPART_BATCH: u64 = 19;

fn deps() -> Deps {
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf"),
        ("MAX_UPLOAD_BYTES", "104857600"),
        (
            "CREDENTIALS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/private-uploads-uploader",
        ),
    ];
    let credentials = Credentials::new(
        "ASIAEXAMPLE",
        "secret",
        Some("session-token".repeat(40)),
        None,
        "bench",
    );
    Deps::new(
        Config::from_env(&env).unwrap(),
        SharedCredentialsProvider::new(credentials),
        Arc::new(MemoryRecords::default()),
        Arc::new(MemoryMultipart::default()),
        Arc::new(StaticIssuer::new(TemporaryCredentials {
            access_key_id: "ASIABROWSER".into(),
            secret_access_key: "browser-secret".into(),
            session_token: "browser-token".into(),
            expiration: chrono::Utc::now() + chrono::Duration::minutes(15),
        })),
    )
}

fn post_uploads(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (name, event, batch) in [
        ("handler_post_uploads_presigned_put", EVENT, BATCH),
        ("handler_post_uploads_multipart", MULTIPART, MULTIPART_BATCH),
    ] {
        // The answer is what a user would get: 201 and an upload URL (or part URLs).
        let first = runtime
            .block_on(handle(
                &deps(),
                lambda_http::request::from_str(event).unwrap(),
            ))
            .unwrap();
        assert_eq!(first.status(), 201, "{name}: {:?}", first.body());
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let deps = deps();
                    let n = batch.min(iters - done);
                    let start = Instant::now();
                    for _ in 0..n {
                        let request = lambda_http::request::from_str(event).unwrap();
                        let response = runtime.block_on(handle(&deps, request)).unwrap();
                        assert_eq!(response.status(), 201);
                    }
                    spent += start.elapsed();
                    done += n;
                }
                spent
            })
        });
    }
}

criterion_group!(benches, post_uploads);
criterion_main!(benches);
