//! Browser POST forms (S3 "POST Object") with a SigV4-signed POST policy.
//!
//! The policy allows exactly one upload: the bucket, the exact key, the exact Content-Type,
//! 1 to the declared size in bytes (`content-length-range`), the SHA-256 when declared,
//! `success_action_status` 201 (so S3 answers with an XML body carrying the ETag, which a
//! browser can always read), and the signing fields, the session token included. Every form
//! field has a condition, so S3 refuses a form with any field added.
//!
//! The policy JSON, its conditions and the fields are written in the order and with the
//! separators botocore's `generate_presigned_post` uses (Python's `json.dumps`), so a form
//! can be compared with AWS's own SDK byte for byte. The signature is aws-sigv4's: the
//! signing key from [`v4::generate_signing_key`], the signature over the base64 policy from
//! [`v4::calculate_signature`].

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

use super::presign::{BucketLocation, PresignError, signable};
use crate::domain::ids::ObjectKey;
use crate::domain::upload::UploadRequest;
use crate::pyjson::{ITEM, KEY, push_json_string};

/// The metadata field every form sets: the filename ([`Filename::to_metadata`]).
///
/// [`Filename::to_metadata`]: crate::domain::upload::Filename::to_metadata
pub const FILENAME_FIELD: &str = "x-amz-meta-filename";

/// What S3 answers a successful form with: 201 and `<PostResponse>` XML (with the ETag).
pub const SUCCESS_STATUS: &str = "201";

/// A form: where to POST it and every field to send, in order, before the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignedPost {
    pub url: String,
    /// Name and value, in the order botocore gives them; the file goes last, as `file`.
    pub fields: Vec<(String, String)>,
    pub expires_at: DateTime<Utc>,
}

/// A condition of the policy: `{"name": "value"}` or `["content-length-range", min, max]`.
enum Condition<'a> {
    Eq(&'a str, &'a str),
    LengthRange(u64, u64),
}

fn push_condition(out: &mut String, condition: &Condition<'_>) {
    match condition {
        Condition::Eq(name, value) => {
            out.push('{');
            push_json_string(out, name);
            out.push_str(KEY);
            push_json_string(out, value);
            out.push('}');
        }
        Condition::LengthRange(min, max) => {
            let _ = write!(out, "[\"content-length-range\"{ITEM}{min}{ITEM}{max}]");
        }
    }
}

