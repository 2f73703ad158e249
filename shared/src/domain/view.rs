//! View URLs: which URL to sign for an object, until when, and under which conditions (a
//! source address, a start time) when the caller asks for them.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The latest `AWS:EpochTime` CloudFront accepts in a policy.
pub const MAX_EPOCH_TIME: i64 = 2_147_483_647;

/// RFC 3986 unreserved characters and `/` stay; everything else is percent-encoded once.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The distribution's base URL (`CDN_BASE_URL`): scheme and host only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdnBase(String);

impl CdnBase {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("{text:?} must be an https:// URL"));
        }
        if url.host_str().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || url.path() != "/"
        {
            return Err(format!(
                "{text:?} must be scheme and host only, like https://d111111abcdef8.cloudfront.net"
            ));
        }
        let mut base = url.to_string();
        base.truncate(base.trim_end_matches('/').len());
        Ok(Self(base))
    }

    /// The exact URL a viewer requests for `key`: the path percent-encoded once.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.0, utf8_percent_encode(key, PATH))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expires_in must be a whole number of seconds from 1 to {max}")]
pub struct ExpiresInError {
    pub max: u64,
}

/// When a view URL expires: `expires_in` seconds from `now` (default and bound: `max`),
/// in whole seconds and never past CloudFront's `AWS:EpochTime` limit.
pub fn view_expiry(
    now: DateTime<Utc>,
    expires_in: Option<&str>,
    max: u64,
) -> Result<DateTime<Utc>, ExpiresInError> {
    let seconds = match expires_in {
        None => max,
        Some(text) => match text.parse::<u64>() {
            Ok(s) if (1..=max).contains(&s) => s,
            _ => return Err(ExpiresInError { max }),
        },
    };
    let at = super::time::whole_seconds(now)
        + Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 2));
    if at.timestamp() > MAX_EPOCH_TIME {
        return Err(ExpiresInError { max });
    }
    Ok(at)
}

/// An IP network in CIDR form, normalised (host bits cleared), as CloudFront's
/// `AWS:SourceIp` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    bits: u8,
}

impl Cidr {
    /// An address (a single-host network) or `address/bits`.
    pub fn parse(text: &str) -> Option<Self> {
        let (address, bits) = match text.split_once('/') {
            Some((address, bits)) => (address, Some(bits)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let width = if address.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => width,
            Some(bits) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) => {
                bits.parse::<u8>().ok().filter(|b| *b <= width)?
            }
            Some(_) => return None,
        };
        let network = match address {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & mask32(bits)).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & mask128(bits)).into()),
        };
        Some(Self { network, bits })
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }

    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.bits) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.bits) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(bits: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0)
}

fn mask128(bits: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.bits)
    }
}

/// How wide an `ip` condition may be (`VIEW_URL_MIN_IPV4_PREFIX`, `VIEW_URL_MIN_IPV6_PREFIX`):
/// a network wider than this is hardly a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpBounds {
    pub min_ipv4_prefix: u8,
    pub min_ipv6_prefix: u8,
}

impl Default for IpBounds {
    fn default() -> Self {
        Self {
            min_ipv4_prefix: 16,
            min_ipv6_prefix: 32,
        }
    }
}

/// The conditions of a custom policy the caller asked for; none means the canned form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewConditions {
    pub source_ip: Option<Cidr>,
    /// `DateGreaterThan`, epoch seconds.
    pub not_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewConditionError {
    #[error(
        "ip must be your address or a network (CIDR, like 203.0.113.0/24) that contains it, at most /{min_ipv4_prefix} wide for IPv4 and /{min_ipv6_prefix} for IPv6; your address is {caller}"
    )]
    Ip {
        caller: String,
        min_ipv4_prefix: u8,
        min_ipv6_prefix: u8,
    },
    #[error(
        "not_before must be an RFC 3339 time from now until before the URL expires ({expires_at})"
    )]
    NotBefore { expires_at: String },
}

