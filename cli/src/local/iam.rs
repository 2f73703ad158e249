//! The part of IAM the local S3 enforces for temporary credentials: a request is allowed
//! when every policy of the session (the role's identity policy and the session policy)
//! allows it and none denies it explicitly.
//!
//! It understands what this product's policies use: `Effect`, `Action` and `Resource`
//! (strings or lists, with IAM's `*` and `?` wildcards, which also match `/`), and the
//! condition operators `Null`, `Bool`, `StringEquals` and `StringLike`. Anything else in a
//! policy makes the statement fail closed (never match an Allow; always match a Deny).
//! `tests/session_policy.rs` holds it to an independent evaluator (`@cloud-copilot/iam-simulate`).

use std::collections::BTreeMap;

use serde_json::Value;

/// One request, as IAM sees it.
#[derive(Clone, Debug)]
pub struct IamRequest {
    /// `s3:PutObject`…
    pub action: String,
    /// `arn:aws:s3:::bucket/key` or `arn:aws:s3:::bucket`.
    pub resource: String,
    /// Condition keys present in the request, e.g. `s3:if-none-match`.
    pub context: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    ImplicitlyDenied,
    ExplicitlyDenied,
}

/// IAM wildcard matching: `*` any run of characters (`/` included), `?` exactly one; the
/// same rule as CloudFront's policy resources.
pub use cloudfront_viewer::wildcard_match as wildcard;

fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

/// Whether a statement's conditions hold; `None` when it uses something unsupported.
fn conditions_hold(condition: &Value, request: &IamRequest) -> Option<bool> {
    let Some(operators) = condition.as_object() else {
        return Some(condition.is_null());
    };
    for (operator, keys) in operators {
        for (key, expected) in keys.as_object()? {
            let present = request.context.get(key);
            let expected = strings(expected);
            let holds = match operator.as_str() {
                "Null" => {
                    let wants_null = expected.first() == Some(&"true");
                    present.is_none() == wants_null
                }
                "Bool" => {
                    present.is_some_and(|v| expected.iter().any(|e| e.eq_ignore_ascii_case(v)))
                }
                "StringEquals" => present.is_some_and(|v| expected.contains(&v.as_str())),
                // Holds when the key is absent, or present with one of the values.
                "StringEqualsIfExists" => present.is_none_or(|v| expected.contains(&v.as_str())),
                "StringLike" => present.is_some_and(|v| expected.iter().any(|e| wildcard(e, v))),
                _ => return None,
            };
            if !holds {
                return Some(false);
            }
        }
    }
    Some(true)
}

/// A principal's several identity policies as one: IAM takes their union, which is one
/// policy holding all their statements.
pub fn union(policies: &[Value]) -> Value {
    let statements: Vec<Value> = policies
        .iter()
        .flat_map(|policy| match &policy["Statement"] {
            Value::Array(items) => items.clone(),
            single @ Value::Object(_) => vec![single.clone()],
            _ => vec![],
        })
        .collect();
    serde_json::json!({"Version": "2012-10-17", "Statement": statements})
}

/// How one policy decides the request.
pub fn evaluate(policy: &Value, request: &IamRequest) -> Verdict {
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        single @ Value::Object(_) => vec![single],
        _ => vec![],
    };
    let mut allowed = false;
    for statement in statements {
        let actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        let unsupported = statement.get("NotAction").is_some()
            || statement.get("NotResource").is_some()
            || statement.get("Principal").is_some();
        let applies = actions.iter().any(|a| {
            wildcard(
                &a.to_ascii_lowercase(),
                &request.action.to_ascii_lowercase(),
            )
        }) && resources.iter().any(|r| wildcard(r, &request.resource));
        let holds = conditions_hold(statement.get("Condition").unwrap_or(&Value::Null), request);
        match statement["Effect"].as_str() {
            Some("Deny") if unsupported || (applies && holds != Some(false)) => {
                return Verdict::ExplicitlyDenied;
            }
            Some("Allow") if !unsupported && applies && holds == Some(true) => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Verdict::Allowed
    } else {
        Verdict::ImplicitlyDenied
    }
}

