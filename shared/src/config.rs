//! Reading configuration from the environment once, at start: the parsers every function's
//! `config.rs` uses, and what the domain's rules read (the upload rules, the quota, the
//! per-credential object limit).
//!
//! A missing or malformed variable is an error naming it, so the function stops at start
//! with a message that says what to fix, instead of failing on some later request.

use std::str::FromStr;

use crate::domain::active_content::is_script_capable;
use crate::domain::lifecycle::QuotaLimits;
use crate::domain::upload::{ContentType, ContentTypeRule, MAX_OBJECT_BYTES, MIB, UploadRules};

#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is malformed: {why}")]
    Malformed { name: &'static str, why: String },
}

/// `main` returning this error prints it with `Debug`: make that the sentence, so a
/// function that cannot start says exactly which variable to fix.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// The environment as a lookup function, so tests need not touch the process environment.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// An environment that remembers every name asked of it: which variables a `Config` reads
/// (the tests compare them with what `template.yaml` sets).
pub struct Recording<'a> {
    inner: &'a dyn Env,
    asked: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl<'a> Recording<'a> {
    pub fn new(inner: &'a dyn Env) -> Self {
        Self {
            inner,
            asked: Default::default(),
        }
    }

    pub fn asked(&self) -> std::collections::BTreeSet<String> {
        self.asked.borrow().clone()
    }
}

impl Env for Recording<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().insert(name.to_owned());
        self.inner.get(name)
    }
}

