//! The multipart uploads in the bucket, as the upload function drives them: create one,
//! list the parts uploaded so far (to resume), complete it from the client's part list,
//! abort it; and list a prefix's unfinished uploads (to bound them).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::StoreError;
use crate::domain::parts::Crc64Checksum;
use crate::domain::upload::UploadRequest;

/// A part S3 holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedPart {
    pub part_number: u32,
    /// Without the surrounding quotes.
    pub etag: String,
    pub size: u64,
    /// The part's CRC64NVME (base64), when S3 keeps one: an upload created with a
    /// full-object CRC64NVME has one for every part.
    pub crc64nvme: Option<String>,
}

/// A part as the client lists it for completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

/// An upload not yet completed nor aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfinished {
    pub key: String,
    /// When it was created, in epoch seconds.
    pub initiated: i64,
}

/// How a completion ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    Done,
    /// S3 refused the part list or the object (`InvalidPart`, `InvalidPartOrder`,
    /// `EntityTooSmall`, `BadDigest`, `NoSuchUpload`, `PreconditionFailed`…): the upload is
    /// still there (unless the code says it is gone) and the client may fix and retry.
    Refused {
        code: String,
        message: String,
    },
}

#[async_trait]
pub trait MultipartUploads: Send + Sync {
    /// Start an upload of `key` with the upload's Content-Type and filename (as
    /// `x-amz-meta-filename`); with `crc64nvme`, S3 checks the completed object against that
    /// full-object CRC64NVME. Returns the upload id.
    async fn create(
        &self,
        key: &str,
        upload: &UploadRequest,
        crc64nvme: bool,
    ) -> Result<String, StoreError>;
    /// The parts uploaded so far, in order; `None` when there is no such upload.
    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<UploadedPart>>, StoreError>;
    /// Assemble the object from `parts`, never overwriting an existing one.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        crc64nvme: Option<&Crc64Checksum>,
    ) -> Result<Completion, StoreError>;
    /// Drop the upload and its parts; a missing upload is not an error.
    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), StoreError>;
    /// Up to `max` of the unfinished uploads whose keys start with `prefix` (S3's order: by
    /// key).
    async fn unfinished(&self, prefix: &str, max: u32) -> Result<Vec<Unfinished>, StoreError>;
}

/// Multipart uploads in memory, for tests: parts are added by [`MemoryMultipart::add_part`].
#[derive(Default)]
pub struct MemoryMultipart {
    uploads: Mutex<BTreeMap<String, (String, Vec<UploadedPart>)>>,
    completed: Mutex<Vec<String>>,
    /// When each upload (by id) was created.
    initiated: Mutex<BTreeMap<String, i64>>,
}

impl MemoryMultipart {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (String, Vec<UploadedPart>)>> {
        self.uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A part arrives, as the browser's PUT to a part URL would make it.
    pub fn add_part(&self, upload_id: &str, part: UploadedPart) {
        if let Some((_, parts)) = self.lock().get_mut(upload_id) {
            parts.retain(|p| p.part_number != part.part_number);
            parts.push(part);
            parts.sort_by_key(|p| p.part_number);
        }
    }

    /// The keys completed so far.
    pub fn completed(&self) -> Vec<String> {
        self.completed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn is_open(&self, upload_id: &str) -> bool {
        self.lock().contains_key(upload_id)
    }
}

#[async_trait]
impl MultipartUploads for MemoryMultipart {
    async fn create(
        &self,
        key: &str,
        _upload: &UploadRequest,
        _crc64nvme: bool,
    ) -> Result<String, StoreError> {
        let id = format!("upload-{}", self.lock().len() + 1);
        self.lock().insert(id.clone(), (key.to_owned(), Vec::new()));
        self.initiated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), chrono::Utc::now().timestamp());
        Ok(id)
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<UploadedPart>>, StoreError> {
        Ok(self
            .lock()
            .get(upload_id)
            .filter(|(k, _)| k == key)
            .map(|(_, parts)| parts.clone()))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        _crc64nvme: Option<&Crc64Checksum>,
    ) -> Result<Completion, StoreError> {
        let mut uploads = self.lock();
        let Some((upload_key, held)) = uploads.get(upload_id).filter(|(k, _)| k == key) else {
            return Ok(Completion::Refused {
                code: "NoSuchUpload".into(),
                message: "The specified upload does not exist.".into(),
            });
        };
        let known = |p: &CompletedPart| {
            held.iter()
                .any(|h| h.part_number == p.part_number && h.etag == p.etag)
        };
        if parts.is_empty() || !parts.iter().all(known) {
            return Ok(Completion::Refused {
                code: "InvalidPart".into(),
                message: "One or more of the specified parts could not be found.".into(),
            });
        }
        let key = upload_key.clone();
        uploads.remove(upload_id);
        self.completed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(key);
        Ok(Completion::Done)
    }

    async fn abort(&self, _key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.lock().remove(upload_id);
        Ok(())
    }

    async fn unfinished(&self, prefix: &str, max: u32) -> Result<Vec<Unfinished>, StoreError> {
        let initiated = self
            .initiated
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut found: Vec<Unfinished> = self
            .lock()
            .iter()
            .filter(|(_, (key, _))| key.starts_with(prefix))
            .map(|(id, (key, _))| Unfinished {
                key: key.clone(),
                initiated: initiated.get(id).copied().unwrap_or(0),
            })
            .collect();
        found.sort_by(|a, b| (&a.key, a.initiated).cmp(&(&b.key, b.initiated)));
        found.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        Ok(found)
    }
}
