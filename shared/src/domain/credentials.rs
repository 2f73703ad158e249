//! What temporary credentials (`POST /credentials`) may do: the inline session policy passed
//! to STS AssumeRole. The role's own policy allows uploads under `users/*`; the session
//! policy narrows that to the caller's own prefix, one object per key of the documented form
//! `users/{owner}/{file_id}` (a UUIDv7 the client makes), for the actions a browser upload
//! needs (PutObject, which covers CreateMultipartUpload, UploadPart and
//! CompleteMultipartUpload; ListParts; AbortMultipartUpload) and nothing else, in the
//! STANDARD storage class and without a customer-provided encryption key (the conditions of
//! the one allow).
//!
//! IAM matches keys literally and its `?` and `*` also match `/` and `.`, so
//! `users/alice/../bob/x…` would match an allow on `users/alice/*`. The explicit deny on
//! any further `/` below an owner's segment (and on dot and empty segments anywhere) closes
//! that (as does a deny on any `%`, against percent-encoded look-alikes); it names no
//! owner, so the policy stays within STS's 2,048 characters for the longest owner id.
//! `tests/session_policy.rs` evaluates it with an independent IAM policy simulator.

use std::fmt::Write as _;

use super::ids::{OwnerId, USERS_PREFIX};

/// `text` as a JSON string.
fn json_string(text: String) -> String {
    serde_json::Value::String(text).to_string()
}

/// STS refuses session policies longer than this (plaintext characters).
pub const MAX_SESSION_POLICY_CHARS: usize = 2048;

/// One file id of the documented form, as IAM wildcards: 36 characters with the hyphens of
/// a UUID and the version digit 7 (IAM cannot require hex; record-ownership does).
const FILE_ID_PATTERN: &str = "????????-????-7???-????-????????????";

/// The actions a browser upload needs.
const ACTIONS: [&str; 3] = [
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
];

/// The AWS partition of a region, for ARNs.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the session policy for this owner is {0} characters, above STS's limit of {MAX_SESSION_POLICY_CHARS}"
)]
pub struct PolicyTooLong(pub usize);

/// The session policy for `owner` in `bucket`, compact JSON. With `require_if_none_match`,
/// PutObject and CompleteMultipartUpload must carry `If-None-Match: *` (no overwrites; the
/// `s3:if-none-match` condition key), which some clients (Uppy 6) do not send.
pub fn session_policy(
    partition: &str,
    bucket: &str,
    owner: &OwnerId,
    require_if_none_match: bool,
) -> Result<String, PolicyTooLong> {
    let arn = |tail: &str| json_string(format!("arn:{partition}:s3:::{bucket}/{tail}"));
    let prefix = owner.prefix();
    let actions = ACTIONS
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(",");
    let mut policy = String::with_capacity(1024);
    policy.push_str("{\"Version\":\"2012-10-17\",\"Statement\":[");
    // Only objects the service can read back: in the STANDARD storage class (an archive
    // class answers a GET with InvalidObjectState until restored) and without a customer's
    // own encryption key (SSE-C: every read needs the key). A request that names either is
    // not allowed; one that names neither gets S3's defaults (STANDARD, SSE-S3).
    let _ = write!(
        policy,
        "{{\"Sid\":\"OwnPrefix\",\"Effect\":\"Allow\",\"Action\":[{actions}],\"Resource\":{},\"Condition\":{{\"StringEqualsIfExists\":{{\"s3:x-amz-storage-class\":\"STANDARD\"}},\"Null\":{{\"s3:x-amz-server-side-encryption-customer-algorithm\":\"true\"}}}}}}",
        arn(&format!("{prefix}{FILE_ID_PATTERN}"))
    );
    // Any `/` after the owner's segment, under any owner (the owner segment itself never
    // holds one), dot or empty segments anywhere, and `%` anywhere (no key of ours holds
    // one: owner ids escape as `_xx`), so that no percent-encoded look-alike gets through.
    let denied = [
        format!("{USERS_PREFIX}*/*/*"),
        "*%*".to_owned(),
        "*/../*".to_owned(),
        "*/./*".to_owned(),
        "*//*".to_owned(),
        "*/..".to_owned(),
        "*/.".to_owned(),
    ]
    .iter()
    // In any bucket: a deny broader than the session's one bucket costs nothing, and leaving
    // the bucket's name out keeps the longest owner's policy within STS's limit.
    .map(|tail| json_string(format!("arn:{partition}:s3:::*/{tail}")))
    .collect::<Vec<_>>()
    .join(",");
    let _ = write!(
        policy,
        ",{{\"Sid\":\"OneSegment\",\"Effect\":\"Deny\",\"Action\":\"s3:*\",\"Resource\":[{denied}]}}"
    );

    if require_if_none_match {
        let _ = write!(
            policy,
            ",{{\"Sid\":\"NoOverwrite\",\"Effect\":\"Deny\",\"Action\":\"s3:PutObject\",\"Resource\":{},\"Condition\":{{\"Null\":{{\"s3:if-none-match\":\"true\"}},\"Bool\":{{\"s3:ObjectCreationOperation\":\"true\"}}}}}}",
            arn("*")
        );
    }
    policy.push_str("]}");
    let length = policy.chars().count();
    if length > MAX_SESSION_POLICY_CHARS {
        return Err(PolicyTooLong(length));
    }
    Ok(policy)
}

