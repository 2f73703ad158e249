//! `DELETE /uploads/{file_id}` (`DeleteUpload` in `template.yaml`): abort an unfinished
//! upload. A multipart upload is aborted in S3 (its parts dropped); the pending record
//! becomes a tombstone and its reserved bytes are given back. A presigned PUT or form stays
//! valid until it expires: an object that still arrives finds the tombstone and is removed
//! by record-ownership, not adopted.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::FileStatus;
use shared::http::{ApiError, ErrorCode, empty_response};

use crate::Deps;

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
) -> Result<Response<Body>, ApiError> {
    let record = deps
        .records
        .get(owner, file_id)
        .await?
        .ok_or_else(ApiError::file_not_found)?;
    if record.status() != FileStatus::Pending {
        return Err(ApiError::new(
            ErrorCode::UploadNotPending,
            "this upload has finished; delete the file with DELETE /files/{file_id}",
        ));
    }
    if let Some(upload_id) = record.mode().upload_id() {
        deps.multipart
            .abort(
                &ObjectKey::new(owner.clone(), file_id).to_string(),
                upload_id,
            )
            .await?;
    }
    deps.records.delete(owner, file_id).await?;
    tracing::info!("upload cancelled");
    Ok(empty_response(StatusCode::NO_CONTENT))
}
