//! The upload modes' refusals, checked against two S3 implementations written by different
//! people: our stand-in (s3s and s3s-fs, with our wrapper) and LocalStack's S3, run as a host
//! process with its signature checks on. The same URLs and forms, signed by the code the
//! upload function signs with (`shared::s3_signing`), are sent to both: valid, tampered,
//! expired, another type or part, too large. Each answer is held to what the AWS
//! documentation says S3 answers; where LocalStack does less than S3, the gap is listed here
//! (and in docs/testing.md), and the test checks that LocalStack still has it, so that a
//! LocalStack that closes it is noticed.
//!
//! Needs LocalStack's Python (`LOCALSTACK_PYTHON`, or `$VENV/localstack/bin/python`;
//! `./scripts/test` installs tests/requirements-localstack.txt there) and moto.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use integration_tests::browser::form_body;
use integration_tests::{Stack, png};
use private_uploads::local::stack::{BUCKET, REGION};
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::upload::{ByteSize, ContentType, Filename, UploadRequest};
use shared::s3_signing::{BucketLocation, S3Endpoint, presign_part, presign_post, presign_put};

/// What S3 does with a request, as the AWS documentation describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Stored, with this status.
    Stored(u16),
    /// Refused with this status; nothing stored.
    Refused(u16),
}

/// LocalStack 4.12's known differences from S3: (mode, case, what it does, why).
const LOCALSTACK_GAPS: &[(&str, &str, Outcome, &str)] = &[(
    "POST form",
    "a changed signature",
    Outcome::Stored(201),
    "LocalStack checks a POST form's policy (expiry, conditions) but not its signature",
)];

/// An S3 under test: where it is, and credentials it takes.
struct S3Under {
    name: &'static str,
    location: BucketLocation,
    credentials: Credentials,
    client: aws_sdk_s3::Client,
}

fn client(endpoint: &str, credentials: &Credentials) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(credentials.clone())
            .endpoint_url(endpoint)
            .force_path_style(true)
            .build(),
    )
}