/// A credential's id: 12 lowercase hex digits, in its STS session name, so that the objects
/// it adds can be counted as they arrive (S3 names the session in each event's
/// `userIdentity.principalId`).
pub const CREDENTIAL_ID_LEN: usize = 12;

/// The STS session name of credential `id` for `owner`: `pu-<id>-<owner>`, at most 64 of the
/// characters STS allows (`[\w+=,.@-]`; an owner id is letters, digits, `-`, `_` and `.`),
/// shown in CloudTrail.
pub fn session_name(id: &str, owner: &OwnerId) -> String {
    let name: String = format!("pu-{id}-{owner}").chars().take(64).collect();
    name
}

/// A fresh credential id, from `random` (a UUID: its last 12 hex digits, random in a
/// UUIDv7), always [`CREDENTIAL_ID_LEN`] lowercase hex digits (zero-padded).
pub fn credential_id(random: &str) -> String {
    let hex: String = random
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let tail = &hex[hex.len().saturating_sub(CREDENTIAL_ID_LEN)..];
    format!("{tail:0>CREDENTIAL_ID_LEN$}")
}

/// The credential an S3 event's `principalId` names, when it is one of ours: an assumed-role
/// session `AWS:<role id>:pu-<id>-…`. `None` for anyone else (the functions' roles, an
/// operator).
pub fn credential_of_principal(principal_id: &str) -> Option<&str> {
    let session = principal_id.rsplit(':').next()?;
    let id = session.strip_prefix("pu-")?.get(..CREDENTIAL_ID_LEN)?;
    let well_formed = id
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && session.as_bytes().get(3 + CREDENTIAL_ID_LEN) == Some(&b'-');
    (principal_id.contains(':') && well_formed).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_owner_prefix_and_denies_extra_segments() {
        let owner = OwnerId::from_sub("alice").unwrap();
        let policy = session_policy("aws", "bkt", &owner, false).unwrap();
        let value: serde_json::Value = serde_json::from_str(&policy).unwrap();
        let statements = value["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:s3:::bkt/users/alice/????????-????-7???-????-????????????"
        );
        assert_eq!(statements[1]["Effect"], "Deny");
        assert_eq!(statements[1]["Resource"][0], "arn:aws:s3:::*/users/*/*/*");
        let allow = &statements[0]["Condition"];
        assert_eq!(
            allow["StringEqualsIfExists"]["s3:x-amz-storage-class"],
            "STANDARD"
        );
        assert_eq!(
            allow["Null"]["s3:x-amz-server-side-encryption-customer-algorithm"],
            "true"
        );
        let with = session_policy("aws", "bkt", &owner, true).unwrap();
        let value: serde_json::Value = serde_json::from_str(&with).unwrap();
        assert_eq!(
            value["Statement"][2]["Condition"]["Null"]["s3:if-none-match"],
            "true"
        );
    }

    #[test]
    fn every_owner_fits_the_sts_limit() {
        // The longest owner id (255 bytes, each escaped to 3 characters), the longest bucket
        // name and every statement: still within STS's 2,048 characters.
        // A user of another issuer than the stack's own is 17 characters longer.
        for longest in [
            OwnerId::from_sub(&"/".repeat(255)).unwrap(),
            OwnerId::from_claims("https://other.example", &"/".repeat(255), "https://home")
                .unwrap(),
        ] {
            let policy = session_policy("aws-us-gov", &"b".repeat(63), &longest, true).unwrap();
            let length = policy.chars().count();
            assert!(length <= MAX_SESSION_POLICY_CHARS, "{length}");
            assert!(length > 1_500, "the test is near the limit: {length}");
        }
    }

    #[test]
    fn session_names_fit_sts_and_name_their_credential() {
        let owner = OwnerId::from_sub(&"x".repeat(255)).unwrap();
        let id = credential_id("0190f5b2-8c3e-7a1b-9d4e-0123456789AB");
        assert_eq!(id, "0123456789ab");
        assert_eq!(credential_id("x-1f"), "00000000001f", "always 12 digits");
        let name = session_name(&id, &owner);
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("pu-0123456789ab-xxx"), "{name}");
        assert_eq!(
            credential_of_principal(&format!("AWS:AROAEXAMPLEID:{name}")),
            Some("0123456789ab")
        );
        for other in [
            "AWS:AIDAJDPLRKLG7UEXAMPLE",
            "AWS:AROAEXAMPLEID:i-0abc",
            "AWS:AROAEXAMPLEID:pu-0123456789AB-alice",
            "AWS:AROAEXAMPLEID:pu-0123-alice",
            "pu-0123456789ab-alice",
        ] {
            assert_eq!(credential_of_principal(other), None, "{other}");
        }
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
        );
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("eu-west-1"), "aws");
    }
}
