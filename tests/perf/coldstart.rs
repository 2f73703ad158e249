//! Cold start of each release `bootstrap`, measured from outside as Lambda would see it: a
//! local Lambda Runtime API (2018-06-01) on 127.0.0.1 hands the process an event from
//! `events/`, and the clock runs from just before `exec` to the moment its answer arrives.
//! The view function's Secrets Manager call at start is answered by the same loopback server
//! (no network, no emulator), and each event is one that needs no other AWS call, so what is
//! measured is the binary's own start-up: loading, runtime, SDK configuration, key parsing,
//! the first signature (aws-lc's first random draw) and the first answer.
//!
//! For each function, `--runs` processes are started one after another; each gets two events
//! (the first is the cold start, the second shows the warm cost), then its peak RSS
//! (`VmHWM`) is read and it is killed. Prints one JSON object per function on stdout.
//!
//! `cargo run -p integration-tests --example coldstart -- --binaries target/release --runs 20`
//! (scripts/perf runs it and writes docs/performance.md).

// A measuring tool: a broken setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use private_uploads::local::stack::{OWNERSHIP_FUNCTION, UPLOAD_FUNCTION, VIEW_FUNCTION};
use private_uploads::local::template::{EnvValue, Template};
use serde_json::{Value, json};

const RSA: &str = include_str!("../../shared/testdata/rsa2048-pkcs1.pem");
const RSA_PUBLIC: &str = include_str!("../../shared/testdata/rsa2048-public.pem");
const TIMEOUT: Duration = Duration::from_secs(20);

/// What the server saw, stamped as it happened.
enum Seen {
    /// The process asked for its next event (init is over for the first one).
    Next(Instant),
    /// The process posted its answer.
    Response(Instant, Value),
    /// The process reported an error.
    Error(String),
}

struct Shared {
    events: Mutex<Receiver<Value>>,
    seen: Mutex<Sender<Seen>>,
    secret: String,
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn write_response(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.write_all(body);
}

fn serve(stream: TcpStream, shared: &Shared) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let now = Instant::now();
        let target = request
            .headers
            .iter()
            .find(|(n, _)| n == "x-amz-target")
            .map(|(_, v)| v.clone());
        match (request.method.as_str(), request.path.as_str(), target) {
            ("GET", "/2018-06-01/runtime/invocation/next", _) => {
                let _ = shared.seen.lock().unwrap().send(Seen::Next(now));
                // Blocks until the next event; none left: the process is about to be killed.
                let Ok(event) = shared.events.lock().unwrap().recv() else {
                    return;
                };
                let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
                write_response(
                    &mut writer,
                    200,
                    &[
                        ("content-type", "application/json".into()),
                        (
                            "lambda-runtime-aws-request-id",
                            uuid::Uuid::new_v4().to_string(),
                        ),
                        ("lambda-runtime-deadline-ms", deadline.to_string()),
                        (
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:eu-west-1:123456789012:function:bench".into(),
                        ),
                        (
                            "lambda-runtime-trace-id",
                            "Root=1-00000000-000000000000000000000000".into(),
                        ),
                    ],
                    event.to_string().as_bytes(),
                );
            }
            ("POST", path, _) if path.ends_with("/response") => {
                let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let _ = shared.seen.lock().unwrap().send(Seen::Response(now, body));
                write_response(&mut writer, 202, &[], b"{}");
            }
            ("POST", path, _) if path.ends_with("/error") => {
                let text = String::from_utf8_lossy(&request.body).into_owned();
                let _ = shared
                    .seen
                    .lock()
                    .unwrap()
                    .send(Seen::Error(format!("{path}: {text}")));
                write_response(&mut writer, 202, &[], b"{}");
            }
            ("POST", "/", Some(target)) if target == "secretsmanager.GetSecretValue" => {
                let body = json!({
                    "ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-key-AbCdEf",
                    "Name": "signing-key",
                    "SecretString": shared.secret,
                    "VersionId": "v1",
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 1.7e9,
                });
                write_response(
                    &mut writer,
                    200,
                    &[("content-type", "application/x-amz-json-1.1".into())],
                    body.to_string().as_bytes(),
                );
            }
            (method, path, target) => {
                let _ = shared.seen.lock().unwrap().send(Seen::Error(format!(
                    "unexpected call {method} {path} {target:?}: this run must need no AWS call"
                )));
                write_response(&mut writer, 500, &[], b"{}");
            }
        }
    }
}

