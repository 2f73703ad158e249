//! The ownership function (`RecordOwnershipFunction` in `template.yaml`, invoked by the
//! bucket's `s3:ObjectCreated:*` notification for `users/`): for each record of the event,
//! [`object_created`] checks the new object against its pending record and marks it `ready`,
//! or deletes it and marks the record `rejected`.
//!
//! S3 delivers events at least once, possibly late and out of order; every step is
//! idempotent and ordered by the event's `sequencer`. One record's failure never stops the
//! others. **Any failed record fails the invocation**, and the report says per record
//! whether the failure is retryable:
//! - `retryable: true` (throttling, timeouts, 5xx): Lambda's retries (two, for the
//!   asynchronous invocation S3 makes) usually get it through;
//! - `retryable: false` (access denied, a damaged record): the retries fail the same way and
//!   the event lands in the on-failure queue (`FailureQueueUrl`), kept for an operator to
//!   replay after the fix, instead of being dropped with the object left unverified.
//!
//! Records that need no work (a repeat, a stale event, another bucket) are not failures.

pub mod config;
pub mod event_key;
pub mod object_created;

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
#[cfg(feature = "aws")]
use shared::aws::{SdkConfig, StartError};
use shared::ports::{FileRecords, ObjectStore};

pub use config::Config;

/// Everything an invocation needs, built once per container.
pub struct Deps {
    pub config: Config,
    pub records: Arc<dyn FileRecords>,
    pub objects: Arc<dyn ObjectStore>,
}

impl Deps {
    /// With the given stores (the handler tests pass in-memory ones).
    pub fn new(
        config: Config,
        records: Arc<dyn FileRecords>,
        objects: Arc<dyn ObjectStore>,
    ) -> Self {
        Self {
            config,
            records,
            objects,
        }
    }

    /// The AWS wiring, used on Lambda and by the local stack: DynamoDB and S3.
    #[cfg(feature = "aws")]
    pub async fn from_aws(config: Config, aws: &SdkConfig) -> Result<Self, StartError> {
        use shared::aws::{dynamodb, s3};
        let records = Arc::new(dynamodb::DynamoRecords::from_config(aws, &config.table));
        let objects = Arc::new(s3::S3Objects::new(
            s3::client(aws, config.s3_endpoint.as_deref()),
            &config.bucket,
        ));
        Ok(Self::new(config, records, objects))
    }
}

/// What happened to each record of the event, in order.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    pub records: Vec<RecordReport>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RecordReport {
    /// The key as the event carries it (URL-encoded).
    pub key: String,
    #[serde(flatten)]
    pub outcome: RecordOutcome,
}

/// The outcome of one record, serialized as `{"outcome": "<variant>", …}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RecordOutcome {
    /// The object matched its pending record.
    Ready,
    /// The object did not match: it was deleted and its record marked `rejected`.
    Rejected { reason: String },
    /// Nothing left to do: a repeat, a stale event, an object already gone.
    Skipped { why: String },
    /// Not ours: another bucket, another event, a key outside `users/{owner}/{file_id}`.
    Ignored { why: String },
    /// An object without an ownership record, deleted.
    Deleted { why: String },
    /// The record could not be processed; the invocation fails (see the module doc).
    Failed { error: String, retryable: bool },
}

impl RecordOutcome {
    /// Whether Lambda retrying the invocation may get this record through.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                retryable: true,
                ..
            }
        )
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

/// The Lambda handler: the report, or an error (so Lambda retries) when a record failed.
pub async fn handle(deps: &Deps, event: LambdaEvent<S3Event>) -> Result<Report, Error> {
    let report = process_event(deps, &event.payload).await;
    let failed = report.records.iter().filter(|r| r.outcome.is_failure());
    let (failures, retryable) = failed.fold((0, 0), |(n, r), record| {
        (n + 1, r + usize::from(record.outcome.retryable()))
    });
    if failures > 0 {
        return Err(format!(
            "{failures} of {} records failed ({retryable} retryable); retry the event",
            report.records.len()
        )
        .into());
    }
    Ok(report)
}

/// Every record of the event, each on its own: one failing never stops the others.
pub async fn process_event(deps: &Deps, event: &S3Event) -> Report {
    let mut report = Report {
        records: Vec::with_capacity(event.records.len()),
    };
    for record in &event.records {
        let key = record.s3.object.key.clone().unwrap_or_default();
        let outcome = match object_created::process(deps, record).await {
            Ok(outcome) => outcome,
            Err(err) => {
                let retryable = err.is_retryable();
                tracing::error!(key = %key, error = %err, retryable, "record failed; the invocation fails so Lambda retries it");
                shared::metrics::count("RecordFailures", &[]);
                RecordOutcome::Failed {
                    error: err.to_string(),
                    retryable,
                }
            }
        };
        report.records.push(RecordReport { key, outcome });
    }
    report
}
