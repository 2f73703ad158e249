//! The local stack over HTTP, as a browser or `curl` sees it: the JWT authorizer stand-in,
//! the CloudFront stand-in, and every route and status of `docs/openapi.yaml`.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use integration_tests::moto_program;
use private_uploads::jwt::LocalIdp;
use private_uploads::stack::{JWT_AUDIENCE, JWT_ISSUER, KEY_PAIR_ID, LocalStack, StackOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::cloudfront::{HashAlgorithm, Policy, SigningKey};

struct Running {
    stack: LocalStack,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let options = StackOptions::with_port(dir.path().to_owned(), moto_program(), 0);
    let stack = LocalStack::start(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Running {
        stack,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Running {
    fn token(&self, user: &str) -> String {
        self.stack
            .idp
            .mint(user, chrono::Utc::now().timestamp(), 600)
            .unwrap()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.stack.api_url);
        let mut request = self.http.request(method.parse().unwrap(), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        )
    }

    /// Upload `bytes` as `user` through the API and the presigned PUT, and wait until the
    /// ObjectCreated event has made it ready.
    async fn upload(&self, user: &str, filename: &str, content_type: &str, bytes: &[u8]) -> String {
        let token = self.token(user);
        let sha = STANDARD.encode(Sha256::digest(bytes));
        let body = json!({"filename": filename, "content_type": content_type, "size": bytes.len(), "sha256": sha});
        let (status, issued) = self
            .call("POST", "/uploads", Some(&token), Some(body))
            .await;
        assert_eq!(status, 201, "{issued}");
        let mut put = self
            .http
            .put(issued["upload"]["url"].as_str().unwrap())
            .body(bytes.to_vec());
        for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
            put = put.header(name.as_str(), value.as_str().unwrap());
        }
        assert_eq!(put.send().await.unwrap().status(), 200);
        let file_id = issued["file_id"].as_str().unwrap().to_owned();
        for _ in 0..100 {
            let (_, file) = self
                .call("GET", &format!("/files/{file_id}"), Some(&token), None)
                .await;
            if file["status"] == "ready" {
                return file_id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{file_id} never became ready");
    }

    fn cloudfront_key(&self) -> SigningKey {
        let pem =
            std::fs::read_to_string(self.stack.data_dir().join("keys/cloudfront-signing.pem"))
                .unwrap();
        SigningKey::from_pem(KEY_PAIR_ID, &pem).unwrap()
    }

    async fn cdn(&self, url: &str) -> (u16, Vec<u8>) {
        let response = self.http.get(url).send().await.unwrap();
        (
            response.status().as_u16(),
            response.bytes().await.unwrap().to_vec(),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_authorizer_stand_in_accepts_only_valid_tokens() {
    let run = start().await;
    let (status, body) = run
        .call("GET", "/files", Some(&run.token("alice")), None)
        .await;
    assert_eq!(
        (status, &body),
        (200, &json!({"files": [], "next_cursor": null}))
    );

    let unauthorized = json!({"message": "Unauthorized"});
    assert_eq!(
        run.call("GET", "/files", None, None).await,
        (401, unauthorized.clone())
    );

    let now = chrono::Utc::now().timestamp();
    let expired = run.stack.idp.mint("alice", now - 7200, 60).unwrap();
    assert_eq!(
        run.call("GET", "/files", Some(&expired), None).await,
        (401, unauthorized.clone())
    );

    let key = std::fs::read_to_string(run.stack.data_dir().join("keys/jwt-signing.pem")).unwrap();
    let other_issuer = LocalIdp::new(&key, "https://evil.example", JWT_AUDIENCE).unwrap();
    let token = other_issuer.mint("alice", now, 600).unwrap();
    assert_eq!(
        run.call("GET", "/files", Some(&token), None).await,
        (401, unauthorized.clone())
    );
    let other_audience = LocalIdp::new(&key, JWT_ISSUER, "another-app").unwrap();
    let token = other_audience.mint("alice", now, 600).unwrap();
    assert_eq!(
        run.call("GET", "/files", Some(&token), None).await,
        (401, unauthorized.clone())
    );

    // A token from another key, and a valid token whose claims were changed (sub: bob).
    let other_key = private_uploads::keys::generate(private_uploads::keys::KeyKind::Rsa).unwrap();
    let forged = LocalIdp::new(&other_key.private_pem, JWT_ISSUER, JWT_AUDIENCE)
        .unwrap()
        .mint("alice", now, 600)
        .unwrap();
    assert_eq!(
        run.call("GET", "/files", Some(&forged), None).await,
        (401, unauthorized.clone())
    );
    let valid = run.token("alice");
    let parts: Vec<&str> = valid.split('.').collect();
    let claims = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let edited = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(claims.replace("\"alice\"", "\"bob\""));
    let tampered = format!("{}.{edited}.{}", parts[0], parts[2]);
    assert_eq!(
        run.call("GET", "/files", Some(&tampered), None).await,
        (401, unauthorized)
    );

    // Unknown routes never reach a function.
    assert_eq!(
        run.call("GET", "/nope", Some(&valid), None).await,
        (404, json!({"message": "Not Found"}))
    );
    run.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cdn_stand_in_serves_only_valid_signed_urls() {
    let run = start().await;
    let bytes = b"the bytes alice uploaded".to_vec();
    let file_id = run.upload("alice", "a.txt", "text/plain", &bytes).await;
    let other_id = run
        .upload("bob", "b.txt", "text/plain", b"bob's bytes")
        .await;
    let (status, view) = run
        .call(
            "GET",
            &format!("/files/{file_id}/url"),
            Some(&run.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let url = view["url"].as_str().unwrap().to_owned();
    assert_eq!(run.cdn(&url).await, (200, bytes.clone()));

    let object_url = format!("{}/users/alice/{file_id}", run.stack.cdn_url);
    let key = run.cloudfront_key();
    let now = chrono::Utc::now().timestamp();

    // SHA-1 and custom (wildcard) policies are what CloudFront accepts too.
    let sha1 = key
        .sign_canned_url(&object_url, now + 60, HashAlgorithm::Sha1)
        .unwrap();
    assert_eq!(run.cdn(&sha1).await.0, 200);
    let policy = Policy {
        resource: format!("{}/users/alice/*", run.stack.cdn_url),
        expires: now + 60,
        not_before: None,
        source_ip: Some("127.0.0.1/32".into()),
    };
    let custom = key
        .sign_url(&object_url, &policy, HashAlgorithm::Sha256)
        .unwrap();
    assert_eq!(run.cdn(&custom).await, (200, bytes));

    let signature = url
        .split("Signature=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let flipped = format!(
        "{}{}",
        if signature.starts_with('A') { "B" } else { "A" },
        &signature[1..]
    );
    let denied = |(status, body): (u16, Vec<u8>)| {
        status == 403 && String::from_utf8_lossy(&body).contains("<Code>AccessDenied</Code>")
    };
    assert!(
        denied(run.cdn(&url.replace(signature, &flipped)).await),
        "tampered signature"
    );
    let expired = key
        .sign_canned_url(&object_url, now - 1, HashAlgorithm::Sha256)
        .unwrap();
    assert!(denied(run.cdn(&expired).await), "expired");
    let stranger = private_uploads::keys::generate(private_uploads::keys::KeyKind::Rsa).unwrap();
    let wrong_key = SigningKey::from_pem(KEY_PAIR_ID, &stranger.private_pem)
        .unwrap()
        .sign_canned_url(&object_url, now + 60, HashAlgorithm::Sha256)
        .unwrap();
    assert!(
        denied(run.cdn(&wrong_key).await),
        "another key under our key pair id"
    );
    let elsewhere = url.replace(
        &format!("users/alice/{file_id}"),
        &format!("users/bob/{other_id}"),
    );
    assert!(
        denied(run.cdn(&elsewhere).await),
        "a URL for one object used for another"
    );
    let unsigned = object_url.clone();
    assert!(denied(run.cdn(&unsigned).await), "no signature");
    let custom_elsewhere = custom.replace(
        &format!("users/alice/{file_id}"),
        &format!("users/bob/{other_id}"),
    );
    assert!(
        denied(run.cdn(&custom_elsewhere).await),
        "outside the custom policy's resource"
    );
    run.stack.stop().await;
}

/// Every (method, path, status) the OpenAPI document lists, except `default`.
fn documented(spec: &Value) -> BTreeSet<(String, String, u16)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            for status in operation["responses"].as_object().unwrap().keys() {
                if let Ok(status) = status.parse() {
                    out.insert((method.to_uppercase(), path.clone(), status));
                }
            }
        }
    }
    out
}

/// The schema a documented response promises, `$ref`s resolved.
fn response_schema<'a>(
    spec: &'a Value,
    path: &str,
    method: &str,
    status: u16,
) -> Option<&'a Value> {
    let resolve = |mut value: &'a Value| {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            value = reference
                .trim_start_matches("#/")
                .split('/')
                .fold(spec, |v, part| &v[part]);
        }
        value
    };
    let response =
        resolve(&spec["paths"][path][method.to_lowercase()]["responses"][status.to_string()]);
    response
        .get("content")
        .map(|content| resolve(&content["application/json"]["schema"]))
}

/// (method, route, status, concrete path, send the token?, body)
type Case = (&'static str, &'static str, u16, String, bool, Option<Value>);

/// Make the request and hold the answer to the document: the status, and the documented
/// schema's required (and only allowed) fields.
async fn check(
    run: &Running,
    spec: &Value,
    token: &str,
    (method, route, status, path, with_token, body): Case,
) {
    let (got, answer) = run
        .call(method, &path, with_token.then_some(token), body)
        .await;
    assert_eq!(got, status, "{method} {path}: {answer}");
    match response_schema(spec, route, method, status) {
        None => assert_eq!(answer, Value::Null, "{method} {path}: no body documented"),
        Some(schema) => {
            let object = answer
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path}: {answer}"));
            for field in schema["required"].as_array().unwrap() {
                assert!(
                    object.contains_key(field.as_str().unwrap()),
                    "{method} {path}: missing {field} in {answer}"
                );
            }
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                let allowed: Vec<&String> =
                    schema["properties"].as_object().unwrap().keys().collect();
                assert!(
                    object.keys().all(|k| allowed.contains(&k)),
                    "{method} {path}: undocumented fields in {answer}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_and_status_in_the_openapi_document_is_what_the_stack_does() {
    let mut run = start().await;
    let file = std::fs::read_to_string(format!(
        "{}/../docs/openapi.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let spec: Value = serde_norway::from_str(&file).unwrap();
    let served = run
        .http
        .get(format!("{}/openapi.yaml", run.stack.api_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(served, file, "up serves the document in docs/");

    let alice = run.token("alice");
    let ready = run
        .upload("alice", "photo.png", "image/png", b"\x89PNG not really")
        .await;
    let missing = shared::ids::FileId::generate().to_string();
    let upload = json!({"filename": "a.pdf", "content_type": "application/pdf", "size": 10});

    // In the order they run; the 503s run last, after the dependencies go down.
    let mut cases: Vec<Case> = vec![
        (
            "POST",
            "/uploads",
            201,
            "/uploads".into(),
            true,
            Some(upload.clone()),
        ),
        (
            "POST",
            "/uploads",
            400,
            "/uploads".into(),
            true,
            Some(json!({"filename": "a.pdf"})),
        ),
        (
            "POST",
            "/uploads",
            401,
            "/uploads".into(),
            false,
            Some(upload.clone()),
        ),
        (
            "POST",
            "/uploads",
            413,
            "/uploads".into(),
            true,
            Some(json!({"filename": "a", "content_type": "image/png", "size": 1u64 << 40})),
        ),
        (
            "POST",
            "/uploads",
            415,
            "/uploads".into(),
            true,
            Some(json!({"filename": "a", "content_type": "text/html", "size": 1})),
        ),
        ("GET", "/files", 200, "/files?limit=10".into(), true, None),
        ("GET", "/files", 400, "/files?limit=0".into(), true, None),
        ("GET", "/files", 401, "/files".into(), false, None),
        (
            "GET",
            "/files/{file_id}",
            200,
            format!("/files/{ready}"),
            true,
            None,
        ),
        (
            "GET",
            "/files/{file_id}",
            401,
            format!("/files/{ready}"),
            false,
            None,
        ),
        (
            "GET",
            "/files/{file_id}",
            404,
            format!("/files/{missing}"),
            true,
            None,
        ),
        (
            "GET",
            "/files/{file_id}/url",
            200,
            format!("/files/{ready}/url?expires_in=60"),
            true,
            None,
        ),
        (
            "GET",
            "/files/{file_id}/url",
            400,
            format!("/files/{ready}/url?expires_in=0"),
            true,
            None,
        ),
        (
            "GET",
            "/files/{file_id}/url",
            401,
            format!("/files/{ready}/url"),
            false,
            None,
        ),
        (
            "GET",
            "/files/{file_id}/url",
            404,
            format!("/files/{missing}/url"),
            true,
            None,
        ),
        (
            "DELETE",
            "/files/{file_id}",
            401,
            format!("/files/{ready}"),
            false,
            None,
        ),
        (
            "DELETE",
            "/files/{file_id}",
            404,
            format!("/files/{missing}"),
            true,
            None,
        ),
        (
            "DELETE",
            "/files/{file_id}",
            204,
            format!("/files/{ready}"),
            true,
            None,
        ),
    ];
    let outage: Vec<Case> = vec![
        (
            "POST",
            "/uploads",
            503,
            "/uploads".into(),
            true,
            Some(upload),
        ),
        ("GET", "/files", 503, "/files".into(), true, None),
        (
            "GET",
            "/files/{file_id}",
            503,
            format!("/files/{missing}"),
            true,
            None,
        ),
        (
            "GET",
            "/files/{file_id}/url",
            503,
            format!("/files/{missing}/url"),
            true,
            None,
        ),
        (
            "DELETE",
            "/files/{file_id}",
            503,
            format!("/files/{missing}"),
            true,
            None,
        ),
    ];
    let exercised: BTreeSet<(String, String, u16)> = cases
        .iter()
        .chain(&outage)
        .map(|(m, r, s, ..)| ((*m).to_owned(), (*r).to_owned(), *s))
        .collect();
    assert_eq!(
        exercised,
        documented(&spec),
        "the cases here and the document list the same routes and statuses"
    );

    for case in cases.drain(..) {
        check(&run, &spec, &alice, case).await;
    }
    run.stack.stop_moto().await;
    for case in outage {
        check(&run, &spec, &alice, case).await;
    }
    run.stack.stop().await;
}
