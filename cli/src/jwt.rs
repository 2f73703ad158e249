//! The local stand-in for the HTTP API's JWT authorizer, and the tokens it accepts.
//!
//! Like API Gateway's JWT authorizer it accepts only RS256 tokens from its key, checks
//! `iss`, `aud` (or `client_id`), `exp` and `nbf`, and hands the claims to the function as
//! strings under `requestContext.authorizer.jwt.claims`. Anything else is a 401.

use std::collections::BTreeMap;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// API Gateway tolerates no clock skew beyond a small leeway; neither do we.
const LEEWAY_SECONDS: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm or key id is not accepted")]
    WrongAlgorithm,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not trusted")]
    WrongIssuer,
    #[error("the token is not for this audience")]
    WrongAudience,
}

/// Mints and verifies RS256 tokens for one issuer and audience.
pub struct LocalIdp {
    key: RsaKeyPair,
    kid: String,
    pub issuer: String,
    pub audience: String,
}

impl LocalIdp {
    pub fn new(
        private_pem: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, String> {
        let (_, der) = pem_rfc7468::decode_vec(private_pem.trim().as_bytes())
            .map_err(|_| "the JWT key is not PEM")?;
        let key =
            RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("the JWT key is unusable: {e}"))?;
        // The key id is derived from the public key, as a JWKS thumbprint would be.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]);
        Ok(Self {
            key,
            kid,
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    /// A token for `sub`, valid from `now` for `ttl_seconds`.
    pub fn mint(&self, sub: &str, now: i64, ttl_seconds: i64) -> Result<String, String> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let claims = json!({
            "sub": sub,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "token_use": "id",
            "cognito:username": sub,
        });
        self.sign(&header, &claims)
    }

    /// Sign arbitrary header and claims (tests use this to forge bad tokens).
    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the token failed")?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Verify an `Authorization` header value and return the claims the way API Gateway
    /// passes them to a payload-2.0 integration: every value a string.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        now: i64,
    ) -> Result<BTreeMap<String, String>, JwtError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(JwtError::Missing)?;
        let claims = self.verify(token, now)?;
        Ok(claims
            .into_iter()
            .map(|(k, v)| (k, claim_string(&v)))
            .collect())
    }

    pub fn verify(
        &self,
        token: &str,
        now: i64,
    ) -> Result<serde_json::Map<String, Value>, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JwtError::Malformed)
        };
        let header: Value =
            serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256")
            || header.get("kid").and_then(Value::as_str) != Some(self.kid.as_str())
        {
            return Err(JwtError::WrongAlgorithm);
        }
        let signed = &token[..token.len() - signature.len() - 1];
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, self.key.public_key().as_ref())
            .verify(signed.as_bytes(), &decode(signature)?)
            .map_err(|_| JwtError::BadSignature)?;
        let Value::Object(claims) =
            serde_json::from_slice(&decode(payload)?).map_err(|_| JwtError::Malformed)?
        else {
            return Err(JwtError::Malformed);
        };
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        match number("exp") {
            Some(exp) if now < exp + LEEWAY_SECONDS => {}
            _ => return Err(JwtError::Expired),
        }
        if number("nbf").is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
            return Err(JwtError::NotYetValid);
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(JwtError::WrongIssuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => claims.get("client_id").and_then(Value::as_str) == Some(self.audience.as_str()),
        };
        if !audience_ok {
            return Err(JwtError::WrongAudience);
        }
        Ok(claims)
    }
}

