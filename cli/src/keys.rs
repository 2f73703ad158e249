//! Key pairs for local use and for operators: CloudFront signing keys (RSA-2048 or ECDSA
//! P-256) and the local JWT issuer's RSA key. PEM in, PEM out.

use anyhow::anyhow;
use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    Ecdsa,
}

/// A freshly made key pair as PEM: PKCS#8 private key and SubjectPublicKeyInfo public key.
pub struct PemPair {
    pub private_pem: String,
    pub public_pem: String,
}

fn pem(label: &str, der: &[u8]) -> anyhow::Result<String> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).map_err(|e| anyhow!("{e}"))
}

/// Make a CloudFront-compatible key pair: RSA-2048 or ECDSA P-256.
pub fn generate(kind: KeyKind) -> anyhow::Result<PemPair> {
    match kind {
        KeyKind::Rsa => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| anyhow!("RSA key generation failed"))?;
            let private: Pkcs8V1Der<'static> = pair
                .as_der()
                .map_err(|_| anyhow!("RSA key encoding failed"))?;
            let public: PublicKeyX509Der<'static> = pair
                .public_key()
                .as_der()
                .map_err(|_| anyhow!("RSA public key encoding failed"))?;
            Ok(PemPair {
                private_pem: pem("PRIVATE KEY", private.as_ref())?,
                public_pem: pem("PUBLIC KEY", public.as_ref())?,
            })
        }
        KeyKind::Ecdsa => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                .map_err(|_| anyhow!("EC key generation failed"))?;
            let private = pair
                .to_pkcs8v1()
                .map_err(|_| anyhow!("EC key encoding failed"))?;
            let public: PublicKeyX509Der<'static> = pair
                .public_key()
                .as_der()
                .map_err(|_| anyhow!("EC public key encoding failed"))?;
            Ok(PemPair {
                private_pem: pem("PRIVATE KEY", private.as_ref())?,
                public_pem: pem("PUBLIC KEY", public.as_ref())?,
            })
        }
    }
}

/// Load the key pair stored under `dir` as `{name}.pem` / `{name}.pub.pem`, making and
/// saving a new RSA pair the first time. Keys survive restarts, so tokens and URLs issued
/// by one run of the local stack stay valid in the next.
pub fn load_or_create(dir: &Path, name: &str) -> anyhow::Result<PemPair> {
    let private_path = dir.join(format!("{name}.pem"));
    let public_path = dir.join(format!("{name}.pub.pem"));
    if let (Ok(private_pem), Ok(public_pem)) = (
        std::fs::read_to_string(&private_path),
        std::fs::read_to_string(&public_path),
    ) {
        return Ok(PemPair {
            private_pem,
            public_pem,
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("cannot create {}: {e}", dir.display()))?;
    let pair = generate(KeyKind::Rsa)?;
    write_private(&private_path, &pair.private_pem)?;
    std::fs::write(&public_path, &pair.public_pem)
        .map_err(|e| anyhow!("cannot write {}: {e}", public_path.display()))?;
    Ok(pair)
}

/// Write a private key readable by its owner only.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudfront_viewer::{TrustedKey, ViewerRequest, verify_signed_url};
    use shared::cloudfront::{HashAlgorithm, SigningKey};

    #[test]
    fn generated_keys_sign_urls_that_verify() {
        for kind in [KeyKind::Rsa, KeyKind::Ecdsa] {
            let pair = generate(kind).unwrap();
            assert!(pair.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let key = SigningKey::from_pem("K1", &pair.private_pem).unwrap();
            assert_eq!(key.public_key_pem().trim(), pair.public_pem.trim());
            let url = key
                .sign_canned_url("https://d.example/x", 100, HashAlgorithm::Sha256)
                .unwrap();
            let keys = [TrustedKey::from_pem("K1", &pair.public_pem).unwrap()];
            verify_signed_url(
                &keys,
                &ViewerRequest {
                    url: &url,
                    source_ip: None,
                    now: 1,
                },
            )
            .unwrap();
        }
    }

    #[test]
    fn stored_keys_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), "k").unwrap();
        let second = load_or_create(dir.path(), "k").unwrap();
        assert_eq!(first.private_pem, second.private_pem);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("k.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
