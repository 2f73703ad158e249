//! The bucket on S3: [`ObjectStore`] (HEAD asking for the stored checksums, a ranged GET of
//! the first bytes, DELETE) and [`MultipartUploads`] (create, list parts, complete, abort).

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload,
    CompletedPart as S3CompletedPart,
};

use super::errors::store_error;
use super::sdk::SdkConfig;
use crate::domain::ownership::{FILENAME_METADATA, ObjectInfo, SERVED_HEADERS};
use crate::domain::parts::Crc64Checksum;
use crate::domain::upload::{ByteSize, UploadRequest};
use crate::ports::{
    CompletedPart, Completion, MultipartUploads, ObjectStore, StoreError, Unfinished, UploadedPart,
};

/// The S3 client. With an endpoint override (the local stack's S3 on 127.0.0.1, which has
/// no per-bucket host names) requests use path-style addressing.
pub fn client(aws: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut builder =
        aws_sdk_s3::config::Builder::from(aws).interceptor(super::xray::XRayCalls::from_env());
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

pub fn unquote_etag(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// One bucket, as the functions reach it.
#[derive(Clone)]
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

/// Whether S3 says the object cannot be read as it is, whoever asks: `InvalidObjectState`
/// (an archive storage class, not restored), or a GET's 400 `InvalidRequest` (an object
/// encrypted with a customer-provided key, asked for without it). Other 400s (an expired
/// token, a malformed request, a wrong region) and permissions (403) are the reader's, and
/// stay failures to retry.
fn unreadable<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> bool {
    let code = err.as_service_error().and_then(ProvideErrorMetadata::code);
    code == Some("InvalidObjectState")
        || (err
            .raw_response()
            .is_some_and(|r| r.status().as_u16() == 400)
            && code == Some("InvalidRequest"))
}

/// A HEAD's 400, which has no body to say why (a customer-provided key, or a reason of the
/// reader's): a ranged GET tells.
fn bare_400<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 400)
        && err
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_none_or(str::is_empty)
}

fn unreadable_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    operation: &str,
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> StoreError {
    StoreError::Unreadable(format!(
        "{operation}: {} (an archive storage class, or a customer-provided key)",
        crate::aws::error_summary(err)
    ))
}

/// Whether S3 answered "no such key" (404; also a HEAD's bare 404).
fn not_found<E: ProvideErrorMetadata>(
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> bool {
    err.raw_response()
        .is_some_and(|r| r.status().as_u16() == 404)
        || err
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|c| c == "NoSuchKey" || c == "NotFound")
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
            Ok(out) => {
                let class = out.storage_class.as_ref().map(|c| c.as_str());
                if let Some(class @ ("GLACIER" | "DEEP_ARCHIVE")) = class {
                    return Err(StoreError::Unreadable(format!(
                        "HeadObject: stored in the {class} storage class, which nobody can read before a restore"
                    )));
                }
                Ok(Some(ObjectInfo {
                    size: ByteSize::new(
                        out.content_length
                            .and_then(|n| u64::try_from(n).ok())
                            .unwrap_or(0),
                    ),
                    content_type: out.content_type,
                    etag: out.e_tag.as_deref().map(unquote_etag).unwrap_or_default(),
                    sha256: out.checksum_sha256,
                    crc64nvme: out.checksum_crc64_nvme,
                    metadata: out.metadata.unwrap_or_default().into_iter().collect(),
                    // In SERVED_HEADERS' order.
                    served_headers: SERVED_HEADERS
                        .into_iter()
                        .zip([
                            out.content_disposition,
                            out.cache_control,
                            out.content_encoding,
                            out.content_language,
                            out.expires_string,
                        ])
                        .filter_map(|(name, value)| Some((name, value?)))
                        .collect(),
                    first_bytes: None,
                }))
            }
            Err(err) if not_found(&err) => Ok(None),
            Err(err) if unreadable(&err) => Err(unreadable_error("HeadObject", &err)),
            // A ranged GET says why: unreadable, or the failure it meets too.
            Err(err) if bare_400(&err) => match self.first_bytes(key, 1).await {
                Ok(_) => Err(store_error("S3", "HeadObject", &err)),
                Err(why) => Err(why),
            },
            Err(err) => Err(store_error("S3", "HeadObject", &err)),
        }
    }

    async fn first_bytes(&self, key: &str, n: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if n == 0 {
            return Ok(Some(Vec::new()));
        }
        let result = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", n - 1))
            .send()
            .await;
        match result {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("GetObject body: {e}")))?;
                let take = usize::try_from(n).unwrap_or(usize::MAX);
                Ok(Some(
                    bytes.into_bytes().iter().copied().take(take).collect(),
                ))
            }
            Err(err) if not_found(&err) => Ok(None),
            // An empty object has no byte 0: S3 answers 416 to the range.
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 416) =>
            {
                Ok(Some(Vec::new()))
            }
            Err(err) if unreadable(&err) => Err(unreadable_error("GetObject", &err)),
            Err(err) => Err(store_error("S3", "GetObject", &err)),
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
            .map_err(|err| store_error("S3", "DeleteObject", &err))
    }
}

