//! The local stand-in for API Gateway's HTTP API: the routes and CORS rule of
//! `template.yaml`, the JWT authorizer in front of them, each request turned into the
//! payload-2.0 event API Gateway sends and given to the real handler; plus the upload page,
//! the OpenAPI document and two local-only helpers (`/local/config`, `/local/token`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use hyper::body::Incoming;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::idp::LocalIdp;
use super::server::{HttpResponse, json, read_body, respond};
use super::template::{CorsRule, RouteSpec};

/// Lambda's synchronous payload limit.
const MAX_BODY: usize = 6 * 1024 * 1024;
/// Clock skew the authorizer tolerates on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 5;

pub const INDEX_HTML: &str = include_str!("../../../web/index.html");
pub const APP_JS: &str = include_str!("../../../web/app.js");
pub const STYLE_CSS: &str = include_str!("../../../web/style.css");
pub const OPENAPI_YAML: &str = include_str!("../../../docs/openapi.yaml");

// ------------------------------------------------------------------ the JWT authorizer

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm or key id is not accepted")]
    WrongAlgorithm,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not trusted")]
    WrongIssuer,
    #[error("the token is not for this audience")]
    WrongAudience,
}

/// The HTTP API's JWT authorizer (`JwtConfiguration` in `template.yaml`): RS256 tokens from
/// the issuer's keys only, `iss`, `exp` and `nbf` checked, `aud` (or, for access tokens
/// without one, `client_id`) must name the audience. Verification is `jsonwebtoken`'s.
pub struct JwtAuthorizer {
    issuer: String,
    audience: String,
    /// The issuer's JWKS: key id → key.
    keys: BTreeMap<String, DecodingKey>,
}

impl JwtAuthorizer {
    /// Trust the tokens `idp` issues, through its public key only.
    pub fn trusting(idp: &LocalIdp) -> Result<Self, String> {
        let key = DecodingKey::from_rsa_pem(idp.public_pem().as_bytes())
            .map_err(|e| format!("the JWT public key is unusable: {e}"))?;
        Ok(Self {
            issuer: idp.issuer.clone(),
            audience: idp.audience.clone(),
            keys: BTreeMap::from([(idp.kid().to_owned(), key)]),
        })
    }

    /// Verify an `Authorization` header value and return the claims the way API Gateway
    /// passes them to a payload-2.0 integration: every value a string.
    pub fn authorize(
        &self,
        authorization: Option<&str>,
    ) -> Result<BTreeMap<String, String>, JwtError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(JwtError::Missing)?;
        let claims = self.verify(token)?;
        Ok(claims
            .into_iter()
            .map(|(k, v)| (k, claim_string(&v)))
            .collect())
    }

    pub fn verify(&self, token: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(JwtError::WrongAlgorithm)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    JwtError::WrongAlgorithm
                }
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::InvalidIssuer => JwtError::WrongIssuer,
                ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => JwtError::WrongIssuer,
                ErrorKind::MissingRequiredClaim(claim) if claim == "exp" => JwtError::Expired,
                ErrorKind::InvalidAudience => JwtError::WrongAudience,
                _ => JwtError::Malformed,
            })?;
        // jsonwebtoken checks `aud` when present; API Gateway accepts `client_id` instead.
        let claims = data.claims;
        if !claims.contains_key("aud")
            && claims.get("client_id").and_then(Value::as_str) != Some(self.audience.as_str())
        {
            return Err(JwtError::WrongAudience);
        }
        Ok(claims)
    }
}

