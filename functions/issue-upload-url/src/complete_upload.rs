//! `POST /uploads/{file_id}/complete` (`CompleteUpload` in `template.yaml`): assemble a
//! multipart upload from the client's part list. S3 checks the parts (and the full-object
//! CRC64NVME when one was declared) and never overwrites; the ObjectCreated event then
//! makes the file `ready` (or `rejected`) as for any upload.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::parts::PartPlan;
use shared::http::{ApiError, ErrorCode, json_body, json_response};
use shared::ports::{CompletedPart, Completion};

use crate::{Deps, pending_multipart};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartBody {
    part_number: u32,
    etag: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    upload_id: String,
    parts: Vec<PartBody>,
}

#[derive(Serialize)]
struct Completed {
    file_id: String,
    key: String,
    status: &'static str,
}

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let body: CompleteBody = json_body(request)?;
    let record = pending_multipart(deps, owner, file_id).await?;
    if record.mode().upload_id() != Some(body.upload_id.as_str()) {
        return Err(ApiError::file_not_found());
    }
    let plan = PartPlan::of(record.size(), record.mode().part_size().unwrap_or(1));
    let ascending = body
        .parts
        .windows(2)
        .all(|pair| pair[0].part_number < pair[1].part_number);
    let in_range = body
        .parts
        .iter()
        .all(|p| (1..=plan.part_count).contains(&p.part_number) && !p.etag.trim().is_empty());
    if body.parts.is_empty() || !ascending || !in_range {
        return Err(ApiError::new(
            ErrorCode::InvalidParts,
            format!(
                "parts must list part numbers from 1 to {} in ascending order, each with the ETag S3 returned",
                plan.part_count
            ),
        ));
    }
    let parts: Vec<CompletedPart> = body
        .parts
        .iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: p.etag.trim().trim_matches('"').to_owned(),
        })
        .collect();
    let key = ObjectKey::new(owner.clone(), file_id);
    match deps
        .multipart
        .complete(
            &key.to_string(),
            &body.upload_id,
            &parts,
            record.crc64nvme(),
        )
        .await?
    {
        Completion::Done => {
            tracing::info!(parts = parts.len(), "multipart upload completed");
            Ok(json_response(
                StatusCode::OK,
                &Completed {
                    file_id: file_id.to_string(),
                    key: key.to_string(),
                    status: record.status().as_str(),
                },
            ))
        }
        Completion::Refused { code, message } => {
            tracing::info!(%code, "S3 refused the completion");
            Err(match code.as_str() {
                "NoSuchUpload" | "PreconditionFailed" => ApiError::new(
                    ErrorCode::UploadNotPending,
                    "this upload was completed or aborted already",
                ),
                _ => ApiError::new(
                    ErrorCode::InvalidParts,
                    format!("S3 refused the parts: {code}: {message}"),
                ),
            })
        }
    }
}
