//! The few bucket operations the functions need, behind a port so handler tests can run
//! without S3.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_s3::types::ChecksumMode;

use crate::aws::store_error;
use crate::records::StoreError;

/// What HEAD tells us about a stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
    /// Without the surrounding quotes.
    pub etag: String,
    /// Base64 SHA-256, when the object was uploaded with one.
    pub sha256: Option<String>,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// `None` when there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;
    /// Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

pub fn unquote_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Objects {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let result = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out
                    .content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: out.content_type,
                etag: out.e_tag.as_deref().map(unquote_etag).unwrap_or_default(),
                sha256: out.checksum_sha256,
            })),
            Err(err) => {
                let not_found = err.as_service_error().is_some_and(|e| e.is_not_found())
                    || err
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404);
                if not_found {
                    Ok(None)
                } else {
                    Err(store_error("HeadObject", &err))
                }
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|err| store_error("DeleteObject", &err))
    }
}

/// Objects in memory, for tests.
#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<BTreeMap<String, ObjectInfo>>,
}

impl MemoryObjects {
    pub fn put(&self, key: &str, info: ObjectInfo) {
        self.lock().insert(key.to_owned(), info);
    }

    pub fn contains(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ObjectInfo>> {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl ObjectStore for MemoryObjects {
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}
