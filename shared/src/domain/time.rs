//! Time as the API shows it: RFC 3339, UTC, whole seconds.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Drop sub-second precision, so a time that is shown and a time that is signed agree.
pub fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(at.timestamp(), 0).single().unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_utc_seconds() {
        let t = Utc.timestamp_opt(1_767_290_400, 123_000_000).unwrap();
        assert_eq!(rfc3339(t), "2026-01-01T18:00:00Z");
        assert_eq!(
            parse_rfc3339("2026-01-01T18:00:00Z"),
            Some(whole_seconds(t))
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T19:00:00+01:00"),
            Some(whole_seconds(t))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
