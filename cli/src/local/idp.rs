//! The local identity provider, standing in for Cognito or any OpenID issuer: one RS256 key
//! kept in the data directory (so tokens survive restarts), and tokens minted for named dev
//! users. Tokens are made with the `jsonwebtoken` crate, the same library the authorizer
//! stand-in ([`super::authorizer::JwtAuthorizer`]) verifies them with.

use anyhow::anyhow;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::keys::{PemPair, load_or_create};

/// The issuer and audience of the dev tokens: the local stack's `JwtIssuer`/`JwtAudience`.
pub const JWT_ISSUER: &str = "https://idp.private-uploads.localhost";
pub const JWT_AUDIENCE: &str = "private-uploads-local";

/// Mints RS256 tokens for one issuer and audience.
pub struct LocalIdp {
    key: EncodingKey,
    public_pem: String,
    kid: String,
    pub issuer: String,
    pub audience: String,
}

impl LocalIdp {
    pub fn new(
        pair: &PemPair,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> anyhow::Result<Self> {
        let key = EncodingKey::from_rsa_pem(pair.private_pem.as_bytes())
            .map_err(|e| anyhow!("the JWT key is unusable: {e}"))?;
        // The key id is derived from the public key, as a JWKS thumbprint would be.
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pair.public_pem.as_bytes());
        Ok(Self {
            key,
            public_pem: pair.public_pem.clone(),
            kid: URL_SAFE_NO_PAD.encode(&digest.as_ref()[..12]),
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    /// The provider of a data directory (`up --data-dir`): its key, made on first use.
    pub fn for_data_dir(data_dir: &Path) -> anyhow::Result<Self> {
        let pair = load_or_create(&data_dir.join("keys"), "jwt-signing")?;
        Self::new(&pair, JWT_ISSUER, JWT_AUDIENCE)
    }

    /// The key id tokens carry in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key, as the issuer's JWKS would publish it.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// A token for `sub` (a Cognito-style ID token), valid from `issued_at` for
    /// `ttl_seconds`.
    pub fn mint(&self, sub: &str, issued_at: i64, ttl_seconds: i64) -> anyhow::Result<String> {
        self.sign(&json!({
            "sub": sub,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + ttl_seconds,
            "token_use": "id",
            "cognito:username": sub,
        }))
    }

    /// Sign any claims with this provider's key and key id (the tests forge odd tokens).
    pub fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| anyhow!("signing the token failed: {e}"))
    }
}
