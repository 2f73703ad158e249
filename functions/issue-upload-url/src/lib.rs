//! The upload function (`IssueUploadUrlFunction` in `template.yaml`): every way to upload,
//! one module per route, its configuration, and the dependencies built once per container.
//!
//! | route | module | how the bytes travel |
//! | --- | --- | --- |
//! | `POST /uploads` | [`post_uploads`] | one presigned PUT |
//! | `POST /uploads/form` | [`post_uploads_form`] | one browser POST form |
//! | `POST /uploads/multipart` | [`post_uploads_multipart`] | presigned part PUTs |
//! | `GET /uploads` | [`get_uploads`] | (the unfinished multipart uploads, to resume anywhere) |
//! | `GET /uploads/{file_id}/parts` | [`get_upload_parts`] | (more part URLs, resume) |
//! | `POST /uploads/{file_id}/complete` | [`complete_upload`] | (assemble the parts) |
//! | `DELETE /uploads/{file_id}` | [`delete_upload`] | (abort) |
//! | `POST /credentials` | [`post_credentials`] | the client's own S3 calls, by STS credentials |

pub mod complete_upload;
pub mod config;
pub mod delete_upload;
pub mod get_upload_parts;
pub mod get_uploads;
pub mod post_credentials;
pub mod post_uploads;
pub mod post_uploads_form;
pub mod post_uploads_multipart;

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use lambda_http::{Body, Request, Response};
#[cfg(feature = "aws")]
use shared::aws::{SdkConfig, StartError};
use shared::domain::counters::unfinished_uploads_allow;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::lifecycle;
use shared::domain::record::{FileRecord, FileStatus, UploadMode};
use shared::domain::upload::UploadRequest;
use shared::http::{ApiError, ErrorCode, Route, caller, path_file_id, query_param, serve};
use shared::ports::{CredentialsIssuer, FileRecords, MultipartUploads};
use shared::s3_signing::{BucketLocation, SigningCredentials};

pub use config::Config;

/// Everything a request needs, built once per container.
pub struct Deps {
    pub config: Config,
    pub location: BucketLocation,
    pub credentials: SigningCredentials,
    pub records: Arc<dyn FileRecords>,
    pub multipart: Arc<dyn MultipartUploads>,
    pub issuer: Arc<dyn CredentialsIssuer>,
}

impl Deps {
    /// With the given credentials and stores (the handler tests pass in-memory ones).
    pub fn new(
        config: Config,
        credentials: SharedCredentialsProvider,
        records: Arc<dyn FileRecords>,
        multipart: Arc<dyn MultipartUploads>,
        issuer: Arc<dyn CredentialsIssuer>,
    ) -> Self {
        Self {
            location: config.bucket_location(),
            credentials: SigningCredentials::new(credentials),
            records,
            multipart,
            issuer,
            config,
        }
    }

    /// The AWS wiring, used on Lambda and by the local stack: DynamoDB, S3 (multipart), STS,
    /// and the function's own (temporary) credentials to sign with.
    #[cfg(feature = "aws")]
    pub async fn from_aws(config: Config, aws: &SdkConfig) -> Result<Self, StartError> {
        use shared::aws::{dynamodb, s3, sts};
        let credentials = aws
            .credentials_provider()
            .ok_or(StartError::NoCredentials)?;
        let records = Arc::new(dynamodb::DynamoRecords::from_config(aws, &config.table));
        let bucket = Arc::new(s3::S3Objects::new(
            s3::client(aws, config.s3_endpoint.as_deref()),
            &config.bucket,
        ));
        let issuer = Arc::new(sts::StsIssuer::from_config(
            aws,
            config.sts_endpoint.as_deref(),
            &config.credentials_role_arn,
        ));
        Ok(Self::new(config, credentials, records, bucket, issuer))
    }
}

