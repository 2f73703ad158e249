//! The functions' CloudWatch metrics, as the embedded metric format lines they write
//! ([`shared::metrics`]): a whole run of the local stack with every line captured, then the
//! lines read back as CloudWatch Logs would (each line with `_aws` is a metric record).
//! An upload issued (`UploadsIssued` by `Mode`) and made ready (`FilesReady`,
//! `TimeToReady`), one rejected (`FilesRejected` by `Reason`), one over the quota
//! (`QuotaExceeded`), a throttled DynamoDB (`DependencyFailures` by `Dependency`, and the
//! API's `Unavailable` by `Code`), the signing key's age and a failed read of it
//! (`SigningKeyAge`, `SigningKeyRefreshFailures`); and the lines are written even with
//! logging at `error`.
//!
//! Its own test binary: the subscriber it installs is process-wide.

use integration_tests::capture::Captured;
use integration_tests::png;
use integration_tests::running::Running;
use serde_json::{Value, json};

/// The metric records written so far: the lines that are JSON objects with `_aws`.
fn records(captured: &Captured) -> Vec<Value> {
    captured
        .text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect()
}

/// The records of metric `name` whose dimensions include `dimensions`.
fn of(captured: &Captured, name: &str, dimensions: &[(&str, &str)]) -> Vec<Value> {
    records(captured)
        .into_iter()
        .filter(|r| r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == name)
        .filter(|r| dimensions.iter().all(|(k, v)| r[*k] == *v))
        .collect()
}

/// [`of`], once it holds `count` records or 10 s have passed: record-ownership writes a
/// file's record before its metric (the metric counts what was done), so a test that sees
/// the record may be a moment ahead of the line.
async fn of_eventually(
    captured: &Captured,
    name: &str,
    dimensions: &[(&str, &str)],
    count: usize,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let found = of(captured, name, dimensions);
        if found.len() >= count || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_functions_write_their_metrics_as_embedded_metric_format() {
    // At `error`: no log line of this run is written, and every metric line still is.
    let captured = Captured::install("error", shared::logging::Format::Plain);
    // The view function re-reads its signing key every second.
    let run =
        Running::start_with(&[("QUOTA_FILES", "2"), ("SIGNING_KEY_REFRESH_SECONDS", "1")]).await;
    let token = run.token("alice");

    let ready = run.upload("alice", "a.png", "image/png", &png(64, 1)).await;
    let issued = of(&captured, "UploadsIssued", &[("Mode", "put")]);
    assert_eq!(issued.len(), 1, "{:?}", records(&captured));
    let record = &issued[0];
    assert_eq!(record["UploadsIssued"], 1.0);
    assert_eq!(record["FunctionName"], "local");
    assert_eq!(
        record["_aws"]["CloudWatchMetrics"][0],
        json!({
            "Namespace": "PrivateUploads",
            "Dimensions": [["FunctionName", "Mode"]],
            "Metrics": [{"Name": "UploadsIssued", "Unit": "Count"}],
        })
    );
    assert!(record["_aws"]["Timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        of_eventually(&captured, "FilesReady", &[], 1).await.len(),
        1
    );
    let waited = &of_eventually(&captured, "TimeToReady", &[], 1).await[0];
    assert_eq!(
        waited["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
        "Milliseconds"
    );
    assert!(waited["TimeToReady"].as_f64().unwrap() >= 0.0, "{waited}");

    // A PUT of other bytes than declared: rejected for its size.
    let declared = json!({"filename": "b.png", "content_type": "image/png", "size": 64});
    let (status, issued) = run
        .json("POST", "/uploads", Some(&token), Some(declared))
        .await;
    assert_eq!(status, 201, "{issued}");
    let file_id = issued["file_id"].as_str().unwrap();
    let mut put = run
        .http
        .put(issued["upload"]["url"].as_str().unwrap())
        .body(vec![b'x'; 64]);
    for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    let _ = run
        .settled_rejected("alice", file_id, "content_mismatch")
        .await;
    let rejected = of_eventually(
        &captured,
        "FilesRejected",
        &[("Reason", "content_mismatch")],
        1,
    )
    .await;
    assert_eq!(rejected.len(), 1, "{:?}", records(&captured));

    // One file ready and one upload reserved, of two: the next upload is refused.
    let reserved = json!({"filename": "c.png", "content_type": "image/png", "size": 64});
    let (status, _) = run
        .json("POST", "/uploads", Some(&token), Some(reserved))
        .await;
    assert_eq!(status, 201);
    let over = json!({"filename": "d.png", "content_type": "image/png", "size": 64});
    let (status, refused) = run.json("POST", "/uploads", Some(&token), Some(over)).await;
    assert_eq!((status, &refused["error"]), (413, &json!("quota_exceeded")));
    assert_eq!(of(&captured, "QuotaExceeded", &[]).len(), 1);

    // DynamoDB throttles: counted where it failed, and as the API's 503.
    run.faults("dynamodb:throttle").await;
    let (status, _) = run.json("GET", "/files", Some(&token), None).await;
    run.faults("").await;
    assert_eq!(status, 503);
    assert!(
        !of(
            &captured,
            "DependencyFailures",
            &[("Dependency", "DynamoDB")]
        )
        .is_empty()
    );
    assert_eq!(
        of(
            &captured,
            "Unavailable",
            &[("Code", "dependency_unavailable")]
        )
        .len(),
        1
    );

    // The signing key: its age at each read (0 for a new one), and a failed read counted
    // while the last good key is kept.
    let view = format!("/files/{ready}/url");
    let (status, _) = run.json("GET", &view, Some(&token), None).await;
    assert_eq!(status, 200);
    assert!(!of(&captured, "SigningKeyAge", &[]).is_empty());
    run.faults("secretsmanager:down").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = run.json("GET", &view, Some(&token), None).await;
    run.faults("").await;
    assert_eq!(status, 200, "the last good key signs");
    assert_eq!(of(&captured, "SigningKeyRefreshFailures", &[]).len(), 1);
    let ages = of(&captured, "SigningKeyAge", &[]);
    let last = ages.last().unwrap()["SigningKeyAge"].as_f64().unwrap();
    assert!(last >= 1.0, "the kept key's age: {last}");
    run.stop().await;
}
