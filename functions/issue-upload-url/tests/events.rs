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
use shared::ports::{
    FileRecords, MemoryMultipart, MemoryRecords, StaticIssuer, TemporaryCredentials, UploadedPart,
};

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
    let w = world_with(None, &[]);
    (w.deps, w.records)
}

fn deps_signing_with(expiry: Option<std::time::SystemTime>) -> (Deps, Arc<MemoryRecords>) {
    let w = world_with(expiry, &[]);
    (w.deps, w.records)
}

/// The upload function with in-memory stores.
struct World {
    deps: Deps,
    records: Arc<MemoryRecords>,
    multipart: Arc<MemoryMultipart>,
    issuer: Arc<StaticIssuer>,
}

fn world() -> World {
    world_with(None, &[])
}

/// Signing with credentials that expire at `expiry` (never, when `None`); `settings` change
/// the configuration.
fn world_with(expiry: Option<std::time::SystemTime>, settings: &[(&str, &str)]) -> World {
    let mut env = vec![
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
    env.extend_from_slice(settings);
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let config = Config::from_env(&EnvVec(env)).unwrap();
    let credentials = Credentials::new(
        "ASIAEXAMPLE",
        "secret",
        Some("session-token".into()),
        expiry,
        "test",
    );
    let records = Arc::new(MemoryRecords::default());
    let multipart = Arc::new(MemoryMultipart::default());
    let issuer = Arc::new(StaticIssuer::new(TemporaryCredentials {
        access_key_id: "ASIABROWSER".into(),
        secret_access_key: "browser-secret".into(),
        session_token: "browser-token".into(),
        expiration: chrono::Utc::now() + chrono::Duration::minutes(15),
    }));
    let deps = Deps::new(
        config,
        SharedCredentialsProvider::new(credentials),
        records.clone(),
        multipart.clone(),
        issuer.clone(),
    );
    World {
        deps,
        records,
        multipart,
        issuer,
    }
}

/// An environment made of owned pairs, later ones winning.
struct EnvVec(Vec<(String, String)>);

impl shared::config::Env for EnvVec {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
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
async fn a_user_of_another_issuer_uploads_under_a_prefix_of_their_own() {
    let (deps, records) = deps();
    let mut ev = event("api-post-uploads.json");
    let other = "https://other-idp.example.com/";
    ev["requestContext"]["authorizer"]["jwt"]["claims"]["iss"] = other.into();
    let (status, body) = call(&deps, &ev).await;
    assert_eq!(status, 201, "{body}");
    let file_id = FileId::parse(body["file_id"].as_str().unwrap()).unwrap();
    let key = body["key"].as_str().unwrap();
    // users/{16 hex digits of the issuer's SHA-256}.{sub}/{file id}
    let owner = key
        .strip_prefix("users/")
        .and_then(|rest| rest.strip_suffix(&format!("/{file_id}")))
        .unwrap();
    let (tag, sub) = owner.split_once('.').unwrap();
    assert_eq!(sub, SUB);
    assert_eq!(tag.len(), 16);
    assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
    let theirs = OwnerId::from_claims(other, SUB, "https://home.example").unwrap();
    assert_eq!(owner, theirs.as_str());
    assert!(records.get(&theirs, file_id).await.unwrap().is_some());
    // Not the home issuer's user with the same sub.
    let home = OwnerId::from_sub(SUB).unwrap();
    assert!(records.get(&home, file_id).await.unwrap().is_none());
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
            r#"{"filename":"a","content_type":"image/png","size":104857601}"#,
            413,
            "file_too_large",
            "104857600",
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
            answer["request_id"], "Ab1Cd2Ef3Gh4=",
            "the event's request id"
        );
        assert_eq!(
            answer.as_object().unwrap().len(),
            3,
            "only error, message and request_id: {answer}"
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
    let err = Config::from_env(&[
        ("BUCKET_NAME", "b"),
        ("TABLE_NAME", "t"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("AWS_REGION", "eu-west-1"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable ALLOWED_CONTENT_TYPES is not set"
    );
    let err = Config::from_env(&[
        ("ALLOWED_CONTENT_TYPES", "image/png"),
        ("BUCKET_NAME", "b"),
        ("TABLE_NAME", "t"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("CREDENTIALS_ROLE_ARN", "arn:aws:iam::1:role/r"),
        ("UPLOAD_URL_TTL_SECONDS", "ten"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("environment variable UPLOAD_URL_TTL_SECONDS is malformed"),
        "{err}"
    );
}

fn field<'a>(upload: &'a Value, name: &str) -> &'a str {
    upload["fields"][name].as_str().unwrap_or_default()
}

#[tokio::test]
async fn post_uploads_form_issues_a_signed_policy_for_exactly_this_upload() {
    let w = world();
    let (status, body) = call(&w.deps, &event("api-post-uploads-form.json")).await;
    assert_eq!(status, 201, "{body}");
    let file_id = FileId::parse(body["file_id"].as_str().unwrap()).unwrap();
    let key = format!("users/{SUB}/{file_id}");
    assert_eq!(body["key"], key.as_str());
    let upload = &body["upload"];
    assert_eq!(upload["method"], "POST");
    assert_eq!(
        upload["url"],
        "https://private-uploads-example.s3.eu-west-1.amazonaws.com/"
    );
    // The body's text keeps the fields in the order to send them (a parsed Value sorts).
    let response = handle(&w.deps, request(&event("api-post-uploads-form.json")))
        .await
        .unwrap();
    let Body::Text(text) = response.body() else {
        panic!("a JSON body")
    };
    let order = [
        "Content-Type",
        "x-amz-meta-filename",
        "x-amz-checksum-sha256",
        "success_action_status",
        "key",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-security-token",
        "policy",
        "x-amz-signature",
    ];
    let fields_at = text.find("\"fields\"").unwrap();
    let positions: Vec<usize> = order
        .iter()
        .map(|name| fields_at + text[fields_at..].find(&format!("\"{name}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(upload["fields"].as_object().unwrap().len(), order.len());
    assert_eq!(field(upload, "key"), key);
    assert_eq!(field(upload, "Content-Type"), "image/png");
    assert_eq!(field(upload, "x-amz-meta-filename"), "holiday%20photo.png");
    assert_eq!(field(upload, "x-amz-security-token"), "session-token");
    let policy: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            field(upload, "policy"),
        )
        .unwrap(),
    )
    .unwrap();
    let conditions = policy["conditions"].as_array().unwrap();
    assert!(conditions.contains(&json!(["content-length-range", 1, 1024])));
    assert!(conditions.contains(&json!({"key": key})));
    assert!(conditions.contains(&json!({"bucket": "private-uploads-example"})));
    let expires_at =
        shared::domain::time::parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(policy["expiration"], body["expires_at"]);
    let left = (expires_at - chrono::Utc::now()).num_seconds();
    assert!((295..=300).contains(&left), "5 minutes by default: {left}");
    let record = w
        .records
        .get(&OwnerId::from_sub(SUB).unwrap(), file_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.mode().as_str(), "form");
    assert_eq!(record.status(), FileStatus::Pending);
}

#[tokio::test]
async fn form_lifetimes_are_5_to_10_minutes() {
    let w = world_with(None, &[("FORM_URL_TTL_SECONDS", "600")]);
    let (_, body) = call(&w.deps, &event("api-post-uploads-form.json")).await;
    let expires_at =
        shared::domain::time::parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert!((expires_at - chrono::Utc::now()).num_seconds() > 590);
    for bad in ["299", "601"] {
        let env = [
            ("BUCKET_NAME", "b"),
            ("TABLE_NAME", "t"),
            (
                "JWT_ISSUER",
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
            ),
            ("AWS_REGION", "eu-west-1"),
            ("ALLOWED_CONTENT_TYPES", "image/*"),
            ("CREDENTIALS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("FORM_URL_TTL_SECONDS", bad),
        ];
        let err = Config::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("FORM_URL_TTL_SECONDS"), "{err}");
    }
}

#[tokio::test]
async fn multipart_creates_the_upload_and_pages_part_urls_bound_to_their_lengths() {
    let w = world();
    let (status, body) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["part_size"], 5242880);
    assert_eq!(body["part_count"], 3);
    let upload_id = body["upload_id"].as_str().unwrap().to_owned();
    assert!(w.multipart.is_open(&upload_id));
    let parts = body["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    for (i, part) in parts.iter().enumerate() {
        let url = part["url"].as_str().unwrap();
        assert_eq!(part["part_number"], i + 1);
        assert_eq!(query_param(url, "partNumber"), (i + 1).to_string());
        assert_eq!(query_param(url, "uploadId"), upload_id);
        assert_eq!(
            query_param(url, "X-Amz-SignedHeaders"),
            "content-length;host",
            "each part URL binds its exact length"
        );
    }
    let file_id = FileId::parse(body["file_id"].as_str().unwrap()).unwrap();
    let owner = OwnerId::from_sub(SUB).unwrap();
    let record = w.records.get(&owner, file_id).await.unwrap().unwrap();
    assert_eq!(record.mode().upload_id(), Some(upload_id.as_str()));
    assert_eq!(record.crc64nvme().map(|c| c.as_str()), Some("AAAAAAAAAAA="));
    let usage = w.records.usage(&owner).await.unwrap();
    assert_eq!(usage.in_use(chrono::Utc::now().timestamp()), (12582912, 1));

    // The parts uploaded so far, and the next page, from the parts route.
    w.multipart.add_part(
        &upload_id,
        UploadedPart {
            part_number: 1,
            etag: "e1".into(),
            size: 5242880,
            crc64nvme: None,
        },
    );
    let mut ev = event("api-get-upload-parts.json");
    ev["rawPath"] = json!(format!("/uploads/{file_id}/parts"));
    ev["rawQueryString"] = json!("from=2");
    let (status, page) = call(&w.deps, &ev).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["uploaded"],
        json!([{"part_number": 1, "etag": "e1", "size": 5242880}])
    );
    let numbers: Vec<u64> = page["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 3]);
    for bad in ["from=0", "from=4", "from=x"] {
        ev["rawQueryString"] = json!(bad);
        let (status, answer) = call(&w.deps, &ev).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }

    // Completion with the client's part list; the record stays pending until S3's event.
    for n in 2..=3 {
        w.multipart.add_part(
            &upload_id,
            UploadedPart {
                part_number: n,
                etag: format!("e{n}"),
                size: 1,
                crc64nvme: None,
            },
        );
    }
    let mut complete = event("api-complete-upload.json");
    complete["rawPath"] = json!(format!("/uploads/{file_id}/complete"));
    let parts = |list: Value| json!({"upload_id": upload_id, "parts": list}).to_string();
    for (list, code) in [
        (json!([]), "invalid_parts"),
        (
            json!([{"part_number": 2, "etag": "e2"}, {"part_number": 1, "etag": "e1"}]),
            "invalid_parts",
        ),
        (json!([{"part_number": 4, "etag": "e4"}]), "invalid_parts"),
        (
            json!([{"part_number": 1, "etag": "wrong"}]),
            "invalid_parts",
        ),
    ] {
        complete["body"] = json!(parts(list.clone()));
        let (status, answer) = call(&w.deps, &complete).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(code)),
            "{list}"
        );
    }
    complete["body"] = json!(
        json!({"upload_id": "someone-elses", "parts": [{"part_number": 1, "etag": "e1"}]})
            .to_string()
    );
    assert_eq!(call(&w.deps, &complete).await.0, 404, "another upload id");
    complete["body"] = json!(parts(json!([
        {"part_number": 1, "etag": "\"e1\""},
        {"part_number": 2, "etag": "e2"},
        {"part_number": 3, "etag": "e3"}
    ])));
    let (status, done) = call(&w.deps, &complete).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done,
        json!({"file_id": file_id.to_string(), "key": format!("users/{SUB}/{file_id}"), "status": "pending"})
    );
    assert_eq!(w.multipart.completed(), [format!("users/{SUB}/{file_id}")]);
    let (status, again) = call(&w.deps, &complete).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (409, Some("upload_not_pending"))
    );
}

#[tokio::test]
async fn a_multipart_request_is_checked_before_anything_is_created() {
    let w = world();
    let cases = [
        (
            json!({"filename": "a.pdf", "content_type": "application/pdf", "size": 12582912, "part_size": 1024}),
            400,
            "invalid_part_size",
        ),
        (
            json!({"filename": "a.pdf", "content_type": "application/pdf", "size": 12582912, "crc64nvme": "nope"}),
            400,
            "invalid_crc64nvme",
        ),
        (
            json!({"filename": "a.pdf", "content_type": "application/pdf", "size": 12582912, "sha256": "X3C/GKCGAHAW6UiwSu07ghA6Nr6kF1W2zd+vEKzjxu8="}),
            400,
            "invalid_request",
        ),
        (
            json!({"filename": "a.html", "content_type": "text/html", "size": 10}),
            415,
            "content_type_not_allowed",
        ),
        (
            json!({"filename": "a.pdf", "content_type": "application/pdf", "size": 104857601}),
            413,
            "file_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let ev = with_body(event("api-post-uploads-multipart.json"), &body.to_string());
        let (got, answer) = call(&w.deps, &ev).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    let owner = OwnerId::from_sub(SUB).unwrap();
    assert!(
        w.records
            .list(&owner, 10, None)
            .await
            .unwrap()
            .records
            .is_empty()
    );
    assert_eq!(w.multipart.completed(), Vec::<String>::new());
}

#[tokio::test]
async fn the_quota_is_reserved_at_issue_and_refused_with_the_numbers() {
    let w = world_with(None, &[("QUOTA_BYTES", "2000"), ("QUOTA_FILES", "5")]);
    let (status, _) = call(&w.deps, &event("api-post-uploads.json")).await;
    assert_eq!(status, 201, "1024 of 2000 bytes");
    let (status, body) = call(&w.deps, &event("api-post-uploads-form.json")).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    assert_eq!(
        body["quota"],
        json!({"used_bytes": 1024, "max_bytes": 2000, "used_files": 1, "max_files": 5, "requested_bytes": 1024})
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("quota exceeded: 1024 of 2000 bytes")
    );
    // A refused multipart upload leaves no upload open in S3.
    let (status, _) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
    assert_eq!(status, 413);
    let owner = OwnerId::from_sub(SUB).unwrap();
    assert_eq!(
        w.records
            .list(&owner, 10, None)
            .await
            .unwrap()
            .records
            .len(),
        1
    );
}

#[tokio::test]
async fn aborting_an_upload_removes_it_and_gives_its_bytes_back() {
    let w = world();
    let (_, body) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
    let file_id = body["file_id"].as_str().unwrap().to_owned();
    let upload_id = body["upload_id"].as_str().unwrap().to_owned();
    let mut ev = event("api-delete-upload.json");
    ev["rawPath"] = json!(format!("/uploads/{file_id}"));
    let (status, _) = call(&w.deps, &ev).await;
    assert_eq!(status, 204);
    assert!(!w.multipart.is_open(&upload_id), "aborted in S3");
    let owner = OwnerId::from_sub(SUB).unwrap();
    assert_eq!(w.records.usage(&owner).await.unwrap().in_use(0), (0, 0));
    assert_eq!(call(&w.deps, &ev).await.0, 404, "gone");
    // Someone else's, or a file id that never was: the same 404.
    let (status, body) = call(&w.deps, &event("api-delete-upload.json")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("file_not_found"))
    );
}

#[tokio::test]
async fn credentials_carry_a_session_policy_for_the_callers_prefix_only() {
    let w = world();
    let (status, body) = call(&w.deps, &event("api-post-credentials.json")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_key_id"], "ASIABROWSER");
    assert_eq!(body["secret_access_key"], "browser-secret");
    assert_eq!(body["session_token"], "browser-token");
    assert_eq!(body["bucket"], "private-uploads-example");
    assert_eq!(body["region"], "eu-west-1");
    assert_eq!(body["prefix"], format!("users/{SUB}/"));
    assert!(
        body.get("endpoint").is_none(),
        "AWS's own endpoint is implied"
    );
    let (name, policy, duration) = w.issuer.last.lock().unwrap().clone().unwrap();
    assert!(
        name.starts_with("pu-") && name.ends_with(&format!("-{SUB}")),
        "{name}"
    );
    assert_eq!(duration.as_secs(), 900, "15 minutes by default");
    let policy: Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(
        policy["Statement"][0]["Resource"],
        format!(
            "arn:aws:s3:::private-uploads-example/users/{SUB}/????????-????-7???-????-????????????"
        )
    );
    let mut other = event("api-post-credentials.json");
    other["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("bob");
    call(&w.deps, &other).await;
    let (_, bobs, _) = w.issuer.last.lock().unwrap().clone().unwrap();
    assert!(bobs.contains("users/bob/????????"), "{bobs}");
}

/// The status, `Retry-After` and `error` of an answer.
async fn refusal(deps: &Deps, event: &Value) -> (u16, Option<u64>, Value) {
    let response: Response<Body> = handle(deps, request(event)).await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let Body::Text(text) = response.body() else {
        panic!("a JSON body")
    };
    let body: Value = serde_json::from_str(text).unwrap();
    (
        response.status().as_u16(),
        retry_after,
        body["error"].clone(),
    )
}

#[tokio::test]
async fn credentials_are_limited_per_owner_and_hour_and_each_names_its_own_id() {
    let w = world_with(None, &[("CREDENTIALS_PER_HOUR", "2")]);
    let mut names = Vec::new();
    for _ in 0..2 {
        let (status, body) = call(&w.deps, &event("api-post-credentials.json")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["max_objects"], 100,
            "CREDENTIALS_MAX_OBJECTS by default"
        );
        names.push(w.issuer.last.lock().unwrap().clone().unwrap().0);
    }
    let (status, retry_after, error) = refusal(&w.deps, &event("api-post-credentials.json")).await;
    assert_eq!((status, error.as_str()), (429, Some("rate_limited")));
    let retry_after = retry_after.expect("a Retry-After");
    assert!(
        (3500..=3600).contains(&retry_after),
        "until the hour's window ends: {retry_after}"
    );
    let mut bob = event("api-post-credentials.json");
    bob["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("bob");
    assert_eq!(
        call(&w.deps, &bob).await.0,
        200,
        "another owner has their own count"
    );

    assert_ne!(names[0], names[1], "each credential has its own id");
    for name in &names {
        let principal = format!("AWS:AROAEXAMPLEROLEID:{name}");
        let id = shared::domain::credentials::credential_of_principal(&principal)
            .unwrap_or_else(|| panic!("{name} names no credential"));
        assert_eq!(*name, format!("pu-{id}-{SUB}"));
    }
}

#[tokio::test]
async fn too_many_unfinished_multipart_uploads_stop_new_ones_until_one_is_aborted() {
    let w = world_with(None, &[("MAX_UNFINISHED_UPLOADS", "2")]);
    let mut file_ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
        assert_eq!(status, 201, "{body}");
        file_ids.push(body["file_id"].as_str().unwrap().to_owned());
    }
    for name in [
        "api-post-uploads-multipart.json",
        "api-post-credentials.json",
    ] {
        let (status, retry_after, error) = refusal(&w.deps, &event(name)).await;
        assert_eq!(
            (status, error.as_str()),
            (429, Some("too_many_unfinished_uploads")),
            "{name}"
        );
        let retry_after = retry_after.expect("a Retry-After");
        assert!(
            (86_400 - 120..=2 * 86_400).contains(&retry_after),
            "until the one-day lifecycle rule aborts the oldest: {retry_after}"
        );
    }
    assert!(
        w.issuer.last.lock().unwrap().is_none(),
        "no credentials were issued"
    );
    let usage = w
        .records
        .usage(&OwnerId::from_sub(SUB).unwrap())
        .await
        .unwrap();
    assert_eq!(
        usage.reservations.len(),
        2,
        "the refused upload reserved nothing"
    );

    let mut cancel = event("api-delete-upload.json");
    cancel["rawPath"] = json!(format!("/uploads/{}", file_ids[0]));
    cancel["pathParameters"] = json!({"file_id": file_ids[0]});
    assert_eq!(call(&w.deps, &cancel).await.0, 204);
    assert_eq!(
        call(&w.deps, &event("api-post-credentials.json")).await.0,
        200
    );
}

#[tokio::test]
async fn the_upload_routes_of_a_file_id_never_reach_another_users_upload() {
    let w = world();
    let (_, body) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
    let file_id = body["file_id"].as_str().unwrap().to_owned();
    let upload_id = body["upload_id"].as_str().unwrap().to_owned();
    let as_mallory = |name: &str, tail: &str| {
        let mut ev = event(name);
        ev["rawPath"] = json!(format!("/uploads/{file_id}{tail}"));
        ev["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!("mallory");
        ev
    };
    let mut complete = as_mallory("api-complete-upload.json", "/complete");
    complete["body"] = json!(
        json!({"upload_id": upload_id, "parts": [{"part_number": 1, "etag": "e"}]}).to_string()
    );
    for ev in [
        as_mallory("api-get-upload-parts.json", "/parts"),
        complete,
        as_mallory("api-delete-upload.json", ""),
    ] {
        let request_id = ev["requestContext"]["requestId"].clone();
        let (status, answer) = call(&w.deps, &ev).await;
        assert_eq!(
            (status, answer),
            (
                404,
                json!({"error": "file_not_found", "message": "no such file", "request_id": request_id})
            )
        );
    }
    assert!(
        w.multipart.is_open(&upload_id),
        "alice's upload is untouched"
    );
}

#[tokio::test]
async fn get_uploads_lists_the_callers_unfinished_multipart_uploads_and_no_one_elses() {
    let w = world();
    let list = |sub: &str| {
        let mut ev = event("api-get-uploads.json");
        ev["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(sub);
        ev
    };
    let (status, body) = call(&w.deps, &list(SUB)).await;
    assert_eq!((status, body), (200, json!({"uploads": []})));

    let (_, started) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
    let (status, _) = call(&w.deps, &event("api-post-uploads.json")).await;
    assert_eq!(
        status, 201,
        "a single PUT, pending too, is not a multipart upload"
    );
    let (status, body) = call(&w.deps, &list(SUB)).await;
    assert_eq!(status, 200, "{body}");
    let uploads = body["uploads"].as_array().unwrap();
    assert_eq!(uploads.len(), 1, "{body}");
    let created_at = uploads[0]["created_at"].as_str().unwrap().to_owned();
    assert!(shared::domain::time::parse_rfc3339(&created_at).is_some());
    assert_eq!(
        uploads[0],
        json!({
            "file_id": started["file_id"], "key": started["key"],
            "upload_id": started["upload_id"], "filename": "scan.pdf",
            "content_type": "application/pdf", "size": 12582912, "part_size": 5242880,
            "part_count": 3, "crc64nvme": "AAAAAAAAAAA=", "created_at": created_at,
        })
    );

    // Another user sees none of it.
    let (status, body) = call(&w.deps, &list("mallory")).await;
    assert_eq!((status, body), (200, json!({"uploads": []})));

    // Aborted, it is no longer listed.
    let mut abort = event("api-delete-upload.json");
    abort["rawPath"] = json!(format!("/uploads/{}", started["file_id"].as_str().unwrap()));
    assert_eq!(call(&w.deps, &abort).await.0, 204);
    let (_, body) = call(&w.deps, &list(SUB)).await;
    assert_eq!(body, json!({"uploads": []}));
}

#[tokio::test]
async fn a_stored_parts_crc64nvme_is_listed_with_it() {
    let w = world();
    let (_, started) = call(&w.deps, &event("api-post-uploads-multipart.json")).await;
    let upload_id = started["upload_id"].as_str().unwrap();
    w.multipart.add_part(
        upload_id,
        UploadedPart {
            part_number: 1,
            etag: "e1".into(),
            size: 5242880,
            crc64nvme: Some("q0Qq3YfGJmY=".into()),
        },
    );
    let mut ev = event("api-get-upload-parts.json");
    ev["rawPath"] = json!(format!(
        "/uploads/{}/parts",
        started["file_id"].as_str().unwrap()
    ));
    let (status, page) = call(&w.deps, &ev).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["uploaded"],
        json!([{"part_number": 1, "etag": "e1", "size": 5242880, "crc64nvme": "q0Qq3YfGJmY="}])
    );
}
