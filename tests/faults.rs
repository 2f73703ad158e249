//! The functions' dependencies failing, throttled, slow or down, injected into the running
//! local stack the way a user of `up` injects them (`PUT /local/faults`): every answer is
//! the documented one (503 with `Retry-After`, or a retry that gets through), no ownership
//! record is lost and nothing is left half made.

use std::time::{Duration, Instant};

use integration_tests::running::{Answer, Body, Running};
use serde_json::{Value, json};

fn assert_unavailable(answer: &Answer, code: &str, what: &str) {
    assert_eq!(answer.status, 503, "{what}: {:?}", answer.body);
    assert_eq!(answer.body["error"], code, "{what}: {:?}", answer.body);
    let retry_after: u64 = answer
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After in {:?}", answer.headers));
    assert!(retry_after >= 1, "{what}: Retry-After {retry_after}");
}

fn upload_body(name: &str) -> Value {
    json!({"filename": name, "content_type": "text/plain", "size": 4})
}

#[tokio::test(flavor = "multi_thread")]
async fn each_dependency_failing_is_a_503_with_retry_after_and_nothing_is_half_made() {
    // Two files at most: one kept, and room for exactly one more after the faults.
    let run = Running::start_with(&[("QUOTA_FILES", "2")]).await;
    let alice = run.token("alice");
    let kept = run.upload("alice", "kept.txt", "text/plain", b"kept").await;
    let file = format!("/files/{kept}");
    let cases: Vec<(&str, &str, String, Option<Value>)> = vec![
        (
            "dynamodb:throttle",
            "POST",
            "/uploads".into(),
            Some(upload_body("a.txt")),
        ),
        ("dynamodb:error", "GET", "/files".into(), None),
        ("dynamodb:down", "GET", file.clone(), None),
        (
            "dynamodb.TransactWriteItems:error",
            "POST",
            "/uploads/form".into(),
            Some(upload_body("b.txt")),
        ),
        (
            "s3.CreateMultipartUpload:throttle",
            "POST",
            "/uploads/multipart".into(),
            Some(upload_body("c.txt")),
        ),
        // S3 made the multipart upload, the record could not be written: it is aborted.
        (
            "dynamodb.TransactWriteItems:down",
            "POST",
            "/uploads/multipart".into(),
            Some(upload_body("d.txt")),
        ),
        ("sts:throttle", "POST", "/credentials".into(), None),
        ("sts.AssumeRole:error", "POST", "/credentials".into(), None),
        ("s3.DeleteObject:error", "DELETE", file.clone(), None),
        (
            "dynamodb.GetItem:throttle",
            "GET",
            format!("{file}/url"),
            None,
        ),
    ];
    for (plan, method, path, body) in cases {
        run.faults(plan).await;
        let answer = run
            .call(
                method,
                &path,
                Some(&alice),
                body.map_or(Body::None, Body::Json),
            )
            .await;
        run.faults("").await;
        assert_unavailable(
            &answer,
            "dependency_unavailable",
            &format!("{plan}: {method} {path}"),
        );
    }

    // A dependency slower than the functions' timeouts: 503 before Lambda would kill them.
    run.faults("dynamodb:slow=20s").await;
    let started = Instant::now();
    let answer = run.call("GET", "/files", Some(&alice), Body::None).await;
    let waited = started.elapsed();
    run.faults("").await;
    assert_unavailable(&answer, "dependency_unavailable", "dynamodb slow");
    assert!(
        waited < Duration::from_secs(10),
        "answered after {waited:?}: the functions' Timeout is 10 s"
    );

    // Nothing half made: the kept file is whole and viewable, nothing else was recorded or
    // reserved (one more upload fits in the quota of two, a second does not).
    assert_eq!(run.listed("alice").await, [kept.as_str()]);
    let (status, view) = run
        .json("GET", &format!("{file}/url"), Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let (status, bytes) = run.cdn(view["url"].as_str().expect("a URL")).await;
    assert_eq!((status, bytes.as_slice()), (200, b"kept".as_slice()));
    let (status, issued) = run
        .json("POST", "/uploads", Some(&alice), Some(upload_body("e.txt")))
        .await;
    assert_eq!(status, 201, "{issued}");
    let (status, refused) = run
        .json("POST", "/uploads", Some(&alice), Some(upload_body("f.txt")))
        .await;
    assert_eq!(refused["error"], "quota_exceeded", "{status} {refused}");
    assert_eq!(refused["quota"]["used_files"], 2, "{refused}");
    assert_eq!(refused["quota"]["used_bytes"], 8, "{refused}");

    // The DELETE that failed can be repeated, and then the file is gone.
    let answer = run.call("DELETE", &file, Some(&alice), Body::None).await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    assert!(run.object_removed(&format!("users/alice/{kept}")).await);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_races_are_retried_and_throttled_calls_get_through_on_the_sdks_retries() {
    let run = Running::start().await;
    // Every write is a transaction conditional on what was read; three of them are told
    // someone else got there first (the record-ownership's and the upload's writes among
    // them), and a throttled read is retried by the SDK itself.
    run.faults("dynamodb.TransactWriteItems:conditional:3x,dynamodb.GetItem:throttle:1x")
        .await;
    let file_id = run
        .upload("alice", "raced.txt", "text/plain", b"race")
        .await;
    let plan = run.fault_plan().await;
    assert_eq!(
        plan["rules"],
        json!([
            {"service": "dynamodb", "operation": "TransactWriteItems", "kind": "conditional", "active": false},
            {"service": "dynamodb", "operation": "GetItem", "kind": "throttle", "active": false},
        ]),
        "every injected fault was met: {plan}"
    );
    let file = run.settled("alice", &file_id).await;
    assert_eq!(file["status"], "ready", "{file}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_fault_plan_is_refused_and_names_what_is_accepted() {
    let run = Running::start().await;
    let response = run
        .http
        .put(format!("{}/local/faults", run.stack.api_url))
        .body("dynamodb:explode")
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "bad_fault_plan");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown kind \"explode\""), "{message}");
    assert!(message.contains("dynamodb:throttle:60s"), "{message}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_secrets_manager_the_view_function_answers_503_until_it_is_back() {
    // Down from the start: the function's warm-up could not load the signing key.
    let run = Running::start_faulty(&[], "secretsmanager:down").await;
    let file_id = run.upload("alice", "seen.txt", "text/plain", b"seen").await;
    let alice = run.token("alice");
    let path = format!("/files/{file_id}/url");
    let answer = run.call("GET", &path, Some(&alice), Body::None).await;
    assert_unavailable(&answer, "signing_unavailable", "secrets manager down");
    // Listing and reading records do not need the key.
    assert_eq!(run.json("GET", "/files", Some(&alice), None).await.0, 200);
    // Back up: a client that waits as `Retry-After` says gets its URL (the function does
    // not ask Secrets Manager again before then).
    run.faults("").await;
    let wait: u64 = answer.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(wait <= 60, "Retry-After {wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, view) = run.json("GET", &path, Some(&alice), None).await;
    assert_eq!(status, 200, "{view}");
    let (status, bytes) = run.cdn(view["url"].as_str().expect("a URL")).await;
    assert_eq!((status, bytes.as_slice()), (200, b"seen".as_slice()));
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_during_a_dynamodb_outage_becomes_ready_on_lambdas_retry() {
    // Lambda retries a failed asynchronous event after a minute, then two; `up` waits the
    // same. Here the waits are 10 s and 20 s and the outage 8 s: the same order of events
    // (first attempt inside the outage, the retry after it) in a sixth of the time.
    let retry = Duration::from_secs(10);
    let run = Running::start_retrying(&[], "", [retry, retry * 2]).await;
    let alice = run.token("alice");
    let bytes = b"late";
    let (status, issued) = run
        .json(
            "POST",
            "/uploads",
            Some(&alice),
            Some(upload_body("late.txt")),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let file_id = issued["file_id"].as_str().expect("a file id").to_owned();

    run.faults("dynamodb:down:8s").await;
    let outage = Instant::now();
    // S3 is up: the upload lands; its ObjectCreated event's first attempt fails.
    assert_eq!(run.put_issued(&issued, bytes).await, 200);
    let path = format!("/files/{file_id}");
    let answer = run.call("GET", &path, Some(&alice), Body::None).await;
    assert_unavailable(&answer, "dependency_unavailable", "during the outage");

    // DynamoDB is back after 8 s; the record stays pending until the retry.
    tokio::time::sleep(Duration::from_millis(8_500).saturating_sub(outage.elapsed())).await;
    let answer = run.call("GET", &path, Some(&alice), Body::None).await;
    assert_eq!(
        answer.body["status"], "pending",
        "before the retry: {}",
        answer.body
    );
    let mut file = Value::Null;
    while outage.elapsed() < retry * 3 {
        let answer = run.call("GET", &path, Some(&alice), Body::None).await;
        file = answer.body;
        if file["status"] == "ready" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(file["status"], "ready", "{file}");
    assert!(outage.elapsed() >= retry, "ready only on the retry");
    assert!(run.object_exists(&format!("users/alice/{file_id}")).await);
    let failures = run
        .stack
        .data_dir()
        .join(private_uploads::local::stack::FAILURES_FILE);
    assert!(!failures.exists(), "no event went to the failure queue");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_fails_three_times_is_kept_and_a_replay_settles_it() {
    use private_uploads::local::s3::ObjectCreated;
    use private_uploads::local::stack::{BUCKET, REGION, deliver};

    let run = Running::start().await;
    let alice = run.token("alice");
    let (status, issued) = run
        .json(
            "POST",
            "/uploads",
            Some(&alice),
            Some(upload_body("kept.txt")),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let file_id = issued["file_id"].as_str().expect("a file id").to_owned();
    let key = format!("users/alice/{file_id}");
    run.faults("dynamodb:down").await;
    assert_eq!(run.put_issued(&issued, b"kept").await, 200);

    // The same event, delivered with Lambda's three attempts (waits shortened).
    let etag = run
        .stack
        .backend
        .s3_client
        .head_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .expect("the object")
        .e_tag()
        .unwrap_or_default()
        .to_owned();
    let event = ObjectCreated {
        kind: "Put",
        bucket: BUCKET.into(),
        key: key.clone(),
        size: 4,
        etag,
        sequencer: "0055AED6DCD90281E5".into(),
        principal: "AWS:AROALOCALFUNCTIONS:private-uploads-local".into(),
    }
    .to_event(REGION);
    let queue = tempfile::NamedTempFile::new().expect("a file");
    let ownership = &run.stack.backend.ownership;
    let short = [Duration::from_millis(10); 2];
    let failed = deliver(ownership, event.clone(), short, queue.path()).await;
    assert!(failed.is_err(), "{failed:?}");
    let kept = std::fs::read_to_string(queue.path()).expect("the queue");
    let lines: Vec<Value> = kept
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON event"))
        .collect();
    assert_eq!(lines, [event], "the whole event, once");
    run.faults("").await;
    let pending = run
        .json("GET", &format!("/files/{file_id}"), Some(&alice), None)
        .await;
    assert_eq!(
        pending.1["status"], "pending",
        "the record waits: {pending:?}"
    );

    // The operator's replay, after the fix: the file becomes ready.
    let replayed = deliver(ownership, lines[0].clone(), short, queue.path()).await;
    assert!(replayed.is_ok(), "{replayed:?}");
    assert_eq!(run.settled("alice", &file_id).await["status"], "ready");
    run.stop().await;
}
