//! Active content cannot reach a viewer as a page: script-capable types are refused unless
//! the operator names them, and the CDN serves every file with nosniff, a sandbox CSP and
//! HSTS, and every file but a raster image as an attachment (a PDF too). The template's
//! CloudFront Function (run here in Node) and the local CDN (Rust) decide attachments alike.
//!
//! Needs Node.js for the CloudFront Function (./scripts/test installs it) and moto.

use std::io::Write as _;
use std::process::{Command, Stdio};

use integration_tests::png;
use integration_tests::running::Running;
use private_uploads::local::template::Template;
use serde_json::{Value, json};
use shared::domain::active_content::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, served_inline,
};

/// Types on both sides of every line the rule draws.
const TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    "image/heic",
    "image/svg+xml",
    "image/vnd.foo+xml",
    "image/x-foo-xml",
    "application/pdf",
    "image/",
    "text/plain",
    "text/html",
    "text/csv",
    "text/css",
    "application/json",
    "application/xml",
    "application/javascript",
    "application/octet-stream",
    "application/zip",
    "video/mp4",
    "audio/mpeg",
    "",
    "nonsense",
];

/// What the template's viewer-response function does to a response of each type: the
/// `Content-Disposition` it sets, if any.
fn cloudfront_function(code: &str, types: &[&str]) -> Vec<Option<String>> {
    let script = format!(
        "{code}\nconst types = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n\
         process.stdout.write(JSON.stringify(types.map((t) => {{\n\
           const headers = t === '' ? {{}} : {{'content-type': {{value: t}}}};\n\
           const out = handler({{response: {{statusCode: 200, headers}}}});\n\
           return out.headers['content-disposition'] ? out.headers['content-disposition'].value : null;\n\
         }})));"
    );
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let mut child = Command::new(&node)
        .args(["-e", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {node} ({e}): install Node.js (./scripts/test does)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(types).to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the CloudFront function failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_cloudfront_function_and_the_local_cdn_decide_attachments_alike() {
    let template = Template::load().unwrap();
    // Each type bare, with a charset, and with a second type hidden behind a comma or in a
    // quoted parameter (which must always be an attachment).
    let values: Vec<String> = TYPES
        .iter()
        .flat_map(|t| {
            [
                (*t).to_owned(),
                format!("{t}; charset=utf-8"),
                format!(r#"{t}; a="", text/html, b="""#),
                format!("{t}, text/html"),
            ]
        })
        .collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let decided = cloudfront_function(&template.cdn_viewer_response, &values);
    for (content_type, disposition) in values.iter().zip(decided) {
        if content_type.contains([',', '"']) {
            assert_eq!(
                disposition.as_deref(),
                Some("attachment"),
                "{content_type:?}"
            );
        }
        let expected = (!served_inline(content_type)).then(|| "attachment".to_owned());
        assert_eq!(disposition, expected, "{content_type:?}");
    }
    // And the response-headers policy is the one the local CDN applies.
    assert_eq!(
        template.cdn_headers,
        [
            ("x-content-type-options", "nosniff"),
            ("content-security-policy", CONTENT_SECURITY_POLICY),
            ("strict-transport-security", STRICT_TRANSPORT_SECURITY),
            ("referrer-policy", REFERRER_POLICY),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Fetch a ready file of alice's through the CDN: status, headers, body.
async fn through_cdn(run: &Running, file_id: &str) -> (u16, http::HeaderMap, Vec<u8>) {
    let (status, view) = run
        .json(
            "GET",
            &format!("/files/{file_id}/url"),
            Some(&run.token("alice")),
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let response = run
        .http
        .get(view["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn script_capable_uploads_are_refused_and_files_are_served_inert() {
    let run = Running::start_with(&[("ALLOWED_CONTENT_TYPES", "*/*")]).await;
    let alice = run.token("alice");
    // Even with every type allowed, a script-capable one is refused by every mode.
    for content_type in [
        "image/svg+xml",
        "text/html",
        "application/javascript",
        "text/css",
    ] {
        for route in ["/uploads", "/uploads/form", "/uploads/multipart"] {
            let (status, body) = run
                .json(
                    "POST",
                    route,
                    Some(&alice),
                    Some(json!({"filename": "x", "content_type": content_type, "size": 10})),
                )
                .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (415, Some("content_type_not_allowed")),
                "{route} {content_type}: {body}"
            );
            assert!(
                body["message"].as_str().unwrap().contains("scripts"),
                "{body}"
            );
        }
    }

    // What the CDN sends with a picture, and with a text file that holds HTML.
    let picture = run.upload("alice", "a.png", "image/png", &png(40, 1)).await;
    let (status, headers, _) = through_cdn(&run, &picture).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert!(CONTENT_SECURITY_POLICY.starts_with("sandbox;"));
    assert_eq!(
        header(&headers, "strict-transport-security"),
        Some(STRICT_TRANSPORT_SECURITY)
    );
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(
        header(&headers, "content-disposition"),
        None,
        "shown inline"
    );
    let html = b"<html><script>alert(document.cookie)</script></html>";
    let text = run.upload("alice", "a.txt", "text/plain", html).await;
    let (status, headers, body) = through_cdn(&run, &text).await;
    assert_eq!((status, body.as_slice()), (200, &html[..]));
    assert_eq!(header(&headers, "content-type"), Some("text/plain"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "content-disposition"), Some("attachment"));
    run.stop().await;

    // An operator who opts in to SVG by name gets it stored, and served as an inert download.
    let run = Running::start_with(&[
        ("ALLOWED_CONTENT_TYPES", "image/*"),
        ("ACTIVE_CONTENT_TYPES", "image/svg+xml"),
    ])
    .await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let file = run.upload("alice", "a.svg", "image/svg+xml", svg).await;
    let (status, headers, _) = through_cdn(&run, &file).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/svg+xml"));
    assert_eq!(header(&headers, "content-disposition"), Some("attachment"));
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    // HTML stays refused: only the named type was let in.
    let (status, body): (u16, Value) = run
        .json(
            "POST",
            "/uploads",
            Some(&run.token("alice")),
            Some(json!({"filename": "x.html", "content_type": "text/html", "size": 10})),
        )
        .await;
    assert_eq!(status, 415, "{body}");
    run.stop().await;
}
