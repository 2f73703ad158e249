//! CloudFront signed URLs: policies, CloudFront's URL-safe base64, signing and verifying.
//!
//! A signed URL is the resource URL plus `Expires` (canned policy) or `Policy` (custom),
//! `Signature` and `Key-Pair-Id`, and `Hash-Algorithm=SHA256` when the signature uses
//! SHA-256. The signature covers the policy JSON byte for byte, so [`Policy::to_json`]
//! writes exactly the documented form with no whitespace.
//!
//! Engines: SHA-256 RSA signatures come from aws-lc-rs (≈0.3 ms per RSA-2048 signature on
//! our 2-core machine, on a par with openssl). aws-lc-rs cannot sign RSA-SHA1, CloudFront's
//! default, so SHA-1 signatures come from the RustCrypto `rsa` crate (≈2 ms, and see
//! RUSTSEC-2023-0071). ECDSA P-256 keys always sign SHA-256 with aws-lc-rs.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as lc, EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use sha1::Sha1;

/// The latest `AWS:EpochTime` CloudFront accepts.
pub const MAX_EPOCH_TIME: i64 = 2_147_483_647;
/// CloudFront refuses longer URLs.
pub const MAX_URL_BYTES: usize = 8192;

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

/// CloudFront's URL-safe base64: standard base64 with `+`→`-`, `=`→`_`, `/`→`~`.
pub fn cloudfront_base64(bytes: &[u8]) -> String {
    STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            other => other,
        })
        .collect()
}

/// The inverse of [`cloudfront_base64`].
pub fn cloudfront_base64_decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            other => other,
        })
        .collect();
    STANDARD.decode(standard).ok()
}

/// A policy statement: canned (resource and expiry only) or custom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub resource: String,
    /// `DateLessThan`, epoch seconds.
    pub expires: i64,
    /// `DateGreaterThan`, epoch seconds.
    pub not_before: Option<i64>,
    /// `IpAddress` / `AWS:SourceIp`, a CIDR.
    pub source_ip: Option<String>,
}

impl Policy {
    pub fn canned(resource: impl Into<String>, expires: i64) -> Self {
        Self {
            resource: resource.into(),
            expires,
            not_before: None,
            source_ip: None,
        }
    }

    pub fn is_canned(&self) -> bool {
        self.not_before.is_none() && self.source_ip.is_none()
    }

    /// The policy JSON exactly as CloudFront documents it, with no whitespace:
    /// `{"Statement":[{"Resource":"…","Condition":{"DateLessThan":{"AWS:EpochTime":N}}}]}`.
    /// Strings are escaped as Python's `json.dumps` does (non-ASCII as `\uXXXX`), so the
    /// bytes match botocore's signer for any resource.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(self.resource.len() + 96);
        out.push_str("{\"Statement\":[{\"Resource\":");
        push_json_string(&mut out, &self.resource);
        out.push_str(",\"Condition\":{\"DateLessThan\":{\"AWS:EpochTime\":");
        let _ = write!(out, "{}", self.expires);
        out.push('}');
        if let Some(cidr) = &self.source_ip {
            out.push_str(",\"IpAddress\":{\"AWS:SourceIp\":");
            push_json_string(&mut out, cidr);
            out.push('}');
        }
        if let Some(start) = self.not_before {
            let _ = write!(out, ",\"DateGreaterThan\":{{\"AWS:EpochTime\":{start}}}");
        }
        out.push_str("}}]}");
        out
    }

    /// Read a custom policy back (the CDN stand-in does this).
    pub fn from_json(json: &str) -> Result<Self, VerifyError> {
        let bad = |why: &str| VerifyError::MalformedPolicy(why.to_owned());
        let value: serde_json::Value = serde_json::from_str(json).map_err(|_| bad("not JSON"))?;
        let statements = value
            .get("Statement")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("no Statement array"))?;
        let [statement] = statements.as_slice() else {
            return Err(bad("exactly one statement is supported"));
        };
        let resource = statement
            .get("Resource")
            .and_then(|r| r.as_str())
            .ok_or_else(|| bad("no Resource"))?
            .to_owned();
        let condition = statement
            .get("Condition")
            .ok_or_else(|| bad("no Condition"))?;
        let epoch = |name: &str| {
            condition.get(name).map(|c| {
                c.get("AWS:EpochTime")
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(|| bad("AWS:EpochTime must be an integer"))
            })
        };
        let expires = epoch("DateLessThan").ok_or_else(|| bad("no DateLessThan"))??;
        let not_before = epoch("DateGreaterThan").transpose()?;
        let source_ip = match condition.get("IpAddress") {
            None => None,
            Some(ip) => Some(
                ip.get("AWS:SourceIp")
                    .and_then(|s| s.as_str())
                    .ok_or_else(|| bad("IpAddress needs AWS:SourceIp"))?
                    .to_owned(),
            ),
        };
        Ok(Self {
            resource,
            expires,
            not_before,
            source_ip,
        })
    }
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
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
        let (label, der) =
            pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|_| KeyError::NotPem)?;
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
        let spki = match &self.engine {
            Engine::Rsa { sha1, .. } => {
                use rsa::pkcs8::EncodePublicKey as _;
                let public = rsa::RsaPublicKey::from((**sha1).as_ref());
                public
                    .to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default()
            }
            Engine::Ecdsa(pair) => ec_spki(pair.public_key().as_ref()),
        };
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &spki)
            .unwrap_or_default()
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