/// Check the optional `ip` and `not_before` of a view-URL request against the caller's
/// address (as the API saw it), now, and the URL's expiry.
pub fn view_conditions(
    ip: Option<&str>,
    not_before: Option<&str>,
    caller: Option<IpAddr>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    bounds: IpBounds,
) -> Result<ViewConditions, ViewConditionError> {
    let source_ip = match ip.map(str::trim) {
        None => None,
        Some(text) => {
            let refused = || ViewConditionError::Ip {
                caller: caller.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                min_ipv4_prefix: bounds.min_ipv4_prefix,
                min_ipv6_prefix: bounds.min_ipv6_prefix,
            };
            let cidr = Cidr::parse(text).ok_or_else(refused)?;
            let min = if cidr.is_ipv4() {
                bounds.min_ipv4_prefix
            } else {
                bounds.min_ipv6_prefix
            };
            if cidr.bits() < min || !caller.is_some_and(|ip| cidr.contains(ip)) {
                return Err(refused());
            }
            Some(cidr)
        }
    };
    let not_before = match not_before {
        None => None,
        Some(text) => {
            let refused = || ViewConditionError::NotBefore {
                expires_at: super::time::rfc3339(expires_at),
            };
            let at = super::time::parse_rfc3339(text.trim()).ok_or_else(refused)?;
            let at = super::time::whole_seconds(at);
            if at < super::time::whole_seconds(now) || at >= expires_at {
                return Err(refused());
            }
            Some(at.timestamp())
        }
    };
    Ok(ViewConditions {
        source_ip,
        not_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn base_urls_are_scheme_and_host() {
        assert_eq!(
            CdnBase::parse("https://d1.cloudfront.net/")
                .unwrap()
                .as_str(),
            "https://d1.cloudfront.net"
        );
        assert_eq!(
            CdnBase::parse("http://127.0.0.1:4000").unwrap().as_str(),
            "http://127.0.0.1:4000"
        );
        for bad in [
            "d1.cloudfront.net",
            "ftp://x",
            "https://d1/x",
            "https://d1/?a=b",
            "https://d1/#f",
        ] {
            assert!(CdnBase::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_urls_encode_once() {
        let base = CdnBase::parse("https://d1.cloudfront.net").unwrap();
        assert_eq!(
            base.object_url("users/a_20b/x"),
            "https://d1.cloudfront.net/users/a_20b/x"
        );
        assert_eq!(
            base.object_url("a b+c%/ü"),
            "https://d1.cloudfront.net/a%20b%2Bc%25/%C3%BC"
        );
    }

    #[test]
    fn expiry_defaults_to_the_bound_and_refuses_out_of_range() {
        let now = Utc.timestamp_opt(1_000, 500).unwrap();
        // Whole seconds: the 500 ns of `now` are dropped, as the signed policy drops them.
        assert_eq!(
            view_expiry(now, None, 1800).unwrap(),
            Utc.timestamp_opt(2_800, 0).unwrap()
        );
        assert_eq!(
            view_expiry(now, Some("60"), 1800).unwrap().timestamp(),
            1_060
        );
        for bad in ["0", "1801", "-5", "1.5", "soon", ""] {
            assert_eq!(
                view_expiry(now, Some(bad), 1800),
                Err(ExpiresInError { max: 1800 }),
                "{bad}"
            );
        }
        let late = Utc.timestamp_opt(MAX_EPOCH_TIME - 10, 0).unwrap();
        assert!(view_expiry(late, Some("60"), 1800).is_err());
    }

    #[test]
    fn cidrs_parse_normalise_and_contain() {
        let net = Cidr::parse("203.0.113.77/24").unwrap();
        assert_eq!(net.to_string(), "203.0.113.0/24");
        assert!(net.contains("203.0.113.5".parse().unwrap()));
        assert!(!net.contains("203.0.114.5".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert_eq!(
            Cidr::parse("127.0.0.1").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(
            Cidr::parse("2001:db8::1/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().bits(), 0);
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "::/129",
            "x/8",
            "1.2.3.4/ 8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn view_conditions_hold_the_callers_address_and_the_urls_lifetime() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let expires = now + Duration::seconds(600);
        let me: IpAddr = "198.51.100.7".parse().unwrap();
        let ok = |ip: Option<&str>, nb: Option<&str>| {
            view_conditions(ip, nb, Some(me), now, expires, IpBounds::default())
        };
        assert_eq!(ok(None, None).unwrap(), ViewConditions::default());
        let got = ok(Some("198.51.100.0/24"), Some("2026-01-01T00:05:00Z")).unwrap();
        assert_eq!(got.source_ip.unwrap().to_string(), "198.51.100.0/24");
        assert_eq!(got.not_before, Some(now.timestamp() + 300));
        assert_eq!(
            ok(Some("198.51.100.7"), None)
                .unwrap()
                .source_ip
                .unwrap()
                .bits(),
            32
        );
        for refused in [
            "203.0.113.0/24",
            "198.51.0.0/15",
            "0.0.0.0/0",
            "::1",
            "nonsense",
        ] {
            assert!(
                matches!(ok(Some(refused), None), Err(ViewConditionError::Ip { .. })),
                "{refused}"
            );
        }
        assert!(
            view_conditions(
                Some("198.51.100.7"),
                None,
                None,
                now,
                expires,
                IpBounds::default()
            )
            .is_err(),
            "an unknown caller address contains nothing"
        );
        for refused in [
            "2025-12-31T23:59:00Z",
            "2026-01-01T00:10:00Z",
            "tomorrow",
            "1767225600",
        ] {
            assert!(
                matches!(
                    ok(None, Some(refused)),
                    Err(ViewConditionError::NotBefore { .. })
                ),
                "{refused}"
            );
        }
        let err = ok(Some("10.0.0.0/8"), None).unwrap_err().to_string();
        assert!(err.contains("198.51.100.7"), "{err}");
    }
}
