//! The local stack under load: N concurrent users, each in a loop for a bounded time, asking
//! for an upload URL (`POST /uploads`), a view URL of a ready file (`GET /files/{id}/url`),
//! and giving the unused upload back (`DELETE /uploads/{id}`, so that no user reaches the cap
//! of pending uploads however fast the machine), in turn.
//!
//! The stack is `private-uploads up` in a process of its own (the API, the three functions,
//! the verifying S3 and the CDN), with moto (DynamoDB, Secrets Manager) as its child; this
//! process only generates the load, over HTTP on 127.0.0.1. So the CPU each uses is measured
//! apart: the stack's (`up` and moto) and the generator's. Reports p50/p99 latency and
//! requests per second per route and the CPU per second of wall time; prints one JSON object
//! per user count. Any request that does not get its success status fails the run (exit 1,
//! after printing what was measured).
//!
//! `cargo run --release -p integration-tests --example load -- --bin target/release/private-uploads --users 10,50 --seconds 10`
//! (scripts/perf runs it and writes docs/performance.md). Needs moto (MOTO_SERVER, which `up`
//! reads; ./scripts/test installs it).

// A measuring tool: a broken setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

/// (route, latency, status as expected)
type Sample = (&'static str, Duration, bool);

const ROUTES: [&str; 3] = [
    "POST /uploads",
    "GET /files/{file_id}/url",
    "DELETE /uploads/{file_id}",
];

/// CPU seconds (user + system) a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) / 100.0
}

/// The child processes of `pid` (every thread's), from /proc.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

/// The stack over HTTP, as a browser sees it.
struct Client {
    http: reqwest::Client,
    api: String,
}

