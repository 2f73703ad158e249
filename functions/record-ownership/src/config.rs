//! The ownership function's configuration, read once at start from the environment the
//! template sets (`RecordOwnershipFunction.Environment`).

use std::time::Duration;

use shared::domain::config::{ConfigError, Env, bounded, parsed_or, required, s3_endpoint};

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    /// An S3 endpoint override (the local stack); `None` on AWS.
    pub s3_endpoint: Option<String>,
    /// How long a rejected record stays visible to its owner.
    pub rejected_retention: Duration,
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
        })
    }
}
