//! What a caller may upload: the parsed, checked form of `POST /uploads`.
//!
//! Each field is parsed once into a type that cannot hold a bad value, so the presigner and
//! the ownership record only ever see checked data.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// The longest filename we keep, in characters (Unicode scalar values).
pub const MAX_FILENAME_CHARS: usize = 255;
/// S3's limit for a single PUT: 5 GiB.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The display name the user chose. Stored in the record, never part of an object key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filename(String);

impl Filename {
    /// 1–255 characters of any Unicode except control characters (which cannot be shown
    /// and break headers and logs).
    pub fn parse(text: &str) -> Result<Self, UploadError> {
        let count = text.chars().count();
        if count == 0 || count > MAX_FILENAME_CHARS {
            return Err(UploadError::Filename(format!(
                "filename must be 1 to {MAX_FILENAME_CHARS} characters long (got {count})"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(UploadError::Filename(
                "filename must not contain control characters".into(),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A media type as the client will send it in `Content-Type`, e.g. `image/png` or
/// `text/plain; charset=utf-8`. Type and subtype are lowercased; parameters are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    value: String,
    essence_len: usize,
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl ContentType {
    pub fn parse(text: &str) -> Result<Self, UploadError> {
        let bad = || {
            UploadError::ContentType(format!(
                "content_type {text:?} is not a media type like image/png"
            ))
        };
        if text.len() > 255 || text.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(bad());
        }
        let (essence, params) = match text.split_once(';') {
            Some((essence, params)) => (essence, Some(params)),
            None => (text, None),
        };
        let (kind, subtype) = essence.split_once('/').ok_or_else(bad)?;
        if !is_token(kind) || !is_token(subtype) {
            return Err(bad());
        }
        let essence = format!(
            "{}/{}",
            kind.to_ascii_lowercase(),
            subtype.to_ascii_lowercase()
        );
        let essence_len = essence.len();
        let value = match params {
            None => essence,
            Some(params) => {
                for param in params.split(';') {
                    let (name, value) = param.trim().split_once('=').ok_or_else(bad)?;
                    let quoted = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
                    if !is_token(name) || !(is_token(value) || quoted) {
                        return Err(bad());
                    }
                }
                format!("{essence};{params}")
            }
        };
        Ok(Self { value, essence_len })
    }

    /// `type/subtype`, lowercased, without parameters.
    pub fn essence(&self) -> &str {
        &self.value[..self.essence_len]
    }

    /// The exact header value the client must send.
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// One entry of the allow-list: `image/png`, or a whole family such as `image/*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentTypeRule {
    /// `*/*`: any media type.
    Any,
    Exact(String),
    AnySubtype(String),
}

impl ContentTypeRule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_ascii_lowercase();
        match text.split_once('/') {
            Some(("*", "*")) => Ok(Self::Any),
            Some(("*", _)) => Err(format!("{text:?} is not a media type, type/* or */*")),
            Some((kind, "*")) if is_token(kind) => Ok(Self::AnySubtype(kind.to_owned())),
            Some((kind, subtype)) if is_token(kind) && is_token(subtype) => Ok(Self::Exact(text)),
            _ => Err(format!("{text:?} is not a media type, type/* or */*")),
        }
    }

    fn allows(&self, content_type: &ContentType) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(essence) => content_type.essence() == essence,
            Self::AnySubtype(kind) => content_type
                .essence()
                .split_once('/')
                .is_some_and(|(k, _)| k == kind),
        }
    }
}

impl fmt::Display for ContentTypeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*/*"),
            Self::Exact(essence) => f.write_str(essence),
            Self::AnySubtype(kind) => write!(f, "{kind}/*"),
        }
    }
}

/// A number of bytes: a declared upload size, or a stored object's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    pub const fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The checksum the client promises: base64 of the 32-byte SHA-256 digest, exactly as S3's
/// `x-amz-checksum-sha256` header carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sha256Checksum(String);

impl Sha256Checksum {
    pub fn parse(text: &str) -> Result<Self, UploadError> {
        match STANDARD.decode(text) {
            Ok(bytes) if bytes.len() == 32 && STANDARD.encode(&bytes) == text => {
                Ok(Self(text.to_owned()))
            }
            _ => Err(UploadError::Sha256(
                "sha256 must be the base64 of a 32-byte SHA-256 digest (44 characters)".into(),
            )),
        }
    }

    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self(STANDARD.encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rules set by the stack's configuration.
#[derive(Clone, Debug)]
pub struct UploadRules {
    pub allowed_types: Vec<ContentTypeRule>,
    pub max_bytes: u64,
}

/// Why an upload request was refused; each maps to one error code of the API contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    Filename(String),
    #[error("{0}")]
    ContentType(String),
    #[error("content type {got} is not allowed; allowed: {allowed}")]
    TypeNotAllowed { got: String, allowed: String },
    #[error("size must be at least 1 byte")]
    EmptyFile,
    #[error("size {size} is larger than the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("{0}")]
    Sha256(String),
}

/// The JSON body of `POST /uploads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequestBody {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    #[serde(default)]
    pub sha256: Option<String>,
}

/// A checked upload request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRequest {
    pub filename: Filename,
    pub content_type: ContentType,
    pub size: ByteSize,
    pub sha256: Option<Sha256Checksum>,
}

impl UploadRules {
    /// Check a request body against these rules.
    pub fn check(&self, body: &UploadRequestBody) -> Result<UploadRequest, UploadError> {
        let filename = Filename::parse(&body.filename)?;
        let content_type = ContentType::parse(&body.content_type)?;
        if !self
            .allowed_types
            .iter()
            .any(|rule| rule.allows(&content_type))
        {
            return Err(UploadError::TypeNotAllowed {
                got: content_type.essence().to_owned(),
                allowed: self
                    .allowed_types
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if body.size == 0 {
            return Err(UploadError::EmptyFile);
        }
        if body.size > self.max_bytes {
            return Err(UploadError::TooLarge {
                size: body.size,
                max: self.max_bytes,
            });
        }
        let sha256 = body
            .sha256
            .as_deref()
            .map(Sha256Checksum::parse)
            .transpose()?;
        Ok(UploadRequest {
            filename,
            content_type,
            size: ByteSize::new(body.size),
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> UploadRules {
        UploadRules {
            allowed_types: ["image/*", "application/pdf", "text/plain"]
                .iter()
                .map(|t| ContentTypeRule::parse(t).unwrap())
                .collect(),
            max_bytes: 1000,
        }
    }

    fn body(filename: &str, content_type: &str, size: u64) -> UploadRequestBody {
        UploadRequestBody {
            filename: filename.into(),
            content_type: content_type.into(),
            size,
            sha256: None,
        }
    }

    #[test]
    fn filenames_take_any_unicode_up_to_255_chars() {
        assert!(Filename::parse("写真 2026 (1).png").is_ok());
        assert!(
            Filename::parse("../../etc/passwd").is_ok(),
            "never part of a key, so harmless"
        );
        assert!(Filename::parse(&"é".repeat(255)).is_ok());
        assert!(Filename::parse(&"é".repeat(256)).is_err());
        assert!(Filename::parse("").is_err());
        assert!(Filename::parse("a\nb").is_err());
        assert!(Filename::parse("a\u{0}b").is_err());
    }

    #[test]
    fn content_types_are_normalised_and_checked() {
        let ct = ContentType::parse("Image/PNG").unwrap();
        assert_eq!(ct.as_str(), "image/png");
        let ct = ContentType::parse("text/plain; charset=utf-8").unwrap();
        assert_eq!(ct.essence(), "text/plain");
        assert_eq!(ct.as_str(), "text/plain; charset=utf-8");
        for bad in [
            "",
            "image",
            "image/",
            "/png",
            "image/png\r\nx-evil: 1",
            "image/pn g",
            "a/b; c",
            "ï/b",
        ] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn allow_list_supports_families() {
        let r = rules();
        assert!(r.check(&body("a.png", "image/png", 10)).is_ok());
        assert!(r.check(&body("a.webp", "IMAGE/WEBP", 10)).is_ok());
        assert!(
            r.check(&body("a.txt", "text/plain; charset=utf-8", 10))
                .is_ok()
        );
        assert_eq!(
            r.check(&body("a.html", "text/html", 10)),
            Err(UploadError::TypeNotAllowed {
                got: "text/html".into(),
                allowed: "image/*, application/pdf, text/plain".into()
            })
        );
    }

    #[test]
    fn sizes_are_bounded() {
        let r = rules();
        assert_eq!(
            r.check(&body("a.png", "image/png", 0)),
            Err(UploadError::EmptyFile)
        );
        assert!(r.check(&body("a.png", "image/png", 1000)).is_ok());
        assert_eq!(
            r.check(&body("a.png", "image/png", 1001)),
            Err(UploadError::TooLarge {
                size: 1001,
                max: 1000
            })
        );
    }

    #[test]
    fn checksums_must_be_a_base64_sha256() {
        let good = Sha256Checksum::from_digest(&[7u8; 32]);
        assert_eq!(Sha256Checksum::parse(good.as_str()), Ok(good.clone()));
        assert!(Sha256Checksum::parse("abc").is_err());
        // 31 bytes.
        assert!(Sha256Checksum::parse(&STANDARD.encode([1u8; 31])).is_err());
        // The URL-safe alphabet is not what S3 expects: 0xfb bytes encode to `+/v7…`.
        let plus_slash = Sha256Checksum::from_digest(&[0xfb; 32]);
        assert!(plus_slash.as_str().contains('+') && plus_slash.as_str().contains('/'));
        let urlsafe = plus_slash.as_str().replace('+', "-").replace('/', "_");
        assert!(Sha256Checksum::parse(&urlsafe).is_err());
        // Hex is not base64 of the digest.
        assert!(Sha256Checksum::parse(&"ab".repeat(32)).is_err());
    }

    #[test]
    fn rules_parse() {
        assert_eq!(
            ContentTypeRule::parse(" Image/* "),
            Ok(ContentTypeRule::AnySubtype("image".into()))
        );
        assert_eq!(ContentTypeRule::parse("*/*"), Ok(ContentTypeRule::Any));
        assert!(ContentTypeRule::parse("*/png").is_err());
        assert!(ContentTypeRule::parse("image").is_err());
    }
}
