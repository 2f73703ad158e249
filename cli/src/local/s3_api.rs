//! The S3 operations of the local bucket: those s3s-fs does as S3 does are delegated, the
//! others (HEAD and GET with checksums only when asked, PUT checked before it is stored,
//! copies, deletes, listings, and every multipart call) are S3's behaviour over s3s-fs.

use async_trait::async_trait;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sha2::{Digest, Sha256};

use super::s3_bucket::{
    LocalBucket, fs_key, read_all, refuse_customer_key, rewrap, s3_key, take_storage_class,
};
use super::s3_multipart::{self, Upload, check_part, no_such_upload, plan_completion};

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
            record_ownership::event_key::encode_event_key(&key).replace('+', "%20")
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

/// S3 returns stored checksums only to a request with `x-amz-checksum-mode: ENABLED`.
fn checksum_asked(mode: Option<&ChecksumMode>) -> bool {
    mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED)
}
