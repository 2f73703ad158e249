//! The functions' bootstraps, run as Lambda runs them: a local implementation of the
//! Lambda Runtime API (the `AWS_LAMBDA_RUNTIME_API` endpoint a `bootstrap` polls) hands each
//! binary the very files in `events/` and collects what it answers. The binaries talk to the
//! emulators (moto, the verifying S3) through the standard `AWS_ENDPOINT_URL*` variables.
//!
//! Needs the binaries: `FUNCTION_BINARIES` names the directory holding them (./scripts/test
//! gives the debug builds it makes; `target/debug` is the default). The release builds for
//! arm64 are `scripts/sam-build`'s, which cannot run here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use cloudfront_viewer::{TrustedKey, ViewerRequest, verify_signed_url};
use http::{HeaderValue, Method, StatusCode};
use integration_tests::Stack;
use private_uploads::local::server::{HttpResponse, read_body, respond};
use private_uploads::local::stack::{
    ACCESS_KEY, KEY_PAIR_ID, SECRET, SECRET_KEY, SESSION_TOKEN, TABLE,
};
use serde_json::Value;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::{FileRecord, FileStatus, UploadMode};
use shared::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Limits no test reaches.
const UNLIMITED: shared::domain::lifecycle::QuotaLimits = shared::domain::lifecycle::QuotaLimits {
    max_bytes: u64::MAX / 4,
    max_files: u64::MAX / 4,
};

const SUB: &str = "3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a";
const FILE: &str = "019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
/// The bucket named in events/s3-object-created.json.
const EVENT_BUCKET: &str = "private-uploads-example";
const CDN: &str = "https://d111111abcdef8.cloudfront.net";
/// The trace header of an invocation X-Ray does not sample.
const NOT_SAMPLED: &str = "Root=1-00000000-000000000000000000000000;Sampled=0";

/// What the function posted back for one invocation.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    /// Shown in failure messages.
    Error(#[allow(dead_code)] Value),
}

#[derive(Default)]
struct Pending {
    waiting: HashMap<String, oneshot::Sender<Outcome>>,
}

/// The Lambda Runtime API, version 2018-06-01: `next`, `response`, `error`, `init/error`.
struct RuntimeApi {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    /// The X-Ray trace header each invocation gets (`Lambda-Runtime-Trace-Id`).
    trace_header: std::sync::Mutex<String>,
    pending: Mutex<Pending>,
    init_errors: Mutex<Vec<Value>>,
}

impl RuntimeApi {
    async fn handle(&self, request: http::Request<hyper::body::Incoming>) -> HttpResponse {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let body = read_body(request.into_body(), 6 * 1024 * 1024)
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => {
                let Some((id, event)) = self.events.lock().await.recv().await else {
                    return respond(StatusCode::GONE, "text/plain", "no more events");
                };
                let mut response = respond(StatusCode::OK, "application/json", event.to_string());
                let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                let headers = response.headers_mut();
                headers.insert(
                    "lambda-runtime-aws-request-id",
                    HeaderValue::from_str(&id).unwrap(),
                );
                headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    HeaderValue::from_static(
                        "arn:aws:lambda:us-east-1:000000000000:function:under-test",
                    ),
                );
                let trace = self.trace_header.lock().unwrap().clone();
                headers.insert(
                    "lambda-runtime-trace-id",
                    HeaderValue::from_str(&trace).unwrap(),
                );
                response
            }
            (
                Method::POST,
                [
                    "2018-06-01",
                    "runtime",
                    "invocation",
                    id,
                    kind @ ("response" | "error"),
                ],
            ) => {
                if let Some(waiter) = self.pending.lock().await.waiting.remove(*id) {
                    let _ = waiter.send(if *kind == "response" {
                        Outcome::Response(body)
                    } else {
                        Outcome::Error(body)
                    });
                }
                respond(
                    StatusCode::ACCEPTED,
                    "application/json",
                    r#"{"status":"OK"}"#,
                )
            }
            (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
                self.init_errors.lock().await.push(body);
                respond(
                    StatusCode::ACCEPTED,
                    "application/json",
                    r#"{"status":"OK"}"#,
                )
            }
            _ => respond(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not a Runtime API path",
            ),
        }
    }
}

