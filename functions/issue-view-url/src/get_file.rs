//! `GET /files/{file_id}` (`GetFile` in `template.yaml`): one of the caller's files.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::domain::ids::{FileId, OwnerId};
use shared::http::{ApiError, FileView, json_response};

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
    Ok(json_response(StatusCode::OK, &FileView::from(&record)))
}
