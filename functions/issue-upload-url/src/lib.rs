//! The upload function (`IssueUploadUrlFunction` in `template.yaml`): one module per route
//! it serves, its configuration, and the dependencies built once per container.

pub mod config;
pub mod post_uploads;

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use lambda_http::{Body, Request, Response};
use shared::aws::{SdkConfig, StartError};
use shared::http::{ApiError, Route, caller, respond};
use shared::ports::FileRecords;
use shared::s3_signing::{BucketLocation, SigningCredentials};

pub use config::Config;

/// Everything a request needs, built once per container.
pub struct Deps {
    pub config: Config,
    pub location: BucketLocation,
    pub credentials: SigningCredentials,
    pub records: Arc<dyn FileRecords>,
}

impl Deps {
    /// With the given credentials and store (the handler tests pass in-memory ones).
    pub fn new(
        config: Config,
        credentials: SharedCredentialsProvider,
        records: Arc<dyn FileRecords>,
    ) -> Self {
        Self {
            location: config.bucket_location(),
            credentials: SigningCredentials::new(credentials),
            records,
            config,
        }
    }

    /// The AWS wiring, used on Lambda and by the local stack: DynamoDB, and the function's
    /// own (temporary) credentials to sign with.
    pub async fn from_aws(config: Config, aws: &SdkConfig) -> Result<Self, StartError> {
        let credentials = aws
            .credentials_provider()
            .ok_or(StartError::NoCredentials)?;
        let records = Arc::new(shared::aws::dynamodb::DynamoRecords::from_config(
            aws,
            &config.table,
        ));
        Ok(Self::new(config, credentials, records))
    }
}

/// The Lambda handler: every outcome, error or not, is an HTTP response.
pub async fn handle(
    deps: &Deps,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    respond(route(deps, &request).await)
}

async fn route(deps: &Deps, request: &Request) -> Result<Response<Body>, ApiError> {
    let route = Route::of(request);
    let (method, parts) = route.parts();
    match (method, parts.as_slice()) {
        ("POST", ["uploads"]) => post_uploads::handle(deps, &caller(request)?, request).await,
        _ => Err(route.not_found()),
    }
}
