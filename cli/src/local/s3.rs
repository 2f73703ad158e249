//! A verifying S3 on loopback: `s3s` + `s3s-fs` with SigV4 checking on, wrapped so it
//! behaves like S3 where our product depends on it.
//!
//! What the wrapper adds to s3s-fs:
//! - a PUT whose body does not match its `x-amz-checksum-sha256` is refused *before*
//!   anything is stored (s3s-fs writes the file, then answers BadDigest, leaving it behind);
//! - HEAD and GET return an object's checksums only when asked (`x-amz-checksum-mode:
//!   ENABLED`), as S3 does (s3s-fs always returns them, which would hide a caller that
//!   forgot to ask);
//! - after each object is created, an ObjectCreated notification (the local stand-in for
//!   S3 event notifications), with a sequencer that grows for every event;
//! - the bucket's CORS rule from `template.yaml` (its methods and headers from the page's
//!   origin, its exposed headers), which s3s does not implement.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::template::CorsRule;

/// One object creation, as S3 would notify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectCreated {
    /// `Put`, `Post`, `Copy` or `CompleteMultipartUpload` (after `ObjectCreated:`).
    pub kind: &'static str,
    pub bucket: String,
    /// The key, not yet URL-encoded.
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub sequencer: String,
}

impl ObjectCreated {
    /// The S3 event notification JSON (`{"Records": [...]}`), with the key URL-encoded the
    /// way S3 encodes it.
    pub fn to_event(&self, region: &str) -> serde_json::Value {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": region,
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "eventName": format!("ObjectCreated:{}", self.kind),
            "userIdentity": {"principalId": "AWS:LOCAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": self.sequencer, "x-amz-id-2": "local"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "record-ownership",
                "bucket": {
                    "name": self.bucket,
                    "ownerIdentity": {"principalId": "LOCAL"},
                    "arn": format!("arn:aws:s3:::{}", self.bucket)
                },
                "object": {
                    "key": shared::domain::s3_event::encode_event_key(&self.key),
                    "size": self.size,
                    "eTag": self.etag,
                    "sequencer": self.sequencer
                }
            }
        }]})
    }
}

struct Notifying {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
    events: mpsc::UnboundedSender<ObjectCreated>,
    sequence: AtomicU64,
}

impl Notifying {
    fn notify(&self, kind: &'static str, bucket: &str, key: &str, etag: Option<&ETag>) {
        let size = std::fs::metadata(self.root.join(bucket).join(key))
            .map(|m| m.len())
            .unwrap_or(0);
        let sequencer = format!("{:018X}", self.sequence.fetch_add(1, Ordering::SeqCst));
        let etag = etag.map(|e| e.value().to_owned()).unwrap_or_default();
        let _ = self.events.send(ObjectCreated {
            kind,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            etag,
            sequencer,
        });
    }
}

/// Clear the checksum fields of a HEAD or GET output (they have the same names in both).
macro_rules! forget_checksums {
    ($out:expr) => {{
        let out = &mut $out;
        (
            out.checksum_crc32,
            out.checksum_crc32c,
            out.checksum_crc64nvme,
        ) = (None, None, None);
        (out.checksum_sha1, out.checksum_sha256, out.checksum_type) = (None, None, None);
    }};
}

/// Delegate the operations s3s-fs implements, unchanged.
macro_rules! delegate {
    ($($method:ident: $input:ty => $output:ty;)*) => {
        $(
            // Written out as async_trait expands it: the attribute cannot see into macros.
            fn $method<'life0, 'async_trait>(
                &'life0 self,
                req: S3Request<$input>,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = S3Result<S3Response<$output>>> + Send + 'async_trait>>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                self.fs.$method(req)
            }
        )*
    };
}