/// Why a signed URL was refused (CloudFront answers 403 to all of these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the URL is missing {0}")]
    Missing(&'static str),
    #[error("the URL has both Expires and Policy, or a parameter twice")]
    Ambiguous,
    #[error("unknown Key-Pair-Id")]
    UnknownKey,
    #[error("the Hash-Algorithm is not SHA256")]
    BadHashAlgorithm,
    #[error("malformed policy: {0}")]
    MalformedPolicy(String),
    #[error("the signature does not match")]
    BadSignature,
    #[error("the URL has expired")]
    Expired,
    #[error("the URL is not valid yet")]
    NotYetValid,
    #[error("the policy does not cover this resource")]
    WrongResource,
    #[error("the policy does not allow this source IP")]
    WrongSourceIp,
}

/// A public key as CloudFront holds it in a key group.
pub struct VerifyingKey {
    pub key_pair_id: String,
    spki_der: Vec<u8>,
    is_ec: bool,
}

impl VerifyingKey {
    /// From `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) PEM, RSA or P-256.
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, KeyError> {
        let (label, der) =
            pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|_| KeyError::NotPem)?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::UnsupportedLabel(label.to_owned()));
        }
        // id-ecPublicKey OID bytes appear in the algorithm identifier of EC keys only.
        let is_ec = der
            .windows(7)
            .any(|w| w == [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]);
        Ok(Self {
            key_pair_id: key_pair_id.to_owned(),
            spki_der: der,
            is_ec,
        })
    }

    fn verify(&self, message: &[u8], signature: &[u8], hash: HashAlgorithm) -> bool {
        let algorithm: &'static dyn lc::VerificationAlgorithm = match (self.is_ec, hash) {
            (true, HashAlgorithm::Sha256) => &lc::ECDSA_P256_SHA256_ASN1,
            (true, HashAlgorithm::Sha1) => return false,
            (false, HashAlgorithm::Sha256) => &lc::RSA_PKCS1_2048_8192_SHA256,
            (false, HashAlgorithm::Sha1) => &lc::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        };
        UnparsedPublicKey::new(algorithm, &self.spki_der)
            .verify(message, signature)
            .is_ok()
    }
}

/// What a viewer request presents: the URL as received and where it came from.
pub struct ViewerRequest<'a> {
    /// Scheme, host, path and query exactly as requested.
    pub url: &'a str,
    pub source_ip: Option<IpAddr>,
    pub now: i64,
}

/// Check a signed URL the way CloudFront does: find the key by `Key-Pair-Id`, rebuild the
/// resource (the URL without the signing parameters), check the signature over the
/// canned or custom policy, then the policy's conditions.
pub fn verify_signed_url(
    keys: &[VerifyingKey],
    request: &ViewerRequest<'_>,
) -> Result<Policy, VerifyError> {
    let (base, query) = match request.url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (request.url, ""),
    };
    let mut kept = Vec::new();
    let (mut expires, mut policy, mut signature, mut key_pair_id, mut hash) =
        (None, None, None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "Expires" => &mut expires,
            "Policy" => &mut policy,
            "Signature" => &mut signature,
            "Key-Pair-Id" => &mut key_pair_id,
            "Hash-Algorithm" => &mut hash,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        if slot.replace(value).is_some() {
            return Err(VerifyError::Ambiguous);
        }
    }
    let signature = signature.ok_or(VerifyError::Missing("Signature"))?;
    let key_pair_id = key_pair_id.ok_or(VerifyError::Missing("Key-Pair-Id"))?;
    let hash = match hash {
        None => HashAlgorithm::Sha1,
        Some("SHA256") => HashAlgorithm::Sha256,
        Some(_) => return Err(VerifyError::BadHashAlgorithm),
    };
    let key = keys
        .iter()
        .find(|k| k.key_pair_id == key_pair_id)
        .ok_or(VerifyError::UnknownKey)?;
    let resource = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let signature = cloudfront_base64_decode(signature).ok_or(VerifyError::BadSignature)?;

    let policy = match (expires, policy) {
        (Some(_), Some(_)) => return Err(VerifyError::Ambiguous),
        (None, None) => return Err(VerifyError::Missing("Expires or Policy")),
        (Some(expires), None) => {
            let expires: i64 = expires
                .parse()
                .map_err(|_| VerifyError::MalformedPolicy("Expires is not a number".into()))?;
            Policy::canned(resource.clone(), expires)
        }
        (None, Some(encoded)) => {
            let json = cloudfront_base64_decode(encoded)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| VerifyError::MalformedPolicy("Policy is not base64 JSON".into()))?;
            if !key.verify(json.as_bytes(), &signature, hash) {
                return Err(VerifyError::BadSignature);
            }
            let policy = Policy::from_json(&json)?;
            if !wildcard_match(&policy.resource, &resource) {
                return Err(VerifyError::WrongResource);
            }
            check_conditions(&policy, request)?;
            return Ok(policy);
        }
    };
    if !key.verify(policy.to_json().as_bytes(), &signature, hash) {
        return Err(VerifyError::BadSignature);
    }
    check_conditions(&policy, request)?;
    Ok(policy)
}

