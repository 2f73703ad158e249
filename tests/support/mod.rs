//! The emulated AWS the integration tests run against, all on 127.0.0.1 and all stopped at
//! the end of each test: the local stack's [`Backend`] (the verifying S3 in this process,
//! moto as a child process, the resources, the functions' dependencies), with events
//! delivered by the test itself so it can repeat and reorder them.
//!
//! The functions are called through their real handlers with their real AWS adapters; only
//! the endpoints differ from production.

use std::path::{Path, PathBuf};

use lambda_http::{Body, Request};
use private_uploads::local::moto::{MotoSearch, find_moto_python};
use private_uploads::local::stack::{Backend, BackendOptions};
use serde_json::Value;

pub use private_uploads::local::stack::{BUCKET, KEY_PAIR_ID, SESSION_TOKEN};

pub mod browser;
pub mod capture;
pub mod running;
pub mod schema;

/// These tests call the functions directly; view URLs name a distribution nobody serves.
pub const CDN: &str = "https://d111111abcdef8.cloudfront.net";

/// How every PNG starts: record-ownership refuses an `image/png` that does not.
pub const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// `len` bytes that pass for a PNG (its signature, then `fill`).
pub fn png(len: usize, fill: u8) -> Vec<u8> {
    let mut bytes = PNG_SIGNATURE.to_vec();
    bytes.resize(len.max(PNG_SIGNATURE.len()), fill);
    bytes
}

/// Whether the stack's bucket holds `key`, asked with a HEAD: 200 is yes and 404 is no. Any
/// other answer (a 403, a 500, a refused connection) says nothing about the object and fails
/// the test.
pub async fn object_exists(s3: &aws_sdk_s3::Client, key: &str) -> bool {
    match s3.head_object().bucket(BUCKET).key(key).send().await {
        Ok(_) => true,
        Err(err) if err.raw_response().map(|r| r.status().as_u16()) == Some(404) => false,
        Err(err) => panic!(
            "HEAD {key} answered neither 200 nor 404: {}",
            shared::aws::error_summary(&err)
        ),
    }
}

pub struct Stack {
    pub backend: Backend,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Stack {
    type Target = Backend;
    fn deref(&self) -> &Backend {
        &self.backend
    }
}

/// A Python with moto (`MOTO_SERVER`'s, the workspace's `.venv`, or one on PATH); a test
/// without it fails and says how to get it.
/// Asked once per test binary (a probe imports moto, about a second).
pub fn moto_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace");
            find_moto_python(&MotoSearch::from_env(workspace)).unwrap_or_else(|e| panic!("{e}"))
        })
        .clone()
}

/// A tool from the test virtualenv: `$ENV_VAR` if set (./scripts/test sets it), else
/// `.venv/bin/<name>`; a test without it fails and says how to get it.
pub fn venv_tool(env_var: &str, name: &str) -> String {
    if let Ok(path) = std::env::var(env_var) {
        return path;
    }
    let venv = format!("{}/../.venv/bin/{name}", env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new(&venv).is_file(),
        "{venv} is missing: run ./scripts/test once (it creates .venv with tests/requirements.txt), or set {env_var}"
    );
    venv
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Start everything with some function settings changed.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = Backend::start(BackendOptions {
            data_dir: dir.path().to_owned(),
            moto_python: moto_python(),
            moto_port: 0,
            s3_port: 0,
            cdn_base: CDN.into(),
            page_origins: vec![],
            overrides: overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            faults: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        Self { backend, _dir: dir }
    }

    /// Call the upload function as API Gateway would, for user `sub`.
    pub async fn upload_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        sub: &str,
    ) -> (u16, Value) {
        let request = api_request(method, path, "", body, Some(sub));
        respond(
            issue_upload_url::handle(&self.upload, request)
                .await
                .expect("infallible"),
        )
        .await
    }

    /// Call the view function as API Gateway would, for user `sub`.
    pub async fn view_api(&self, method: &str, path: &str, query: &str, sub: &str) -> (u16, Value) {
        let request = api_request(method, path, query, None, Some(sub));
        respond(
            issue_view_url::handle(&self.view, request)
                .await
                .expect("infallible"),
        )
        .await
    }

    /// Deliver the next ObjectCreated notification to the ownership function.
    pub async fn deliver_next_event(&mut self) -> (Value, record_ownership::Report) {
        let created = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.backend.events.recv(),
        )
        .await
        .expect("an ObjectCreated event within 5 s")
        .expect("event channel open");
        let event = created.to_event(private_uploads::local::stack::REGION);
        let report = self
            .deliver(&event)
            .await
            .expect("ownership function succeeded");
        (event, report)
    }

    /// One delivery attempt, as one asynchronous Lambda invocation.
    pub async fn deliver(
        &self,
        event: &Value,
    ) -> Result<record_ownership::Report, lambda_runtime::Error> {
        let payload = serde_json::from_value(event.clone()).expect("an S3Event");
        record_ownership::handle(
            &self.ownership,
            lambda_runtime::LambdaEvent::new(payload, Default::default()),
        )
        .await
    }

    /// The next notification, if one is waiting.
    pub fn pending_event(&mut self) -> Option<private_uploads::local::s3::ObjectCreated> {
        self.backend.events.try_recv().ok()
    }

    /// Whether the bucket holds `key` (see [`object_exists`]).
    pub async fn object_exists(&self, key: &str) -> bool {
        object_exists(&self.s3_client, key).await
    }

    pub async fn stop(self) {
        self.backend.stop().await;
    }
}

/// An API Gateway HTTP API (payload 2.0) request built from `events/api-post-uploads.json`,
/// with the JWT authorizer's claims for `sub` (or none).
pub fn api_request(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    sub: Option<&str>,
) -> Request {
    let template = format!(
        "{}/../events/api-post-uploads.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(template).expect("event file"))
            .expect("json");
    event["rawPath"] = Value::String(path.into());
    event["rawQueryString"] = Value::String(query.into());
    event["requestContext"]["http"]["method"] = Value::String(method.into());
    event["requestContext"]["http"]["path"] = Value::String(path.into());
    event["routeKey"] = Value::String("$default".into());
    event["requestContext"]["routeKey"] = Value::String("$default".into());
    match body {
        Some(body) => event["body"] = Value::String(body.to_string()),
        None => {
            event.as_object_mut().expect("object").remove("body");
        }
    }
    match sub {
        Some(sub) => {
            let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
            claims["sub"] = Value::String(sub.into());
            // A token of the issuer the stack's authorizer trusts.
            claims["iss"] = Value::String(private_uploads::local::stack::JWT_ISSUER.into());
        }
        None => event["requestContext"]["authorizer"] = Value::Null,
    }
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

async fn respond(response: lambda_http::Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => Value::Null,
    };
    (status, body)
}