/// The policy document, as botocore's `json.dumps` writes it.
fn policy_json(expires_at: DateTime<Utc>, conditions: &[Condition<'_>]) -> String {
    let mut policy = String::with_capacity(1024);
    policy.push_str("{\"expiration\"");
    policy.push_str(KEY);
    push_json_string(
        &mut policy,
        &expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    policy.push_str(ITEM);
    policy.push_str("\"conditions\"");
    policy.push_str(KEY);
    policy.push('[');
    for (i, condition) in conditions.iter().enumerate() {
        if i > 0 {
            policy.push_str(ITEM);
        }
        push_condition(&mut policy, condition);
    }
    policy.push_str("]}");
    policy
}

/// Sign a form that uploads `request` to `key`, valid for `ttl` from `now` and never beyond
/// the credentials' own expiry.
pub fn presign_post(
    location: &BucketLocation,
    credentials: &Credentials,
    key: &ObjectKey,
    request: &UploadRequest,
    now: SystemTime,
    ttl: Duration,
) -> Result<PresignedPost, PresignError> {
    let (now, ttl) = signable(credentials, now, ttl)?;
    let signed_at = DateTime::<Utc>::from(now);
    let expires_at = DateTime::<Utc>::from(now + ttl);
    let key = key.to_string();
    let date = signed_at.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!(
        "{}/{}/{}/s3/aws4_request",
        credentials.access_key_id(),
        signed_at.format("%Y%m%d"),
        location.region
    );

    // The caller's fields, then key and the signing fields, as botocore orders them.
    let filename = request.filename.to_metadata();
    let mut fields: Vec<(String, String)> = vec![
        (
            "Content-Type".into(),
            request.content_type.as_str().to_owned(),
        ),
        (FILENAME_FIELD.into(), filename.clone()),
    ];
    if let Some(sha256) = &request.sha256 {
        fields.push(("x-amz-checksum-sha256".into(), sha256.as_str().to_owned()));
    }
    fields.push(("success_action_status".into(), SUCCESS_STATUS.into()));

    let mut conditions = vec![
        Condition::Eq("Content-Type", request.content_type.as_str()),
        Condition::Eq(FILENAME_FIELD, &filename),
        Condition::LengthRange(1, request.size.get()),
    ];
    if let Some(sha256) = &request.sha256 {
        conditions.push(Condition::Eq("x-amz-checksum-sha256", sha256.as_str()));
    }
    conditions.push(Condition::Eq("success_action_status", SUCCESS_STATUS));
    conditions.push(Condition::Eq("bucket", &location.bucket));
    conditions.push(Condition::Eq("key", &key));
    conditions.push(Condition::Eq("x-amz-algorithm", "AWS4-HMAC-SHA256"));
    conditions.push(Condition::Eq("x-amz-credential", &credential));
    conditions.push(Condition::Eq("x-amz-date", &date));
    if let Some(token) = credentials.session_token() {
        conditions.push(Condition::Eq("x-amz-security-token", token));
    }

    let policy = STANDARD.encode(policy_json(expires_at, &conditions));
    let signing_key =
        v4::generate_signing_key(credentials.secret_access_key(), now, &location.region, "s3");
    let signature = v4::calculate_signature(signing_key, policy.as_bytes());

    fields.push(("key".into(), key));
    fields.push(("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()));
    fields.push(("x-amz-credential".into(), credential));
    fields.push(("x-amz-date".into(), date));
    if let Some(token) = credentials.session_token() {
        fields.push(("x-amz-security-token".into(), token.to_owned()));
    }
    fields.push(("policy".into(), policy));
    fields.push(("x-amz-signature".into(), signature));
    Ok(PresignedPost {
        url: location.bucket_url(),
        fields,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{FileId, OwnerId};
    use crate::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum};
    use crate::s3_signing::S3Endpoint;

    fn location() -> BucketLocation {
        BucketLocation {
            endpoint: S3Endpoint::VirtualHosted,
            region: "eu-west-1".into(),
            bucket: "my-uploads".into(),
        }
    }

    fn request(sha256: Option<&str>) -> UploadRequest {
        UploadRequest {
            filename: Filename::parse("a é.png").unwrap(),
            content_type: ContentType::parse("image/png").unwrap(),
            size: ByteSize::new(1234),
            sha256: sha256.map(|s| Sha256Checksum::parse(s).unwrap()),
        }
    }

    fn field<'a>(post: &'a PresignedPost, name: &str) -> Option<&'a str> {
        post.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// botocore 1.43's `generate_presigned_post` with the same credentials, clock, key,
    /// fields and conditions gives this policy and signature (tests/golden holds more).
    #[test]
    fn a_form_is_what_botocore_signs() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("the/session+token=".into()),
            None,
            "test",
        );
        let key = ObjectKey::parse("users/alice/0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee").unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_290_400);
        let post = presign_post(
            &location(),
            &credentials,
            &key,
            &request(Some("uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=")),
            now,
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(post.url, "https://my-uploads.s3.eu-west-1.amazonaws.com/");
        let names: Vec<&str> = post.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "x-amz-meta-filename",
                "x-amz-checksum-sha256",
                "success_action_status",
                "key",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "x-amz-security-token",
                "policy",
                "x-amz-signature"
            ]
        );
        let policy =
            String::from_utf8(STANDARD.decode(field(&post, "policy").unwrap()).unwrap()).unwrap();
        assert_eq!(
            policy,
            r#"{"expiration": "2026-01-01T18:05:00Z", "conditions": [{"Content-Type": "image/png"}, {"x-amz-meta-filename": "a%20%C3%A9.png"}, ["content-length-range", 1, 1234], {"x-amz-checksum-sha256": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="}, {"success_action_status": "201"}, {"bucket": "my-uploads"}, {"key": "users/alice/0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"}, {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "AKIDEXAMPLE/20260101/eu-west-1/s3/aws4_request"}, {"x-amz-date": "20260101T180000Z"}, {"x-amz-security-token": "the/session+token="}]}"#
        );
        assert_eq!(
            field(&post, "x-amz-signature"),
            Some("867ffb77e70a72c6dedeccab8c2620112d2a74b2f30294bc7a8d1da4ab86b142")
        );
        assert_eq!(post.expires_at.timestamp(), 1_767_290_700);
    }

    #[test]
    fn without_a_checksum_or_token_those_fields_are_absent() {
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let key = ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate());
        let post = presign_post(
            &location(),
            &credentials,
            &key,
            &request(None),
            SystemTime::now(),
            Duration::from_secs(300),
        )
        .unwrap();
        assert_eq!(field(&post, "x-amz-checksum-sha256"), None);
        assert_eq!(field(&post, "x-amz-security-token"), None);
        let path_style = BucketLocation {
            endpoint: S3Endpoint::PathStyle("http://127.0.0.1:9000/".into()),
            ..location()
        };
        assert_eq!(path_style.bucket_url(), "http://127.0.0.1:9000/my-uploads");
    }
}
