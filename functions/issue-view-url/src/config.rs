//! The view function's configuration, read once at start from the environment the template
//! sets (`IssueViewUrlFunction.Environment`).

use std::time::Duration;

use shared::cloudfront::{HashAlgorithm, TrustedKeys};
use shared::config::{ConfigError, Env, bounded, parsed_or, required, s3_endpoint};
use shared::domain::view::{CdnBase, IpBounds};

#[derive(Clone, Debug)]
pub struct Config {
    pub bucket: String,
    pub table: String,
    /// The issuer the stack's JWT authorizer trusts (`JWT_ISSUER`): its users' owner ids
    /// are their encoded `sub` alone; any other issuer's are tagged ([`OwnerId::from_claims`]).
    ///
    /// [`OwnerId::from_claims`]: shared::domain::ids::OwnerId::from_claims
    pub jwt_issuer: String,
    /// An S3 endpoint override (the local stack); `None` on AWS.
    pub s3_endpoint: Option<String>,
    pub cdn_base: CdnBase,
    pub secret_id: String,
    /// Default and upper bound of `expires_in`.
    pub max_view_seconds: u64,
    pub hash: HashAlgorithm,
    pub key_refresh: Duration,
    /// How narrow an `ip` condition must be.
    pub ip_bounds: IpBounds,
    /// The key group's public keys (`TRUSTED_KEY_1`, `TRUSTED_KEY_2`, one per template key
    /// slot): the function signs only with a key among them; none is refused at start.
    pub trusted_keys: TrustedKeys,
}

impl Config {
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let cdn = required(env, "CDN_BASE_URL")?;
        let cdn_base = CdnBase::parse(&cdn).map_err(|why| ConfigError::Malformed {
            name: "CDN_BASE_URL",
            why,
        })?;
        Ok(Self {
            bucket: required(env, "BUCKET_NAME")?,
            table: required(env, "TABLE_NAME")?,
            jwt_issuer: required(env, "JWT_ISSUER")?,
            s3_endpoint: s3_endpoint(env)?,
            cdn_base,
            secret_id: required(env, "SIGNING_KEY_SECRET_ID")?,
            trusted_keys: TrustedKeys::parse(
                ["TRUSTED_KEY_1", "TRUSTED_KEY_2"]
                    .map(|name| env.get(name).unwrap_or_default())
                    .iter()
                    .map(String::as_str),
            )
            .and_then(|keys| {
                if keys.is_empty() {
                    Err("neither holds a key (the template's rule AtLeastOneKey requires one): nothing signed could be trusted".to_owned())
                } else {
                    Ok(keys)
                }
            })
            .map_err(|why| ConfigError::Malformed {
                name: "TRUSTED_KEY_1/TRUSTED_KEY_2",
                why,
            })?,
            max_view_seconds: parsed_or(env, "VIEW_URL_MAX_SECONDS", 3600, bounded(1, 7 * 86_400))?,
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
            ip_bounds: IpBounds {
                min_ipv4_prefix: parsed_or(env, "VIEW_URL_MIN_IPV4_PREFIX", 16, bounded(0, 32))?,
                min_ipv6_prefix: parsed_or(env, "VIEW_URL_MIN_IPV6_PREFIX", 32, bounded(0, 128))?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUSTED: &str = concat!(
        "K1 ",
        include_str!("../../../shared/testdata/rsa2048-public.pem")
    );

    #[test]
    fn a_stack_whose_key_slots_are_empty_does_not_start() {
        let env = [
            ("BUCKET_NAME", "b"),
            ("TABLE_NAME", "t"),
            ("JWT_ISSUER", "https://issuer.example"),
            ("SIGNING_KEY_SECRET_ID", "s"),
            ("CDN_BASE_URL", "https://cdn.example.com"),
            ("TRUSTED_KEY_1", ""),
        ];
        let err = Config::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("TRUSTED_KEY_1/TRUSTED_KEY_2"), "{err}");
        assert!(err.contains("AtLeastOneKey"), "{err}");
        let mut second = env;
        second[5] = ("TRUSTED_KEY_2", TRUSTED);
        assert_eq!(
            Config::from_env(&second)
                .unwrap()
                .trusted_keys
                .ids()
                .count(),
            1
        );
    }
}
