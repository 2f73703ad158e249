//! A CloudFront signing key: parsed once from PEM, then signing policies and URLs.
//!
//! Engines: SHA-256 RSA signatures come from aws-lc-rs (≈0.3 ms per RSA-2048 signature on
//! our 2-core machine, on a par with openssl). aws-lc-rs cannot sign RSA-SHA1, CloudFront's
//! default, so SHA-1 signatures come from the RustCrypto `rsa` crate (≈2 ms, and see
//! RUSTSEC-2023-0071). ECDSA P-256 keys always sign SHA-256 with aws-lc-rs.

use std::fmt::{self, Write as _};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use sha1::Sha1;

use super::policy::{Policy, cloudfront_base64};

/// The hash under the RSA signature. CloudFront's default is SHA-1; SHA-256 adds
/// `Hash-Algorithm=SHA256` to the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
}

impl HashAlgorithm {
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "sha1" | "sha-1" => Some(Self::Sha1),
            "sha256" | "sha-256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        })
    }
}

/// Why a private key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the private key is not PEM")]
    NotPem,
    #[error("unsupported PEM block {0:?}: expected RSA PRIVATE KEY, PRIVATE KEY or EC PRIVATE KEY")]
    UnsupportedLabel(String),
    #[error("the private key could not be parsed: {0}")]
    Invalid(String),
    #[error("RSA keys must be at least 2048 bits")]
    TooSmall,
    #[error("the key pair id must be non-empty letters and digits")]
    BadKeyPairId,
}

enum Engine {
    Rsa {
        lc: RsaKeyPair,
        sha1: Box<rsa::pkcs1v15::SigningKey<Sha1>>,
    },
    Ecdsa(EcdsaKeyPair),
}

