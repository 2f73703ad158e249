//! `GET /files/{file_id}/url?expires_in=` (`GetViewUrl` in `template.yaml`): a CloudFront
//! canned-policy URL for a `ready` file of the caller's.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::FileStatus;
use shared::domain::time::rfc3339;
use shared::domain::view::view_expiry;
use shared::http::{ApiError, json_response};

use crate::Deps;

#[derive(Serialize)]
struct ViewUrl {
    url: String,
    expires_at: String,
}

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
    expires_in: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let expires_at = view_expiry(
        Utc::now(),
        expires_in.as_deref(),
        deps.config.max_view_seconds,
    )?;
    let record = deps.records.get(owner, file_id).await?;
    if !record.is_some_and(|r| r.status() == FileStatus::Ready) {
        return Err(ApiError::file_not_found());
    }
    let key = deps.keys.key().await?;
    let url = deps
        .config
        .cdn_base
        .object_url(&ObjectKey::new(owner.clone(), file_id).to_string());
    let signed = key
        .sign_canned_url(&url, expires_at.timestamp(), deps.keys.hash())
        .map_err(|_| ApiError::internal("the signing key failed to sign"))?;
    Ok(json_response(
        StatusCode::OK,
        &ViewUrl {
            url: signed,
            expires_at: rfc3339(expires_at),
        },
    ))
}
