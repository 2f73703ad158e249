//! `private-uploads keygen` and `private-uploads secret`: a CloudFront key pair, and the
//! signing-key secret's JSON, as the template and Secrets Manager want them. Each goes to a
//! named file; nothing secret is printed.

use anyhow::anyhow;
use std::io::Write as _;
use std::path::Path;

use shared::cloudfront::SigningKey;

use crate::keys::{KeyKind, generate};

/// Where `keygen` writes.
pub struct KeygenOut<'a> {
    pub public: &'a Path,
    pub private: Option<&'a Path>,
    /// The secret JSON, with the key pair id it names.
    pub secret: Option<(&'a Path, &'a str)>,
}

pub fn run(kind: KeyKind, out: &KeygenOut<'_>) -> anyhow::Result<()> {
    // Refuse before making anything: never overwrite a key, never leave half the files.
    for path in [Some(out.public), out.private, out.secret.map(|(p, _)| p)]
        .into_iter()
        .flatten()
    {
        if path.exists() {
            return Err(anyhow!(
                "{} exists already: remove it or choose another name (a key is never overwritten)",
                path.display()
            ));
        }
    }
    let pair = generate(kind)?;
    write_new(out.public, &pair.public_pem, 0o644)?;
    eprintln!(
        "wrote {}: the public key, for a key slot (CloudFrontPublicKeyPem or CloudFrontPublicKeyPem2)",
        out.public.display()
    );
    if let Some(private) = out.private {
        write_new(private, &pair.private_pem, 0o600)?;
        eprintln!(
            "wrote {}: the private key (keep it out of git; `private-uploads secret` makes the secret from it)",
            private.display()
        );
    }
    if let Some((path, key_pair_id)) = out.secret {
        write_new(path, &secret_json(key_pair_id, &pair.private_pem)?, 0o600)?;
        eprintln!(
            "wrote {}: the secret JSON (aws secretsmanager put-secret-value --secret-id <SecretArn> --secret-string file://{})",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// `secret`: the secret JSON for the private key in `key_file`, to `out` or stdout.
pub fn secret(key_pair_id: &str, key_file: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| anyhow!("cannot read {}: {e}", key_file.display()))?;
    let json =
        secret_json(key_pair_id, &pem).map_err(|e| anyhow!("{}: {e}", key_file.display()))?;
    match out {
        Some(path) => {
            if path.exists() {
                return Err(anyhow!(
                    "{} exists already: remove it first",
                    path.display()
                ));
            }
            write_new(path, &json, 0o600)?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{json}"),
    }
    Ok(())
}

/// The secret JSON `{"key_pair_id", "private_key_pem"}`, once the view function's own parser
/// accepts the key.
pub fn secret_json(key_pair_id: &str, private_pem: &str) -> anyhow::Result<String> {
    SigningKey::from_pem(key_pair_id, private_pem).map_err(|e| anyhow!("{e}"))?;
    let secret = serde_json::json!({"key_pair_id": key_pair_id, "private_key_pem": private_pem});
    serde_json::to_string_pretty(&secret).map_err(|e| anyhow!("{e}"))
}

/// Create `path` (never replacing a file) with `mode`, holding `text`.
fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

/// `--key-pair-id`: a CloudFront public key id, `K` and then capital letters and digits (the
/// stack's `KeyPairId` output, e.g. `K2JCJMDEHXQW5F`). A placeholder is refused here rather
/// than by the view function at its next refresh.
pub fn parse_key_pair_id(text: &str) -> anyhow::Result<String> {
    let well_formed = text.len() >= 6
        && text.len() <= 32
        && text.starts_with('K')
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if well_formed {
        Ok(text.to_owned())
    } else {
        Err(anyhow!(
            "{text:?} is not a CloudFront public key id: `K` and then capital letters and digits, \
             e.g. K2JCJMDEHXQW5F (the stack's KeyPairId or KeyPairId2 output)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn keygen_writes_named_files_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public.pem");
        let private = dir.path().join("private.pem");
        let secret_path = dir.path().join("secret.json");
        let out = KeygenOut {
            public: &public,
            private: Some(&private),
            secret: Some((&secret_path, "K2JCJMDEHXQW5F")),
        };
        run(KeyKind::Ecdsa, &out).unwrap();
        let public_pem = std::fs::read_to_string(&public).unwrap();
        assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let private_pem = std::fs::read_to_string(&private).unwrap();
        let secret: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&secret_path).unwrap()).unwrap();
        assert_eq!(secret["key_pair_id"], "K2JCJMDEHXQW5F");
        assert_eq!(secret["private_key_pem"], private_pem.as_str());
        for path in [&private, &secret_path] {
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by others", path.display());
        }
        // The pair is one: what the private key signs, the public key verifies.
        let key = SigningKey::from_pem("K2JCJMDEHXQW5F", &private_pem).unwrap();
        let signed = key
            .sign_canned_url(
                "https://d.example/x",
                2_000_000_000,
                shared::cloudfront::HashAlgorithm::Sha256,
            )
            .unwrap();
        let keys =
            [cloudfront_viewer::TrustedKey::from_pem("K2JCJMDEHXQW5F", &public_pem).unwrap()];
        cloudfront_viewer::verify_signed_url(
            &keys,
            &cloudfront_viewer::ViewerRequest {
                url: &signed,
                source_ip: None,
                now: 1,
            },
        )
        .unwrap();

        let err = run(KeyKind::Rsa, &out).unwrap_err();
        assert!(err.to_string().contains("exists already"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&private).unwrap(),
            private_pem,
            "kept"
        );
    }

    #[test]
    fn the_secret_is_made_from_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (public, private) = (dir.path().join("pub.pem"), dir.path().join("key.pem"));
        run(
            KeyKind::Rsa,
            &KeygenOut {
                public: &public,
                private: Some(&private),
                secret: None,
            },
        )
        .unwrap();
        let out = dir.path().join("secret.json");
        secret("K2JCJMDEHXQW5F", &private, Some(&out)).unwrap();
        let parsed = shared::cloudfront::parse_secret(&std::fs::read_to_string(&out).unwrap());
        assert!(parsed.is_ok(), "the view function's parser takes it");
        let err = secret("K2JCJMDEHXQW5F", &public, None).unwrap_err();
        assert!(
            err.to_string().contains("pub.pem"),
            "a public key is no signing key: {err}"
        );
    }

    #[test]
    fn key_pair_ids_are_checked() {
        for good in ["K2JCJMDEHXQW5F", "KLOCALDEVKEY01", "KLOCALNEXTKEY02"] {
            assert_eq!(parse_key_pair_id(good).unwrap(), good);
        }
        for bad in [
            "REPLACE_WITH_KeyPairId_OUTPUT",
            "",
            "K",
            "k2jcjmdehxqw5f",
            "APKAEIBAERJR2EXAMPLE",
            "K2JC JMD",
        ] {
            let err = parse_key_pair_id(bad).unwrap_err();
            assert!(err.to_string().contains("KeyPairId"), "{err}");
        }
    }
}
