//! The local stand-in for API Gateway's HTTP API: the same routes as `template.yaml`, the
//! JWT authorizer in front of them, each request turned into the payload-2.0 event API
//! Gateway sends and given to the real handler; plus the upload page, the OpenAPI document
//! and two local-only helpers (`/local/config`, `/local/token`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::http::{HttpResponse, json, read_body, respond};
use crate::jwt::LocalIdp;

/// Lambda's synchronous payload limit.
const MAX_BODY: usize = 6 * 1024 * 1024;

pub const INDEX_HTML: &str = include_str!("../../web/index.html");
pub const APP_JS: &str = include_str!("../../web/app.js");
pub const STYLE_CSS: &str = include_str!("../../web/style.css");
pub const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    IssueUploadUrl,
    IssueViewUrl,
}

/// The HTTP API's routes, as `template.yaml` declares them.
pub const ROUTES: [(&str, &str, Function); 5] = [
    ("POST", "/uploads", Function::IssueUploadUrl),
    ("GET", "/files", Function::IssueViewUrl),
    ("GET", "/files/{file_id}", Function::IssueViewUrl),
    ("GET", "/files/{file_id}/url", Function::IssueViewUrl),
    ("DELETE", "/files/{file_id}", Function::IssueViewUrl),
];

/// Match a request against the routes: the route key, its function and path parameters.
/// Like API Gateway, a `{param}` matches exactly one non-empty path segment.
pub fn match_route(
    method: &str,
    path: &str,
) -> Option<(String, Function, BTreeMap<String, String>)> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    ROUTES
        .iter()
        .find_map(|(route_method, template, function)| {
            if *route_method != method {
                return None;
            }
            let parts: Vec<&str> = template.split('/').skip(1).collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut params = BTreeMap::new();
            for (part, segment) in parts.iter().zip(&segments) {
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !segment.is_empty() => {
                        let value = percent_encoding::percent_decode_str(segment)
                            .decode_utf8_lossy()
                            .into_owned();
                        params.insert(name.to_owned(), value);
                    }
                    Some(_) => return None,
                    None if part == segment => {}
                    None => return None,
                }
            }
            Some((format!("{route_method} {template}"), *function, params))
        })
}

/// What API Gateway knows about one request.
pub struct Incoming2<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: String,
    pub route_key: &'a str,
    pub path_parameters: &'a BTreeMap<String, String>,
    pub claims: &'a BTreeMap<String, String>,
    pub domain: &'a str,
}

