//! What a caller may upload: the parsed, checked form of `POST /uploads`.
//!
//! Each field is parsed once into a type that cannot hold a bad value, so the presigner and
//! the ownership record only ever see checked data.

use super::active_content::is_script_capable;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::ids::FileId;

/// The longest filename we keep, in characters (Unicode scalar values).
pub const MAX_FILENAME_CHARS: usize = 255;
pub(crate) const MIB: u64 = 1024 * 1024;
/// S3's limit for a single PUT (or browser POST): 5 GiB.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * MIB;
/// S3's limit for one object, made by multipart upload: 5 TiB.
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * MIB;

/// The display name the user chose. Stored in the record, never part of an object key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filename(String);

/// What `encodeURIComponent` leaves as it is: letters, digits and `-_.!~*'()`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

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

    /// The filename as an object's `x-amz-meta-filename`: UTF-8 percent-encoded as
    /// JavaScript's `encodeURIComponent` encodes it (S3 metadata travels in ASCII headers).
    pub fn to_metadata(&self) -> String {
        percent_encoding::utf8_percent_encode(&self.0, URI_COMPONENT).to_string()
    }

    /// The filename an object's `x-amz-meta-filename` carries ([`Filename::to_metadata`]'s
    /// form); `None` when it does not decode to a valid filename.
    pub fn from_metadata(value: &str) -> Option<Self> {
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?;
        Self::parse(&decoded).ok()
    }

    /// The name of a file that came with none: its id.
    pub fn of_file_id(file_id: FileId) -> Self {
        Self(file_id.to_string())
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

    /// `application/octet-stream`: what an object with no usable type is recorded as.
    pub fn octet_stream() -> Self {
        let value = "application/octet-stream".to_owned();
        Self {
            essence_len: value.len(),
            value,
        }
    }

    /// `type/subtype`, lowercased, without parameters.
    pub fn essence(&self) -> &str {
        &self.value[..self.essence_len]
    }

    /// The exact header value the client must send.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The parameters after the essence, as written: `(name, value)`, quotes kept.
    pub fn parameters(&self) -> impl Iterator<Item = (&str, &str)> {
        self.value[self.essence_len..]
            .split(';')
            .filter_map(|param| param.trim().split_once('='))
    }

    /// The one parameter an upload may carry is `charset=<token>` (no quotes, no comma): a
    /// quoted value can hide a second media type (`image/x-a; a="", text/html, b=""`), which
    /// browsers, splitting the header at commas outside quotes and keeping the last type,
    /// would render while the allow-list and the CDN saw an image.
    pub fn unaccepted_parameter(&self) -> Option<String> {
        self.parameters()
            .enumerate()
            .find(|(at, (name, value))| {
                !(*at == 0 && name.eq_ignore_ascii_case("charset") && is_token(value))
            })
            .map(|(_, (name, value))| format!("{name}={value}"))
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// How the bytes travel to S3; each way has its own size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transfer {
    /// One request: a presigned PUT or a browser POST form (S3: at most 5 GiB).
    Single,
    /// A multipart upload (S3: at most 5 TiB in at most 10,000 parts).
    Multipart,
}

impl Transfer {
    pub fn limit(self) -> u64 {
        match self {
            Self::Single => MAX_SINGLE_PUT_BYTES,
            Self::Multipart => MAX_OBJECT_BYTES,
        }
    }
}

/// The rules set by the stack's configuration.
#[derive(Clone, Debug)]
pub struct UploadRules {
    pub allowed_types: Vec<ContentTypeRule>,
    pub max_bytes: u64,
    /// Script-capable types the operator opted in to by name (`ACTIVE_CONTENT_TYPES`); every
    /// other one is refused whatever `allowed_types` says.
    pub active_types: Vec<String>,
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
    #[error(
        "content type {0} can carry scripts, which would run on the CDN's domain; it is refused unless the operator allows it by name (ActiveContentTypes)"
    )]
    ActiveContent(String),
    #[error(
        "content type parameter {0} is not accepted: the only parameter allowed is charset=<token>"
    )]
    ParameterNotAccepted(String),
    #[error("size must be at least 1 byte")]
    EmptyFile,
    #[error("size {size} is larger than the limit of {max} bytes{hint}")]
    TooLarge {
        size: u64,
        max: u64,
        /// How to upload it anyway, when another way allows it.
        hint: &'static str,
    },
    #[error("{0}")]
    Sha256(String),
    #[error("{0}")]
    Crc64(String),
    #[error("{0}")]
    PartSize(String),
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
    /// Check what a caller asks to upload in one request (a presigned PUT or a POST form),
    /// field by field as sent, against these rules: each field is parsed into its type, then
    /// the type and size admitted, then the checksum parsed.
    pub fn check(
        &self,
        filename: &str,
        content_type: &str,
        size: u64,
        sha256: Option<&str>,
    ) -> Result<UploadRequest, UploadError> {
        let filename = Filename::parse(filename)?;
        let content_type = ContentType::parse(content_type)?;
        let size = ByteSize::new(size);
        self.admit(&content_type, size, Transfer::Single)?;
        let sha256 = sha256.map(Sha256Checksum::parse).transpose()?;
        Ok(UploadRequest {
            filename,
            content_type,
            size,
            sha256,
        })
    }

    /// Whether an object of this type and size may be uploaded this way: the allow-list,
    /// at least one byte, the configured limit and S3's limit for the transfer.
    pub fn admit(
        &self,
        content_type: &ContentType,
        size: ByteSize,
        transfer: Transfer,
    ) -> Result<(), UploadError> {
        if !self
            .allowed_types
            .iter()
            .any(|rule| rule.allows(content_type))
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
        let essence = content_type.essence();
        if is_script_capable(essence) && !self.active_types.iter().any(|t| t == essence) {
            return Err(UploadError::ActiveContent(essence.to_owned()));
        }
        if let Some(parameter) = content_type.unaccepted_parameter() {
            return Err(UploadError::ParameterNotAccepted(parameter));
        }
        let size = size.get();
        if size == 0 {
            return Err(UploadError::EmptyFile);
        }
        let max = self.max_bytes.min(transfer.limit());
        if size > max {
            let hint = if transfer == Transfer::Single && size <= self.max_bytes {
                " for a single request; use POST /uploads/multipart"
            } else {
                ""
            };
            return Err(UploadError::TooLarge { size, max, hint });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_travel_as_metadata_like_encode_uri_component() {
        let name = Filename::parse("holiday été 100% (1).png").unwrap();
        assert_eq!(
            name.to_metadata(),
            "holiday%20%C3%A9t%C3%A9%20100%25%20(1).png"
        );
        assert_eq!(Filename::from_metadata(&name.to_metadata()), Some(name));
        assert_eq!(
            Filename::from_metadata("plain.txt").unwrap().as_str(),
            "plain.txt"
        );
        assert_eq!(Filename::from_metadata("%FF%FE"), None, "not UTF-8");
        assert_eq!(
            Filename::from_metadata("a%0Ab"),
            None,
            "a control character"
        );
        assert_eq!(Filename::from_metadata(""), None);
    }

    fn rules() -> UploadRules {
        UploadRules {
            allowed_types: ["image/*", "application/pdf", "text/plain"]
                .iter()
                .map(|t| ContentTypeRule::parse(t).unwrap())
                .collect(),
            max_bytes: 1000,
            active_types: vec![],
        }
    }

    /// A request's fields, as a route hands them over.
    struct Body {
        filename: &'static str,
        content_type: &'static str,
        size: u64,
        sha256: Option<&'static str>,
    }

    fn body(filename: &'static str, content_type: &'static str, size: u64) -> Body {
        Body {
            filename,
            content_type,
            size,
            sha256: None,
        }
    }

    impl UploadRules {
        fn check_body(&self, body: &Body) -> Result<UploadRequest, UploadError> {
            self.check(body.filename, body.content_type, body.size, body.sha256)
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
        assert!(r.check_body(&body("a.png", "image/png", 10)).is_ok());
        assert!(r.check_body(&body("a.webp", "IMAGE/WEBP", 10)).is_ok());
        assert!(
            r.check_body(&body("a.txt", "text/plain; charset=utf-8", 10))
                .is_ok()
        );
        assert_eq!(
            r.check_body(&body("a.html", "text/html", 10)),
            Err(UploadError::TypeNotAllowed {
                got: "text/html".into(),
                allowed: "image/*, application/pdf, text/plain".into()
            })
        );
    }

    #[test]
    fn no_parameter_but_a_plain_charset_is_accepted() {
        let r = rules();
        for ok in [
            "image/png",
            "text/plain; charset=utf-8",
            "text/plain;CHARSET=us-ascii",
        ] {
            assert!(r.check_body(&body("a.txt", ok, 10)).is_ok(), "{ok}");
        }
        for (hidden, parameter) in [
            // A second media type hidden in a quoted value: browsers keep the last one.
            (
                r#"image/x-a; a="", text/html, b="""#,
                r#"a="", text/html, b="""#,
            ),
            (r#"text/plain; charset="utf-8""#, r#"charset="utf-8""#),
            ("text/plain; charset=utf-8; format=flowed", "format=flowed"),
            ("image/png; name=x", "name=x"),
        ] {
            assert_eq!(
                r.check_body(&body("a.png", hidden, 10)),
                Err(UploadError::ParameterNotAccepted(parameter.into())),
                "{hidden}"
            );
        }
    }

    #[test]
    fn sizes_are_bounded() {
        let r = rules();
        assert_eq!(
            r.check_body(&body("a.png", "image/png", 0)),
            Err(UploadError::EmptyFile)
        );
        assert!(r.check_body(&body("a.png", "image/png", 1000)).is_ok());
        assert_eq!(
            r.check_body(&body("a.png", "image/png", 1001)),
            Err(UploadError::TooLarge {
                size: 1001,
                max: 1000,
                hint: ""
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
    fn script_capable_types_need_the_operators_opt_in_by_name() {
        let everything = UploadRules {
            allowed_types: vec![ContentTypeRule::parse("*/*").unwrap()],
            ..rules()
        };
        for active in [
            "image/svg+xml",
            "text/html",
            "application/javascript",
            "text/css",
        ] {
            let err = everything.check_body(&body("x", active, 10)).unwrap_err();
            assert_eq!(err, UploadError::ActiveContent(active.into()), "{active}");
        }
        assert!(
            everything
                .check_body(&body("a.png", "image/png", 10))
                .is_ok()
        );
        let svg = UploadRules {
            active_types: vec!["image/svg+xml".into()],
            ..everything
        };
        assert!(svg.check_body(&body("a.svg", "image/svg+xml", 10)).is_ok());
        assert!(svg.check_body(&body("a.html", "text/html", 10)).is_err());
        // Named and in the allow-list (image/* covers it): allowed.
        let narrow = UploadRules {
            active_types: vec!["image/svg+xml".into()],
            ..rules()
        };
        assert!(
            narrow
                .check_body(&body("a.svg", "image/svg+xml", 10))
                .is_ok()
        );
        // Named but not in the allow-list: still refused, as any type the list leaves out.
        let pdf_only = UploadRules {
            allowed_types: vec![ContentTypeRule::parse("application/pdf").unwrap()],
            active_types: vec!["image/svg+xml".into()],
            ..rules()
        };
        assert!(matches!(
            pdf_only.check_body(&body("a.svg", "image/svg+xml", 10)),
            Err(UploadError::TypeNotAllowed { .. })
        ));
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

    #[test]
    fn single_requests_stop_at_5_gib_and_point_to_multipart() {
        let rules = UploadRules {
            max_bytes: MAX_OBJECT_BYTES,
            ..rules()
        };
        let big = body("a.png", "image/png", MAX_SINGLE_PUT_BYTES + 1);
        let err = rules.check_body(&big).unwrap_err();
        assert!(
            err.to_string().ends_with("use POST /uploads/multipart"),
            "{err}"
        );
        let multipart = |size| rules.check_multipart("a.png", "image/png", size, None, None);
        assert!(multipart(MAX_SINGLE_PUT_BYTES + 1).is_ok());
        assert!(matches!(
            multipart(MAX_OBJECT_BYTES + 1),
            Err(UploadError::TooLarge { hint: "", .. })
        ));
    }
}
