//! The view function (`IssueViewUrlFunction` in `template.yaml`): the caller's files and
//! CloudFront signed URLs to see them, one module per route. A file that is missing, not
//! ready (for `/url`) or another user's gets the same 404.

pub mod config;
pub mod delete_file;
pub mod get_file;
pub mod get_view_url;
pub mod list_files;
pub mod post_file_cookies;

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
#[cfg(feature = "aws")]
use shared::aws::{SdkConfig, StartError};
use shared::cloudfront::KeyCache;
use shared::http::{ApiError, Route, caller, path_file_id, query_param, serve, source_ip};
use shared::ports::{FileRecords, ObjectStore, SecretSource};

pub use config::Config;

/// Everything a request needs, built once per container.
pub struct Deps {
    pub config: Config,
    pub records: Arc<dyn FileRecords>,
    pub objects: Arc<dyn ObjectStore>,
    pub keys: KeyCache,
}

impl Deps {
    /// With the given stores and secret (the handler tests pass in-memory ones).
    pub fn new(
        config: Config,
        records: Arc<dyn FileRecords>,
        objects: Arc<dyn ObjectStore>,
        secret: Arc<dyn SecretSource>,
    ) -> Self {
        let keys = KeyCache::new(
            secret,
            config.hash,
            config.trusted_keys.clone(),
            config.key_refresh,
        );
        Self {
            config,
            records,
            objects,
            keys,
        }
    }

    /// The AWS wiring, used on Lambda and by the local stack: DynamoDB, S3 and Secrets
    /// Manager; the signing key is loaded now, so the first viewer does not wait for it.
    #[cfg(feature = "aws")]
    pub async fn from_aws(config: Config, aws: &SdkConfig) -> Result<Self, StartError> {
        use shared::aws::{dynamodb, s3, secretsmanager};
        let records = Arc::new(dynamodb::DynamoRecords::from_config(aws, &config.table));
        let objects = Arc::new(s3::S3Objects::new(
            s3::client(aws, config.s3_endpoint.as_deref()),
            &config.bucket,
        ));
        let secret = Arc::new(secretsmanager::SecretsManagerSource::from_config(
            aws,
            &config.secret_id,
        ));
        let deps = Self::new(config, records, objects, secret);
        deps.warm_up().await;
        Ok(deps)
    }

    /// Load the signing key now. A failure is logged and retried on demand; it does not
    /// stop the function (the route answers 503 until a key loads).
    pub async fn warm_up(&self) {
        let _ = self.keys.key().await;
    }
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
        ("GET", ["files"]) => {
            let (limit, cursor) = (
                query_param(request, "limit"),
                query_param(request, "cursor"),
            );
            list_files::handle(
                deps,
                &caller(request, &deps.config.jwt_issuer)?,
                limit,
                cursor,
            )
            .await
        }
        ("GET", ["files", id]) => {
            let owner = caller(request, &deps.config.jwt_issuer)?;
            get_file::handle(deps, &owner, path_file_id(id)?).await
        }
        ("GET", ["files", id, "url"]) => {
            let owner = caller(request, &deps.config.jwt_issuer)?;
            let query = get_view_url::ViewQuery {
                expires_in: query_param(request, "expires_in"),
                ip: query_param(request, "ip"),
                not_before: query_param(request, "not_before"),
                caller_ip: source_ip(request),
            };
            get_view_url::handle(deps, &owner, path_file_id(id)?, query).await
        }
        ("POST", ["files", "cookies"]) => {
            post_file_cookies::handle(deps, &caller(request, &deps.config.jwt_issuer)?).await
        }
        ("DELETE", ["files", id]) => {
            let owner = caller(request, &deps.config.jwt_issuer)?;
            delete_file::handle(deps, &owner, path_file_id(id)?).await
        }
        _ => Err(route.not_found()),
    }
}
