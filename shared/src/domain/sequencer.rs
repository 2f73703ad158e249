//! Ordering S3 events for one key.
//!
//! S3 delivers events at least once, late and out of order. Each PUT or DELETE event carries a
//! `sequencer`, a hex string: for one key, the greater value is the later event. The S3
//! documentation says to right-pad the shorter value with zeros and compare the strings; we
//! store the padded form so DynamoDB's string comparison in a condition expression gives the
//! same order.

use std::fmt;

/// Width every sequencer is padded to. S3's are 16–18 hex digits today.
pub const WIDTH: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sequencer(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sequencer {0:?} is not 1 to {WIDTH} hex digits")]
pub struct SequencerError(pub String);

impl Sequencer {
    /// Parse the value from an S3 event.
    pub fn parse(raw: &str) -> Result<Self, SequencerError> {
        if raw.is_empty() || raw.len() > WIDTH || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SequencerError(raw.to_owned()));
        }
        let mut padded = raw.to_ascii_uppercase();
        padded.extend(std::iter::repeat_n('0', WIDTH - raw.len()));
        Ok(Self(padded))
    }

    /// The earliest possible value: an event without a sequencer orders before all others.
    pub fn earliest() -> Self {
        Self("0".repeat(WIDTH))
    }

    /// Read back the stored (already padded) form.
    pub fn from_stored(stored: &str) -> Result<Self, SequencerError> {
        if stored.len() != WIDTH {
            return Err(SequencerError(stored.to_owned()));
        }
        Self::parse(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sequencer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_values_are_right_padded_before_comparing() {
        let a = Sequencer::parse("0055AED6DCD90281E5").unwrap();
        let b = Sequencer::parse("0055AED6DCD90281E6").unwrap();
        assert!(a < b);
        // Right padding: "0056" means 0x0056000…, later than 0x0055AED6….
        assert!(Sequencer::parse("0056").unwrap() > a);
        assert!(Sequencer::parse("0055AED6DCD90281E500").unwrap() == a);
        assert!(Sequencer::parse("0055aed6dcd90281e5").unwrap() == a);
    }

    #[test]
    fn earliest_is_before_every_parsed_value() {
        assert_eq!(Sequencer::parse("0"), Ok(Sequencer::earliest()));
        assert!(Sequencer::earliest() < Sequencer::parse("00000000000000001").unwrap());
    }

    #[test]
    fn junk_is_refused() {
        assert!(Sequencer::parse("").is_err());
        assert!(Sequencer::parse("xyz").is_err());
        assert!(Sequencer::parse(&"F".repeat(WIDTH + 1)).is_err());
        assert!(Sequencer::from_stored("0055").is_err());
        let a = Sequencer::parse("0055").unwrap();
        assert_eq!(Sequencer::from_stored(a.as_str()), Ok(a));
    }
}
