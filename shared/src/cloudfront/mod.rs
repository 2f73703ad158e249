//! CloudFront signed URLs: the policy bytes, the signing key, the key cache that keeps it
//! fresh from its secret, and the trust check against the key group. What CloudFront checks
//! of a viewer is `cloudfront-viewer`'s (written from the documentation, not from this code).

pub mod key_cache;
pub mod policy;
pub mod signing_key;
pub mod trust;

pub use key_cache::{KeyCache, KeyUnavailable, parse_secret};
pub use policy::{
    MAX_EPOCH_TIME, MAX_URL_BYTES, MalformedPolicy, Policy, cloudfront_base64,
    cloudfront_base64_decode,
};
pub use signing_key::{HashAlgorithm, KeyError, SignError, SignedCookies, SigningKey};
pub use trust::TrustedKeys;

/// The key pairs under `shared/testdata`, for the tests of every module here.
#[cfg(test)]
pub(crate) mod test_keys {
    pub const RSA_PKCS1: &str = include_str!("../../testdata/rsa2048-pkcs1.pem");
    pub const RSA_PKCS8: &str = include_str!("../../testdata/rsa2048-pkcs8.pem");
    pub const RSA_PUBLIC: &str = include_str!("../../testdata/rsa2048-public.pem");
    pub const RSA_1024: &str = include_str!("../../testdata/rsa1024-pkcs1.pem");
    pub const EC_PKCS8: &str = include_str!("../../testdata/p256-pkcs8.pem");
    pub const EC_SEC1: &str = include_str!("../../testdata/p256-sec1.pem");
    pub const EC_PUBLIC: &str = include_str!("../../testdata/p256-public.pem");
}
