//! A verifying S3 on loopback: `s3s` + `s3s-fs` with SigV4 checking on, wrapped so it
//! behaves like S3 where our product depends on it.
//!
//! This file is the server and its CORS rule; the bucket's state is `s3_bucket.rs`, its
//! operations `s3_api.rs`. What the wrapper adds to s3s-fs:
//! - keys kept literally, as S3 keeps them (s3s-fs would write `users/a/../b/x` to
//!   `users/b/x`): see [`fs_key`];
//! - a PUT whose body does not match its `x-amz-checksum-sha256` is refused *before*
//!   anything is stored (s3s-fs writes the file, then answers BadDigest, leaving it behind);
//! - multipart uploads as S3 does them (`s3_multipart.rs`): part ETags listed, part
//!   checksums checked, completions checked in full (and the full-object CRC64NVME) before
//!   anything is assembled;
//! - temporary credentials from the local STS, held to their session policy (`sts.rs`);
//! - HEAD and GET return an object's checksums only when asked (`x-amz-checksum-mode:
//!   ENABLED`), as S3 does (s3s-fs always returns them, which would hide a caller that
//!   forgot to ask);
//! - after each object is created, an ObjectCreated notification (the local stand-in for
//!   S3 event notifications), with a sequencer that grows for every event;
//! - the bucket's CORS rule from `template.yaml` (its methods and headers from the page's
//!   origin, its exposed headers), which s3s does not implement.

use anyhow::anyhow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::s3_bucket::LocalBucket;
pub use super::s3_bucket::{ObjectCreated, fs_key, s3_key};
use super::s3_multipart::Uploads;
use super::sts::{AssumeRole, SessionAccess, SessionAuth};
use super::template::CorsRule;

/// A form that breaks its POST policy (a condition not met, a field the policy does not
/// name): s3s answers 400 `InvalidPolicyDocument`; S3 answers 403 `AccessDenied`, "Invalid
/// according to Policy", keeping 400 for a policy it cannot read.
async fn policy_failures_as_s3_answers_them(
    mut response: http::Response<s3s::Body>,
) -> http::Response<s3s::Body> {
    let Ok(body) = response.body_mut().store_all_limited(64 * 1024).await else {
        return response;
    };
    let text = String::from_utf8_lossy(&body);
    let unmet = text.contains("<Code>InvalidPolicyDocument</Code>")
        && (text.contains("Policy condition") || text.contains("not specified in the policy"));
    if !unmet {
        *response.body_mut() = s3s::Body::from(body);
        return response;
    }
    let message = text
        .split("<Message>")
        .nth(1)
        .and_then(|m| m.split("</Message>").next())
        .unwrap_or("");
    let rewritten = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy: {message}</Message></Error>"
    );
    *response.status_mut() = http::StatusCode::FORBIDDEN;
    response.headers_mut().remove(http::header::CONTENT_LENGTH);
    *response.body_mut() = s3s::Body::from(rewritten);
    response
}

/// The bucket's CORS rule (`template.yaml`), for the page's origins, answered the way S3
/// answers it.
pub struct S3Cors {
    pub origins: Vec<String>,
    pub rule: CorsRule,
}

impl S3Cors {
    fn allows_origin(&self, origin: Option<&http::HeaderValue>) -> Option<http::HeaderValue> {
        let origin = origin?;
        self.origins
            .iter()
            .any(|o| o.as_bytes() == origin.as_bytes())
            .then(|| origin.clone())
    }

