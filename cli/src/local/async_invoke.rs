//! Lambda's asynchronous invocation, as S3 invokes record-ownership: each event on its own,
//! two retries after a failure, then the on-failure destination (here a file of JSON lines
//! in the stack's data directory).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::s3::ObjectCreated;

/// Where the local stack keeps the events the ownership function failed three times, in
/// its data directory.
pub const FAILURES_FILE: &str = "ownership-failures.jsonl";

/// Lambda's waits between the attempts of an asynchronous invocation that failed: "a
/// one-minute wait between the first two attempts, and two minutes between the second and
/// third" (the Lambda developer guide, *Error handling and automatic retries*).
pub const LAMBDA_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// Deliver one ObjectCreated notification to the ownership function the way Lambda handles
/// an asynchronous invocation: on error, two retries after `delays`, then give up. On AWS
/// the event then goes to the on-failure queue; here it is appended to `failures` (one JSON
/// line per event), so it is kept for a replay just the same.
pub async fn deliver(
    ownership: &record_ownership::Deps,
    event: serde_json::Value,
    delays: [Duration; 2],
    failures: &Path,
) -> Result<record_ownership::Report, String> {
    let mut last_error = String::new();
    for attempt in 0..3usize {
        if attempt > 0 {
            tokio::time::sleep(delays[attempt - 1]).await;
        }
        let payload =
            serde_json::from_value(event.clone()).map_err(|e| format!("not an S3 event: {e}"))?;
        match record_ownership::handle(
            ownership,
            lambda_runtime::LambdaEvent::new(payload, Default::default()),
        )
        .await
        {
            Ok(report) => return Ok(report),
            Err(err) => {
                let next = delays.get(attempt).map(|d| d.as_secs());
                tracing::warn!(attempt = attempt + 1, retry_in_seconds = ?next, error = %err, "record-ownership failed");
                last_error = err.to_string();
            }
        }
    }
    let kept = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(failures)
        .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{event}\n").as_bytes()));
    match kept {
        Ok(()) => {
            tracing::error!(error = %last_error, failures = %failures.display(), "event failed 3 attempts; kept as the on-failure queue would keep it")
        }
        Err(err) => {
            tracing::error!(error = %last_error, %err, "event failed 3 attempts and could not be kept")
        }
    }
    Err(last_error)
}

/// Deliver each ObjectCreated event to record-ownership on its own, as Lambda runs them: a
/// failing one waits for its retries without holding up the next. Held in a set, so that
/// stopping the stack (which aborts this task and drops the set) stops the ones still
/// waiting too.
pub async fn deliver_all(
    region: &'static str,
    mut events: mpsc::UnboundedReceiver<ObjectCreated>,
    ownership: Arc<record_ownership::Deps>,
    delays: [Duration; 2],
    failures: PathBuf,
) {
    let mut deliveries = tokio::task::JoinSet::new();
    while let Some(created) = events.recv().await {
        while deliveries.try_join_next().is_some() {}
        let (ownership, failures) = (ownership.clone(), failures.clone());
        deliveries.spawn(async move {
            let event = created.to_event(region);
            if let Ok(report) = deliver(&ownership, event, delays, &failures).await {
                for record in report.records {
                    tracing::info!(key = %record.key, outcome = ?record.outcome, "ObjectCreated delivered");
                }
            }
        });
    }
}
