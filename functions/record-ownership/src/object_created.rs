//! One `ObjectCreated` record (`Put`, `Post`, `CompleteMultipartUpload`, `Copy`): decode
//! the key once, look at the object (HEAD, and its first bytes for the types we sniff) and
//! its record, let [`shared::domain::ownership::decide`] choose, and carry the decision
//! out, settling the owner's quota with the record. What is decided, for late and repeated
//! events, objects without a record (adoption) and tombstones, is told once, in
//! [`shared::domain::ownership`]; what a record write does, in [`shared::domain::lifecycle`].
//!
//! Here: anything under `users/` that is not `users/{owner}/{file_id}` (dot or empty
//! segments, another shape) is never written by us, so it is deleted and logged; and an
//! adoption is counted against the temporary credential the event names (its session name
//! holds the credential's id): past `CREDENTIALS_MAX_OBJECTS`, the object is rejected
//! (`credential_limit`).

use crate::event_key::decode_event_key;
use aws_lambda_events::event::s3::S3EventRecord;
use chrono::{DateTime, Utc};
use shared::domain::counters::{Counted, Counter};
use shared::domain::credentials::credential_of_principal;
use shared::domain::ids::{ObjectKey, USERS_PREFIX};
use shared::domain::lifecycle::rejected_expiry;
use shared::domain::ownership::{Decision, ObjectInfo, adopt, decide};
use shared::domain::record::{FileRecord, Outcome, Rejection, RejectionReason};
use shared::domain::sequencer::Sequencer;
use shared::domain::sniff::{SNIFF_BYTES, is_checked};
use shared::domain::time::whole_seconds;
use shared::domain::upload::{ByteSize, ContentType, Filename};
use shared::metrics::{self, Unit};
use shared::ports::{Applied, StoreError};

use crate::{Deps, RecordOutcome};

const SUPERSEDED: &str = "a newer event was applied first";

#[tracing::instrument(skip_all, fields(key = record.s3.object.key.as_deref().unwrap_or("")))]
pub async fn process(deps: &Deps, record: &S3EventRecord) -> Result<RecordOutcome, StoreError> {
    let (key, raw_key) = match locate(deps, record).await? {
        Located::Key(key, raw_key) => (key, raw_key),
        Located::Done(outcome) => return Ok(outcome),
    };
    // Without a usable sequencer the event orders before every other one.
    let sequencer = record
        .s3
        .object
        .sequencer
        .as_deref()
        .and_then(|s| Sequencer::parse(s).ok())
        .unwrap_or_else(Sequencer::earliest);

    let read = match deps.objects.head(&raw_key).await {
        Ok(Some(object)) => with_first_bytes(deps, &raw_key, object).await.map(Some),
        other => other,
    };
    let object = match read {
        Err(StoreError::Unreadable(why)) => {
            return unreadable(deps, &key, &raw_key, record, &sequencer, why).await;
        }
        other => other?,
    };
    let stored = deps.records.get_stored(&key.owner, key.file_id).await?;
    let decision = decide(
        stored.as_ref(),
        object.as_ref(),
        record.s3.object.e_tag.as_deref(),
        &sequencer,
    );
    let now = Utc::now();
    let uploaded_at = whole_seconds(if record.event_time.timestamp() > 0 {
        record.event_time
    } else {
        now
    });
    let outcome = match (decision, object) {
        (Decision::Skip(why), _) => {
            tracing::info!(why, "nothing to do");
            RecordOutcome::Skipped { why: why.into() }
        }
        (Decision::MarkReady { size, etag }, _) => {
            let ready = Outcome::Ready {
                size,
                etag,
                uploaded_at,
            };
            mark_ready(deps, &key, &raw_key, &sequencer, &ready, now).await?
        }
        (Decision::Reject(rejection), _) => {
            reject(deps, &key, &raw_key, None, &sequencer, rejection, now).await?
        }
        (Decision::Adopt, Some(object)) => {
            let principal = record.principal_id.principal_id.as_deref();
            let arrival = Arrival {
                sequencer: &sequencer,
                uploaded_at,
                now,
            };
            adopt_object(deps, &key, &raw_key, &object, principal, &arrival).await?
        }
        (Decision::Adopt, None) => RecordOutcome::Skipped {
            why: "the object no longer exists".into(),
        },
        (Decision::Discard, _) => discard(deps, &raw_key).await?,
        (Decision::EnsureDeleted, _) => {
            deps.objects.delete(&raw_key).await?;
            RecordOutcome::Rejected {
                reason: stored
                    .as_ref()
                    .and_then(FileRecord::rejection)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }
        }
    };
    Ok(outcome)
}

