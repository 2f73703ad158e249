//! Nothing secret reaches the logs, at any level: a full run of the stack (a presigned PUT,
//! a POST form, view URLs, gallery cookies, temporary credentials used with the AWS SDK,
//! the CDN serving them) with every log line of every crate captured at TRACE through the
//! functions' own log filter ([`shared::logging`]), then searched for the bearer token, each
//! signature we issued, the CloudFront private key and the temporary credentials. A signing
//! key secret with its fields swapped (the private key where its id belongs) is read too,
//! by a warm container and by a new one, and what they log about it is searched as well.
//!
//! Its own test binary: the subscriber it installs is process-wide.

use aws_credential_types::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use integration_tests::capture::Captured;
use integration_tests::png;
use integration_tests::running::{Body, Running};
use private_uploads::local::stack::BUCKET;
use serde_json::json;

/// The value of `name=` in a URL's query or a cookie header.
fn param<'a>(text: &'a str, name: &str) -> &'a str {
    text.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split(['&', ';']).next())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_signature_key_or_credential_is_logged_even_at_trace() {
    let captured = Captured::install("trace", shared::logging::Format::Plain);

    // The view function re-reads its secret every second, for the swapped secrets below.
    let run = Running::start_with(&[("SIGNING_KEY_REFRESH_SECONDS", "1")]).await;
    let token = run.token("alice");
    let mut secrets: Vec<(&str, String)> = vec![
        ("the bearer token", token.clone()),
        (
            "the bearer token's signature",
            token.rsplit('.').next().unwrap().to_owned(),
        ),
    ];

    // A presigned PUT, made ready by record-ownership.
    let bytes = png(64, 5);
    let (status, issued) = run
        .json(
            "POST",
            "/uploads",
            Some(&token),
            Some(json!({"filename": "a.png", "content_type": "image/png", "size": bytes.len()})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let url = issued["upload"]["url"].as_str().unwrap();
    secrets.push((
        "a presigned PUT's signature",
        param(url, "X-Amz-Signature").to_owned(),
    ));
    let mut put = run.http.put(url).body(bytes.clone());
    for (name, value) in issued["upload"]["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    let file_id = issued["file_id"].as_str().unwrap().to_owned();
    assert_eq!(run.settled("alice", &file_id).await["status"], "ready");

    // A POST form.
    let (status, form) = run
        .json(
            "POST",
            "/uploads/form",
            Some(&token),
            Some(json!({"filename": "b.png", "content_type": "image/png", "size": bytes.len()})),
        )
        .await;
    assert_eq!(status, 201, "{form}");
    let signature = form["upload"]["fields"]["x-amz-signature"]
        .as_str()
        .unwrap();
    secrets.push(("a form's signature", signature.to_owned()));

    // A view URL, fetched; gallery cookies, used.
    let (status, view) = run
        .json("GET", &format!("/files/{file_id}/url"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let view_url = view["url"].as_str().unwrap();
    secrets.push((
        "a view URL's signature",
        param(view_url, "Signature").to_owned(),
    ));
    assert_eq!(run.cdn(view_url).await.0, 200);
    let answer = run
        .call("POST", "/files/cookies", Some(&token), Body::None)
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    let cookies: Vec<String> = answer
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let cookie = cookies.join("; ");
    secrets.push((
        "the cookies' signature",
        param(&cookie, "CloudFront-Signature").to_owned(),
    ));
    let status = run
        .http
        .get(format!("{}/users/alice/{file_id}", run.stack.cdn_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // Temporary credentials, used with the AWS SDK.
    let (status, issued) = run.json("POST", "/credentials", Some(&token), None).await;
    assert_eq!(status, 200, "{issued}");
    let secret_key = issued["secret_access_key"].as_str().unwrap().to_owned();
    let session_token = issued["session_token"].as_str().unwrap().to_owned();
    secrets.push(("the temporary secret access key", secret_key.clone()));
    secrets.push(("the temporary session token", session_token.clone()));
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(
                issued["region"].as_str().unwrap().to_owned(),
            ))
            .credentials_provider(Credentials::new(
                issued["access_key_id"].as_str().unwrap(),
                secret_key,
                Some(session_token),
                None,
                "browser",
            ))
            .endpoint_url(issued["endpoint"].as_str().unwrap())
            .force_path_style(true)
            .build(),
    );
    let sdk_file = uuid::Uuid::now_v7().to_string();
    client
        .put_object()
        .bucket(BUCKET)
        .key(format!("users/alice/{sdk_file}"))
        .content_type("image/png")
        .body(ByteStream::from(bytes.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(run.settled("alice", &sdk_file).await["status"], "ready");

    // The CloudFront private key, as its PEM lines (and so inside the secret's JSON).
    let pem = std::fs::read_to_string(run.stack.data_dir().join("keys/cloudfront-signing.pem"))
        .expect("the dev key");
    for line in pem.lines().filter(|l| !l.starts_with("-----")).take(3) {
        secrets.push(("a line of the CloudFront private key", line.to_owned()));
    }

    // An operator's mistake: the secret's fields swapped, so the private key sits where a key
    // pair id belongs. A warm container's refresh fails (WARN, the old key kept); a new one
    // has no key (ERROR, 503). Neither line may hold the key.
    let secrets_manager = aws_sdk_secretsmanager::Client::new(&run.stack.backend.aws);
    let id = private_uploads::local::stack::KEY_PAIR_ID;
    let public = run.stack.backend.cloudfront_key.public_pem.clone();
    let put_secret = |value: serde_json::Value| {
        let request = secrets_manager
            .put_secret_value()
            .secret_id(private_uploads::local::stack::SECRET)
            .secret_string(value.to_string());
        async move { request.send().await.unwrap() }
    };
    let view_path = format!("/files/{file_id}/url");
    let view = || run.json("GET", &view_path, Some(&token), None);
    for swapped in [
        json!({"key_pair_id": pem, "private_key_pem": id}),
        json!({"active": pem, "keys": [{"key_pair_id": id, "private_key_pem": pem}]}),
    ] {
        // A container that loaded the good secret…
        put_secret(json!({"key_pair_id": id, "private_key_pem": pem})).await;
        run.stack
            .deploy_key_slots([Some((id, &public)), None])
            .await
            .unwrap();
        assert_eq!(view().await.0, 200);
        // …refreshes to the swapped one and keeps its key; a new container has none.
        put_secret(swapped).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        assert_eq!(view().await.0, 200, "a warm container keeps its key");
        run.stack
            .deploy_key_slots([Some((id, &public)), None])
            .await
            .unwrap();
        let (status, answer) = view().await;
        assert_eq!(status, 503, "a new container has no key: {answer}");
    }
    run.stop().await;

    let logs = captured.text();
    // The capture works and saw TRACE lines of the stack, the SDK and the runtime.
    let lines = logs.lines().count();
    assert!(lines > 1_000, "only {lines} lines captured");
    for needle in [
        "TRACE",
        "aws_smithy_runtime",
        "file ready",
        "signing key refresh failed",
        "signing key unavailable",
        "not a key pair id",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in the captured logs");
    }
    let found: Vec<String> = secrets
        .iter()
        .filter(|(_, secret)| logs.contains(secret.as_str()))
        .map(|(what, secret)| {
            let at = logs.find(secret.as_str()).unwrap_or(0);
            let line_start = logs[..at].rfind('\n').map_or(0, |i| i + 1);
            let line: String = logs[line_start..]
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect();
            format!("{what}, first in: {line}")
        })
        .collect();
    assert!(found.is_empty(), "logged:\n{}", found.join("\n"));
}
