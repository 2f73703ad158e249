//! [`ObjectStore`] on S3: HEAD (asking for the stored checksum) and DELETE.

use async_trait::async_trait;
use aws_sdk_s3::types::ChecksumMode;

use super::errors::store_error;
use super::sdk::SdkConfig;
use crate::domain::ownership::ObjectInfo;
use crate::domain::upload::ByteSize;
use crate::ports::{ObjectStore, StoreError};

/// The S3 client. With an endpoint override (the local stack's S3 on 127.0.0.1, which has
/// no per-bucket host names) requests use path-style addressing.
pub fn client(aws: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(aws);
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
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
                size: ByteSize::new(
                    out.content_length
                        .and_then(|n| u64::try_from(n).ok())
                        .unwrap_or(0),
                ),
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
