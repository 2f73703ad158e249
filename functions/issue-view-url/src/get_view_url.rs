//! `GET /files/{file_id}/url?expires_in=&ip=&not_before=` (`GetViewUrl` in
//! `template.yaml`): a CloudFront signed URL for a `ready` file of the caller's: the canned
//! form (the shortest URL), or a custom policy when the caller asks for a source network
//! (`ip`, which must contain the caller's own address) or a start time (`not_before`).

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::cloudfront::Policy;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::FileStatus;
use shared::domain::time::rfc3339;
use shared::domain::view::{view_conditions, view_expiry};
use shared::http::{ApiError, json_response};

use crate::Deps;

#[derive(Serialize)]
struct ViewUrl {
    url: String,
    expires_at: String,
}

/// What the request asks for, and the caller's address as API Gateway saw it.
pub struct ViewQuery {
    pub expires_in: Option<String>,
    pub ip: Option<String>,
    pub not_before: Option<String>,
    pub caller_ip: Option<std::net::IpAddr>,
}

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
    query: ViewQuery,
) -> Result<Response<Body>, ApiError> {
    let now = Utc::now();
    let expires_at = view_expiry(
        now,
        query.expires_in.as_deref(),
        deps.config.max_view_seconds,
    )?;
    let conditions = view_conditions(
        query.ip.as_deref(),
        query.not_before.as_deref(),
        query.caller_ip,
        now,
        expires_at,
        deps.config.ip_bounds,
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
    let policy = Policy {
        resource: url.clone(),
        expires: expires_at.timestamp(),
        not_before: conditions.not_before,
        source_ip: conditions.source_ip.map(|cidr| cidr.to_string()),
    };
    let signed = key
        .sign_url(&url, &policy, deps.keys.hash())
        .map_err(|_| ApiError::internal("the signing key failed to sign"))?;
    Ok(json_response(
        StatusCode::OK,
        &ViewUrl {
            url: signed,
            expires_at: rfc3339(expires_at),
        },
    ))
}
