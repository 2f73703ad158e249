//! The emulated AWS the integration tests run against, all on 127.0.0.1 and all stopped when
//! the [`Stack`] is dropped: the verifying S3 (s3s + s3s-fs, signatures checked) in this
//! process, and moto server (DynamoDB, Secrets Manager) as a child process.
//!
//! The functions are called through their real handlers with their real AWS adapters; only
//! the endpoints differ from production.

use std::path::Path;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use lambda_http::{Body, Request};
use private_uploads::moto::{Moto, find_moto_server};
use private_uploads::s3::{LocalS3, ObjectCreated};
use serde_json::Value;
use shared::signing_keys::SecretsManagerSource;
use tokio::sync::mpsc;

pub const REGION: &str = "eu-west-1";
pub const BUCKET: &str = "private-uploads-test";
pub const TABLE: &str = "private-uploads-files";
pub const SECRET: &str = "private-uploads/signing-key";
pub const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
pub const CDN: &str = "https://d111111abcdef8.cloudfront.net";
pub const ACCESS_KEY: &str = "ASIALOCALTESTKEY";
pub const SECRET_KEY: &str = "local-test-secret-key";
pub const SESSION_TOKEN: &str = "local/session+token=";
pub const PRIVATE_KEY: &str = include_str!("../../shared/testdata/rsa2048-pkcs1.pem");
pub const PUBLIC_KEY: &str = include_str!("../../shared/testdata/rsa2048-public.pem");

pub struct Stack {
    pub s3: LocalS3,
    pub moto: Moto,
    pub events: mpsc::UnboundedReceiver<ObjectCreated>,
    pub aws: SdkConfig,
    pub s3_client: aws_sdk_s3::Client,
    pub upload: issue_upload_url::Deps,
    pub view: issue_view_url::Deps,
    pub ownership: record_ownership::Deps,
    _dir: tempfile::TempDir,
}

