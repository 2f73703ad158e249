//! The signing-key secret as Secrets Manager returns it (JSON, one key or a rotating set,
//! PEM inside), the key group's trusted keys (`TRUSTED_KEY_*`), and PEM private keys on
//! their own. Errors are fine; panics are not, and no error may quote the key material.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::cloudfront::{SigningKey, TrustedKeys, parse_secret};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_secret(text) {
        Ok(key) => {
            let _ = key.sign(b"policy", shared::cloudfront::HashAlgorithm::Sha256);
            let _ = TrustedKeys::parse([text]).map(|t| t.check(&key));
        }
        Err(why) => {
            // A key's base64 lines are 64 characters long: none may appear in the message.
            // (Lines of key material: base64, as in a PEM body. The fuzzer soon learns to
            // write the error's own words into the input, which are no secret.)
            let base64 = |l: &&str| {
                l.len() >= 40
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
            };
            for line in text.lines().map(str::trim).filter(base64) {
                assert!(!why.contains(line), "the error quotes the secret: {why}");
            }
        }
    }
    let _ = TrustedKeys::parse(text.split('\n'));
    let _ = SigningKey::from_pem("K1", text);
});
