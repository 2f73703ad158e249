//! Does an object's first bytes look like its declared type? For the image and PDF types,
//! whose files start with a fixed signature, record-ownership reads the first
//! [`SNIFF_BYTES`] bytes (a ranged GET) and refuses an object whose bytes say otherwise: a
//! script or an HTML page declared as `image/png` is not a picture.

/// How many leading bytes the check needs: an ISO-BMFF `ftyp` box (AVIF, HEIF) lists its
/// brands in its first bytes, rarely more than a few dozen.
pub const SNIFF_BYTES: u64 = 256;

/// The brands of an ISO-BMFF file (its `ftyp` box, which comes first): the major brand, then
/// the compatible ones, as far as `bytes` holds them. `None` if it does not start with one.
fn brands(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let size = usize::try_from(u32::from_be_bytes(bytes.get(0..4)?.try_into().ok()?)).ok()?;
    if bytes.get(4..8)? != b"ftyp" || size < 16 {
        return None;
    }
    let end = size.min(bytes.len());
    let major = bytes.get(8..12)?;
    // After the major brand, a 4-byte minor version, then the compatible brands.
    let compatible = bytes.get(16..end).unwrap_or_default().chunks_exact(4);
    Some(std::iter::once(major).chain(compatible).collect())
}

/// Whether the file's `ftyp` box names one of `wanted` as its major or a compatible brand,
/// as the AVIF and HEIF specifications read it (an AVIF file may have `mif1` as its major
/// brand, with `avif` among the compatible ones).
fn has_brand(bytes: &[u8], wanted: &[&[u8; 4]]) -> bool {
    brands(bytes).is_some_and(|brands| brands.iter().any(|b| wanted.iter().any(|w| *b == *w)))
}

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
        // AVIF: the image (`avif`) or sequence (`avis`) brand.
        "image/avif" => has_brand(bytes, &[b"avif", b"avis"]),
        // HEIC: HEVC-coded images or sequences.
        "image/heic" => has_brand(
            bytes,
            &[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"],
        ),
        // HEIF: any HEIF file (its structural brands; AVIF files are HEIF too).
        "image/heif" => has_brand(
            bytes,
            &[
                b"mif1", b"msf1", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx",
            ],
        ),
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
    fn real_avif_and_heif_files_are_recognised_by_their_brands() {
        let avif = include_bytes!("../../testdata/images/red.avif");
        let libheif_avif = include_bytes!("../../testdata/images/red-libheif.avif");
        let mif1_avif = include_bytes!("../../testdata/images/red-mif1.avif");
        let heic = include_bytes!("../../testdata/images/red.heic");
        let head = |bytes: &'static [u8]| &bytes[..bytes.len().min(SNIFF_BYTES as usize)];
        for file in [&avif[..], libheif_avif, mif1_avif] {
            assert_eq!(mismatch("image/avif", head(file)), None);
            assert_eq!(mismatch("image/heif", head(file)), None);
            assert!(
                mismatch("image/heic", head(file)).is_some(),
                "AVIF is not HEVC"
            );
        }
        assert_eq!(&mif1_avif[8..12], b"mif1", "the major brand is mif1");
        assert_eq!(mismatch("image/heic", head(heic)), None);
        assert_eq!(mismatch("image/heif", head(heic)), None);
        assert!(
            mismatch("image/avif", head(heic)).is_some(),
            "HEIC is not AVIF"
        );
        // Scripts, truncated boxes and brands beyond the box are still refused.
        let mut fake = b"\0\0\0\x14ftypmif1\0\0\0\0mif1".to_vec();
        fake.extend(b"avif<script>alert(1)</script>");
        for (essence, bytes) in [
            ("image/avif", &b"<svg onload=alert(1)>"[..]),
            ("image/avif", &fake),
            ("image/heic", b"\0\0\0\x1cftyp"),
            ("image/heif", b"\0\0\0\x08ftypmif1"),
            ("image/avif", b""),
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