/// Where an event's object is, or what was done instead.
enum Located {
    /// `users/{owner}/{file_id}`, and the key as S3 spells it.
    Key(ObjectKey, String),
    Done(RecordOutcome),
}

/// The object an event is about: only `ObjectCreated` events of our bucket under `users/`
/// are ours; an object there that is not `users/{owner}/{file_id}` is deleted.
async fn locate(deps: &Deps, record: &S3EventRecord) -> Result<Located, StoreError> {
    let ignore = |why: &str| {
        tracing::warn!(why, "record ignored");
        Ok(Located::Done(RecordOutcome::Ignored { why: why.into() }))
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
    if !raw_key.starts_with(USERS_PREFIX) {
        return ignore("the key is outside users/");
    }
    let Ok(key) = ObjectKey::parse(&raw_key) else {
        deps.objects.delete(&raw_key).await?;
        tracing::warn!(key = %raw_key, "an object under users/ that is not users/{{owner}}/{{file_id}} deleted");
        return Ok(Located::Done(RecordOutcome::Deleted {
            why: "the key is not users/{owner}/{file_id}".into(),
        }));
    };
    Ok(Located::Key(key, raw_key))
}

/// Settle an upload that arrived as declared; over the quota it is rejected instead.
async fn mark_ready(
    deps: &Deps,
    key: &ObjectKey,
    raw_key: &str,
    sequencer: &Sequencer,
    ready: &Outcome,
    now: DateTime<Utc>,
) -> Result<RecordOutcome, StoreError> {
    let quota = &deps.config.quota;
    let applied = deps
        .records
        .apply(&key.owner, key.file_id, sequencer, ready, quota)
        .await;
    match applied {
        Ok(Applied::Yes) => {
            if let Outcome::Ready {
                size, uploaded_at, ..
            } = ready
            {
                tracing::info!(%size, "file ready");
                count_ready(*uploaded_at, now);
            }
            Ok(RecordOutcome::Ready)
        }
        Ok(Applied::Superseded) => superseded(deps, key, raw_key).await,
        Err(StoreError::Quota(over)) => {
            let rejection = Rejection::new(RejectionReason::QuotaExceeded, over.to_string());
            reject(deps, key, raw_key, None, sequencer, rejection, now).await
        }
        Err(err) => Err(err),
    }
}

/// The record changed between our read and our write. If it became a tombstone (the
/// owner cancelled the upload or deleted the file meanwhile), the object goes too: the
/// delete may have run before the object landed. Otherwise a newer event won.
async fn superseded(
    deps: &Deps,
    key: &ObjectKey,
    raw_key: &str,
) -> Result<RecordOutcome, StoreError> {
    match deps.records.get_stored(&key.owner, key.file_id).await? {
        Some(record) if !record.is_live() => discard(deps, raw_key).await,
        _ => Ok(RecordOutcome::Skipped {
            why: SUPERSEDED.into(),
        }),
    }
}

/// An object for a tombstone: removed; the tombstone stays, and so does the quota.
async fn discard(deps: &Deps, raw_key: &str) -> Result<RecordOutcome, StoreError> {
    deps.objects.delete(raw_key).await?;
    let why = "the upload was cancelled or the file deleted";
    tracing::warn!(why, "object removed");
    Ok(RecordOutcome::Deleted { why: why.into() })
}

/// An object nobody can read (an archive storage class, a customer-provided key): it cannot
/// be checked, nor viewed by its owner, so it is removed, and its record (the pending one,
/// or one made for an upload by temporary credentials) rejected: nothing stays without a
/// record, outside the quota, where its owner cannot delete it.
async fn unreadable(
    deps: &Deps,
    key: &ObjectKey,
    raw_key: &str,
    record: &S3EventRecord,
    sequencer: &Sequencer,
    why: String,
) -> Result<RecordOutcome, StoreError> {
    let now = Utc::now();
    let rejection = Rejection::new(RejectionReason::Unreadable, why);
    match deps.records.get_stored(&key.owner, key.file_id).await? {
        Some(stored) if !stored.is_live() => discard(deps, raw_key).await,
        Some(_) => reject(deps, key, raw_key, None, sequencer, rejection, now).await,
        None => {
            let size = record
                .s3
                .object
                .size
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0);
            let arrived = FileRecord::arrived(
                key.clone(),
                Filename::of_file_id(key.file_id),
                ContentType::octet_stream(),
                ByteSize::new(size),
                now,
            );
            reject(
                deps,
                key,
                raw_key,
                Some(&arrived),
                sequencer,
                rejection,
                now,
            )
            .await
        }
    }
}

