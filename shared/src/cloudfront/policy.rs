//! CloudFront policies and CloudFront's URL-safe base64: the bytes a signature covers.
//!
//! A signed URL is the resource URL plus `Expires` (canned policy) or `Policy` (custom),
//! `Signature` and `Key-Pair-Id`, and `Hash-Algorithm=SHA256` when the signature uses
//! SHA-256. The signature covers the policy JSON byte for byte, so [`Policy::to_json`]
//! writes exactly the documented form with no whitespace.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::pyjson::push_json_string;

pub use crate::domain::view::MAX_EPOCH_TIME;

/// CloudFront refuses longer URLs.
pub const MAX_URL_BYTES: usize = 8192;

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

/// Why a policy could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedPolicy(pub String);

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
    pub fn from_json(json: &str) -> Result<Self, MalformedPolicy> {
        let bad = |why: &str| MalformedPolicy(why.to_owned());
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn url_safe_base64_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = cloudfront_base64(&bytes);
        assert!(!text.contains(['+', '=', '/']));
        assert_eq!(cloudfront_base64(&[0xfb, 0xff]), "-~8_");
        assert_eq!(cloudfront_base64_decode(&text), Some(bytes));
    }
}