/// The functions' signing credentials: temporary, with a session token, as on Lambda.
pub fn credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "integration-tests",
    )
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Start everything; `tune` may change the upload function's environment.
    pub async fn start_with(tune: impl FnOnce(&mut Vec<(&'static str, String)>)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace");
        let program = find_moto_server(workspace).unwrap_or_else(|hint| panic!("{hint}"));
        let moto = Moto::start(&program, 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let (sender, events) = mpsc::unbounded_channel();
        let s3 = LocalS3::start(&dir.path().join("s3"), 0, ACCESS_KEY, SECRET_KEY, sender)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        let aws = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials())
            .endpoint_url(&moto.endpoint)
            .load()
            .await;
        let s3_client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&aws)
                .endpoint_url(&s3.endpoint)
                .force_path_style(true)
                .build(),
        );
        s3_client
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create bucket");
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        private_uploads::resources::create_table(&dynamodb, TABLE)
            .await
            .expect("create table");
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        private_uploads::resources::create_secret(&secrets, SECRET, KEY_PAIR_ID, PRIVATE_KEY)
            .await
            .expect("create secret");

        let records = Arc::new(shared::dynamo::DynamoRecords::new(dynamodb, TABLE));
        let objects = Arc::new(shared::objects::S3Objects::new(s3_client.clone(), BUCKET));

        let mut upload_env: Vec<(&'static str, String)> = vec![
            ("BUCKET_NAME", BUCKET.into()),
            ("TABLE_NAME", TABLE.into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()),
            (
                "ALLOWED_CONTENT_TYPES",
                "image/*,application/pdf,text/plain".into(),
            ),
            ("MAX_UPLOAD_BYTES", "1048576".into()),
        ];
        tune(&mut upload_env);
        let upload_config =
            issue_upload_url::Config::from_env(&EnvList(upload_env)).expect("upload config");
        let upload = issue_upload_url::Deps::new(
            upload_config,
            shared::presign::SigningCredentials::new(SharedCredentialsProvider::new(credentials())),
            records.clone(),
        );

        let view_config = issue_view_url::Config::from_env(&EnvList(vec![
            ("BUCKET_NAME", BUCKET.into()),
            ("TABLE_NAME", TABLE.into()),
            ("CDN_BASE_URL", CDN.into()),
            ("SIGNING_KEY_SECRET_ID", SECRET.into()),
        ]))
        .expect("view config");
        let view = issue_view_url::Deps::new(
            view_config,
            records.clone(),
            objects.clone(),
            Arc::new(SecretsManagerSource::new(
                aws_sdk_secretsmanager::Client::new(&aws),
                SECRET,
            )),
        );

        let ownership = record_ownership::Deps {
            config: record_ownership::Config::from_env(&EnvList(vec![
                ("BUCKET_NAME", BUCKET.into()),
                ("TABLE_NAME", TABLE.into()),
            ]))
            .expect("ownership config"),
            records,
            objects,
        };

        Self {
            s3,
            moto,
            events,
            aws,
            s3_client,
            upload,
            view,
            ownership,
            _dir: dir,
        }
    }

    /// Call the upload function as API Gateway would, for user `sub`.
    pub async fn upload_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        sub: &str,
    ) -> (u16, Value) {
        let request = api_request(method, path, "", body, Some(sub));
        respond(
            issue_upload_url::handle(&self.upload, request)
                .await
                .expect("infallible"),
        )
        .await
    }

    /// Call the view function as API Gateway would, for user `sub`.
    pub async fn view_api(&self, method: &str, path: &str, query: &str, sub: &str) -> (u16, Value) {
        let request = api_request(method, path, query, None, Some(sub));
        respond(
            issue_view_url::handle(&self.view, request)
                .await
                .expect("infallible"),
        )
        .await
    }

    /// Deliver the next ObjectCreated notification to the ownership function.
    pub async fn deliver_next_event(&mut self) -> (Value, record_ownership::Report) {
        let created = tokio::time::timeout(std::time::Duration::from_secs(5), self.events.recv())
            .await
            .expect("an ObjectCreated event within 5 s")
            .expect("event channel open");
        let event = created.to_event(REGION);
        let report = self
            .deliver(&event)
            .await
            .expect("ownership function succeeded");
        (event, report)
    }

    pub async fn deliver(
        &self,
        event: &Value,
    ) -> Result<record_ownership::Report, lambda_runtime::Error> {
        let payload = serde_json::from_value(event.clone()).expect("an S3Event");
        record_ownership::handle(
            &self.ownership,
            lambda_runtime::LambdaEvent::new(payload, Default::default()),
        )
        .await
    }

    pub async fn object_exists(&self, key: &str) -> bool {
        self.s3_client
            .head_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .is_ok()
    }

    pub async fn stop(self) {
        self.s3.shutdown().await;
        self.moto.stop().await;
    }
}

/// An environment given as a list.
pub struct EnvList(pub Vec<(&'static str, String)>);

impl shared::config::Env for EnvList {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// An API Gateway HTTP API (payload 2.0) request built from `events/api-post-uploads.json`,
/// with the JWT authorizer's claims for `sub` (or none).
pub fn api_request(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&Value>,
    sub: Option<&str>,
) -> Request {
    let template = format!(
        "{}/../events/api-post-uploads.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(template).expect("event file"))
            .expect("json");
    event["rawPath"] = Value::String(path.into());
    event["rawQueryString"] = Value::String(query.into());
    event["requestContext"]["http"]["method"] = Value::String(method.into());
    event["requestContext"]["http"]["path"] = Value::String(path.into());
    event["routeKey"] = Value::String("$default".into());
    event["requestContext"]["routeKey"] = Value::String("$default".into());
    match body {
        Some(body) => event["body"] = Value::String(body.to_string()),
        None => {
            event.as_object_mut().expect("object").remove("body");
        }
    }
    match sub {
        Some(sub) => {
            event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] =
                Value::String(sub.into())
        }
        None => event["requestContext"]["authorizer"] = Value::Null,
    }
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

async fn respond(response: lambda_http::Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).expect("JSON body"),
        Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON body"),
        _ => Value::Null,
    };
    (status, body)
}
