//! What temporary credentials (`POST /credentials`) may do, decided by an IAM evaluator
//! nobody here wrote: `@cloud-copilot/iam-simulate` (npm, run with Node; test-only, AGPL,
//! never shipped) evaluates the upload role's policy from `template.yaml` together with the
//! session policy the upload function sends to STS, for every request below. Each verdict
//! must be the expected one, and the local S3's own evaluator (`cli/src/local/iam.rs`, which
//! holds the local stack's credentials to their policies) must agree with it on every one.
//!
//! Needs Node.js and `npm ci` in tests/iam (./scripts/test does both).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use private_uploads::local::iam::{IamRequest, Verdict, evaluate_all, union};
use private_uploads::local::stack::CREDENTIALS_ROLE;
use private_uploads::local::template::Template;
use serde_json::{Value, json};
use shared::domain::credentials::session_policy;
use shared::domain::ids::OwnerId;

const ACCOUNT: &str = "123456789012";
const BUCKET: &str = "bkt";
const ID: &str = "0190f5b2-8c3e-7a1b-9d4e-0123456789ab";

use Verdict::{Allowed, ExplicitlyDenied, ImplicitlyDenied};

/// One request, and the verdict without and with `CREDENTIALS_REQUIRE_IF_NONE_MATCH`.
struct Case {
    what: &'static str,
    action: &'static str,
    resource: String,
    context: Vec<(&'static str, &'static str)>,
    plain: Verdict,
    if_none_match: Verdict,
}

fn object(key: &str) -> String {
    format!("arn:aws:s3:::{BUCKET}/{key}")
}

/// PutObject and CompleteMultipartUpload (`s3:ObjectCreationOperation` true), with and
/// without `If-None-Match: *`; CreateMultipartUpload and UploadPart (false).
const WRITE: &[(&str, &str)] = &[("s3:ObjectCreationOperation", "true")];
const WRITE_INM: &[(&str, &str)] = &[
    ("s3:ObjectCreationOperation", "true"),
    ("s3:if-none-match", "*"),
];
const PART: &[(&str, &str)] = &[("s3:ObjectCreationOperation", "false")];

fn case(
    what: &'static str,
    action: &'static str,
    resource: String,
    context: &[(&'static str, &'static str)],
    plain: Verdict,
    if_none_match: Verdict,
) -> Case {
    Case {
        what,
        action,
        resource,
        context: context.to_vec(),
        plain,
        if_none_match,
    }
}

