//! End to end against emulators on 127.0.0.1: issue an upload, PUT the bytes to the presigned
//! URL (S3 checks the signature), deliver the ObjectCreated event, get a view URL and verify
//! it with the public key; and the refusals.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use integration_tests::*;
use record_ownership::RecordOutcome;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ALICE: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const BOB: &str = "b0b0b0b0-0000-4000-8000-000000000000";

fn sha256_b64(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

/// A small but real PNG (1×1, red).
fn png() -> Vec<u8> {
    STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
        .unwrap()
}

/// PUT `body` to an issued upload, sending exactly the issued headers unless `tweak` changes
/// them. Returns the status and S3's error code, if any.
async fn put(
    upload: &Value,
    body: Vec<u8>,
    tweak: impl FnOnce(&mut Vec<(String, String)>),
) -> (u16, String) {
    let mut headers: Vec<(String, String)> = upload["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    tweak(&mut headers);
    let mut request = reqwest::Client::new()
        .put(upload["url"].as_str().unwrap())
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_default();
    (status, code)
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url.split_once('?')?.1.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
    })
}

/// Verify a CloudFront canned-policy URL independently of the code that signed it: rebuild the
/// policy from the documented format and check the RSA-SHA256 signature with the RustCrypto
/// `rsa` crate (the signer used aws-lc-rs).
fn verify_independently(url: &str, public_pem: &str) -> i64 {
    let expires: i64 = query_param(url, "Expires").unwrap().parse().unwrap();
    assert_eq!(
        query_param(url, "Key-Pair-Id").as_deref(),
        Some(KEY_PAIR_ID)
    );
    assert_eq!(
        query_param(url, "Hash-Algorithm").as_deref(),
        Some("SHA256")
    );
    let resource = url.split_once('?').unwrap().0;
    let policy = format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    );
    let signature = query_param(url, "Signature")
        .unwrap()
        .replace('-', "+")
        .replace('_', "=")
        .replace('~', "/");
    let signature =
        rsa::pkcs1v15::Signature::try_from(STANDARD.decode(signature).unwrap().as_slice()).unwrap();
    let public = rsa::RsaPublicKey::from_public_key_pem(public_pem).unwrap();
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
        .verify(policy.as_bytes(), &signature)
        .expect("the view URL's signature verifies with the public key");
    expires
}