/// One function binary under the local Runtime API.
struct Function {
    api: Arc<RuntimeApi>,
    queue: mpsc::Sender<(String, Value)>,
    child: Mutex<tokio::process::Child>,
    /// What the binary writes to stderr, shown when it stops before answering.
    stderr: tempfile::NamedTempFile,
    /// What it writes to stdout: its log, as CloudWatch Logs would receive it.
    stdout: tempfile::NamedTempFile,
    /// The Lambda request id of each invocation, in order.
    invoked: std::sync::Mutex<Vec<String>>,
    stop: tokio::sync::watch::Sender<bool>,
}

fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("FUNCTION_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"))
                });
            target.join("debug")
        });
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the functions with `cargo build --workspace --all-targets` (./scripts/test does), or set FUNCTION_BINARIES to where they are",
        path.display()
    );
    path
}

impl Function {
    async fn start(name: &str, stack: &Stack, config: &[(&str, String)]) -> Self {
        let (queue, events) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi {
            events: Mutex::new(events),
            trace_header: std::sync::Mutex::new(NOT_SAMPLED.into()),
            pending: Mutex::default(),
            init_errors: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = api.clone();
        tokio::spawn(private_uploads::local::server::serve(
            listener,
            stopped,
            move |request, _| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(request).await) }
            },
        ));
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let stdout = tempfile::NamedTempFile::new().unwrap();
        let mut command = tokio::process::Command::new(binary(name));
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .env("AWS_REGION", private_uploads::local::stack::REGION)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("AWS_ENDPOINT_URL", &stack.moto.endpoint)
            .env("AWS_ENDPOINT_URL_S3", &stack.s3.endpoint)
            // The local STS answers on the local S3's port.
            .env("AWS_ENDPOINT_URL_STS", &stack.s3.endpoint)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(stdout.reopen().unwrap())
            .stderr(stderr.reopen().unwrap())
            .kill_on_drop(true);
        for (key, value) in config {
            command.env(key, value);
        }
        let child = Mutex::new(command.spawn().unwrap());
        Self {
            api,
            queue,
            child,
            stderr,
            stdout,
            invoked: std::sync::Mutex::default(),
            stop,
        }
    }

    /// Invoke once with `event` and wait for the function's answer.
    async fn invoke(&self, event: Value) -> Outcome {
        let id = uuid::Uuid::now_v7().to_string();
        self.invoked.lock().unwrap().push(id.clone());
        let (sender, receiver) = oneshot::channel();
        self.api
            .pending
            .lock()
            .await
            .waiting
            .insert(id.clone(), sender);
        self.queue.send((id, event)).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        tokio::pin!(receiver);
        loop {
            tokio::select! {
                outcome = &mut receiver => return outcome.unwrap(),
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if let Ok(Some(status)) = self.child.lock().await.try_wait() {
                        let stderr = std::fs::read_to_string(self.stderr.path()).unwrap_or_default();
                        panic!("the function exited ({status}) before answering:\n{stderr}");
                    }
                    assert!(tokio::time::Instant::now() < deadline, "the function did not answer within 30 s");
                }
            }
        }
    }

    /// The log lines written so far, each a JSON object (`AWS_LAMBDA_LOG_FORMAT=JSON`).
    fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.stdout.path())
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    async fn stop(self) {
        let _ = self.child.lock().await.kill().await;
        let _ = self.stop.send(true);
    }
}

