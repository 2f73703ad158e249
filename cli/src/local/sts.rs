//! The local stand-in for STS, and what makes its credentials mean something to the local
//! S3.
//!
//! The upload function's `AssumeRole` reaches the local S3's endpoint (its
//! `AWS_ENDPOINT_URL_STS`), is checked like STS checks it (duration within role chaining's
//! hour, a session policy within 2,048 characters, a session name STS accepts), and is passed
//! on to moto, which issues the credentials. The session they make (the secret, the token,
//! the expiry, the role's policy and the session policy) is kept in [`Sessions`]: the local
//! S3 accepts those credentials and nothing beyond what both policies allow, as S3 does
//! (moto enforces no session policy).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode, Uri};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};
use serde_json::Value;

use super::iam::{IamRequest, Verdict, evaluate_all, s3_action};

/// Who may sign requests to the local S3, and what each may do.
#[derive(Clone, Default)]
pub struct Sessions(Arc<RwLock<HashMap<String, Session>>>);

#[derive(Clone)]
pub struct Session {
    secret: String,
    token: Option<String>,
    expires: Option<DateTime<Utc>>,
    /// `None`: a principal of the stack itself (the functions' role), not limited here.
    policies: Option<Vec<Value>>,
    /// Who S3 says made a request (an event's `userIdentity.principalId`): for an
    /// assumed-role session `AWS:<role id>:<session name>`.
    principal: String,
}

/// The principal id of the stack's own credentials, as S3 names a Lambda function's role
/// session in an event.
pub const STACK_PRINCIPAL: &str = "AWS:AROALOCALFUNCTIONS:private-uploads-local";

impl Sessions {
    /// The functions' own credentials: their role's permissions are the template's
    /// business (linted), not the stand-in's.
    pub fn with_principal(access_key: &str, secret: &str) -> Self {
        let sessions = Self::default();
        sessions.insert(
            access_key,
            Session {
                secret: secret.to_owned(),
                token: None,
                expires: None,
                policies: None,
                principal: STACK_PRINCIPAL.to_owned(),
            },
        );
        sessions
    }

    /// The principal id of `access_key`'s session (`None`: nobody's).
    pub fn principal(&self, access_key: &str) -> Option<String> {
        self.get(access_key).map(|session| session.principal)
    }

    fn insert(&self, access_key: &str, session: Session) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(access_key.to_owned(), session);
    }

    fn get(&self, access_key: &str) -> Option<Session> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(access_key)
            .cloned()
    }
}

impl Session {
    fn expired(&self) -> bool {
        self.expires.is_some_and(|at| Utc::now() >= at)
    }
}

/// The credentials a request was signed with, checked: known, unexpired, and with the
/// session token that goes with them (s3s itself never looks at the token).
fn session_of(
    sessions: &Sessions,
    access_key: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> S3Result<Session> {
    let session = sessions.get(access_key).ok_or_else(|| {
        s3_error!(
            InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records."
        )
    })?;
    if session.expired() {
        return Err(s3_error!(ExpiredToken, "The provided token has expired."));
    }
    let sent = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            uri.query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "X-Amz-Security-Token")
                    .map(|(_, v)| v.into_owned())
            })
        });
    match (&session.token, sent) {
        (None, _) => Ok(session),
        (Some(token), Some(sent)) if *token == sent => Ok(session),
        (Some(_), None) => Err(s3_error!(
            InvalidToken,
            "temporary credentials need their session token"
        )),
        (Some(_), Some(_)) => Err(s3_error!(
            InvalidToken,
            "The provided token is malformed or otherwise invalid."
        )),
    }
}