fn event(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the template sets for `id`, parameters at their defaults, resources named here.
fn environment(template: &Template, id: &str) -> Vec<(String, String)> {
    template
        .function(id)
        .unwrap()
        .environment
        .iter()
        .map(|(name, value)| {
            let value = match value {
                EnvValue::Literal(v) | EnvValue::Parameter { default: v, .. } => v.clone(),
                EnvValue::Resource(_) => match name.as_str() {
                    "BUCKET_NAME" => "private-uploads-example".into(),
                    "TABLE_NAME" => "files".into(),
                    "JWT_ISSUER" => {
                        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE".into()
                    }
                    "SIGNING_KEY_SECRET_ID" => "signing-key".into(),
                    "CDN_BASE_URL" => "https://d111111abcdef8.cloudfront.net".into(),
                    "CREDENTIALS_ROLE_ARN" => {
                        "arn:aws:iam::123456789012:role/private-uploads-uploader".into()
                    }
                    // The key group holds the key the secret serves (`RSA`), in slot 1.
                    "TRUSTED_KEY_1" => format!("K2JCJMDEHXQW5F {RSA_PUBLIC}"),
                    "TRUSTED_KEY_2" => String::new(),
                    other => panic!("{id}: no bench value for {other}"),
                },
            };
            (name.clone(), value)
        })
        .collect()
}

/// A function's crate, its environment, its event and a piece of the answer it must give.
type Function = (&'static str, Vec<(String, String)>, Value, &'static str);

/// Each function (its crate, the template's id), the environment the template gives it, and
/// an event that needs no AWS call but the start-up one, with the answer it must give.
fn functions() -> Vec<Function> {
    let template = Template::load().unwrap();
    // POST /uploads of a type the default configuration refuses: 415, decided in process.
    let mut upload = event("api-post-uploads.json");
    upload["body"] = json!(
        json!({"filename": "a.exe", "content_type": "application/x-msdownload", "size": 10})
            .to_string()
    );
    // POST /files/cookies: the signing key (loaded at start) and one signature, no table.
    let cookies = event("api-post-file-cookies.json");
    // An S3 event for a key outside users/: acknowledged and ignored, no S3 or table call.
    let mut created = event("s3-object-created.json");
    created["Records"][0]["s3"]["object"]["key"] = json!("elsewhere/file.bin");
    vec![
        (
            "issue-upload-url",
            environment(&template, UPLOAD_FUNCTION),
            upload,
            "statusCode\":415",
        ),
        (
            "issue-view-url",
            environment(&template, VIEW_FUNCTION),
            cookies,
            "statusCode\":204",
        ),
        (
            "record-ownership",
            environment(&template, OWNERSHIP_FUNCTION),
            created,
            "\"ignored\"",
        ),
    ]
}

struct Run {
    cold_ms: f64,
    init_ms: f64,
    warm_ms: f64,
    peak_rss_kib: u64,
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn wait_response(seen: &Receiver<Seen>, expect: &str) -> Result<(Instant, Instant), String> {
    let mut next = None;
    loop {
        match seen.recv_timeout(TIMEOUT) {
            Err(_) => return Err(format!("no answer in {TIMEOUT:?}")),
            Ok(Seen::Next(at)) => next = Some(at),
            Ok(Seen::Response(at, body)) => {
                let text = body.to_string();
                if !text.contains(expect) {
                    return Err(format!("unexpected answer: {text}"));
                }
                return Ok((next.ok_or("answered before asking")?, at));
            }
            Ok(Seen::Error(text)) => return Err(text),
        }
    }
}

fn child_kill(pid: u32) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill").arg("-9").arg(pid.to_string()).status()
}

fn run_once(binary: &Path, env: &[(String, String)], event: &Value, expect: &str) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (event_tx, event_rx) = channel();
    let (seen_tx, seen_rx) = channel();
    let secret = json!({"key_pair_id": "K2JCJMDEHXQW5F", "private_key_pem": RSA}).to_string();
    let shared = Arc::new(Shared {
        events: Mutex::new(event_rx),
        seen: Mutex::new(seen_tx),
        secret,
    });
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
    }
    event_tx.send(event.clone()).unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_SESSION_TOKEN", "bench-token")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://{addr}"))
        .env("RUST_LOG", "error")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap());
    let start = Instant::now();
    let mut child = command.spawn().unwrap();
    let failed = |why: String| -> ! {
        let _ = child_kill(child.id());
        let mut text = String::new();
        let _ = log.reopen().unwrap().read_to_string(&mut text);
        panic!("{}: {why}\n{text}", binary.display())
    };
    let (first_next, first_response) =
        wait_response(&seen_rx, expect).unwrap_or_else(|e| failed(e));
    event_tx.send(event.clone()).unwrap();
    let (second_next, second_response) =
        wait_response(&seen_rx, expect).unwrap_or_else(|e| failed(e));
    // Wait until it polls again, so that the peak includes the whole second request.
    let _ = seen_rx.recv_timeout(TIMEOUT);
    let peak = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    drop(event_tx);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Run {
        cold_ms: ms(first_response - start),
        init_ms: ms(first_next - start),
        warm_ms: ms(second_response - second_next),
        peak_rss_kib: peak,
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank]
}

