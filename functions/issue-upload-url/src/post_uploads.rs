//! `POST /uploads` (`PostUploads` in `template.yaml`): check what the caller wants to upload,
//! write a `pending` ownership record, and return a presigned PUT that can only create
//! `users/{owner}/{file_id}` with exactly the declared type, length and checksum.

use std::collections::BTreeMap;
use std::time::SystemTime;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::UploadMode;
use shared::domain::time::rfc3339;
use shared::domain::upload::{UploadError, UploadRequest, UploadRules};
use shared::http::{ApiError, json_body, json_response};
use shared::s3_signing::presign_put;

use crate::{Deps, record_pending};

/// The JSON body of `POST /uploads` and of `POST /uploads/form`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequestBody {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    #[serde(default)]
    pub sha256: Option<String>,
}

impl UploadRequestBody {
    /// The body checked by the upload rules: from here on, only the domain's types.
    pub fn check(&self, rules: &UploadRules) -> Result<UploadRequest, UploadError> {
        rules.check(
            &self.filename,
            &self.content_type,
            self.size,
            self.sha256.as_deref(),
        )
    }
}

#[derive(Serialize)]
struct UploadIssued {
    file_id: String,
    key: String,
    expires_at: String,
    upload: UploadInstructions,
}

#[derive(Serialize)]
struct UploadInstructions {
    method: &'static str,
    url: String,
    headers: BTreeMap<String, String>,
}

#[tracing::instrument(skip_all, fields(owner = %owner))]
pub async fn handle(
    deps: &Deps,
    owner: &OwnerId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let body: UploadRequestBody = json_body(request)?;
    let upload = body.check(&deps.config.rules)?;
    let file_id = FileId::generate();
    let key = ObjectKey::new(owner.clone(), file_id);
    let credentials = deps.credentials.get().await?;
    let put = presign_put(
        &deps.location,
        &credentials,
        &key,
        &upload,
        SystemTime::now(),
        deps.config.url_ttl,
    )?;

    record_pending(deps, &key, &upload, UploadMode::Put, put.expires_at).await?;
    tracing::info!(%file_id, size = %upload.size, content_type = %upload.content_type, "upload issued");
    shared::metrics::count("UploadsIssued", &[("Mode", "put")]);

    Ok(json_response(
        StatusCode::CREATED,
        &UploadIssued {
            file_id: file_id.to_string(),
            key: key.to_string(),
            expires_at: rfc3339(put.expires_at),
            upload: UploadInstructions {
                method: put.method,
                url: put.url,
                headers: put.headers,
            },
        },
    ))
}
