//! The shared AWS configuration, loaded once per container.

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

/// Load region, credentials and any `AWS_ENDPOINT_URL*` overrides from the environment, as
/// every AWS SDK does.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Why a function could not build its dependencies at start.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("no AWS credentials provider is configured")]
    NoCredentials,
}

/// `main` returning this error prints it with `Debug`: make that the sentence.
impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}
