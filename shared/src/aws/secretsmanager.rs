//! [`SecretSource`] on AWS Secrets Manager: the signing key's `SecretString`.

use async_trait::async_trait;

use super::errors::store_error;
use super::sdk::SdkConfig;
use crate::ports::{SecretSource, StoreError};

pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }

    pub fn from_config(aws: &SdkConfig, secret_id: impl Into<String>) -> Self {
        let config = aws_sdk_secretsmanager::config::Builder::from(aws)
            .interceptor(super::xray::XRayCalls::from_env())
            .build();
        Self::new(aws_sdk_secretsmanager::Client::from_conf(config), secret_id)
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<String, StoreError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|err| store_error("SecretsManager", "GetSecretValue", &err))?;
        output.secret_string.ok_or_else(|| {
            StoreError::Failed(
                "the secret has no SecretString (binary secrets are not supported)".into(),
            )
        })
    }
}
