//! JSON text exactly as Python's `json.dumps` writes it: the bytes AWS's own SDK (botocore)
//! signs for CloudFront policies and S3 POST policies, so ours can be compared with its byte
//! for byte.

use std::fmt::Write as _;

/// Append `text` as a JSON string, escaped as `json.dumps` escapes it (`ensure_ascii`:
/// everything outside printable ASCII as `\uXXXX`, surrogate pairs for astral characters).
pub fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Python's `", "` and `": "` separators.
pub const ITEM: &str = ", ";
pub const KEY: &str = ": ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_like_python() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c/d\né😀\u{7f}");
        assert_eq!(out, r#""a\"b\\c/d\n\u00e9\ud83d\ude00\u007f""#);
    }
}
