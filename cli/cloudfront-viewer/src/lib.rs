//! What CloudFront checks before it serves a viewer a file of a distribution whose behaviour
//! trusts a key group: the signed URL, or, for a URL with no signature, the signed cookies.
//! The CDN stand-in (`private-uploads up`) and the tests decide with it.
//!
//! It is written from CloudFront's documentation ("Create a signed URL using a canned
//! policy", "… using a custom policy", "Set signed cookies using a canned/custom policy"), not
//! from the signer (`shared::cloudfront`), so that a test signed by our code and accepted here
//! shows what CloudFront would accept:
//! - a canned policy is rebuilt from the documented statement, byte for byte:
//!   `{"Statement":[{"Resource":"<URL>","Condition":{"DateLessThan":{"AWS:EpochTime":<n>}}}]}`;
//! - a custom policy is checked over the very bytes the request carries, then read as JSON;
//! - each signature is checked by another engine than the one that made it (see Cargo.toml);
//! - `Signature` and `Policy` use CloudFront's base64 (`+` → `-`, `=` → `_`, `/` → `~`).

use std::net::IpAddr;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, UnparsedPublicKey};
use base64::Engine as _;
use p256::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;
use serde_json::Value;

/// Why CloudFront refuses a request (it answers 403 to each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request is missing {0}")]
    Missing(&'static str),
    #[error("a signing parameter or cookie is given twice, or both Expires and Policy")]
    Ambiguous,
    #[error("the key group has no key {0:?}")]
    UnknownKey(String),
    #[error("Hash-Algorithm {0:?} is neither absent (SHA1) nor SHA256")]
    BadHashAlgorithm(String),
    #[error("malformed policy: {0}")]
    MalformedPolicy(String),
    #[error("the signature does not match the policy")]
    BadSignature,
    #[error("the policy expired at {0}")]
    Expired(i64),
    #[error("the policy is valid only after {0}")]
    NotYetValid(i64),
    #[error("the policy's resource does not match the URL requested")]
    WrongResource,
    #[error("the policy does not allow this source IP")]
    WrongSourceIp,
}

/// A public key of the key group (`-----BEGIN PUBLIC KEY-----`: RSA or ECDSA P-256).
#[derive(Clone)]
pub struct TrustedKey {
    pub key_pair_id: String,
    public: Public,
}

#[derive(Clone)]
enum Public {
    Rsa {
        key: rsa::RsaPublicKey,
        spki_der: Vec<u8>,
    },
    P256(p256::ecdsa::VerifyingKey),
}

impl TrustedKey {
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self, String> {
        let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
            .map_err(|e| format!("not a PEM public key: {e}"))?;
        if label != "PUBLIC KEY" {
            return Err(format!("a {label}, not a PUBLIC KEY"));
        }
        let public = if let Ok(key) = rsa::pkcs8::DecodePublicKey::from_public_key_der(&der) {
            Public::Rsa { key, spki_der: der }
        } else {
            let key = p256::PublicKey::from_public_key_der(&der)
                .map_err(|_| "neither an RSA nor a P-256 public key".to_owned())?;
            Public::P256(p256::ecdsa::VerifyingKey::from(&key))
        };
        Ok(Self {
            key_pair_id: key_pair_id.to_owned(),
            public,
        })
    }

    /// RSA with PKCS#1 v1.5 and SHA-1 or SHA-256; ECDSA P-256 with SHA-256 only (DER).
    fn verifies(&self, message: &[u8], signature: &[u8], sha256: bool) -> bool {
        match (&self.public, sha256) {
            (Public::Rsa { spki_der, .. }, false) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, spki_der)
                    .verify(message, signature)
                    .is_ok()
            }
            (Public::Rsa { key, .. }, true) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|signature| {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.clone())
                        .verify(message, &signature)
                        .is_ok()
                }),
            (Public::P256(key), true) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            (Public::P256(_), false) => false,
        }
    }
}

/// A viewer's request as CloudFront receives it.
pub struct ViewerRequest<'a> {
    /// Scheme, host, path and query exactly as requested.
    pub url: &'a str,
    pub source_ip: Option<IpAddr>,
    /// Unix time of the request.
    pub now: i64,
}

/// What a request was let through by: the policy it carried, as read from the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub key_pair_id: String,
    /// The policy's `Resource` (for a canned policy: the URL without the signing values).
    pub resource: String,
    pub expires: i64,
    pub not_before: Option<i64>,
    pub source_ip: Option<String>,
    /// A custom policy (`Policy`), not a canned one (`Expires`).
    pub custom: bool,
}

/// The signing values of a request, from the query string or from the cookies.
#[derive(Default)]
struct Signed<'a> {
    expires: Option<&'a str>,
    policy: Option<&'a str>,
    signature: Option<&'a str>,
    key_pair_id: Option<&'a str>,
    hash_algorithm: Option<&'a str>,
}