#[async_trait]
impl S3 for Notifying {
    delegate! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        delete_object: DeleteObjectInput => DeleteObjectOutput;
        delete_objects: DeleteObjectsInput => DeleteObjectsOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
        list_objects: ListObjectsInput => ListObjectsOutput;
        list_objects_v2: ListObjectsV2Input => ListObjectsV2Output;
        create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput;
        upload_part: UploadPartInput => UploadPartOutput;
        upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput;
        list_parts: ListPartsInput => ListPartsOutput;
        abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput;
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let asked = checksum_asked(req.input.checksum_mode.as_ref());
        let mut response = self.fs.head_object(req).await?;
        if !asked {
            forget_checksums!(response.output);
        }
        Ok(response)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let asked = checksum_asked(req.input.checksum_mode.as_ref());
        let mut response = self.fs.get_object(req).await?;
        if !asked {
            forget_checksums!(response.output);
        }
        Ok(response)
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if let Some(expected) = req.input.checksum_sha256.clone() {
            // Hash first, store second: a bad body must leave nothing (and no old object
            // overwritten) behind, as on S3.
            let Some(body) = req.input.body.take() else {
                return Err(s3_error!(IncompleteBody));
            };
            let chunks: Vec<Bytes> = body
                .try_collect()
                .await
                .map_err(|_| s3_error!(IncompleteBody, "the request body could not be read"))?;
            let mut hasher = Sha256::new();
            for chunk in &chunks {
                hasher.update(chunk);
            }
            let actual = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                hasher.finalize(),
            );
            if actual != expected {
                return Err(s3_error!(
                    BadDigest,
                    "The SHA256 you specified did not match the calculated checksum."
                ));
            }
            let stream =
                futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
            req.input.body = Some(StreamingBlob::wrap(stream));
        }
        // The trait's default `post_object` (a browser form upload) lands here too.
        let kind = if req.method == http::Method::POST {
            "Post"
        } else {
            "Put"
        };
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let response = self.fs.put_object(req).await?;
        self.notify(kind, &bucket, &key, response.output.e_tag.as_ref());
        Ok(response)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let response = self.fs.copy_object(req).await?;
        let etag = response
            .output
            .copy_object_result
            .as_ref()
            .and_then(|r| r.e_tag.clone());
        self.notify("Copy", &bucket, &key, etag.as_ref());
        Ok(response)
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let response = self.fs.complete_multipart_upload(req).await?;
        let etag = response.output.e_tag.clone();
        self.notify("CompleteMultipartUpload", &bucket, &key, etag.as_ref());
        Ok(response)
    }
}

/// S3 returns stored checksums only to a request with `x-amz-checksum-mode: ENABLED`.
fn checksum_asked(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED)
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
    /// Serve `root` (one directory per bucket) with signature checking for one key pair;
    /// object creations are sent to `events`. `port` 0 picks a free port.
    pub async fn start(
        root: &Path,
        port: u16,
        access_key: &str,
        secret_key: &str,
        cors: S3Cors,
        events: mpsc::UnboundedSender<ObjectCreated>,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| format!("s3s-fs cannot use {}: {e:?}", root.display()))?;
        let start = chrono::Utc::now().timestamp_micros().max(0) as u64;
        let s3 = Notifying {
            fs,
            root: root.to_owned(),
            events,
            sequence: AtomicU64::new(start),
        };
        let mut builder = s3s::service::S3ServiceBuilder::new(s3);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
        let service = builder.build();
        let cors = Arc::new(cors);

        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
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
                    let mut response = service.call(req.map(s3s::Body::from)).await?;
                    cors.decorate(origin.as_ref(), response.headers_mut());
                    Ok::<_, s3s::HttpError>(response)
                }
            },
        ));
        Ok(Self {
            endpoint: format!("http://{addr}"),
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
pub fn create_bucket_dir(root: &Path, bucket: &str) -> Result<(), String> {
    std::fs::create_dir_all(root.join(bucket))
        .map_err(|e| format!("cannot create bucket {bucket}: {e}"))
}
