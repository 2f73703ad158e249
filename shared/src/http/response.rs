//! Building the HTTP responses the functions return.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// A JSON response with the given status, never cached.
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

/// Where a cookie goes and for how long: every cookie is also `Secure; HttpOnly;
/// SameSite=Strict` (sent only over HTTPS, never to scripts, never on cross-site requests).
pub struct CookieScope<'a> {
    pub path: &'a str,
    pub max_age: u64,
}

/// One `Set-Cookie` value. It names no `Domain`: the cookie is the setting host's alone, and
/// no sibling host under the same domain receives it.
pub fn set_cookie(name: &str, value: &str, scope: &CookieScope<'_>) -> String {
    format!(
        "{name}={value}; Path={}; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        scope.path, scope.max_age
    )
}

/// A response with no body that sets `cookies` (one `Set-Cookie` header each; API Gateway
/// sends them as the payload's `cookies`).
pub fn cookies_response(status: StatusCode, cookies: &[String]) -> Response<Body> {
    let mut response = empty_response(status);
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_every_attribute() {
        let scope = CookieScope {
            path: "/users/alice/",
            max_age: 1800,
        };
        let cookie = set_cookie("CloudFront-Key-Pair-Id", "K1", &scope);
        assert_eq!(
            cookie,
            "CloudFront-Key-Pair-Id=K1; Path=/users/alice/; Max-Age=1800; Secure; HttpOnly; SameSite=Strict"
        );
        assert!(!cookie.to_ascii_lowercase().contains("domain"));
        let response = cookies_response(StatusCode::NO_CONTENT, &["a=1".into(), "b=2".into()]);
        let set: Vec<_> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .collect();
        assert_eq!(set, ["a=1", "b=2"]);
    }
}
