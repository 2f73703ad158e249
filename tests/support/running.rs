//! A [`LocalStack`] as `private-uploads up` runs it, driven over HTTP the way a browser or
//! `curl` drives it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use private_uploads::local::stack::{KEY_PAIR_ID, LAMBDA_RETRY_DELAYS, LocalStack, StackOptions};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::cloudfront::SigningKey;

use crate::moto_python;

pub struct Running {
    pub stack: LocalStack,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// What the API answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The JSON body, `Null` when empty, a string when not JSON.
    pub body: Value,
}

/// What to send as the request body.
pub enum Body<'a> {
    None,
    Json(Value),
    Raw(&'a str),
}

impl Running {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Start with some function settings changed, as `up` takes them from its environment.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        Self::start_faulty(overrides, "").await
    }

    /// Start with faults in the functions' AWS calls from the first call on, as `up` does
    /// with `PRIVATE_UPLOADS_FAULTS` (see `cli/src/local/faults.rs`).
    pub async fn start_faulty(overrides: &[(&str, &str)], faults: &str) -> Self {
        Self::start_retrying(overrides, faults, LAMBDA_RETRY_DELAYS).await
    }

    /// Start with the ownership function's retries after `retry_delays` instead of Lambda's
    /// minute and two: the same retries, in a test's time.
    pub async fn start_retrying(
        overrides: &[(&str, &str)],
        faults: &str,
        retry_delays: [Duration; 2],
    ) -> Self {
        // `RUST_LOG=info cargo test …` shows what the stack logs.
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = StackOptions::with_port(dir.path().to_owned(), moto_python(), 0);
        options.overrides = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        options.faults = faults.to_owned();
        options.retry_delays = retry_delays;
        let stack = LocalStack::start(options)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            stack,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// A token the authorizer accepts, for `user`.
    pub fn token(&self, user: &str) -> String {
        self.stack
            .idp
            .mint(user, chrono::Utc::now().timestamp(), 600)
            .expect("a token")
    }

    /// A token the authorizer accepts whose claims have no `sub`.
    pub fn token_without_sub(&self) -> String {
        let idp = &self.stack.idp;
        let now = chrono::Utc::now().timestamp();
        idp.sign(&json!({"iss": idp.issuer, "aud": idp.audience, "iat": now, "exp": now + 600}))
            .expect("a token")
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Body<'_>,
    ) -> Answer {
        let url = format!("{}{path}", self.stack.api_url);
        let mut request = self.http.request(method.parse().expect("a method"), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(text) => request
                .header("content-type", "application/json")
                .body(text.to_owned()),
        };
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Answer {
            status,
            headers,
            body: if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            },
        }
    }

    /// `(status, body)` of a call with a JSON body (or none).
    pub async fn json(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let answer = self
            .call(method, path, token, body.map_or(Body::None, Body::Json))
            .await;
        (answer.status, answer.body)
    }

    /// Upload `bytes` as `user` through the API and the presigned PUT, and wait until the
    /// ObjectCreated event has made it ready.
    pub async fn upload(
        &self,
        user: &str,
        filename: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> String {
        let token = self.token(user);
        let sha = STANDARD.encode(Sha256::digest(bytes));
        let body = json!({"filename": filename, "content_type": content_type, "size": bytes.len(), "sha256": sha});
        let (status, issued) = self
            .json("POST", "/uploads", Some(&token), Some(body))
            .await;
        assert_eq!(status, 201, "{issued}");
        assert_eq!(self.put_issued(&issued, bytes).await, 200);
        let file_id = issued["file_id"].as_str().expect("a file id").to_owned();
        let mut file = serde_json::Value::Null;
        for _ in 0..100 {
            file = self
                .json("GET", &format!("/files/{file_id}"), Some(&token), None)
                .await
                .1;
            if file["status"] == "ready" {
                return file_id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{file_id} never became ready: {file}");
    }

    /// PUT `bytes` to the presigned URL of a `POST /uploads` answer, with the headers it
    /// names, as a browser does: S3's status.
    pub async fn put_issued(&self, issued: &Value, bytes: &[u8]) -> u16 {
        let mut put = self
            .http
            .put(issued["upload"]["url"].as_str().expect("a URL"))
            .body(bytes.to_vec());
        for (name, value) in issued["upload"]["headers"].as_object().expect("headers") {
            put = put.header(name.as_str(), value.as_str().expect("a value"));
        }
        put.send().await.expect("S3 answers").status().as_u16()
    }

    /// The file ids `GET /files` lists for `user`, newest first (one page).
    pub async fn listed(&self, user: &str) -> Vec<String> {
        let (status, list) = self
            .json("GET", "/files", Some(&self.token(user)), None)
            .await;
        assert_eq!(status, 200, "{list}");
        list["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter_map(|f| f["file_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// `GET /local/faults`: the fault plan, and which rules still apply.
    pub async fn fault_plan(&self) -> Value {
        self.http
            .get(format!("{}/local/faults", self.stack.api_url))
            .send()
            .await
            .expect("the API answers")
            .json()
            .await
            .expect("JSON")
    }

    /// `GET /files/{file_id}` as `user`, polled until the file exists (an upload by
    /// temporary credentials has a record only once it arrived) and is no longer `pending`
    /// (at most 30 s): the record as the owner sees it.
    pub async fn settled(&self, user: &str, file_id: &str) -> Value {
        let token = self.token(user);
        let mut file = Value::Null;
        for _ in 0..600 {
            file = self
                .json("GET", &format!("/files/{file_id}"), Some(&token), None)
                .await
                .1;
            if file["status"] != "pending" && file["error"] != "file_not_found" {
                return file;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        file
    }

    /// [`Running::settled`], asserting the file was rejected for `reason` (how its `reason`
    /// starts): the record as the owner sees it.
    pub async fn settled_rejected(&self, user: &str, file_id: &str, reason: &str) -> Value {
        let file = self.settled(user, file_id).await;
        assert_eq!(file["status"], "rejected", "{file_id}: {file}");
        let said = file["reason"].as_str().unwrap_or_default();
        assert!(said.starts_with(reason), "{file_id}: not {reason}: {file}");
        file
    }

    /// Whether the bucket holds `key`, asked with the stack's own credentials (see
    /// [`crate::object_exists`]: only a 404 is "no").
    pub async fn object_exists(&self, key: &str) -> bool {
        crate::object_exists(&self.stack.backend.s3_client, key).await
    }

    /// Poll until the bucket no longer holds `key` (at most 15 s); whether it went.
    pub async fn object_removed(&self, key: &str) -> bool {
        for _ in 0..300 {
            if !self.object_exists(key).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn cloudfront_key(&self) -> SigningKey {
        let pem =
            std::fs::read_to_string(self.stack.data_dir().join("keys/cloudfront-signing.pem"))
                .expect("the dev key");
        SigningKey::from_pem(KEY_PAIR_ID, &pem).expect("a key")
    }

    pub async fn cdn(&self, url: &str) -> (u16, Vec<u8>) {
        let response = self.http.get(url).send().await.expect("the CDN answers");
        (
            response.status().as_u16(),
            response.bytes().await.expect("a body").to_vec(),
        )
    }

    /// A GET of `target` sent to the CDN byte for byte as written, with `headers`: no URL
    /// parser sits between (reqwest's would resolve `..` and `%2e%2e` before sending). The
    /// status and the body.
    pub async fn cdn_raw(&self, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let host = self.stack.cdn_url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .expect("the CDN answers");
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("an answer");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Replace the fault plan the way a user of `up` does: `PUT /local/faults`.
    pub async fn faults(&self, plan: &str) {
        let response = self
            .http
            .put(format!("{}/local/faults", self.stack.api_url))
            .body(plan.to_owned())
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "PUT /local/faults {plan:?}: {text}");
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}
