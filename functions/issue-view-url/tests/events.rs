//! The view handler fed the same `events/*.json` files `sam local invoke -e` uses.

// Test helpers fail loudly on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use cloudfront_viewer::{TrustedKey, ViewerRequest, verify_signed_cookies, verify_signed_url};
use issue_view_url::{Config, Deps, handle};
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::ownership::ObjectInfo;
use shared::domain::record::{
    FileRecord, FileStatus, Outcome, Rejection, RejectionReason, UploadMode,
};
use shared::domain::sequencer::Sequencer;
use shared::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};
use shared::ports::{FileRecords, MemoryObjects, MemoryRecords, SecretSource, StaticSecret};

/// Limits no test reaches.
const UNLIMITED: shared::domain::lifecycle::QuotaLimits = shared::domain::lifecycle::QuotaLimits {
    max_bytes: u64::MAX / 4,
    max_files: u64::MAX / 4,
};

const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const FILE: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
const PRIVATE_KEY: &str = include_str!("../../../shared/testdata/rsa2048-pkcs1.pem");
const PUBLIC_KEY: &str = include_str!("../../../shared/testdata/rsa2048-public.pem");

fn event(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn as_user(mut event: Value, sub: &str) -> Value {
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(sub.into());
    event
}

struct World {
    deps: Deps,
    records: Arc<MemoryRecords>,
    objects: Arc<MemoryObjects>,
}

/// The key group of these tests: the test key under both ids the secrets use.
fn world_with(secret: Arc<dyn SecretSource>, hash: &str) -> World {
    let slots = [
        format!("K2JCJMDEHXQW5F {PUBLIC_KEY}"),
        format!("K1 {PUBLIC_KEY}"),
    ];
    world_env(secret, hash, [&slots[0], &slots[1]])
}

/// With the template's key slots (`TRUSTED_KEY_1`, `TRUSTED_KEY_2`) as given.
fn world_env(secret: Arc<dyn SecretSource>, hash: &str, trusted: [&str; 2]) -> World {
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("CDN_BASE_URL", "https://d111111abcdef8.cloudfront.net"),
        ("SIGNING_KEY_SECRET_ID", "private-uploads/signing-key"),
        ("CLOUDFRONT_HASH_ALGORITHM", hash),
        ("TRUSTED_KEY_1", trusted[0]),
        ("TRUSTED_KEY_2", trusted[1]),
    ];
    let records = Arc::new(MemoryRecords::default());
    let objects = Arc::new(MemoryObjects::default());
    let deps = Deps::new(
        Config::from_env(&env).unwrap(),
        records.clone(),
        objects.clone(),
        secret,
    );
    World {
        deps,
        records,
        objects,
    }
}

fn world() -> World {
    let secret =
        json!({"key_pair_id": "K2JCJMDEHXQW5F", "private_key_pem": PRIVATE_KEY}).to_string();
    world_with(Arc::new(StaticSecret(secret)), "sha256")
}

/// A record of `sub`'s, made the way the functions make them: issued (pending), then
/// the outcome of its object's event.
fn record(sub: &str, file_id: &str, status: FileStatus, created: i64) -> FileRecord {
    let upload = UploadRequest {
        filename: Filename::parse("holiday photo.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(1024),
        sha256: None,
    };
    let key = ObjectKey::new(
        OwnerId::from_sub(sub).unwrap(),
        FileId::parse(file_id).unwrap(),
    );
    let mut record = FileRecord::pending(
        key,
        &upload,
        UploadMode::Put,
        Utc.timestamp_opt(created, 0).unwrap(),
        created + 3600,
    );
    let outcome = match status {
        FileStatus::Pending => return record,
        FileStatus::Deleted => return shared::domain::lifecycle::tombstone(&record, created + 10),
        FileStatus::Ready => Outcome::Ready {
            size: ByteSize::new(1024),
            etag: "e".into(),
            uploaded_at: Utc.timestamp_opt(created + 5, 0).unwrap(),
        },
        FileStatus::Rejected => Outcome::Rejected {
            rejection: Rejection::new(
                RejectionReason::SizeMismatch,
                "declared 1024 bytes, received 1 bytes",
            ),
            expires_at: created + 7200,
        },
    };
    record.apply(&Sequencer::parse("0A").unwrap(), &outcome);
    record
}

async fn call(deps: &Deps, event: &Value) -> (u16, Option<String>, Value) {
    let response = handle(deps, request(event)).await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        _ => Value::Null,
    };
    (response.status().as_u16(), retry_after, body)
}

