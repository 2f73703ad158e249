//! What the local API serves beside the routes: the upload page (built in, or from
//! `up --web-dir`), the OpenAPI document, and the local-only helpers `/local/config`,
//! `/local/token` (the page's dev sign-in) and `/local/faults`.

use std::sync::Arc;

use http::{Method, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::faults::Faults;
use super::idp::LocalIdp;
use super::server::{HttpResponse, gateway_message, json, read_body, respond};

pub const INDEX_HTML: &str = include_str!("../../../web/index.html");
pub const APP_JS: &str = include_str!("../../../web/app.js");
/// The browser client package (web/client) the page imports, module by module, at
/// `/client/{name}`.
pub const CLIENT_MODULES: [(&str, &str); 5] = [
    ("index.mjs", include_str!("../../../web/client/index.mjs")),
    ("api.mjs", include_str!("../../../web/client/api.mjs")),
    ("upload.mjs", include_str!("../../../web/client/upload.mjs")),
    (
        "crc64nvme.mjs",
        include_str!("../../../web/client/crc64nvme.mjs"),
    ),
    ("sigv4.mjs", include_str!("../../../web/client/sigv4.mjs")),
];
pub const STYLE_CSS: &str = include_str!("../../../web/style.css");
pub const OPENAPI_YAML: &str = include_str!("../../../docs/openapi.yaml");

pub struct DevPages {
    /// Mints tokens for `/local/token`.
    pub idp: Arc<LocalIdp>,
    pub api_url: String,
    /// The CDN stand-in's base URL, for the page's gallery.
    pub cdn_url: String,
    /// Serve the page from this directory instead of the copy built in (`up --web-dir`).
    pub web_dir: Option<std::path::PathBuf>,
    /// The functions' fault plan, shown and replaced by `/local/faults`.
    pub faults: Faults,
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

impl DevPages {
    /// The answer when `request` is for a page or a `/local/*` helper; otherwise the
    /// request, untouched, for the routes.
    pub async fn answer(
        &self,
        request: http::Request<Incoming>,
    ) -> Result<HttpResponse, Box<http::Request<Incoming>>> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        if method == Method::GET
            && let Some(dir) = &self.web_dir
            && let Some((file, media_type)) = static_file(dir, &path)
        {
            return Ok(match tokio::fs::read(&file).await {
                Ok(bytes) => respond(StatusCode::OK, media_type, bytes),
                Err(_) => gateway_message(StatusCode::NOT_FOUND, "Not Found"),
            });
        }
        let built_in = |media_type, text| Ok(respond(StatusCode::OK, media_type, text));
        match (&method, path.as_str()) {
            (&Method::GET, "/" | "/index.html") => built_in("text/html; charset=utf-8", INDEX_HTML),
            (&Method::GET, "/app.js") => built_in("text/javascript; charset=utf-8", APP_JS),
            (&Method::GET, client) if client.starts_with("/client/") => {
                match CLIENT_MODULES
                    .iter()
                    .find(|(name, _)| client[8..] == **name)
                {
                    Some((_, text)) => built_in("text/javascript; charset=utf-8", text),
                    None => Ok(gateway_message(StatusCode::NOT_FOUND, "Not Found")),
                }
            }
            (&Method::GET, "/style.css") => built_in("text/css; charset=utf-8", STYLE_CSS),
            (&Method::GET, "/openapi.yaml") => built_in("application/yaml", OPENAPI_YAML),
            (&Method::GET, "/local/config") => Ok(json(
                StatusCode::OK,
                &json!({"mode": "local", "api_url": self.api_url, "cdn_url": self.cdn_url}),
            )),
            (&Method::GET, "/local/faults") => Ok(json(StatusCode::OK, &self.faults.describe())),
            (&Method::PUT, "/local/faults") => {
                let body = read_body(request.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                Ok(match self.faults.set(&String::from_utf8_lossy(&body)) {
                    Ok(()) => json(StatusCode::OK, &self.faults.describe()),
                    Err(message) => json(
                        StatusCode::BAD_REQUEST,
                        &json!({"error": "bad_fault_plan", "message": message}),
                    ),
                })
            }
            (&Method::POST, "/local/token") => {
                let body = read_body(request.into_body(), 64 * 1024)
                    .await
                    .unwrap_or_default();
                Ok(self.mint(&body))
            }
            _ => Err(Box::new(request)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in page works only if every module the page and the client import is built
    /// in: each relative `from "./x.mjs"` (and the page's `./client/x.mjs`) is in the table.
    #[test]
    fn every_client_module_the_page_imports_is_built_in() {
        let built_in: Vec<&str> = CLIENT_MODULES.iter().map(|(name, _)| *name).collect();
        let sources = std::iter::once(APP_JS).chain(CLIENT_MODULES.iter().map(|(_, text)| *text));
        let mut imported = Vec::new();
        for source in sources {
            for piece in source.split(" from \"").skip(1) {
                let target = piece.split('"').next().unwrap_or_default();
                let name = target
                    .strip_prefix("./client/")
                    .or_else(|| target.strip_prefix("./"))
                    .unwrap_or(target);
                imported.push(name.to_owned());
            }
        }
        assert!(imported.contains(&"index.mjs".to_owned()), "{imported:?}");
        assert!(imported.contains(&"sigv4.mjs".to_owned()), "{imported:?}");
        for name in &imported {
            assert!(
                built_in.contains(&name.as_str()),
                "{name} is imported but not built in"
            );
        }
    }

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
}
