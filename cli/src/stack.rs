//! The whole product on one machine.
//!
//! [`Backend`] is the emulated AWS and the three functions wired to it: the verifying S3,
//! moto (DynamoDB, Secrets Manager, STS), the stack's resources created as the template
//! declares them, and each function's dependencies built from the same configuration code
//! the Lambdas use. The integration tests drive it directly. [`LocalStack`] adds what API
//! Gateway, S3 notifications and CloudFront do: the HTTP API with its JWT authorizer, the
//! delivery of ObjectCreated events, and the CDN that checks signed URLs. `private-uploads
//! up` runs a `LocalStack`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde_json::json;
use shared::config::Env;
use shared::signing_keys::SecretsManagerSource;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::jwt::LocalIdp;
use crate::keys::{PemPair, load_or_create};
use crate::moto::Moto;
use crate::s3::{LocalS3, ObjectCreated};

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "private-uploads-local";
pub const TABLE: &str = "private-uploads-local-files";
pub const SECRET: &str = "private-uploads-local/cloudfront-signing-key";
pub const KEY_PAIR_ID: &str = "KLOCALDEVKEY01";
pub const ACCESS_KEY: &str = "ASIALOCALDEVKEY";
pub const SECRET_KEY: &str = "local-dev-secret-key";
pub const SESSION_TOKEN: &str = "local/dev+session=token";
pub const JWT_ISSUER: &str = "https://idp.private-uploads.localhost";
pub const JWT_AUDIENCE: &str = "private-uploads-local";

/// The functions' signing credentials: temporary, with a session token, as on Lambda.
pub fn credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.into()),
        None,
        "private-uploads-local",
    )
}