/// How API Gateway renders a claim for payload format 2.0: strings as they are, numbers and
/// booleans as text, arrays as `[a b c]`.
fn claim_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(claim_string).collect::<Vec<_>>().join(" ")
        ),
        other => other.to_string(),
    }
}

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
    pub fn new(routes: &[RouteSpec]) -> Result<Self, String> {
        let routes = routes
            .iter()
            .map(|route| {
                Function::from_logical_id(&route.function)
                    .map(|f| (route.clone(), f))
                    .ok_or_else(|| {
                        format!(
                            "the local stack cannot serve {} {}: it has no stand-in for {}",
                            route.method, route.path, route.function
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
    pub view: Arc<super::stack::Deployed<issue_view_url::Deps>>,
    /// Mints tokens for `/local/token` (the page's dev sign-in).
    pub idp: Arc<LocalIdp>,
    pub api_url: String,
    /// The CDN stand-in's base URL, for the page's gallery.
    pub cdn_url: String,
    /// Serve the page from this directory instead of the copy built in (`up --web-dir`).
    pub web_dir: Option<std::path::PathBuf>,
    /// The functions' fault plan, shown and replaced by `/local/faults`.
    pub faults: super::faults::Faults,
}

/// The media type of a static file, by its extension; `None` for what the page server does
/// not serve.
fn static_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

/// A file under `dir` named by a URL path (`/` and `/x/` mean their `index.html`); `None`
/// for paths with `..`, `.` or empty segments, or of a type not served.
fn static_file(dir: &std::path::Path, path: &str) -> Option<(std::path::PathBuf, &'static str)> {
    let mut relative = path.strip_prefix('/').unwrap_or(path).to_owned();
    if relative.is_empty() || relative.ends_with('/') {
        relative.push_str("index.html");
    }
    if relative.split('/').any(|segment| {
        segment.is_empty() || segment == "." || segment == ".." || segment.contains('\\')
    }) {
        return None;
    }
    let media_type = static_type(&relative)?;
    Some((dir.join(relative), media_type))
}

impl LocalApi {
    pub async fn handle(&self, request: http::Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        if request.method() == Method::OPTIONS && request.headers().contains_key(header::ORIGIN) {
            return self.cors.preflight(request.headers());
        }
        let request_headers = request.headers().clone();
        let mut response = self.answer(request, peer).await;
        self.cors.decorate(&request_headers, &mut response);
        response
    }

    async fn answer(&self, request: http::Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let raw_query = request.uri().query().unwrap_or("").to_owned();
        if method == Method::GET
            && let Some(dir) = &self.web_dir
            && let Some((file, media_type)) = static_file(dir, &path)
        {
            return match tokio::fs::read(&file).await {
                Ok(bytes) => respond(StatusCode::OK, media_type, bytes),
                Err(_) => gateway_message(StatusCode::NOT_FOUND, "Not Found"),
            };
        }
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
                    &json!({"mode": "local", "api_url": self.api_url, "cdn_url": self.cdn_url}),
                );
            }
            (&Method::GET, "/local/faults") => {
                return json(StatusCode::OK, &self.faults.describe());
            }
            (&Method::PUT, "/local/faults") => {
                let body = read_body(request.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                let plan = String::from_utf8_lossy(&body);
                return match self.faults.set(&plan) {
                    Ok(()) => json(StatusCode::OK, &self.faults.describe()),
                    Err(message) => json(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "bad_fault_plan", "message": message}),
                    ),
                };
            }
            (&Method::POST, "/local/token") => {
                let body = read_body(request.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                return self.mint(&body);
            }
            _ => {}
        }

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
            Function::IssueViewUrl => {
                issue_view_url::handle(&self.view.current(), lambda_request).await
            }
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
                &json!({"token": token, "expires_at": shared::domain::time::rfc3339(chrono::DateTime::from_timestamp(now + ttl, 0).unwrap_or_default())}),
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
    #[test]
    fn the_page_server_serves_files_under_its_directory_only() {
        let dir = std::path::Path::new("/srv/web");
        let file = |p: &str| static_file(dir, p).map(|(f, t)| (f.display().to_string(), t));
        assert_eq!(
            file("/"),
            Some(("/srv/web/index.html".into(), "text/html; charset=utf-8"))
        );
        assert_eq!(
            file("/uppy/"),
            Some((
                "/srv/web/uppy/index.html".into(),
                "text/html; charset=utf-8"
            ))
        );
        assert_eq!(
            file("/uppy/dist/uppy.min.mjs"),
            Some((
                "/srv/web/uppy/dist/uppy.min.mjs".into(),
                "text/javascript; charset=utf-8"
            ))
        );
        for refused in [
            "/../etc/passwd.html",
            "/a/./b.js",
            "//x.js",
            "/a\\..\\b.js",
            "/uploads",
            "/x.sh",
        ] {
            assert_eq!(file(refused), None, "{refused}");
        }
    }

    use super::*;
    use crate::keys::{KeyKind, generate};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn route(method: &str, path: &str, function: &str) -> RouteSpec {
        RouteSpec {
            method: method.into(),
            path: path.into(),
            function: function.into(),
            event: "E".into(),
        }
    }

    #[test]
    fn routes_match_like_api_gateway() {
        let table = RouteTable::new(&[
            route("POST", "/uploads", "IssueUploadUrlFunction"),
            route("GET", "/files/{file_id}/url", "IssueViewUrlFunction"),
        ])
        .unwrap();
        let (key, function, params) = table.find("GET", "/files/abc/url").unwrap();
        assert_eq!(
            (key.as_str(), function),
            ("GET /files/{file_id}/url", Function::IssueViewUrl)
        );
        assert_eq!(params["file_id"], "abc");
        assert_eq!(
            table.find("POST", "/uploads").unwrap().1,
            Function::IssueUploadUrl
        );
        assert!(table.find("PUT", "/uploads").is_none());
        assert!(table.find("GET", "/files//url").is_none());
        assert!(table.find("GET", "/files/a/b").is_none());
        assert!(table.find("GET", "/nope").is_none());
        let err = RouteTable::new(&[route("GET", "/x", "SomeNewFunction")])
            .err()
            .unwrap();
        assert!(err.contains("no stand-in for SomeNewFunction"), "{err}");
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

    const NOW_TTL: i64 = 600;

    fn idp() -> LocalIdp {
        let pair = generate(KeyKind::Rsa).unwrap();
        LocalIdp::new(
            &pair,
            "http://127.0.0.1:3000/local-idp",
            "private-uploads-local",
        )
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    #[test]
    fn minted_tokens_pass_with_string_claims() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        let issued = now();
        let token = idp.mint("alice", issued, 3600).unwrap();
        let claims = authorizer.authorize(Some(&bearer(&token))).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["iss"], "http://127.0.0.1:3000/local-idp");
        assert_eq!(claims["exp"], (issued + 3600).to_string());
    }

    #[test]
    fn missing_expired_and_early_tokens_are_refused() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        assert_eq!(authorizer.authorize(None), Err(JwtError::Missing));
        assert_eq!(
            authorizer.authorize(Some("Basic abc")),
            Err(JwtError::Missing)
        );
        let expired = idp.mint("alice", now() - 3600, 60).unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&expired))),
            Err(JwtError::Expired)
        );
        let early = idp.mint("alice", now() + 3600, 60).unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&early))),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            authorizer.authorize(Some("Bearer not.a.jwt")),
            Err(JwtError::Malformed)
        );
        let no_exp = idp
            .sign(&json!({"sub": "a", "iss": idp.issuer, "aud": idp.audience}))
            .unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&no_exp))),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn wrong_issuer_audience_signature_and_algorithm_are_refused() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        let claims = |iss: &str, aud: &str| json!({"sub": "a", "iss": iss, "aud": aud, "exp": now() + NOW_TTL});
        let wrong_iss = idp
            .sign(&claims("https://evil.example", &idp.audience))
            .unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&wrong_iss))),
            Err(JwtError::WrongIssuer)
        );
        let wrong_aud = idp.sign(&claims(&idp.issuer, "someone-else")).unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&wrong_aud))),
            Err(JwtError::WrongAudience)
        );
        let no_aud = idp
            .sign(&json!({"sub": "a", "iss": idp.issuer, "exp": now() + NOW_TTL}))
            .unwrap();
        assert_eq!(
            authorizer.authorize(Some(&bearer(&no_aud))),
            Err(JwtError::WrongAudience)
        );

        // Same issuer, audience and key id, but signed by another key.
        let other =
            LocalIdp::new(&generate(KeyKind::Rsa).unwrap(), &idp.issuer, &idp.audience).unwrap();
        let forged = other.mint("alice", now(), NOW_TTL).unwrap();
        let (_, rest) = forged.split_once('.').unwrap();
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "typ": "JWT", "kid": idp.kid()}).to_string());
        assert_eq!(
            authorizer.authorize(Some(&bearer(&format!("{header}.{rest}")))),
            Err(JwtError::BadSignature)
        );
        // Its own key id is not in the issuer's key set.
        assert_eq!(
            authorizer.authorize(Some(&bearer(&forged))),
            Err(JwtError::WrongAlgorithm)
        );

        // A valid token whose claims were edited after signing.
        let token = idp.mint("alice", now(), NOW_TTL).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let edited = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
            .unwrap()
            .replace("\"alice\"", "\"bob\"");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(edited),
            parts[2]
        );
        assert_eq!(
            authorizer.authorize(Some(&bearer(&tampered))),
            Err(JwtError::BadSignature)
        );

        // alg=none and HS256 tokens are never accepted.
        for alg in ["none", "HS256"] {
            let unsigned = format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": idp.kid()}).to_string()),
                URL_SAFE_NO_PAD.encode(claims(&idp.issuer, &idp.audience).to_string())
            );
            let refused = authorizer.authorize(Some(&bearer(&unsigned)));
            assert!(
                matches!(refused, Err(JwtError::WrongAlgorithm | JwtError::Malformed)),
                "{alg}: {refused:?}"
            );
        }
    }

    #[test]
    fn access_tokens_may_name_the_client_instead_of_an_audience() {
        let idp = idp();
        let authorizer = JwtAuthorizer::trusting(&idp).unwrap();
        let token = idp
            .sign(&json!({"sub": "a", "iss": idp.issuer, "client_id": idp.audience, "exp": now() + NOW_TTL, "scope": ["x", "y"]}))
            .unwrap();
        let claims = authorizer.authorize(Some(&bearer(&token))).unwrap();
        assert_eq!(claims["scope"], "[x y]");
    }
}
