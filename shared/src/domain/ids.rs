//! Who owns an object and where it lives.
//!
//! Every object lives at `users/{owner}/{file_id}`. `{owner}` is an injective, prefix-safe
//! encoding of the JWT's issuer and `sub`, and `{file_id}` is a server-generated UUIDv7, so
//! a key names exactly one owner and one file, and no caller can choose either part.

use std::fmt;

use uuid::Uuid;

/// The top-level prefix that holds every user's objects.
pub const USERS_PREFIX: &str = "users/";

/// Longest `sub` we accept, in bytes. OIDC does not bound it; 255 keeps the longest possible
/// key (`users/` + 3 × 255 + `/` + 36) far below S3's 1,024-byte limit.
pub const MAX_SUB_BYTES: usize = 255;

/// The owner segment of every key this user can touch, derived from the JWT's issuer and
/// `sub` ([`OwnerId::from_claims`]).
///
/// Encoding of the `sub`: ASCII letters, digits and `-` stay as they are; every other byte
/// of the UTF-8 `sub` (including `_` itself) becomes `_` followed by two lowercase hex
/// digits. The encoding is injective (it can be decoded), never contains `/` or `.`, and a
/// Cognito or Auth0 `sub` such as a UUID stays readable.
///
/// The issuer: a user of the stack's own issuer (the one its JWT authorizer trusts,
/// `JWT_ISSUER`) is the encoded `sub` alone, as before issuers were told apart, so existing
/// keys keep their owners. A user of any other issuer is `{tag}.{encoded sub}`, where `tag`
/// is 16 hex digits of the SHA-256 of the issuer: two providers that hand out the same
/// `sub` get two prefixes, and no issuer's owner can be another's (only those have a `.`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerIdError {
    #[error("the token's sub claim is empty")]
    EmptySub,
    #[error("the token's sub claim is longer than {MAX_SUB_BYTES} bytes")]
    SubTooLong,
    #[error("not an encoded owner id")]
    NotEncoded,
    #[error("the token's iss claim is empty")]
    EmptyIssuer,
}

/// Hex digits of an issuer's tag.
const TAG_LEN: usize = 16;

