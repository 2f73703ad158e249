//! Active content: media types a browser runs scripts in when it opens them (HTML, SVG, XML
//! and its `+xml` kin, JavaScript, CSS). Served from the CDN's domain, such a file would run
//! with that domain's cookies: a user's upload could read another user's files. So they are
//! refused whatever the allow-list says, unless the operator names one in
//! `ACTIVE_CONTENT_TYPES`; and whatever is stored, the CDN serves every file with
//! `X-Content-Type-Options: nosniff` and a `sandbox` Content-Security-Policy, and every file
//! but a raster image as an attachment (the template's response-headers policy and
//! viewer-response function; the local CDN applies the same rules from here).

/// Types a browser may run scripts in, by essence (lowercase `type/subtype`).
pub fn is_script_capable(essence: &str) -> bool {
    let Some((kind, subtype)) = essence.split_once('/') else {
        return true;
    };
    if kind.is_empty() || subtype.is_empty() {
        return true;
    }
    matches!(
        essence,
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/xsl"
            | "text/css"
            | "application/x-shockwave-flash"
            | "application/java-archive"
            | "text/cache-manifest"
            | "multipart/x-mixed-replace"
            | "message/rfc822"
            | "multipart/related"
            | "application/vnd.ms-htmlhelp"
    ) || subtype.ends_with("+xml")
        || subtype.ends_with("-xml")
        || subtype.contains("javascript")
        || subtype.contains("ecmascript")
        || subtype.contains("jscript")
        || subtype.contains("livescript")
        || subtype.contains("html")
        || (kind == "text" && subtype.contains("script"))
}

/// Whether the CDN shows a file with this `Content-Type` header in the browser (`inline`)
/// rather than offering it as a download (`Content-Disposition: attachment`): raster images
/// only. An attachment still loads in `<img>`, `<video>` and `fetch`; only opening it as a page
/// is prevented. PDFs are downloaded: they can carry scripts of their own, and a browser's PDF
/// viewer may refuse to run in the sandboxed document the CSP makes of every response. A value
/// holding `,` or `"` is downloaded too, whatever it starts with: browsers split the header
/// at commas outside quotes and keep the last type, so `image/x-a; a="", text/html` is HTML
/// to them (uploads refuse such values; this keeps older objects safe as well).
pub fn served_inline(content_type: &str) -> bool {
    if content_type.contains([',', '"']) {
        return false;
    }
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("image/") && !is_script_capable(&essence)
}

/// What the CDN adds to every response (the template's `ViewerHeadersPolicy`).
pub const CONTENT_SECURITY_POLICY: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'";
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000";
pub const REFERRER_POLICY: &str = "no-referrer";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_capable_types_are_recognised() {
        for active in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/xml",
            "application/rss+xml",
            "application/vnd.foo+xml",
            "text/javascript",
            "application/javascript",
            "application/x-javascript",
            "application/ecmascript",
            "text/css",
            "text/x-html-fragment",
            "text/vbscript",
            "application/x-shockwave-flash",
            "nonsense",
            "image/",
            "/png",
        ] {
            assert!(is_script_capable(active), "{active}");
            assert!(!served_inline(active), "{active}");
        }
        for passive in [
            "image/png",
            "image/jpeg",
            "image/webp",
            "application/pdf",
            "text/plain",
            "application/json",
            "application/zip",
            "video/mp4",
            "application/octet-stream",
        ] {
            assert!(!is_script_capable(passive), "{passive}");
        }
        assert!(served_inline("image/png"));
        assert!(served_inline("Image/PNG; charset=binary"));
        assert!(
            !served_inline(r#"image/x-a; a="", text/html, b="""#),
            "a hidden second type"
        );
        assert!(!served_inline("image/png, text/html"));
        assert!(!served_inline("application/pdf"), "PDFs are downloaded");
        assert!(!served_inline("text/plain"), "text is downloaded");
        assert!(!served_inline("application/octet-stream"));
        assert!(!served_inline("video/mp4"));
    }
}
