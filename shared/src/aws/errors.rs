//! Reading the AWS SDK's errors: one line for the log, and whether a retry may help.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::metrics;
use crate::ports::StoreError;

/// Map an SDK error of `operation` on `service` to the store error the API reports:
/// retryable or not. A retryable one is counted (`DependencyFailures` by `Dependency`).
pub fn store_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    service: &'static str,
    operation: &str,
    err: &SdkError<E, HttpResponse>,
) -> StoreError {
    let summary = format!("{operation}: {}", error_summary(err));
    if is_transient(err) {
        metrics::count("DependencyFailures", &[("Dependency", service)]);
        StoreError::Unavailable(summary)
    } else {
        StoreError::Failed(summary)
    }
}

/// A one-line description for logs: the error code and message, never the request.
pub fn error_summary<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, HttpResponse>,
) -> String {
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            format!(
                "{} (HTTP {}): {}",
                inner.code().unwrap_or("unknown error"),
                service.raw().status().as_u16(),
                inner.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(failure) => format!("could not reach the service: {failure:?}"),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ConstructionFailure(_) => "request could not be built".into(),
        other => format!("{other:?}"),
    }
}

/// Whether retrying later may succeed: network trouble, throttling or a 5xx.
pub fn is_transient<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or_default();
            status >= 500
                || status == 429
                || code.contains("Throttl")
                || code == "ProvisionedThroughputExceededException"
                || code == "RequestLimitExceeded"
                || code == "SlowDown"
        }
        _ => false,
    }
}
