//! A verifying S3 on loopback: `s3s` + `s3s-fs` with SigV4 checking on, wrapped so it
//! behaves like S3 where our product depends on it.
//!
//! What the wrapper adds to s3s-fs:
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

use super::s3_multipart::{self, Upload, Uploads, check_part, no_such_upload, plan_completion};
use super::sts::{AssumeRole, SessionAccess, SessionAuth, Sessions};
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
    /// Who made it (`userIdentity.principalId`): for temporary credentials,
    /// `AWS:<role id>:<session name>`.
    pub principal: String,
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
            "userIdentity": {"principalId": self.principal},
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

struct LocalBucket {
    fs: s3s_fs::FileSystem,
    /// `http://127.0.0.1:port`, for the `Location` of a completed upload.
    endpoint: String,
    root: PathBuf,
    events: mpsc::UnboundedSender<ObjectCreated>,
    sequence: AtomicU64,
    uploads: Uploads,
    /// The objects stored in an archive storage class, by their s3s-fs key: S3 keeps them,
    /// HEADs them, and answers a GET with `InvalidObjectState` until they are restored.
    archived: std::sync::Mutex<std::collections::HashMap<String, StorageClass>>,
    /// Who holds which access key (for each event's principal id).
    sessions: Sessions,
}

/// The storage classes S3 takes; s3s-fs only knows STANDARD and REDUCED_REDUNDANCY.
const STORAGE_CLASSES: [&str; 11] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
    "SNOW",
    "EXPRESS_ONEZONE",
];

/// The classes whose objects must be restored before a GET.
const ARCHIVE_CLASSES: [&str; 2] = ["GLACIER", "DEEP_ARCHIVE"];

/// A write's storage class, as S3 takes it: `Some` for an archive class. The class is taken
/// off the request, for s3s-fs refuses every class but two.
fn take_storage_class(class: &mut Option<StorageClass>) -> S3Result<Option<StorageClass>> {
    let Some(taken) = class.take() else {
        return Ok(None);
    };
    let name = taken.as_str();
    if !STORAGE_CLASSES.contains(&name) {
        return Err(s3_error!(
            InvalidStorageClass,
            "The storage class you specified is not valid"
        ));
    }
    Ok(ARCHIVE_CLASSES.contains(&name).then_some(taken))
}

/// The bucket blocks SSE-C (the template's `BlockedEncryptionTypes`): S3 answers a write
/// that names a customer-provided key with 403 AccessDenied.
fn refuse_customer_key(algorithm: Option<&String>) -> S3Result<()> {
    if algorithm.is_some() {
        return Err(s3_error!(
            AccessDenied,
            "Requests specifying Server Side Encryption with Customer provided keys are not allowed for this bucket"
        ));
    }
    Ok(())
}

