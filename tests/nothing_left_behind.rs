//! Deleting never leaves half a file: a cancelled upload whose URL or form is still valid
//! cannot land (its object is removed on arrival, not adopted), and a `DELETE /files/{id}`
//! that races the ownership function's handling of the same upload leaves neither an
//! object nor a record. The race is made certain by slowing the ownership function's read
//! through the stack's fault injection.

use std::time::Duration;

use integration_tests::browser::{fields_of, post_form};
use integration_tests::running::{Body, Running};
use serde_json::{Value, json};

fn body(name: &str) -> Value {
    json!({"filename": name, "content_type": "text/plain", "size": 4})
}

/// What alice sees of `file_id` and of her files, and whether its object exists, once the
/// stack has had time to handle every event.
async fn assert_gone(run: &Running, file_id: &str, what: &str) {
    let key = format!("users/alice/{file_id}");
    assert!(run.object_removed(&key).await, "{what}: the object stayed");
    // Long enough for a late event to be handled, and for a record to appear if one would.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !run.object_exists(&key).await,
        "{what}: the object came back"
    );
    let alice = run.token("alice");
    let (status, file) = run
        .json("GET", &format!("/files/{file_id}"), Some(&alice), None)
        .await;
    assert_eq!(
        (status, &file["error"]),
        (404, &json!("file_not_found")),
        "{what}: {file}"
    );
    let (status, list) = run.json("GET", "/files", Some(&alice), None).await;
    assert_eq!(status, 200);
    assert!(
        !list.to_string().contains(file_id),
        "{what}: still listed: {list}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_upload_that_lands_anyway_is_removed_not_adopted() {
    // Room for one upload at a time: a cancelled one must give its room back.
    let run = Running::start_with(&[("QUOTA_FILES", "1")]).await;
    let alice = run.token("alice");

    // A presigned PUT, cancelled, then used.
    let (status, issued) = run
        .json("POST", "/uploads", Some(&alice), Some(body("put.txt")))
        .await;
    assert_eq!(status, 201, "{issued}");
    let file_id = issued["file_id"].as_str().expect("an id").to_owned();
    let path = format!("/uploads/{file_id}");
    assert_eq!(
        run.call("DELETE", &path, Some(&alice), Body::None)
            .await
            .status,
        204
    );
    assert_eq!(
        run.put_issued(&issued, b"late").await,
        200,
        "S3 still takes the URL"
    );
    assert_gone(&run, &file_id, "presigned PUT").await;
    // Cancelling again: there is no upload any more.
    let again = run.call("DELETE", &path, Some(&alice), Body::None).await;
    assert_eq!(
        (again.status, &again.body["error"]),
        (404, &json!("file_not_found"))
    );

    // A POST form, cancelled, then used.
    let (status, form) = run
        .json(
            "POST",
            "/uploads/form",
            Some(&alice),
            Some(body("form.txt")),
        )
        .await;
    assert_eq!(status, 201, "{form}");
    let form_id = form["file_id"].as_str().expect("an id").to_owned();
    let path = format!("/uploads/{form_id}");
    assert_eq!(
        run.call("DELETE", &path, Some(&alice), Body::None)
            .await
            .status,
        204
    );
    let (status, _, answer) = post_form(
        &run,
        form["upload"]["url"].as_str().expect("a URL"),
        &fields_of(&form),
        b"late",
    )
    .await;
    assert!(
        (200..300).contains(&status),
        "S3 still takes the form: {status} {answer}"
    );
    assert_gone(&run, &form_id, "POST form").await;

    // Nothing of either counts: the one upload the quota allows still fits, and it lands.
    let kept = run.upload("alice", "kept.txt", "text/plain", b"kept").await;
    assert_eq!(run.listed("alice").await, [kept.as_str()]);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_racing_the_ownership_function_leaves_neither_object_nor_record() {
    let run = Running::start().await;
    let alice = run.token("alice");
    let (status, issued) = run
        .json("POST", "/uploads", Some(&alice), Some(body("raced.txt")))
        .await;
    assert_eq!(status, 201, "{issued}");
    let file_id = issued["file_id"].as_str().expect("an id").to_owned();

    // The ownership function will HEAD the object, then read the record 3 s late: the
    // owner's DELETE runs in between (the object deleted, then the record).
    run.faults("dynamodb.GetItem:slow=3s:1x").await;
    assert_eq!(run.put_issued(&issued, b"race").await, 200);
    let mut started = false;
    for _ in 0..40 {
        if run.fault_plan().await["rules"][0]["active"] == false {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(started, "the ownership function read the record (slowly)");
    let path = format!("/files/{file_id}");
    let deleted = run.call("DELETE", &path, Some(&alice), Body::None).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);

    // Then its read returns: it must not bring the file back (before tombstones it found no
    // record and adopted the object it had seen, leaving a record without an object).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_gone(&run, &file_id, "DELETE during record-ownership").await;
    run.stop().await;
}

/// An S3 stand-in that answers every request with `status` and no body, on 127.0.0.1.
async fn s3_answering(status: &'static str) -> aws_sdk_s3::Client {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    let config = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The helper behind every "the object is gone" above: 200 is there, 404 is gone, and any
/// other answer fails the test instead of passing for "gone".
#[tokio::test]
async fn only_a_404_counts_as_gone() {
    let key = "users/alice/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d";
    assert!(integration_tests::object_exists(&s3_answering("200 OK").await, key).await);
    assert!(!integration_tests::object_exists(&s3_answering("404 Not Found").await, key).await);
    for status in [
        "500 Internal Server Error",
        "503 Slow Down",
        "403 Forbidden",
    ] {
        let client = s3_answering(status).await;
        let outcome =
            tokio::spawn(async move { integration_tests::object_exists(&client, key).await }).await;
        let panic = outcome.expect_err(status).into_panic();
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.contains("neither 200 nor 404"),
            "{status}: {message}"
        );
    }
}
