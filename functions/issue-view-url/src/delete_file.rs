//! `DELETE /files/{file_id}` (`DeleteFile` in `template.yaml`): the object, then its record,
//! which becomes a tombstone (hidden from the owner, its bytes given back).
//!
//! The object first: if the second step fails the record still lets the owner retry,
//! whereas the other order could leave an object nobody can reach. The tombstone covers
//! the race with record-ownership: if it is handling this file's upload meanwhile, it finds
//! the tombstone and removes the object instead of adopting it again.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::http::{ApiError, empty_response};

use crate::Deps;

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
) -> Result<Response<Body>, ApiError> {
    if deps.records.get(owner, file_id).await?.is_none() {
        return Err(ApiError::file_not_found());
    }
    deps.objects
        .delete(&ObjectKey::new(owner.clone(), file_id).to_string())
        .await?;
    deps.records.delete(owner, file_id).await?;
    tracing::info!("file deleted");
    Ok(empty_response(StatusCode::NO_CONTENT))
}