/// How a session (every one of its policies together) decides the request.
pub fn evaluate_all(policies: &[Value], request: &IamRequest) -> Verdict {
    let verdicts: Vec<Verdict> = policies.iter().map(|p| evaluate(p, request)).collect();
    if verdicts.contains(&Verdict::ExplicitlyDenied) {
        Verdict::ExplicitlyDenied
    } else if !policies.is_empty() && verdicts.iter().all(|v| *v == Verdict::Allowed) {
        Verdict::Allowed
    } else {
        Verdict::ImplicitlyDenied
    }
}

/// The IAM action and the condition keys of an S3 operation (by s3s's operation name).
pub fn s3_action(operation: &str) -> (&'static str, Option<bool>) {
    // The second value is `s3:ObjectCreationOperation`, for the writes that carry it.
    match operation {
        "PutObject" | "PostObject" | "CompleteMultipartUpload" | "CopyObject" => {
            ("s3:PutObject", Some(true))
        }
        "CreateMultipartUpload" | "UploadPart" | "UploadPartCopy" => ("s3:PutObject", Some(false)),
        "ListParts" => ("s3:ListMultipartUploadParts", None),
        "AbortMultipartUpload" => ("s3:AbortMultipartUpload", None),
        "GetObject" | "HeadObject" => ("s3:GetObject", None),
        "DeleteObject" => ("s3:DeleteObject", None),
        "DeleteObjects" => ("s3:DeleteObject", None),
        "ListObjects" | "ListObjectsV2" => ("s3:ListBucket", None),
        "ListMultipartUploads" => ("s3:ListBucketMultipartUploads", None),
        "ListBuckets" => ("s3:ListAllMyBuckets", None),
        "CreateBucket" => ("s3:CreateBucket", None),
        "DeleteBucket" => ("s3:DeleteBucket", None),
        _ => ("s3:Unknown", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(action: &str, key: &str, context: &[(&str, &str)]) -> IamRequest {
        IamRequest {
            action: action.into(),
            resource: format!("arn:aws:s3:::bkt/{key}"),
            context: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn wildcards_are_iams() {
        assert!(wildcard("users/*", "users/a/b"));
        assert!(wildcard("users/????", "users/a/.."));
        assert!(!wildcard("users/????", "users/abcde"));
        assert!(wildcard("s3:*", "s3:PutObject"));
    }

    #[test]
    fn deny_wins_and_every_policy_must_allow() {
        let role = json!({"Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bkt/users/*"}]});
        let session = json!({"Statement": [
            {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::bkt/users/alice/*"},
            {"Effect": "Deny", "Action": "s3:*", "Resource": ["arn:aws:s3:::bkt/users/*/*/*"]},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bkt/*",
             "Condition": {"Null": {"s3:if-none-match": "true"}, "Bool": {"s3:ObjectCreationOperation": "true"}}}
        ]});
        let both = [role, session];
        let put = |key: &str, inm: bool| {
            let mut context = vec![("s3:ObjectCreationOperation", "true")];
            if inm {
                context.push(("s3:if-none-match", "*"));
            }
            evaluate_all(&both, &request("s3:PutObject", key, &context))
        };
        assert_eq!(put("users/alice/x", true), Verdict::Allowed);
        assert_eq!(put("users/alice/x", false), Verdict::ExplicitlyDenied);
        assert_eq!(put("users/alice/../bob/x", true), Verdict::ExplicitlyDenied);
        assert_eq!(put("users/bob/x", true), Verdict::ImplicitlyDenied);
        let part = evaluate_all(
            &both,
            &request(
                "s3:PutObject",
                "users/alice/x",
                &[("s3:ObjectCreationOperation", "false")],
            ),
        );
        assert_eq!(
            part,
            Verdict::Allowed,
            "an UploadPart carries no If-None-Match"
        );
        assert_eq!(
            evaluate_all(&both, &request("s3:GetObject", "users/alice/x", &[])),
            Verdict::ImplicitlyDenied
        );
        assert_eq!(
            evaluate_all(&[], &request("s3:GetObject", "x", &[])),
            Verdict::ImplicitlyDenied
        );
    }

    #[test]
    fn what_it_cannot_read_fails_closed() {
        let odd_allow = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}}}]});
        assert_eq!(
            evaluate(&odd_allow, &request("s3:PutObject", "k", &[])),
            Verdict::ImplicitlyDenied
        );
        let odd_deny = json!({"Statement": [{"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}]});
        assert_eq!(
            evaluate(&odd_deny, &request("s3:GetObject", "k", &[])),
            Verdict::ExplicitlyDenied
        );
    }
}