async fn issue(stack: &Stack, sub: &str, body: Value) -> Value {
    let (status, answer) = stack.upload_api("POST", "/uploads", Some(&body), sub).await;
    assert_eq!(status, 201, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_put_event_and_view_end_to_end() {
    let mut stack = Stack::start().await;
    let bytes = png();
    let issued = issue(
        &stack,
        ALICE,
        json!({"filename": "cat 🐱.png", "content_type": "image/png", "size": bytes.len(), "sha256": sha256_b64(&bytes)}),
    )
    .await;
    let file_id = issued["file_id"].as_str().unwrap().to_owned();
    let key = issued["key"].as_str().unwrap().to_owned();
    assert_eq!(key, format!("users/{ALICE}/{file_id}"));
    assert_eq!(
        query_param(
            issued["upload"]["url"].as_str().unwrap(),
            "X-Amz-Security-Token"
        )
        .as_deref(),
        Some(SESSION_TOKEN)
    );

    // Before the upload: pending, and no view URL.
    let (status, file) = stack
        .view_api("GET", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!((status, file["status"].as_str()), (200, Some("pending")));
    let (status, _) = stack
        .view_api("GET", &format!("/files/{file_id}/url"), "", ALICE)
        .await;
    assert_eq!(status, 404);

    assert_eq!(
        put(&issued["upload"], bytes.clone(), |_| {}).await,
        (200, String::new())
    );
    let (event, report) = stack.deliver_next_event().await;
    assert_eq!(event["Records"][0]["s3"]["object"]["key"], key);
    assert_eq!(report.records[0].outcome, RecordOutcome::Ready);

    let (status, file) = stack
        .view_api("GET", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!(status, 200);
    assert_eq!(file["status"], "ready");
    assert_eq!(file["filename"], "cat 🐱.png");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["sha256"], sha256_b64(&bytes));
    assert!(file["uploaded_at"].as_str().unwrap().ends_with('Z'));

    let (status, view) = stack
        .view_api(
            "GET",
            &format!("/files/{file_id}/url"),
            "expires_in=120",
            ALICE,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let url = view["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{CDN}/{key}?Expires=")), "{url}");
    let expires = verify_independently(url, &stack.cloudfront_key.public_pem);
    let now = chrono::Utc::now().timestamp();
    assert!((118..=120).contains(&(expires - now)), "{}", expires - now);
    assert_eq!(
        shared::domain::time::parse_rfc3339(view["expires_at"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        expires
    );

    let (status, list) = stack.view_api("GET", "/files", "", ALICE).await;
    assert_eq!(status, 200);
    assert_eq!(list["files"][0]["file_id"], file_id.as_str());
    assert_eq!(list["next_cursor"], Value::Null);

    // Bob sees none of it, and cannot delete it.
    let (_, not_found) = stack
        .view_api(
            "GET",
            "/files/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d/url",
            "",
            ALICE,
        )
        .await;
    assert_eq!(
        not_found,
        json!({"error": "file_not_found", "message": "no such file", "request_id": "Ab1Cd2Ef3Gh4="})
    );
    for (method, path) in [
        ("GET", format!("/files/{file_id}/url")),
        ("GET", format!("/files/{file_id}")),
        ("DELETE", format!("/files/{file_id}")),
    ] {
        let (status, body) = stack.view_api(method, &path, "", BOB).await;
        assert_eq!((status, &body), (404, &not_found), "{method} {path}");
    }
    let (_, bobs) = stack.view_api("GET", "/files", "", BOB).await;
    assert_eq!(bobs["files"], json!([]));
    assert!(stack.object_exists(&key).await);

    // Alice deletes it: object and record are gone.
    let (status, _) = stack
        .view_api("DELETE", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!(status, 204);
    assert!(!stack.object_exists(&key).await);
    let (status, _) = stack
        .view_api("GET", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!(status, 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_refuses_every_put_that_differs_from_what_was_signed() {
    let mut stack = Stack::start().await;
    let body = b"hello, private uploads! this text is exactly as long as it was declared.".to_vec();
    let issued = issue(
        &stack,
        ALICE,
        json!({"filename": "note.txt", "content_type": "text/plain", "size": body.len(), "sha256": sha256_b64(&body)}),
    )
    .await;
    let upload = &issued["upload"];
    let key = issued["key"].as_str().unwrap().to_owned();

    let set = |name: &'static str, value: &'static str| {
        move |headers: &mut Vec<(String, String)>| {
            headers.retain(|(n, _)| n != name);
            headers.push((name.to_owned(), value.to_owned()));
        }
    };
    let drop_header = |name: &'static str| {
        move |headers: &mut Vec<(String, String)>| headers.retain(|(n, _)| n != name)
    };

    assert_eq!(
        put(upload, body.clone(), set("Content-Type", "text/html")).await,
        (403, "SignatureDoesNotMatch".into())
    );
    assert_eq!(
        put(upload, body.clone(), drop_header("Content-Type"))
            .await
            .0,
        403
    );
    let mut longer = body.clone();
    longer.push(b'!');
    assert_eq!(
        put(upload, longer, |_| {}).await,
        (403, "SignatureDoesNotMatch".into())
    );
    assert_eq!(
        put(upload, body.clone(), drop_header("x-amz-checksum-sha256"))
            .await
            .0,
        403
    );
    assert_eq!(
        put(upload, body.clone(), drop_header("If-None-Match"))
            .await
            .0,
        403
    );
    let mut other = body.clone();
    other[0] = b'H';
    assert_eq!(put(upload, other, |_| {}).await, (400, "BadDigest".into()));
    assert!(
        !stack.object_exists(&key).await,
        "a body with the wrong digest is not stored"
    );

    let mut elsewhere = upload.clone();
    let other_key = format!("users/{BOB}/{}", shared::domain::ids::FileId::generate());
    elsewhere["url"] = Value::String(upload["url"].as_str().unwrap().replace(&key, &other_key));
    assert_eq!(
        put(&elsewhere, body.clone(), |_| {}).await,
        (403, "SignatureDoesNotMatch".into())
    );

    let mut forged = upload.clone();
    let url = upload["url"].as_str().unwrap();
    let signature = query_param(url, "X-Amz-Signature").unwrap();
    let flipped: String = signature.chars().rev().collect();
    forged["url"] = Value::String(url.replace(&signature, &flipped));
    assert_eq!(
        put(&forged, body.clone(), |_| {}).await,
        (403, "SignatureDoesNotMatch".into())
    );

    // s3s does not validate session tokens (real S3 does); the token is a signed query
    // parameter, so a URL with another token no longer matches its signature.
    let mut other_token = upload.clone();
    let token = query_param(url, "X-Amz-Security-Token").unwrap();
    assert_eq!(token, SESSION_TOKEN);
    other_token["url"] = Value::String(url.replace(
        "X-Amz-Security-Token=local%2Fdev",
        "X-Amz-Security-Token=other%2Fdev",
    ));
    assert_ne!(other_token["url"], upload["url"]);
    assert_eq!(
        put(&other_token, body.clone(), |_| {}).await,
        (403, "SignatureDoesNotMatch".into())
    );

    assert_eq!(stack.pending_event(), None, "refused PUTs create nothing");
    assert_eq!(
        put(upload, body.clone(), |_| {}).await,
        (200, String::new())
    );
    assert_eq!(
        put(upload, body.clone(), |_| {}).await,
        (412, "PreconditionFailed".into()),
        "If-None-Match: * stops overwrites"
    );
    let (_, report) = stack.deliver_next_event().await;
    assert_eq!(report.records[0].outcome, RecordOutcome::Ready);
    assert_eq!(stack.pending_event(), None);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_upload_urls_are_refused() {
    let stack = Stack::start_with(&[("UPLOAD_URL_TTL_SECONDS", "1")]).await;
    let body = b"late".to_vec();
    let issued = issue(
        &stack,
        ALICE,
        json!({"filename": "late.txt", "content_type": "text/plain", "size": body.len()}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, code) = put(&issued["upload"], body, |_| {}).await;
    assert_eq!(status, 403);
    assert_eq!(code, "AccessDenied");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ownership_rejects_mismatches_and_is_idempotent_on_dynamodb() {
    let mut stack = Stack::start().await;

    // An object that does not match its record (here written by an administrator, since S3
    // itself refuses a mismatching presigned PUT): deleted, and the record says why.
    let issued = issue(
        &stack,
        ALICE,
        json!({"filename": "a.png", "content_type": "image/png", "size": 10}),
    )
    .await;
    let key = issued["key"].as_str().unwrap().to_owned();
    let file_id = issued["file_id"].as_str().unwrap().to_owned();
    stack
        .s3_client
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .content_type("image/png")
        .body(vec![0u8; 12].into())
        .send()
        .await
        .unwrap();
    let (_, report) = stack.deliver_next_event().await;
    assert_eq!(
        report.records[0].outcome,
        RecordOutcome::Rejected {
            reason: "size_mismatch: declared 10 bytes, received 12 bytes".into()
        }
    );
    assert!(!stack.object_exists(&key).await);
    let (_, file) = stack
        .view_api("GET", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!(file["status"], "rejected");
    assert!(
        file["reason"]
            .as_str()
            .unwrap()
            .starts_with("size_mismatch")
    );

    // A good upload; then the same event again, and an older one: exactly one ready record.
    let body = png();
    let issued = issue(
        &stack,
        ALICE,
        json!({"filename": "b.png", "content_type": "image/png", "size": body.len()}),
    )
    .await;
    let file_id = issued["file_id"].as_str().unwrap().to_owned();
    assert_eq!(put(&issued["upload"], body, |_| {}).await.0, 200);
    let (event, report) = stack.deliver_next_event().await;
    assert_eq!(report.records[0].outcome, RecordOutcome::Ready);
    let (_, first) = stack
        .view_api("GET", &format!("/files/{file_id}"), "", ALICE)
        .await;

    let again = stack.deliver(&event).await.unwrap();
    assert_eq!(
        again.records[0].outcome,
        RecordOutcome::Skipped {
            why: "this event was already applied".into()
        }
    );
    let mut older = event.clone();
    older["Records"][0]["s3"]["object"]["sequencer"] = json!("0000000000000001");
    let stale = stack.deliver(&older).await.unwrap();
    assert_eq!(
        stale.records[0].outcome,
        RecordOutcome::Skipped {
            why: "a newer event for this key was already applied".into()
        }
    );
    let (_, last) = stack
        .view_api("GET", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!(first, last);

    // An event for an object that is gone is not an error.
    let (status, _) = stack
        .view_api("DELETE", &format!("/files/{file_id}"), "", ALICE)
        .await;
    assert_eq!(status, 204);
    let gone = stack.deliver(&event).await.unwrap();
    assert_eq!(
        gone.records[0].outcome,
        RecordOutcome::Skipped {
            why: "the object no longer exists".into()
        }
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_signing_secret_is_503_not_500() {
    let stack = Stack::start().await;
    let body = png();
    let issued = issue(
        &stack,
        ALICE,
        json!({"filename": "c.png", "content_type": "image/png", "size": body.len()}),
    )
    .await;
    let file_id = issued["file_id"].as_str().unwrap().to_owned();
    let mut stack = stack;
    assert_eq!(put(&issued["upload"], body, |_| {}).await.0, 200);
    stack.deliver_next_event().await;

    let broken = issue_view_url::Deps::new(
        stack.view.config.clone(),
        stack.view.records.clone(),
        stack.view.objects.clone(),
        std::sync::Arc::new(shared::aws::secretsmanager::SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(&stack.aws),
            "no-such-secret",
        )),
    );
    let request = api_request(
        "GET",
        &format!("/files/{file_id}/url"),
        "",
        None,
        Some(ALICE),
    );
    let response = issue_view_url::handle(&broken, request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let lambda_http::Body::Text(text) = response.body() else {
        panic!("JSON body")
    };
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["error"], "signing_unavailable");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_claims_are_401_everywhere() {
    let stack = Stack::start().await;
    let body = json!({"filename": "a.png", "content_type": "image/png", "size": 1});
    let response = issue_upload_url::handle(
        &stack.upload,
        api_request("POST", "/uploads", "", Some(&body), None),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
    for (method, path) in [
        ("GET", "/files"),
        ("GET", "/files/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d/url"),
    ] {
        let response =
            issue_view_url::handle(&stack.view, api_request(method, path, "", None, None))
                .await
                .unwrap();
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    stack.stop().await;
}