/// The configuration the template would give the functions, plus overrides.
pub struct EnvList(pub Vec<(&'static str, String)>);

impl Env for EnvList {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Function settings a user may change for `up` through the process environment.
pub const TUNABLE: [&str; 7] = [
    "ALLOWED_CONTENT_TYPES",
    "MAX_UPLOAD_BYTES",
    "UPLOAD_URL_TTL_SECONDS",
    "VIEW_URL_MAX_SECONDS",
    "CLOUDFRONT_HASH_ALGORITHM",
    "PENDING_RETENTION_SECONDS",
    "REJECTED_RETENTION_SECONDS",
];

pub struct BackendOptions {
    /// Keys (kept across runs) and the S3 objects (fresh each run).
    pub data_dir: PathBuf,
    pub moto_program: PathBuf,
    pub moto_port: u16,
    pub s3_port: u16,
    /// Where viewers fetch objects: the CDN stand-in's base URL.
    pub cdn_base: String,
    /// Origins the bucket's CORS rules allow (the upload page).
    pub cors_origins: Vec<String>,
    /// Function settings on top of the template's defaults.
    pub overrides: Vec<(&'static str, String)>,
}

pub struct Backend {
    pub s3: LocalS3,
    pub moto: Moto,
    pub aws: SdkConfig,
    pub s3_client: aws_sdk_s3::Client,
    pub upload: Arc<issue_upload_url::Deps>,
    pub view: Arc<issue_view_url::Deps>,
    pub ownership: Arc<record_ownership::Deps>,
    pub events: mpsc::UnboundedReceiver<ObjectCreated>,
    pub cloudfront_key: PemPair,
    pub public_key_path: PathBuf,
    pub secret_arn: String,
}

impl Backend {
    pub async fn start(options: BackendOptions) -> Result<Self, String> {
        let keys_dir = options.data_dir.join("keys");
        let cloudfront_key = load_or_create(&keys_dir, "cloudfront-signing")?;
        let public_key_path = keys_dir.join("cloudfront-signing.pub.pem");

        let moto = Moto::start(&options.moto_program, options.moto_port).await?;
        let s3_root = options.data_dir.join("s3");
        // moto keeps DynamoDB in memory, so objects from an earlier run would have no records.
        if s3_root.exists() {
            std::fs::remove_dir_all(&s3_root)
                .map_err(|e| format!("cannot clear {}: {e}", s3_root.display()))?;
        }
        let (sender, events) = mpsc::unbounded_channel();
        let s3 = LocalS3::start(
            &s3_root,
            options.s3_port,
            ACCESS_KEY,
            SECRET_KEY,
            options.cors_origins,
            sender,
        )
        .await?;

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
            .map_err(|e| format!("CreateBucket {BUCKET}: {}", shared::aws::error_summary(&e)))?;
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
        crate::resources::create_table(&dynamodb, TABLE).await?;
        let secrets = aws_sdk_secretsmanager::Client::new(&aws);
        let secret_arn = crate::resources::create_secret(
            &secrets,
            SECRET,
            KEY_PAIR_ID,
            &cloudfront_key.private_pem,
        )
        .await?;

        let records = Arc::new(shared::dynamo::DynamoRecords::new(dynamodb, TABLE));
        let objects = Arc::new(shared::objects::S3Objects::new(s3_client.clone(), BUCKET));
        let env = |own: Vec<(&'static str, String)>| {
            let mut all = vec![
                ("BUCKET_NAME", BUCKET.to_owned()),
                ("TABLE_NAME", TABLE.to_owned()),
            ];
            all.extend(own);
            all.extend(options.overrides.iter().cloned());
            EnvList(all)
        };
        let upload_config = issue_upload_url::Config::from_env(&env(vec![
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL_S3", s3.endpoint.clone()),
            (
                "ALLOWED_CONTENT_TYPES",
                "image/*,application/pdf,text/plain".into(),
            ),
        ]))
        .map_err(|e| e.to_string())?;
        let upload = issue_upload_url::Deps::new(
            upload_config,
            shared::presign::SigningCredentials::new(SharedCredentialsProvider::new(credentials())),
            records.clone(),
        );
        let view_config = issue_view_url::Config::from_env(&env(vec![
            ("CDN_BASE_URL", options.cdn_base.clone()),
            ("SIGNING_KEY_SECRET_ID", SECRET.into()),
        ]))
        .map_err(|e| e.to_string())?;
        let view = issue_view_url::Deps::new(
            view_config,
            records.clone(),
            objects.clone(),
            Arc::new(SecretsManagerSource::new(secrets, SECRET)),
        );
        view.warm_up().await;
        let ownership = record_ownership::Deps {
            config: record_ownership::Config::from_env(&env(vec![])).map_err(|e| e.to_string())?,
            records,
            objects,
        };
        Ok(Self {
            s3,
            moto,
            aws,
            s3_client,
            upload: Arc::new(upload),
            view: Arc::new(view),
            ownership: Arc::new(ownership),
            events,
            cloudfront_key,
            public_key_path,
            secret_arn,
        })
    }

    pub async fn stop(self) {
        self.s3.shutdown().await;
        self.moto.stop().await;
    }
}

/// Deliver one ObjectCreated notification to the ownership function the way Lambda handles
/// an asynchronous invocation: on error, two retries (after 1 s and 2 s), then give up
/// (on AWS the event would go to the on-failure queue).
pub async fn deliver(
    ownership: &record_ownership::Deps,
    event: serde_json::Value,
) -> Result<record_ownership::Report, String> {
    let mut last_error = String::new();
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(attempt)).await;
        }
        let payload =
            serde_json::from_value(event.clone()).map_err(|e| format!("not an S3 event: {e}"))?;
        match record_ownership::handle(
            ownership,
            lambda_runtime::LambdaEvent::new(payload, Default::default()),
        )
        .await
        {
            Ok(report) => return Ok(report),
            Err(err) => {
                tracing::warn!(attempt, error = %err, "record-ownership failed");
                last_error = err.to_string();
            }
        }
    }
    tracing::error!(error = %last_error, "event dropped after 3 attempts (on AWS: sent to the failure queue)");
    Err(last_error)
}

pub struct StackOptions {
    pub data_dir: PathBuf,
    pub moto_program: PathBuf,
    /// The HTTP API and the page. 0 picks a free port; so do the others.
    pub api_port: u16,
    pub s3_port: u16,
    pub cdn_port: u16,
    pub moto_port: u16,
    pub overrides: Vec<(&'static str, String)>,
}

impl StackOptions {
    /// The ports `up --port P` uses: the API on P, S3 on P+1, the CDN on P+2, moto on P+3.
    pub fn with_port(data_dir: PathBuf, moto_program: PathBuf, port: u16) -> Self {
        let next = |n: u16| if port == 0 { 0 } else { port.saturating_add(n) };
        Self {
            data_dir,
            moto_program,
            api_port: port,
            s3_port: next(1),
            cdn_port: next(2),
            moto_port: next(3),
            overrides: vec![],
        }
    }
}

/// A running local stack. Dropping it stops the servers; [`LocalStack::stop`] also waits.
pub struct LocalStack {
    pub backend_view: Arc<issue_view_url::Deps>,
    pub api_url: String,
    pub cdn_url: String,
    pub s3_endpoint: String,
    pub outputs: serde_json::Value,
    pub outputs_path: PathBuf,
    pub idp: Arc<LocalIdp>,
    pub s3_client: aws_sdk_s3::Client,
    data_dir: PathBuf,
    backend_stop: Option<Backend>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
}

async fn bind(port: u16) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        format!("cannot listen on 127.0.0.1:{port}: {e} (is another stack running? try --port)")
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, addr))
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> Result<Self, String> {
        let (api_listener, api_addr) = bind(options.api_port).await?;
        let (cdn_listener, cdn_addr) = bind(options.cdn_port).await?;
        let api_url = format!("http://{api_addr}");
        let cdn_url = format!("http://{cdn_addr}");
        let page_origins = vec![
            api_url.clone(),
            format!("http://localhost:{}", api_addr.port()),
        ];

        let mut backend = Backend::start(BackendOptions {
            data_dir: options.data_dir.clone(),
            moto_program: options.moto_program,
            moto_port: options.moto_port,
            s3_port: options.s3_port,
            cdn_base: cdn_url.clone(),
            cors_origins: page_origins,
            overrides: options.overrides,
        })
        .await?;

        let jwt_key = load_or_create(&options.data_dir.join("keys"), "jwt-signing")?;
        let idp = Arc::new(LocalIdp::new(
            &jwt_key.private_pem,
            JWT_ISSUER,
            JWT_AUDIENCE,
        )?);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();

        let api = Arc::new(crate::api::LocalApi {
            upload: backend.upload.clone(),
            view: backend.view.clone(),
            idp: idp.clone(),
            api_url: api_url.clone(),
        });
        tasks.push(tokio::spawn(crate::http::serve(
            api_listener,
            stopped.clone(),
            move |req, peer| {
                let api = api.clone();
                async move { Ok::<_, std::convert::Infallible>(api.handle(req, peer).await) }
            },
        )));

        let cdn = Arc::new(crate::cdn::LocalCdn::new(
            &cdn_url,
            KEY_PAIR_ID,
            &backend.cloudfront_key.public_pem,
            backend.s3_client.clone(),
            BUCKET,
        )?);
        tasks.push(tokio::spawn(crate::http::serve(
            cdn_listener,
            stopped.clone(),
            move |req, peer| {
                let cdn = cdn.clone();
                async move { Ok::<_, std::convert::Infallible>(cdn.handle(req, peer).await) }
            },
        )));

        let mut events = std::mem::replace(&mut backend.events, mpsc::unbounded_channel().1);
        let ownership = backend.ownership.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(created) = events.recv().await {
                match deliver(&ownership, created.to_event(REGION)).await {
                    Ok(report) => {
                        for record in report.records {
                            tracing::info!(key = %record.key, outcome = %record.outcome, "ObjectCreated delivered");
                        }
                    }
                    Err(_) => continue,
                }
            }
        }));

        let outputs = json!({
            "ApiUrl": api_url,
            "CdnUrl": cdn_url,
            "BucketName": BUCKET,
            "TableName": TABLE,
            "SecretArn": backend.secret_arn,
            "KeyPairId": KEY_PAIR_ID,
            "S3Endpoint": backend.s3.endpoint,
            "PublicKeyPem": backend.public_key_path,
            "Region": REGION,
            "JwtIssuer": JWT_ISSUER,
            "JwtAudience": JWT_AUDIENCE,
            "MotoEndpoint": backend.moto.endpoint,
        });
        let outputs_path = options.data_dir.join("stack-outputs.json");
        let text = serde_json::to_string_pretty(&outputs).map_err(|e| e.to_string())?;
        std::fs::write(&outputs_path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", outputs_path.display()))?;

        Ok(Self {
            backend_view: backend.view.clone(),
            api_url,
            cdn_url,
            s3_endpoint: backend.s3.endpoint.clone(),
            outputs,
            outputs_path,
            idp,
            s3_client: backend.s3_client.clone(),
            data_dir: options.data_dir,
            backend_stop: Some(backend),
            tasks,
            stop,
        })
    }

    /// Stop moto while everything else keeps running: an outage of DynamoDB and Secrets
    /// Manager, for testing the 503 answers.
    pub async fn stop_moto(&mut self) {
        if let Some(backend) = self.backend_stop.as_mut() {
            backend.moto.kill().await;
        }
    }

    /// The data directory: keys, objects, outputs.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stop every server and child process, and wait for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        if let Some(backend) = self.backend_stop.take() {
            backend.stop().await;
        }
    }
}
