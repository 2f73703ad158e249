//! The cross-user matrix: for every route and every upload mode, bob holding what alice's
//! session gave her (her file ids, keys, upload ids, list cursor; his own cookies, URLs,
//! forms and credentials aimed at her prefix) gets exactly what he gets for something that
//! does not exist, or S3's or the CDN's refusal, and no answer mentions her files. After it
//! all, alice's files and upload are untouched.

use aws_sdk_s3::primitives::ByteStream;
use integration_tests::browser::{client_of, code_of, fields_of, post_form};
use integration_tests::png;
use integration_tests::running::{Body, Running};
use private_uploads::local::stack::BUCKET;
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

/// What an answer says, with the id the caller asked about masked, so that an answer about
/// alice's id can be compared with one about an id nobody has.
fn masked(body: &Value, id: &str, other: &str) -> String {
    let mut body = body.clone();
    // Each request has its own id; the rest must not tell the two apart.
    if let Some(fields) = body.as_object_mut() {
        let request_id = fields.remove("request_id");
        assert!(
            request_id.is_some_and(|r| r.is_string()),
            "no request_id in {fields:?}"
        );
    }
    body.to_string().replace(id, "<id>").replace(other, "<id>")
}

#[tokio::test(flavor = "multi_thread")]
async fn another_users_ids_keys_uploads_cursors_cookies_and_credentials_reach_nothing() {
    let run = Running::start().await;
    let (alice, bob) = (run.token("alice"), run.token("bob"));
    // Alice: two ready files (one named so its name is easy to find), a multipart upload in
    // progress, a list cursor.
    let secret_name = "alice-private-holiday.png";
    let file = run
        .upload("alice", secret_name, "image/png", &png(40, 1))
        .await;
    let _older = run
        .upload("alice", "second.png", "image/png", &png(41, 2))
        .await;
    let (status, multipart) = run
        .json(
            "POST",
            "/uploads/multipart",
            Some(&alice),
            Some(json!({"filename": "alice-big.png", "content_type": "image/png", "size": 6 * MIB, "part_size": 5 * MIB})),
        )
        .await;
    assert_eq!(status, 201, "{multipart}");
    let upload = multipart["file_id"].as_str().unwrap().to_owned();
    let upload_id = multipart["upload_id"].as_str().unwrap().to_owned();
    let (status, page) = run.json("GET", "/files?limit=1", Some(&alice), None).await;
    assert_eq!(status, 200, "{page}");
    let cursor = page["next_cursor"].as_str().expect("a cursor").to_owned();
    // Bob has a file of his own, so his listing is not empty.
    let bobs = run.upload("bob", "bob.png", "image/png", &png(42, 3)).await;
    let nobody = uuid::Uuid::now_v7().to_string();
    let alice_mentions = [
        secret_name,
        "alice-big.png",
        "second.png",
        "users/alice",
        &upload_id,
    ];
    let clean = |what: &str, body: &str| {
        for mention in alice_mentions {
            assert!(!body.contains(mention), "{what}: {body} mentions {mention}");
        }
    };

    // Every route that takes an id: alice's id answers as an id nobody has.
    let by_id: [(&str, &str, Option<Value>); 6] = [
        ("GET", "/files/{id}", None),
        ("GET", "/files/{id}/url", None),
        ("DELETE", "/files/{id}", None),
        ("GET", "/uploads/{id}/parts", None),
        (
            "POST",
            "/uploads/{id}/complete",
            Some(json!({"upload_id": upload_id, "parts": [{"part_number": 1, "etag": "e"}]})),
        ),
        ("DELETE", "/uploads/{id}", None),
    ];
    for (method, path, body) in by_id {
        for id in [file.as_str(), upload.as_str()] {
            let (status, answer) = run
                .json(method, &path.replace("{id}", id), Some(&bob), body.clone())
                .await;
            let (none_status, none_answer) = run
                .json(
                    method,
                    &path.replace("{id}", &nobody),
                    Some(&bob),
                    body.clone(),
                )
                .await;
            assert_eq!(status, 404, "{method} {path} with alice's {id}: {answer}");
            assert_eq!(
                (status, masked(&answer, id, &nobody)),
                (none_status, masked(&none_answer, &nobody, id)),
                "{method} {path}: alice's id answers otherwise than a missing one"
            );
            clean(&format!("{method} {path}"), &answer.to_string());
        }
    }
    // Bob's unfinished uploads are his own: none of alice's is listed; she sees hers.
    let (status, unfinished) = run.json("GET", "/uploads", Some(&bob), None).await;
    assert_eq!(
        (status, &unfinished),
        (200, &json!({"uploads": []})),
        "GET /uploads"
    );
    let (_, hers) = run.json("GET", "/uploads", Some(&alice), None).await;
    assert_eq!(hers["uploads"][0]["file_id"], upload.as_str(), "{hers}");
    // Her list cursor pages through bob's own files only.
    let (status, listed) = run
        .json("GET", &format!("/files?cursor={cursor}"), Some(&bob), None)
        .await;
    assert!(status == 200 || status == 400, "{status} {listed}");
    clean("GET /files?cursor=", &listed.to_string());
    assert!(!listed.to_string().contains(&file), "{listed}");
    let (_, mine) = run.json("GET", "/files", Some(&bob), None).await;
    let ids: Vec<&str> = mine["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["file_id"].as_str())
        .collect();
    assert_eq!(ids, [bobs.as_str()], "bob lists his own file only");

    // The CDN: bob's view URL and cookies open his prefix only.
    let (status, view) = run
        .json("GET", &format!("/files/{bobs}/url"), Some(&bob), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let bob_url = view["url"].as_str().unwrap();
    let retargeted = bob_url.replace(&format!("users/bob/{bobs}"), &format!("users/alice/{file}"));
    assert_eq!(
        run.cdn(&retargeted).await.0,
        403,
        "bob's URL signature on alice's key"
    );
    let answer = run
        .call("POST", "/files/cookies", Some(&bob), Body::None)
        .await;
    assert_eq!(answer.status, 204);
    let cookie: String = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    // Sent raw: each path reaches the CDN as written (checked in its request log), where a
    // URL parser would have made all three the first one.
    for path in [
        format!("/users/alice/{file}"),
        format!("/users/bob/../alice/{file}"),
        format!("/users/bob/%2e%2e/alice/{file}"),
        format!("/users/bob/%2E%2E/alice/{file}"),
        format!("/users/bob/..%2falice/{file}"),
        format!("/users/bob/./../alice/{file}"),
    ] {
        let (status, body) = run.cdn_raw(&path, &[("cookie", &cookie)]).await;
        assert!(
            run.stack.cdn.requests_seen().contains(&path),
            "the CDN did not see {path} as sent: {:?}",
            run.stack.cdn.requests_seen()
        );
        assert_eq!(status, 403, "bob's cookies on {path}: {body}");
        clean(&path, &body);
    }

    // Upload modes, aimed at alice's key: bob's presigned PUT moved to her key, his form
    // with her key, his part URL on her upload.
    let target = format!("users/alice/{file}");
    let (status, put) = run
        .json(
            "POST",
            "/uploads",
            Some(&bob),
            Some(json!({"filename": "x.png", "content_type": "image/png", "size": 40})),
        )
        .await;
    assert_eq!(status, 201, "{put}");
    let url = put["upload"]["url"].as_str().unwrap();
    let bob_key = format!("users/bob/{}", put["file_id"].as_str().unwrap());
    let mut request = run
        .http
        .put(url.replace(&bob_key, &target))
        .body(png(40, 9));
    for (name, value) in put["upload"]["headers"].as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        403,
        "a PUT URL moved to alice's key"
    );
    let (status, form) = run
        .json(
            "POST",
            "/uploads/form",
            Some(&bob),
            Some(json!({"filename": "x.png", "content_type": "image/png", "size": 40})),
        )
        .await;
    assert_eq!(status, 201, "{form}");
    let mut fields = fields_of(&form);
    for (name, value) in &mut fields {
        if name == "key" {
            *value = target.clone();
        }
    }
    let (status, _, body) = post_form(
        &run,
        form["upload"]["url"].as_str().unwrap(),
        &fields,
        &png(40, 9),
    )
    .await;
    assert_eq!(status, 403, "a form moved to alice's key: {body}");
    let (status, bob_multi) = run
        .json(
            "POST",
            "/uploads/multipart",
            Some(&bob),
            Some(json!({"filename": "b.png", "content_type": "image/png", "size": 6 * MIB, "part_size": 5 * MIB})),
        )
        .await;
    assert_eq!(status, 201, "{bob_multi}");
    let part = bob_multi["parts"][0]["url"].as_str().unwrap();
    let bob_upload_id = bob_multi["upload_id"].as_str().unwrap();
    let bob_multi_key = bob_multi["key"].as_str().unwrap();
    let onto_alice = part
        .replace(bob_upload_id, &upload_id)
        .replace(bob_multi_key, &format!("users/alice/{upload}"));
    // The local S3 refuses as soon as it has the headers and closes the connection, so the
    // client may still be writing the 5 MiB body: a 403, or a body cut off by the refusal.
    // Either way nothing lands in her upload (checked with her part list below).
    match run
        .http
        .put(onto_alice)
        .body(vec![0u8; 5 * MIB])
        .send()
        .await
    {
        Ok(response) => assert_eq!(
            response.status().as_u16(),
            403,
            "bob's part URL on alice's upload"
        ),
        Err(e) => assert!(e.is_request(), "bob's part URL on alice's upload: {e}"),
    }

    // Temporary credentials: bob's reach nothing of alice's.
    let (status, issued) = run.json("POST", "/credentials", Some(&bob), None).await;
    assert_eq!(status, 200, "{issued}");
    let s3 = client_of(&issued);
    let prefix_key = format!("users/alice/{upload}");
    // A copy of alice's file into bob's own prefix, whole or as a part of his own upload:
    // S3 reads the source with the caller's rights (s3:GetObject), which his never grant.
    let copy_source = format!("{BUCKET}/{target}");
    let his_key = format!(
        "{}{}",
        issued["prefix"].as_str().unwrap(),
        uuid::Uuid::now_v7()
    );
    let his_upload = s3
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(&his_key)
        .content_type("image/png")
        .send()
        .await
        .expect("his credentials start an upload in his prefix")
        .upload_id
        .unwrap();
    let denied = [
        (
            "CopyObject",
            code_of(
                s3.copy_object()
                    .bucket(BUCKET)
                    .key(&his_key)
                    .copy_source(&copy_source)
                    .send()
                    .await,
            ),
        ),
        (
            "UploadPartCopy",
            code_of(
                s3.upload_part_copy()
                    .bucket(BUCKET)
                    .key(&his_key)
                    .upload_id(&his_upload)
                    .part_number(1)
                    .copy_source(&copy_source)
                    .send()
                    .await,
            ),
        ),
        (
            "GetObject",
            code_of(s3.get_object().bucket(BUCKET).key(&target).send().await),
        ),
        (
            "PutObject",
            code_of(
                s3.put_object()
                    .bucket(BUCKET)
                    .key(&target)
                    .content_type("image/png")
                    .body(ByteStream::from(png(40, 9)))
                    .send()
                    .await,
            ),
        ),
        (
            "DeleteObject",
            code_of(s3.delete_object().bucket(BUCKET).key(&target).send().await),
        ),
        (
            "ListObjectsV2",
            code_of(
                s3.list_objects_v2()
                    .bucket(BUCKET)
                    .prefix("users/alice/")
                    .send()
                    .await,
            ),
        ),
        (
            "ListParts",
            code_of(
                s3.list_parts()
                    .bucket(BUCKET)
                    .key(&prefix_key)
                    .upload_id(&upload_id)
                    .send()
                    .await,
            ),
        ),
        (
            "UploadPart",
            code_of(
                s3.upload_part()
                    .bucket(BUCKET)
                    .key(&prefix_key)
                    .upload_id(&upload_id)
                    .part_number(2)
                    .body(ByteStream::from(vec![1u8; 10]))
                    .send()
                    .await,
            ),
        ),
        (
            "AbortMultipartUpload",
            code_of(
                s3.abort_multipart_upload()
                    .bucket(BUCKET)
                    .key(&prefix_key)
                    .upload_id(&upload_id)
                    .send()
                    .await,
            ),
        ),
    ];
    for (action, code) in denied {
        assert_eq!(
            code, "AccessDenied",
            "bob's credentials: {action} on alice's prefix"
        );
    }
    assert!(
        !run.object_exists(&his_key).await,
        "no copy of alice's file under bob's prefix"
    );

    // Alice's file and upload are as she left them.
    let (status, mine) = run
        .json("GET", &format!("/files/{file}"), Some(&alice), None)
        .await;
    assert_eq!((status, &mine["status"]), (200, &json!("ready")), "{mine}");
    let (status, parts) = run
        .json(
            "GET",
            &format!("/uploads/{upload}/parts"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{parts}");
    assert_eq!(parts["upload_id"], json!(upload_id));
    assert_eq!(
        parts["uploaded"],
        json!([]),
        "no part of bob's landed in her upload"
    );
    let (status, view) = run
        .json("GET", &format!("/files/{file}/url"), Some(&alice), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        run.cdn(view["url"].as_str().unwrap()).await,
        (200, png(40, 1))
    );
    run.stop().await;
}
