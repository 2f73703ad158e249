//! `POST /uploads/multipart` (`PostUploadsMultipart` in `template.yaml`): a large file in
//! parts. Creates the S3 multipart upload (with a full-object CRC64NVME check when the
//! client declares one), writes the pending record (reserving the declared size), and
//! returns the first page of presigned part URLs; `GET /uploads/{file_id}/parts` gives the
//! next pages.

use std::time::SystemTime;

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::lifecycle;
use shared::domain::parts::{MultipartRequest, PartPlan};
use shared::domain::time::rfc3339;
use shared::domain::upload::{ByteSize, UploadError, UploadRules};
use shared::http::{ApiError, json_body, json_response};
use shared::s3_signing::presign_part;

use crate::Deps;

/// Part URLs per answer: about 100 KB of JSON, far below Lambda's 6 MB.
pub const PARTS_PER_PAGE: u32 = 100;

/// The JSON body of `POST /uploads/multipart`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultipartRequestBody {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// The client's part size, if it has one (Uppy chooses its own).
    #[serde(default)]
    pub part_size: Option<u64>,
    /// The whole file's CRC64NVME: S3 then checks the completed object against it.
    #[serde(default)]
    pub crc64nvme: Option<String>,
}

impl MultipartRequestBody {
    /// The body checked by the upload rules, its parts planned.
    pub fn check(&self, rules: &UploadRules) -> Result<MultipartRequest, UploadError> {
        rules.check_multipart(
            &self.filename,
            &self.content_type,
            self.size,
            self.part_size,
            self.crc64nvme.as_deref(),
        )
    }
}

#[derive(Serialize)]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
}

#[derive(Serialize)]
struct MultipartIssued {
    file_id: String,
    key: String,
    upload_id: String,
    part_size: u64,
    part_count: u32,
    expires_at: String,
    parts: Vec<PartUrl>,
}

/// Presigned URLs for the parts of one page, each bound to its exact length; and when they
/// expire.
pub async fn part_urls(
    deps: &Deps,
    key: &ObjectKey,
    upload_id: &str,
    size: ByteSize,
    plan: &PartPlan,
    numbers: std::ops::RangeInclusive<u32>,
) -> Result<(Vec<PartUrl>, chrono::DateTime<Utc>), ApiError> {
    let credentials = deps.credentials.get().await?;
    let now = SystemTime::now();
    let mut expires_at = chrono::DateTime::<Utc>::from(now + deps.config.part_url_ttl);
    let mut urls = Vec::new();
    for number in numbers {
        let signed = presign_part(
            &deps.location,
            &credentials,
            key,
            upload_id,
            number,
            plan.part_len(number, size),
            now,
            deps.config.part_url_ttl,
        )?;
        expires_at = expires_at.min(signed.expires_at);
        urls.push(PartUrl {
            part_number: number,
            url: signed.url,
        });
    }
    Ok((urls, expires_at))
}

#[tracing::instrument(skip_all, fields(owner = %owner))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let body: MultipartRequestBody = json_body(request)?;
    let multipart = body.check(&deps.config.rules)?;
    crate::within_unfinished_bound(deps, owner).await?;
    let file_id = FileId::generate();
    let key = ObjectKey::new(owner.clone(), file_id);
    let upload_id = deps
        .multipart
        .create(
            &key.to_string(),
            &multipart.upload,
            multipart.crc64nvme.is_some(),
        )
        .await?;
    let record = lifecycle::pending_multipart(
        key.clone(),
        &multipart,
        upload_id.clone(),
        Utc::now(),
        deps.config.multipart_abort_days,
        deps.config.pending_retention,
    );
    if let Err(err) = deps.records.create(&record, &deps.config.quota).await {
        // No record, no upload: leave nothing behind in the bucket either.
        if let Err(abort) = deps.multipart.abort(&key.to_string(), &upload_id).await {
            tracing::warn!(error = %abort, "could not abort the upload of a refused request");
        }
        return Err(err.into());
    }
    let plan = multipart.plan;
    let first = plan.page(1, PARTS_PER_PAGE).unwrap_or(1..=1);
    let (parts, expires_at) =
        part_urls(deps, &key, &upload_id, multipart.upload.size, &plan, first).await?;
    tracing::info!(%file_id, size = %multipart.upload.size, parts = plan.part_count, "multipart upload issued");
    shared::metrics::count("UploadsIssued", &[("Mode", "multipart")]);
    Ok(json_response(
        StatusCode::CREATED,
        &MultipartIssued {
            file_id: file_id.to_string(),
            key: key.to_string(),
            upload_id,
            part_size: plan.part_size,
            part_count: plan.part_count,
            expires_at: rfc3339(expires_at),
            parts,
        },
    ))
}