#[tokio::test]
async fn view_url_is_a_cloudfront_url_that_verifies() {
    let w = world();
    w.records
        .create(
            &record(SUB, FILE, FileStatus::Ready, 1_795_350_000),
            &UNLIMITED,
        )
        .await
        .unwrap();
    let (status, _, body) = call(&w.deps, &event("api-get-view-url.json")).await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "https://d111111abcdef8.cloudfront.net/users/{SUB}/{FILE}?Expires="
        )),
        "{url}"
    );
    assert!(
        url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F&Hash-Algorithm=SHA256"),
        "{url}"
    );

    let expires_at =
        shared::domain::time::parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let left = (expires_at - Utc::now()).num_seconds();
    assert!((598..=600).contains(&left), "expires_in=600 gave {left}");

    let keys = [TrustedKey::from_pem("K2JCJMDEHXQW5F", PUBLIC_KEY).unwrap()];
    let now = Utc::now().timestamp();
    let policy = verify_signed_url(
        &keys,
        &ViewerRequest {
            url,
            source_ip: None,
            now,
        },
    )
    .unwrap();
    assert_eq!(policy.expires, expires_at.timestamp());
    let after = ViewerRequest {
        url,
        source_ip: None,
        now: expires_at.timestamp(),
    };
    assert!(verify_signed_url(&keys, &after).is_err());
}

#[tokio::test]
async fn sha1_urls_carry_no_hash_parameter() {
    let secret = json!({"key_pair_id": "K1", "private_key_pem": PRIVATE_KEY}).to_string();
    let w = world_with(Arc::new(StaticSecret(secret)), "sha1");
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    let (status, _, body) = call(&w.deps, &event("api-get-view-url.json")).await;
    assert_eq!(status, 200);
    let url = body["url"].as_str().unwrap();
    assert!(url.ends_with("&Key-Pair-Id=K1"), "{url}");
    let keys = [TrustedKey::from_pem("K1", PUBLIC_KEY).unwrap()];
    let request = ViewerRequest {
        url,
        source_ip: None,
        now: Utc::now().timestamp(),
    };
    verify_signed_url(&keys, &request).unwrap();
}

