//! One view request in process, as the Lambda runtime hands it over: the API Gateway event
//! JSON parsed into a request, the route, the record read (the in-memory store standing in
//! for DynamoDB), the CloudFront signature, the JSON answer. No network: what is left is this
//! function's own CPU time per request.
//!
//! What the handler adds to its signature is measured apart, interleaved: rounds of the
//! handler and of the signature alone, taken in turn (the order alternating), so that both
//! see the same machine; each round gives a ratio, and the median ratio is reported (written
//! as JSON to `$PERF_INTERLEAVED_OUT` when set; `$PERF_ROUNDS` rounds, 200 by default).
//!
//! Run with `cargo bench -p issue-view-url --bench handler` (or scripts/perf, which writes
//! docs/performance.md).

// A benchmark setup that fails should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use issue_view_url::{Config, Deps, handle};
use shared::cloudfront::{HashAlgorithm, SigningKey};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::lifecycle::QuotaLimits;
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
    // The key group trusts the key it signs with, as the template's first slot does.
    let public = shared::cloudfront::SigningKey::from_pem(KEY_PAIR_ID, pem)
        .unwrap()
        .public_key_pem();
    let trusted = format!("{KEY_PAIR_ID} {public}");
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
        ("TRUSTED_KEY_1", trusted.as_str()),
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
        group.finish();
        interleaved(name, &runtime, &deps, pem, &url);
    }
}

/// The median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Rounds of `GET /files/{id}/url` and of its signature alone, in turn; per round, the mean
/// time of each and their ratio. Reported: the medians (µs) and the median ratio.
fn interleaved(name: &str, runtime: &tokio::runtime::Runtime, deps: &Deps, pem: &str, url: &str) {
    const PER_ROUND: u32 = 20;
    let rounds: usize = std::env::var("PERF_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let key = SigningKey::from_pem(KEY_PAIR_ID, pem).unwrap();
    let expires = Utc::now().timestamp() + 600;
    let handler = || {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            let request = lambda_http::request::from_str(VIEW_URL).unwrap();
            let response = runtime.block_on(handle(deps, request)).unwrap();
            assert_eq!(response.status(), 200);
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND)
    };
    let signature = || {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            black_box(
                key.sign_canned_url(black_box(url), expires, HashAlgorithm::Sha256)
                    .unwrap(),
            );
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND)
    };
    // Warm both up, then measure.
    handler();
    signature();
    let (mut handlers, mut signatures, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (h, s) = if round % 2 == 0 {
            let h = handler();
            (h, signature())
        } else {
            let s = signature();
            (handler(), s)
        };
        handlers.push(h);
        signatures.push(s);
        ratios.push(h / s);
    }
    let result = serde_json::json!({
        "key": name,
        "rounds": rounds,
        "per_round": PER_ROUND,
        "handler_us": median(&mut handlers),
        "signature_us": median(&mut signatures),
        "ratio": median(&mut ratios),
    });
    println!("interleaved {name}: {result}");
    if let Ok(dir) = std::env::var("PERF_INTERLEAVED_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}.json"), result.to_string()).unwrap();
    }
}

criterion_group!(benches, view);
criterion_main!(benches);
