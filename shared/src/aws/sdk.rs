//! The shared AWS configuration, loaded once per container.

use std::time::Duration;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;

/// How long one attempt at an AWS call may take. Every call the functions make is small
/// (an item, a secret, a HEAD, a ranged GET of a few bytes); a dependency slower than this
/// is treated as failing, and the SDK retries.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a call may take with its retries: under the functions' 10 s `Timeout`, so a
/// slow dependency is answered with our 503 and `Retry-After` (or a retried event) instead
/// of the function being killed mid-request (API Gateway's bare 500, no cleanup).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);

/// The timeouts every client of the functions uses (on Lambda and in the local stack).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// Load region, credentials and any `AWS_ENDPOINT_URL*` overrides from the environment, as
/// every AWS SDK does, with [`timeouts`].
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
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
