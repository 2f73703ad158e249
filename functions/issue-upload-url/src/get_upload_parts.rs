//! `GET /uploads/{file_id}/parts?from=N` (`GetUploadParts` in `template.yaml`): the next page
//! of part URLs of a multipart upload, and the parts S3 already holds (with their ETags and
//! sizes), so a client can resume after a reload.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::parts::PartPlan;
use shared::http::{ApiError, ErrorCode, json_response};

use crate::post_uploads_multipart::{PARTS_PER_PAGE, PartUrl, part_urls};
use crate::{Deps, pending_multipart};

#[derive(Serialize)]
struct Uploaded {
    part_number: u32,
    etag: String,
    size: u64,
    /// The part's CRC64NVME, when S3 keeps one (an upload created with `crc64nvme`): a
    /// client can check that a file it holds is the one this upload began with.
    #[serde(skip_serializing_if = "Option::is_none")]
    crc64nvme: Option<String>,
}

/// Everything a client needs to resume with nothing kept but the file id.
#[derive(Serialize)]
struct Parts {
    upload_id: String,
    part_size: u64,
    part_count: u32,
    parts: Vec<PartUrl>,
    uploaded: Vec<Uploaded>,
}

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
    from: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let record = pending_multipart(deps, owner, file_id).await?;
    let (upload_id, part_size) = (
        record.mode().upload_id().unwrap_or_default().to_owned(),
        record.mode().part_size().unwrap_or(1),
    );
    let plan = PartPlan::of(record.size(), part_size);
    let from = match from.as_deref() {
        None | Some("") => 1,
        Some(text) => text.parse::<u32>().unwrap_or(0),
    };
    let numbers = plan.page(from, PARTS_PER_PAGE).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("from must be a part number from 1 to {}", plan.part_count),
        )
    })?;
    let key = ObjectKey::new(owner.clone(), file_id);
    let uploaded = deps
        .multipart
        .list_parts(&key.to_string(), &upload_id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UploadNotPending,
                "this upload was aborted; start a new one",
            )
        })?;
    let (parts, _) = part_urls(deps, &key, &upload_id, record.size(), &plan, numbers).await?;
    Ok(json_response(
        StatusCode::OK,
        &Parts {
            upload_id,
            part_size,
            part_count: plan.part_count,
            parts,
            uploaded: uploaded
                .into_iter()
                .map(|p| Uploaded {
                    part_number: p.part_number,
                    etag: p.etag,
                    size: p.size,
                    crc64nvme: p.crc64nvme,
                })
                .collect(),
        },
    ))
}
