//! The view function's configuration, read once at start from the environment the template
//! sets (`IssueViewUrlFunction.Environment`).

use std::time::Duration;

use shared::cloudfront::HashAlgorithm;
use shared::domain::config::{ConfigError, Env, bounded, parsed_or, required, s3_endpoint};
use shared::domain::view::CdnBase;

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    /// An S3 endpoint override (the local stack); `None` on AWS.
    pub s3_endpoint: Option<String>,
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
            s3_endpoint: s3_endpoint(env)?,
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