fn cases() -> Vec<Case> {
    let own = object(&format!("users/alice/{ID}"));
    let denied = |what, key: String| {
        case(
            what,
            "s3:PutObject",
            object(&key),
            WRITE_INM,
            ImplicitlyDenied,
            ImplicitlyDenied,
        )
    };
    let blocked = |what, key: String| {
        case(
            what,
            "s3:PutObject",
            object(&key),
            WRITE_INM,
            ExplicitlyDenied,
            ExplicitlyDenied,
        )
    };
    let mut cases = vec![
        // Everything the page, the AWS SDK and Uppy do under the caller's prefix.
        case(
            "PutObject / CompleteMultipartUpload with If-None-Match",
            "s3:PutObject",
            own.clone(),
            WRITE_INM,
            Allowed,
            Allowed,
        ),
        case(
            "PutObject / CompleteMultipartUpload without If-None-Match",
            "s3:PutObject",
            own.clone(),
            WRITE,
            Allowed,
            ExplicitlyDenied,
        ),
        case(
            "CreateMultipartUpload / UploadPart",
            "s3:PutObject",
            own.clone(),
            PART,
            Allowed,
            Allowed,
        ),
        // Only objects the service can read back: STANDARD, no customer-provided key.
        case(
            "PutObject in the STANDARD storage class, said",
            "s3:PutObject",
            own.clone(),
            &[
                ("s3:ObjectCreationOperation", "true"),
                ("s3:if-none-match", "*"),
                ("s3:x-amz-storage-class", "STANDARD"),
            ],
            Allowed,
            Allowed,
        ),
        case(
            "PutObject in DEEP_ARCHIVE",
            "s3:PutObject",
            own.clone(),
            &[
                ("s3:ObjectCreationOperation", "true"),
                ("s3:if-none-match", "*"),
                ("s3:x-amz-storage-class", "DEEP_ARCHIVE"),
            ],
            ImplicitlyDenied,
            ImplicitlyDenied,
        ),
        case(
            "CreateMultipartUpload in GLACIER",
            "s3:PutObject",
            own.clone(),
            &[
                ("s3:ObjectCreationOperation", "false"),
                ("s3:x-amz-storage-class", "GLACIER"),
            ],
            ImplicitlyDenied,
            ImplicitlyDenied,
        ),
        case(
            "PutObject with a customer-provided key (SSE-C)",
            "s3:PutObject",
            own.clone(),
            &[
                ("s3:ObjectCreationOperation", "true"),
                ("s3:if-none-match", "*"),
                (
                    "s3:x-amz-server-side-encryption-customer-algorithm",
                    "AES256",
                ),
            ],
            ImplicitlyDenied,
            ImplicitlyDenied,
        ),
        case(
            "ListParts",
            "s3:ListMultipartUploadParts",
            own.clone(),
            &[],
            Allowed,
            Allowed,
        ),
        case(
            "AbortMultipartUpload",
            "s3:AbortMultipartUpload",
            own.clone(),
            &[],
            Allowed,
            Allowed,
        ),
        // Other prefixes and shapes.
        denied("another user's prefix", format!("users/bob/{ID}")),
        denied(
            "a longer owner id sharing the prefix",
            format!("users/alice2/{ID}"),
        ),
        denied("a shorter one", format!("users/alic/{ID}")),
        denied("the prefix without its slash", format!("users/alice{ID}")),
        denied("the prefix itself", "users/alice".into()),
        denied("the prefix and its slash", "users/alice/".into()),
        denied("the bucket root", ID.into()),
        denied("outside users/", format!("other/alice/{ID}")),
        denied(
            "a UUIDv4, not a v7",
            "users/alice/0190f5b2-8c3e-4a1b-9d4e-0123456789ab".into(),
        ),
        denied("an id and a suffix", format!("users/alice/{ID}.png")),
        // Dot and empty segments: IAM matches keys literally, so only the explicit deny stops
        // the 36-character tails that fit the file id pattern.
        blocked(
            "../ fitting the id pattern",
            "users/alice/../bob/x-abcd-7abc-abcd-abcdefghijkl".into(),
        ),
        blocked(
            "./ fitting the id pattern",
            "users/alice/./bobxxx-abcd-7abc-abcd-abcdefghijkl".into(),
        ),
        blocked(
            "// fitting the id pattern",
            "users/alice//bobxxx-abcd-7abc-abcd-abcdefghijkl".into(),
        ),
        blocked(
            "a / inside the id",
            "users/alice/abcdefg/-abcd-7abc-abcd-abcdefghijkl".into(),
        ),
        blocked("../ before the id", format!("users/alice/../bob/{ID}")),
        blocked("./ before the id", format!("users/alice/./{ID}")),
        blocked("// before the id", format!("users/alice//{ID}")),
        blocked("/.. after the id", format!("users/alice/{ID}/..")),
        blocked("/. after the id", format!("users/alice/{ID}/.")),
        blocked("a segment after the id", format!("users/alice/{ID}/x")),
        // Percent-encoded look-alikes (S3 keys are literal: these are keys holding `%`).
        blocked(
            "..%2f fitting the id pattern",
            "users/alice/..%2fbob-abcd-7abc-abcd-abcdefghijkl".into(),
        ),
        blocked(
            "%2F fitting the id pattern",
            "users/alice/x%2Fbobx-abcd-7abc-abcd-abcdefghijkl".into(),
        ),
        blocked("%2e%2e before the id", format!("users/alice/%2e%2e/{ID}")),
        blocked("the owner encoded", format!("users%2Falice%2F{ID}")),
        // Another bucket.
        case(
            "the same key in another bucket",
            "s3:PutObject",
            format!("arn:aws:s3:::other/users/alice/{ID}"),
            WRITE_INM,
            ImplicitlyDenied,
            ImplicitlyDenied,
        ),
        case(
            "the bucket itself",
            "s3:ListBucket",
            format!("arn:aws:s3:::{BUCKET}"),
            &[],
            ImplicitlyDenied,
            ImplicitlyDenied,
        ),
        // IAM wildcards cannot require hex digits or lowercase: such keys are allowed here
        // and removed by record-ownership on arrival (tests/upload_modes.rs).
        case(
            "LIMIT: 36 characters that are not hex",
            "s3:PutObject",
            object("users/alice/zzzzzzzz-zzzz-7zzz-zzzz-zzzzzzzzzzzz"),
            WRITE_INM,
            Allowed,
            Allowed,
        ),
        case(
            "LIMIT: an uppercase id",
            "s3:PutObject",
            object(&format!("users/alice/{}", ID.to_uppercase())),
            WRITE_INM,
            Allowed,
            Allowed,
        ),
    ];
    // Every other action, on her own key.
    for action in [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAttributes",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:PutObjectAcl",
        "s3:PutObjectTagging",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:RestoreObject",
    ] {
        cases.push(case(
            "every other action",
            action,
            own.clone(),
            &[],
            ImplicitlyDenied,
            ImplicitlyDenied,
        ));
    }
    for action in [
        "s3:ListBucketMultipartUploads",
        "s3:PutBucketPolicy",
        "s3:PutBucketCORS",
    ] {
        cases.push(case(
            "every other bucket action",
            action,
            format!("arn:aws:s3:::{BUCKET}"),
            &[],
            ImplicitlyDenied,
            ImplicitlyDenied,
        ));
    }
    cases
}