impl Client {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.api))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(err) => {
                eprintln!("{method} {path}: {err}");
                (0, Value::Null)
            }
        }
    }

    async fn token(&self, user: &str) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/local/token", self.api))
            .json(&json!({"user": user}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Upload a small PNG as `token`'s user and wait until it is ready: its file id.
    async fn ready_file(&self, token: &str) -> String {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.resize(64, 1);
        let body = json!({"filename": "a.png", "content_type": "image/png", "size": png.len()});
        let (status, issued) = self.call("POST", "/uploads", token, Some(body)).await;
        assert_eq!(status, 201, "{issued}");
        let mut put = self.http.put(issued["upload"]["url"].as_str().unwrap());
        for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
            put = put.header(name.as_str(), value.as_str().unwrap());
        }
        assert_eq!(put.body(png).send().await.unwrap().status(), 200);
        let file_id = issued["file_id"].as_str().unwrap().to_owned();
        for _ in 0..200 {
            let (_, file) = self
                .call("GET", &format!("/files/{file_id}"), token, None)
                .await;
            if file["status"] == "ready" {
                return file_id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{file_id} never became ready");
    }
}

async fn user_loop(
    client: Arc<Client>,
    token: String,
    file_id: String,
    until: Instant,
) -> Vec<Sample> {
    let body = json!({"filename": "load.png", "content_type": "image/png", "size": 1024});
    let mut samples = Vec::new();
    while Instant::now() < until {
        let start = Instant::now();
        let (status, upload) = client
            .call("POST", "/uploads", &token, Some(body.clone()))
            .await;
        samples.push((ROUTES[0], start.elapsed(), status == 201));
        let pending = upload["file_id"].as_str().map(str::to_owned);
        let start = Instant::now();
        let (status, _) = client
            .call("GET", &format!("/files/{file_id}/url"), &token, None)
            .await;
        samples.push((ROUTES[1], start.elapsed(), status == 200));
        if let Some(pending) = pending {
            let start = Instant::now();
            let (status, _) = client
                .call("DELETE", &format!("/uploads/{pending}"), &token, None)
                .await;
            samples.push((ROUTES[2], start.elapsed(), status == 204));
        }
    }
    samples
}

/// `up` on free ports with a fresh data directory, until it says it is up.
async fn start_up(bin: &PathBuf, data_dir: &std::path::Path) -> (tokio::process::Child, String) {
    let port = private_uploads::local::moto::free_port().unwrap();
    let mut up = tokio::process::Command::new(bin)
        .args(["up", "--port", &port.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let mut lines = tokio::io::BufReader::new(up.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("Stop: Ctrl-C") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        ready.ok(),
        Some(true),
        "up did not start (its stderr is above)"
    );
    // Keep reading its stdout so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (up, format!("http://127.0.0.1:{port}"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut users_list = vec![10usize, 50];
    let mut seconds = 10u64;
    let mut bin = std::env::var_os("PRIVATE_UPLOADS_BIN").map(PathBuf::from);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--users" => {
                users_list = args
                    .next()
                    .expect("--users N[,N…]")
                    .split(',')
                    .map(|n| n.parse().expect("--users N[,N…]"))
                    .collect();
            }
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--seconds S")
            }
            "--bin" => bin = Some(PathBuf::from(args.next().expect("--bin PATH"))),
            other => panic!("unknown argument {other}; use --bin PATH --users 10,50 --seconds 10"),
        }
    }
    let bin = bin.expect("--bin PATH (or PRIVATE_UPLOADS_BIN): the private-uploads binary to load");
    assert!(seconds <= 120, "bounded: at most 120 s per user count");
    assert!(
        users_list.iter().all(|&n| (1..=500).contains(&n)),
        "bounded: 1–500 users"
    );
    let data_dir = tempfile::tempdir().unwrap();
    let (mut up, api) = start_up(&bin, data_dir.path()).await;
    let up_pid = up.id().expect("up runs");
    let stack_pids = || -> Vec<u32> { std::iter::once(up_pid).chain(children(up_pid)).collect() };
    assert!(stack_pids().len() >= 2, "moto runs as up's child");
    let me = std::process::id();
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        api,
    });
    let mut failures = 0;
    for &users in &users_list {
        // Each user has one ready file to view, uploaded before the clock starts.
        let mut files = Vec::new();
        for i in 0..users {
            let token = client.token(&format!("load-{users}-{i}")).await;
            let file_id = client.ready_file(&token).await;
            files.push((token, file_id));
        }
        let stack_cpu = || stack_pids().into_iter().map(cpu_seconds).sum::<f64>();
        let (stack_before, me_before) = (stack_cpu(), cpu_seconds(me));
        let start = Instant::now();
        let until = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = files
            .into_iter()
            .map(|(token, file_id)| tokio::spawn(user_loop(client.clone(), token, file_id, until)))
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await.unwrap());
        }
        let wall = start.elapsed().as_secs_f64();
        let stack = (stack_cpu() - stack_before) / wall;
        let generator = (cpu_seconds(me) - me_before) / wall;
        let mut routes = serde_json::Map::new();
        for route in ROUTES {
            let mut times: Vec<Duration> = samples
                .iter()
                .filter(|(r, _, _)| *r == route)
                .map(|(_, t, _)| *t)
                .collect();
            times.sort();
            let failed = samples
                .iter()
                .filter(|(r, _, ok)| *r == route && !ok)
                .count();
            failures += failed;
            routes.insert(
                route.to_owned(),
                json!({
                    "requests": times.len(),
                    "failed": failed,
                    "rps": times.len() as f64 / wall,
                    "p50_ms": quantile(&times, 0.5),
                    "p99_ms": quantile(&times, 0.99),
                }),
            );
        }
        println!(
            "{}",
            json!({
                "users": users,
                "seconds": wall,
                "requests": samples.len(),
                "rps": samples.len() as f64 / wall,
                "routes": routes,
                "cpu_per_wall_second": {"stack": stack, "generator": generator},
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            })
        );
    }
    // SIGTERM, as Ctrl-C: up stops moto and its servers.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &up_pid.to_string()])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(15), up.wait()).await;
    if failures > 0 {
        eprintln!("load: {failures} request(s) did not get their success status");
        std::process::exit(1);
    }
}
