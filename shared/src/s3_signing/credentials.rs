//! The credentials presigned URLs are signed with: on Lambda, the function role's temporary
//! credentials, which a URL cannot outlive.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::RwLock;

use super::presign::PresignError;

/// The signing credentials, resolved once and reused until they near their expiry.
pub struct SigningCredentials {
    provider: SharedCredentialsProvider,
    cached: RwLock<Option<Credentials>>,
}

/// Refresh credentials this long before they expire, so URLs are not cut short.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

impl SigningCredentials {
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: RwLock::new(None),
        }
    }

    fn fresh(credentials: &Credentials) -> bool {
        credentials
            .expiry()
            .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_MARGIN)
    }

    pub async fn get(&self) -> Result<Credentials, PresignError> {
        if let Some(credentials) = self.cached.read().await.as_ref()
            && Self::fresh(credentials)
        {
            return Ok(credentials.clone());
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| PresignError::Credentials(e.to_string()))?;
        *self.cached.write().await = Some(credentials.clone());
        Ok(credentials)
    }
}