/// What S3 answers when it refuses a completion for a reason the client can act on.
const REFUSALS: [&str; 8] = [
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "BadDigest",
    "InvalidDigest",
    "NoSuchUpload",
    "PreconditionFailed",
    "InvalidRequest",
];

#[async_trait]
impl MultipartUploads for S3Objects {
    async fn create(
        &self,
        key: &str,
        upload: &UploadRequest,
        crc64nvme: bool,
    ) -> Result<String, StoreError> {
        let mut request = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(upload.content_type.as_str())
            .metadata(FILENAME_METADATA, upload.filename.to_metadata());
        if crc64nvme {
            request = request
                .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
                .checksum_type(ChecksumType::FullObject);
        }
        let out = request
            .send()
            .await
            .map_err(|err| store_error("S3", "CreateMultipartUpload", &err))?;
        out.upload_id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| StoreError::Failed("CreateMultipartUpload returned no upload id".into()))
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<UploadedPart>>, StoreError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let result = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(err)
                    if err
                        .as_service_error()
                        .and_then(ProvideErrorMetadata::code)
                        .is_some_and(|c| c == "NoSuchUpload") =>
                {
                    return Ok(None);
                }
                Err(err) => return Err(store_error("S3", "ListParts", &err)),
            };
            for part in out.parts() {
                let (Some(number), Some(etag)) = (part.part_number, part.e_tag.as_deref()) else {
                    continue;
                };
                parts.push(UploadedPart {
                    part_number: u32::try_from(number).unwrap_or(0),
                    etag: unquote_etag(etag),
                    size: part.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                    crc64nvme: part.checksum_crc64_nvme.clone(),
                });
            }
            match (out.is_truncated, out.next_part_number_marker) {
                (Some(true), Some(next)) if Some(&next) != marker.as_ref() => marker = Some(next),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.part_number);
        Ok(Some(parts))
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        crc64nvme: Option<&Crc64Checksum>,
    ) -> Result<Completion, StoreError> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        S3CompletedPart::builder()
                            .part_number(i32::try_from(p.part_number).unwrap_or(i32::MAX))
                            .e_tag(format!("\"{}\"", p.etag.trim_matches('"')))
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let mut request = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            // Never overwrite: the key was made for this upload alone.
            .if_none_match("*");
        if let Some(crc) = crc64nvme {
            request = request
                .checksum_crc64_nvme(crc.as_str())
                .checksum_type(ChecksumType::FullObject);
        }
        // S3 may take seconds to assemble a large object: one attempt may use the whole
        // operation's time (the other calls give up on an attempt after 3 s).
        let patient = aws_sdk_s3::config::Builder::default().timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(crate::aws::sdk::OPERATION_TIMEOUT)
                .build(),
        );
        match request.customize().config_override(patient).send().await {
            Ok(_) => Ok(Completion::Done),
            Err(err) => {
                let code = err
                    .as_service_error()
                    .and_then(ProvideErrorMetadata::code)
                    .map(str::to_owned)
                    .or_else(|| {
                        err.raw_response()
                            .filter(|r| r.status().as_u16() == 412)
                            .map(|_| "PreconditionFailed".to_owned())
                    });
                match code {
                    Some(code) if REFUSALS.contains(&code.as_str()) => Ok(Completion::Refused {
                        message: err
                            .as_service_error()
                            .and_then(ProvideErrorMetadata::message)
                            .unwrap_or("S3 refused the completion")
                            .to_owned(),
                        code,
                    }),
                    _ => Err(store_error("S3", "CompleteMultipartUpload", &err)),
                }
            }
        }
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .and_then(ProvideErrorMetadata::code)
                    .is_some_and(|c| c == "NoSuchUpload") =>
            {
                Ok(())
            }
            Err(err) => Err(store_error("S3", "AbortMultipartUpload", &err)),
        }
    }

    async fn unfinished(&self, prefix: &str, max: u32) -> Result<Vec<Unfinished>, StoreError> {
        let out = self
            .client
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_uploads(i32::try_from(max.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|err| store_error("S3", "ListMultipartUploads", &err))?;
        Ok(out
            .uploads()
            .iter()
            .filter_map(|upload| {
                Some(Unfinished {
                    key: upload.key()?.to_owned(),
                    initiated: upload.initiated()?.secs(),
                })
            })
            .collect())
    }
}