/// A parsed CloudFront signing key and its key pair id. Parse once, sign many times.
pub struct SigningKey {
    key_pair_id: String,
    engine: Engine,
    rng: SystemRandom,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("key_pair_id", &self.key_pair_id)
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub enum SignError {
    Crypto,
}

impl SigningKey {
    /// Accepts PKCS#1 (`BEGIN RSA PRIVATE KEY`), PKCS#8 (`BEGIN PRIVATE KEY`, RSA or P-256)
    /// and SEC1 (`BEGIN EC PRIVATE KEY`, P-256).
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, KeyError> {
        if key_pair_id.is_empty() || !key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::BadKeyPairId);
        }
        // The key's DER is wiped when dropped (the `rsa` key and the PKCS#8 copy made for
        // aws-lc-rs wipe themselves; aws-lc clears its own copies when freed).
        let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
            .map(|(label, der)| (label, zeroize::Zeroizing::new(der)))
            .map_err(|_| KeyError::NotPem)?;
        let engine = match label {
            "RSA PRIVATE KEY" => {
                let key = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                    .map_err(|e| KeyError::Invalid(e.to_string()))?;
                rsa_engine(key)?
            }
            "PRIVATE KEY" => match rsa::RsaPrivateKey::from_pkcs8_der(&der) {
                Ok(key) => rsa_engine(key)?,
                Err(_) => Engine::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(&lc::ECDSA_P256_SHA256_ASN1_SIGNING, &der)
                        .map_err(|e| KeyError::Invalid(format!("neither RSA nor P-256: {e}")))?,
                ),
            },
            "EC PRIVATE KEY" => Engine::Ecdsa(
                EcdsaKeyPair::from_private_key_der(&lc::ECDSA_P256_SHA256_ASN1_SIGNING, &der)
                    .map_err(|e| KeyError::Invalid(format!("not a P-256 key: {e}")))?,
            ),
            other => return Err(KeyError::UnsupportedLabel(other.to_owned())),
        };
        Ok(Self {
            key_pair_id: key_pair_id.to_owned(),
            engine,
            rng: SystemRandom::new(),
        })
    }

    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    pub fn kind(&self) -> &'static str {
        match self.engine {
            Engine::Rsa { .. } => "rsa",
            Engine::Ecdsa(_) => "ecdsa-p256",
        }
    }

    /// The hash actually used for `requested`: ECDSA keys always sign SHA-256.
    pub fn effective_hash(&self, requested: HashAlgorithm) -> HashAlgorithm {
        match self.engine {
            Engine::Rsa { .. } => requested,
            Engine::Ecdsa(_) => HashAlgorithm::Sha256,
        }
    }

    /// The public key as SubjectPublicKeyInfo PEM, as CloudFront's public key upload wants.
    pub fn public_key_pem(&self) -> String {
        pem_rfc7468::encode_string(
            "PUBLIC KEY",
            pem_rfc7468::LineEnding::LF,
            &self.public_key_der(),
        )
        .unwrap_or_default()
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        match &self.engine {
            Engine::Rsa { sha1, .. } => {
                use rsa::pkcs8::EncodePublicKey as _;
                let public = rsa::RsaPublicKey::from((**sha1).as_ref());
                public
                    .to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default()
            }
            Engine::Ecdsa(pair) => ec_spki(pair.public_key().as_ref()),
        }
    }

    /// Sign raw bytes (the policy JSON).
    pub fn sign(&self, message: &[u8], hash: HashAlgorithm) -> Result<Vec<u8>, SignError> {
        match (&self.engine, self.effective_hash(hash)) {
            (Engine::Rsa { lc, .. }, HashAlgorithm::Sha256) => {
                let mut signature = vec![0; lc.public_modulus_len()];
                lc.sign(&lc::RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| SignError::Crypto)?;
                Ok(signature)
            }
            (Engine::Rsa { sha1, .. }, HashAlgorithm::Sha1) => {
                // Randomized signing blinds the private-key operation.
                let mut rng = rsa::rand_core::OsRng;
                let signature = sha1
                    .try_sign_with_rng(&mut rng, message)
                    .map_err(|_| SignError::Crypto)?;
                Ok(signature.to_vec())
            }
            (Engine::Ecdsa(pair), _) => Ok(pair
                .sign(&self.rng, message)
                .map_err(|_| SignError::Crypto)?
                .as_ref()
                .to_vec()),
        }
    }

    /// Sign `url` with a canned policy valid until `expires` (epoch seconds).
    ///
    /// `url` must already be exactly what the viewer will request (percent-encoded); it is
    /// signed as is.
    pub fn sign_canned_url(
        &self,
        url: &str,
        expires: i64,
        hash: HashAlgorithm,
    ) -> Result<String, SignError> {
        self.sign_url(url, &Policy::canned(url, expires), hash)
    }

    /// Sign `url` under `policy`: canned form when the policy is canned and its resource is
    /// `url`, custom (`Policy=`) otherwise.
    pub fn sign_url(
        &self,
        url: &str,
        policy: &Policy,
        hash: HashAlgorithm,
    ) -> Result<String, SignError> {
        let json = policy.to_json();
        let signature = cloudfront_base64(&self.sign(json.as_bytes(), hash)?);
        let separator = if url.contains('?') { '&' } else { '?' };
        let mut out = String::with_capacity(url.len() + signature.len() + 128);
        out.push_str(url);
        out.push(separator);
        if policy.is_canned() && policy.resource == url {
            let _ = write!(out, "Expires={}", policy.expires);
        } else {
            out.push_str("Policy=");
            out.push_str(&cloudfront_base64(json.as_bytes()));
        }
        let _ = write!(
            out,
            "&Signature={signature}&Key-Pair-Id={}",
            self.key_pair_id
        );
        if self.effective_hash(hash) == HashAlgorithm::Sha256 {
            out.push_str("&Hash-Algorithm=SHA256");
        }
        Ok(out)
    }
}

/// CloudFront's signed cookies for one policy: each `(name, value)` goes into its own
/// `Set-Cookie` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCookies(pub Vec<(&'static str, String)>);