fn main() {
    let mut binaries = PathBuf::from(format!("{}/../target/release", env!("CARGO_MANIFEST_DIR")));
    let mut runs = 20usize;
    let mut only: Option<String> = None;
    // Added to every process's environment, e.g. to try a setting.
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--binaries" => binaries = PathBuf::from(args.next().expect("--binaries DIR")),
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--only" => only = Some(args.next().expect("--only FUNCTION")),
            "--env" => {
                let pair = args.next().expect("--env NAME=VALUE");
                let (k, v) = pair.split_once('=').expect("--env NAME=VALUE");
                extra.push((k.to_owned(), v.to_owned()));
            }
            other => panic!(
                "unknown argument {other}; use --binaries DIR --runs N --only FUNCTION --env K=V"
            ),
        }
    }
    for (name, mut env, event, expect) in functions() {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        env.extend(extra.iter().cloned());
        let binary = binaries.join(name);
        assert!(
            binary.is_file(),
            "{} is missing: cargo build --release -p {name}",
            binary.display()
        );
        let size = std::fs::metadata(&binary).unwrap().len();
        let all: Vec<Run> = (0..runs)
            .map(|_| run_once(&binary, &env, &event, expect))
            .collect();
        let sorted = |f: fn(&Run) -> f64| {
            let mut v: Vec<f64> = all.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let cold = sorted(|r| r.cold_ms);
        let init = sorted(|r| r.init_ms);
        let warm = sorted(|r| r.warm_ms);
        let rss = all.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        println!(
            "{}",
            json!({
                "function": name,
                "runs": runs,
                "binary_bytes": size,
                "cold_ms_p50": quantile(&cold, 0.5),
                "cold_ms_p90": quantile(&cold, 0.9),
                "cold_ms_max": quantile(&cold, 1.0),
                "init_ms_p50": quantile(&init, 0.5),
                "warm_ms_p50": quantile(&warm, 0.5),
                "peak_rss_kib_max": rss,
            })
        );
    }
}
