//! The upload handler fed the same `events/*.json` files `sam local invoke -e` uses.

// Test helpers fail loudly on unexpected input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use issue_upload_url::{Config, Deps, handle};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::ids::{FileId, OwnerId};
use shared::domain::record::FileStatus;
use shared::ports::{FileRecords, MemoryRecords};

const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";

fn event(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn with_body(mut event: Value, body: &str) -> Value {
    event["body"] = Value::String(body.to_owned());
    event
}

fn deps() -> (Deps, Arc<MemoryRecords>) {
    deps_signing_with(None)
}

/// The upload function with in-memory records, signing with credentials that expire at
/// `expiry` (never, when `None`).
fn deps_signing_with(expiry: Option<std::time::SystemTime>) -> (Deps, Arc<MemoryRecords>) {
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        ("AWS_REGION", "eu-west-1"),
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf"),
        ("MAX_UPLOAD_BYTES", "10485760"),
    ];
    let config = Config::from_env(&env).unwrap();
    let credentials = Credentials::new(
        "ASIAEXAMPLE",
        "secret",
        Some("session-token".into()),
        expiry,
        "test",
    );
    let records = Arc::new(MemoryRecords::default());
    let deps = Deps::new(
        config,
        SharedCredentialsProvider::new(credentials),
        records.clone(),
    );
    (deps, records)
}

async fn call(deps: &Deps, event: &Value) -> (u16, Value) {
    let response: Response<Body> = handle(deps, request(event)).await.unwrap();
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        Body::Empty => Value::Null,
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .unwrap()
                .into_owned()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn post_uploads_issues_a_presigned_put_and_a_pending_record() {
    let (deps, records) = deps();
    let (status, body) = call(&deps, &event("api-post-uploads.json")).await;
    assert_eq!(status, 201, "{body}");

    let file_id = FileId::parse(body["file_id"].as_str().unwrap()).unwrap();
    assert_eq!(body["key"], format!("users/{SUB}/{file_id}"));
    let upload = &body["upload"];
    assert_eq!(upload["method"], "PUT");
    let url = upload["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "https://private-uploads-example.s3.eu-west-1.amazonaws.com/users/{SUB}/{file_id}?"
        )),
        "{url}"
    );
    assert_eq!(
        upload["headers"],
        json!({
            "Content-Type": "image/png",
            "If-None-Match": "*",
            "x-amz-checksum-sha256": "X3C/GKCGAHAW6UiwSu07ghA6Nr6kF1W2zd+vEKzjxu8="
        })
    );
    assert_eq!(
        query_param(url, "X-Amz-SignedHeaders"),
        "content-length;content-type;host;if-none-match;x-amz-checksum-sha256"
    );
    assert_eq!(query_param(url, "X-Amz-Security-Token"), "session-token");
    assert_eq!(query_param(url, "X-Amz-Expires"), "300");

    let expires_at =
        shared::domain::time::parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let left = (expires_at - chrono::Utc::now()).num_seconds();
    assert!((295..=300).contains(&left), "{left}");

    let owner = OwnerId::from_sub(SUB).unwrap();
    let record = records.get(&owner, file_id).await.unwrap().unwrap();
    assert_eq!(record.status(), FileStatus::Pending);
    assert_eq!(record.filename().as_str(), "holiday photo.png");
    assert_eq!(record.size().get(), 1024);
    assert!(record.expires_at().unwrap() > expires_at.timestamp());
}

#[tokio::test]
async fn no_claims_is_401_and_writes_nothing() {
    let (deps, records) = deps();
    let mut ev = event("api-post-uploads.json");
    ev["requestContext"]["authorizer"] = Value::Null;
    let (status, body) = call(&deps, &ev).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let owner = OwnerId::from_sub(SUB).unwrap();
    assert!(
        records
            .list(&owner, 10, None)
            .await
            .unwrap()
            .records
            .is_empty()
    );

    let mut ev = event("api-post-uploads.json");
    ev["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(String::new());
    assert_eq!(call(&deps, &ev).await.0, 401);
}

#[tokio::test]
async fn a_user_id_in_the_body_is_refused_not_trusted() {
    let (deps, _) = deps();
    let ev = with_body(
        event("api-post-uploads.json"),
        r#"{"filename":"a.png","content_type":"image/png","size":5,"owner":"someone-else"}"#,
    );
    let (status, body) = call(&deps, &ev).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `owner`")
    );
}

