//! The upload function: `POST /uploads` checks what the caller wants to upload, writes a
//! `pending` ownership record, and returns a presigned PUT that can only create
//! `users/{owner}/{file_id}` with exactly the declared type, length and checksum.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::api::{self, ApiError, Route};
use shared::config::{ConfigError, Env, bounded, parsed_or, required};
use shared::ids::{FileId, ObjectKey, OwnerId};
use shared::presign::{
    BucketLocation, MAX_PRESIGN_SECONDS, PresignError, S3Endpoint, SigningCredentials, presign_put,
};
use shared::records::{FileRecord, FileRecords, FileStatus};
use shared::time::rfc3339;
use shared::upload::{
    ContentTypeRule, MAX_SINGLE_PUT_BYTES, UploadError, UploadRequestBody, UploadRules,
};

/// Configuration, read once at start from the environment the template sets.
#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    pub region: String,
    /// `None`: real S3 (virtual-hosted URLs); `Some`: an endpoint override (path-style).
    pub s3_endpoint: Option<String>,
    pub rules: UploadRules,
    pub url_ttl: Duration,
    /// How long a pending record outlives its upload URL before DynamoDB may expire it.
    pub pending_retention: Duration,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let allowed = required(env, "ALLOWED_CONTENT_TYPES")?;
        let allowed_types = allowed
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(ContentTypeRule::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| ConfigError::Malformed {
                name: "ALLOWED_CONTENT_TYPES",
                why,
            })?;
        if allowed_types.is_empty() {
            return Err(ConfigError::Malformed {
                name: "ALLOWED_CONTENT_TYPES",
                why: "lists no media type".into(),
            });
        }
        let s3_endpoint = env
            .get("AWS_ENDPOINT_URL_S3")
            .or_else(|| env.get("AWS_ENDPOINT_URL"));
        if let Some(endpoint) = &s3_endpoint {
            url::Url::parse(endpoint).map_err(|e| ConfigError::Malformed {
                name: "AWS_ENDPOINT_URL_S3",
                why: e.to_string(),
            })?;
        }
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            region: required(env, "AWS_REGION")?,
            s3_endpoint,
            rules: UploadRules {
                allowed_types,
                max_bytes: parsed_or(
                    env,
                    "MAX_UPLOAD_BYTES",
                    100 * 1024 * 1024,
                    bounded(1, MAX_SINGLE_PUT_BYTES),
                )?,
            },
            url_ttl: Duration::from_secs(parsed_or(
                env,
                "UPLOAD_URL_TTL_SECONDS",
                300,
                bounded(1, MAX_PRESIGN_SECONDS),
            )?),
            pending_retention: Duration::from_secs(parsed_or(
                env,
                "PENDING_RETENTION_SECONDS",
                86_400,
                bounded(60, 365 * 86_400),
            )?),
        })
    }

    pub fn bucket_location(&self) -> BucketLocation {
        BucketLocation {
            endpoint: match &self.s3_endpoint {
                Some(base) => S3Endpoint::PathStyle(base.clone()),
                None => S3Endpoint::VirtualHosted,
            },
            region: self.region.clone(),
            bucket: self.bucket.clone(),
        }
    }
}

/// Everything a request needs, built once per container.
pub struct Deps {
    pub config: Config,
    pub location: BucketLocation,
    pub credentials: SigningCredentials,
    pub records: Arc<dyn FileRecords>,
}

impl Deps {
    pub fn new(
        config: Config,
        credentials: SigningCredentials,
        records: Arc<dyn FileRecords>,
    ) -> Self {
        let location = config.bucket_location();
        Self {
            config,
            location,
            credentials,
            records,
        }
    }

    /// The production wiring: DynamoDB and the function's own (temporary) credentials.
    pub fn from_aws(config: Config, aws: &aws_config::SdkConfig) -> Result<Self, String> {
        let provider = aws
            .credentials_provider()
            .ok_or("no AWS credentials provider is configured")?;
        let records = shared::aws::records(aws, &config.table);
        Ok(Self::new(
            config,
            SigningCredentials::new(provider),
            records,
        ))
    }
}

/// The Lambda handler: every outcome, error or not, is an HTTP response.
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
        ("POST", ["uploads"]) => {
            let owner = api::caller(request)?;
            let body: UploadRequestBody = api::json_body(request)?;
            issue_upload(deps, &owner, &body).await
        }
        _ => Err(api::route_not_found(&route)),
    }
}

#[derive(Serialize)]
struct UploadResponse {
    file_id: String,
    key: String,
    expires_at: String,
    upload: UploadInstructions,
}

#[derive(Serialize)]
struct UploadInstructions {
    method: &'static str,
    url: String,
    headers: std::collections::BTreeMap<String, String>,
}

#[tracing::instrument(skip_all, fields(owner = %owner))]
async fn issue_upload(
    deps: &Deps,
    owner: &OwnerId,
    body: &UploadRequestBody,
) -> Result<Response<Body>, ApiError> {
    let request = deps.config.rules.check(body).map_err(upload_error)?;
    let file_id = FileId::generate();
    let key = ObjectKey::new(owner.clone(), file_id);
    let credentials = deps.credentials.get().await.map_err(presign_error)?;
    let now = SystemTime::now();
    let put = presign_put(
        &deps.location,
        &credentials,
        &key,
        &request,
        now,
        deps.config.url_ttl,
    )
    .map_err(presign_error)?;

    let record = FileRecord {
        owner: owner.clone(),
        file_id,
        filename: request.filename.as_str().to_owned(),
        content_type: request.content_type.as_str().to_owned(),
        size: request.size,
        sha256: request.sha256.as_ref().map(|s| s.as_str().to_owned()),
        status: FileStatus::Pending,
        reason: None,
        created_at: shared::time::whole_seconds(Utc::now()),
        uploaded_at: None,
        etag: None,
        sequencer: None,
        expires_at: Some(
            put.expires_at.timestamp() + deps.config.pending_retention.as_secs() as i64,
        ),
    };
    deps.records.create(&record).await?;
    tracing::info!(%file_id, size = request.size, content_type = %request.content_type, "upload issued");

    Ok(api::json_response(
        StatusCode::CREATED,
        &UploadResponse {
            file_id: file_id.to_string(),
            key: key.to_string(),
            expires_at: rfc3339(put.expires_at),
            upload: UploadInstructions {
                method: put.method,
                url: put.url,
                headers: put.headers,
            },
        },
    ))
}

fn upload_error(err: UploadError) -> ApiError {
    let message = err.to_string();
    match err {
        UploadError::Filename(_) => ApiError::bad_request("invalid_filename", message),
        UploadError::ContentType(_) => ApiError::bad_request("invalid_content_type", message),
        UploadError::TypeNotAllowed { .. } => ApiError::UnsupportedType {
            code: "content_type_not_allowed",
            message,
        },
        UploadError::EmptyFile => ApiError::bad_request("invalid_size", message),
        UploadError::TooLarge { .. } => ApiError::TooLarge {
            code: "file_too_large",
            message,
        },
        UploadError::Sha256(_) => ApiError::bad_request("invalid_sha256", message),
    }
}

fn presign_error(err: PresignError) -> ApiError {
    match err {
        PresignError::CredentialsExpiring | PresignError::Credentials(_) => ApiError::Unavailable {
            code: "signing_unavailable",
            message: "upload URLs cannot be signed right now; try again shortly".into(),
            retry_after: 2,
            cause: err.to_string(),
        },
        other => ApiError::internal(other.to_string()),
    }
}