/// The name s3s-fs stores a key under: each `/`-separated segment that is empty, `.` or
/// `..` (which s3s-fs would collapse into a path, writing `users/a/../b/x` to `users/b/x`) is
/// escaped, as is `%`, so that every key is kept literally, as S3 keeps it.
pub fn fs_key(key: &str) -> String {
    key.split('/')
        .map(|segment| match segment {
            "" => "%".to_owned(),
            "." => "%2E".to_owned(),
            ".." => "%2E%2E".to_owned(),
            other => other.replace('%', "%25"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The inverse of [`fs_key`].
pub fn s3_key(stored: &str) -> String {
    stored
        .split('/')
        .map(|segment| match segment {
            "%" => String::new(),
            "%2E" => ".".to_owned(),
            "%2E%2E" => "..".to_owned(),
            other => other.replace("%25", "%"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl LocalBucket {
    /// A key that names a "directory" of s3s-fs (`users/alice` while `users/alice/x` exists)
    /// is no object to S3: 404 `NoSuchKey`, where s3s-fs would fail reading a directory (500).
    fn refuse_directory(&self, bucket: &str, fs_key: &str) -> S3Result<()> {
        if self.root.join(bucket).join(fs_key).is_dir() {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        }
        Ok(())
    }

    /// The archive class of the object under `fs_key`, if it is in one.
    fn archived_as(&self, fs_key: &str) -> Option<StorageClass> {
        self.archived
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(fs_key)
            .cloned()
    }

    /// Record the archive class of the object now under `fs_key` (a new write replaces what
    /// was there).
    fn mark_archived(&self, fs_key: &str, class: Option<StorageClass>) {
        let mut map = self
            .archived
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match class {
            Some(class) => map.insert(fs_key.to_owned(), class),
            None => map.remove(fs_key),
        };
    }

    /// Who signed `credentials` (an event's principal id).
    fn principal(&self, credentials: Option<&s3s::auth::Credentials>) -> String {
        credentials
            .and_then(|c| self.sessions.principal(&c.access_key))
            .unwrap_or_else(|| "AWS:LOCAL".to_owned())
    }

    fn notify(&self, kind: &'static str, bucket: &str, key: &str, etag: &str, principal: String) {
        let size = std::fs::metadata(self.root.join(bucket).join(fs_key(key)))
            .map(|m| m.len())
            .unwrap_or(0);
        let sequencer = format!("{:018X}", self.sequence.fetch_add(1, Ordering::SeqCst));
        let _ = self.events.send(ObjectCreated {
            kind,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            size,
            etag: etag.trim_matches('"').to_owned(),
            sequencer,
            principal,
        });
    }

    /// Where s3s-fs keeps what it knows of an object beyond its bytes (ETag, checksums).
    fn internal_info_path(&self, bucket: &str, stored_key: &str) -> PathBuf {
        let encode =
            |s: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s);
        self.root.join(format!(
            ".bucket-{}.object-{}.internal.json",
            encode(bucket),
            encode(stored_key)
        ))
    }

    /// After a completion: the object's checksums are exactly the completed upload's (s3s-fs
    /// would keep those of an earlier object of the same key).
    fn set_checksums(
        &self,
        bucket: &str,
        stored_key: &str,
        crc64nvme: Option<&str>,
    ) -> S3Result<()> {
        let path = self.internal_info_path(bucket, stored_key);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "{}".into());
        let mut info: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&text).unwrap_or_default();
        info.retain(|name, _| !name.starts_with("checksum_"));
        if let Some(crc) = crc64nvme {
            info.insert("checksum_crc64nvme".into(), crc.into());
        }
        std::fs::write(&path, serde_json::Value::Object(info).to_string())
            .map_err(|e| s3_error!(InternalError, "cannot store the checksums: {e}"))
    }
}

/// Read a whole request body.
async fn read_all(body: Option<StreamingBlob>) -> S3Result<Vec<Bytes>> {
    let Some(body) = body else {
        return Ok(Vec::new());
    };
    body.try_collect()
        .await
        .map_err(|_| s3_error!(IncompleteBody, "the request body could not be read"))
}

fn rewrap(chunks: Vec<Bytes>) -> Option<StreamingBlob> {
    Some(StreamingBlob::wrap(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    )))
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
impl S3 for LocalBucket {
    delegate! {
        create_bucket: CreateBucketInput => CreateBucketOutput;
        delete_bucket: DeleteBucketInput => DeleteBucketOutput;
        get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput;
        head_bucket: HeadBucketInput => HeadBucketOutput;
        list_buckets: ListBucketsInput => ListBucketsOutput;
    }

    async fn head_object(
        &self,
        mut req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let asked = checksum_asked(req.input.checksum_mode.as_ref());
        req.input.key = fs_key(&req.input.key);
        self.refuse_directory(&req.input.bucket, &req.input.key)?;
        let archived = self.archived_as(&req.input.key);
        let mut response = self.fs.head_object(req).await?;
        let out = &mut response.output;
        if archived.is_some() {
            out.storage_class = archived;
        }
        if !asked {
            forget_checksums!(response.output);
        } else if out.checksum_crc64nvme.is_some() || out.checksum_sha256.is_some() {
            out.checksum_type = Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
        }
        Ok(response)
    }

    async fn get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let asked = checksum_asked(req.input.checksum_mode.as_ref());
        req.input.key = fs_key(&req.input.key);
        self.refuse_directory(&req.input.bucket, &req.input.key)?;
        if self.archived_as(&req.input.key).is_some() {
            return Err(s3_error!(
                InvalidObjectState,
                "The operation is not valid for the object's storage class"
            ));
        }
        let mut response = self.fs.get_object(req).await?;
        if !asked {
            forget_checksums!(response.output);
        }
        Ok(response)
    }

    async fn delete_object(
        &self,
        mut req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        req.input.key = fs_key(&req.input.key);
        self.mark_archived(&req.input.key, None);
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        for object in &mut req.input.delete.objects {
            object.key = fs_key(&object.key);
        }
        let mut response = self.fs.delete_objects(req).await?;
        for deleted in response.output.deleted.iter_mut().flatten() {
            deleted.key = deleted.key.as_deref().map(s3_key);
        }
        for error in response.output.errors.iter_mut().flatten() {
            error.key = error.key.as_deref().map(s3_key);
        }
        Ok(response)
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let mut response = self.fs.list_objects(req).await?;
        for object in response.output.contents.iter_mut().flatten() {
            object.key = object.key.as_deref().map(s3_key);
        }
        Ok(response)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let mut response = self.fs.list_objects_v2(req).await?;
        for object in response.output.contents.iter_mut().flatten() {
            object.key = object.key.as_deref().map(s3_key);
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
            let chunks = read_all(req.input.body.take()).await?;
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
            req.input.body = rewrap(chunks);
        }
        // The trait's default `post_object` (a browser form upload) lands here too.
        let is_form = req.method == http::Method::POST;
        refuse_customer_key(req.input.sse_customer_algorithm.as_ref())?;
        let archived = take_storage_class(&mut req.input.storage_class)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let principal = self.principal(req.credentials.as_ref());
        req.input.key = fs_key(&key);
        let mut response = self.fs.put_object(req).await?;
        self.mark_archived(&fs_key(&key), archived);
        let etag = response
            .output
            .e_tag
            .as_ref()
            .map(|e| e.value().to_owned())
            .unwrap_or_default();
        if is_form && let Ok(value) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
            // S3 answers a form with the ETag header too (s3s sends only the XML body's).
            response.headers.insert(http::header::ETAG, value);
        }
        self.notify(
            if is_form { "Post" } else { "Put" },
            &bucket,
            &key,
            &etag,
            principal,
        );
        Ok(response)
    }

    async fn copy_object(
        &self,
        mut req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        refuse_customer_key(req.input.sse_customer_algorithm.as_ref())?;
        let archived = take_storage_class(&mut req.input.storage_class)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let principal = self.principal(req.credentials.as_ref());
        req.input.key = fs_key(&key);
        if let CopySource::Bucket { key: source, .. } = &mut req.input.copy_source {
            *source = fs_key(source).into();
            // S3 cannot read an archived source before it is restored.
            if self.archived_as(&source[..]).is_some() {
                return Err(s3_error!(
                    InvalidObjectState,
                    "The operation is not valid for the object's storage class"
                ));
            }
        }
        let response = self.fs.copy_object(req).await?;
        self.mark_archived(&fs_key(&key), archived);
        let etag = response
            .output
            .copy_object_result
            .as_ref()
            .and_then(|r| r.e_tag.as_ref())
            .map(|e| e.value().to_owned())
            .unwrap_or_default();
        self.notify("Copy", &bucket, &key, &etag, principal);
        Ok(response)
    }

    async fn create_multipart_upload(
        &self,
        mut req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let key = req.input.key.clone();
        let full_object_crc64 = req
            .input
            .checksum_algorithm
            .as_ref()
            .is_some_and(|a| a.as_str() == ChecksumAlgorithm::CRC64NVME)
            && req
                .input
                .checksum_type
                .as_ref()
                .is_none_or(|t| t.as_str() == ChecksumType::FULL_OBJECT);
        let bucket = req.input.bucket.clone();
        refuse_customer_key(req.input.sse_customer_algorithm.as_ref())?;
        let archived = take_storage_class(&mut req.input.storage_class)?;
        req.input.key = fs_key(&key);
        // S3 lets anyone allowed to the key continue an upload; s3s-fs would bind it to
        // the access key that created it.
        req.credentials = None;
        let mut response = self.fs.create_multipart_upload(req).await?;
        let upload_id = response.output.upload_id.clone().unwrap_or_default();
        self.uploads.start(
            &upload_id,
            Upload {
                bucket,
                fs_key: fs_key(&key),
                full_object_crc64,
                archived,
                parts: Default::default(),
                initiated: std::time::SystemTime::now(),
            },
        );
        response.output.key = Some(key);
        if full_object_crc64 {
            response.output.checksum_algorithm =
                Some(ChecksumAlgorithm::from_static(ChecksumAlgorithm::CRC64NVME));
            response.output.checksum_type =
                Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
        }
        Ok(response)
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let upload_id = req.input.upload_id.clone();
        let upload = self.uploads.get(&upload_id)?;
        if upload.fs_key != fs_key(&req.input.key) {
            return Err(no_such_upload());
        }
        let chunks = read_all(req.input.body.take()).await?;
        let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let part = check_part(
            &bytes,
            &upload,
            req.input.checksum_crc64nvme.as_deref(),
            req.input.checksum_sha256.as_deref(),
        )?;
        let number = req.input.part_number;
        req.input.body = rewrap(chunks);
        req.input.key = upload.fs_key.clone();
        req.input.checksum_crc64nvme = None;
        req.input.checksum_sha256 = None;
        req.credentials = None;
        let mut response = self.fs.upload_part(req).await?;
        response.output.checksum_crc64nvme = part.crc64nvme.clone();
        self.uploads.record_part(&upload_id, number, part);
        Ok(response)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = &req.input;
        let upload = self.uploads.get(&input.upload_id)?;
        if upload.fs_key != fs_key(&input.key) {
            return Err(no_such_upload());
        }
        Ok(S3Response::new(s3_multipart::list_parts(
            &upload,
            &input.key,
            &input.upload_id,
            input.part_number_marker,
            input.max_parts,
        )))
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let principal = self.principal(req.credentials.as_ref());
        let upload_id = req.input.upload_id.clone();
        let upload = self.uploads.get(&upload_id)?;
        if upload.fs_key != fs_key(&key) {
            return Err(no_such_upload());
        }
        let listed = req
            .input
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.clone())
            .unwrap_or_default();
        // Everything S3 checks, checked before anything is touched: a refused completion
        // leaves the upload as it was.
        let plan = plan_completion(
            &self.root,
            &upload_id,
            &upload,
            &listed,
            req.input.checksum_crc64nvme.as_deref(),
            req.input.checksum_type.as_ref(),
        )?;
        if req.input.if_none_match.is_some()
            && self.root.join(&bucket).join(&upload.fs_key).exists()
        {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        s3_multipart::renumber(&self.root, &upload_id, &upload, &plan)?;
        if let Some(multipart) = req.input.multipart_upload.as_mut() {
            multipart.parts = Some(
                (1..=listed.len())
                    .map(|n| s3s::dto::CompletedPart {
                        part_number: i32::try_from(n).ok(),
                        ..Default::default()
                    })
                    .collect(),
            );
        }
        req.input.key = upload.fs_key.clone();
        req.input.checksum_crc64nvme = None;
        req.input.checksum_type = None;
        req.credentials = None;
        let mut response = self.fs.complete_multipart_upload(req).await?;
        if let Some(finished) = response.output.future.take() {
            response.output = finished.await?;
        }
        self.uploads.finish(&upload_id);
        self.mark_archived(&upload.fs_key, upload.archived.clone());
        self.set_checksums(&bucket, &upload.fs_key, plan.crc64nvme.as_deref())?;
        let etag = response
            .output
            .e_tag
            .as_ref()
            .map(|e| e.value().to_owned())
            .unwrap_or(plan.etag);
        response.output.key = Some(key.clone());
        // S3 answers with the object's URL; s3s-fs leaves it out (and Uppy needs it).
        response.output.location = Some(format!(
            "{}/{bucket}/{}",
            self.endpoint,
            shared::domain::s3_event::encode_event_key(&key).replace('+', "%20")
        ));
        response.output.checksum_crc64nvme = plan.crc64nvme.clone();
        if plan.crc64nvme.is_some() {
            response.output.checksum_type =
                Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
        }
        self.notify("CompleteMultipartUpload", &bucket, &key, &etag, principal);
        Ok(response)
    }

    /// S3's listing of unfinished uploads (`prefix`, `key-marker`, `upload-id-marker`,
    /// `max-uploads`; no delimiter), from what this stand-in tracks (s3s-fs lists none).
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        if input.delimiter.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "the local S3 lists multipart uploads without a delimiter"
            ));
        }
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = usize::try_from(input.max_uploads.unwrap_or(1000).clamp(0, 1000)).unwrap_or(0);
        let after_marker =
            |key: &String, id: &String| match (&input.key_marker, &input.upload_id_marker) {
                (None, _) => true,
                (Some(marker), None) => key > marker,
                (Some(marker), Some(id_marker)) => {
                    key > marker || (key == marker && id > id_marker)
                }
            };
        // By key, then by time of creation, as S3 lists them.
        let mut listed: Vec<_> = self
            .uploads
            .list(&input.bucket)
            .into_iter()
            .map(|(stored, id, initiated)| (s3_key(&stored), id, initiated))
            .filter(|(key, id, _)| key.starts_with(&prefix) && after_marker(key, id))
            .collect();
        listed.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
        let truncated = listed.len() > max;
        let page: Vec<_> = listed.into_iter().take(max).collect();
        let last = page.last().map(|(k, id, _)| (k.clone(), id.clone()));
        let uploads = page
            .into_iter()
            .map(|(key, id, initiated)| MultipartUpload {
                key: Some(key),
                upload_id: Some(id),
                initiated: Some(initiated.into()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                ..Default::default()
            })
            .collect();
        let (next_key_marker, next_upload_id_marker) = match (truncated, last) {
            (true, Some((k, id))) => (Some(k), Some(id)),
            _ => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            max_uploads: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            next_key_marker,
            next_upload_id_marker,
            uploads: Some(uploads),
            ..Default::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        mut req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let upload_id = req.input.upload_id.clone();
        let upload = self.uploads.get(&upload_id)?;
        if upload.fs_key != fs_key(&req.input.key) {
            return Err(no_such_upload());
        }
        req.input.key = upload.fs_key.clone();
        req.credentials = None;
        let response = self.fs.abort_multipart_upload(req).await?;
        self.uploads.finish(&upload_id);
        Ok(response)
    }
}

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
    ) -> Result<Self, String> {
        std::fs::create_dir_all(root)
            .map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| format!("s3s-fs cannot use {}: {e:?}", root.display()))?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
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
pub fn create_bucket_dir(root: &Path, bucket: &str) -> Result<(), String> {
    std::fs::create_dir_all(root.join(bucket))
        .map_err(|e| format!("cannot create bucket {bucket}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_literally_and_read_back() {
        for (key, stored) in [
            ("users/alice/019a", "users/alice/019a"),
            ("users/alice/../bob/x", "users/alice/%2E%2E/bob/x"),
            ("users/bob/./x", "users/bob/%2E/x"),
            ("users/bob//x", "users/bob/%/x"),
            ("users/bob/x/..", "users/bob/x/%2E%2E"),
            ("users/a%2E%2E/x", "users/a%252E%252E/x"),
            ("users/%/x", "users/%25/x"),
            ("..", "%2E%2E"),
        ] {
            assert_eq!(fs_key(key), stored, "{key}");
            assert_eq!(s3_key(stored), key, "{stored}");
        }
    }
}
