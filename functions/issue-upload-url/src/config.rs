//! The upload function's configuration, read once at start from the environment the
//! template sets (`IssueUploadUrlFunction.Environment`).

use std::time::Duration;

use shared::domain::config::{ConfigError, Env, bounded, parsed_or, required, s3_endpoint};
use shared::domain::upload::{ContentTypeRule, MAX_SINGLE_PUT_BYTES, UploadRules};
use shared::s3_signing::{BucketLocation, MAX_PRESIGN_SECONDS, S3Endpoint};

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
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            region: required(env, "AWS_REGION")?,
            s3_endpoint: s3_endpoint(env)?,
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

    /// Where upload URLs point.
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