/// The tag of an issuer that is not the stack's own: 16 hex digits of its SHA-256.
fn issuer_tag(issuer: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(issuer.as_bytes());
    digest[..TAG_LEN / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

impl OwnerId {
    /// The owner of a token from `issuer` with `sub`, for a stack whose own issuer is
    /// `home_issuer` (see the type's documentation).
    pub fn from_claims(issuer: &str, sub: &str, home_issuer: &str) -> Result<Self, OwnerIdError> {
        if issuer.is_empty() {
            return Err(OwnerIdError::EmptyIssuer);
        }
        let encoded = Self::from_sub(sub)?;
        if issuer == home_issuer {
            return Ok(encoded);
        }
        Ok(Self(format!("{}.{}", issuer_tag(issuer), encoded.0)))
    }

    /// The owner for `sub` from the stack's own issuer.
    pub fn from_sub(sub: &str) -> Result<Self, OwnerIdError> {
        if sub.is_empty() {
            return Err(OwnerIdError::EmptySub);
        }
        if sub.len() > MAX_SUB_BYTES {
            return Err(OwnerIdError::SubTooLong);
        }
        let mut out = String::with_capacity(sub.len());
        for &byte in sub.as_bytes() {
            if is_kept(byte) {
                out.push(char::from(byte));
            } else {
                out.push('_');
                out.push_str(&format!("{byte:02x}"));
            }
        }
        Ok(Self(out))
    }

    /// Accept an already-encoded owner (from an object key) only if it is exactly what
    /// [`OwnerId::from_claims`] would produce for some issuer and `sub`.
    pub fn from_encoded(encoded: &str) -> Result<Self, OwnerIdError> {
        let (tag, rest) = match encoded.split_once('.') {
            Some((tag, rest))
                if tag.len() == TAG_LEN
                    && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                (Some(tag), rest)
            }
            Some(_) => return Err(OwnerIdError::NotEncoded),
            None => (None, encoded),
        };
        let sub = decode_owner(rest).ok_or(OwnerIdError::NotEncoded)?;
        let owner = Self::from_sub(&sub).map_err(|_| OwnerIdError::NotEncoded)?;
        if owner.0 != rest {
            return Err(OwnerIdError::NotEncoded);
        }
        Ok(match tag {
            Some(tag) => Self(format!("{tag}.{}", owner.0)),
            None => owner,
        })
    }

    /// The original `sub`.
    pub fn sub(&self) -> String {
        let rest = self.0.split_once('.').map_or(self.0.as_str(), |(_, r)| r);
        // Always decodable: the value was built by `from_sub` or `from_claims`.
        decode_owner(rest).unwrap_or_default()
    }

    /// Whether the owner comes from an issuer other than the stack's own.
    pub fn is_foreign(&self) -> bool {
        self.0.contains('.')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `users/{owner}/`: the prefix that holds all of this owner's objects.
    pub fn prefix(&self) -> String {
        format!("{USERS_PREFIX}{}/", self.0)
    }
}

fn decode_owner(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if is_kept(byte) {
            out.push(byte);
            i += 1;
        } else if byte == b'_' {
            let hex = encoded.get(i + 1..i + 3)?;
            if hex.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A file's identity: a UUIDv7 made by the server, so listings sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(Uuid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a file id (expected a lowercase hyphenated UUIDv7)")]
pub struct FileIdError;

impl FileId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parse the canonical form only (lowercase, hyphenated, version 7), so that one file
    /// has exactly one spelling and therefore one key.
    pub fn parse(text: &str) -> Result<Self, FileIdError> {
        let uuid = Uuid::try_parse(text).map_err(|_| FileIdError)?;
        if uuid.get_version_num() != 7 || uuid.hyphenated().to_string() != text {
            return Err(FileIdError);
        }
        Ok(Self(uuid))
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// `users/{owner}/{file_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub owner: OwnerId,
    pub file_id: FileId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a key of the form users/{{owner}}/{{file_id}}")]
pub struct ObjectKeyError;

impl ObjectKey {
    pub fn new(owner: OwnerId, file_id: FileId) -> Self {
        Self { owner, file_id }
    }

    /// Parse an already URL-decoded S3 key.
    pub fn parse(key: &str) -> Result<Self, ObjectKeyError> {
        let rest = key.strip_prefix(USERS_PREFIX).ok_or(ObjectKeyError)?;
        let (owner, file_id) = rest.split_once('/').ok_or(ObjectKeyError)?;
        Ok(Self {
            owner: OwnerId::from_encoded(owner).map_err(|_| ObjectKeyError)?,
            file_id: FileId::parse(file_id).map_err(|_| ObjectKeyError)?,
        })
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{USERS_PREFIX}{}/{}", self.owner, self.file_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uuid_subs_stay_readable() {
        let owner = OwnerId::from_sub("8f0c1b2a-1234-4abc-9def-0123456789ab").unwrap();
        assert_eq!(owner.as_str(), "8f0c1b2a-1234-4abc-9def-0123456789ab");
    }

    #[test]
    fn path_tricks_are_encoded_not_followed() {
        for (sub, want) in [
            ("../alice", "_2e_2e_2falice"),
            ("alice/..", "alice_2f_2e_2e"),
            ("a_b", "a_5fb"),
            ("a_5fb", "a_5f5fb"),
            ("user@example.com", "user_40example_2ecom"),
            ("ünï", "_c3_bcn_c3_af"),
        ] {
            let owner = OwnerId::from_sub(sub).unwrap();
            assert_eq!(owner.as_str(), want, "sub {sub:?}");
            assert_eq!(owner.sub(), sub);
        }
    }

    #[test]
    fn issuers_are_told_apart_and_the_stacks_own_keeps_its_old_owner_ids() {
        let home = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE";
        let other = "https://example.auth0.com/";
        let own = OwnerId::from_claims(home, "alice", home).unwrap();
        assert_eq!(
            own,
            OwnerId::from_sub("alice").unwrap(),
            "unchanged for the home issuer"
        );
        assert!(!own.is_foreign());
        let foreign = OwnerId::from_claims(other, "alice", home).unwrap();
        assert_ne!(
            foreign, own,
            "the same sub from another provider is another owner"
        );
        assert!(foreign.is_foreign());
        assert_eq!(foreign.sub(), "alice");
        let (tag, rest) = foreign.as_str().split_once('.').unwrap();
        assert_eq!((tag.len(), rest), (16, "alice"));
        assert_eq!(OwnerId::from_encoded(foreign.as_str()), Ok(foreign.clone()));
        // A third issuer, another tag; the same issuer, the same owner.
        let third = OwnerId::from_claims("https://accounts.google.com", "alice", home).unwrap();
        assert_ne!(third, foreign);
        assert_eq!(OwnerId::from_claims(other, "alice", home).unwrap(), foreign);
        assert_eq!(
            OwnerId::from_claims("", "alice", home),
            Err(OwnerIdError::EmptyIssuer)
        );
        assert_eq!(
            OwnerId::from_claims(other, "", home),
            Err(OwnerIdError::EmptySub)
        );
    }

    #[test]
    fn empty_and_overlong_subs_are_refused() {
        assert_eq!(OwnerId::from_sub(""), Err(OwnerIdError::EmptySub));
        assert_eq!(
            OwnerId::from_sub(&"x".repeat(MAX_SUB_BYTES + 1)),
            Err(OwnerIdError::SubTooLong)
        );
        assert!(OwnerId::from_sub(&"x".repeat(MAX_SUB_BYTES)).is_ok());
    }

    #[test]
    fn from_encoded_accepts_only_canonical_encodings() {
        assert!(OwnerId::from_encoded("alice").is_ok());
        assert!(OwnerId::from_encoded("a_5fb").is_ok());
        // `_2d` decodes to `-`, which the canonical encoding keeps as is.
        assert!(OwnerId::from_encoded("a_2db").is_err());
        assert!(OwnerId::from_encoded("a_5F").is_err());
        assert!(OwnerId::from_encoded("a_5").is_err());
        assert!(OwnerId::from_encoded("a.b").is_err());
        assert!(OwnerId::from_encoded("0123456789abcdef.alice").is_ok());
        assert!(OwnerId::from_encoded("0123456789ABCDEF.alice").is_err());
        assert!(OwnerId::from_encoded("0123456789abcde.alice").is_err());
        assert!(OwnerId::from_encoded("0123456789abcdef.").is_err());
        assert!(OwnerId::from_encoded("0123456789abcdef.a.b").is_err());
        assert!(OwnerId::from_encoded(".alice").is_err());
        assert!(OwnerId::from_encoded("").is_err());
        // Invalid UTF-8 once decoded.
        assert!(OwnerId::from_encoded("_ff").is_err());
    }

    #[test]
    fn file_ids_are_v7_and_canonical() {
        let id = FileId::generate();
        assert_eq!(FileId::parse(&id.to_string()), Ok(id));
        assert!(FileId::parse(&id.to_string().to_uppercase()).is_err());
        assert!(FileId::parse(&id.uuid().simple().to_string()).is_err());
        assert!(FileId::parse(&format!("{{{id}}}")).is_err());
        // A valid UUID of another version.
        assert!(FileId::parse("550e8400-e29b-41d4-a716-446655440000").is_err());
        assert!(FileId::parse("../../etc/passwd").is_err());
    }

    #[test]
    fn file_ids_sort_by_creation() {
        let first = FileId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = FileId::generate();
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn keys_round_trip_and_reject_foreign_shapes() {
        let key = ObjectKey::new(OwnerId::from_sub("a b").unwrap(), FileId::generate());
        let text = key.to_string();
        assert!(text.starts_with("users/a_20b/"));
        assert_eq!(ObjectKey::parse(&text), Ok(key.clone()));
        assert!(ObjectKey::parse(&format!("{text}/extra")).is_err());
        assert!(ObjectKey::parse(&text.replacen("users/", "other/", 1)).is_err());
        assert!(ObjectKey::parse("users/alice").is_err());
        assert!(ObjectKey::parse("users//x").is_err());
    }

    proptest! {
        #[test]
        fn owner_encoding_is_injective_and_safe(a in ".{1,60}", b in ".{1,60}") {
            let (oa, ob) = (OwnerId::from_sub(&a).unwrap(), OwnerId::from_sub(&b).unwrap());
            prop_assert_eq!(oa == ob, a == b);
            prop_assert_eq!(oa.sub(), a.clone());
            prop_assert!(oa.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
            prop_assert_eq!(OwnerId::from_encoded(oa.as_str()), Ok(oa.clone()));
            // No owner's prefix is a prefix of another owner's prefix.
            if a != b {
                prop_assert!(!ob.prefix().starts_with(&oa.prefix()));
            }
        }

        #[test]
        fn owners_of_any_issuers_never_collide_and_parse_back(
            a in ".{1,40}", b in ".{1,40}", ia in "[a-z:/.]{1,30}", ib in "[a-z:/.]{1,30}",
            home in "[a-z:/.]{1,30}",
        ) {
            let oa = OwnerId::from_claims(&ia, &a, &home).unwrap();
            let ob = OwnerId::from_claims(&ib, &b, &home).unwrap();
            let same_issuer = ia == ib;
            prop_assert_eq!(oa == ob, a == b && same_issuer);
            prop_assert_eq!(OwnerId::from_encoded(oa.as_str()), Ok(oa.clone()));
            prop_assert_eq!(oa.sub(), a.clone());
            prop_assert!(oa.as_str().bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)));
            if oa != ob {
                prop_assert!(!ob.prefix().starts_with(&oa.prefix()));
            }
            let key = ObjectKey::new(oa, FileId::generate());
            prop_assert_eq!(ObjectKey::parse(&key.to_string()), Ok(key));
        }

        #[test]
        fn keys_parse_back_for_any_sub(sub in ".{1,80}") {
            let key = ObjectKey::new(OwnerId::from_sub(&sub).unwrap(), FileId::generate());
            prop_assert_eq!(ObjectKey::parse(&key.to_string()), Ok(key));
        }
    }
}
