//! `private-uploads rotate-key`: one step of a signing-key rotation, applied to the secret's
//! JSON (read on stdin, written to stdout, so that it sits between `aws secretsmanager
//! get-secret-value` and `put-secret-value`; docs/operations.md, "Rotate the signing key", shows the pipeline).
//!
//! - `add --key-pair-id K2 --key-file next.pem`: the next key joins the secret (a single-key
//!   secret becomes `{"active": …, "keys": […]}`); the active key does not change.
//! - `activate K2`: the view functions sign with K2 from their next refresh.
//! - `remove K1`: drop a key that is no longer active (once every URL it signed expired).
//!
//! The result is parsed as the view function parses it before it is printed: a step that
//! would leave a secret the function cannot use is refused, and nothing is printed.

use anyhow::anyhow;
use std::io::Read as _;
use std::path::Path;

use serde_json::{Value, json};
use shared::cloudfront::{SigningKey, parse_secret};

pub enum Step<'a> {
    Add {
        key_pair_id: &'a str,
        key_file: &'a Path,
    },
    Activate(&'a str),
    Remove(&'a str),
}

pub fn run(step: &Step<'_>) -> anyhow::Result<()> {
    let mut current = String::new();
    std::io::stdin()
        .read_to_string(&mut current)
        .map_err(|e| anyhow!("cannot read the secret on stdin: {e}"))?;
    let next = apply(&current, step)?;
    println!("{next}");
    Ok(())
}

/// The secret after `step`, as pretty JSON.
pub fn apply(current: &str, step: &Step<'_>) -> anyhow::Result<String> {
    parse_secret(current).map_err(|e| anyhow!("the current secret is unusable: {e}"))?;
    let value: Value = serde_json::from_str(current).map_err(|e| anyhow!("{e}"))?;
    // Every secret in the set form.
    let (mut active, mut keys) = match value.get("keys") {
        Some(keys) => (
            value["active"].as_str().unwrap_or_default().to_owned(),
            keys.as_array().cloned().unwrap_or_default(),
        ),
        None => (
            value["key_pair_id"].as_str().unwrap_or_default().to_owned(),
            vec![
                json!({"key_pair_id": value["key_pair_id"], "private_key_pem": value["private_key_pem"]}),
            ],
        ),
    };
    let id_of = |key: &Value| key["key_pair_id"].as_str().unwrap_or_default().to_owned();
    match step {
        Step::Add {
            key_pair_id,
            key_file,
        } => {
            if keys.iter().any(|k| id_of(k) == *key_pair_id) {
                return Err(anyhow!("the secret holds {key_pair_id} already"));
            }
            let pem = std::fs::read_to_string(key_file)
                .map_err(|e| anyhow!("cannot read {}: {e}", key_file.display()))?;
            SigningKey::from_pem(key_pair_id, &pem)
                .map_err(|e| anyhow!("{}: {e}", key_file.display()))?;
            keys.push(json!({"key_pair_id": key_pair_id, "private_key_pem": pem}));
        }
        Step::Activate(id) => {
            if !keys.iter().any(|k| id_of(k) == *id) {
                return Err(anyhow!("the secret has no key {id}: add it first"));
            }
            active = (*id).to_owned();
        }
        Step::Remove(id) => {
            if active == *id {
                return Err(anyhow!(
                    "{id} is the active key: activate another one first"
                ));
            }
            let before = keys.len();
            keys.retain(|k| id_of(k) != *id);
            if keys.len() == before {
                return Err(anyhow!("the secret has no key {id}"));
            }
        }
    }
    let next = json!({"active": active, "keys": keys});
    let text = serde_json::to_string_pretty(&next).map_err(|e| anyhow!("{e}"))?;
    parse_secret(&text).map_err(|e| anyhow!("the result would be unusable: {e}"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, generate};

    #[test]
    fn a_rotation_adds_activates_and_removes_without_an_unusable_step() {
        let old = generate(KeyKind::Rsa).unwrap();
        let next = generate(KeyKind::Ecdsa).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let next_file = dir.path().join("next.pem");
        std::fs::write(&next_file, &next.private_pem).unwrap();
        let single = json!({"key_pair_id": "K1", "private_key_pem": old.private_pem}).to_string();

        let added = apply(
            &single,
            &Step::Add {
                key_pair_id: "K2",
                key_file: &next_file,
            },
        )
        .unwrap();
        assert_eq!(
            parse_secret(&added).unwrap().key_pair_id(),
            "K1",
            "K1 still signs"
        );
        let active = apply(&added, &Step::Activate("K2")).unwrap();
        assert_eq!(parse_secret(&active).unwrap().key_pair_id(), "K2");
        let done = apply(&active, &Step::Remove("K1")).unwrap();
        assert_eq!(parse_secret(&done).unwrap().key_pair_id(), "K2");
        assert!(!done.contains(&old.private_pem.lines().nth(1).unwrap().to_owned()));

        let refused =
            |current: &str, step: Step<'_>| apply(current, &step).unwrap_err().to_string();
        assert!(refused(&active, Step::Remove("K2")).contains("active key"));
        assert!(refused(&added, Step::Activate("K3")).contains("no key K3"));
        assert!(refused(&added, Step::Remove("K3")).contains("no key K3"));
        assert!(
            refused(
                &added,
                Step::Add {
                    key_pair_id: "K2",
                    key_file: &next_file
                }
            )
            .contains("already")
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a key").unwrap();
        assert!(
            apply(
                &single,
                &Step::Add {
                    key_pair_id: "K9",
                    key_file: &junk
                }
            )
            .is_err()
        );
        assert!(refused("{}", Step::Activate("K1")).starts_with("the current secret is unusable"));
    }
}
