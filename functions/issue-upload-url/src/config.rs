//! The upload function's configuration, read once at start from the environment the
//! template sets (`IssueUploadUrlFunction.Environment`).

use std::time::Duration;

use shared::config::credentials_max_objects;
use shared::config::{ConfigError, Env, bounded, parsed_or, required, s3_endpoint, sts_endpoint};
use shared::domain::lifecycle::QuotaLimits;
use shared::domain::upload::UploadRules;
use shared::s3_signing::{BucketLocation, MAX_PRESIGN_SECONDS, S3Endpoint};

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    pub region: String,
    /// The issuer the stack's JWT authorizer trusts (`JWT_ISSUER`): its users' owner ids
    /// are their encoded `sub` alone; any other issuer's are tagged ([`OwnerId::from_claims`]).
    ///
    /// [`OwnerId::from_claims`]: shared::domain::ids::OwnerId::from_claims
    pub jwt_issuer: String,
    /// `None`: real S3 (virtual-hosted URLs); `Some`: an endpoint override (path-style).
    pub s3_endpoint: Option<String>,
    /// `None`: real STS; `Some`: an endpoint override (the local stack's STS).
    pub sts_endpoint: Option<String>,
    pub rules: UploadRules,
    /// Lifetime of a presigned PUT.
    pub url_ttl: Duration,
    /// Lifetime of a POST form's policy (5 to 10 minutes).
    pub form_ttl: Duration,
    /// Lifetime of a multipart part URL.
    pub part_url_ttl: Duration,
    /// After how many days the bucket's lifecycle rule aborts an unfinished multipart upload.
    pub multipart_abort_days: u64,
    /// How long a pending record outlives its upload before DynamoDB may expire it.
    pub pending_retention: Duration,
    /// Each user's limits.
    pub quota: QuotaLimits,
    /// The role `POST /credentials` assumes.
    pub credentials_role_arn: String,
    /// Lifetime of those credentials (STS allows at most one hour for role chaining).
    pub credentials_ttl: Duration,
    /// Whether those credentials may only create objects with `If-None-Match: *`.
    pub credentials_require_if_none_match: bool,
    /// How many credentials one owner may get in an hour (`POST /credentials` answers 429
    /// `rate_limited` past it).
    pub credentials_per_hour: u64,
    /// How many objects one credential may add (record-ownership rejects the ones past it);
    /// told to the client as `max_objects`.
    pub credentials_max_objects: u64,
    /// How many unfinished multipart uploads one owner may have before `POST /credentials`
    /// and `POST /uploads/multipart` answer 429 `too_many_unfinished_uploads`.
    pub max_unfinished_uploads: u32,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            region: required(env, "AWS_REGION")?,
            jwt_issuer: required(env, "JWT_ISSUER")?,
            s3_endpoint: s3_endpoint(env)?,
            sts_endpoint: sts_endpoint(env)?,
            rules: UploadRules::from_env(env)?,
            // A single-request upload URL lives at most an hour (the template's cap).
            url_ttl: seconds(env, "UPLOAD_URL_TTL_SECONDS", 300, 1, 3600)?,
            form_ttl: seconds(env, "FORM_URL_TTL_SECONDS", 300, 300, 600)?,
            part_url_ttl: seconds(env, "PART_URL_TTL_SECONDS", 3600, 60, MAX_PRESIGN_SECONDS)?,
            multipart_abort_days: parsed_or(env, "MULTIPART_ABORT_DAYS", 1, bounded(1, 365))?,
            pending_retention: seconds(env, "PENDING_RETENTION_SECONDS", 86_400, 60, 365 * 86_400)?,
            quota: QuotaLimits::from_env(env)?,
            credentials_role_arn: required(env, "CREDENTIALS_ROLE_ARN")?,
            credentials_ttl: seconds(env, "CREDENTIALS_TTL_SECONDS", 900, 900, 3600)?,
            credentials_require_if_none_match: parsed_or(
                env,
                "CREDENTIALS_REQUIRE_IF_NONE_MATCH",
                false,
                |t| match t {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(format!("{t:?} is neither true nor false")),
                },
            )?,
            credentials_per_hour: parsed_or(env, "CREDENTIALS_PER_HOUR", 30, bounded(1, 3600))?,
            credentials_max_objects: credentials_max_objects(env)?,
            max_unfinished_uploads: parsed_or(
                env,
                "MAX_UNFINISHED_UPLOADS",
                20,
                bounded(1u32, 1000),
            )?,
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

/// A duration in whole seconds within `min..=max`.
fn seconds(
    env: &dyn Env,
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    parsed_or(env, name, default, bounded(min, max)).map(Duration::from_secs)
}
