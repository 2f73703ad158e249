//! Checking a signed URL the way CloudFront does: the CDN stand-in and the tests use it.

use std::net::IpAddr;

use aws_lc_rs::signature::{self as lc, UnparsedPublicKey};

use super::policy::{MalformedPolicy, Policy, cloudfront_base64_decode};
use super::signing_key::{HashAlgorithm, KeyError};

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
#[derive(Clone, Debug)]
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

/// The signing values of a request: from the query string (signed URLs) or from the
/// `CloudFront-*` cookies (signed cookies).
#[derive(Default)]
struct Signed<'a> {
    expires: Option<&'a str>,
    policy: Option<&'a str>,
    signature: Option<&'a str>,
    key_pair_id: Option<&'a str>,
    hash: Option<&'a str>,
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
    let mut signed = Signed::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "Expires" => &mut signed.expires,
            "Policy" => &mut signed.policy,
            "Signature" => &mut signed.signature,
            "Key-Pair-Id" => &mut signed.key_pair_id,
            "Hash-Algorithm" => &mut signed.hash,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        if slot.replace(value).is_some() {
            return Err(VerifyError::Ambiguous);
        }
    }
    let resource = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    verify_signed(keys, request, &resource, &signed)
}

/// Whether a URL carries any of CloudFront's signing parameters (then CloudFront checks the
/// URL, not the cookies).
pub fn has_url_signature(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            matches!(name, "Expires" | "Policy" | "Signature" | "Key-Pair-Id")
        })
    })
}

/// Check a request with signed cookies the way CloudFront does: the policy (canned
/// `CloudFront-Expires` or custom `CloudFront-Policy`) must be signed by a key of the group
/// and its resource must match the whole URL requested. `cookies` are the request's
/// `name=value` pairs; a name given twice is refused.
pub fn verify_signed_cookies(
    keys: &[VerifyingKey],
    request: &ViewerRequest<'_>,
    cookies: &[(&str, &str)],
) -> Result<Policy, VerifyError> {
    let mut signed = Signed::default();
    for (name, value) in cookies {
        let slot = match *name {
            "CloudFront-Expires" => &mut signed.expires,
            "CloudFront-Policy" => &mut signed.policy,
            "CloudFront-Signature" => &mut signed.signature,
            "CloudFront-Key-Pair-Id" => &mut signed.key_pair_id,
            "CloudFront-Hash-Algorithm" => &mut signed.hash,
            _ => continue,
        };
        if slot.replace(*value).is_some() {
            return Err(VerifyError::Ambiguous);
        }
    }
    verify_signed(keys, request, request.url, &signed)
}

fn verify_signed(
    keys: &[VerifyingKey],
    request: &ViewerRequest<'_>,
    resource: &str,
    signed: &Signed<'_>,
) -> Result<Policy, VerifyError> {
    let signature = signed.signature.ok_or(VerifyError::Missing("Signature"))?;
    let key_pair_id = signed
        .key_pair_id
        .ok_or(VerifyError::Missing("Key-Pair-Id"))?;
    let hash = match signed.hash {
        None => HashAlgorithm::Sha1,
        Some("SHA256") => HashAlgorithm::Sha256,
        Some(_) => return Err(VerifyError::BadHashAlgorithm),
    };
    let key = keys
        .iter()
        .find(|k| k.key_pair_id == key_pair_id)
        .ok_or(VerifyError::UnknownKey)?;
    let signature = cloudfront_base64_decode(signature).ok_or(VerifyError::BadSignature)?;

    let policy = match (signed.expires, signed.policy) {
        (Some(_), Some(_)) => return Err(VerifyError::Ambiguous),
        (None, None) => return Err(VerifyError::Missing("Expires or Policy")),
        (Some(expires), None) => {
            let expires: i64 = expires
                .parse()
                .map_err(|_| VerifyError::MalformedPolicy("Expires is not a number".into()))?;
            Policy::canned(resource.to_owned(), expires)
        }
        (None, Some(encoded)) => {
            let json = cloudfront_base64_decode(encoded)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| VerifyError::MalformedPolicy("Policy is not base64 JSON".into()))?;
            if !key.verify(json.as_bytes(), &signature, hash) {
                return Err(VerifyError::BadSignature);
            }
            let policy = Policy::from_json(&json)
                .map_err(|MalformedPolicy(why)| VerifyError::MalformedPolicy(why))?;
            if !wildcard_match(&policy.resource, resource) {
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
    crate::domain::view::Cidr::parse(cidr).is_some_and(|net| net.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::SigningKey;
    use crate::cloudfront::test_keys::*;

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
    fn signed_cookies_open_their_prefix_and_nothing_else() {
        let key = SigningKey::from_pem("K1", RSA_PKCS1).unwrap();
        let keys = [VerifyingKey::from_pem("K1", &key.public_key_pem()).unwrap()];
        let policy = Policy {
            resource: "https://d1.net/users/alice/*".into(),
            expires: 2_000,
            not_before: None,
            source_ip: None,
        };
        for hash in [HashAlgorithm::Sha1, HashAlgorithm::Sha256] {
            let cookies = key.sign_cookies(&policy, false, hash).unwrap().0;
            let names: Vec<&str> = cookies.iter().map(|(n, _)| *n).collect();
            assert_eq!(
                &names[..3],
                [
                    "CloudFront-Policy",
                    "CloudFront-Signature",
                    "CloudFront-Key-Pair-Id"
                ]
            );
            assert_eq!(
                names.len(),
                if hash == HashAlgorithm::Sha256 { 4 } else { 3 }
            );
            let jar: Vec<(&str, &str)> = cookies.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let at = |url: &str, now: i64, jar: &[(&str, &str)]| {
                verify_signed_cookies(
                    &keys,
                    &ViewerRequest {
                        url,
                        source_ip: None,
                        now,
                    },
                    jar,
                )
            };
            assert!(at("https://d1.net/users/alice/019a", 1_000, &jar).is_ok());
            assert!(at("https://d1.net/users/alice/a/b?x=1", 1_000, &jar).is_ok());
            assert_eq!(
                at("https://d1.net/users/bob/019a", 1_000, &jar).unwrap_err(),
                VerifyError::WrongResource
            );
            assert_eq!(
                at("https://d1.net/users/alice2/019a", 1_000, &jar).unwrap_err(),
                VerifyError::WrongResource
            );
            assert_eq!(
                at("https://d1.net/users/alice/019a", 2_000, &jar).unwrap_err(),
                VerifyError::Expired
            );
            let mut tampered = jar.clone();
            let flipped = format!("A{}", &jar[1].1[1..]);
            tampered[1].1 = &flipped;
            assert!(at("https://d1.net/users/alice/019a", 1_000, &tampered).is_err());
            let mut twice = jar.clone();
            twice.push(jar[0]);
            assert_eq!(
                at("https://d1.net/users/alice/019a", 1_000, &twice).unwrap_err(),
                VerifyError::Ambiguous
            );
            assert!(at("https://d1.net/users/alice/019a", 1_000, &[]).is_err());
        }
        assert!(has_url_signature("https://d1.net/a?Expires=1&Signature=x"));
        assert!(!has_url_signature("https://d1.net/a?v=2"));
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
