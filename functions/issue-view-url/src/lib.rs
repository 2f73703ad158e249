//! The view function: the caller's files and CloudFront signed URLs to see them.
//!
//! `GET /files`, `GET /files/{file_id}`, `GET /files/{file_id}/url`, `DELETE /files/{file_id}`.
//! A file that is missing, not ready (for `/url`) or another user's gets the same 404.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::api::{self, ApiError, Route};
use shared::cloudfront::HashAlgorithm;
use shared::config::{ConfigError, Env, bounded, parsed_or, required};
use shared::cursor;
use shared::ids::{FileId, ObjectKey, OwnerId};
use shared::objects::ObjectStore;
use shared::records::{FileRecords, FileStatus, FileView};
use shared::signing_keys::{KeyCache, KeyUnavailable, SecretSource};
use shared::time::rfc3339;
use shared::view::{CdnBase, view_expiry};

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    pub cdn_base: CdnBase,
    pub secret_id: String,
    /// Default and upper bound of `expires_in`.
    pub max_view_seconds: u64,
    pub hash: HashAlgorithm,
    pub key_refresh: Duration,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let cdn = required(env, "CDN_BASE_URL")?;
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            cdn_base: CdnBase::parse(&cdn).map_err(|why| ConfigError::Malformed {
                name: "CDN_BASE_URL",
                why,
            })?,
            secret_id: required(env, "SIGNING_KEY_SECRET_ID")?,
            max_view_seconds: parsed_or(env, "VIEW_URL_MAX_SECONDS", 1800, bounded(1, 7 * 86_400))?,
            hash: parsed_or(
                env,
                "CLOUDFRONT_HASH_ALGORITHM",
                HashAlgorithm::Sha256,
                |t| {
                    HashAlgorithm::parse(t)
                        .ok_or_else(|| format!("{t:?} is neither sha1 nor sha256"))
                },
            )?,
            key_refresh: Duration::from_secs(parsed_or(
                env,
                "SIGNING_KEY_REFRESH_SECONDS",
                300,
                bounded(1, 86_400),
            )?),
        })
    }
}

pub struct Deps {
    pub config: Config,
    pub records: Arc<dyn FileRecords>,
    pub objects: Arc<dyn ObjectStore>,
    pub keys: KeyCache,
}

impl Deps {
    pub fn new(
        config: Config,
        records: Arc<dyn FileRecords>,
        objects: Arc<dyn ObjectStore>,
        secret: Arc<dyn SecretSource>,
    ) -> Self {
        let keys = KeyCache::new(secret, config.hash, config.key_refresh);
        Self {
            config,
            records,
            objects,
            keys,
        }
    }

    /// The production wiring: DynamoDB, S3 and Secrets Manager clients.
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Self {
        let records = shared::aws::records(aws, &config.table);
        let objects = shared::aws::objects(aws, &config.bucket);
        let secret = Arc::new(shared::signing_keys::SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(aws),
            config.secret_id.clone(),
        ));
        Self::new(config, records, objects, secret)
    }

    /// Load the signing key now, at container start, so the first viewer does not wait.
    /// A failure is logged and retried on demand; it does not stop the function.
    pub async fn warm_up(&self) {
        let _ = self.keys.key().await;
    }
}

pub async fn handle(
    deps: &Deps,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    api::respond(route(deps, &request).await)
}

async fn route(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let route = Route::of(request);
    let (method, parts) = route.parts();
    match (method, parts.as_slice()) {
        ("GET", ["files"]) => {
            let owner = api::caller(request)?;
            list_files(
                deps,
                &owner,
                api::query_param(request, "limit"),
                api::query_param(request, "cursor"),
            )
            .await
        }
        ("GET", ["files", id]) => {
            let owner = api::caller(request)?;
            get_file(deps, &owner, api::path_file_id(id)?).await
        }
        ("GET", ["files", id, "url"]) => {
            let owner = api::caller(request)?;
            view_url(
                deps,
                &owner,
                api::path_file_id(id)?,
                api::query_param(request, "expires_in"),
            )
            .await
        }
        ("DELETE", ["files", id]) => {
            let owner = api::caller(request)?;
            delete_file(deps, &owner, api::path_file_id(id)?).await
        }
        _ => Err(api::route_not_found(&route)),
    }
}

#[derive(Serialize)]
struct FileList {
    files: Vec<FileView>,
    next_cursor: Option<String>,
}

#[tracing::instrument(skip_all, fields(owner = %owner))]
async fn list_files(
    deps: &Deps,
    owner: &OwnerId,
    limit: Option<String>,
    cursor_text: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let limit = match limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let before = match cursor_text.as_deref() {
        None | Some("") => None,
        Some(text) => Some(cursor::decode(text).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
        })?),
    };
    let page = deps.records.list(owner, limit, before).await?;
    Ok(api::json_response(
        StatusCode::OK,
        &FileList {
            files: page.records.iter().map(FileView::from).collect(),
            next_cursor: page.next.map(cursor::encode),
        },
    ))
}

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
async fn get_file(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
) -> Result<Response<Body>, ApiError> {
    let record = deps
        .records
        .get(owner, file_id)
        .await?
        .ok_or_else(ApiError::file_not_found)?;
    Ok(api::json_response(StatusCode::OK, &FileView::from(&record)))
}

#[derive(Serialize)]
struct ViewUrl {
    url: String,
    expires_at: String,
}

#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
async fn view_url(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
    expires_in: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let expires_at = view_expiry(
        Utc::now(),
        expires_in.as_deref(),
        deps.config.max_view_seconds,
    )
    .map_err(|e| ApiError::bad_request("invalid_expires_in", e.to_string()))?;
    let record = deps.records.get(owner, file_id).await?;
    if !record.is_some_and(|r| r.status == FileStatus::Ready) {
        return Err(ApiError::file_not_found());
    }
    let key = deps.keys.key().await.map_err(signing_unavailable)?;
    let url = deps
        .config
        .cdn_base
        .object_url(&ObjectKey::new(owner.clone(), file_id).to_string());
    let signed = key
        .sign_canned_url(&url, expires_at.timestamp(), deps.keys.hash())
        .map_err(|_| ApiError::internal("the signing key failed to sign"))?;
    Ok(api::json_response(
        StatusCode::OK,
        &ViewUrl {
            url: signed,
            expires_at: rfc3339(expires_at),
        },
    ))
}

fn signing_unavailable(err: KeyUnavailable) -> ApiError {
    ApiError::Unavailable {
        code: "signing_unavailable",
        message: "view URLs cannot be signed right now; try again shortly".into(),
        retry_after: err.retry_after,
        cause: err.reason,
    }
}

/// The object first, then the record: if the second step fails the record still lets the
/// owner retry, whereas the other order could leave an object nobody can reach.
#[tracing::instrument(skip_all, fields(owner = %owner, %file_id))]
async fn delete_file(
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
    Ok(api::empty_response(StatusCode::NO_CONTENT))
}