/// Write the pending record of a single-request upload (a PUT or a form) of `upload` to
/// `key`, usable until `usable_until`, reserving its quota ([`lifecycle::pending`]).
pub(crate) async fn record_pending(
    deps: &Deps,
    key: &ObjectKey,
    upload: &UploadRequest,
    mode: UploadMode,
    usable_until: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let retention = deps.config.pending_retention;
    let record = lifecycle::pending(
        key.clone(),
        upload,
        mode,
        usable_until,
        retention,
        chrono::Utc::now(),
    );
    deps.records.create(&record, &deps.config.quota).await?;
    Ok(())
}

/// The record of a multipart upload still in progress, or the answer explaining why not.
pub(crate) async fn pending_multipart(
    deps: &Deps,
    owner: &OwnerId,
    file_id: FileId,
) -> Result<FileRecord, ApiError> {
    let record = deps
        .records
        .get(owner, file_id)
        .await?
        .ok_or_else(ApiError::file_not_found)?;
    if record.mode().upload_id().is_none() {
        return Err(ApiError::new(
            ErrorCode::UploadNotPending,
            "this file was not uploaded in parts",
        ));
    }
    if record.status() != FileStatus::Pending {
        return Err(ApiError::new(
            ErrorCode::UploadNotPending,
            "this upload has finished",
        ));
    }
    Ok(record)
}

/// The bound on an owner's unfinished multipart uploads (`MAX_UNFINISHED_UPLOADS`),
/// checked before anything new may start one: 429 `too_many_unfinished_uploads` with
/// `Retry-After` until the bucket's lifecycle rule aborts the oldest.
pub(crate) async fn within_unfinished_bound(deps: &Deps, owner: &OwnerId) -> Result<(), ApiError> {
    let limit = deps.config.max_unfinished_uploads;
    let unfinished = deps.multipart.unfinished(&owner.prefix(), limit).await?;
    let initiated: Vec<i64> = unfinished.iter().map(|u| u.initiated).collect();
    unfinished_uploads_allow(
        &initiated,
        limit,
        deps.config.multipart_abort_days,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|retry_after| {
        ApiError::too_many(
            ErrorCode::TooManyUnfinishedUploads,
            format!(
                "you have {limit} unfinished multipart uploads, the most allowed: complete or \
                 abort them (DELETE /uploads/{{file_id}}, or AbortMultipartUpload), or wait \
                 until the bucket aborts the oldest"
            ),
            retry_after,
        )
    })
}

/// The Lambda handler: every outcome, error or not, is an HTTP response, and everything it
/// logs and every error it answers names API Gateway's request id ([`serve`]).
pub async fn handle(
    deps: &Deps,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    serve(&request, route(deps, &request)).await
}

async fn route(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let route = Route::of(request);
    let (method, parts) = route.parts();
    match (method, parts.as_slice()) {
        ("POST", ["uploads"]) => {
            post_uploads::handle(deps, &caller(request, &deps.config.jwt_issuer)?, request).await
        }
        ("POST", ["uploads", "form"]) => {
            post_uploads_form::handle(deps, &caller(request, &deps.config.jwt_issuer)?, request)
                .await
        }
        ("POST", ["uploads", "multipart"]) => {
            post_uploads_multipart::handle(
                deps,
                &caller(request, &deps.config.jwt_issuer)?,
                request,
            )
            .await
        }
        ("GET", ["uploads"]) => {
            get_uploads::handle(deps, &caller(request, &deps.config.jwt_issuer)?).await
        }
        ("GET", ["uploads", id, "parts"]) => {
            let owner = caller(request, &deps.config.jwt_issuer)?;
            let from = query_param(request, "from");
            get_upload_parts::handle(deps, &owner, path_file_id(id)?, from).await
        }
        ("POST", ["uploads", id, "complete"]) => {
            let owner = caller(request, &deps.config.jwt_issuer)?;
            complete_upload::handle(deps, &owner, path_file_id(id)?, request).await
        }
        ("DELETE", ["uploads", id]) => {
            let owner = caller(request, &deps.config.jwt_issuer)?;
            delete_upload::handle(deps, &owner, path_file_id(id)?).await
        }
        ("POST", ["credentials"]) => {
            post_credentials::handle(deps, &caller(request, &deps.config.jwt_issuer)?).await
        }
        _ => Err(route.not_found()),
    }
}
