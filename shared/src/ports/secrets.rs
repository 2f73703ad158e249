//! Where the CloudFront signing key's secret string comes from.

use async_trait::async_trait;

use super::StoreError;

/// The secret's current string value (`SecretString`).
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn fetch(&self) -> Result<String, StoreError>;
}

/// A fixed secret, for tests.
pub struct StaticSecret(pub String);

#[async_trait]
impl SecretSource for StaticSecret {
    async fn fetch(&self) -> Result<String, StoreError> {
        Ok(self.0.clone())
    }
}
