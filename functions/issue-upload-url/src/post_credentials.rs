//! `POST /credentials` (`PostCredentials` in `template.yaml`): temporary AWS credentials
//! (STS, least privilege) that can only upload under the caller's own prefix, for the AWS
//! browser SDK or Uppy: STS AssumeRole on the template's upload role with the session policy
//! of [`shared::domain::credentials`]. The client names each object
//! `users/{owner}/{file_id}` with a UUIDv7 it makes; record-ownership adopts it on arrival.
//!
//! Bounded three ways besides time: at most `CREDENTIALS_PER_HOUR` per owner (429
//! `rate_limited`), none while the owner has `MAX_UNFINISHED_UPLOADS` unfinished multipart
//! uploads (429 `too_many_unfinished_uploads`), and each credential's session name carries
//! its id, so record-ownership counts the objects it adds and rejects those past
//! `CREDENTIALS_MAX_OBJECTS`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use shared::domain::counters::{Counted, Counter};
use shared::domain::credentials::{credential_id, partition, session_name, session_policy};
use shared::domain::ids::{FileId, OwnerId};
use shared::domain::time::rfc3339;
use shared::http::{ApiError, ErrorCode, json_response};

use crate::Deps;

#[derive(Serialize)]
struct Issued {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: String,
    bucket: String,
    region: String,
    prefix: String,
    /// How many objects these credentials may add; the ones past it are rejected on arrival.
    max_objects: u64,
    /// The S3 endpoint, when it is not AWS's (the local stack).
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
}

#[tracing::instrument(skip_all, fields(owner = %owner))]
pub async fn handle(deps: &Deps, owner: &OwnerId) -> Result<Response<Body>, ApiError> {
    let config = &deps.config;
    let policy = session_policy(
        partition(&config.region),
        &config.bucket,
        owner,
        config.credentials_require_if_none_match,
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    crate::within_unfinished_bound(deps, owner).await?;
    let hourly = Counter::credentials_issued(config.credentials_per_hour);
    if let Counted::Full { retry_after } = deps
        .records
        .count(owner, &hourly, chrono::Utc::now().timestamp())
        .await?
    {
        return Err(ApiError::too_many(
            ErrorCode::RateLimited,
            format!(
                "at most {} credentials an hour; try again in {retry_after} s",
                hourly.limit()
            ),
            retry_after,
        ));
    }
    let id = credential_id(&FileId::generate().to_string());
    let credentials = deps
        .issuer
        .issue(&session_name(&id, owner), &policy, config.credentials_ttl)
        .await?;
    tracing::info!(credential = %id, expiration = %credentials.expiration, "credentials issued");
    shared::metrics::count("UploadsIssued", &[("Mode", "credentials")]);
    Ok(json_response(
        StatusCode::OK,
        &Issued {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
            expiration: rfc3339(credentials.expiration),
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            prefix: owner.prefix(),
            max_objects: config.credentials_max_objects,
            endpoint: config.s3_endpoint.clone(),
        },
    ))
}
