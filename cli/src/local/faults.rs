//! Faults on demand: the functions' calls to DynamoDB, Secrets Manager, STS and S3 failing,
//! throttled or slow, as those services fail.
//!
//! The stack gives the three functions an AWS SDK configuration whose HTTP client passes
//! every request through [`Faults`]: a request that matches an active rule gets the answer
//! the real service gives in that situation (its error code, status and body, which the
//! SDK then reads, classifies and retries exactly as it would on AWS), no connection at all,
//! or a delay. Only the functions' own calls are touched; browsers' uploads and the CDN's
//! reads go straight to the stand-ins.
//!
//! A plan is a comma-separated list of rules `service[.Operation]:kind[:limit]`:
//! - `service`: `dynamodb`, `secretsmanager`, `sts` or `s3`; `Operation` the API action
//!   (`PutItem`, `GetSecretValue`, `AssumeRole`, `HeadObject`, …), any when left out;
//! - `kind`: `throttle` (the service's throttling error), `error` (its 500), `down` (the
//!   connection is refused), `slow=<duration>` (the answer comes that much later),
//!   `conditional` (DynamoDB only: the write's condition fails, as when another writer got
//!   there first);
//! - `limit`: `60s`, `1m`, `500ms` (for that long from when the plan is set) or `3x` (the
//!   first three matching requests); no limit means until the plan changes.
//!
//! `private-uploads up` reads `PRIVATE_UPLOADS_FAULTS` at start; `PUT /local/faults` with a
//! plan as the body replaces it while the stack runs (an empty body clears it), and
//! `GET /local/faults` shows it. Example: `dynamodb:down:60s,sts.AssumeRole:throttle:2x`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// The services a rule can name.
const SERVICES: [&str; 4] = ["dynamodb", "secretsmanager", "sts", "s3"];

/// What a matching request gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Throttle,
    Error,
    Down,
    Slow(Duration),
    Conditional,
}

/// How long a rule lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Limit {
    Forever,
    For(Duration),
    Times(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub service: String,
    pub operation: Option<String>,
    pub kind: Kind,
    pub limit: Limit,
}

/// Parse a plan (see the module). Every mistake is named, with what is accepted.
pub fn parse(plan: &str) -> Result<Vec<Rule>, String> {
    plan.split(',')
        .map(str::trim)
        .filter(|rule| !rule.is_empty())
        .map(parse_rule)
        .collect()
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    let fail = |why: String| {
        format!(
            "fault {text:?}: {why} (a fault is service[.Operation]:kind[:limit], e.g. \
             dynamodb:throttle:60s; services {}; kinds throttle, error, down, slow=2s, \
             conditional; limits 60s, 1m, 500ms, 3x)",
            SERVICES.join(", ")
        )
    };
    let mut parts = text.split(':');
    let target = parts.next().unwrap_or_default();
    let kind = parts.next().ok_or_else(|| fail("no kind".into()))?.trim();
    let limit = parts.next().map(str::trim);
    if parts.next().is_some() {
        return Err(fail("too many parts".into()));
    }
    let (service, operation) = match target.trim().split_once('.') {
        Some((service, operation)) if !operation.is_empty() => {
            (service, Some(operation.to_owned()))
        }
        Some(_) => return Err(fail("no operation after the dot".into())),
        None => (target.trim(), None),
    };
    let service = service.to_ascii_lowercase();
    if !SERVICES.contains(&service.as_str()) {
        return Err(fail(format!("unknown service {service:?}")));
    }
    let kind = match kind {
        "throttle" => Kind::Throttle,
        "error" => Kind::Error,
        "down" => Kind::Down,
        "conditional" if service == "dynamodb" => Kind::Conditional,
        "conditional" => return Err(fail("conditional is a DynamoDB fault".into())),
        other => match other.strip_prefix("slow=") {
            Some(delay) => {
                Kind::Slow(duration(delay).ok_or_else(|| fail(format!("bad delay {delay:?}")))?)
            }
            None => return Err(fail(format!("unknown kind {other:?}"))),
        },
    };
    let limit = match limit {
        None => Limit::Forever,
        Some(count) if count.ends_with('x') => count[..count.len() - 1]
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .map(Limit::Times)
            .ok_or_else(|| fail(format!("bad count {count:?}")))?,
        Some(time) => {
            Limit::For(duration(time).ok_or_else(|| fail(format!("bad limit {time:?}")))?)
        }
    };
    Ok(Rule {
        service,
        operation,
        kind,
        limit,
    })
}

