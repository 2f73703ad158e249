//! Building the AWS clients once per container, and reading their errors.

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::dynamo::DynamoRecords;
use crate::objects::S3Objects;
use crate::records::StoreError;

/// Load the shared AWS configuration (region, credentials, and any `AWS_ENDPOINT_URL*`
/// overrides the local stack sets).
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The S3 client. Path-style addressing is used when an endpoint override is set (the local
/// stack's S3 on 127.0.0.1 has no per-bucket host names).
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build(),
    )
}

/// The ownership table, as every function reaches it.
pub fn records(config: &SdkConfig, table: &str) -> Arc<DynamoRecords> {
    Arc::new(DynamoRecords::new(
        aws_sdk_dynamodb::Client::new(config),
        table,
    ))
}

/// The bucket, as the functions that head and delete objects reach it.
pub fn objects(config: &SdkConfig, bucket: &str) -> Arc<S3Objects> {
    Arc::new(S3Objects::new(s3_client(config), bucket))
}

/// Map an SDK error to the store error the API reports: retryable or not.
pub fn store_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    operation: &str,
    err: &SdkError<E, HttpResponse>,
) -> StoreError {
    let summary = format!("{operation}: {}", error_summary(err));
    if is_transient(err) {
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
