//! Does an object's first bytes look like its declared type? For the image and PDF types,
//! whose files start with a fixed signature, record-ownership reads the first
//! [`SNIFF_BYTES`] bytes (a ranged GET) and refuses an object whose bytes say otherwise: a
//! script or an HTML page declared as `image/png` is not a picture.

/// How many leading bytes the check needs.
pub const SNIFF_BYTES: u64 = 32;

/// The signature a type's files start with, for the types we check.
fn matches(essence: &str, bytes: &[u8]) -> Option<bool> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    Some(match essence {
        "image/png" => at(0, b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => at(0, b"\xff\xd8\xff"),
        "image/gif" => at(0, b"GIF87a") || at(0, b"GIF89a"),
        "image/webp" => at(0, b"RIFF") && at(8, b"WEBP"),
        "image/bmp" => at(0, b"BM"),
        "image/tiff" => at(0, b"II*\0") || at(0, b"MM\0*"),
        "image/avif" => at(4, b"ftypavif") || at(4, b"ftypavis"),
        "image/heic" | "image/heif" => {
            at(4, b"ftyp")
                && [b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"]
                    .iter()
                    .any(|brand| at(8, *brand))
        }
        "application/pdf" => at(0, b"%PDF-"),
        _ => return None,
    })
}

/// Whether objects of this type are checked (their first bytes are worth reading).
pub fn is_checked(essence: &str) -> bool {
    matches(essence, &[]).is_some()
}

/// `None` when the bytes are consistent with `essence` (or the type is not one we check);
/// otherwise why not.
pub fn mismatch(essence: &str, first_bytes: &[u8]) -> Option<String> {
    match matches(essence, first_bytes) {
        Some(false) => Some(format!(
            "declared {essence}, but the file does not start like one"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn signatures_are_checked_for_images_and_pdf() {
        assert_eq!(mismatch("image/png", PNG), None);
        assert_eq!(mismatch("image/jpeg", b"\xff\xd8\xff\xe0\0\x10JFIF"), None);
        assert_eq!(mismatch("image/gif", b"GIF89a\x01\0"), None);
        assert_eq!(mismatch("image/webp", b"RIFF\x24\0\0\0WEBPVP8 "), None);
        assert_eq!(mismatch("application/pdf", b"%PDF-1.7\n"), None);
        assert_eq!(mismatch("image/avif", b"\0\0\0\x1cftypavif"), None);
        for (essence, bytes) in [
            ("image/png", &b"<html><script>alert(1)</script>"[..]),
            ("image/png", b"\x89PN"),
            ("image/jpeg", PNG),
            ("image/webp", b"RIFF\x24\0\0\0WAVEfmt "),
            ("application/pdf", b"<!doctype html>"),
            ("image/gif", b""),
        ] {
            assert!(mismatch(essence, bytes).is_some(), "{essence} {bytes:?}");
        }
    }

    #[test]
    fn other_types_are_not_checked() {
        assert!(is_checked("image/png") && is_checked("application/pdf"));
        assert!(!is_checked("text/plain"));
        assert_eq!(mismatch("text/plain", b"\x89PNG"), None);
        assert_eq!(mismatch("image/x-unknown", b"anything"), None);
    }
}
