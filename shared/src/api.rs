//! The HTTP edge shared by the API functions: who is calling, which route, the request body,
//! and the one mapping from [`ApiError`] to the JSON error contract
//! `{"error": "<code>", "message": "<for humans>"}`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::{FileId, OwnerId};
use crate::records::StoreError;

/// Every way a request can fail, each with its status and code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("{message}")]
    UnsupportedType { code: &'static str, message: String },
    /// A dependency is down; `cause` is logged, never sent.
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after: u64,
        cause: String,
    },
    /// A bug or misconfiguration; `cause` is logged, never sent.
    #[error("internal error")]
    Internal { cause: String },
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The single "no such file" answer: missing, not ready, or someone else's.
    pub fn file_not_found() -> Self {
        Self::NotFound {
            code: "file_not_found",
            message: "no such file".into(),
        }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal {
            cause: cause.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::TooLarge { code, .. }
            | Self::UnsupportedType { code, .. }
            | Self::Unavailable { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::Internal { .. } => "internal_error",
        }
    }

    /// The response the client sees. Causes go to the log, never to the client.
    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        match &self {
            Self::Internal { cause } => tracing::error!(%cause, "request failed"),
            Self::Unavailable { cause, .. } => {
                tracing::warn!(%cause, code = self.code(), "dependency unavailable")
            }
            _ => tracing::info!(
                status = status.as_u16(),
                code = self.code(),
                "request refused"
            ),
        }
        let message = match &self {
            Self::Internal { .. } => "internal error".to_owned(),
            other => other.to_string(),
        };
        let mut response = json_response(
            status,
            &ErrorBody {
                error: self.code(),
                message: &message,
            },
        );
        if let Self::Unavailable { retry_after, .. } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => Self::Unavailable {
                code: "dependency_unavailable",
                message: "a storage service is unavailable; try again shortly".into(),
                retry_after: 2,
                cause,
            },
            other => Self::internal(other.to_string()),
        }
    }
}

/// The end of every API handler: an error becomes its JSON response, so a handler never
/// fails (Lambda would turn a failure into a bare 502).
pub fn respond(
    result: Result<Response<Body>, ApiError>,
) -> Result<Response<Body>, std::convert::Infallible> {
    Ok(result.unwrap_or_else(ApiError::into_response))
}

/// A JSON response with the given status.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let (status, text) = match serde_json::to_string(body) {
        Ok(text) => (status, text),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"internal_error","message":"internal error"}"#.to_owned(),
        ),
    };
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

/// The caller, from the claims the HTTP API's JWT authorizer verified and placed in
/// `requestContext.authorizer.jwt.claims`. Nothing else in the request is trusted.
pub fn caller(request: &Request) -> Result<OwnerId, ApiError> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Err(ApiError::Unauthorized);
    };
    let claims = context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|jwt| &jwt.claims)
        .ok_or(ApiError::Unauthorized)?;
    let issuer = claims.get("iss").map(String::as_str).unwrap_or_default();
    if issuer.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    let sub = claims.get("sub").map(String::as_str).unwrap_or_default();
    OwnerId::from_sub(sub).map_err(|_| ApiError::Unauthorized)
}

/// The request's method and path segments, with an API Gateway stage prefix removed.
pub struct Route {
    pub method: String,
    pub segments: Vec<String>,
}

impl Route {
    pub fn of(request: &Request) -> Self {
        let raw = request.raw_http_path();
        let path = if raw.is_empty() {
            request.uri().path()
        } else {
            raw
        };
        let stage = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
            _ => None,
        };
        let path = match stage.as_deref() {
            Some(stage) if stage != "$default" => path
                .strip_prefix(&format!("/{stage}"))
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .unwrap_or(path),
            _ => path,
        };
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        Self {
            method: request.method().as_str().to_owned(),
            segments,
        }
    }

    /// `("GET", ["files", "{id}"])`-style matching helper.
    pub fn parts(&self) -> (&str, Vec<&str>) {
        (
            self.method.as_str(),
            self.segments.iter().map(String::as_str).collect(),
        )
    }
}

pub fn route_not_found(route: &Route) -> ApiError {
    ApiError::NotFound {
        code: "route_not_found",
        message: format!(
            "no route for {} /{}",
            route.method,
            route.segments.join("/")
        ),
    }
}

/// A file id from the path. A malformed id cannot name any file: the same 404.
pub fn path_file_id(text: &str) -> Result<FileId, ApiError> {
    FileId::parse(text).map_err(|_| ApiError::file_not_found())
}

/// Parse the JSON body, naming the field at fault.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "the request body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(
                "invalid_json",
                format!("the request body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::bad_request("invalid_request", strip_position(&inner.to_string()))
        } else {
            ApiError::bad_request(
                "invalid_request",
                format!("{path}: {}", strip_position(&inner.to_string())),
            )
        }
    })?;
    deserializer.end().map_err(|_| {
        ApiError::bad_request("invalid_json", "unexpected data after the JSON object")
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// One query-string parameter, if present.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> Request {
        let mut request = Request::new(Body::Text(body.into()));
        *request.method_mut() = lambda_http::http::Method::POST;
        request
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        size: u64,
    }

    fn refusal(body: &str) -> (String, String) {
        match json_body::<Sample>(&request(body)).unwrap_err() {
            ApiError::BadRequest { code, message } => (code.to_owned(), message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn body_errors_name_the_field() {
        assert_eq!(
            refusal(r#"{"name":"a"}"#),
            ("invalid_request".into(), "missing field `size`".into())
        );
        let (code, message) = refusal(r#"{"name":"a","size":"big"}"#);
        assert_eq!(code, "invalid_request");
        assert!(
            message.starts_with("size: invalid type: string"),
            "{message}"
        );
        let (_, message) = refusal(r#"{"name":"a","size":-1}"#);
        assert!(message.starts_with("size: invalid value"), "{message}");
        let (_, message) = refusal(r#"{"name":"a","size":1,"owner":"bob"}"#);
        assert!(message.contains("unknown field `owner`"), "{message}");
        assert_eq!(refusal("{").0, "invalid_json");
        assert_eq!(refusal("").0, "invalid_json");
        assert_eq!(refusal(r#"{"name":"a","size":1} x"#).0, "invalid_json");
        assert_eq!(refusal("[]").0, "invalid_request");
    }

    #[test]
    fn errors_render_the_contract_and_hide_causes() {
        let response = ApiError::internal("db password wrong: hunter2").into_response();
        assert_eq!(response.status(), 500);
        let Body::Text(text) = response.body() else {
            panic!()
        };
        assert_eq!(
            text,
            r#"{"error":"internal_error","message":"internal error"}"#
        );

        let response = ApiError::from(StoreError::Unavailable("throttled".into())).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "2");
        let Body::Text(text) = response.body() else {
            panic!()
        };
        assert!(!text.contains("throttled"));
    }

    #[test]
    fn no_claims_is_unauthorized() {
        assert!(matches!(caller(&request("")), Err(ApiError::Unauthorized)));
    }
}
