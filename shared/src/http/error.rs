//! The API's error contract: every `error` code it can answer ([`ErrorCode`], with its
//! status in one place), the one error type of the HTTP edge ([`ApiError`]), and the one
//! mapping from it to `{"error": "<code>", "message": "<for humans>"}`.
//!
//! The domain's and the adapters' errors become an [`ApiError`] here, each by one `From`,
//! so the whole list of what a client can be told sits in this file. Causes are logged,
//! never sent.

use std::fmt;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::response::json_response;
use crate::domain::lifecycle::QuotaExceeded;
use crate::domain::upload::UploadError;
use crate::domain::view::{ExpiresInError, ViewConditionError};
use crate::metrics;
use crate::ports::StoreError;

/// Writes [`ErrorCode`] from one list: each code's variant, its `error` string and its HTTP
/// status, told once. The list's order is [`ErrorCode::ALL`]'s.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $code:ident = $text:literal => $status:ident,)+) => {
        /// Every `error` value the API answers. `docs/openapi.yaml` lists exactly these (a
        /// test in `tests/local_stack.rs` holds them to each other and to what the running
        /// stack answers).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[$doc])* $code,)+
        }

        impl ErrorCode {
            pub const ALL: &[Self] = &[$(Self::$code,)+];

            /// The `error` string a client sees.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$code => $text,)+
                }
            }

            /// The HTTP status that goes with the code: the only place statuses are chosen.
            pub fn status(self) -> StatusCode {
                match self {
                    $(Self::$code => StatusCode::$status,)+
                }
            }
        }
    };
}

error_codes! {
    InvalidJson = "invalid_json" => BAD_REQUEST,
    InvalidRequest = "invalid_request" => BAD_REQUEST,
    InvalidFilename = "invalid_filename" => BAD_REQUEST,
    InvalidContentType = "invalid_content_type" => BAD_REQUEST,
    InvalidSize = "invalid_size" => BAD_REQUEST,
    InvalidSha256 = "invalid_sha256" => BAD_REQUEST,
    InvalidLimit = "invalid_limit" => BAD_REQUEST,
    InvalidCursor = "invalid_cursor" => BAD_REQUEST,
    InvalidExpiresIn = "invalid_expires_in" => BAD_REQUEST,
    InvalidIp = "invalid_ip" => BAD_REQUEST,
    InvalidNotBefore = "invalid_not_before" => BAD_REQUEST,
    InvalidPartSize = "invalid_part_size" => BAD_REQUEST,
    InvalidCrc64nvme = "invalid_crc64nvme" => BAD_REQUEST,
    InvalidParts = "invalid_parts" => BAD_REQUEST,
    Unauthorized = "unauthorized" => UNAUTHORIZED,
    FileNotFound = "file_not_found" => NOT_FOUND,
    RouteNotFound = "route_not_found" => NOT_FOUND,
    UploadNotPending = "upload_not_pending" => CONFLICT,
    FileTooLarge = "file_too_large" => PAYLOAD_TOO_LARGE,
    QuotaExceeded = "quota_exceeded" => PAYLOAD_TOO_LARGE,
    ContentTypeNotAllowed = "content_type_not_allowed" => UNSUPPORTED_MEDIA_TYPE,
    RateLimited = "rate_limited" => TOO_MANY_REQUESTS,
    TooManyUnfinishedUploads = "too_many_unfinished_uploads" => TOO_MANY_REQUESTS,
    SigningUnavailable = "signing_unavailable" => SERVICE_UNAVAILABLE,
    DependencyUnavailable = "dependency_unavailable" => SERVICE_UNAVAILABLE,
    InternalError = "internal_error" => INTERNAL_SERVER_ERROR,
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request failed, as the client will be told, plus what only the log may know.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    /// Seconds for `Retry-After` (429 and 503).
    retry_after: Option<u64>,
    /// What went wrong, for the log; never sent.
    cause: Option<String>,
    /// The numbers of a `quota_exceeded`.
    quota: Option<QuotaNumbers>,
}