impl<'a> Signed<'a> {
    fn take(&mut self, name: &str, value: &'a str) -> Result<bool, Refusal> {
        let slot = match name {
            "Expires" => &mut self.expires,
            "Policy" => &mut self.policy,
            "Signature" => &mut self.signature,
            "Key-Pair-Id" => &mut self.key_pair_id,
            "Hash-Algorithm" => &mut self.hash_algorithm,
            _ => return Ok(false),
        };
        match slot.replace(value) {
            Some(_) => Err(Refusal::Ambiguous),
            None => Ok(true),
        }
    }
}

/// Whether a URL carries a signing parameter: then CloudFront checks the URL, and never the
/// cookies.
pub fn has_url_signature(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            matches!(
                name,
                "Expires" | "Policy" | "Signature" | "Key-Pair-Id" | "Hash-Algorithm"
            )
        })
    })
}

/// A signed URL: the resource is the URL with the signing parameters taken out.
pub fn verify_signed_url(
    keys: &[TrustedKey],
    request: &ViewerRequest<'_>,
) -> Result<Grant, Refusal> {
    let (base, query) = request.url.split_once('?').unwrap_or((request.url, ""));
    let mut signed = Signed::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !signed.take(name, value)? {
            kept.push(pair);
        }
    }
    let resource = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    decide(keys, request, &resource, &signed)
}

/// Signed cookies (`CloudFront-Policy` or `CloudFront-Expires`, `CloudFront-Signature`,
/// `CloudFront-Key-Pair-Id`, and `CloudFront-Hash-Algorithm`): the resource is the URL as
/// requested. `cookies` are the request's name/value pairs.
pub fn verify_signed_cookies(
    keys: &[TrustedKey],
    request: &ViewerRequest<'_>,
    cookies: &[(&str, &str)],
) -> Result<Grant, Refusal> {
    let mut signed = Signed::default();
    for (name, value) in cookies {
        if let Some(name) = name.strip_prefix("CloudFront-") {
            signed.take(name, value)?;
        }
    }
    decide(keys, request, request.url, &signed)
}

