//! `GET /uploads` (`GetUploads` in `template.yaml`): the caller's unfinished multipart
//! uploads, so that one started in another browser or on another device can be resumed.
//! Each comes with what a client needs to tell whether a file it holds is that upload's
//! (name, size, and the whole file's CRC64NVME when the upload was created with one; the
//! parts route adds each stored part's) and to carry on (`GET /uploads/{file_id}/parts`).
//!
//! The list starts from S3 (the multipart uploads under the caller's prefix, which
//! `MaxUnfinishedUploads` keeps few) and keeps those whose record is a pending multipart
//! upload: an upload made with temporary credentials has no record, and cannot be resumed
//! by the API's routes.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::domain::ids::{ObjectKey, OwnerId};
use shared::domain::parts::PartPlan;
use shared::domain::record::{FileRecord, FileStatus};
use shared::domain::time::rfc3339;
use shared::http::{ApiError, json_response};

use crate::Deps;

/// The most unfinished uploads listed (S3 lists them by key, oldest of a key first).
pub const LISTED_MAX: u32 = 100;

#[derive(Serialize)]
struct Unfinished {
    file_id: String,
    key: String,
    upload_id: String,
    filename: String,
    content_type: String,
    size: u64,
    part_size: u64,
    part_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    crc64nvme: Option<String>,
    created_at: String,
}

#[derive(Serialize)]
struct Listing {
    uploads: Vec<Unfinished>,
}

fn listed(record: &FileRecord) -> Option<Unfinished> {
    let part_size = record.mode().part_size()?;
    let upload_id = record.mode().upload_id()?;
    (record.status() == FileStatus::Pending).then(|| Unfinished {
        file_id: record.file_id().to_string(),
        key: record.key().to_string(),
        upload_id: upload_id.to_owned(),
        filename: record.filename().as_str().to_owned(),
        content_type: record.content_type().as_str().to_owned(),
        size: record.size().get(),
        part_size,
        part_count: PartPlan::of(record.size(), part_size).part_count,
        crc64nvme: record.crc64nvme().map(|c| c.as_str().to_owned()),
        created_at: rfc3339(record.created_at()),
    })
}

#[tracing::instrument(skip_all, fields(owner = %owner))]
pub async fn handle(deps: &Deps, owner: &OwnerId) -> Result<Response<Body>, ApiError> {
    let found = deps
        .multipart
        .unfinished(&owner.prefix(), LISTED_MAX)
        .await?;
    let mut uploads = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for unfinished in found {
        let Ok(key) = ObjectKey::parse(&unfinished.key) else {
            continue; // not a key the API issues
        };
        if &key.owner != owner || !seen.insert(key.file_id) {
            continue;
        }
        if let Some(record) = deps.records.get(owner, key.file_id).await? {
            uploads.extend(listed(&record));
        }
    }
    // The newest first: the one a user most likely means.
    uploads.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    tracing::info!(listed = uploads.len(), "unfinished uploads listed");
    Ok(json_response(StatusCode::OK, &Listing { uploads }))
}
