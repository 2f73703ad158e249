//! What one request costs to sign, per engine: CloudFront signatures, view URLs and gallery
//! cookies (RSA-SHA1 with the `rsa` crate, RSA-SHA256 and ECDSA-P256 with aws-lc-rs) and S3
//! presigned PUTs.
//!
//! Run with `cargo bench -p shared --bench signing`, or scripts/perf, which measures
//! `openssl speed` in the same run and writes docs/performance.md.

// A benchmark setup that fails should stop loudly.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::cloudfront::{HashAlgorithm, Policy, SigningKey};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};
use shared::s3_signing::{BucketLocation, S3Endpoint, presign_put};

const RSA: &str = include_str!("../testdata/rsa2048-pkcs1.pem");
const EC: &str = include_str!("../testdata/p256-pkcs8.pem");

fn cloudfront(c: &mut Criterion) {
    let url = "https://d111111abcdef8.cloudfront.net/users/3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
    let prefix =
        "https://d111111abcdef8.cloudfront.net/users/3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a/*";
    let rsa = SigningKey::from_pem("K2JCJMDEHXQW5F", RSA).unwrap();
    let ec = SigningKey::from_pem("K2JCJMDEHXQW5F", EC).unwrap();
    // Each key and hash the product signs with; names are `<key>_<hash>_<engine>`.
    let cases = [
        ("rsa2048_sha256_aws_lc_rs", &rsa, HashAlgorithm::Sha256),
        ("rsa2048_sha1_rustcrypto_rsa", &rsa, HashAlgorithm::Sha1),
        ("ecdsa_p256_sha256_aws_lc_rs", &ec, HashAlgorithm::Sha256),
    ];
    // The signature alone over a policy-sized message: what `openssl speed` measures.
    let message = Policy::canned(url, 1_767_290_400).to_json();
    let mut group = c.benchmark_group("cloudfront_signature");
    for (name, key, hash) in cases {
        group.bench_function(name, |b| {
            b.iter(|| key.sign(black_box(message.as_bytes()), hash).unwrap())
        });
    }
    group.finish();
    // One whole view URL: policy JSON, signature, URL-safe base64, URL.
    let mut group = c.benchmark_group("cloudfront_canned_url");
    for (name, key, hash) in cases {
        group.bench_function(name, |b| {
            b.iter(|| {
                key.sign_canned_url(black_box(url), 1_767_290_400, hash)
                    .unwrap()
            })
        });
    }
    group.finish();
    // One gallery's cookies: a custom policy for the caller's whole prefix, as
    // POST /files/cookies signs it.
    let policy = Policy {
        resource: prefix.to_owned(),
        expires: 1_767_290_400,
        not_before: None,
        source_ip: None,
    };
    let mut group = c.benchmark_group("cloudfront_cookies");
    for (name, key, hash) in cases {
        group.bench_function(name, |b| {
            b.iter(|| key.sign_cookies(black_box(&policy), false, hash).unwrap())
        });
    }
    group.finish();
    c.bench_function("signing_key_parse_rsa2048_pkcs1", |b| {
        b.iter(|| SigningKey::from_pem("K2JCJMDEHXQW5F", black_box(RSA)).unwrap())
    });
}

fn s3_presign(c: &mut Criterion) {
    let location = BucketLocation {
        endpoint: S3Endpoint::VirtualHosted,
        region: "eu-west-1".into(),
        bucket: "private-uploads-example".into(),
    };
    let credentials = Credentials::new(
        "ASIAEXAMPLE",
        "secret",
        Some("token".repeat(100)),
        None,
        "bench",
    );
    let key = ObjectKey::new(
        OwnerId::from_sub("3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a").unwrap(),
        FileId::generate(),
    );
    let request = UploadRequest {
        filename: Filename::parse("holiday photo.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(1024),
        sha256: Some(Sha256Checksum::from_digest(&[7; 32])),
    };
    c.bench_function("s3_presigned_put_aws_sigv4", |b| {
        b.iter(|| {
            presign_put(
                &location,
                &credentials,
                &key,
                black_box(&request),
                SystemTime::now(),
                Duration::from_secs(300),
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, cloudfront, s3_presign);
criterion_main!(benches);
