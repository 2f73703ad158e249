//! Reading a request at the edge: who is calling (only the JWT authorizer's claims), which
//! route, the JSON body (naming the field at fault), query parameters and path ids.

use lambda_http::request::RequestContext;
use std::convert::Infallible;
use std::future::Future;

use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use super::error::{ApiError, ErrorCode, respond};
use crate::domain::ids::{FileId, OwnerId};

/// `requestContext.authorizer.jwt.claims`: the owner of the token's `iss` and `sub`, for a
/// stack whose own issuer is `home_issuer` (`JWT_ISSUER`). Nothing else in the request is
/// trusted.
pub fn caller(request: &Request, home_issuer: &str) -> Result<OwnerId, ApiError> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return Err(ApiError::unauthorized());
    };
    let claims = context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|jwt| &jwt.claims)
        .ok_or_else(ApiError::unauthorized)?;
    let issuer = claims.get("iss").map(String::as_str).unwrap_or_default();
    if issuer.is_empty() {
        return Err(ApiError::unauthorized());
    }
    let sub = claims.get("sub").map(String::as_str).unwrap_or_default();
    OwnerId::from_claims(issuer, sub, home_issuer).map_err(|_| ApiError::unauthorized())
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

    /// The 404 for a route this function does not serve.
    pub fn not_found(&self) -> ApiError {
        ApiError::route_not_found(&self.method, &format!("/{}", self.segments.join("/")))
    }

    /// `("GET", ["files", "{id}"])`-style matching helper.
    pub fn parts(&self) -> (&str, Vec<&str>) {
        (
            self.method.as_str(),
            self.segments.iter().map(String::as_str).collect(),
        )
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
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            "the request body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the request body is not valid JSON: {inner}"),
            )
        } else if path == "." {
            ApiError::new(
                ErrorCode::InvalidRequest,
                strip_position(&inner.to_string()),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{path}: {}", strip_position(&inner.to_string())),
            )
        }
    })?;
    deserializer.end().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidJson,
            "unexpected data after the JSON object",
        )
    })?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The caller's address, as API Gateway saw it (`requestContext.http.sourceIp`).
pub fn source_ip(request: &Request) -> Option<std::net::IpAddr> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    // An IPv4 caller seen as `::ffff:a.b.c.d` is the IPv4 address CloudFront will see.
    context
        .http
        .source_ip
        .as_deref()?
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

/// One query-string parameter, if present.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// The id API Gateway gave this request: the `apigw-requestid` header of its answer, and the
/// `request_id` of an error body and of every log line made while answering it.
pub fn request_id(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
}

/// Answer `request` with `route`, the handler's work for it: inside a span carrying the
/// request's id (so every log line of it carries `request_id`), and with an error turned into
/// its JSON answer carrying the same id ([`respond`]).
pub async fn serve<F>(request: &Request, route: F) -> Result<Response<Body>, Infallible>
where
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let request_id = request_id(request);
    let span = tracing::info_span!("request", request_id = request_id.as_deref().unwrap_or(""));
    let result = route.instrument(span.clone()).await;
    let _entered = span.enter();
    respond(result, request_id.as_deref())
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
        let err = json_body::<Sample>(&request(body)).unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        (err.code().as_str().to_owned(), err.message().to_owned())
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
    fn no_claims_is_unauthorized() {
        let err = caller(&request(""), "https://issuer.example").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Unauthorized);
    }
}
