//! Our signers against golden vectors from botocore (tests/golden/*.json, written by
//! tests/golden/generate.py with the clock pinned): the same inputs must give the same URL
//! (and, for POST forms, the same fields in the same order: policy and signature included),
//! byte for byte.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde_json::Value;
use shared::cloudfront::{HashAlgorithm, Policy, SigningKey};
use shared::domain::ids::ObjectKey;
use shared::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};
use shared::s3_signing::{BucketLocation, S3Endpoint, presign_post, presign_put};

fn fixture(name: &str) -> Value {
    let path = format!("{}/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn cloudfront_urls_match_botocore_byte_for_byte() {
    let golden = fixture("cloudfront.json");
    let pem = std::fs::read_to_string(format!(
        "{}/../{}",
        env!("CARGO_MANIFEST_DIR"),
        golden["key_file"].as_str().unwrap()
    ))
    .unwrap();
    let key = SigningKey::from_pem(golden["key_pair_id"].as_str().unwrap(), &pem).unwrap();
    let vectors = golden["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 10);
    for vector in vectors {
        let url = vector["url"].as_str().unwrap();
        let expires = vector["expires"].as_i64().unwrap();
        let ours = match &vector["policy"] {
            Value::Null => key
                .sign_canned_url(url, expires, HashAlgorithm::Sha1)
                .unwrap(),
            policy => {
                let policy = Policy {
                    resource: policy["resource"].as_str().unwrap().to_owned(),
                    expires,
                    not_before: policy["not_before"].as_i64(),
                    source_ip: policy["source_ip"].as_str().map(str::to_owned),
                };
                key.sign_url(url, &policy, HashAlgorithm::Sha1).unwrap()
            }
        };
        assert_eq!(
            ours,
            vector["expected"].as_str().unwrap(),
            "{}",
            vector["name"]
        );
    }
}

#[test]
fn s3_presigned_puts_match_botocore_byte_for_byte() {
    let golden = fixture("s3_presign.json");
    let vectors = golden["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for vector in vectors {
        let text = |name: &str| vector[name].as_str().unwrap().to_owned();
        let location = BucketLocation {
            endpoint: match vector["endpoint"].as_str() {
                Some(base) => S3Endpoint::PathStyle(base.to_owned()),
                None => S3Endpoint::VirtualHosted,
            },
            region: text("region"),
            bucket: text("bucket"),
        };
        let credentials = Credentials::new(
            text("access_key"),
            text("secret_key"),
            vector["token"].as_str().map(str::to_owned),
            None,
            "golden",
        );
        let request = UploadRequest {
            filename: Filename::parse("any.bin").unwrap(),
            content_type: ContentType::parse(&text("content_type")).unwrap(),
            size: ByteSize::new(vector["size"].as_u64().unwrap()),
            sha256: vector["sha256"]
                .as_str()
                .map(|s| Sha256Checksum::parse(s).unwrap()),
        };
        let key = ObjectKey::parse(&text("key")).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(vector["time"].as_u64().unwrap());
        let ttl = Duration::from_secs(vector["expires_seconds"].as_u64().unwrap());
        let put = presign_put(&location, &credentials, &key, &request, now, ttl).unwrap();
        assert_eq!(put.url, text("expected"), "{}", vector["name"]);
    }
}

#[test]
fn s3_post_forms_match_botocore_byte_for_byte() {
    let golden = fixture("s3_post.json");
    let vectors = golden["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 5);
    for vector in vectors {
        let text = |name: &str| vector[name].as_str().unwrap().to_owned();
        let location = BucketLocation {
            endpoint: match vector["endpoint"].as_str() {
                Some(base) => S3Endpoint::PathStyle(base.to_owned()),
                None => S3Endpoint::VirtualHosted,
            },
            region: text("region"),
            bucket: text("bucket"),
        };
        let credentials = Credentials::new(
            text("access_key"),
            text("secret_key"),
            vector["token"].as_str().map(str::to_owned),
            None,
            "golden",
        );
        let request = UploadRequest {
            filename: Filename::parse(&text("filename")).unwrap(),
            content_type: ContentType::parse(&text("content_type")).unwrap(),
            size: ByteSize::new(vector["size"].as_u64().unwrap()),
            sha256: vector["sha256"]
                .as_str()
                .map(|s| Sha256Checksum::parse(s).unwrap()),
        };
        let key = ObjectKey::parse(&text("key")).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(vector["time"].as_u64().unwrap());
        let ttl = Duration::from_secs(vector["expires_seconds"].as_u64().unwrap());
        let post = presign_post(&location, &credentials, &key, &request, now, ttl).unwrap();
        let expected: Vec<(String, String)> = vector["expected_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(post.fields, expected, "{}", vector["name"]);
        // botocore names us-east-1 by its legacy global host; we always use the regional one,
        // which S3 serves for every region.
        let botocore_url = text("expected_url").replace(
            ".s3.amazonaws.com/",
            &format!(".s3.{}.amazonaws.com/", text("region")),
        );
        assert_eq!(post.url, botocore_url, "{}", vector["name"]);
    }
}
