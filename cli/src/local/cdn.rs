//! The local stand-in for the CloudFront distribution: it serves an object only for a URL
//! signed by a key of its key group (canned or custom policy, SHA-1 or SHA-256, expiry,
//! source IP), or, for a URL with no signature, for signed cookies of such a policy, as the
//! distribution with `TrustedKeyGroups` does (checked by `cloudfront-viewer`, written from
//! CloudFront's documentation, not by the signer's code), then fetches the
//! object from the bucket as Origin Access Control would. Anything else is 403. Every object
//! goes out with the template's response-headers policy (nosniff, sandbox CSP, HSTS, no
//! referrer) and, unless it is a raster image, as an attachment, as the template's
//! viewer-response function does.

use std::net::SocketAddr;

use bytes::Bytes;
use cloudfront_viewer::{
    TrustedKey, ViewerRequest, has_url_signature, verify_signed_cookies, verify_signed_url,
};
use http::{HeaderValue, Method, StatusCode, header};
use hyper::body::Incoming;
use shared::domain::active_content::served_inline;

use super::server::{HttpResponse, respond};

pub struct LocalCdn {
    base: String,
    /// The key group: the keys it trusts.
    keys: std::sync::RwLock<Vec<TrustedKey>>,
    s3: aws_sdk_s3::Client,
    bucket: String,
    /// The response-headers policy's headers (`Template::cdn_headers`).
    headers: Vec<(header::HeaderName, HeaderValue)>,
    /// The last request targets received, exactly as they arrived (CloudFront's access log
    /// keeps them too): tests check that a hostile path reached the CDN unchanged.
    seen: std::sync::Mutex<std::collections::VecDeque<String>>,
    /// The distribution's behaviours towards the HTTP API (`Template::cdn_api_paths`), and
    /// the API stand-in they reach: never cached, no signature asked.
    api: Option<(Vec<String>, std::sync::Arc<super::api_gateway::LocalApi>)>,
}

/// How many request targets [`LocalCdn::requests_seen`] keeps.
const SEEN: usize = 256;

fn access_denied(message: &str) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>{}</Message></Error>",
        message.replace('&', "&amp;").replace('<', "&lt;")
    );
    respond(StatusCode::FORBIDDEN, "application/xml", body)
}