#[tokio::test]
async fn missing_pending_rejected_and_foreign_files_are_the_same_404() {
    let w = world();
    let (_, _, missing) = call(&w.deps, &event("api-get-view-url.json")).await;
    assert_eq!(
        missing,
        json!({"error": "file_not_found", "message": "no such file", "request_id": "Ab1Cd2Ef3Gh4="})
    );

    for status in [FileStatus::Pending, FileStatus::Rejected] {
        let w = world();
        w.records
            .create(&record(SUB, FILE, status, 1), &UNLIMITED)
            .await
            .unwrap();
        let (code, _, body) = call(&w.deps, &event("api-get-view-url.json")).await;
        assert_eq!((code, &body), (404, &missing), "{status:?}");
    }

    let w = world();
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    for name in [
        "api-get-view-url.json",
        "api-get-file.json",
        "api-delete-file.json",
    ] {
        let (code, _, body) = call(&w.deps, &as_user(event(name), "mallory")).await;
        assert_eq!((code, &body), (404, &missing), "{name}");
    }
    // Mallory's delete left Alice's file alone.
    assert!(
        w.records
            .get(
                &OwnerId::from_sub(SUB).unwrap(),
                FileId::parse(FILE).unwrap()
            )
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_same_sub_from_another_issuer_is_another_owner() {
    let w = world();
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    let from = |mut event: Value, issuer: &str| {
        event["requestContext"]["authorizer"]["jwt"]["claims"]["iss"] = issuer.into();
        event
    };
    // The stack's own issuer (the events' iss): the owner sees the file.
    let (code, _, _) = call(&w.deps, &event("api-get-file.json")).await;
    assert_eq!(code, 200);
    // Another provider that hands out the same sub: none of it.
    let other = "https://other-idp.example.com/";
    for name in [
        "api-get-view-url.json",
        "api-get-file.json",
        "api-delete-file.json",
    ] {
        let ev = from(event(name), other);
        let request_id = ev["requestContext"]["requestId"].clone();
        let (code, _, body) = call(&w.deps, &ev).await;
        assert_eq!(
            (code, &body),
            (
                404,
                &json!({"error": "file_not_found", "message": "no such file", "request_id": request_id})
            ),
            "{name}"
        );
    }
    let (code, _, list) = call(&w.deps, &from(event("api-get-files.json"), other)).await;
    assert_eq!((code, &list["files"]), (200, &json!([])), "{list}");
    // No iss at all: not a caller.
    let (code, _, _) = call(&w.deps, &from(event("api-get-file.json"), "")).await;
    assert_eq!(code, 401);
    assert!(
        w.records
            .get(
                &OwnerId::from_sub(SUB).unwrap(),
                FileId::parse(FILE).unwrap()
            )
            .await
            .unwrap()
            .is_some(),
        "the other issuer's delete left the file alone"
    );
}

#[tokio::test]
async fn only_a_key_the_key_group_trusts_signs() {
    const EC_PUBLIC: &str = include_str!("../../../shared/testdata/p256-public.pem");
    let secret =
        json!({"key_pair_id": "K2JCJMDEHXQW5F", "private_key_pem": PRIVATE_KEY}).to_string();
    for (trusted, want) in [
        (format!("K2JCJMDEHXQW5F {PUBLIC_KEY}"), 200),
        // The template's slot holds another public key under that id, or the id differs.
        (format!("K2JCJMDEHXQW5F {EC_PUBLIC}"), 503),
        (format!("KOTHER {PUBLIC_KEY}"), 503),
    ] {
        let w = world_env(
            Arc::new(StaticSecret(secret.clone())),
            "sha256",
            [&trusted, ""],
        );
        w.records
            .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
            .await
            .unwrap();
        let (status, _, body) = call(&w.deps, &event("api-get-view-url.json")).await;
        assert_eq!(status, want, "{trusted}: {body}");
        if want == 503 {
            assert_eq!(body["error"], "signing_unavailable");
        }
    }
    // A malformed setting stops the function at start, naming the variable.
    let env = [
        ("BUCKET_NAME", "b"),
        ("TABLE_NAME", "t"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("CDN_BASE_URL", "https://d111111abcdef8.cloudfront.net"),
        ("SIGNING_KEY_SECRET_ID", "s"),
        ("TRUSTED_KEY_1", "K1 not-a-pem"),
    ];
    let err = Config::from_env(&env).unwrap_err().to_string();
    assert!(err.contains("TRUSTED_KEY_1"), "{err}");
}

#[tokio::test]
async fn an_unreadable_signing_secret_is_503_with_retry_after() {
    let w = world_with(
        Arc::new(StaticSecret("{\"key_pair_id\": \"K1\"}".into())),
        "sha256",
    );
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    let (status, retry_after, body) = call(&w.deps, &event("api-get-view-url.json")).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "signing_unavailable");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    assert!(!body.to_string().contains("private_key_pem"));
}

#[tokio::test]
async fn expires_in_is_bounded() {
    let w = world();
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    for bad in ["0", "3601", "abc", "-1"] {
        let mut ev = event("api-get-view-url.json");
        ev["rawQueryString"] = Value::String(format!("expires_in={bad}"));
        let (status, _, body) = call(&w.deps, &ev).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_expires_in")),
            "{bad}"
        );
    }
    let mut ev = event("api-get-view-url.json");
    ev["rawQueryString"] = Value::String(String::new());
    let (status, _, body) = call(&w.deps, &ev).await;
    assert_eq!(status, 200);
    let expires_at =
        shared::domain::time::parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (expires_at - Utc::now()).num_seconds() > 3590,
        "defaults to 3600 s"
    );
}