/// For the types we sniff, read the object's first bytes (a ranged GET).
async fn with_first_bytes(
    deps: &Deps,
    raw_key: &str,
    mut object: ObjectInfo,
) -> Result<ObjectInfo, StoreError> {
    let sniffed = object
        .content_type
        .as_deref()
        .and_then(|t| ContentType::parse(t).ok())
        .is_some_and(|t| is_checked(t.essence()));
    if sniffed {
        object.first_bytes = deps.objects.first_bytes(raw_key, SNIFF_BYTES).await?;
    }
    Ok(object)
}

/// The metrics of a file made ready at `now`, which S3 reported at `uploaded_at` (to the
/// second).
fn count_ready(uploaded_at: DateTime<Utc>, now: DateTime<Utc>) {
    metrics::count("FilesReady", &[]);
    let waited = (now - uploaded_at).num_milliseconds().max(0);
    metrics::emit("TimeToReady", Unit::Milliseconds, waited as f64, &[]);
}

/// Mark the record rejected (writing it, for an adoption) and delete the object.
async fn reject(
    deps: &Deps,
    key: &ObjectKey,
    raw_key: &str,
    adopted: Option<&FileRecord>,
    sequencer: &Sequencer,
    rejection: Rejection,
    now: DateTime<Utc>,
) -> Result<RecordOutcome, StoreError> {
    let outcome = Outcome::Rejected {
        rejection: rejection.clone(),
        expires_at: rejected_expiry(now.timestamp(), deps.config.rejected_retention),
    };
    let quota = &deps.config.quota;
    let applied = match adopted {
        Some(record) => {
            deps.records
                .adopt(record, sequencer, &outcome, quota)
                .await?
        }
        None => {
            deps.records
                .apply(&key.owner, key.file_id, sequencer, &outcome, quota)
                .await?
        }
    };
    match applied {
        Applied::Yes => {
            deps.objects.delete(raw_key).await?;
            tracing::warn!(%rejection, "upload rejected and deleted");
            metrics::count("FilesRejected", &[("Reason", rejection.reason().code())]);
            Ok(RecordOutcome::Rejected {
                reason: rejection.to_string(),
            })
        }
        Applied::Superseded => superseded(deps, key, raw_key).await,
    }
}

/// When and in which order an object arrived.
struct Arrival<'a> {
    sequencer: &'a Sequencer,
    uploaded_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// Count one more object for the temporary credential `principal` names, if it names one:
/// the rejection when that credential has added as many as it may.
async fn past_credential_limit(
    deps: &Deps,
    key: &ObjectKey,
    principal: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Rejection>, StoreError> {
    let Some(credential) = principal.and_then(credential_of_principal) else {
        return Ok(None);
    };
    let limit = deps.config.credentials_max_objects;
    let counter = Counter::objects_of_credential(credential, limit);
    Ok(
        match deps
            .records
            .count(&key.owner, &counter, now.timestamp())
            .await?
        {
            Counted::Yes(_) => None,
            Counted::Full { .. } => Some(Rejection::new(
                RejectionReason::CredentialLimit,
                format!(
                    "these temporary credentials already added {limit} objects, the most one may"
                ),
            )),
        },
    )
}

/// An object that arrived with no record: give it one, ready or rejected.
async fn adopt_object(
    deps: &Deps,
    key: &ObjectKey,
    raw_key: &str,
    object: &ObjectInfo,
    principal: Option<&str>,
    arrival: &Arrival<'_>,
) -> Result<RecordOutcome, StoreError> {
    let &Arrival {
        sequencer,
        uploaded_at,
        now,
    } = arrival;
    let adoption = adopt(key, object, &deps.config.rules, uploaded_at);
    let verdict = match past_credential_limit(deps, key, principal, now).await? {
        Some(rejection) => Err(rejection),
        None => adoption.verdict,
    };
    if let Err(rejection) = verdict {
        return reject(
            deps,
            key,
            raw_key,
            Some(&adoption.record),
            sequencer,
            rejection,
            now,
        )
        .await;
    }
    let ready = Outcome::Ready {
        size: object.size,
        etag: object.etag.clone(),
        uploaded_at,
    };
    match deps
        .records
        .adopt(&adoption.record, sequencer, &ready, &deps.config.quota)
        .await
    {
        Ok(Applied::Yes) => {
            tracing::info!(size = %object.size, "an upload by temporary credentials adopted");
            count_ready(uploaded_at, now);
            Ok(RecordOutcome::Ready)
        }
        Ok(Applied::Superseded) => superseded(deps, key, raw_key).await,
        Err(StoreError::Quota(over)) => {
            let rejection = Rejection::new(RejectionReason::QuotaExceeded, over.to_string());
            reject(
                deps,
                key,
                raw_key,
                Some(&adoption.record),
                sequencer,
                rejection,
                now,
            )
            .await
        }
        Err(err) => Err(err),
    }
}
