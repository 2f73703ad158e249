//! One `ObjectCreated` record: decode the key once, look at the object (HEAD) and its
//! record, let [`shared::domain::ownership::decide`] choose, and carry the decision out.

use aws_lambda_events::event::s3::S3EventRecord;
use chrono::Utc;
use shared::domain::ids::ObjectKey;
use shared::domain::ownership::{Decision, decide};
use shared::domain::record::Outcome;
use shared::domain::s3_event::decode_event_key;
use shared::domain::sequencer::Sequencer;
use shared::domain::time::whole_seconds;
use shared::ports::{Applied, StoreError};

use crate::{Deps, RecordOutcome};

const SUPERSEDED: &str = "a newer event was applied first";

#[tracing::instrument(skip_all, fields(key = record.s3.object.key.as_deref().unwrap_or("")))]
pub async fn process(deps: &Deps, record: &S3EventRecord) -> Result<RecordOutcome, StoreError> {
    let ignore = |why: &str| {
        tracing::warn!(why, "record ignored");
        Ok(RecordOutcome::Ignored { why: why.into() })
    };
    if !record
        .event_name
        .as_deref()
        .unwrap_or("")
        .starts_with("ObjectCreated:")
    {
        return ignore("not an ObjectCreated event");
    }
    if record.s3.bucket.name.as_deref() != Some(deps.config.bucket.as_str()) {
        return ignore("the event is for another bucket");
    }
    let Ok(raw_key) = decode_event_key(record.s3.object.key.as_deref().unwrap_or("")) else {
        return ignore("the key is not valid URL-encoded UTF-8");
    };
    let Ok(key) = ObjectKey::parse(&raw_key) else {
        return ignore("the key is not users/{owner}/{file_id}");
    };
    // Without a usable sequencer the event orders before every other one.
    let sequencer = record
        .s3
        .object
        .sequencer
        .as_deref()
        .and_then(|s| Sequencer::parse(s).ok())
        .unwrap_or_else(Sequencer::earliest);

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
            RecordOutcome::Skipped { why: why.into() }
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
                uploaded_at: whole_seconds(uploaded_at),
            };
            match deps
                .records
                .apply(&key.owner, key.file_id, &sequencer, &outcome)
                .await?
            {
                Applied::Yes => {
                    tracing::info!(%size, "file ready");
                    RecordOutcome::Ready
                }
                Applied::Superseded => RecordOutcome::Skipped {
                    why: SUPERSEDED.into(),
                },
            }
        }
        Decision::Reject(rejection) => {
            let retention =
                i64::try_from(deps.config.rejected_retention.as_secs()).unwrap_or(i64::MAX);
            let outcome = Outcome::Rejected {
                rejection: rejection.clone(),
                expires_at: now.timestamp().saturating_add(retention),
            };
            match deps
                .records
                .apply(&key.owner, key.file_id, &sequencer, &outcome)
                .await?
            {
                Applied::Yes => {
                    deps.objects.delete(&raw_key).await?;
                    tracing::warn!(%rejection, "upload rejected and deleted");
                    RecordOutcome::Rejected {
                        reason: rejection.to_string(),
                    }
                }
                Applied::Superseded => RecordOutcome::Skipped {
                    why: SUPERSEDED.into(),
                },
            }
        }
        Decision::DeleteOrphan => {
            deps.objects.delete(&raw_key).await?;
            tracing::warn!("object without an ownership record deleted");
            RecordOutcome::Deleted {
                why: "no ownership record".into(),
            }
        }
        Decision::EnsureDeleted => {
            deps.objects.delete(&raw_key).await?;
            RecordOutcome::Rejected {
                reason: stored
                    .as_ref()
                    .and_then(|r| r.rejection())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }
        }
    };
    Ok(outcome)
}