fn event(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The HTTP response a function returned for an API Gateway event (payload 2.0).
fn http_response(outcome: Outcome) -> (u16, Value) {
    let Outcome::Response(response) = outcome else {
        panic!("the function failed: {outcome:?}")
    };
    let status = response["statusCode"].as_u64().unwrap() as u16;
    let body = match response["body"].as_str() {
        Some(text) if !text.is_empty() => serde_json::from_str(text).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

fn common() -> Vec<(&'static str, String)> {
    vec![
        ("BUCKET_NAME", EVENT_BUCKET.into()),
        ("TABLE_NAME", TABLE.into()),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE".into(),
        ),
    ]
}

/// The emulators, with the bucket the events name.
async fn stack_with_event_bucket() -> Stack {
    let stack = Stack::start().await;
    stack
        .s3_client
        .create_bucket()
        .bucket(EVENT_BUCKET)
        .send()
        .await
        .unwrap();
    stack
}

#[tokio::test(flavor = "multi_thread")]
async fn each_bootstrap_answers_its_events_under_the_runtime_api() {
    let stack = stack_with_event_bucket().await;
    let owner = OwnerId::from_sub(SUB).unwrap();
    let file_id = FileId::parse(FILE).unwrap();
    let key = format!("users/{SUB}/{FILE}");

    // events/api-post-uploads.json → 201 and a pending record.
    let mut config = common();
    config.extend([
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf".into()),
        (
            "CREDENTIALS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/uploader".into(),
        ),
    ]);
    let upload = Function::start("issue-upload-url", &stack, &config).await;
    let (status, issued) = http_response(upload.invoke(event("api-post-uploads.json")).await);
    assert_eq!(status, 201, "{issued}");
    assert!(
        issued["key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("users/{SUB}/"))
    );
    assert!(
        issued["upload"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{}/{EVENT_BUCKET}/users/{SUB}/",
                stack.s3.endpoint
            ))
    );
    let issued_id = FileId::parse(issued["file_id"].as_str().unwrap()).unwrap();
    // Its log line, flat JSON, names Lambda's request id and API Gateway's (the event's).
    let lambda_id = upload.invoked.lock().unwrap()[0].clone();
    let lines = upload.log_lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "upload issued")
        .unwrap_or_else(|| panic!("no \"upload issued\" line in {lines:?}"));
    assert_eq!(line["requestId"], lambda_id.as_str(), "{line}");
    assert_eq!(
        line["request_id"],
        event("api-post-uploads.json")["requestContext"]["requestId"],
        "{line}"
    );
    assert_eq!(line["file_id"], issued["file_id"], "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(
        stack
            .upload
            .records
            .get(&owner, issued_id)
            .await
            .unwrap()
            .unwrap()
            .status(),
        FileStatus::Pending
    );
    // The other ways to upload, from their events: a form, a multipart upload created in
    // S3, temporary credentials from STS (the local STS, reached like any endpoint).
    let (status, form) = http_response(upload.invoke(event("api-post-uploads-form.json")).await);
    assert_eq!(status, 201, "{form}");
    assert_eq!(form["upload"]["method"], "POST");
    assert_eq!(
        form["upload"]["fields"]["x-amz-meta-filename"],
        "holiday%20photo.png"
    );
    let (status, multipart) = http_response(
        upload
            .invoke(event("api-post-uploads-multipart.json"))
            .await,
    );
    assert_eq!(status, 201, "{multipart}");
    assert_eq!(multipart["part_count"], 3);
    let listed = stack
        .s3_client
        .list_parts()
        .bucket(EVENT_BUCKET)
        .key(multipart["key"].as_str().unwrap())
        .upload_id(multipart["upload_id"].as_str().unwrap())
        .send()
        .await;
    assert!(listed.is_ok(), "S3 holds the upload: {listed:?}");
    // events/api-get-uploads.json: the same owner's unfinished uploads list it.
    let (status, unfinished) = http_response(upload.invoke(event("api-get-uploads.json")).await);
    assert_eq!(status, 200, "{unfinished}");
    assert_eq!(unfinished["uploads"][0]["file_id"], multipart["file_id"]);
    let (status, credentials) =
        http_response(upload.invoke(event("api-post-credentials.json")).await);
    assert_eq!(status, 200, "{credentials}");
    assert_eq!(credentials["prefix"], format!("users/{SUB}/"));
    assert!(
        credentials["session_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    upload.stop().await;

    // events/s3-object-created.json: the object the event names (a PNG signature and zeros,
    // 1024 bytes, whose MD5 is the event's eTag) and its pending record → ready.
    stack
        .upload
        .records
        .create(
            &FileRecord::pending(
                ObjectKey::new(owner.clone(), file_id),
                &UploadRequest {
                    filename: Filename::parse("holiday photo.png").unwrap(),
                    content_type: ContentType::parse("image/png").unwrap(),
                    size: ByteSize::new(1024),
                    sha256: None,
                },
                UploadMode::Put,
                chrono::Utc::now(),
                chrono::Utc::now().timestamp() + 3600,
            ),
            &UNLIMITED,
        )
        .await
        .unwrap();
    stack
        .s3_client
        .put_object()
        .bucket(EVENT_BUCKET)
        .key(&key)
        .content_type("image/png")
        .body(
            [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 1016][..]]
                .concat()
                .into(),
        )
        .send()
        .await
        .unwrap();
    let mut config = common();
    config.push(("ALLOWED_CONTENT_TYPES", "image/*".into()));
    let ownership = Function::start("record-ownership", &stack, &config).await;
    let Outcome::Response(report) = ownership.invoke(event("s3-object-created.json")).await else {
        panic!("record-ownership failed")
    };
    assert_eq!(report["records"][0]["outcome"], "ready", "{report}");
    // S3 may deliver it again: the answer is a no-op, not an error.
    let Outcome::Response(again) = ownership.invoke(event("s3-object-created.json")).await else {
        panic!("repeat failed")
    };
    assert!(
        again["records"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("skipped"),
        "{again}"
    );
    ownership.stop().await;

    // The view function: list, get, view URL (verified with the public key), delete.
    let mut config = common();
    config.extend([
        ("CDN_BASE_URL", CDN.into()),
        ("SIGNING_KEY_SECRET_ID", SECRET.into()),
        (
            "TRUSTED_KEY_1",
            format!("{KEY_PAIR_ID} {}", stack.cloudfront_key.public_pem),
        ),
    ]);
    let view = Function::start("issue-view-url", &stack, &config).await;
    let (status, list) = http_response(view.invoke(event("api-get-files.json")).await);
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&FILE), "{list}");
    let (status, file) = http_response(view.invoke(event("api-get-file.json")).await);
    assert_eq!(
        (status, file["status"].as_str()),
        (200, Some("ready")),
        "{file}"
    );
    let (status, url) = http_response(view.invoke(event("api-get-view-url.json")).await);
    assert_eq!(status, 200, "{url}");
    let url = url["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{CDN}/{key}?Expires=")), "{url}");
    let keys = [TrustedKey::from_pem(KEY_PAIR_ID, &stack.cloudfront_key.public_pem).unwrap()];
    verify_signed_url(
        &keys,
        &ViewerRequest {
            url,
            source_ip: None,
            now: chrono::Utc::now().timestamp(),
        },
    )
    .unwrap();
    let (status, _) = http_response(view.invoke(event("api-delete-file.json")).await);
    assert_eq!(status, 204);
    assert!(
        stack
            .s3_client
            .head_object()
            .bucket(EVENT_BUCKET)
            .key(&key)
            .send()
            .await
            .is_err(),
        "the object is gone"
    );
    let (status, _) = http_response(view.invoke(event("api-get-file.json")).await);
    assert_eq!(status, 404);
    view.stop().await;
    stack.stop().await;
}

