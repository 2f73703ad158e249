//! The local stack under load: N concurrent users, each in a loop for a bounded time, asking
//! for an upload URL (`POST /uploads`), a view URL of a ready file (`GET /files/{id}/url`),
//! and giving the unused upload back (`DELETE /uploads/{id}`, so that no user reaches the cap
//! of pending uploads however fast the machine), in turn. Everything runs on 127.0.0.1: the local API, the three
//! functions in this process, the verifying S3, and moto (DynamoDB, Secrets Manager) as a
//! Python child process. Reports p50/p99 latency and requests per second per route, the
//! requests that did not get their success status, and the CPU each process used per second
//! of wall time (the busiest names the bottleneck). Prints one JSON object per user count.
//!
//! `cargo run --release -p integration-tests --example load -- --users 10,100 --seconds 10`
//! (scripts/perf runs it and writes docs/performance.md). Needs what the integration tests
//! need (MOTO_SERVER or the venv's moto_server; ./scripts/test installs it).

// A measuring tool: a broken setup stops it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::png;
use integration_tests::running::Running;
use serde_json::json;

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

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

async fn user_loop(
    run: Arc<Running>,
    user: String,
    file_id: String,
    until: Instant,
) -> Vec<Sample> {
    let token = run.token(&user);
    let body = json!({"filename": "load.png", "content_type": "image/png", "size": 1024});
    let mut samples = Vec::new();
    while Instant::now() < until {
        let start = Instant::now();
        let (status, upload) = run
            .json("POST", "/uploads", Some(&token), Some(body.clone()))
            .await;
        samples.push((ROUTES[0], start.elapsed(), status == 201));
        let pending = upload["file_id"].as_str().map(str::to_owned);
        let start = Instant::now();
        let (status, _) = run
            .json("GET", &format!("/files/{file_id}/url"), Some(&token), None)
            .await;
        samples.push((ROUTES[1], start.elapsed(), status == 200));
        if let Some(pending) = pending {
            let start = Instant::now();
            let (status, _) = run
                .json("DELETE", &format!("/uploads/{pending}"), Some(&token), None)
                .await;
            samples.push((ROUTES[2], start.elapsed(), status == 204));
        }
    }
    samples
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut users_list = vec![10usize, 100];
    let mut seconds = 10u64;
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
            other => panic!("unknown argument {other}; use --users 10,100 --seconds 10"),
        }
    }
    assert!(seconds <= 120, "bounded: at most 120 s per user count");
    assert!(
        users_list.iter().all(|&n| (1..=500).contains(&n)),
        "bounded: 1–500 users"
    );
    let run = Arc::new(Running::start().await);
    let moto_pid = run.stack.backend.moto.pid().expect("moto runs");
    let me = std::process::id();
    for &users in &users_list {
        // Each user has one ready file to view, uploaded before the clock starts.
        let mut files = Vec::new();
        for i in 0..users {
            let user = format!("load-{users}-{i}");
            let file_id = run.upload(&user, "a.png", "image/png", &png(8, 1)).await;
            files.push((user, file_id));
        }
        let (moto_before, me_before) = (cpu_seconds(moto_pid), cpu_seconds(me));
        let start = Instant::now();
        let until = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = files
            .into_iter()
            .map(|(user, file_id)| tokio::spawn(user_loop(run.clone(), user, file_id, until)))
            .collect();
        let mut samples = Vec::new();
        for task in tasks {
            samples.extend(task.await.unwrap());
        }
        let wall = start.elapsed().as_secs_f64();
        let moto_cpu = (cpu_seconds(moto_pid) - moto_before) / wall;
        let me_cpu = (cpu_seconds(me) - me_before) / wall;
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
                "cpu_per_wall_second": {"moto": moto_cpu, "stack_process": me_cpu},
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            })
        );
    }
    match Arc::try_unwrap(run) {
        Ok(run) => run.stop().await,
        Err(_) => panic!("a user task still holds the stack"),
    }
}