    /// S3 answers a preflight 200 with the allowed origin, methods and headers, or 403 when
    /// no rule matches.
    fn preflight<B>(&self, req: &http::Request<B>) -> http::Response<s3s::Body> {
        let headers = req.headers();
        let method_ok = headers
            .get(http::header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| self.rule.methods.iter().any(|a| a == m));
        let requested: Vec<String> = headers
            .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                h.split(',')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let headers_ok = requested
            .iter()
            .all(|h| self.rule.headers.iter().any(|a| a.eq_ignore_ascii_case(h)));
        let mut response = http::Response::new(s3s::Body::empty());
        match self.allows_origin(headers.get(http::header::ORIGIN)) {
            Some(origin) if method_ok && headers_ok => {
                let out = response.headers_mut();
                out.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                if let Ok(value) = http::HeaderValue::from_str(&self.rule.methods.join(", ")) {
                    out.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, value);
                }
                if let Ok(value) = http::HeaderValue::from_str(&requested.join(", ")) {
                    out.insert(http::header::ACCESS_CONTROL_ALLOW_HEADERS, value);
                }
                out.insert(
                    http::header::ACCESS_CONTROL_MAX_AGE,
                    http::HeaderValue::from(self.rule.max_age),
                );
                out.insert(http::header::VARY, http::HeaderValue::from_static("Origin"));
            }
            _ => *response.status_mut() = http::StatusCode::FORBIDDEN,
        }
        response
    }

    fn decorate(&self, origin: Option<&http::HeaderValue>, headers: &mut http::HeaderMap) {
        if let Some(origin) = self.allows_origin(origin) {
            headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            if let Ok(value) = http::HeaderValue::from_str(&self.rule.expose_headers.join(", ")) {
                headers.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, value);
            }
            headers.insert(http::header::VARY, http::HeaderValue::from_static("Origin"));
        }
    }
}

/// A running S3 on 127.0.0.1. Dropping it stops the server.
pub struct LocalS3 {
    pub endpoint: String,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalS3 {
    /// Serve `root` (one directory per bucket), checking signatures against the sessions
    /// `sts` holds (the stack's own key pair, and the credentials its AssumeRole issues) and
    /// answering that AssumeRole; object creations are sent to `events`. `port` 0 picks a
    /// free port.
    pub async fn start(
        root: &Path,
        port: u16,
        sts: AssumeRole,
        cors: S3Cors,
        events: mpsc::UnboundedSender<ObjectCreated>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| anyhow!("cannot create {}: {e}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| anyhow!("s3s-fs cannot use {}: {e:?}", root.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| anyhow!("{e}"))?;
        let endpoint = format!("http://{addr}");
        let start = chrono::Utc::now().timestamp_micros().max(0) as u64;
        let s3 = LocalBucket {
            fs,
            endpoint: endpoint.clone(),
            root: root.to_owned(),
            events,
            sequence: AtomicU64::new(start),
            uploads: Uploads::default(),
            archived: std::sync::Mutex::default(),
            sessions: sts.sessions.clone(),
        };
        let sessions = sts.sessions.clone();
        let mut builder = s3s::service::S3ServiceBuilder::new(s3);
        builder.set_auth(SessionAuth(sessions.clone()));
        builder.set_access(SessionAccess(sessions));
        builder.set_route(sts);
        let service = builder.build();
        let cors = Arc::new(cors);

        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(super::server::serve(
            listener,
            stopped,
            move |req: http::Request<hyper::body::Incoming>, _| {
                let (service, cors) = (service.clone(), cors.clone());
                async move {
                    let origin = req.headers().get(http::header::ORIGIN).cloned();
                    if req.method() == http::Method::OPTIONS {
                        return Ok(cors.preflight(&req));
                    }
                    let is_post = req.method() == http::Method::POST;
                    let mut response = service.call(req.map(s3s::Body::from)).await?;
                    if is_post && response.status() == http::StatusCode::BAD_REQUEST {
                        response = policy_failures_as_s3_answers_them(response).await;
                    }
                    cors.decorate(origin.as_ref(), response.headers_mut());
                    Ok::<_, s3s::HttpError>(response)
                }
            },
        ));
        Ok(Self {
            endpoint,
            stop,
            task: Some(task),
        })
    }

    /// Stop accepting and wait (briefly) for open connections to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Create a bucket directly on disk (s3s-fs keeps one directory per bucket).
pub fn create_bucket_dir(root: &Path, bucket: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join(bucket))
        .map_err(|e| anyhow!("cannot create bucket {bucket}: {e}"))
}
