//! API Gateway requests through both API functions' routers, handlers and error mapping:
//! the input picks one of `events/api-*.json` and replaces its path, query, body, `sub`
//! claim and method (fields separated by NUL bytes). Every answer must be a JSON answer
//! below 500 (the stores are in memory and healthy, the key good: a 5xx is a bug), and an
//! error answer must carry its `error` code.
#![no_main]

use std::sync::{Arc, OnceLock};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::ports::{
    MemoryMultipart, MemoryObjects, MemoryRecords, StaticIssuer, StaticSecret, TemporaryCredentials,
};

const EVENTS: [&str; 12] = [
    include_str!("../../events/api-complete-upload.json"),
    include_str!("../../events/api-delete-file.json"),
    include_str!("../../events/api-delete-upload.json"),
    include_str!("../../events/api-get-file.json"),
    include_str!("../../events/api-get-files.json"),
    include_str!("../../events/api-get-upload-parts.json"),
    include_str!("../../events/api-get-view-url.json"),
    include_str!("../../events/api-post-credentials.json"),
    include_str!("../../events/api-post-file-cookies.json"),
    include_str!("../../events/api-post-uploads-form.json"),
    include_str!("../../events/api-post-uploads-multipart.json"),
    include_str!("../../events/api-post-uploads.json"),
];
const EC_KEY: &str = include_str!("../../shared/testdata/p256-pkcs8.pem");
const EC_PUBLIC: &str = include_str!("../../shared/testdata/p256-public.pem");

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fn upload_deps() -> issue_upload_url::Deps {
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("AWS_REGION", "eu-west-1"),
        ("ALLOWED_CONTENT_TYPES", "image/*,application/pdf"),
        ("QUOTA_FILES", "20"),
        (
            "CREDENTIALS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/uploader",
        ),
    ];
    issue_upload_url::Deps::new(
        issue_upload_url::Config::from_env(&env).unwrap(),
        SharedCredentialsProvider::new(Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("token".into()),
            None,
            "fuzz",
        )),
        Arc::new(MemoryRecords::default()),
        Arc::new(MemoryMultipart::default()),
        Arc::new(StaticIssuer::new(TemporaryCredentials {
            access_key_id: "ASIABROWSER".into(),
            secret_access_key: "browser-secret".into(),
            session_token: "browser-token".into(),
            expiration: chrono::Utc::now() + chrono::Duration::minutes(15),
        })),
    )
}

fn view_deps() -> issue_view_url::Deps {
    let trusted = format!("K2JCJMDEHXQW5F {EC_PUBLIC}");
    let env = [
        ("BUCKET_NAME", "private-uploads-example"),
        ("TABLE_NAME", "files"),
        (
            "JWT_ISSUER",
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE",
        ),
        ("CDN_BASE_URL", "https://d111111abcdef8.cloudfront.net"),
        ("SIGNING_KEY_SECRET_ID", "signing-key"),
        ("TRUSTED_KEY_1", trusted.as_str()),
    ];
    let secret =
        serde_json::json!({"key_pair_id": "K2JCJMDEHXQW5F", "private_key_pem": EC_KEY}).to_string();
    issue_view_url::Deps::new(
        issue_view_url::Config::from_env(&env).unwrap(),
        Arc::new(MemoryRecords::default()),
        Arc::new(MemoryObjects::default()),
        Arc::new(StaticSecret(secret)),
    )
}

fn check(which: &str, response: lambda_http::Response<lambda_http::Body>) {
    let status = response.status().as_u16();
    assert!(status < 500, "{which}: {status} {:?}", response.body());
    if status >= 400 {
        let body: Value = serde_json::from_slice(response.body().as_ref()).expect("a JSON error");
        assert!(body["error"].is_string(), "{which}: {body}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let pick = fields.next().and_then(|f| f.first()).copied().unwrap_or(0);
    let mut event: Value = serde_json::from_str(EVENTS[usize::from(pick) % EVENTS.len()]).unwrap();
    // Path and query as API Gateway delivers them: URI characters only (a client's request
    // line can carry nothing else; lambda_http 1.3 panics converting an event whose path
    // lacks its leading `/` or whose query holds a control character, neither of which API
    // Gateway sends), with everything else percent-encoded.
    let uri_text = |field: &[u8]| -> String {
        field
            .iter()
            .map(|&b| match b {
                // RFC 3986's unreserved and reserved characters, and `%`.
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
                b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b'?' | b'@' | b'!' | b'$' | b'&'
                | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b'%' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    if let Some(path) = fields.next() {
        let path = Value::String(format!("/{}", uri_text(path).trim_start_matches('/')));
        event["rawPath"] = path.clone();
        event["requestContext"]["http"]["path"] = path;
    }
    if let Some(query) = fields.next() {
        event["rawQueryString"] = Value::String(uri_text(query));
    }
    let mut next = || {
        fields
            .next()
            .map(|f| Value::String(String::from_utf8_lossy(f).into_owned()))
    };
    if let Some(body) = next() {
        event["body"] = body;
    }
    if let Some(sub) = next() {
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub;
    }
    if let Some(method) = next() {
        event["requestContext"]["http"]["method"] = method;
    }
    let text = event.to_string();
    let (Ok(for_upload), Ok(for_view)) = (
        lambda_http::request::from_str(&text),
        lambda_http::request::from_str(&text),
    ) else {
        return;
    };
    static VIEW: OnceLock<issue_view_url::Deps> = OnceLock::new();
    let view = VIEW.get_or_init(view_deps);
    let upload = upload_deps();
    runtime().block_on(async {
        check(
            "upload",
            issue_upload_url::handle(&upload, for_upload).await.unwrap(),
        );
        check(
            "view",
            issue_view_url::handle(view, for_view).await.unwrap(),
        );
    });
});
