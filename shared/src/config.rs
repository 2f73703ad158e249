//! Reading configuration from the environment once, at start.
//!
//! A missing or malformed variable is an error naming it, so the function stops at start
//! with a message that says what to fix, instead of failing on some later request.

use std::str::FromStr;

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
}