impl LocalCdn {
    /// `base` is the distribution's URL (`CDN_BASE_URL`); the key group holds one key.
    pub fn new(
        base: &str,
        key_pair_id: &str,
        public_pem: &str,
        s3: aws_sdk_s3::Client,
        bucket: &str,
        headers: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let key = TrustedKey::from_pem(key_pair_id, public_pem)
            .map_err(|e| anyhow::anyhow!("CDN public key: {e}"))?;
        let headers = headers
            .iter()
            .map(|(name, value)| {
                Ok((
                    header::HeaderName::from_bytes(name.as_bytes())?,
                    HeaderValue::from_str(value)?,
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            keys: std::sync::RwLock::new(vec![key]),
            s3,
            bucket: bucket.to_owned(),
            headers,
            seen: std::sync::Mutex::default(),
            api: None,
        })
    }

    /// The key group's keys after a deploy: `(key pair id, public key PEM)` each.
    pub fn set_key_group<'a>(
        &self,
        keys: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<()> {
        let keys = keys
            .into_iter()
            .map(|(id, pem)| TrustedKey::from_pem(id, pem).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
        Ok(())
    }

    /// Decide whether a viewer request may see its object, as CloudFront does: by the URL's
    /// signature when it carries one, else by the signed cookies. `Ok` holds the object key.
    pub fn authorize(
        &self,
        path_and_query: &str,
        cookies: &[(&str, &str)],
        source: SocketAddr,
        now: i64,
    ) -> Result<String, String> {
        let url = format!("{}{path_and_query}", self.base);
        let request = ViewerRequest {
            url: &url,
            source_ip: Some(source.ip()),
            now,
        };
        let keys = self
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if has_url_signature(&url) {
            verify_signed_url(&keys, &request)
        } else {
            verify_signed_cookies(&keys, &request, cookies)
        }
        .map_err(|e| e.to_string())?;
        let path = path_and_query.split('?').next().unwrap_or("");
        let key = percent_encoding::percent_decode_str(path.trim_start_matches('/'))
            .decode_utf8()
            .map_err(|_| "bad path")?;
        Ok(key.into_owned())
    }

    /// Send the requests whose path matches one of `paths` (CloudFront path patterns) to the
    /// API stand-in, as the distribution's behaviours towards its `api` origin do.
    pub fn with_api_behaviours(
        mut self,
        paths: Vec<String>,
        api: std::sync::Arc<super::api_gateway::LocalApi>,
    ) -> Self {
        self.api = Some((paths, api));
        self
    }

    /// The request targets (path and query) received lately, oldest first, as they arrived.
    pub fn requests_seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    pub async fn handle(&self, request: http::Request<Incoming>, peer: SocketAddr) -> HttpResponse {
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_owned();
        self.remember(&path_and_query);
        if let Some((paths, api)) = &self.api {
            let path = path_and_query.split('?').next().unwrap_or("");
            if paths
                .iter()
                .any(|pattern| cloudfront_viewer::wildcard_match(pattern, path))
            {
                return api.handle(request, peer).await;
            }
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return access_denied("This distribution only allows GET and HEAD.");
        }
        let cookie_headers = cookie_lines(request.headers());
        let cookies: Vec<(&str, &str)> = cookie_headers
            .iter()
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .collect();
        let now = chrono::Utc::now().timestamp();
        let key = match self.authorize(&path_and_query, &cookies, peer, now) {
            Ok(key) => key,
            Err(reason) => {
                tracing::info!(%reason, "CDN refused a request");
                return access_denied(&reason);
            }
        };
        let range = request
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.fetch_from_origin(&key, range, request.method() == Method::HEAD)
            .await
    }

    /// Keep a request's target among the latest seen.
    fn remember(&self, path_and_query: &str) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() == SEEN {
            seen.pop_front();
        }
        seen.push_back(path_and_query.to_owned());
    }

    /// The object at `key` from the bucket (a `range` of it, or only its headers for a
    /// HEAD), with the distribution's headers added.
    async fn fetch_from_origin(
        &self,
        key: &str,
        range: Option<String>,
        head: bool,
    ) -> HttpResponse {
        let object = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range)
            .send()
            .await
        {
            Ok(object) => object,
            Err(err) => {
                // With OAC and no s3:ListBucket, S3 answers a missing object with 403.
                tracing::info!(error = %shared::aws::error_summary(&err), "origin refused");
                return access_denied("Access Denied");
            }
        };
        let status = if object.content_range.is_some() {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        };
        let mut headers = Vec::new();
        let mut push = |name: header::HeaderName, value: Option<String>| {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.push((name, value));
            }
        };
        push(header::CONTENT_TYPE, object.content_type.clone());
        if !served_inline(object.content_type.as_deref().unwrap_or("")) {
            push(header::CONTENT_DISPOSITION, Some("attachment".into()));
        }
        push(header::ETAG, object.e_tag.clone());
        push(header::CONTENT_RANGE, object.content_range.clone());
        push(header::ACCEPT_RANGES, Some("bytes".into()));
        let body = if head {
            push(
                header::CONTENT_LENGTH,
                object.content_length.map(|n| n.to_string()),
            );
            Bytes::new()
        } else {
            match object.body.collect().await {
                Ok(data) => data.into_bytes(),
                Err(_) => {
                    return respond(StatusCode::BAD_GATEWAY, "text/plain", "origin read failed");
                }
            }
        };
        let mut response = http::Response::new(http_body_util::Full::new(body));
        *response.status_mut() = status;
        for (name, value) in headers.into_iter().chain(self.headers.iter().cloned()) {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Every `Cookie` header line of a request.
fn cookie_lines(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}
