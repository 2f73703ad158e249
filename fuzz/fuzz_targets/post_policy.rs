//! POST-policy forms for any request that passes the upload rules' parsers: a filename,
//! Content-Type and checksum from the input (NUL-separated). Whatever they hold (quotes,
//! backslashes, control characters, any Unicode), the signed policy must be JSON whose
//! conditions are exactly the form's fields with their values: nothing in a field can add or
//! change a condition.
#![no_main]

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::domain::ids::{FileId, ObjectKey, OwnerId};
use shared::domain::upload::{ByteSize, ContentType, Filename, Sha256Checksum, UploadRequest};
use shared::s3_signing::{BucketLocation, S3Endpoint, presign_post};

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0).map(String::from_utf8_lossy);
    let (Some(name), Some(content_type)) = (fields.next(), fields.next()) else {
        return;
    };
    let (Ok(filename), Ok(content_type)) =
        (Filename::parse(&name), ContentType::parse(&content_type))
    else {
        return;
    };
    let sha256 = match fields.next() {
        Some(text) => match Sha256Checksum::parse(&text) {
            Ok(sum) => Some(sum),
            Err(_) => return,
        },
        None => None,
    };
    let size = data.len() as u64 + 1;
    let request = UploadRequest {
        filename,
        content_type,
        size: ByteSize::new(size),
        sha256,
    };
    let location = BucketLocation {
        endpoint: S3Endpoint::VirtualHosted,
        region: "eu-west-1".into(),
        bucket: "private-uploads-example".into(),
    };
    let credentials = Credentials::new(
        "ASIAEXAMPLE",
        "secret",
        Some("to\"ken\\".into()),
        None,
        "fuzz",
    );
    let key = ObjectKey::new(OwnerId::from_sub("alice").unwrap(), FileId::generate());
    let form = presign_post(
        &location,
        &credentials,
        &key,
        &request,
        SystemTime::now(),
        Duration::from_secs(300),
    )
    .unwrap();
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {name}"))
    };
    let policy = base64::engine::general_purpose::STANDARD
        .decode(field("policy"))
        .expect("base64");
    let policy: Value = serde_json::from_slice(&policy).expect("the policy is JSON");
    let conditions = policy["conditions"].as_array().expect("conditions");
    let mut equalities = Vec::new();
    for condition in conditions {
        match condition {
            Value::Object(map) => {
                assert_eq!(map.len(), 1, "one name per condition: {condition}");
                let (name, value) = map.iter().next().unwrap();
                equalities.push((
                    name.clone(),
                    value.as_str().expect("a string value").to_owned(),
                ));
            }
            Value::Array(range) => {
                assert_eq!(range.len(), 3, "{condition}");
                assert_eq!(range[0], "content-length-range");
                assert_eq!(range[2].as_u64(), Some(size));
            }
            other => panic!("unexpected condition {other}"),
        }
    }
    // Every field the form sends is a condition with the same value, and every condition but
    // `bucket` (in the URL) is a field the form sends.
    for (name, value) in &form.fields {
        if name == "policy" || name == "x-amz-signature" {
            continue;
        }
        assert!(
            equalities.iter().any(|(n, v)| n == name && v == value),
            "field {name}={value:?} is not a condition of {policy}"
        );
    }
    for (name, value) in &equalities {
        if name == "bucket" {
            assert_eq!(value, "private-uploads-example");
            continue;
        }
        assert_eq!(&field(name), value, "condition {name}");
    }
    assert_eq!(field("key"), key.to_string());
    assert_eq!(field("Content-Type"), request.content_type.as_str());
});