/// `500ms`, `60s`, `2m`.
fn duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit): (&str, fn(u64) -> Duration) = if let Some(n) = text.strip_suffix("ms") {
        (n, Duration::from_millis)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, Duration::from_secs)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, |m| Duration::from_secs(m.saturating_mul(60)))
    } else {
        return None;
    };
    number.parse().ok().map(unit)
}

struct Active {
    rule: Rule,
    until: Option<Instant>,
    left: Option<u32>,
}

/// The plan in force, shared by the stack and the functions' HTTP client.
#[derive(Clone, Default)]
pub struct Faults {
    active: Arc<Mutex<Vec<Active>>>,
    text: Arc<Mutex<String>>,
}

impl Faults {
    /// Replace the plan (limits count from now). An empty plan clears it.
    pub fn set(&self, plan: &str) -> Result<(), String> {
        let rules = parse(plan)?;
        let now = Instant::now();
        let active = rules
            .into_iter()
            .map(|rule| Active {
                until: match rule.limit {
                    // A limit past the end of time is no limit (and must not panic).
                    Limit::For(d) => now.checked_add(d),
                    _ => None,
                },
                left: match rule.limit {
                    Limit::Times(n) => Some(n),
                    _ => None,
                },
                rule,
            })
            .collect();
        *lock(&self.active) = active;
        *lock(&self.text) = plan.trim().to_owned();
        if plan.trim().is_empty() {
            tracing::info!("faults cleared");
        } else {
            tracing::warn!(
                plan = plan.trim(),
                "faults injected into the functions' AWS calls"
            );
        }
        Ok(())
    }

    /// The plan as set, and whether each rule still applies.
    pub fn describe(&self) -> serde_json::Value {
        let now = Instant::now();
        let rules: Vec<serde_json::Value> = lock(&self.active)
            .iter()
            .map(|a| {
                serde_json::json!({
                    "service": a.rule.service,
                    "operation": a.rule.operation,
                    "kind": format!("{:?}", a.rule.kind).to_lowercase(),
                    "active": a.until.is_none_or(|t| now < t) && a.left != Some(0),
                })
            })
            .collect();
        serde_json::json!({"plan": *lock(&self.text), "rules": rules})
    }

    /// The fault for this request, if a rule matches (a counted rule uses one up).
    fn pick(&self, service: &str, operation: &str) -> Option<Kind> {
        let now = Instant::now();
        let mut active = lock(&self.active);
        let hit = active.iter_mut().find(|a| {
            a.rule.service == service
                && a.rule.operation.as_deref().is_none_or(|op| op == operation)
                && a.until.is_none_or(|t| now < t)
                && a.left != Some(0)
                && (a.rule.kind != Kind::Conditional || is_conditional_write(operation))
        })?;
        if let Some(left) = hit.left.as_mut() {
            *left -= 1;
        }
        Some(hit.rule.kind.clone())
    }