/// The simulator's verdicts, in order.
fn simulate(identity: &[Value], session: &Value, requests: &[Value]) -> Vec<Verdict> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("iam");
    assert!(
        dir.join("node_modules/@cloud-copilot/iam-simulate")
            .is_dir(),
        "the IAM simulator is not installed: run `npm ci` in tests/iam (./scripts/test does)"
    );
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let mut child = Command::new(&node)
        .arg("evaluate.mjs")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {node} ({e}): install Node.js (./scripts/test does)")
        });
    let job = json!({
        "principal": format!("arn:aws:sts::{ACCOUNT}:assumed-role/stack-uploader/pu-alice"),
        "account": ACCOUNT,
        "identityPolicies": identity,
        "sessionPolicy": session,
        "requests": requests,
    });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the simulator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    verdicts
        .iter()
        .map(|v| match v.as_str() {
            "Allowed" => Allowed,
            "ImplicitlyDenied" => ImplicitlyDenied,
            "ExplicitlyDenied" => ExplicitlyDenied,
            other => panic!("the simulator said {other}"),
        })
        .collect()
}

#[test]
fn temporary_credentials_reach_only_the_callers_prefix() {
    let template = Template::load().unwrap();
    let identity = template
        .role_policies(
            CREDENTIALS_ROLE,
            &BTreeMap::from([("FilesBucket.Arn", format!("arn:aws:s3:::{BUCKET}"))]),
        )
        .unwrap();
    let owner = OwnerId::from_sub("alice").unwrap();
    let cases = cases();
    let requests: Vec<Value> = cases
        .iter()
        .map(|c| {
            json!({"action": c.action, "resource": c.resource,
                "context": c.context.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()})
        })
        .collect();
    let mut checked = 0;
    for require_if_none_match in [false, true] {
        let session: Value = serde_json::from_str(
            &session_policy("aws", BUCKET, &owner, require_if_none_match).unwrap(),
        )
        .unwrap();
        let simulated = simulate(&identity, &session, &requests);
        let both = [union(&identity), session.clone()];
        for (case, simulated) in cases.iter().zip(simulated) {
            let expected = if require_if_none_match {
                case.if_none_match
            } else {
                case.plain
            };
            assert_eq!(
                simulated, expected,
                "iam-simulate, If-None-Match required: {require_if_none_match}: {} ({} {})",
                case.what, case.action, case.resource
            );
            let local = evaluate_all(
                &both,
                &IamRequest {
                    action: case.action.to_owned(),
                    resource: case.resource.clone(),
                    context: case
                        .context
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                },
            );
            assert_eq!(
                local, simulated,
                "the local S3's evaluator disagrees: {} ({} {})",
                case.what, case.action, case.resource
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * cases.len());
}

#[test]
fn the_simulator_tells_allowed_from_denied() {
    // The check above can fail: a policy that allows everything under users/ is caught.
    let wide = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*",
        "Resource": format!("arn:aws:s3:::{BUCKET}/users/*")}]});
    let request = json!({"action": "s3:PutObject", "resource": object(&format!("users/bob/{ID}")), "context": {}});
    assert_eq!(
        simulate(std::slice::from_ref(&wide), &wide, &[request]),
        [Allowed]
    );
}