/// The API Gateway HTTP API payload-2.0 event for a request.
pub fn api_event(request: &Incoming2<'_>) -> Value {
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let values: Vec<&str> = request
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if name == http::header::COOKIE {
            cookies.extend(values.iter().flat_map(|v| v.split("; ")).map(str::to_owned));
        } else {
            headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
        }
    }
    let mut query = BTreeMap::<String, Vec<String>>::new();
    for (key, value) in url::form_urlencoded::parse(request.raw_query.as_bytes()) {
        query
            .entry(key.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": request.route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "authorizer": {"jwt": {"claims": request.claims, "scopes": null}},
            "domainName": request.domain,
            "domainPrefix": request.domain.split('.').next().unwrap_or("local"),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::now_v7().to_string(),
            "routeKey": request.route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        let joined: BTreeMap<&String, String> =
            query.iter().map(|(k, v)| (k, v.join(","))).collect();
        event["queryStringParameters"] = json!(joined);
    }
    if !request.path_parameters.is_empty() {
        event["pathParameters"] = json!(request.path_parameters);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(request.body) {
            Ok(text) => event["body"] = Value::String(text.to_owned()),
            Err(_) => {
                event["body"] = Value::String(STANDARD.encode(request.body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// API Gateway's own answers, which never reach a function.
fn gateway_message(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &json!({"message": message}))
}

pub struct LocalApi {
    pub upload: Arc<issue_upload_url::Deps>,
    pub view: Arc<issue_view_url::Deps>,
    pub idp: Arc<LocalIdp>,
    pub api_url: String,
}

impl LocalApi {
    pub async fn handle(&self, request: http::Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let raw_query = request.uri().query().unwrap_or("").to_owned();
        match (&method, path.as_str()) {
            (&Method::GET, "/" | "/index.html") => {
                return respond(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML);
            }
            (&Method::GET, "/app.js") => {
                return respond(StatusCode::OK, "text/javascript; charset=utf-8", APP_JS);
            }
            (&Method::GET, "/style.css") => {
                return respond(StatusCode::OK, "text/css; charset=utf-8", STYLE_CSS);
            }
            (&Method::GET, "/openapi.yaml") => {
                return respond(StatusCode::OK, "application/yaml", OPENAPI_YAML);
            }
            (&Method::GET, "/local/config") => {
                return json(
                    StatusCode::OK,
                    &json!({"mode": "local", "api_url": self.api_url}),
                );
            }
            (&Method::POST, "/local/token") => {
                let body = read_body(request.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                return self.mint(&body);
            }
            _ => {}
        }

        let Some((route_key, function, params)) = match_route(method.as_str(), &path) else {
            return gateway_message(StatusCode::NOT_FOUND, "Not Found");
        };
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let claims = match self
            .idp
            .authorize(authorization, chrono::Utc::now().timestamp())
        {
            Ok(claims) => claims,
            Err(reason) => {
                tracing::info!(%reason, route = %route_key, "authorizer refused the request");
                return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized");
            }
        };
        let (parts, body) = request.into_parts();
        let Ok(body) = read_body(body, MAX_BODY).await else {
            return gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        };
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let event = api_event(&Incoming2 {
            method: method.as_str(),
            path: &path,
            raw_query: &raw_query,
            headers: &parts.headers,
            body: &body,
            source_ip: peer.ip().to_string(),
            route_key: &route_key,
            path_parameters: &params,
            claims: &claims,
            domain: &host,
        });
        let lambda_request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => request,
            Err(err) => {
                tracing::error!(error = %err, "could not build the Lambda request");
                return gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        };
        let response = match function {
            Function::IssueUploadUrl => {
                issue_upload_url::handle(&self.upload, lambda_request).await
            }
            Function::IssueViewUrl => issue_view_url::handle(&self.view, lambda_request).await,
        };
        let Ok(response) = response;
        from_lambda(response)
    }

    fn mint(&self, body: &[u8]) -> HttpResponse {
        #[derive(serde::Deserialize)]
        struct TokenRequest {
            user: String,
            #[serde(default)]
            ttl_seconds: Option<i64>,
        }
        let Ok(request) = serde_json::from_slice::<TokenRequest>(body) else {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_request", "message": "body must be {\"user\": \"name\"}"}),
            );
        };
        let user = request.user.trim();
        let ttl = request.ttl_seconds.unwrap_or(3600);
        if user.is_empty() || user.len() > 128 || !(1..=86_400).contains(&ttl) {
            return json(
                StatusCode::BAD_REQUEST,
                &json!({"error": "invalid_request", "message": "user must be 1 to 128 characters and ttl_seconds 1 to 86400"}),
            );
        }
        let now = chrono::Utc::now().timestamp();
        match self.idp.mint(user, now, ttl) {
            Ok(token) => json(
                StatusCode::OK,
                &json!({"token": token, "expires_at": shared::time::rfc3339(chrono::DateTime::from_timestamp(now + ttl, 0).unwrap_or_default())}),
            ),
            Err(err) => {
                tracing::error!(error = %err, "token minting failed");
                gateway_message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

/// The HTTP response API Gateway makes of a function's response.
fn from_lambda(response: lambda_http::Response<lambda_http::Body>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    let mut out = http::Response::new(http_body_util::Full::new(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_like_api_gateway() {
        let (key, function, params) = match_route("GET", "/files/abc/url").unwrap();
        assert_eq!(
            (key.as_str(), function),
            ("GET /files/{file_id}/url", Function::IssueViewUrl)
        );
        assert_eq!(params["file_id"], "abc");
        assert_eq!(
            match_route("POST", "/uploads").unwrap().1,
            Function::IssueUploadUrl
        );
        assert!(match_route("PUT", "/uploads").is_none());
        assert!(match_route("GET", "/files//url").is_none());
        assert!(match_route("GET", "/files/a/b").is_none());
        assert!(match_route("GET", "/nope").is_none());
    }

    #[test]
    fn events_carry_claims_query_and_body_as_api_gateway_sends_them() {
        let mut headers = HeaderMap::new();
        headers.insert("Content-Type", "application/json".parse().unwrap());
        headers.append("x-multi", "a".parse().unwrap());
        headers.append("x-multi", "b".parse().unwrap());
        let claims = BTreeMap::from([("sub".to_owned(), "alice".to_owned())]);
        let params = BTreeMap::new();
        let event = api_event(&Incoming2 {
            method: "GET",
            path: "/files",
            raw_query: "limit=5&cursor=a%2Bb&x=1&x=2",
            headers: &headers,
            body: b"",
            source_ip: "127.0.0.1".into(),
            route_key: "GET /files",
            path_parameters: &params,
            claims: &claims,
            domain: "127.0.0.1:3000",
        });
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
            "alice"
        );
        assert_eq!(event["queryStringParameters"]["cursor"], "a+b");
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        assert_eq!(event["headers"]["x-multi"], "a,b");
        assert_eq!(event["headers"]["content-type"], "application/json");
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        assert_eq!(request.uri().path(), "/files");
    }
}
