//! The ownership function's configuration, read once at start from the environment the
//! template sets (`RecordOwnershipFunction.Environment`).

use std::time::Duration;

use shared::config::credentials_max_objects;
use shared::config::{ConfigError, Env, bounded, parsed_or, required, s3_endpoint};
use shared::domain::lifecycle::QuotaLimits;
use shared::domain::upload::UploadRules;

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    /// An S3 endpoint override (the local stack); `None` on AWS.
    pub s3_endpoint: Option<String>,
    /// How long a rejected record stays visible to its owner.
    pub rejected_retention: Duration,
    /// The upload rules an object that arrives without a record (temporary credentials)
    /// is held to, as every other upload is at issue.
    pub rules: UploadRules,
    /// Each user's limits, settled on arrival.
    pub quota: QuotaLimits,
    /// How many objects one temporary credential may add; the ones past it are rejected
    /// (`credential_limit`).
    pub credentials_max_objects: u64,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            s3_endpoint: s3_endpoint(env)?,
            rejected_retention: Duration::from_secs(parsed_or(
                env,
                "REJECTED_RETENTION_SECONDS",
                7 * 86_400,
                bounded(60, 365 * 86_400),
            )?),
            rules: UploadRules::from_env(env)?,
            quota: QuotaLimits::from_env(env)?,
            credentials_max_objects: credentials_max_objects(env)?,
        })
    }
}