#[test]
fn a_binary_with_missing_configuration_stops_at_start_naming_it() {
    for (name, missing, config) in [
        ("issue-upload-url", "ALLOWED_CONTENT_TYPES", common()),
        ("issue-view-url", "CDN_BASE_URL", common()),
        (
            "record-ownership",
            "BUCKET_NAME",
            vec![("TABLE_NAME", TABLE.to_owned())],
        ),
    ] {
        let output = std::process::Command::new(binary(name))
            .env_clear()
            .envs(config.iter().map(|(k, v)| (*k, v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{name} must not start without {missing}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("Error: environment variable {missing} is not set")),
            "{name}: {stderr}"
        );
    }
}

/// The X-Ray subsegments received on `socket` until none came for `quiet`: each datagram is
/// the daemon protocol's header line, then one JSON document.
async fn subsegments(socket: &tokio::net::UdpSocket, quiet: Duration) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut buffer = vec![0u8; 65_536];
    while let Ok(Ok(n)) = tokio::time::timeout(quiet, socket.recv(&mut buffer)).await {
        let text = std::str::from_utf8(&buffer[..n]).unwrap();
        let (header, doc) = text.split_once('\n').unwrap_or_else(|| panic!("{text}"));
        assert_eq!(header, r#"{"format":"json","version":1}"#);
        docs.push(serde_json::from_str(doc).unwrap());
    }
    docs
}

#[tokio::test(flavor = "multi_thread")]
async fn each_aws_call_of_a_sampled_invocation_is_an_xray_subsegment() {
    const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
    const PARENT: &str = "53995c3f42cd8ad8";
    let stack = stack_with_event_bucket().await;
    // The X-Ray daemon's stand-in: a UDP socket on loopback.
    let daemon = tokio::net::UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
    let mut config = common();
    config.extend([
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf".into()),
        (
            "CREDENTIALS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/uploader".into(),
        ),
        (
            "AWS_XRAY_DAEMON_ADDRESS",
            daemon.local_addr().unwrap().to_string(),
        ),
    ]);
    let upload = Function::start("issue-upload-url", &stack, &config).await;

    // A sampled invocation: a multipart upload (DynamoDB, S3) and credentials (STS).
    *upload.api.trace_header.lock().unwrap() =
        format!("Root={ROOT};Parent={PARENT};Sampled=1;Lineage=0f2d6e3a:0");
    let (status, body) = http_response(
        upload
            .invoke(event("api-post-uploads-multipart.json"))
            .await,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http_response(upload.invoke(event("api-post-credentials.json")).await);
    assert_eq!(status, 200, "{body}");
    let docs = subsegments(&daemon, Duration::from_secs(1)).await;
    let calls: Vec<(String, String)> = docs
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap_or_default().to_owned(),
                d["aws"]["operation"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    for expected in [
        ("S3", "CreateMultipartUpload"),
        ("STS", "AssumeRole"),
        ("DynamoDB", "TransactWriteItems"),
    ] {
        assert!(
            calls
                .iter()
                .any(|(n, o)| (n.as_str(), o.as_str()) == expected),
            "no {expected:?} among {calls:?}"
        );
    }
    let mut ids = std::collections::HashSet::new();
    for doc in &docs {
        assert_eq!(doc["trace_id"], ROOT, "{doc}");
        assert_eq!(doc["parent_id"], PARENT, "{doc}");
        assert_eq!(doc["type"], "subsegment", "{doc}");
        assert_eq!(doc["namespace"], "aws", "{doc}");
        assert_eq!(doc["http"]["response"]["status"], 200, "{doc}");
        assert!(
            doc.get("fault").is_none() && doc.get("error").is_none(),
            "{doc}"
        );
        let (start, end) = (
            doc["start_time"].as_f64().unwrap(),
            doc["end_time"].as_f64().unwrap(),
        );
        let now = chrono::Utc::now().timestamp() as f64;
        assert!(
            start <= end && end <= now + 1.0 && start > now - 60.0,
            "{doc}"
        );
        assert!(
            ids.insert(doc["id"].as_str().unwrap().to_owned()),
            "ids differ: {doc}"
        );
    }

    // An invocation X-Ray does not sample sends nothing.
    *upload.api.trace_header.lock().unwrap() = NOT_SAMPLED.into();
    let (status, body) = http_response(upload.invoke(event("api-post-uploads.json")).await);
    assert_eq!(status, 201, "{body}");
    let unsampled = subsegments(&daemon, Duration::from_millis(700)).await;
    assert!(unsampled.is_empty(), "{unsampled:?}");
    upload.stop().await;
}
