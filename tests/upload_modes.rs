//! Every way to upload, through the local stack as `up` runs it: the browser POST form, the
//! multipart upload (resume, refusals, the full-object CRC64NVME), temporary credentials
//! limited to the caller's prefix (and what record-ownership does with what they write),
//! the per-user quota under parallel requests, and the content checks. S3 here is the
//! verifying local S3 (signatures, POST policies, session policies checked), DynamoDB is
//! moto's.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use integration_tests::browser::{client_of, code_of, fields_of, post_form};
use integration_tests::png;
use integration_tests::running::Running;
use private_uploads::local::stack::{BUCKET, REGION};
use s3s::crypto::Checksum as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

fn sha256_b64(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

fn crc64nvme_b64(bytes: &[u8]) -> String {
    STANDARD.encode(s3s::crypto::Crc64Nvme::checksum(bytes))
}

fn md5_hex(bytes: &[u8]) -> String {
    s3s::crypto::Md5::checksum(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fields' names in the order the API sent them (a JSON object keeps its order for a
/// browser; `serde_json::Value` sorts it).
fn in_sent_order<'a>(text: &str, fields: &'a [(String, String)]) -> Vec<&'a str> {
    let mut names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    let text = &text[text.find("\"fields\":").unwrap_or(0)..];
    names.sort_by_key(|name| text.find(&format!("\"{name}\":")).unwrap_or(usize::MAX));
    names
}

/// A change made to an issued form (its fields, the file) before it is sent.
type FormChange = Box<dyn Fn(&mut Vec<(String, String)>, &mut Vec<u8>)>;

fn s3_code(body: &str) -> &str {
    body.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn post_forms_are_accepted_as_issued_and_refused_otherwise() {
    let run = Running::start().await;
    let alice = run.token("alice");
    let bytes = png(100, 1);
    let ask = json!({"filename": "form é.png", "content_type": "image/png", "size": bytes.len(), "sha256": sha256_b64(&bytes)});

    // As issued: 201 with the ETag in a header (exposed by the bucket's CORS rule) and in
    // the XML body, and the file becomes ready with its filename.
    let answer = run
        .http
        .post(format!("{}/uploads/form", run.stack.api_url))
        .bearer_auth(&alice)
        .json(&ask)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let issued_text = answer.text().await.unwrap();
    let issued: Value = serde_json::from_str(&issued_text).unwrap();
    assert_eq!(issued["upload"]["method"], "POST");
    let url = issued["upload"]["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/{BUCKET}", run.stack.s3_endpoint));
    let fields = fields_of(&issued);
    assert_eq!(
        in_sent_order(&issued_text, &fields),
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
    let (status, headers, body) = post_form(&run, &url, &fields, &bytes).await;
    assert_eq!(status, 201, "{body}");
    let etag = format!("\"{}\"", md5_hex(&bytes));
    assert_eq!(
        headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );
    // S3 quotes the ETag in the XML too; s3s does not (the header is the one to read).
    assert!(body.contains(&md5_hex(&bytes)), "{body}");
    let file_id = issued["file_id"].as_str().unwrap();
    let file = run.settled("alice", file_id).await;
    assert_eq!(file["status"], "ready", "{file}");
    assert_eq!(file["filename"], "form é.png");

    // Each way of departing from the form is refused, and leaves nothing behind.
    let fresh = |ask: Value| {
        let (run, alice) = (&run, &alice);
        async move {
            let (status, issued) = run
                .json("POST", "/uploads/form", Some(alice), Some(ask))
                .await;
            assert_eq!(status, 201, "{issued}");
            issued
        }
    };
    let plain = json!({"filename": "p.png", "content_type": "image/png", "size": 100});
    let cases: Vec<(&str, FormChange, u16, &str)> = vec![
        (
            "larger than declared",
            Box::new(|_, file| file.push(0)),
            400,
            "EntityTooLarge",
        ),
        (
            "another key",
            Box::new(|fields, _| {
                set(
                    fields,
                    "key",
                    "users/alice/01a00000-0000-7000-8000-000000000000",
                )
            }),
            403,
            "AccessDenied",
        ),
        (
            "another type",
            Box::new(|fields, _| set(fields, "Content-Type", "text/html")),
            403,
            "AccessDenied",
        ),
        (
            "an extra field",
            Box::new(|fields, _| fields.insert(0, ("x-amz-meta-extra".into(), "1".into()))),
            403,
            "AccessDenied",
        ),
        (
            "a changed signature",
            Box::new(|fields, _| {
                let signature = get(fields, "x-amz-signature");
                let flipped = if signature.starts_with('0') { "1" } else { "0" };
                set(
                    fields,
                    "x-amz-signature",
                    &format!("{flipped}{}", &signature[1..]),
                );
            }),
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (what, change, status, code) in cases {
        let issued = fresh(plain.clone()).await;
        let key = issued["key"].as_str().unwrap().to_owned();
        let (mut fields, mut file) = (fields_of(&issued), png(100, 2));
        change(&mut fields, &mut file);
        let (got, _, body) = post_form(&run, &url, &fields, &file).await;
        assert_eq!((got, s3_code(&body)), (status, code), "{what}: {body}");
        assert!(!run.object_exists(&key).await, "{what}: nothing is stored");
        assert!(
            !run.object_exists("users/alice/01a00000-0000-7000-8000-000000000000")
                .await,
            "{what}"
        );
    }

    // Expired: a form signed six minutes ago with a five-minute policy (the functions'
    // credentials, as the upload function signs it).
    let key = shared::domain::ids::ObjectKey::new(
        shared::domain::ids::OwnerId::from_sub("alice").unwrap(),
        shared::domain::ids::FileId::generate(),
    );
    let request = shared::domain::upload::UploadRequest {
        filename: shared::domain::upload::Filename::parse("old.png").unwrap(),
        content_type: shared::domain::upload::ContentType::parse("image/png").unwrap(),
        size: shared::domain::upload::ByteSize::new(100),
        sha256: None,
    };
    let location = shared::s3_signing::BucketLocation {
        endpoint: shared::s3_signing::S3Endpoint::PathStyle(run.stack.s3_endpoint.clone()),
        region: REGION.into(),
        bucket: BUCKET.into(),
    };
    let old = shared::s3_signing::presign_post(
        &location,
        &private_uploads::local::stack::credentials(),
        &key,
        &request,
        SystemTime::now() - Duration::from_secs(360),
        Duration::from_secs(300),
    )
    .unwrap();
    let (status, _, body) = post_form(&run, &old.url, &old.fields, &png(100, 3)).await;
    assert_eq!((status, s3_code(&body)), (403, "AccessDenied"), "{body}");
    assert!(body.contains("expired"), "{body}");
    assert!(!run.object_exists(&key.to_string()).await);

    // Smaller than declared passes S3's content-length-range (1..size) but not
    // record-ownership: the object is removed and the file rejected, saying why.
    let issued = fresh(plain.clone()).await;
    let key = issued["key"].as_str().unwrap();
    let (status, _, body) = post_form(&run, &url, &fields_of(&issued), &png(60, 4)).await;
    assert_eq!(status, 201, "{body}");
    run.settled_rejected(
        "alice",
        issued["file_id"].as_str().unwrap(),
        "size_mismatch",
    )
    .await;
    assert!(run.object_removed(key).await);
    run.stop().await;
}

fn get(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in fields.iter_mut() {
        if k == name {
            *v = value.to_owned();
        }
    }
}

/// PUT one part to its presigned URL; the ETag S3 answers with.
async fn put_part(run: &Running, url: &str, bytes: &[u8]) -> Result<String, (u16, String)> {
    let response = run
        .http
        .put(url)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("S3 answers");
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match (status, etag) {
        (200, Some(etag)) => Ok(etag),
        _ => Err((status, response.text().await.unwrap_or_default())),
    }
}

fn part_url(issued: &Value, number: u64) -> String {
    issued["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part_number"] == number)
        .and_then(|p| p["url"].as_str())
        .unwrap_or_else(|| panic!("no URL for part {number}: {issued}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn multipart_uploads_resume_and_complete_as_s3_does() {
    let run = Running::start().await;
    let alice = run.token("alice");
    let size = 12 * MIB + 3;
    let bytes = png(size, 5);
    let chunks: Vec<&[u8]> = bytes.chunks(5 * MIB).collect();
    let (status, issued) = run
        .json(
            "POST",
            "/uploads/multipart",
            Some(&alice),
            Some(
                json!({"filename": "big.png", "content_type": "image/png", "size": size,
                "part_size": 5 * MIB, "crc64nvme": crc64nvme_b64(&bytes)}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(
        (issued["part_size"].as_u64(), issued["part_count"].as_u64()),
        (Some(5 * MIB as u64), Some(3))
    );
    assert_eq!(issued["parts"].as_array().unwrap().len(), 3);
    let (file_id, upload_id) = (
        issued["file_id"].as_str().unwrap().to_owned(),
        issued["upload_id"].as_str().unwrap().to_owned(),
    );
    let key = issued["key"].as_str().unwrap().to_owned();
    let parts_path = format!("/uploads/{file_id}/parts");

    // A part of another length is refused (its Content-Length is signed).
    let refused = put_part(&run, &part_url(&issued, 1), &chunks[0][..1000]).await;
    assert_eq!(refused.unwrap_err().0, 403);

    // Parts 1 and 3 arrive, then the page reloads: the server lists what S3 holds, with the
    // ETags and sizes a client completes with, and the CRC64NVME S3 keeps of each (the
    // upload has a full-object one), by which a client tells its file is this upload's.
    let etag1 = put_part(&run, &part_url(&issued, 1), chunks[0])
        .await
        .unwrap();
    let etag3 = put_part(&run, &part_url(&issued, 3), chunks[2])
        .await
        .unwrap();
    assert_eq!(etag1, format!("\"{}\"", md5_hex(chunks[0])));
    let (status, listed) = run.json("GET", &parts_path, Some(&alice), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        (
            &listed["upload_id"],
            &listed["part_size"],
            &listed["part_count"]
        ),
        (&json!(upload_id), &json!(5 * MIB), &json!(3)),
        "what a client needs to resume with only the file id"
    );
    assert_eq!(
        listed["uploaded"],
        json!([
            {"part_number": 1, "etag": etag1.trim_matches('"'), "size": 5 * MIB,
             "crc64nvme": crc64nvme_b64(chunks[0])},
            {"part_number": 3, "etag": etag3.trim_matches('"'), "size": 2 * MIB + 3,
             "crc64nvme": crc64nvme_b64(chunks[2])},
        ])
    );
    let (status, page) = run
        .json("GET", &format!("{parts_path}?from=3"), Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{page}");
    let numbers: Vec<u64> = page["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [3]);
    for bad in ["?from=0", "?from=4", "?from=x"] {
        let (status, body) = run
            .json("GET", &format!("{parts_path}{bad}"), Some(&alice), None)
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{bad}"
        );
    }
    // Another user knows nothing of it.
    let bob = run.token("bob");
    let (status, body) = run.json("GET", &parts_path, Some(&bob), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("file_not_found"))
    );

    // Completions S3 refuses leave the upload as it was: a missing part (the object would
    // not match its CRC64NVME), a wrong ETag.
    let complete = |parts: Value| {
        let (run, alice, file_id, upload_id) = (&run, &alice, &file_id, &upload_id);
        async move {
            run.json(
                "POST",
                &format!("/uploads/{file_id}/complete"),
                Some(alice),
                Some(json!({"upload_id": upload_id, "parts": parts})),
            )
            .await
        }
    };
    let (status, body) = complete(json!([
        {"part_number": 1, "etag": etag1},
        {"part_number": 3, "etag": etag3},
    ]))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_parts")),
        "{body}"
    );
    let etag2 = put_part(&run, &part_url(&issued, 2), chunks[1])
        .await
        .unwrap();
    let (status, body) = complete(json!([
        {"part_number": 1, "etag": etag1},
        {"part_number": 2, "etag": etag3},
        {"part_number": 3, "etag": etag3},
    ]))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_parts")),
        "{body}"
    );
    for parts in [
        json!([]),
        json!([{"part_number": 2, "etag": etag2}, {"part_number": 1, "etag": etag1}]),
        json!([{"part_number": 4, "etag": etag1}]),
    ] {
        let (status, body) = complete(parts.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_parts")),
            "{parts}"
        );
    }
    let (status, listed) = run.json("GET", &parts_path, Some(&alice), None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["uploaded"].as_array().unwrap().len(),
        3,
        "the upload survived"
    );

    // Then the right list: the object is S3's multipart object, and the file ready.
    let (status, body) = complete(json!([
        {"part_number": 1, "etag": etag1},
        {"part_number": 2, "etag": etag2},
        {"part_number": 3, "etag": etag3},
    ]))
    .await;
    assert_eq!(status, 200, "{body}");
    let file = run.settled("alice", &file_id).await;
    assert_eq!(file["status"], "ready", "{file}");
    assert_eq!(file["size"], size);
    let object = run
        .stack
        .backend
        .s3_client
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.checksum_crc64_nvme(),
        Some(crc64nvme_b64(&bytes).as_str())
    );
    assert!(
        object.e_tag().unwrap().ends_with("-3\""),
        "{:?}",
        object.e_tag()
    );
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert!(stored == bytes, "the parts in order");
    let (status, body) = run.json("GET", &parts_path, Some(&alice), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("upload_not_pending"))
    );
    let (status, body) = complete(json!([{"part_number": 1, "etag": etag1}])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("upload_not_pending"))
    );

    // A declared CRC64NVME the bytes do not have: S3 refuses the completion.
    let small = png(6 * MIB, 6);
    let (status, issued) = run
        .json(
            "POST",
            "/uploads/multipart",
            Some(&alice),
            Some(
                json!({"filename": "liar.png", "content_type": "image/png", "size": small.len(),
                "crc64nvme": crc64nvme_b64(b"something else")}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let part_size = issued["part_size"].as_u64().unwrap() as usize;
    let mut parts = Vec::new();
    for (i, chunk) in small.chunks(part_size).enumerate() {
        let etag = put_part(&run, &part_url(&issued, i as u64 + 1), chunk)
            .await
            .unwrap();
        parts.push(json!({"part_number": i + 1, "etag": etag}));
    }
    let liar = issued["file_id"].as_str().unwrap();
    let (status, body) = run
        .json(
            "POST",
            &format!("/uploads/{liar}/complete"),
            Some(&alice),
            Some(json!({"upload_id": issued["upload_id"], "parts": parts})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_parts")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("BadDigest"),
        "{body}"
    );

    // Abort: the upload is gone from S3 and from the API.
    let (status, _) = run
        .json("DELETE", &format!("/uploads/{liar}"), Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = run
        .json("GET", &format!("/uploads/{liar}/parts"), Some(&alice), None)
        .await;
    assert_eq!(status, 404);
    let gone = run
        .stack
        .backend
        .s3_client
        .list_parts()
        .bucket(BUCKET)
        .key(issued["key"].as_str().unwrap())
        .upload_id(issued["upload_id"].as_str().unwrap())
        .send()
        .await;
    assert_eq!(code_of(gone), "NoSuchUpload");
    run.stop().await;
}

async fn put_with(client: &aws_sdk_s3::Client, key: &str, bytes: &[u8]) -> Result<(), String> {
    client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .content_type("image/png")
        .metadata("filename", "from%20the%20SDK.png")
        .body(ByteStream::from(bytes.to_vec()))
        .send()
        .await
        .map(drop)
        .map_err(|e| {
            e.as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s))
                .unwrap_or("no code")
                .to_owned()
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_credentials_reach_only_the_callers_prefix() {
    let run = Running::start().await;
    let alice = run.token("alice");
    let (status, issued) = run.json("POST", "/credentials", Some(&alice), None).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["prefix"], "users/alice/");
    assert_eq!(issued["bucket"], BUCKET);
    assert_eq!(issued["region"], REGION);
    let expiration = chrono::DateTime::parse_from_rfc3339(issued["expiration"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let lifetime = expiration - chrono::Utc::now().timestamp();
    assert!(
        (890..=900).contains(&lifetime),
        "15 minutes by default: {lifetime}"
    );
    let client = client_of(&issued);
    let bytes = png(64, 7);

    // Under the caller's prefix, with a client-made UUIDv7: adopted as a ready file of hers,
    // named by its metadata.
    let file_id = uuid::Uuid::now_v7().to_string();
    put_with(&client, &format!("users/alice/{file_id}"), &bytes)
        .await
        .unwrap();
    let file = run.settled("alice", &file_id).await;
    assert_eq!(file["status"], "ready", "{file}");
    assert_eq!(file["filename"], "from the SDK.png");
    assert_eq!(file["size"], 64);
    let bob = run.token("bob");
    let (status, _) = run
        .json("GET", &format!("/files/{file_id}"), Some(&bob), None)
        .await;
    assert_eq!(status, 404);

    // Everywhere else: refused by S3 (the session policy).
    let id = uuid::Uuid::now_v7().to_string();
    for key in [
        format!("users/bob/{id}"),
        format!("users/alice2/{id}"),
        format!("users/alice{id}"),
        id.clone(),
        "users/alice".to_owned(),
        format!("users/alice/../bob/{id}"),
        format!("users/alice/./{id}"),
        format!("users/alice//{id}"),
        format!("users/alice/{id}/x"),
        format!("users/alice/{id}.png"),
        format!("other/alice/{id}"),
    ] {
        assert_eq!(
            put_with(&client, &key, &bytes).await,
            Err("AccessDenied".to_owned()),
            "{key}"
        );
        assert!(!run.object_exists(&key).await, "{key}");
    }
    // Only writing: no reading, listing or deleting, even of her own files.
    let own = format!("users/alice/{file_id}");
    let get = client.get_object().bucket(BUCKET).key(&own).send().await;
    assert_eq!(code_of(get), "AccessDenied", "GetObject");
    let delete = client.delete_object().bucket(BUCKET).key(&own).send().await;
    assert_eq!(code_of(delete), "AccessDenied", "DeleteObject");
    let list = client
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("users/alice/")
        .send()
        .await;
    assert_eq!(code_of(list), "AccessDenied", "ListObjectsV2");
    assert!(run.object_exists(&own).await);

    // A key the policy's pattern lets through but that is not a UUIDv7: removed on arrival.
    let odd = "users/alice/zzzzzzzz-zzzz-7zzz-zzzz-zzzzzzzzzzzz";
    put_with(&client, odd, &bytes).await.unwrap();
    assert!(run.object_removed(odd).await, "not a file id of ours");

    // An object that breaks the content rules: adopted as rejected, and removed.
    let fake = uuid::Uuid::now_v7().to_string();
    put_with(
        &client,
        &format!("users/alice/{fake}"),
        b"<script>alert(1)</script>",
    )
    .await
    .unwrap();
    run.settled_rejected("alice", &fake, "content_mismatch")
        .await;
    assert!(run.object_removed(&format!("users/alice/{fake}")).await);

    // Multipart with the same credentials: create, part, list, complete.
    let big = png(5 * MIB + 10, 8);
    let big_id = uuid::Uuid::now_v7().to_string();
    let big_key = format!("users/alice/{big_id}");
    let created = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(&big_key)
        .content_type("image/png")
        .send()
        .await
        .unwrap();
    let upload_id = created.upload_id().unwrap();
    let mut completed = Vec::new();
    for (i, chunk) in big.chunks(5 * MIB).enumerate() {
        let number = i32::try_from(i).unwrap() + 1;
        let part = client
            .upload_part()
            .bucket(BUCKET)
            .key(&big_key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        completed.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(number)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    let listed = client
        .list_parts()
        .bucket(BUCKET)
        .key(&big_key)
        .upload_id(upload_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    assert!(listed.parts().iter().all(|p| p.e_tag().is_some()));
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(&big_key)
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let file = run.settled("alice", &big_id).await;
    assert_eq!(file["status"], "ready", "{file}");
    assert_eq!(
        file["filename"], big_id,
        "no filename metadata: the file id"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_with_dot_segments_are_kept_literally_and_removed() {
    // record-ownership's delete of each such object is held back 2 s (under the SDK's 3 s
    // attempt timeout), so that the objects can be seen while they exist; the test's own
    // HEADs are never faulted.
    let run = Running::start_faulty(&[], "s3.DeleteObject:slow=2s").await;
    let s3 = &run.stack.backend.s3_client;
    let id = uuid::Uuid::now_v7().to_string();
    // Written with the stack's own credentials (nothing of ours writes such keys): the local
    // S3 keeps each key as S3 does, where a file system would collapse it onto
    // `users/bob/{id}`; record-ownership removes them all and records nothing.
    let keys = [
        format!("users/alice/../bob/{id}"),
        format!("users/bob/./{id}"),
        format!("users/bob//{id}"),
        format!("users/bob/{id}/.."),
    ];
    for key in &keys {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .content_type("image/png")
            .body(ByteStream::from(png(20, 9)))
            .send()
            .await
            .unwrap();
        assert!(
            run.object_exists(key).await,
            "{key} is stored under its own name"
        );
        assert!(
            !run.object_exists(&format!("users/bob/{id}")).await,
            "{key} is not stored as users/bob/{id}"
        );
    }
    run.faults("").await;
    for key in &keys {
        assert!(run.object_removed(key).await, "{key}");
    }
    let (status, _) = run
        .json(
            "GET",
            &format!("/files/{id}"),
            Some(&run.token("bob")),
            None,
        )
        .await;
    assert_eq!(status, 404);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_can_be_held_to_if_none_match() {
    let run = Running::start_with(&[("CREDENTIALS_REQUIRE_IF_NONE_MATCH", "true")]).await;
    let (status, issued) = run
        .json("POST", "/credentials", Some(&run.token("alice")), None)
        .await;
    assert_eq!(status, 200, "{issued}");
    let client = client_of(&issued);
    let key = format!("users/alice/{}", uuid::Uuid::now_v7());
    assert_eq!(
        put_with(&client, &key, &png(20, 1)).await,
        Err("AccessDenied".to_owned())
    );
    client
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .if_none_match("*")
        .content_type("image/png")
        .body(ByteStream::from(png(20, 1)))
        .send()
        .await
        .unwrap();
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_hold_under_parallel_requests_and_are_given_back() {
    let run = Running::start_with(&[("QUOTA_FILES", "5"), ("QUOTA_BYTES", "1000")]).await;
    let alice = run.token("alice");
    let ask = |size: usize| json!({"filename": "q.png", "content_type": "image/png", "size": size});

    // Twenty at once, five files allowed: exactly five pass, whatever the interleaving.
    let answers = futures_util::future::join_all(
        (0..20).map(|_| run.json("POST", "/uploads", Some(&alice), Some(ask(10)))),
    )
    .await;
    let passed: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(passed.len(), 5, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
        assert_eq!(*status, 413);
        assert_eq!(body["error"], "quota_exceeded");
        assert_eq!(
            body["quota"],
            json!({"used_bytes": 50, "max_bytes": 1000, "used_files": 5, "max_files": 5, "requested_bytes": 10})
        );
    }
    // Every mode counts: a form is refused too.
    let (status, body) = run
        .json("POST", "/uploads/form", Some(&alice), Some(ask(10)))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("quota_exceeded"))
    );
    // Other users have their own.
    let (status, _) = run
        .json("POST", "/uploads", Some(&run.token("bob")), Some(ask(10)))
        .await;
    assert_eq!(status, 201);

    // Deleting a pending file gives its share back.
    let first = passed[0]["file_id"].as_str().unwrap();
    let (status, _) = run
        .json("DELETE", &format!("/files/{first}"), Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = run
        .json("POST", "/uploads", Some(&alice), Some(ask(961)))
        .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["quota"],
        json!({"used_bytes": 40, "max_bytes": 1000, "used_files": 4, "max_files": 5, "requested_bytes": 961})
    );
    let (status, issued) = run
        .json("POST", "/uploads", Some(&alice), Some(ask(960)))
        .await;
    assert_eq!(status, 201, "40 + 960 = 1000: {issued}");

    // A rejected upload gives its share back: declared 960 bytes, sent a text file.
    let mut put = run
        .http
        .put(issued["upload"]["url"].as_str().unwrap())
        .body(vec![b'a'; 960]);
    for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    let file = run
        .settled("alice", issued["file_id"].as_str().unwrap())
        .await;
    assert_eq!(file["status"], "rejected", "{file}");
    let (status, issued) = run
        .json("POST", "/uploads", Some(&alice), Some(ask(960)))
        .await;
    assert_eq!(status, 201, "{issued}");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_holds_the_quota_under_parallel_requests() {
    let run = Running::start_with(&[("QUOTA_FILES", "5"), ("QUOTA_BYTES", "100000000")]).await;
    // Forms and multipart uploads: twenty asked at once (by a user of their own each), five
    // files allowed: exactly five are issued.
    let small = json!({"filename": "q.png", "content_type": "image/png", "size": 10});
    let big = json!({"filename": "q.png", "content_type": "image/png", "size": 6 * MIB, "part_size": 5 * MIB});
    for (user, route, body) in [
        ("carol", "/uploads/form", small),
        ("dave", "/uploads/multipart", big),
    ] {
        let token = run.token(user);
        let answers = futures_util::future::join_all(
            (0..20).map(|_| run.json("POST", route, Some(&token), Some(body.clone()))),
        )
        .await;
        let issued = answers.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(issued, 5, "{route}: {answers:?}");
        for (status, body) in answers.iter().filter(|(s, _)| *s != 201) {
            assert_eq!(
                (*status, body["error"].as_str()),
                (413, Some("quota_exceeded")),
                "{route}"
            );
            assert_eq!(body["quota"]["used_files"], 5, "{route}: {body}");
        }
    }

    // Temporary credentials: the quota is counted as each object arrives. Twenty objects
    // put at once: exactly five become files, the others are rejected and removed.
    let (status, issued) = run
        .json("POST", "/credentials", Some(&run.token("erin")), None)
        .await;
    assert_eq!(status, 200, "{issued}");
    let s3 = client_of(&issued);
    let prefix = issued["prefix"].as_str().unwrap();
    let ids: Vec<String> = (0..20).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let puts = futures_util::future::join_all(ids.iter().map(|id| {
        s3.put_object()
            .bucket(BUCKET)
            .key(format!("{prefix}{id}"))
            .content_type("image/png")
            .body(ByteStream::from(png(20, 1)))
            .send()
    }))
    .await;
    assert!(
        puts.iter().all(Result::is_ok),
        "S3 takes every put: {puts:?}"
    );
    let mut outcomes = Vec::new();
    let erin = run.token("erin");
    for id in &ids {
        let mut file = Value::Null;
        for _ in 0..600 {
            file = run
                .json("GET", &format!("/files/{id}"), Some(&erin), None)
                .await
                .1;
            if file["status"] == "ready" || file["status"] == "rejected" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        outcomes.push(file);
    }
    let ready = outcomes.iter().filter(|f| f["status"] == "ready").count();
    let rejected = outcomes
        .iter()
        .filter(|f| f["status"] == "rejected")
        .count();
    assert_eq!(
        (ready, rejected),
        (5, 15),
        "every object settles: {outcomes:?}"
    );
    for (id, file) in ids.iter().zip(&outcomes) {
        if file["status"] == "rejected" {
            assert!(
                file["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("quota_exceeded"),
                "{file}"
            );
            assert!(
                run.object_removed(&format!("{prefix}{id}")).await,
                "{id} stayed"
            );
        }
    }
    run.stop().await;
}

/// `(status, Retry-After, error)` of `POST {route}` as `token`.
async fn bounded(
    run: &Running,
    route: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, u64, String) {
    let body = body.map_or(integration_tests::running::Body::None, |b| {
        integration_tests::running::Body::Json(b)
    });
    let answer = run.call("POST", route, Some(token), body).await;
    let retry_after = answer
        .headers
        .get("retry-after")
        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
    let error = answer.body["error"].as_str().unwrap_or_default().to_owned();
    (answer.status, retry_after, error)
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_credentials_are_bounded_in_objects_unfinished_uploads_and_number() {
    let run = Running::start_with(&[
        ("CREDENTIALS_MAX_OBJECTS", "3"),
        ("MAX_UNFINISHED_UPLOADS", "2"),
        ("CREDENTIALS_PER_HOUR", "3"),
    ])
    .await;
    let frank = run.token("frank");
    let (status, issued) = run.json("POST", "/credentials", Some(&frank), None).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["max_objects"], 3);
    let s3 = client_of(&issued);
    let prefix = issued["prefix"].as_str().unwrap().to_owned();

    // Six objects put at once with one credential limited to three: S3 takes them all, three
    // become files, the other three are rejected and removed as they arrive.
    let ids: Vec<String> = (0..6).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let bytes = png(20, 3);
    let keys: Vec<String> = ids.iter().map(|id| format!("{prefix}{id}")).collect();
    let puts =
        futures_util::future::join_all(keys.iter().map(|key| put_with(&s3, key, &bytes))).await;
    assert!(puts.iter().all(Result::is_ok), "{puts:?}");
    let mut ready = 0;
    for id in &ids {
        let file = run.settled("frank", id).await;
        match file["status"].as_str() {
            Some("ready") => ready += 1,
            Some("rejected") => {
                let reason = file["reason"].as_str().unwrap_or_default();
                assert!(reason.starts_with("credential_limit"), "{file}");
                assert!(
                    run.object_removed(&format!("{prefix}{id}")).await,
                    "{id} stayed"
                );
            }
            _ => panic!("{id} never settled: {file}"),
        }
    }
    assert_eq!(
        ready, 3,
        "one credential adds at most CREDENTIALS_MAX_OBJECTS"
    );

    // Multipart uploads the credential starts and never finishes: at two, no new credentials
    // and no new multipart upload, until one is aborted.
    let mut started = Vec::new();
    for _ in 0..2 {
        let key = format!("{prefix}{}", uuid::Uuid::now_v7());
        let created = s3
            .create_multipart_upload()
            .bucket(BUCKET)
            .key(&key)
            .content_type("image/png")
            .send()
            .await
            .expect("the credential may start a multipart upload");
        started.push((key, created.upload_id().unwrap().to_owned()));
    }
    let big = json!({"filename": "b.png", "content_type": "image/png", "size": 6 * MIB});
    for (route, body) in [("/credentials", None), ("/uploads/multipart", Some(big))] {
        let (status, retry_after, error) = bounded(&run, route, &frank, body).await;
        assert_eq!(
            (status, error.as_str()),
            (429, "too_many_unfinished_uploads"),
            "{route}"
        );
        assert!(
            (86_400 - 120..=2 * 86_400).contains(&retry_after),
            "{route}: when the one-day lifecycle rule aborts the oldest: {retry_after}"
        );
    }
    let (key, upload_id) = &started[0];
    s3.abort_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .expect("the credential may abort its upload");

    // Three credentials an hour: the second and third are issued, the fourth waits.
    for _ in 0..2 {
        let (status, _, error) = bounded(&run, "/credentials", &frank, None).await;
        assert_eq!(status, 200, "{error}");
    }
    let (status, retry_after, error) = bounded(&run, "/credentials", &frank, None).await;
    assert_eq!((status, error.as_str()), (429, "rate_limited"));
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    let (status, _, _) = bounded(&run, "/credentials", &run.token("grace"), None).await;
    assert_eq!(status, 200, "every owner has their own count");
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn objects_nobody_can_read_never_stay_without_a_record() {
    use aws_sdk_s3::types::StorageClass;
    let run = Running::start().await;
    let alice = run.token("alice");
    let key_b64 = STANDARD.encode([7u8; 32]);
    let key_md5 = STANDARD.encode(s3s::crypto::Md5::checksum(&[7u8; 32]));

    // Temporary credentials: an archive storage class or a customer-provided key (SSE-C) is
    // refused, by the session policy (and SSE-C by the bucket too).
    let (status, issued) = run.json("POST", "/credentials", Some(&alice), None).await;
    assert_eq!(status, 200, "{issued}");
    let s3 = client_of(&issued);
    let prefix = issued["prefix"].as_str().unwrap().to_owned();
    let fresh = || format!("{prefix}{}", uuid::Uuid::now_v7());
    let refused = [
        (
            "PutObject in DEEP_ARCHIVE",
            code_of(
                s3.put_object()
                    .bucket(BUCKET)
                    .key(fresh())
                    .content_type("image/png")
                    .storage_class(StorageClass::DeepArchive)
                    .body(ByteStream::from(png(20, 1)))
                    .send()
                    .await,
            ),
        ),
        (
            "CreateMultipartUpload in GLACIER",
            code_of(
                s3.create_multipart_upload()
                    .bucket(BUCKET)
                    .key(fresh())
                    .content_type("image/png")
                    .storage_class(StorageClass::Glacier)
                    .send()
                    .await,
            ),
        ),
        (
            "PutObject with SSE-C",
            code_of(
                s3.put_object()
                    .bucket(BUCKET)
                    .key(fresh())
                    .content_type("image/png")
                    .sse_customer_algorithm("AES256")
                    .sse_customer_key(&key_b64)
                    .sse_customer_key_md5(&key_md5)
                    .body(ByteStream::from(png(20, 1)))
                    .send()
                    .await,
            ),
        ),
    ];
    for (what, code) in refused {
        assert_eq!(code, "AccessDenied", "{what}");
    }
    // The bucket refuses SSE-C from anyone (BlockedEncryptionTypes), the stack's own role too.
    let admin = &run.stack.backend.s3_client;
    let sse_c = admin
        .put_object()
        .bucket(BUCKET)
        .key(fresh())
        .content_type("image/png")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key_b64)
        .sse_customer_key_md5(&key_md5)
        .body(ByteStream::from(png(20, 1)))
        .send()
        .await;
    assert_eq!(code_of(sse_c), "AccessDenied");

    // An archived object that lands anyway (written here with the stack's own credentials),
    // for a pending record and with no record at all: record-ownership cannot read it back,
    // so the object goes and the record says why.
    let (status, pending) = run
        .json(
            "POST",
            "/uploads",
            Some(&alice),
            Some(json!({"filename": "a.png", "content_type": "image/png", "size": 20})),
        )
        .await;
    assert_eq!(status, 201, "{pending}");
    let with_record = pending["key"].as_str().unwrap().to_owned();
    let without_record = fresh();
    for (key, content_type) in [(&with_record, "image/png"), (&without_record, "text/plain")] {
        admin
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .content_type(content_type)
            .storage_class(StorageClass::DeepArchive)
            .body(ByteStream::from(png(20, 1)))
            .send()
            .await
            .unwrap();
        let file_id = key.rsplit('/').next().unwrap();
        run.settled_rejected("alice", file_id, "object_unreadable")
            .await;
        assert!(run.object_removed(key).await, "{key} stayed");
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_avif_and_heic_files_become_ready_and_scripts_do_not() {
    let run = Running::start().await;
    // Written by libavif and libheif (shared/testdata/images/README.md), and libavif's with
    // its major brand set to `mif1`, as the AVIF specification allows.
    for (name, content_type, bytes) in [
        (
            "red.avif",
            "image/avif",
            &include_bytes!("../shared/testdata/images/red.avif")[..],
        ),
        (
            "red-libheif.avif",
            "image/avif",
            include_bytes!("../shared/testdata/images/red-libheif.avif"),
        ),
        (
            "red-mif1.avif",
            "image/avif",
            include_bytes!("../shared/testdata/images/red-mif1.avif"),
        ),
        (
            "red.heic",
            "image/heic",
            include_bytes!("../shared/testdata/images/red.heic"),
        ),
    ] {
        run.upload("alice", name, content_type, bytes).await;
    }
    // A script declared as AVIF is no picture: rejected and removed.
    let script = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    let (status, issued) = run
        .json(
            "POST",
            "/uploads",
            Some(&run.token("alice")),
            Some(json!({"filename": "x.avif", "content_type": "image/avif", "size": script.len()})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(run.put_issued(&issued, &script).await, 200);
    run.settled_rejected(
        "alice",
        issued["file_id"].as_str().unwrap(),
        "content_mismatch",
    )
    .await;
    assert!(run.object_removed(issued["key"].as_str().unwrap()).await);
    run.stop().await;
}

/// The headers an uploader could add to change how CloudFront serves the file, each with a
/// value that would matter.
const SMUGGLED: [(&str, &str); 6] = [
    ("content-disposition", "inline"),
    ("cache-control", "public, max-age=31536000"),
    ("content-encoding", "gzip"),
    ("content-language", "en"),
    ("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
    ("x-amz-meta-owner", "bob"),
];

/// Whether an upload that carried a smuggled header ended as it must: refused by S3
/// (nothing stored), or stored, then rejected with `headers_not_allowed` and removed.
async fn refused_or_rejected(run: &Running, status: u16, file_id: &str, header: &str) {
    let key = format!("users/alice/{file_id}");
    if status != 200 && status != 201 && status != 204 {
        assert!(
            !run.object_exists(&key).await,
            "{header}: refused yet stored"
        );
        return;
    }
    let file = run.settled("alice", file_id).await;
    assert_eq!(file["status"], "rejected", "{header}: {file}");
    let reason = file["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("headers_not_allowed: ") && reason.to_ascii_lowercase().contains(header),
        "{header}: {reason}"
    );
    assert!(run.object_removed(&key).await, "{header}: still stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_cannot_set_headers_we_never_ask_for() {
    let run = Running::start().await;
    let alice = run.token("alice");
    let bytes = png(64, 3);
    let ask = json!({"filename": "h.png", "content_type": "image/png", "size": bytes.len()});
    for (header, value) in SMUGGLED {
        // Presigned PUT: the header added beside those the URL signs.
        let (status, issued) = run
            .json("POST", "/uploads", Some(&alice), Some(ask.clone()))
            .await;
        assert_eq!(status, 201, "{issued}");
        let mut put = run
            .http
            .put(issued["upload"]["url"].as_str().unwrap())
            .header(header, value)
            .body(bytes.clone());
        for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
            put = put.header(name.as_str(), value.as_str().unwrap());
        }
        let status = put.send().await.unwrap().status().as_u16();
        let file_id = issued["file_id"].as_str().unwrap();
        refused_or_rejected(&run, status, file_id, header).await;

        // POST form: the header as an extra field, which the policy does not name.
        let (status, issued) = run
            .json("POST", "/uploads/form", Some(&alice), Some(ask.clone()))
            .await;
        assert_eq!(status, 201, "{issued}");
        let mut fields = fields_of(&issued);
        fields.insert(0, (header.to_owned(), value.to_owned()));
        let url = issued["upload"]["url"].as_str().unwrap();
        let (status, _, body) = post_form(&run, url, &fields, &bytes).await;
        assert_eq!(status, 403, "{header}: {body}");
        let file_id = issued["file_id"].as_str().unwrap();
        refused_or_rejected(&run, status, file_id, header).await;
    }

    // Temporary credentials: PutObject, and a multipart upload the client creates itself.
    let (status, issued) = run.json("POST", "/credentials", Some(&alice), None).await;
    assert_eq!(status, 200, "{issued}");
    let client = client_of(&issued);
    for (header, value) in SMUGGLED {
        let put = client
            .put_object()
            .bucket(BUCKET)
            .content_type("image/png")
            .body(ByteStream::from(bytes.clone()));
        let put = match header {
            "content-disposition" => put.content_disposition(value),
            "cache-control" => put.cache_control(value),
            "content-encoding" => put.content_encoding(value),
            "content-language" => put.content_language(value),
            "expires" => put.expires(aws_sdk_s3::primitives::DateTime::from_secs(4_070_908_800)),
            _ => put.metadata("owner", value),
        };
        let file_id = uuid::Uuid::now_v7().to_string();
        put.key(format!("users/alice/{file_id}"))
            .send()
            .await
            .unwrap();
        refused_or_rejected(&run, 200, &file_id, header).await;
    }
    let file_id = uuid::Uuid::now_v7().to_string();
    let key = format!("users/alice/{file_id}");
    let created = client
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(&key)
        .content_type("image/png")
        .content_disposition("inline")
        .send()
        .await
        .unwrap();
    let upload_id = created.upload_id().unwrap();
    let part = client
        .upload_part()
        .bucket(BUCKET)
        .key(&key)
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(bytes.clone()))
        .send()
        .await
        .unwrap();
    client
        .complete_multipart_upload()
        .bucket(BUCKET)
        .key(&key)
        .upload_id(upload_id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    refused_or_rejected(&run, 200, &file_id, "content-disposition").await;

    // As issued, with no extra header: ready (the check refuses only what was added).
    let file_id = run.upload("alice", "plain.png", "image/png", &bytes).await;
    assert_eq!(run.settled("alice", &file_id).await["status"], "ready");
    run.stop().await;
}
