//! The opaque `cursor` of `GET /files`: the last file id of the previous page, in URL-safe
//! base64. Opaque so clients do not build them; harmless if forged, because a listing only
//! ever reads the caller's own partition.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::ids::FileId;

pub fn encode(after: FileId) -> String {
    URL_SAFE_NO_PAD.encode(after.uuid().as_bytes())
}

pub fn decode(cursor: &str) -> Option<FileId> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let uuid = uuid::Uuid::from_slice(&bytes).ok()?;
    FileId::parse(&uuid.hyphenated().to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_junk() {
        let id = FileId::generate();
        assert_eq!(decode(&encode(id)), Some(id));
        assert_eq!(decode("not a cursor"), None);
        assert_eq!(decode(""), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode([0u8; 16])), None);
    }
}