/// The numbers a `quota_exceeded` answer carries, so a client can show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QuotaNumbers {
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub used_files: u64,
    pub max_files: u64,
    pub requested_bytes: u64,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<&'a QuotaNumbers>,
    /// API Gateway's id of the request: its answer's `apigw-requestid` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// How long a client should wait after a dependency failed, when nothing better is known.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 2;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
            cause: None,
            quota: None,
        }
    }

    /// A dependency is down: 503 with `Retry-After`.
    pub fn unavailable(
        code: ErrorCode,
        message: impl Into<String>,
        retry_after: u64,
        cause: impl Into<String>,
    ) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            cause: Some(cause.into()),
            ..Self::new(code, message)
        }
    }

    /// A bound is reached (`rate_limited`, `too_many_unfinished_uploads`): 429 with
    /// `Retry-After`, when it frees.
    pub fn too_many(code: ErrorCode, message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(code, message)
        }
    }

    /// A bug or a misconfiguration: the client learns nothing but that it failed.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(ErrorCode::InternalError, "internal error")
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "missing or invalid credentials")
    }

    /// The single "no such file" answer: missing, not ready, or someone else's.
    pub fn file_not_found() -> Self {
        Self::new(ErrorCode::FileNotFound, "no such file")
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            ErrorCode::RouteNotFound,
            format!("no route for {method} {path}"),
        )
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The response the client sees, naming the request's id when there is one. Causes go
    /// to the log, never to the client.
    pub fn into_response(self, request_id: Option<&str>) -> Response<Body> {
        let status = self.status();
        let cause = self.cause.as_deref().unwrap_or("");
        if status.is_server_error() && self.retry_after.is_none() {
            tracing::error!(code = %self.code, %cause, "request failed");
        } else if status.is_server_error() {
            tracing::warn!(code = %self.code, %cause, "dependency unavailable");
        } else {
            tracing::info!(status = status.as_u16(), code = %self.code, "request refused");
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            metrics::count("Unavailable", &[("Code", self.code.as_str())]);
        } else if self.code == ErrorCode::QuotaExceeded {
            metrics::count("QuotaExceeded", &[]);
        }
        let mut response = json_response(
            status,
            &ErrorBody {
                error: self.code,
                message: &self.message,
                quota: self.quota.as_ref(),
                request_id,
            },
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The end of every API handler: an error becomes its JSON response, so a handler never
/// fails (Lambda would turn a failure into a bare 502).
pub fn respond(
    result: Result<Response<Body>, ApiError>,
    request_id: Option<&str>,
) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(result.unwrap_or_else(|err| err.into_response(request_id)))
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<QuotaExceeded> for ApiError {
    fn from(err: QuotaExceeded) -> Self {
        Self {
            quota: Some(QuotaNumbers {
                used_bytes: err.used_bytes,
                max_bytes: err.max_bytes,
                used_files: err.used_files,
                max_files: err.max_files,
                requested_bytes: err.requested_bytes,
            }),
            ..Self::new(ErrorCode::QuotaExceeded, err.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Quota(quota) => quota.into(),
            StoreError::Unavailable(cause) => Self::unavailable(
                ErrorCode::DependencyUnavailable,
                "a storage service is unavailable; try again shortly",
                DEFAULT_RETRY_AFTER_SECONDS,
                cause,
            ),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        let code = match err {
            UploadError::Filename(_) => ErrorCode::InvalidFilename,
            UploadError::ContentType(_) => ErrorCode::InvalidContentType,
            UploadError::TypeNotAllowed { .. }
            | UploadError::ActiveContent(_)
            | UploadError::ParameterNotAccepted(_) => ErrorCode::ContentTypeNotAllowed,
            UploadError::EmptyFile => ErrorCode::InvalidSize,
            UploadError::TooLarge { .. } => ErrorCode::FileTooLarge,
            UploadError::Sha256(_) => ErrorCode::InvalidSha256,
            UploadError::Crc64(_) => ErrorCode::InvalidCrc64nvme,
            UploadError::PartSize(_) => ErrorCode::InvalidPartSize,
        };
        Self::new(code, err.to_string())
    }
}

impl From<ViewConditionError> for ApiError {
    fn from(err: ViewConditionError) -> Self {
        let code = match err {
            ViewConditionError::Ip { .. } => ErrorCode::InvalidIp,
            ViewConditionError::NotBefore { .. } => ErrorCode::InvalidNotBefore,
        };
        Self::new(code, err.to_string())
    }
}

impl From<ExpiresInError> for ApiError {
    fn from(err: ExpiresInError) -> Self {
        Self::new(ErrorCode::InvalidExpiresIn, err.to_string())
    }
}

#[cfg(feature = "s3-signing")]
impl From<crate::s3_signing::PresignError> for ApiError {
    fn from(err: crate::s3_signing::PresignError) -> Self {
        use crate::s3_signing::PresignError;
        match err {
            PresignError::CredentialsExpiring | PresignError::Credentials(_) => Self::unavailable(
                ErrorCode::SigningUnavailable,
                "upload URLs cannot be signed right now; try again shortly",
                DEFAULT_RETRY_AFTER_SECONDS,
                err.to_string(),
            ),
            other => Self::internal(other.to_string()),
        }
    }
}

#[cfg(feature = "cloudfront")]
impl From<crate::cloudfront::KeyUnavailable> for ApiError {
    fn from(err: crate::cloudfront::KeyUnavailable) -> Self {
        Self::unavailable(
            ErrorCode::SigningUnavailable,
            "view URLs cannot be signed right now; try again shortly",
            err.retry_after,
            err.reason,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response<Body>) -> serde_json::Value {
        let Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn codes_serialize_as_their_names_and_are_listed_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn errors_render_the_contract_and_hide_causes() {
        let response = ApiError::internal("db password wrong: hunter2").into_response(None);
        assert_eq!(response.status(), 500);
        assert_eq!(
            body(&response),
            serde_json::json!({"error": "internal_error", "message": "internal error"})
        );
        assert!(!response.headers().contains_key("retry-after"));

        let response =
            ApiError::from(StoreError::Unavailable("throttled".into())).into_response(None);
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(body(&response)["error"], "dependency_unavailable");
        assert!(!body(&response).to_string().contains("throttled"));

        let response =
            ApiError::too_many(ErrorCode::RateLimited, "slow down", 0).into_response(None);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(body(&response)["error"], "rate_limited");

        let response = ApiError::unauthorized().into_response(None);
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    #[test]
    fn an_error_names_its_request() {
        let response = ApiError::file_not_found().into_response(Some("Jw6Yb3mVoAMEP-c="));
        assert_eq!(
            body(&response),
            serde_json::json!({
                "error": "file_not_found",
                "message": "no such file",
                "request_id": "Jw6Yb3mVoAMEP-c="
            })
        );
    }

    #[test]
    fn upload_errors_map_to_their_codes() {
        let cases = [
            (
                UploadError::Filename("x".into()),
                ErrorCode::InvalidFilename,
                400,
            ),
            (UploadError::EmptyFile, ErrorCode::InvalidSize, 400),
            (
                UploadError::TooLarge {
                    size: 2,
                    max: 1,
                    hint: "",
                },
                ErrorCode::FileTooLarge,
                413,
            ),
            (
                UploadError::TypeNotAllowed {
                    got: "text/html".into(),
                    allowed: "image/*".into(),
                },
                ErrorCode::ContentTypeNotAllowed,
                415,
            ),
        ];
        for (err, code, status) in cases {
            let err = ApiError::from(err);
            assert_eq!((err.code(), err.status().as_u16()), (code, status));
        }
    }
}
