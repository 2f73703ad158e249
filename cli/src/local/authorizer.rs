//! The HTTP API's JWT authorizer (`JwtConfiguration` in `template.yaml`), as the local API
//! Gateway stand-in runs it in front of every route.

use anyhow::anyhow;
use std::collections::BTreeMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::idp::LocalIdp;

/// Clock skew the authorizer tolerates on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 5;

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

/// The HTTP API's JWT authorizer (`JwtConfiguration` in `template.yaml`): RS256 tokens from
/// the issuer's keys only, `iss`, `exp` and `nbf` checked, `aud` (or, for access tokens
/// without one, `client_id`) must name the audience. Verification is `jsonwebtoken`'s.
pub struct JwtAuthorizer {
    issuer: String,
    audience: String,
    /// The issuer's JWKS: key id → key.
    keys: BTreeMap<String, DecodingKey>,
}

impl JwtAuthorizer {
    /// Trust the tokens `idp` issues, through its public key only.
    pub fn trusting(idp: &LocalIdp) -> anyhow::Result<Self> {
        let key = DecodingKey::from_rsa_pem(idp.public_pem().as_bytes())
            .map_err(|e| anyhow!("the JWT public key is unusable: {e}"))?;
        Ok(Self {
            issuer: idp.issuer.clone(),
            audience: idp.audience.clone(),
            keys: BTreeMap::from([(idp.kid().to_owned(), key)]),
        })
    }

    /// Verify an `Authorization` header value and return the claims the way API Gateway
    /// passes them to a payload-2.0 integration: every value a string.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
    ) -> Result<BTreeMap<String, String>, JwtError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(JwtError::Missing)?;
        let claims = self.verify(token)?;
        Ok(claims
            .into_iter()
            .map(|(k, v)| (k, claim_string(&v)))
            .collect())
    }

    pub fn verify(&self, token: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(JwtError::WrongAlgorithm)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    JwtError::WrongAlgorithm
                }
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => JwtError::WrongIssuer,
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => JwtError::Expired,
                ErrorKind::InvalidAudience => JwtError::WrongAudience,
                _ => JwtError::Malformed,
            })?;
        // jsonwebtoken checks `aud` when present; API Gateway accepts `client_id` instead.
        let claims = data.claims;
        if !claims.contains_key("aud")
            && claims.get("client_id").and_then(Value::as_str) != Some(self.audience.as_str())
        {
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
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::keys::{KeyKind, generate};

    const NOW_TTL: i64 = 600;

    fn idp() -> LocalIdp {
        let pair = generate(KeyKind::Rsa).unwrap();
        LocalIdp::new(
            &pair,
            "http://127.0.0.1:3000/local-idp",
            "private-uploads-local",
        )
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn minted_tokens_pass_with_string_claims() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        let issued = now();
        let token = idp.mint("alice", issued, 3600).unwrap();
        let claims = authorizer.authorize(Some(&bearer(&token))).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["iss"], "http://127.0.0.1:3000/local-idp");
        assert_eq!(claims["exp"], (issued + 3600).to_string());
    }

    #[test]
    fn missing_expired_and_early_tokens_are_refused() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        assert_eq!(authorizer.authorize(None), Err(JwtError::Missing));
        assert_eq!(
            authorizer.authorize(Some("Basic abc")),
            Err(JwtError::Missing)
        );
        let expired = idp.mint("alice", now() - 3600, 60).unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&expired))),
            Err(JwtError::Expired)
        );
        let early = idp.mint("alice", now() + 3600, 60).unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&early))),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            authorizer.authorize(Some("Bearer not.a.jwt")),
            Err(JwtError::Malformed)
        );
        let no_exp = idp
            .sign(&json!({"sub": "a", "iss": idp.issuer, "aud": idp.audience}))
            .unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&no_exp))),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn wrong_issuer_audience_signature_and_algorithm_are_refused() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        let claims = |iss: &str, aud: &str| json!({"sub": "a", "iss": iss, "aud": aud, "exp": now() + NOW_TTL});
        let wrong_iss = idp
            .sign(&claims("https://evil.example", &idp.audience))
            .unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&wrong_iss))),
            Err(JwtError::WrongIssuer)
        );
        let wrong_aud = idp.sign(&claims(&idp.issuer, "someone-else")).unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&wrong_aud))),
            Err(JwtError::WrongAudience)
        );
        let no_aud = idp
            .sign(&json!({"sub": "a", "iss": idp.issuer, "exp": now() + NOW_TTL}))
            .unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&no_aud))),
            Err(JwtError::WrongAudience)
        );

        // Same issuer, audience and key id, but signed by another key.
        let other =
            LocalIdp::new(&generate(KeyKind::Rsa).unwrap(), &idp.issuer, &idp.audience).unwrap();
        let forged = other.mint("alice", now(), NOW_TTL).unwrap();
        let (_, rest) = forged.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "typ": "JWT", "kid": idp.kid()}).to_string());
        assert_eq!(
            authorizer.authorize(Some(&bearer(&format!("{header}.{rest}")))),
            Err(JwtError::BadSignature)
        );
        // Its own key id is not in the issuer's key set.
        assert_eq!(
            authorizer.authorize(Some(&bearer(&forged))),
            Err(JwtError::WrongAlgorithm)
        );

        // A valid token whose claims were edited after signing.
        let token = idp.mint("alice", now(), NOW_TTL).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let edited = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
            .unwrap()
            .replace("\"alice\"", "\"bob\"");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(edited),
            parts[2]
        );
        assert_eq!(
            authorizer.authorize(Some(&bearer(&tampered))),
            Err(JwtError::BadSignature)
        );

        // alg=none and HS256 tokens are never accepted.
        for alg in ["none", "HS256"] {
            let unsigned = format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": idp.kid()}).to_string()),
                URL_SAFE_NO_PAD.encode(claims(&idp.issuer, &idp.audience).to_string())
            );
            let refused = authorizer.authorize(Some(&bearer(&unsigned)));
            assert!(
                matches!(refused, Err(JwtError::WrongAlgorithm | JwtError::Malformed)),
                "{alg}: {refused:?}"
            );
        }
    }

    #[test]
    fn access_tokens_may_name_the_client_instead_of_an_audience() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        let token = idp
            .sign(&json!({"sub": "a", "iss": idp.issuer, "client_id": idp.audience, "exp": now() + NOW_TTL, "scope": ["x", "y"]}))
            .unwrap();
        let claims = authorizer.authorize(Some(&bearer(&token))).unwrap();
        assert_eq!(claims["scope"], "[x y]");
    }
}
