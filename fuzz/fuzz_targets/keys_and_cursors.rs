//! The identifiers that arrive from outside: owner ids from JWT `sub` claims (the encoding
//! must be injective and stay inside one path segment), object keys, file ids and listing
//! cursors (decoding must only ever give back a file id a cursor was made from).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::http::cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(owner) = OwnerId::from_sub(text) {
        assert_eq!(owner.sub(), text, "from_sub is reversible");
        assert!(!owner.as_str().contains('/'), "{}", owner.as_str());
        assert!(owner.as_str() != "." && owner.as_str() != "..");
        assert_eq!(
            OwnerId::from_encoded(owner.as_str()).ok().as_ref(),
            Some(&owner)
        );
        let key = ObjectKey::new(owner.clone(), FileId::generate());
        assert_eq!(ObjectKey::parse(&key.to_string()).ok().as_ref(), Some(&key));
    }
    if let Ok(key) = ObjectKey::parse(text) {
        assert_eq!(key.to_string(), text, "a parsed key prints as it was");
    }
    if let Some(after) = cursor::decode(text) {
        assert_eq!(cursor::decode(&cursor::encode(after)), Some(after));
    }
    if let Ok(id) = FileId::parse(text) {
        assert_eq!(FileId::parse(&id.to_string()).ok(), Some(id));
    }
});