/// The IAM request of an S3 operation on `path`.
pub fn iam_request(operation: &str, path: &S3Path, headers: &HeaderMap) -> IamRequest {
    let (action, creation) = s3_action(operation);
    let resource = match path {
        S3Path::Object { bucket, key } => format!("arn:aws:s3:::{bucket}/{key}"),
        S3Path::Bucket { bucket } => format!("arn:aws:s3:::{bucket}"),
        S3Path::Root => "*".to_owned(),
    };
    let mut context = std::collections::BTreeMap::new();
    if let Some(creation) = creation {
        context.insert(
            "s3:ObjectCreationOperation".to_owned(),
            creation.to_string(),
        );
    }
    // The condition keys S3 takes from a request's headers, for those the policies name.
    for (header, key) in [
        ("if-none-match", "s3:if-none-match"),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        (
            "x-amz-server-side-encryption-customer-algorithm",
            "s3:x-amz-server-side-encryption-customer-algorithm",
        ),
    ] {
        if let Some(value) = headers.get(header).and_then(|v| v.to_str().ok()) {
            context.insert(key.to_owned(), value.to_owned());
        }
    }
    IamRequest {
        action: action.to_owned(),
        resource,
        context,
    }
}

/// `S3Auth`: the secret of any live session.
pub struct SessionAuth(pub Sessions);

#[async_trait]
impl S3Auth for SessionAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let session = self.0.get(access_key).ok_or_else(|| {
            s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        })?;
        if session.expired() {
            return Err(s3_error!(ExpiredToken, "The provided token has expired."));
        }
        Ok(SecretKey::from(session.secret.as_str()))
    }
}

/// `S3Access`: the session token, and what the session's policies allow.
pub struct SessionAccess(pub Sessions);

#[async_trait]
impl s3s::access::S3Access for SessionAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(credentials) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed"));
        };
        let session = session_of(&self.0, &credentials.access_key, cx.headers(), cx.uri())?;
        let Some(policies) = &session.policies else {
            return Ok(());
        };
        let operation = cx.s3_op().name();
        let mut requests = vec![iam_request(operation, cx.s3_path(), cx.headers())];
        // A copy also reads its source: S3 asks for s3:GetObject on it as well.
        if matches!(operation, "CopyObject" | "UploadPartCopy") {
            requests.push(copy_source_request(cx.headers())?);
        }
        for request in &requests {
            let verdict = evaluate_all(policies, request);
            if verdict != Verdict::Allowed {
                tracing::info!(action = %request.action, resource = %request.resource, ?verdict, "local S3 refused a temporary credential");
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
        }
        Ok(())
    }
}

/// The read a copy makes: `s3:GetObject` on `x-amz-copy-source` (`bucket/key` or
/// `/bucket/key`, URL-encoded, maybe with `?versionId=`).
fn copy_source_request(headers: &HeaderMap) -> S3Result<IamRequest> {
    let source = headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "a copy needs x-amz-copy-source"))?;
    let source = source.split('?').next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(source.trim_start_matches('/'))
        .decode_utf8()
        .map_err(|_| s3_error!(InvalidArgument, "x-amz-copy-source is not UTF-8"))?;
    let (bucket, key) = decoded
        .split_once('/')
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| s3_error!(InvalidArgument, "x-amz-copy-source must be bucket/key"))?;
    Ok(IamRequest {
        action: "s3:GetObject".to_owned(),
        resource: format!("arn:aws:s3:::{bucket}/{key}"),
        context: std::collections::BTreeMap::new(),
    })
}

/// The STS `AssumeRole` endpoint, as a route of the local S3 (`POST /` with a form body).
pub struct AssumeRole {
    pub sessions: Sessions,
    /// moto's STS, which issues the credentials.
    pub moto: aws_sdk_sts::Client,
    /// The role's identity policy (the union of its inline policies, as the template grants
    /// them, resolved for this bucket).
    pub role_policy: Value,
}

