//! The public keys CloudFront's key group trusts, as the view function knows them from its
//! configuration (`TRUSTED_KEY_1`, `TRUSTED_KEY_2`: `"<key pair id> <PEM public key>"`, one
//! per key slot of the template), and the check that the secret's active private key is one
//! of them under its own id. A key that fails it would sign URLs CloudFront refuses: the
//! function refuses to sign with it instead (503 and a log line saying why).

use super::signing_key::SigningKey;

/// One trusted key: its key pair id and its SubjectPublicKeyInfo DER.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Trusted {
    key_pair_id: String,
    spki: Vec<u8>,
}

/// The key group's keys. Empty only when no key slot holds a key, which the template's rule
/// `AtLeastOneKey` forbids and the view function's configuration refuses; empty, it trusts
/// nothing (fails closed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedKeys(Vec<Trusted>);

impl TrustedKeys {
    /// From the configuration's entries (`"<key pair id> <PEM>"`); empty entries are empty
    /// key slots.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (id, pem) = entry
                .split_once(char::is_whitespace)
                .ok_or_else(|| "expected \"<key pair id> <PEM public key>\"".to_owned())?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("{id:?} is not a key pair id"));
            }
            let (label, spki) = pem_rfc7468::decode_vec(pem.trim().as_bytes())
                .map_err(|_| format!("the public key of {id} is not PEM"))?;
            if label != "PUBLIC KEY" {
                return Err(format!(
                    "the public key of {id} is a {label:?} block, not PUBLIC KEY"
                ));
            }
            if keys.iter().any(|k: &Trusted| k.key_pair_id == id) {
                return Err(format!("key {id} is listed twice"));
            }
            keys.push(Trusted {
                key_pair_id: id.to_owned(),
                spki,
            });
        }
        Ok(Self(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|k| k.key_pair_id.as_str())
    }

    /// Whether CloudFront would accept `key`'s signatures: its id is a trusted key's, and its
    /// public half is that key. With no trusted key, no key passes.
    pub fn check(&self, key: &SigningKey) -> Result<(), String> {
        let id = key.key_pair_id();
        if self.is_empty() {
            return Err(format!(
                "the key group trusts no key (TRUSTED_KEY_1 and TRUSTED_KEY_2 are empty), so CloudFront would refuse what {id} signs"
            ));
        }
        let Some(trusted) = self.0.iter().find(|k| k.key_pair_id == id) else {
            return Err(format!(
                "the active key {id} is not in the key group (it trusts {})",
                self.ids().collect::<Vec<_>>().join(", ")
            ));
        };
        if trusted.spki != key.public_key_der() {
            return Err(format!(
                "the active key's public half is not the public key {id} the key group trusts \
                 (a private key put under the wrong key pair id?)"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudfront::test_keys::*;

    #[test]
    fn the_active_key_must_be_trusted_under_its_own_id() {
        let rsa = SigningKey::from_pem("K1", RSA_PKCS1).unwrap();
        let ec = SigningKey::from_pem("K2", EC_PKCS8).unwrap();
        let trusted = TrustedKeys::parse([
            format!("K1 {RSA_PUBLIC}").as_str(),
            "",
            format!("K2\n{EC_PUBLIC}").as_str(),
        ])
        .unwrap();
        assert_eq!(trusted.ids().collect::<Vec<_>>(), ["K1", "K2"]);
        assert_eq!(trusted.check(&rsa), Ok(()));
        assert_eq!(trusted.check(&ec), Ok(()));
        // The same private keys under swapped ids, or an id the group does not hold.
        let swapped = SigningKey::from_pem("K2", RSA_PKCS8).unwrap();
        assert!(trusted.check(&swapped).unwrap_err().contains("public half"));
        let unknown = SigningKey::from_pem("K9", RSA_PKCS1).unwrap();
        assert!(
            trusted
                .check(&unknown)
                .unwrap_err()
                .contains("not in the key group")
        );
        // Nothing configured: nothing is trusted.
        let none = TrustedKeys::parse(["", " "]).unwrap();
        assert!(none.is_empty());
        assert!(none.check(&rsa).unwrap_err().contains("trusts no key"));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "K1".to_owned(),
            format!("K-1 {RSA_PUBLIC}"),
            "K1 not a pem".to_owned(),
            format!("K1 {RSA_PKCS1}"),
        ] {
            assert!(TrustedKeys::parse([bad.as_str()]).is_err(), "{bad}");
        }
        let twice = format!("K1 {RSA_PUBLIC}");
        assert!(TrustedKeys::parse([twice.as_str(), twice.as_str()]).is_err());
    }
}
