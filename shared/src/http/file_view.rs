//! The `File` object of the API contract, made from a record.

use serde::Serialize;

use crate::domain::record::{FileRecord, FileStatus};
use crate::domain::time::rfc3339;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileView {
    pub file_id: String,
    /// The object's key, `users/{owner}/{file_id}`: its path on the CDN.
    pub key: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub status: FileStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<String>,
}

impl From<&FileRecord> for FileView {
    fn from(record: &FileRecord) -> Self {
        Self {
            file_id: record.file_id().to_string(),
            key: record.key().to_string(),
            filename: record.filename().as_str().to_owned(),
            content_type: record.content_type().as_str().to_owned(),
            size: record.size().get(),
            sha256: record.sha256().map(|s| s.as_str().to_owned()),
            status: record.status(),
            reason: record.rejection().map(ToString::to_string),
            created_at: rfc3339(record.created_at()),
            uploaded_at: record.uploaded_at().map(rfc3339),
        }
    }
}