/// The documented canned policy statement, with no whitespace, the resource a JSON string.
/// A URL as it reaches CloudFront is ASCII with nothing JSON escapes; others (raw Unicode, a
/// quote) are escaped as JSON escapes them with only ASCII out (`\"`, `\\`, `\u00e9`),
/// as botocore's signer writes them.
pub fn canned_policy(resource: &str, expires: i64) -> String {
    let mut quoted = String::with_capacity(resource.len() + 2);
    quoted.push('"');
    for c in resource.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            ' '..='~' => quoted.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    quoted.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    quoted.push('"');
    format!(
        r#"{{"Statement":[{{"Resource":{quoted},"Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

/// CloudFront's base64: standard base64 with `-`, `_`, `~` for `+`, `=`, `/`.
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
    base64::engine::general_purpose::STANDARD
        .decode(standard)
        .ok()
}

fn decide(
    keys: &[TrustedKey],
    request: &ViewerRequest<'_>,
    resource: &str,
    signed: &Signed<'_>,
) -> Result<Grant, Refusal> {
    let signature = signed.signature.ok_or(Refusal::Missing("Signature"))?;
    let key_pair_id = signed.key_pair_id.ok_or(Refusal::Missing("Key-Pair-Id"))?;
    let sha256 = match signed.hash_algorithm {
        None => false,
        Some("SHA256") => true,
        Some(other) => return Err(Refusal::BadHashAlgorithm(other.to_owned())),
    };
    let key = keys
        .iter()
        .find(|k| k.key_pair_id == key_pair_id)
        .ok_or_else(|| Refusal::UnknownKey(key_pair_id.to_owned()))?;
    let signature = cloudfront_base64_decode(signature).ok_or(Refusal::BadSignature)?;
    let grant = match (signed.expires, signed.policy) {
        (Some(_), Some(_)) => return Err(Refusal::Ambiguous),
        (None, None) => return Err(Refusal::Missing("Expires or Policy")),
        (Some(expires), None) => {
            let expires: i64 = expires
                .parse()
                .ok()
                .filter(|t| (0..=2_147_483_647).contains(t))
                .ok_or_else(|| Refusal::MalformedPolicy("Expires is not a Unix time".into()))?;
            if !key.verifies(
                canned_policy(resource, expires).as_bytes(),
                &signature,
                sha256,
            ) {
                return Err(Refusal::BadSignature);
            }
            Grant {
                key_pair_id: key_pair_id.to_owned(),
                resource: resource.to_owned(),
                expires,
                not_before: None,
                source_ip: None,
                custom: false,
            }
        }
        (None, Some(policy)) => {
            let bytes = cloudfront_base64_decode(policy).ok_or_else(|| {
                Refusal::MalformedPolicy("Policy is not CloudFront base64".into())
            })?;
            if !key.verifies(&bytes, &signature, sha256) {
                return Err(Refusal::BadSignature);
            }
            let grant = read_custom_policy(&bytes, key_pair_id)?;
            if !wildcard_match(&grant.resource, resource) {
                return Err(Refusal::WrongResource);
            }
            grant
        }
    };
    if request.now >= grant.expires {
        return Err(Refusal::Expired(grant.expires));
    }
    if let Some(start) = grant.not_before
        && request.now <= start
    {
        return Err(Refusal::NotYetValid(start));
    }
    if let Some(cidr) = &grant.source_ip {
        let inside = request
            .source_ip
            .is_some_and(|ip| cidr_contains(cidr, ip).unwrap_or(false));
        if !inside {
            return Err(Refusal::WrongSourceIp);
        }
    }
    Ok(grant)
}

/// A custom policy's one statement: `Resource` (absent: any), `DateLessThan` (required),
/// `DateGreaterThan` and `IpAddress` (optional); anything else refused.
fn read_custom_policy(bytes: &[u8], key_pair_id: &str) -> Result<Grant, Refusal> {
    let bad = |why: &str| Refusal::MalformedPolicy(why.to_owned());
    let policy: Value = serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
    let statements = policy["Statement"]
        .as_array()
        .ok_or_else(|| bad("no Statement list"))?;
    let [statement] = statements.as_slice() else {
        return Err(bad("a policy holds exactly one statement"));
    };
    let statement = statement.as_object().ok_or_else(|| bad("statement"))?;
    if let Some(extra) = statement
        .keys()
        .find(|k| !matches!(k.as_str(), "Resource" | "Condition"))
    {
        return Err(bad(&format!("unknown statement field {extra}")));
    }
    let resource = match statement.get("Resource") {
        None => "*".to_owned(),
        Some(Value::String(resource)) => resource.clone(),
        Some(_) => return Err(bad("Resource is not a string")),
    };
    let condition = statement
        .get("Condition")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no Condition"))?;
    let epoch = |name: &str| -> Result<Option<i64>, Refusal> {
        match condition.get(name) {
            None => Ok(None),
            Some(value) => value["AWS:EpochTime"]
                .as_i64()
                .filter(|t| (0..=2_147_483_647).contains(t))
                .map(Some)
                .ok_or_else(|| bad(&format!("{name} needs AWS:EpochTime, a Unix time"))),
        }
    };
    let expires = epoch("DateLessThan")?.ok_or_else(|| bad("no DateLessThan"))?;
    let not_before = epoch("DateGreaterThan")?;
    let source_ip = match condition.get("IpAddress") {
        None => None,
        Some(value) => Some(
            value["AWS:SourceIp"]
                .as_str()
                .ok_or_else(|| bad("IpAddress needs AWS:SourceIp"))?
                .to_owned(),
        ),
    };
    if let Some(extra) = condition
        .keys()
        .find(|k| !matches!(k.as_str(), "DateLessThan" | "DateGreaterThan" | "IpAddress"))
    {
        return Err(bad(&format!("unknown condition {extra}")));
    }
    if source_ip
        .as_deref()
        .is_some_and(|cidr| cidr_contains(cidr, IpAddr::from([0, 0, 0, 0])).is_none())
    {
        return Err(bad("AWS:SourceIp is not an address or a CIDR block"));
    }
    Ok(Grant {
        key_pair_id: key_pair_id.to_owned(),
        resource,
        expires,
        not_before,
        source_ip,
        custom: true,
    })
}

/// CloudFront's (and IAM's) wildcards: `*` matches any run of characters, empty included;
/// `?` exactly one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[char], text: &[char]) -> bool {
        // Positions in `text` the pattern's prefix can reach, one pattern character at a time.
        let mut reach = vec![false; text.len() + 1];
        reach[0] = true;
        for &p in pattern {
            let mut next = vec![false; text.len() + 1];
            for at in 0..=text.len() {
                if !reach[at] {
                    continue;
                }
                match p {
                    '*' => next[at..].iter_mut().for_each(|r| *r = true),
                    '?' if at < text.len() => next[at + 1] = true,
                    c if at < text.len() && text[at] == c => next[at + 1] = true,
                    _ => {}
                }
            }
            reach = next;
        }
        reach[text.len()]
    }
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    matches(&pattern, &text)
}

/// Whether `ip` is in `cidr` (`192.0.2.0/24`, `2001:db8::/32`, or a bare address); `None`
/// when `cidr` is not one.
pub fn cidr_contains(cidr: &str, ip: IpAddr) -> Option<bool> {
    let (address, prefix) = match cidr.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
        None => (cidr, None),
    };
    let network: IpAddr = address.parse().ok()?;
    let (network, ip, bits) = match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        (IpAddr::V4(_), IpAddr::V6(_)) => return prefix.filter(|p| *p <= 32).map(|_| false),
        (IpAddr::V6(_), IpAddr::V4(_)) => return prefix.filter(|p| *p <= 128).map(|_| false),
    };
    let prefix = prefix.unwrap_or(bits);
    if prefix > bits {
        return None;
    }
    let mask = if prefix == 0 {
        0
    } else {
        (u128::MAX << (bits - prefix)) & (u128::MAX >> (128 - bits))
    };
    Some(network & mask == ip & mask)
}

#[cfg(test)]
mod tests;
