//! The ownership function: for each S3 ObjectCreated record, check the new object against
//! its pending record and mark it `ready`, or delete it and mark the record `rejected`.
//!
//! S3 delivers events at least once, possibly late and out of order; every step here is
//! idempotent and ordered by the event's `sequencer`. One record's failure never stops the
//! others; if any failed with an error worth retrying, the invocation fails so Lambda
//! retries it (twice for asynchronous invocations) before sending it to the on-failure
//! destination.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use chrono::Utc;
use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use shared::config::{ConfigError, Env, bounded, parsed_or, required};
use shared::ids::ObjectKey;
use shared::objects::ObjectStore;
use shared::ownership::{Decision, decide};
use shared::records::{Applied, FileRecords, Outcome, StoreError};
use shared::s3_event::decode_event_key;
use shared::sequencer::Sequencer;

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    /// How long a rejected record stays visible to its owner.
    pub rejected_retention: Duration,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            rejected_retention: Duration::from_secs(parsed_or(
                env,
                "REJECTED_RETENTION_SECONDS",
                7 * 86_400,
                bounded(60, 365 * 86_400),
            )?),
        })
    }
}

pub struct Deps {
    pub config: Config,
    pub records: Arc<dyn FileRecords>,
    pub objects: Arc<dyn ObjectStore>,
}

impl Deps {
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Self {
        let records = shared::aws::records(aws, &config.table);
        let objects = shared::aws::objects(aws, &config.bucket);
        Self {
            config,
            records,
            objects,
        }
    }
}

/// What happened to each record of the event, in order.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    pub records: Vec<RecordReport>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RecordReport {
    pub key: String,
    pub outcome: String,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<S3Event>) -> Result<Report, Error> {
    let mut report = Report {
        records: Vec::with_capacity(event.payload.records.len()),
    };
    let mut failures = 0;
    for record in &event.payload.records {
        let key = record.s3.object.key.clone().unwrap_or_default();
        let outcome = match process(deps, record).await {
            Ok(outcome) => outcome,
            Err(err) => {
                failures += 1;
                tracing::error!(key = %key, error = %err, "record failed; the invocation will be retried");
                format!("failed: {err}")
            }
        };
        report.records.push(RecordReport { key, outcome });
    }
    if failures > 0 {
        return Err(format!(
            "{failures} of {} records failed; retry the event",
            report.records.len()
        )
        .into());
    }
    Ok(report)
}

#[tracing::instrument(skip_all, fields(key = record.s3.object.key.as_deref().unwrap_or("")))]
async fn process(deps: &Deps, record: &S3EventRecord) -> Result<String, StoreError> {
    let skip = |why: &str| {
        tracing::warn!(why, "record ignored");
        Ok(format!("ignored: {why}"))
    };
    if !record
        .event_name
        .as_deref()
        .unwrap_or("")
        .starts_with("ObjectCreated:")
    {
        return skip("not an ObjectCreated event");
    }
    if record.s3.bucket.name.as_deref() != Some(deps.config.bucket.as_str()) {
        return skip("the event is for another bucket");
    }
    let Ok(raw_key) = decode_event_key(record.s3.object.key.as_deref().unwrap_or("")) else {
        return skip("the key is not valid URL-encoded UTF-8");
    };
    let Ok(key) = ObjectKey::parse(&raw_key) else {
        return skip("the key is not users/{owner}/{file_id}");
    };
    let sequencer = match record.s3.object.sequencer.as_deref().map(Sequencer::parse) {
        Some(Ok(sequencer)) => sequencer,
        // Without a usable sequencer the event orders before every other one.
        _ => Sequencer::parse("0").map_err(|e| StoreError::Failed(e.to_string()))?,
    };

    let object = deps.objects.head(&raw_key).await?;
    let stored = deps.records.get(&key.owner, key.file_id).await?;
    let decision = decide(
        stored.as_ref(),
        object.as_ref(),
        record.s3.object.e_tag.as_deref(),
        &sequencer,
    );
    let now = Utc::now();
    let outcome = match decision {
        Decision::Skip(why) => {
            tracing::info!(why, "nothing to do");
            format!("skipped: {why}")
        }
        Decision::MarkReady { size, etag } => {
            let uploaded_at = if record.event_time.timestamp() > 0 {
                record.event_time
            } else {
                now
            };
            let outcome = Outcome::Ready {
                size,
                etag,
                uploaded_at: shared::time::whole_seconds(uploaded_at),
            };
            match deps
                .records
                .apply(&key.owner, key.file_id, &sequencer, &outcome)
                .await?
            {
                Applied::Yes => {
                    tracing::info!(size, "file ready");
                    "ready".to_owned()
                }
                Applied::Superseded => "skipped: a newer event was applied first".to_owned(),
            }
        }
        Decision::Reject { reason } => {
            let expires_at = now.timestamp() + deps.config.rejected_retention.as_secs() as i64;
            let outcome = Outcome::Rejected {
                reason: reason.clone(),
                expires_at,
            };
            match deps
                .records
                .apply(&key.owner, key.file_id, &sequencer, &outcome)
                .await?
            {
                Applied::Yes => {
                    deps.objects.delete(&raw_key).await?;
                    tracing::warn!(%reason, "upload rejected and deleted");
                    format!("rejected: {reason}")
                }
                Applied::Superseded => "skipped: a newer event was applied first".to_owned(),
            }
        }
        Decision::DeleteOrphan => {
            deps.objects.delete(&raw_key).await?;
            tracing::warn!("object without an ownership record deleted");
            "deleted: no ownership record".to_owned()
        }
        Decision::EnsureDeleted => {
            deps.objects.delete(&raw_key).await?;
            "rejected: delete completed".to_owned()
        }
    };
    Ok(outcome)
}