fn check_conditions(policy: &Policy, request: &ViewerRequest<'_>) -> Result<(), VerifyError> {
    if request.now >= policy.expires {
        return Err(VerifyError::Expired);
    }
    if policy.not_before.is_some_and(|start| request.now <= start) {
        return Err(VerifyError::NotYetValid);
    }
    if let Some(cidr) = &policy.source_ip {
        let allowed = request.source_ip.is_some_and(|ip| cidr_contains(cidr, ip));
        if !allowed {
            return Err(VerifyError::WrongSourceIp);
        }
    }
    Ok(())
}

/// CloudFront policy wildcards: `*` any run of characters, `?` exactly one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (net, bits) = match cidr.split_once('/') {
        Some((net, bits)) => (net, bits.parse::<u32>().ok()),
        None => (cidr, None),
    };
    match (net.parse::<IpAddr>(), ip) {
        (Ok(IpAddr::V4(net)), IpAddr::V4(ip)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(net) & mask == u32::from(ip) & mask
        }
        (Ok(IpAddr::V6(net)), IpAddr::V6(ip)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(net) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const RSA_PKCS1: &str = include_str!("../testdata/rsa2048-pkcs1.pem");
    pub(crate) const RSA_PKCS8: &str = include_str!("../testdata/rsa2048-pkcs8.pem");
    pub(crate) const RSA_PUBLIC: &str = include_str!("../testdata/rsa2048-public.pem");
    pub(crate) const EC_PKCS8: &str = include_str!("../testdata/p256-pkcs8.pem");
    pub(crate) const EC_SEC1: &str = include_str!("../testdata/p256-sec1.pem");
    pub(crate) const EC_PUBLIC: &str = include_str!("../testdata/p256-public.pem");
    const RSA_1024: &str = include_str!("../testdata/rsa1024-pkcs1.pem");

    #[test]
    fn canned_policy_is_the_documented_json() {
        let policy = Policy::canned(
            "https://d111111abcdef8.cloudfront.net/image.jpg",
            1767290400,
        );
        assert_eq!(
            policy.to_json(),
            r#"{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/image.jpg","Condition":{"DateLessThan":{"AWS:EpochTime":1767290400}}}]}"#
        );
    }

    #[test]
    fn custom_policy_orders_conditions_as_botocore_does() {
        let policy = Policy {
            resource: "https://d.example/*".into(),
            expires: 20,
            not_before: Some(10),
            source_ip: Some("192.0.2.0/24".into()),
        };
        assert_eq!(
            policy.to_json(),
            r#"{"Statement":[{"Resource":"https://d.example/*","Condition":{"DateLessThan":{"AWS:EpochTime":20},"IpAddress":{"AWS:SourceIp":"192.0.2.0/24"},"DateGreaterThan":{"AWS:EpochTime":10}}}]}"#
        );
        assert_eq!(Policy::from_json(&policy.to_json()), Ok(policy));
    }

    #[test]
    fn json_strings_escape_like_python() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c/d\né😀\u{7f}");
        assert_eq!(out, r#""a\"b\\c/d\n\u00e9\ud83d\ude00\u007f""#);
    }

    #[test]
    fn url_safe_base64_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = cloudfront_base64(&bytes);
        assert!(!text.contains(['+', '=', '/']));
        assert_eq!(cloudfront_base64(&[0xfb, 0xff]), "-~8_");
        assert_eq!(cloudfront_base64_decode(&text), Some(bytes));
    }

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

    fn verify(url: &str, public: &str, now: i64) -> Result<Policy, VerifyError> {
        let keys = [VerifyingKey::from_pem("K1", public).unwrap()];
        verify_signed_url(
            &keys,
            &ViewerRequest {
                url,
                source_ip: None,
                now,
            },
        )
    }

    #[test]
    fn signed_urls_verify_for_every_engine() {
        let url = "https://d.example/users/alice/0190-x?v=1";
        for (pem, public, hash, suffix) in [
            (
                RSA_PKCS1,
                RSA_PUBLIC,
                HashAlgorithm::Sha1,
                "&Key-Pair-Id=K1",
            ),
            (
                RSA_PKCS1,
                RSA_PUBLIC,
                HashAlgorithm::Sha256,
                "&Key-Pair-Id=K1&Hash-Algorithm=SHA256",
            ),
            (
                EC_PKCS8,
                EC_PUBLIC,
                HashAlgorithm::Sha1,
                "&Key-Pair-Id=K1&Hash-Algorithm=SHA256",
            ),
        ] {
            let key = SigningKey::from_pem("K1", pem).unwrap();
            let signed = key.sign_canned_url(url, 2000, hash).unwrap();
            assert!(
                signed.starts_with(&format!("{url}&Expires=2000&Signature=")),
                "{signed}"
            );
            assert!(signed.ends_with(suffix), "{signed}");
            assert_eq!(
                verify(&signed, public, 1999).unwrap(),
                Policy::canned(url, 2000)
            );
            assert_eq!(verify(&signed, public, 2000), Err(VerifyError::Expired));
            let tampered = signed.replace("alice", "bob");
            assert_eq!(verify(&tampered, public, 1), Err(VerifyError::BadSignature));
            let later = signed.replace("Expires=2000", "Expires=3000");
            assert_eq!(verify(&later, public, 1), Err(VerifyError::BadSignature));
        }
    }

    #[test]
    fn verification_refuses_wrong_keys_and_shapes() {
        let key = SigningKey::from_pem("K1", RSA_PKCS1).unwrap();
        let signed = key
            .sign_canned_url("https://d.example/a", 2000, HashAlgorithm::Sha256)
            .unwrap();
        assert_eq!(
            verify(&signed, EC_PUBLIC, 1),
            Err(VerifyError::BadSignature)
        );
        let other_id = signed.replace("Key-Pair-Id=K1", "Key-Pair-Id=K9");
        assert_eq!(
            verify(&other_id, RSA_PUBLIC, 1),
            Err(VerifyError::UnknownKey)
        );
        let sha1_claimed = signed.replace("&Hash-Algorithm=SHA256", "");
        assert_eq!(
            verify(&sha1_claimed, RSA_PUBLIC, 1),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify("https://d.example/a", RSA_PUBLIC, 1),
            Err(VerifyError::Missing("Signature"))
        );
    }

    #[test]
    fn custom_policies_cover_wildcards_times_and_addresses() {
        let key = SigningKey::from_pem("K1", RSA_PKCS1).unwrap();
        let policy = Policy {
            resource: "https://d.example/users/alice/*".into(),
            expires: 100,
            not_before: Some(10),
            source_ip: Some("192.0.2.0/24".into()),
        };
        let url = "https://d.example/users/alice/f1";
        let signed = key.sign_url(url, &policy, HashAlgorithm::Sha1).unwrap();
        assert!(signed.contains("?Policy="));
        let keys = [VerifyingKey::from_pem("K1", RSA_PUBLIC).unwrap()];
        let at = |url: &str, ip: &str, now| {
            verify_signed_url(
                &keys,
                &ViewerRequest {
                    url,
                    source_ip: ip.parse().ok(),
                    now,
                },
            )
        };
        assert_eq!(at(&signed, "192.0.2.7", 50), Ok(policy.clone()));
        assert_eq!(
            at(&signed, "198.51.100.1", 50),
            Err(VerifyError::WrongSourceIp)
        );
        assert_eq!(at(&signed, "192.0.2.7", 5), Err(VerifyError::NotYetValid));
        assert_eq!(at(&signed, "192.0.2.7", 100), Err(VerifyError::Expired));
        let elsewhere = signed.replace("/users/alice/f1", "/users/bob/f1");
        assert_eq!(
            at(&elsewhere, "192.0.2.7", 50),
            Err(VerifyError::WrongResource)
        );
    }

    #[test]
    fn wildcards_match_as_cloudfront_documents() {
        assert!(wildcard_match("https://d/*", "https://d/a/b?c=d"));
        assert!(wildcard_match("https://d/a?c", "https://d/abc"));
        assert!(!wildcard_match("https://d/a?c", "https://d/ac"));
        assert!(!wildcard_match("https://d/a/*", "https://d/b/c"));
        assert!(wildcard_match("*", ""));
    }
}
