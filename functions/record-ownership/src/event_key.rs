//! The object key of an S3 event notification, read at the edge: it arrives URL-encoded the
//! way HTML forms are (`+` for a space, `%XX` for other bytes) and is decoded exactly once.

use percent_encoding::percent_decode_str;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event's object key is not valid URL-encoded UTF-8")]
pub struct KeyDecodeError;

/// Decode an S3 event key: `+` → space, then `%XX` → byte, then UTF-8.
pub fn decode_event_key(raw: &str) -> Result<String, KeyDecodeError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| KeyDecodeError)
}

/// The inverse, as S3 writes keys into events (used by the local stack's event emitter).
pub fn encode_event_key(key: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b'/')
        .remove(b' ');
    utf8_percent_encode(key, KEEP).to_string().replace(' ', "+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_plus_percent_and_unicode() {
        assert_eq!(decode_event_key("users/a+b/c").unwrap(), "users/a b/c");
        assert_eq!(decode_event_key("users/a%2Bb/c").unwrap(), "users/a+b/c");
        assert_eq!(
            decode_event_key("users/%E5%86%99%E7%9C%9F").unwrap(),
            "users/写真"
        );
        assert_eq!(decode_event_key("users/a%25b").unwrap(), "users/a%b");
        // Decoded once: %2525 is a literal "%25", not "%".
        assert_eq!(decode_event_key("a%2525").unwrap(), "a%25");
        assert!(decode_event_key("%FF%FE").is_err());
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(key in "\\PC{0,80}") {
            prop_assert_eq!(decode_event_key(&encode_event_key(&key)).unwrap(), key);
        }
    }
}