#[tokio::test]
async fn an_ip_or_a_start_time_makes_a_custom_policy_for_the_callers_network() {
    let secret = json!({"key_pair_id": "K1", "private_key_pem": PRIVATE_KEY}).to_string();
    let w = world_with(Arc::new(StaticSecret(secret)), "sha256");
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    // events/api-get-view-url.json comes from 203.0.113.10.
    let not_before = shared::domain::time::rfc3339(Utc::now() + chrono::Duration::seconds(60));
    let mut ev = event("api-get-view-url.json");
    ev["rawQueryString"] = Value::String(format!(
        "expires_in=600&ip=203.0.113.0/24&not_before={not_before}"
    ));
    let (status, _, body) = call(&w.deps, &ev).await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.contains("Policy=") && !url.contains("Expires="),
        "{url}"
    );
    let keys = [TrustedKey::from_pem("K1", PUBLIC_KEY).unwrap()];
    let at = |ip: &str, now: i64| ViewerRequest {
        url,
        source_ip: Some(ip.parse().unwrap()),
        now,
    };
    let later = Utc::now().timestamp() + 120;
    verify_signed_url(&keys, &at("203.0.113.99", later)).unwrap();
    assert!(
        verify_signed_url(&keys, &at("198.51.100.1", later)).is_err(),
        "another network"
    );
    assert!(
        verify_signed_url(&keys, &at("203.0.113.99", later - 120)).is_err(),
        "before not_before"
    );
    // Without conditions: the shorter canned form.
    let (_, _, plain) = call(&w.deps, &event("api-get-view-url.json")).await;
    assert!(plain["url"].as_str().unwrap().contains("Expires="));
    // A network that leaves the caller out, or wider than the bound, or a past start: 400.
    for (query, code) in [
        ("ip=198.51.100.0/24", "invalid_ip"),
        ("ip=203.0.0.0/8", "invalid_ip"),
        ("ip=203.0.113.10/33", "invalid_ip"),
        ("not_before=2020-01-01T00:00:00Z", "invalid_not_before"),
        ("not_before=soon", "invalid_not_before"),
    ] {
        let mut ev = event("api-get-view-url.json");
        ev["rawQueryString"] = Value::String(query.into());
        let (status, _, body) = call(&w.deps, &ev).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn gallery_cookies_open_the_callers_prefix_only() {
    let w = world();
    let response = handle(&w.deps, request(&event("api-post-file-cookies.json")))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let set: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(set.len(), 4, "{set:?}");
    let path = format!("Path=/users/{SUB}/;");
    for cookie in &set {
        assert!(cookie.contains(&path), "{cookie}");
        assert!(
            cookie.ends_with("; Max-Age=3600; Secure; HttpOnly; SameSite=Strict"),
            "{cookie}"
        );
        assert!(
            !cookie.to_ascii_lowercase().contains("domain="),
            "no Domain: the cookies are the setting host's alone: {cookie}"
        );
    }
    let jar: Vec<(&str, &str)> = set
        .iter()
        .map(|c| c.split(';').next().unwrap().split_once('=').unwrap())
        .collect();
    let names: Vec<&str> = jar.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "CloudFront-Policy",
            "CloudFront-Signature",
            "CloudFront-Key-Pair-Id",
            "CloudFront-Hash-Algorithm"
        ]
    );
    let keys = [TrustedKey::from_pem("K2JCJMDEHXQW5F", PUBLIC_KEY).unwrap()];
    let at = |url: &str| {
        verify_signed_cookies(
            &keys,
            &ViewerRequest {
                url,
                source_ip: None,
                now: Utc::now().timestamp(),
            },
            &jar,
        )
    };
    let cdn = "https://d111111abcdef8.cloudfront.net";
    assert!(at(&format!("{cdn}/users/{SUB}/{FILE}")).is_ok());
    assert!(at(&format!("{cdn}/users/someone-else/{FILE}")).is_err());
    assert!(at(&format!("{cdn}/users/{SUB}x/{FILE}")).is_err());
}

#[tokio::test]
async fn get_file_returns_the_file_object() {
    let w = world();
    w.records
        .create(
            &record(SUB, FILE, FileStatus::Ready, 1_795_350_000),
            &UNLIMITED,
        )
        .await
        .unwrap();
    let (status, _, body) = call(&w.deps, &event("api-get-file.json")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "file_id": FILE,
            "key": format!("users/{SUB}/{FILE}"),
            "filename": "holiday photo.png",
            "content_type": "image/png",
            "size": 1024,
            "status": "ready",
            "created_at": "2026-11-22T12:20:00Z",
            "uploaded_at": "2026-11-22T12:20:05Z"
        })
    );
}