#[tokio::test]
async fn bad_requests_get_the_contract_errors() {
    let (deps, records) = deps();
    let cases = [
        ("{", 400, "invalid_json", "not valid JSON"),
        ("", 400, "invalid_json", "must be a JSON object"),
        (
            r#"{"content_type":"image/png","size":5}"#,
            400,
            "invalid_request",
            "filename",
        ),
        (
            r#"{"filename":"a","content_type":"image/png","size":"5"}"#,
            400,
            "invalid_request",
            "size",
        ),
        (
            r#"{"filename":"a","content_type":"image/png","size":-5}"#,
            400,
            "invalid_request",
            "size",
        ),
        (
            r#"{"filename":"","content_type":"image/png","size":5}"#,
            400,
            "invalid_filename",
            "filename must be 1 to 255 characters",
        ),
        (
            r#"{"filename":"a","content_type":"not a type","size":5}"#,
            400,
            "invalid_content_type",
            "\"not a type\" is not a media type",
        ),
        (
            r#"{"filename":"a","content_type":"text/html","size":5}"#,
            415,
            "content_type_not_allowed",
            "image/*",
        ),
        (
            r#"{"filename":"a","content_type":"image/png","size":0}"#,
            400,
            "invalid_size",
            "at least 1 byte",
        ),
        (
            r#"{"filename":"a","content_type":"image/png","size":10485761}"#,
            413,
            "file_too_large",
            "10485760",
        ),
        (
            r#"{"filename":"a","content_type":"image/png","size":5,"sha256":"abc"}"#,
            400,
            "invalid_sha256",
            "base64 of a 32-byte SHA-256 digest",
        ),
    ];
    for (body, want_status, want_code, mentions) in cases {
        let (status, answer) = call(&deps, &with_body(event("api-post-uploads.json"), body)).await;
        assert_eq!(status, want_status, "{body} → {answer}");
        assert_eq!(answer["error"], want_code, "{body} → {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(mentions),
            "{body} → {answer}"
        );
        assert_eq!(
            answer.as_object().unwrap().len(),
            2,
            "only error and message: {answer}"
        );
    }
    let owner = OwnerId::from_sub(SUB).unwrap();
    assert!(
        records
            .list(&owner, 10, None)
            .await
            .unwrap()
            .records
            .is_empty()
    );
}

#[tokio::test]
async fn credentials_about_to_expire_are_503_signing_unavailable() {
    let (deps, records) = deps_signing_with(Some(std::time::SystemTime::now()));
    let response = handle(&deps, request(&event("api-post-uploads.json")))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let Body::Text(text) = response.body() else {
        panic!("a JSON body")
    };
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["error"], "signing_unavailable");
    let owner = OwnerId::from_sub(SUB).unwrap();
    assert!(
        records
            .list(&owner, 10, None)
            .await
            .unwrap()
            .records
            .is_empty(),
        "no record for an upload that was never issued"
    );
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let (deps, _) = deps();
    let mut ev = event("api-post-uploads.json");
    ev["rawPath"] = Value::String("/nope".into());
    let (status, body) = call(&deps, &ev).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("route_not_found"))
    );
}

#[test]
fn missing_configuration_is_named() {
    let err = Config::from_env(&[("BUCKET_NAME", "b")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable ALLOWED_CONTENT_TYPES is not set"
    );
    let err = Config::from_env(&[
        ("ALLOWED_CONTENT_TYPES", "image/png"),
        ("BUCKET_NAME", "b"),
        ("TABLE_NAME", "t"),
        ("AWS_REGION", "eu-west-1"),
        ("UPLOAD_URL_TTL_SECONDS", "ten"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("environment variable UPLOAD_URL_TTL_SECONDS is malformed"),
        "{err}"
    );
}
