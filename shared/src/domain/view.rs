//! View URLs: which URL to sign for an object and until when.

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
}
