//! [`CredentialsIssuer`] on STS: AssumeRole on the role the template defines for browser
//! uploads, with the caller's session policy.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::errors::store_error;
use super::sdk::SdkConfig;
use crate::ports::{CredentialsIssuer, StoreError, TemporaryCredentials};

pub struct StsIssuer {
    client: aws_sdk_sts::Client,
    role_arn: String,
}

impl StsIssuer {
    /// `endpoint`: an override (the local stack's STS), else STS's own.
    pub fn from_config(
        aws: &SdkConfig,
        endpoint: Option<&str>,
        role_arn: impl Into<String>,
    ) -> Self {
        let mut builder =
            aws_sdk_sts::config::Builder::from(aws).interceptor(super::xray::XRayCalls::from_env());
        if let Some(endpoint) = endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: aws_sdk_sts::Client::from_conf(builder.build()),
            role_arn: role_arn.into(),
        }
    }
}

#[async_trait]
impl CredentialsIssuer for StsIssuer {
    async fn issue(
        &self,
        session_name: &str,
        policy: &str,
        duration: Duration,
    ) -> Result<TemporaryCredentials, StoreError> {
        let out = self
            .client
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(session_name)
            .policy(policy)
            .duration_seconds(i32::try_from(duration.as_secs()).unwrap_or(3600))
            .send()
            .await
            .map_err(|err| store_error("STS", "AssumeRole", &err))?;
        let credentials = out
            .credentials
            .ok_or_else(|| StoreError::Failed("AssumeRole returned no credentials".into()))?;
        let expiration = DateTime::<Utc>::from_timestamp(credentials.expiration.secs(), 0)
            .ok_or_else(|| StoreError::Failed("AssumeRole returned a bad expiration".into()))?;
        Ok(TemporaryCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
            expiration,
        })
    }
}