    /// `client` with every request passed through this plan.
    pub fn wrap(&self, client: SharedHttpClient) -> SharedHttpClient {
        SharedHttpClient::new(FaultyClient {
            inner: client,
            faults: self.clone(),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_conditional_write(operation: &str) -> bool {
    matches!(
        operation,
        "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems"
    )
}

/// The service and action of a signed SDK request: the service from the signature's
/// credential scope, the action from `X-Amz-Target` (JSON protocols), the form's `Action`
/// (STS) or the method and query (S3).
pub fn classify(request: &HttpRequest) -> (String, String) {
    let service = request
        .headers()
        .get("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split('/').nth(3))
        .unwrap_or_default()
        .to_owned();
    let operation = if let Some(target) = request.headers().get("x-amz-target") {
        target.rsplit('.').next().unwrap_or_default().to_owned()
    } else if service == "sts" {
        let body = request.body().bytes().unwrap_or_default();
        url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    } else {
        s3_operation(request.method(), request.uri())
    };
    (service, operation)
}

fn s3_operation(method: &str, uri: &str) -> String {
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    match method {
        "HEAD" => "HeadObject",
        "GET" => "GetObject",
        "PUT" if has("partNumber") => "UploadPart",
        "PUT" => "PutObject",
        "POST" if has("uploads") => "CreateMultipartUpload",
        "POST" if has("uploadId") => "CompleteMultipartUpload",
        "DELETE" if has("uploadId") => "AbortMultipartUpload",
        "DELETE" => "DeleteObject",
        _ => "",
    }
    .to_owned()
}

/// A status, a content type and a body.
type Canned = (u16, &'static str, String);

/// An error as the JSON protocols (DynamoDB, Secrets Manager) send it.
fn json(status: u16, kind: &str, message: &str) -> Canned {
    (
        status,
        "application/x-amz-json-1.0",
        serde_json::json!({"__type": kind, "message": message}).to_string(),
    )
}

/// An error as STS (the query protocol) sends it.
fn sts(status: u16, code: &str, message: &str) -> Canned {
    (
        status,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>local-fault</RequestId></ErrorResponse>",
            if status < 500 { "Sender" } else { "Receiver" }
        ),
    )
}

/// An error as S3 sends it.
fn s3(status: u16, code: &str, message: &str) -> Canned {
    (
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message><RequestId>local-fault</RequestId></Error>"
        ),
    )
}

/// The answer `service` gives to `operation` for `kind`, as AWS sends it.
fn canned(service: &str, operation: &str, kind: &Kind) -> HttpResponse {
    let dynamodb = "com.amazonaws.dynamodb.v20120810#";
    let (status, content_type, body) = match (service, kind) {
        ("dynamodb", Kind::Throttle) => json(
            400,
            &format!("{dynamodb}ThrottlingException"),
            "Throughput exceeds the current capacity of your table or index.",
        ),
        // A transaction whose record condition failed (the usage item's did not).
        ("dynamodb", Kind::Conditional) if operation == "TransactWriteItems" => (
            400,
            "application/x-amz-json-1.0",
            serde_json::json!({
                "__type": format!("{dynamodb}TransactionCanceledException"),
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]",
                "CancellationReasons": [
                    {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
                    {"Code": "None"}
                ]
            })
            .to_string(),
        ),
        ("dynamodb", Kind::Conditional) => json(
            400,
            &format!("{dynamodb}ConditionalCheckFailedException"),
            "The conditional request failed",
        ),
        ("dynamodb", _) => json(
            500,
            &format!("{dynamodb}InternalServerError"),
            "Internal server error",
        ),
        ("secretsmanager", Kind::Throttle) => json(400, "ThrottlingException", "Rate exceeded"),
        ("secretsmanager", _) => json(
            500,
            "InternalServiceError",
            "An error occurred on the server side.",
        ),
        ("sts", Kind::Throttle) => sts(400, "Throttling", "Rate exceeded"),
        ("sts", _) => sts(500, "InternalFailure", "An internal error occurred."),
        (_, Kind::Throttle) => s3(503, "SlowDown", "Please reduce your request rate."),
        _ => s3(500, "InternalError", "We encountered an internal error. Please try again."),
    };
    let mut response = HttpResponse::new(
        StatusCode::from(
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        ),
        SdkBody::from(body),
    );
    response.headers_mut().insert("content-type", content_type);
    response
        .headers_mut()
        .insert("x-amzn-requestid", "local-fault");
    response
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faults")
    }
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (service, operation) = classify(&request);
        let Some(kind) = self.faults.pick(&service, &operation) else {
            return self.inner.call(request);
        };
        tracing::info!(%service, %operation, fault = ?kind, "injected fault");
        match kind {
            Kind::Slow(delay) => {
                let inner = self.inner.clone();
                HttpConnectorFuture::new(async move {
                    tokio::time::sleep(delay).await;
                    inner.call(request).await
                })
            }
            Kind::Down => HttpConnectorFuture::ready(Err(ConnectorError::io(
                std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    format!("{service} is down (injected fault)"),
                )
                .into(),
            ))),
            kind => HttpConnectorFuture::ready(Ok(canned(&service, &operation, &kind))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_mistakes_are_named() {
        let rules = parse("dynamodb:throttle:60s, sts.AssumeRole:error:2x,s3:slow=1500ms").unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].kind, Kind::Throttle);
        assert_eq!(rules[0].limit, Limit::For(Duration::from_secs(60)));
        assert_eq!(rules[1].operation.as_deref(), Some("AssumeRole"));
        assert_eq!(rules[1].limit, Limit::Times(2));
        assert_eq!(rules[2].kind, Kind::Slow(Duration::from_millis(1500)));
        assert_eq!(rules[2].limit, Limit::Forever);
        assert_eq!(parse("").unwrap(), vec![]);
        for (bad, says) in [
            ("dynamo:throttle", "unknown service"),
            ("dynamodb", "no kind"),
            ("dynamodb:explode", "unknown kind"),
            ("s3:conditional", "DynamoDB fault"),
            ("s3:down:soon", "bad limit"),
            ("s3:down:0x", "bad count"),
            ("s3:slow=fast", "bad delay"),
            ("s3.:down", "no operation"),
            ("s3:down:1s:2s", "too many parts"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.contains("e.g. dynamodb:throttle:60s"), "{err}");
        }
    }

    #[test]
    fn counted_and_timed_rules_run_out() {
        let faults = Faults::default();
        faults
            .set("sts:throttle:2x,dynamodb.PutItem:conditional")
            .unwrap();
        assert_eq!(faults.pick("sts", "AssumeRole"), Some(Kind::Throttle));
        assert_eq!(faults.pick("sts", "AssumeRole"), Some(Kind::Throttle));
        assert_eq!(faults.pick("sts", "AssumeRole"), None);
        assert_eq!(faults.pick("dynamodb", "GetItem"), None);
        assert_eq!(faults.pick("dynamodb", "PutItem"), Some(Kind::Conditional));
        faults.set("s3:down:0ms").unwrap();
        assert_eq!(faults.pick("s3", "HeadObject"), None);
        faults.set("s3:down:18446744073709551615s").unwrap();
        assert_eq!(faults.pick("s3", "HeadObject"), Some(Kind::Down));
        faults.set("").unwrap();
        assert_eq!(faults.pick("dynamodb", "PutItem"), None);
        assert_eq!(faults.describe()["rules"], serde_json::json!([]));
    }

    #[test]
    fn s3_actions_are_told_apart_by_method_and_query() {
        for (method, uri, operation) in [
            ("HEAD", "http://h/b/users/a/k", "HeadObject"),
            ("GET", "http://h/b/users/a/k?x-id=GetObject", "GetObject"),
            ("PUT", "http://h/b/k?partNumber=2&uploadId=u", "UploadPart"),
            ("POST", "http://h/b/k?uploads", "CreateMultipartUpload"),
            ("POST", "http://h/b/k?uploadId=u", "CompleteMultipartUpload"),
            ("DELETE", "http://h/b/k?uploadId=u", "AbortMultipartUpload"),
            ("DELETE", "http://h/b/k?x-id=DeleteObject", "DeleteObject"),
        ] {
            assert_eq!(s3_operation(method, uri), operation, "{method} {uri}");
        }
    }
}
