//! `private-uploads sign-url`: sign URLs with a CloudFront key, with the same code the view
//! function uses.

use anyhow::{Context as _, anyhow};
use std::io::{BufRead, Write as _};
use std::path::Path;

use shared::cloudfront::{HashAlgorithm, MAX_EPOCH_TIME, SigningKey};

/// Sign `urls` (or one per line of standard input) until `expires` (epoch seconds, from
/// [`parse_expires`]); one URL per line out.
pub fn run(
    key_file: &Path,
    key_pair_id: &str,
    expires: i64,
    hash: &str,
    urls: &[String],
) -> anyhow::Result<()> {
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| anyhow!("cannot read {}: {e}", key_file.display()))?;
    let key = SigningKey::from_pem(key_pair_id, &pem).map_err(|e| anyhow!("{e}"))?;
    let hash = HashAlgorithm::parse(hash).context("--hash must be sha1 or sha256")?;
    let signed = sign_urls(&key, expires, hash, urls, std::io::stdin().lock())?;
    let mut out = std::io::stdout().lock();
    for url in signed {
        writeln!(out, "{url}").map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// `--expires`: an absolute epoch time (plain number), or a duration from `now` with a unit:
/// `90s`, `30m`, `12h`, `7d`.
pub fn parse_expires(text: &str, now: i64) -> Result<i64, String> {
    let bad = || {
        format!(
            "--expires {text:?}: give epoch seconds (1767290400) or a duration (90s, 30m, 12h, 7d)"
        )
    };
    let text = text.trim();
    let expires = match text.char_indices().last() {
        Some((at, unit @ ('s' | 'm' | 'h' | 'd'))) => {
            let amount: i64 = text[..at].parse().map_err(|_| bad())?;
            let seconds = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => 86_400,
            };
            now.checked_add(amount.checked_mul(seconds).ok_or_else(bad)?)
                .ok_or_else(bad)?
        }
        _ => text.parse().map_err(|_| bad())?,
    };
    if expires <= now {
        return Err(format!("--expires {text:?} is not in the future"));
    }
    if expires > MAX_EPOCH_TIME {
        return Err(format!(
            "--expires {text:?} is past CloudFront's limit ({MAX_EPOCH_TIME})"
        ));
    }
    Ok(expires)
}

/// Sign each URL (from `urls`, or one per line of `input` when `urls` is empty); one signed
/// URL per line of the result.
pub fn sign_urls(
    key: &SigningKey,
    expires: i64,
    hash: HashAlgorithm,
    urls: &[String],
    input: impl BufRead,
) -> anyhow::Result<Vec<String>> {
    let lines: Vec<String> = if urls.is_empty() {
        input
            .lines()
            .map(|l| l.map_err(|e| anyhow!("cannot read standard input: {e}")))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    } else {
        urls.to_vec()
    };
    lines
        .iter()
        .map(|url| {
            let parsed = url::Url::parse(url).map_err(|e| anyhow!("{url:?} is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
                return Err(anyhow!("{url:?}: only http(s) URLs without a #fragment can be signed"));
            }
            if url.contains(char::is_whitespace) || !url.is_ascii() {
                return Err(anyhow!("{url:?}: percent-encode spaces and non-ASCII characters first (sign exactly what viewers request)"));
            }
            key.sign_canned_url(url, expires, hash).map_err(|_| anyhow!("{url:?}: signing failed"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, generate};
    use cloudfront_viewer::{TrustedKey, ViewerRequest, verify_signed_url};

    #[test]
    fn expires_takes_epochs_and_durations() {
        assert_eq!(parse_expires("1767290400", 1_000), Ok(1_767_290_400));
        assert_eq!(parse_expires("90s", 1_000), Ok(1_090));
        assert_eq!(parse_expires("30m", 1_000), Ok(2_800));
        assert_eq!(parse_expires("2h", 0), Ok(7_200));
        assert_eq!(parse_expires("7d", 0), Ok(604_800));
        assert!(parse_expires("999", 1_000).is_err(), "in the past");
        assert!(parse_expires("soon", 0).is_err());
        assert!(parse_expires("5w", 0).is_err());
        assert!(parse_expires("99999999999", 0).is_err(), "past 2038");
    }

    #[test]
    fn urls_come_from_arguments_or_lines_and_verify() {
        let pair = generate(KeyKind::Rsa).unwrap();
        let public = pair.public_pem;
        let key = SigningKey::from_pem("K1", &pair.private_pem).unwrap();
        let stdin = "https://d.example/a\n\n  https://d.example/b?x=1  \n";
        let signed = sign_urls(
            &key,
            2_000_000_000,
            HashAlgorithm::Sha1,
            &[],
            stdin.as_bytes(),
        )
        .unwrap();
        assert_eq!(signed.len(), 2);
        assert!(signed[1].starts_with("https://d.example/b?x=1&Expires=2000000000&Signature="));
        let keys = [TrustedKey::from_pem("K1", &public).unwrap()];
        for url in &signed {
            verify_signed_url(
                &keys,
                &ViewerRequest {
                    url,
                    source_ip: None,
                    now: 1,
                },
            )
            .unwrap();
        }
        let args = vec!["https://d.example/c".to_owned()];
        assert_eq!(
            sign_urls(
                &key,
                2_000_000_000,
                HashAlgorithm::Sha256,
                &args,
                "ignored".as_bytes()
            )
            .unwrap()
            .len(),
            1
        );
        for bad in [
            "ftp://d/x",
            "https://d/a b",
            "https://d/ü",
            "https://d/x#frag",
            "nonsense",
        ] {
            assert!(
                sign_urls(
                    &key,
                    2_000_000_000,
                    HashAlgorithm::Sha1,
                    &[bad.to_owned()],
                    "".as_bytes()
                )
                .is_err(),
                "{bad}"
            );
        }
    }
}
