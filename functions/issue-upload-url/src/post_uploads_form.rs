//! `POST /uploads/form` (`PostUploadsForm` in `template.yaml`): like `POST /uploads`, but the
//! browser uploads with a plain HTML form POST (a signed POST policy): S3 checks the signed POST
//! policy (exact key and Content-Type, 1 to `size` bytes, the checksum when given, a 5 to 10
//! minute expiry) and answers 201 with an XML body holding the ETag.

use std::time::SystemTime;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::ser::SerializeMap as _;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::record::UploadMode;
use shared::domain::time::rfc3339;
use shared::http::{ApiError, json_body, json_response};
use shared::s3_signing::presign_post;

use crate::post_uploads::UploadRequestBody;
use crate::{Deps, record_pending};

#[derive(Serialize)]
struct FormIssued<'a> {
    file_id: String,
    key: String,
    expires_at: String,
    upload: FormInstructions<'a>,
}

#[derive(Serialize)]
struct FormInstructions<'a> {
    method: &'static str,
    url: &'a str,
    fields: Fields<'a>,
}

/// The form's fields as a JSON object, in the order they are to be sent.
struct Fields<'a>(&'a [(String, String)]);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
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
    let form = presign_post(
        &deps.location,
        &credentials,
        &key,
        &upload,
        SystemTime::now(),
        deps.config.form_ttl,
    )?;
    record_pending(deps, &key, &upload, UploadMode::Form, form.expires_at).await?;
    tracing::info!(%file_id, size = %upload.size, content_type = %upload.content_type, "form issued");
    shared::metrics::count("UploadsIssued", &[("Mode", "form")]);

    Ok(json_response(
        StatusCode::CREATED,
        &FormIssued {
            file_id: file_id.to_string(),
            key: key.to_string(),
            expires_at: rfc3339(form.expires_at),
            upload: FormInstructions {
                method: "POST",
                url: &form.url,
                fields: Fields(&form.fields),
            },
        },
    ))
}
