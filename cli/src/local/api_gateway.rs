//! The local stand-in for API Gateway's HTTP API: the routes and CORS rule of
//! `template.yaml`, the JWT authorizer ([`super::authorizer`]) in front of them, each request
//! turned into the payload-2.0 event API Gateway sends and given to the real handler. The
//! page and the `/local/*` helpers beside the routes are [`super::dev_pages`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::anyhow;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::authorizer::JwtAuthorizer;
use super::deployed::Deployed;
use super::dev_pages::DevPages;
use super::server::{HttpResponse, gateway_message, read_body, respond};
use super::template::{CorsRule, RouteSpec};

/// Lambda's synchronous payload limit.
const MAX_BODY: usize = 6 * 1024 * 1024;

// ------------------------------------------------------------------ routes and events

/// Which function serves a route: the template's function logical ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    IssueUploadUrl,
    IssueViewUrl,
}

impl Function {
    pub fn from_logical_id(id: &str) -> Option<Self> {
        match id {
            "IssueUploadUrlFunction" => Some(Self::IssueUploadUrl),
            "IssueViewUrlFunction" => Some(Self::IssueViewUrl),
            _ => None,
        }
    }
}

/// The HTTP API's routes, made from the template's `HttpApi` events.
pub struct RouteTable {
    routes: Vec<(RouteSpec, Function)>,
}

impl RouteTable {
    pub fn new(routes: &[RouteSpec]) -> anyhow::Result<Self> {
        let routes = routes
            .iter()
            .map(|route| {
                Function::from_logical_id(&route.function)
                    .map(|f| (route.clone(), f))
                    .ok_or_else(|| {
                        anyhow!(
                            "the local stack cannot serve {} {}: it has no stand-in for {}",
                            route.method,
                            route.path,
                            route.function
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { routes })
    }

    /// The routes served, as `(method, path)`.
    pub fn keys(&self) -> Vec<(String, String)> {
        self.routes
            .iter()
            .map(|(r, _)| (r.method.clone(), r.path.clone()))
            .collect()
    }

    /// Match a request: the route key, its function and path parameters. Like API Gateway,
    /// a `{param}` matches exactly one non-empty path segment.
    pub fn find(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(String, Function, BTreeMap<String, String>)> {
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        self.routes.iter().find_map(|(route, function)| {
            if route.method != method {
                return None;
            }
            let parts: Vec<&str> = route.path.split('/').skip(1).collect();
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
            Some((
                format!("{} {}", route.method, route.path),
                *function,
                params,
            ))
        })
    }
}

/// What API Gateway knows about one request.
pub struct GatewayRequest<'a> {
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
    /// The id of this request: `requestContext.requestId`, and the `apigw-requestid` header
    /// of its answer.
    pub request_id: &'a str,
}

/// The header API Gateway's HTTP APIs name every answer's request id with.
pub const REQUEST_ID_HEADER: &str = "apigw-requestid";

/// A request id in the shape API Gateway's HTTP APIs give (`Jw6Yb3mVoAMEP-c=`: 11 bytes, URL-safe
/// base64): the random bytes of a UUIDv7.
pub fn new_request_id() -> String {
    use base64::engine::general_purpose::URL_SAFE;
    URL_SAFE.encode(&uuid::Uuid::now_v7().as_bytes()[5..])
}

pub fn api_event(request: &GatewayRequest<'_>) -> Value {
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
            "requestId": request.request_id,
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

// ------------------------------------------------------------------ CORS

/// The HTTP API's CORS rule (`CorsConfiguration`), for the page's origins.
pub struct ApiCors {
    pub origins: Vec<String>,
    pub rule: CorsRule,
}

impl ApiCors {
    fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        self.origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes())
            .then(|| origin.clone())
    }

    /// A preflight: API Gateway answers it itself (no authorizer, no function), with the
    /// configured methods, headers and max age when the origin and method are allowed, and
    /// with no CORS headers otherwise (the browser then refuses the request).
    fn preflight(&self, headers: &HeaderMap) -> HttpResponse {
        let mut response = respond(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
        let method_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| self.rule.methods.iter().any(|a| a.eq_ignore_ascii_case(m)));
        let headers_ok = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| self.rule.headers.iter().any(|a| a.eq_ignore_ascii_case(h)));
        if let Some(origin) = self
            .allowed_origin(headers)
            .filter(|_| method_ok && headers_ok)
        {
            let out = response.headers_mut();
            out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            let list = |items: &[String]| HeaderValue::from_str(&items.join(",")).ok();
            if let Some(methods) = list(&self.rule.methods) {
                out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            if let Some(allowed) = list(&self.rule.headers) {
                out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
            }
            out.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from(self.rule.max_age),
            );
            if self.rule.allow_credentials {
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
        response
    }

    fn decorate(&self, request: &HeaderMap, response: &mut HttpResponse) {
        if let Some(origin) = self.allowed_origin(request) {
            response
                .headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if !self.rule.expose_headers.is_empty()
                && let Ok(expose) = HeaderValue::from_str(&self.rule.expose_headers.join(","))
            {
                response
                    .headers_mut()
                    .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose);
            }
            if self.rule.allow_credentials {
                response.headers_mut().insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}

// ------------------------------------------------------------------ the API

pub struct LocalApi {
    pub routes: RouteTable,
    pub cors: ApiCors,
    pub authorizer: JwtAuthorizer,
    pub upload: Arc<issue_upload_url::Deps>,
    /// The view function as deployed (a deploy of the key slots replaces it).
    pub view: Arc<Deployed<issue_view_url::Deps>>,
    /// The page and the `/local/*` helpers.
    pub pages: DevPages,
}

impl LocalApi {
    /// Every answer, the authorizer's refusals and CORS preflights included, carries the
    /// request's id in `apigw-requestid`, as API Gateway's do.
    pub async fn handle(&self, request: http::Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let request_id = new_request_id();
        let mut response = if request.method() == Method::OPTIONS
            && request.headers().contains_key(header::ORIGIN)
        {
            self.cors.preflight(request.headers())
        } else {
            let request_headers = request.headers().clone();
            let mut response = self.answer(request, peer, &request_id).await;
            self.cors.decorate(&request_headers, &mut response);
            response
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }

    async fn answer(
        &self,
        request: http::Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> HttpResponse {
        match self.pages.answer(request).await {
            Ok(page) => page,
            Err(request) => self.route(*request, peer, request_id).await,
        }
    }

    /// A request for a route: matched, authorized, turned into the function's event, and
    /// the function's response as API Gateway returns it.
    async fn route(
        &self,
        request: http::Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
    ) -> HttpResponse {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let raw_query = request.uri().query().unwrap_or("").to_owned();
        let Some((route_key, function, params)) = self.routes.find(method.as_str(), &path) else {
            return gateway_message(StatusCode::NOT_FOUND, "Not Found");
        };
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let claims = match self.authorizer.authorize(authorization) {
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
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("127.0.0.1")
            .to_owned();
        let event = api_event(&GatewayRequest {
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
            request_id,
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
            Function::IssueViewUrl => {
                issue_view_url::handle(&self.view.current(), lambda_request).await
            }
        };
        let Ok(response) = response;
        from_lambda(response)
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