/// A required, non-empty variable.
pub fn required(env: &dyn Env, name: &'static str) -> Result<String, ConfigError> {
    match env.get(name) {
        Some(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// An optional variable parsed with `parse`, or `default` when unset or empty.
pub fn parsed_or<T>(
    env: &dyn Env,
    name: &'static str,
    default: T,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match env.get(name) {
        Some(value) if !value.trim().is_empty() => {
            parse(value.trim()).map_err(|why| ConfigError::Malformed { name, why })
        }
        _ => Ok(default),
    }
}

/// An integer within `min..=max`.
pub fn bounded<T>(min: T, max: T) -> impl FnOnce(&str) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    move |text| match text.parse::<T>() {
        Ok(value) if value >= min && value <= max => Ok(value),
        _ => Err(format!(
            "{text:?} is not a whole number from {min} to {max}"
        )),
    }
}

/// An S3 endpoint override (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`), as the AWS SDKs
/// read it: `None` on AWS; the local stack's S3 when set.
pub fn s3_endpoint(env: &dyn Env) -> Result<Option<String>, ConfigError> {
    endpoint(env, ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
}

/// An STS endpoint override (`AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`): `None` on AWS;
/// the local stack's STS when set.
pub fn sts_endpoint(env: &dyn Env) -> Result<Option<String>, ConfigError> {
    endpoint(env, ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"])
}

fn endpoint(env: &dyn Env, names: [&'static str; 2]) -> Result<Option<String>, ConfigError> {
    for name in names {
        if let Some(value) = env.get(name).filter(|v| !v.trim().is_empty()) {
            let value = value.trim().to_owned();
            return match url::Url::parse(&value) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(Some(value)),
                _ => Err(ConfigError::Malformed {
                    name,
                    why: format!("{value:?} is not an http(s) URL"),
                }),
            };
        }
    }
    Ok(None)
}

// ---- What the domain's rules read from the environment.

impl UploadRules {
    /// `ALLOWED_CONTENT_TYPES` (required, comma-separated) and `MAX_UPLOAD_BYTES` (default
    /// 100 MiB, at most 5 TiB).
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        let name = "ALLOWED_CONTENT_TYPES";
        let allowed_types = required(env, name)?
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(ContentTypeRule::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| ConfigError::Malformed { name, why })?;
        if allowed_types.is_empty() {
            return Err(ConfigError::Malformed {
                name,
                why: "lists no media type".into(),
            });
        }
        let name = "ACTIVE_CONTENT_TYPES";
        let active_types = env
            .get(name)
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                let parsed = ContentType::parse(t.trim()).map_err(|e| e.to_string())?;
                if !is_script_capable(parsed.essence()) {
                    return Err(format!(
                        "{} is not a script-capable type: the allow-list is enough",
                        parsed.essence()
                    ));
                }
                Ok(parsed.essence().to_owned())
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|why| ConfigError::Malformed { name, why })?;
        Ok(Self {
            allowed_types,
            max_bytes: parsed_or(
                env,
                "MAX_UPLOAD_BYTES",
                100 * MIB,
                bounded(1, MAX_OBJECT_BYTES),
            )?,
            active_types,
        })
    }
}

impl QuotaLimits {
    /// `QUOTA_BYTES` (default 10 GiB) and `QUOTA_FILES` (default 10,000).
    pub fn from_env(env: &dyn Env) -> Result<Self, ConfigError> {
        Ok(Self {
            max_bytes: parsed_or(
                env,
                "QUOTA_BYTES",
                10 * 1024 * 1024 * 1024,
                bounded(1, u64::MAX / 2),
            )?,
            max_files: parsed_or(env, "QUOTA_FILES", 10_000, bounded(1, 1_000_000))?,
        })
    }
}

/// `CREDENTIALS_MAX_OBJECTS` (default 100, 1 to 10,000): how many objects one set of
/// temporary credentials may add. The upload function tells the client; record-ownership
/// enforces it.
pub fn credentials_max_objects(env: &dyn Env) -> Result<u64, ConfigError> {
    parsed_or(env, "CREDENTIALS_MAX_OBJECTS", 100, bounded(1, 10_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable() {
        let env = [("A", "5"), ("B", "x"), ("EMPTY", " ")];
        assert_eq!(required(&env, "A").unwrap(), "5");
        assert_eq!(required(&env, "EMPTY"), Err(ConfigError::Missing("EMPTY")));
        assert_eq!(
            required(&env, "NOPE").unwrap_err().to_string(),
            "environment variable NOPE is not set"
        );
        assert_eq!(parsed_or(&env, "A", 1u64, bounded(1, 10)), Ok(5));
        assert_eq!(parsed_or(&env, "NOPE", 7u64, bounded(1, 10)), Ok(7));
        let err = parsed_or(&env, "B", 7u64, bounded(1, 10)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable B is malformed: \"x\" is not a whole number from 1 to 10"
        );
        assert!(parsed_or(&[("A", "11")], "A", 7u64, bounded(1, 10)).is_err());
    }

    #[test]
    fn a_recording_environment_lists_what_was_read() {
        let env = [("A", "1")];
        let recording = Recording::new(&env);
        assert_eq!(required(&recording, "A").unwrap(), "1");
        assert!(required(&recording, "B").is_err());
        let asked: Vec<String> = recording.asked().into_iter().collect();
        assert_eq!(asked, ["A", "B"]);
    }

    #[test]
    fn the_s3_endpoint_prefers_the_s3_override() {
        assert_eq!(s3_endpoint(&[("X", "1")]), Ok(None));
        let both = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2"),
        ];
        assert_eq!(s3_endpoint(&both), Ok(Some("http://127.0.0.1:2".into())));
        assert_eq!(
            s3_endpoint(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:1")]),
            Ok(Some("http://127.0.0.1:1".into()))
        );
        assert_eq!(
            sts_endpoint(&[
                ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:3"),
                ("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:2")
            ]),
            Ok(Some("http://127.0.0.1:3".into()))
        );
        let err = s3_endpoint(&[("AWS_ENDPOINT_URL_S3", "127.0.0.1:2")]).unwrap_err();
        assert!(err.to_string().contains("AWS_ENDPOINT_URL_S3"), "{err}");
    }

    #[test]
    fn active_content_types_are_script_capable_ones() {
        let env = [
            ("ALLOWED_CONTENT_TYPES", "*/*"),
            ("ACTIVE_CONTENT_TYPES", "image/svg+xml, text/html"),
        ];
        assert_eq!(
            UploadRules::from_env(&env).unwrap().active_types,
            ["image/svg+xml", "text/html"]
        );
        let passive = [
            ("ALLOWED_CONTENT_TYPES", "*/*"),
            ("ACTIVE_CONTENT_TYPES", "image/png"),
        ];
        assert!(
            UploadRules::from_env(&passive).is_err(),
            "only script-capable types"
        );
    }
}