/// How API Gateway renders a claim for payload format 2.0: strings as they are, numbers and
/// booleans as text, arrays as `[a b c]`.
fn claim_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(claim_string).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idp() -> LocalIdp {
        let pair = crate::keys::generate(crate::keys::KeyKind::Rsa).unwrap();
        LocalIdp::new(
            &pair.private_pem,
            "http://127.0.0.1:3000/local-idp",
            "private-uploads-local",
        )
        .unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn minted_tokens_pass_with_string_claims() {
        let idp = idp();
        let token = idp.mint("alice", NOW, 3600).unwrap();
        let claims = idp
            .authorize(Some(&format!("Bearer {token}")), NOW + 10)
            .unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["iss"], "http://127.0.0.1:3000/local-idp");
        assert_eq!(claims["exp"], (NOW + 3600).to_string());
    }

    #[test]
    fn missing_expired_and_early_tokens_are_refused() {
        let idp = idp();
        let token = idp.mint("alice", NOW, 60).unwrap();
        assert_eq!(idp.authorize(None, NOW), Err(JwtError::Missing));
        assert_eq!(
            idp.authorize(Some("Basic abc"), NOW),
            Err(JwtError::Missing)
        );
        assert_eq!(
            idp.authorize(Some(&format!("Bearer {token}")), NOW + 60 + LEEWAY_SECONDS),
            Err(JwtError::Expired)
        );
        assert_eq!(
            idp.authorize(Some(&format!("Bearer {token}")), NOW - 60),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            idp.authorize(Some("Bearer not.a.jwt"), NOW),
            Err(JwtError::Malformed)
        );
    }

    #[test]
    fn wrong_issuer_audience_signature_and_algorithm_are_refused() {
        let idp = idp();
        let header = json!({"alg": "RS256", "kid": idp.kid});
        let claims =
            |iss: &str, aud: &str| json!({"sub": "a", "iss": iss, "aud": aud, "exp": NOW + 60});
        let bearer = |t: String| format!("Bearer {t}");
        let wrong_iss = idp
            .sign(&header, &claims("https://evil.example", &idp.audience))
            .unwrap();
        assert_eq!(
            idp.authorize(Some(&bearer(wrong_iss)), NOW),
            Err(JwtError::WrongIssuer)
        );
        let wrong_aud = idp
            .sign(&header, &claims(&idp.issuer, "someone-else"))
            .unwrap();
        assert_eq!(
            idp.authorize(Some(&bearer(wrong_aud)), NOW),
            Err(JwtError::WrongAudience)
        );

        // Same kid, issuer and audience, but signed by another key.
        let mut other = self::idp();
        other.kid = idp.kid.clone();
        let forged = other
            .sign(&header, &claims(&idp.issuer, &idp.audience))
            .unwrap();
        assert_eq!(
            idp.authorize(Some(&bearer(forged)), NOW),
            Err(JwtError::BadSignature)
        );

        // A valid token whose claims were edited after signing.
        let token = idp.mint("alice", NOW, 60).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let edited = URL_SAFE_NO_PAD.encode(
            claims(&idp.issuer, &idp.audience)
                .to_string()
                .replace("\"a\"", "\"bob\""),
        );
        let tampered = format!("{}.{edited}.{}", parts[0], parts[2]);
        assert_eq!(
            idp.authorize(Some(&bearer(tampered)), NOW),
            Err(JwtError::BadSignature)
        );

        // alg=none and HS256 tokens are never accepted.
        for alg in ["none", "HS256"] {
            let unsigned = format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": idp.kid}).to_string()),
                URL_SAFE_NO_PAD.encode(claims(&idp.issuer, &idp.audience).to_string())
            );
            assert_eq!(
                idp.authorize(Some(&bearer(unsigned)), NOW),
                Err(JwtError::WrongAlgorithm)
            );
        }
    }

    #[test]
    fn access_tokens_may_name_the_client_instead_of_an_audience() {
        let idp = idp();
        let header = json!({"alg": "RS256", "kid": idp.kid});
        let token = idp
            .sign(&header, &json!({"sub": "a", "iss": idp.issuer, "client_id": idp.audience, "exp": NOW + 60, "scope": ["x", "y"]}))
            .unwrap();
        let claims = idp
            .authorize(Some(&format!("Bearer {token}")), NOW)
            .unwrap();
        assert_eq!(claims["scope"], "[x y]");
    }
}