impl SigningKey {
    /// The signed cookies for `policy`: `CloudFront-Expires` (canned) or `CloudFront-Policy`
    /// (custom), `CloudFront-Signature`, `CloudFront-Key-Pair-Id`, and
    /// `CloudFront-Hash-Algorithm=SHA256` when the signature uses SHA-256. The values are
    /// those of a signed URL for the same policy.
    pub fn sign_cookies(
        &self,
        policy: &Policy,
        canned: bool,
        hash: HashAlgorithm,
    ) -> Result<SignedCookies, SignError> {
        let json = policy.to_json();
        let signature = cloudfront_base64(&self.sign(json.as_bytes(), hash)?);
        let mut cookies = Vec::with_capacity(4);
        if canned && policy.is_canned() {
            cookies.push(("CloudFront-Expires", policy.expires.to_string()));
        } else {
            cookies.push(("CloudFront-Policy", cloudfront_base64(json.as_bytes())));
        }
        cookies.push(("CloudFront-Signature", signature));
        cookies.push(("CloudFront-Key-Pair-Id", self.key_pair_id.clone()));
        if self.effective_hash(hash) == HashAlgorithm::Sha256 {
            cookies.push(("CloudFront-Hash-Algorithm", "SHA256".to_owned()));
        }
        Ok(SignedCookies(cookies))
    }
}

fn rsa_engine(key: rsa::RsaPrivateKey) -> Result<Engine, KeyError> {
    use rsa::traits::PublicKeyParts as _;
    if key.n().bits() < 2048 {
        return Err(KeyError::TooSmall);
    }
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Invalid(e.to_string()))?;
    let lc =
        RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(|e| KeyError::Invalid(e.to_string()))?;
    Ok(Engine::Rsa {
        lc,
        sha1: Box::new(rsa::pkcs1v15::SigningKey::<Sha1>::new(key)),
    })
}

/// SubjectPublicKeyInfo DER for an uncompressed P-256 point.
fn ec_spki(point: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING point }
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(point);
    der
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::test_keys::*;

    #[test]
    fn pkcs1_and_pkcs8_load_the_same_rsa_key() {
        let a = SigningKey::from_pem("K1", RSA_PKCS1).unwrap();
        let b = SigningKey::from_pem("K1", RSA_PKCS8).unwrap();
        assert_eq!(a.public_key_pem(), b.public_key_pem());
        assert_eq!(a.public_key_pem().trim(), RSA_PUBLIC.trim());
        // PKCS#1 v1.5 is deterministic: both engines give the same bytes.
        for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
            assert_eq!(a.sign(b"x", hash).unwrap(), b.sign(b"x", hash).unwrap());
        }
    }

    #[test]
    fn ec_keys_load_from_pkcs8_and_sec1() {
        let a = SigningKey::from_pem("K2", EC_PKCS8).unwrap();
        let b = SigningKey::from_pem("K2", EC_SEC1).unwrap();
        assert_eq!(a.kind(), "ecdsa-p256");
        assert_eq!(a.public_key_pem(), b.public_key_pem());
        assert_eq!(a.public_key_pem().trim(), EC_PUBLIC.trim());
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        assert_eq!(
            SigningKey::from_pem("K1", "hello").unwrap_err(),
            KeyError::NotPem
        );
        assert_eq!(
            SigningKey::from_pem("K1", RSA_1024).unwrap_err(),
            KeyError::TooSmall
        );
        assert_eq!(
            SigningKey::from_pem("", RSA_PKCS1).unwrap_err(),
            KeyError::BadKeyPairId
        );
        assert!(matches!(
            SigningKey::from_pem("K1", RSA_PUBLIC).unwrap_err(),
            KeyError::UnsupportedLabel(_)
        ));
        let truncated = RSA_PKCS8.replacen("MII", "MIJ", 1);
        assert!(SigningKey::from_pem("K1", &truncated).is_err());
    }
}
