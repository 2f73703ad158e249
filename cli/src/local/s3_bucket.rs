//! The local S3's bucket as s3s-fs keeps it, and what the wrapper adds to it: keys kept
//! literally ([`fs_key`]), archive storage classes, SSE-C refused, checksums as S3 keeps them,
//! and an ObjectCreated notification for every object created.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::TryStreamExt;
use s3s::dto::*;
use s3s::{S3Result, s3_error};
use tokio::sync::mpsc;

use super::s3_multipart::Uploads;
use super::sts::Sessions;

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
                    "key": record_ownership::event_key::encode_event_key(&self.key),
                    "size": self.size,
                    "eTag": self.etag,
                    "sequencer": self.sequencer
                }
            }
        }]})
    }
}

pub(super) struct LocalBucket {
    pub(super) fs: s3s_fs::FileSystem,
    /// `http://127.0.0.1:port`, for the `Location` of a completed upload.
    pub(super) endpoint: String,
    pub(super) root: PathBuf,
    pub(super) events: mpsc::UnboundedSender<ObjectCreated>,
    pub(super) sequence: AtomicU64,
    pub(super) uploads: Uploads,
    /// The objects stored in an archive storage class, by their s3s-fs key: S3 keeps them,
    /// HEADs them, and answers a GET with `InvalidObjectState` until they are restored.
    pub(super) archived: std::sync::Mutex<std::collections::HashMap<String, StorageClass>>,
    /// Who holds which access key (for each event's principal id).
    pub(super) sessions: Sessions,
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
pub(super) fn take_storage_class(
    class: &mut Option<StorageClass>,
) -> S3Result<Option<StorageClass>> {
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
pub(super) fn refuse_customer_key(algorithm: Option<&String>) -> S3Result<()> {
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
    pub(super) fn refuse_directory(&self, bucket: &str, fs_key: &str) -> S3Result<()> {
        if self.root.join(bucket).join(fs_key).is_dir() {
            return Err(s3_error!(NoSuchKey, "The specified key does not exist."));
        }
        Ok(())
    }

    /// The archive class of the object under `fs_key`, if it is in one.
    pub(super) fn archived_as(&self, fs_key: &str) -> Option<StorageClass> {
        self.archived
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(fs_key)
            .cloned()
    }

    /// Record the archive class of the object now under `fs_key` (a new write replaces what
    /// was there).
    pub(super) fn mark_archived(&self, fs_key: &str, class: Option<StorageClass>) {
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
    pub(super) fn principal(&self, credentials: Option<&s3s::auth::Credentials>) -> String {
        credentials
            .and_then(|c| self.sessions.principal(&c.access_key))
            .unwrap_or_else(|| "AWS:LOCAL".to_owned())
    }

    pub(super) fn notify(
        &self,
        kind: &'static str,
        bucket: &str,
        key: &str,
        etag: &str,
        principal: String,
    ) {
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
    pub(super) fn internal_info_path(&self, bucket: &str, stored_key: &str) -> PathBuf {
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
    pub(super) fn set_checksums(
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
pub(super) async fn read_all(body: Option<StreamingBlob>) -> S3Result<Vec<Bytes>> {
    let Some(body) = body else {
        return Ok(Vec::new());
    };
    body.try_collect()
        .await
        .map_err(|_| s3_error!(IncompleteBody, "the request body could not be read"))
}

pub(super) fn rewrap(chunks: Vec<Bytes>) -> Option<StreamingBlob> {
    Some(StreamingBlob::wrap(futures_util::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    )))
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