#[tokio::test]
async fn list_is_newest_first_and_pages_with_a_cursor() {
    let w = world();
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = FileId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        w.records
            .create(
                &record(SUB, &id.to_string(), FileStatus::Ready, 1_795_350_000 + i),
                &UNLIMITED,
            )
            .await
            .unwrap();
        ids.push(id.to_string());
    }
    w.records
        .create(
            &record(
                "someone-else",
                &FileId::generate().to_string(),
                FileStatus::Ready,
                1,
            ),
            &UNLIMITED,
        )
        .await
        .unwrap();
    ids.reverse();

    let mut ev = event("api-get-files.json");
    ev["rawQueryString"] = Value::String("limit=2".into());
    let mut seen = Vec::new();
    loop {
        let (status, _, body) = call(&w.deps, &ev).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(
            body["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["file_id"].as_str().unwrap().to_owned()),
        );
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                ev["rawQueryString"] = Value::String(format!("limit=2&cursor={cursor}"))
            }
            None => break,
        }
    }
    assert_eq!(seen, ids);

    for bad in ["limit=0", "limit=101", "limit=x", "cursor=garbage"] {
        ev["rawQueryString"] = Value::String(bad.into());
        let (status, _, body) = call(&w.deps, &ev).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _, body) = call(&w.deps, &event("api-get-files.json")).await;
    assert_eq!(status, 200);
    assert_eq!(body["files"].as_array().unwrap().len(), 5);
    assert_eq!(body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn deleted_files_never_show_and_never_leave_an_empty_page() {
    let w = world();
    let owner = OwnerId::from_sub(SUB).unwrap();
    let mut ids = Vec::new();
    for i in 0..8 {
        let id = FileId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        w.records
            .create(
                &record(SUB, &id.to_string(), FileStatus::Ready, 1_795_350_000 + i),
                &UNLIMITED,
            )
            .await
            .unwrap();
        ids.push(id);
    }
    // The six newest deleted: their tombstones fill the first store pages of two.
    for id in &ids[2..] {
        w.records.delete(&owner, *id).await.unwrap();
    }
    let mut ev = event("api-get-files.json");
    ev["rawQueryString"] = Value::String("limit=2".into());
    let (status, _, body) = call(&w.deps, &ev).await;
    assert_eq!(status, 200, "{body}");
    let shown: Vec<&str> = body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, [ids[1].to_string(), ids[0].to_string()], "{body}");
    assert_eq!(body["next_cursor"], Value::Null, "{body}");
    // GET of a deleted file: like any missing file.
    let mut ev = event("api-get-file.json");
    let path = format!("/files/{}", ids[5]);
    ev["rawPath"] = Value::String(path.clone());
    ev["requestContext"]["http"]["path"] = Value::String(path);
    ev["pathParameters"]["file_id"] = Value::String(ids[5].to_string());
    let (status, _, body) = call(&w.deps, &ev).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "file_not_found", "message": "no such file", "request_id": "Ab1Cd2Ef3Gh4="})
        )
    );
}

#[tokio::test]
async fn delete_removes_the_object_and_the_record() {
    let w = world();
    let key = ObjectKey::new(
        OwnerId::from_sub(SUB).unwrap(),
        FileId::parse(FILE).unwrap(),
    )
    .to_string();
    w.records
        .create(&record(SUB, FILE, FileStatus::Ready, 1), &UNLIMITED)
        .await
        .unwrap();
    w.objects.put(
        &key,
        ObjectInfo {
            size: ByteSize::new(1024),
            content_type: Some("image/png".into()),
            etag: "e".into(),
            ..ObjectInfo::default()
        },
    );
    let response = handle(&w.deps, request(&event("api-delete-file.json")))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(matches!(response.body(), Body::Empty));
    assert!(!w.objects.contains(&key));
    let (status, _, _) = call(&w.deps, &event("api-get-file.json")).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(&w.deps, &event("api-delete-file.json")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn malformed_ids_and_unknown_routes_are_404() {
    let w = world();
    let mut ev = event("api-get-file.json");
    ev["rawPath"] = Value::String("/files/..%2F..%2Fetc".into());
    let (status, _, body) = call(&w.deps, &ev).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("file_not_found"))
    );
    ev["rawPath"] = Value::String("/files/a/b/c".into());
    let (status, _, body) = call(&w.deps, &ev).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("route_not_found"))
    );
}