/// STS's own error format, which the SDKs parse.
fn sts_error(status: StatusCode, code: &str, message: &str) -> S3Response<Body> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>local</RequestId></ErrorResponse>",
        xml_escape(message)
    );
    let mut response = S3Response::new(Body::from(body));
    response.status = Some(status);
    if let Ok(value) = "text/xml".parse() {
        response.headers.insert(http::header::CONTENT_TYPE, value);
    }
    response
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[async_trait]
impl S3Route for AssumeRole {
    fn is_match(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        _extensions: &mut http::Extensions,
    ) -> bool {
        method == Method::POST
            && uri.path() == "/"
            && headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let Some(credentials) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        // Only the stack's own principals (the upload function) may assume the role.
        let session = session_of(
            &self.sessions,
            &credentials.access_key,
            &req.headers,
            &req.uri,
        )?;
        if session.policies.is_some() {
            return Err(s3_error!(
                AccessDenied,
                "temporary credentials cannot assume the role"
            ));
        }
        Ok(())
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let body = req
            .input
            .store_all_limited(64 * 1024)
            .await
            .map_err(|_| s3_error!(InvalidRequest, "the request body could not be read"))?;
        let form: HashMap<String, String> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let asked = match AssumeRoleAsked::parse(&form) {
            Ok(asked) => asked,
            Err((code, message)) => {
                return Ok(sts_error(StatusCode::BAD_REQUEST, code, message));
            }
        };
        let (name, duration, policy_text) = (asked.name, asked.duration, asked.policy_text);
        let mut request = self
            .moto
            .assume_role()
            .role_arn(asked.role_arn)
            .role_session_name(name)
            .duration_seconds(duration);
        if !policy_text.is_empty() {
            request = request.policy(policy_text);
        }
        let issued = request.send().await.map_err(|e| {
            s3_error!(
                ServiceUnavailable,
                "moto's STS: {}",
                shared::aws::error_summary(&e)
            )
        })?;
        let credentials = issued
            .credentials
            .ok_or_else(|| s3_error!(InternalError, "moto issued no credentials"))?;
        let expires = Utc::now() + chrono::Duration::seconds(i64::from(duration));
        let mut policies = vec![self.role_policy.clone()];
        if !asked.session_policy.is_null() {
            policies.push(asked.session_policy);
        }
        self.sessions.insert(
            &credentials.access_key_id,
            Session {
                secret: credentials.secret_access_key.clone(),
                token: Some(credentials.session_token.clone()),
                expires: Some(expires),
                policies: Some(policies),
                principal: format!("AWS:AROALOCAL:{name}"),
            },
        );
        let body = format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROALOCAL:{name}</AssumedRoleId><Arn>{}/{name}</Arn></AssumedRoleUser><PackedPolicySize>{}</PackedPolicySize></AssumeRoleResult><ResponseMetadata><RequestId>local</RequestId></ResponseMetadata></AssumeRoleResponse>",
            xml_escape(&credentials.access_key_id),
            xml_escape(&credentials.secret_access_key),
            xml_escape(&credentials.session_token),
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            xml_escape(
                &asked
                    .role_arn
                    .replace(":role/", ":assumed-role/")
                    .replace("arn:aws:iam:", "arn:aws:sts:")
            ),
            policy_text.len() * 100 / 2048,
        );
        let mut response = S3Response::new(Body::from(body));
        if let Ok(value) = "text/xml".parse() {
            response.headers.insert(http::header::CONTENT_TYPE, value);
        }
        Ok(response)
    }
}

/// What an `AssumeRole` call asks for, held to the limits STS enforces.
struct AssumeRoleAsked<'a> {
    role_arn: &'a str,
    name: &'a str,
    duration: i32,
    policy_text: &'a str,
    session_policy: Value,
}

impl<'a> AssumeRoleAsked<'a> {
    /// The call's form, or STS's error code and message.
    fn parse(form: &'a HashMap<String, String>) -> Result<Self, (&'static str, &'static str)> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
        if field("Action") != "AssumeRole" {
            return Err(("InvalidAction", "the local STS only answers AssumeRole"));
        }
        let duration: i32 = field("DurationSeconds").parse().unwrap_or(3600);
        if !(900..=3600).contains(&duration) {
            return Err((
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        let name = field("RoleSessionName");
        let name_ok = (2..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !name_ok {
            return Err((
                "ValidationError",
                "RoleSessionName must be 2 to 64 of [\\w+=,.@-]",
            ));
        }
        let policy_text = field("Policy");
        if policy_text.chars().count() > 2048 {
            return Err((
                "PackedPolicyTooLarge",
                "The policy is larger than 2048 characters",
            ));
        }
        let session_policy = match policy_text {
            "" => Value::Null,
            text => serde_json::from_str(text)
                .map_err(|_| ("MalformedPolicyDocument", "The session policy is not JSON"))?,
        };
        Ok(Self {
            role_arn: field("RoleArn"),
            name,
            duration,
            policy_text,
            session_policy,
        })
    }
}
