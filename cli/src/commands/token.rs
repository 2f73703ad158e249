//! `private-uploads token USER`: a JWT the local stack of a data directory accepts.

use anyhow::anyhow;
use std::path::Path;

use crate::local::idp::LocalIdp;

pub fn run(user: &str, ttl: i64, data_dir: &Path) -> anyhow::Result<()> {
    if user.is_empty() || !(1..=86_400).contains(&ttl) {
        return Err(anyhow!(
            "USER must not be empty and --ttl must be 1 to 86400 seconds"
        ));
    }
    println!("{}", mint(user, ttl, data_dir)?);
    Ok(())
}

/// A token signed with the key `up --data-dir DATA_DIR` trusts. Refuses to make a new key:
/// a token from a key no running stack knows would only be refused later, with a 401.
pub fn mint(user: &str, ttl: i64, data_dir: &Path) -> anyhow::Result<String> {
    let key = data_dir.join("keys").join("jwt-signing.pem");
    if !key.is_file() {
        return Err(anyhow!(
            "{} has no local stack key ({} is missing): pass the --data-dir `up` was started with, or start `private-uploads up --data-dir {}` first",
            data_dir.display(),
            key.display(),
            super::shell_word(&data_dir.display().to_string()),
        ));
    }
    LocalIdp::for_data_dir(data_dir)?.mint(user, chrono::Utc::now().timestamp(), ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_only_from_an_existing_stack_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = mint("alice", 60, dir.path()).unwrap_err();
        assert!(err.to_string().contains("has no local stack key"), "{err}");
        assert!(!dir.path().join("keys").exists(), "no key was made");

        let idp = LocalIdp::for_data_dir(dir.path()).unwrap();
        let token = mint("alice", 60, dir.path()).unwrap();
        let authorizer = crate::local::authorizer::JwtAuthorizer::trusting(&idp).unwrap();
        let claims = authorizer
            .authorize(Some(&format!("Bearer {token}")))
            .unwrap();
        assert_eq!(claims["sub"], "alice");
    }
}