/// LocalStack on a free loopback port, stopped (SIGTERM) when dropped.
struct LocalStackS3 {
    child: tokio::process::Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl LocalStackS3 {
    async fn start() -> Self {
        let python = std::env::var_os("LOCALSTACK_PYTHON")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("VENV").map(|v| PathBuf::from(v).join("localstack/bin/python"))
            })
            .filter(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "LocalStack is not installed: run ./scripts/test once (it installs \
                     tests/requirements-localstack.txt into $VENV/localstack), or set \
                     LOCALSTACK_PYTHON to a Python with localstack-core 4.12"
                )
            });
        let dir = tempfile::tempdir().unwrap();
        let port = private_uploads::local::moto::free_port().unwrap();
        for sub in ["fs", "tmp", "config"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let child = tokio::process::Command::new(&python)
            .args(["-m", "localstack.runtime.main"])
            // hypercorn binds the address it is given (twisted, the default, binds 0.0.0.0).
            .env("GATEWAY_SERVER", "hypercorn")
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("DNS_ADDRESS", "0")
            .env("SERVICES", "s3")
            .env("EAGER_SERVICE_LOADING", "1")
            .env("S3_SKIP_SIGNATURE_VALIDATION", "0")
            .env("DISABLE_EVENTS", "1")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .env("FILESYSTEM_ROOT", dir.path().join("fs"))
            .env("TMPDIR", dir.path().join("tmp"))
            .env("CONFIG_DIR", dir.path().join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start LocalStack with {}: {e}", python.display()));
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..600 {
            let health = http
                .get(format!("{endpoint}/_localstack/health"))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Self {
                    child,
                    endpoint,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("LocalStack did not answer on {endpoint} within 60 s");
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn upload(size: u64) -> UploadRequest {
    UploadRequest {
        filename: Filename::parse("p.png").unwrap(),
        content_type: ContentType::parse("image/png").unwrap(),
        size: ByteSize::new(size),
        sha256: None,
    }
}

fn new_key() -> ObjectKey {
    ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate())
}

async fn stored(s3: &S3Under, key: &ObjectKey) -> bool {
    s3.client
        .head_object()
        .bucket(&s3.location.bucket)
        .key(key.to_string())
        .send()
        .await
        .is_ok()
}

/// Flip the first character of the `X-Amz-Signature` query value.
fn tampered(url: &str) -> String {
    let (head, signature) = url.split_once("X-Amz-Signature=").unwrap();
    let flipped = if signature.starts_with('0') { '1' } else { '0' };
    format!("{head}X-Amz-Signature={flipped}{}", &signature[1..])
}

async fn put(url: &str, headers: &BTreeMap<String, String>, body: Vec<u8>) -> u16 {
    let mut request = reqwest::Client::new().put(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

/// Every case against `s3`: (mode, case) → what happened.
async fn run_cases(s3: &S3Under) -> BTreeMap<(&'static str, &'static str), Outcome> {
    let mut seen = BTreeMap::new();
    let now = SystemTime::now();
    let ttl = Duration::from_secs(300);
    let old = now - Duration::from_secs(600);
    let body = png(100, 7);

    // Presigned PUT.
    for (case, signed_at, change) in [
        ("valid", now, ""),
        ("a tampered signature", now, "signature"),
        ("expired", old, ""),
        ("another type", now, "type"),
        ("too large", now, "large"),
    ] {
        let key = new_key();
        let issued = presign_put(
            &s3.location,
            &s3.credentials,
            &key,
            &upload(100),
            signed_at,
            ttl,
        )
        .unwrap();
        let mut headers = issued.headers.clone();
        let mut bytes = body.clone();
        let url = match change {
            "signature" => tampered(&issued.url),
            _ => issued.url.clone(),
        };
        match change {
            "type" => {
                headers.insert("Content-Type".into(), "image/jpeg".into());
            }
            "large" => bytes.push(0),
            _ => {}
        }
        let status = put(&url, &headers, bytes).await;
        let outcome = if stored(s3, &key).await {
            Outcome::Stored(status)
        } else {
            Outcome::Refused(status)
        };
        seen.insert(("presigned PUT", case), outcome);
    }

    // A part URL of a multipart upload.
    for (case, signed_at, change) in [
        ("valid", now, ""),
        ("a tampered signature", now, "signature"),
        ("expired", old, ""),
        ("another part number", now, "part"),
        ("too large", now, "large"),
    ] {
        let key = new_key();
        let upload_id = s3
            .client
            .create_multipart_upload()
            .bucket(&s3.location.bucket)
            .key(key.to_string())
            .content_type("image/png")
            .send()
            .await
            .unwrap()
            .upload_id
            .unwrap();
        let issued = presign_part(
            &s3.location,
            &s3.credentials,
            &key,
            &upload_id,
            1,
            100,
            signed_at,
            ttl,
        )
        .unwrap();
        let mut bytes = body.clone();
        let url = match change {
            "signature" => tampered(&issued.url),
            "part" => issued.url.replace("partNumber=1", "partNumber=2"),
            _ => issued.url.clone(),
        };
        if change == "large" {
            bytes.push(0);
        }
        let status = put(&url, &BTreeMap::new(), bytes).await;
        let parts = s3
            .client
            .list_parts()
            .bucket(&s3.location.bucket)
            .key(key.to_string())
            .upload_id(&upload_id)
            .send()
            .await
            .unwrap();
        let outcome = if parts.parts().is_empty() {
            Outcome::Refused(status)
        } else {
            Outcome::Stored(status)
        };
        seen.insert(("part URL", case), outcome);
    }

    // A browser POST form.
    for (case, signed_at, change) in [
        ("valid", now, ""),
        ("a changed signature", now, "signature"),
        ("expired", old, ""),
        ("another type", now, "type"),
        ("too large", now, "large"),
    ] {
        let key = new_key();
        let form = presign_post(
            &s3.location,
            &s3.credentials,
            &key,
            &upload(100),
            signed_at,
            ttl,
        )
        .unwrap();
        let mut fields = form.fields.clone();
        let mut bytes = body.clone();
        for (name, value) in &mut fields {
            match (change, name.as_str()) {
                ("signature", "x-amz-signature") => {
                    let flipped = if value.starts_with('0') { "1" } else { "0" };
                    *value = format!("{flipped}{}", &value[1..]);
                }
                ("type", "Content-Type") => *value = "image/jpeg".into(),
                _ => {}
            }
        }
        if change == "large" {
            bytes.push(0);
        }
        let (content_type, body) = form_body(&fields, &bytes);
        let status = reqwest::Client::new()
            .post(&form.url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let outcome = if stored(s3, &key).await {
            Outcome::Stored(status)
        } else {
            Outcome::Refused(status)
        };
        seen.insert(("POST form", case), outcome);
    }
    seen
}

/// What S3 answers each case, by its documentation: a presigned request whose signature,
/// signed headers (type, length) or query (part number) differ, or whose time is up, is 403
/// (`SignatureDoesNotMatch`, `AccessDenied`); a POST form's policy conditions and expiry are
/// 403, its `content-length-range` 400 `EntityTooLarge`, and its answer with
/// `success_action_status=201` is 201.
fn documented(mode: &str, case: &str) -> Outcome {
    match (mode, case) {
        ("POST form", "valid") => Outcome::Stored(201),
        ("POST form", "too large") => Outcome::Refused(400),
        (_, "valid") => Outcome::Stored(200),
        _ => Outcome::Refused(403),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn both_s3s_refuse_what_s3_refuses() {
    let ours = Stack::start().await;
    let localstack = LocalStackS3::start().await;
    let ls_credentials = Credentials::new("AKIALOCALSTACK", "test", None, None, "localstack");
    let ls_client = client(&localstack.endpoint, &ls_credentials);
    ls_client
        .create_bucket()
        .bucket("second-s3")
        .send()
        .await
        .unwrap();
    let targets = [
        S3Under {
            name: "our stand-in",
            location: BucketLocation {
                endpoint: S3Endpoint::PathStyle(ours.s3.endpoint.clone()),
                region: REGION.into(),
                bucket: BUCKET.into(),
            },
            credentials: private_uploads::local::stack::credentials(),
            client: ours.s3_client.clone(),
        },
        S3Under {
            name: "LocalStack",
            location: BucketLocation {
                endpoint: S3Endpoint::PathStyle(localstack.endpoint.clone()),
                region: REGION.into(),
                bucket: "second-s3".into(),
            },
            credentials: ls_credentials,
            client: ls_client,
        },
    ];
    let mut problems = Vec::new();
    let mut table = Vec::new();
    for target in &targets {
        for ((mode, case), got) in run_cases(target).await {
            let want = documented(mode, case);
            let gap = LOCALSTACK_GAPS
                .iter()
                .find(|(m, c, _, _)| target.name == "LocalStack" && *m == mode && *c == case);
            table.push(format!("{:<12} {mode:<13} {case:<22} {got:?}", target.name));
            match gap {
                Some((_, _, does, why)) if got != *does => problems.push(format!(
                    "{}: {mode}, {case}: {got:?}, where its known gap ({why}) gave {does:?}: update LOCALSTACK_GAPS and docs/testing.md",
                    target.name
                )),
                Some(_) => {}
                None if got != want => problems.push(format!(
                    "{}: {mode}, {case}: {got:?}, the AWS documentation says {want:?}",
                    target.name
                )),
                None => {}
            }
        }
    }
    localstack.stop().await;
    ours.stop().await;
    println!("{}", table.join("\n"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
