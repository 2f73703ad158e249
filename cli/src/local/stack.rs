//! The whole product on one machine.
//!
//! [`Backend`] is the emulated AWS and the three functions wired to it: the verifying S3,
//! moto (DynamoDB, Secrets Manager, STS), the stack's resources created as `template.yaml`
//! declares them, and each function configured from the template's environment (parameters
//! at their defaults, resources at their local stand-ins) and built by the same
//! `Deps::from_aws` the Lambdas run. The integration tests drive it directly.
//! [`LocalStack`] adds what API Gateway, S3 notifications and CloudFront do: the HTTP API
//! with its JWT authorizer and CORS rule, the delivery of ObjectCreated events, and the CDN
//! that checks signed URLs. `private-uploads up` runs a `LocalStack`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::json;
use shared::domain::config::Env;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::api_gateway::{ApiCors, LocalApi, RouteTable};
use super::authorizer::JwtAuthorizer;
use super::cdn::LocalCdn;
use super::deployed::Deployed;
use super::dev_pages::DevPages;
use super::faults::Faults;
use super::idp::LocalIdp;
pub use super::idp::{JWT_AUDIENCE, JWT_ISSUER};
use super::moto::{Moto, create_secret, create_table};
use super::s3::{LocalS3, ObjectCreated, S3Cors};
use super::sts::{AssumeRole, Sessions};
use super::template::Template;
use crate::keys::{PemPair, load_or_create};

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "private-uploads-local";
pub const TABLE: &str = "private-uploads-local-files";
pub const SECRET: &str = "private-uploads-local/cloudfront-signing-key";
pub const KEY_PAIR_ID: &str = "KLOCALDEVKEY01";
pub const ACCESS_KEY: &str = "ASIALOCALDEVKEY";
pub const SECRET_KEY: &str = "local-dev-secret-key";
pub const SESSION_TOKEN: &str = "local/dev+session=token";

/// The template's logical ids of the three functions.
pub const UPLOAD_FUNCTION: &str = "IssueUploadUrlFunction";
pub const VIEW_FUNCTION: &str = "IssueViewUrlFunction";
pub const OWNERSHIP_FUNCTION: &str = "RecordOwnershipFunction";
/// The template's role for browsers' temporary credentials, and its local ARN.
pub const CREDENTIALS_ROLE: &str = "UploadCredentialsRole";
pub const CREDENTIALS_ROLE_ARN: &str =
    "arn:aws:iam::123456789012:role/private-uploads-local-uploader";
/// Where the local stack keeps the events the ownership function failed three times, in
/// its data directory.
pub const FAILURES_FILE: &str = "ownership-failures.jsonl";

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

/// A function's environment, as `Config::from_env` reads it.
pub struct EnvList(pub Vec<(String, String)>);

impl Env for EnvList {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

pub struct BackendOptions {
    /// Keys (kept across runs) and the S3 objects (fresh each run).
    pub data_dir: PathBuf,
    pub moto_python: PathBuf,
    pub moto_port: u16,
    pub s3_port: u16,
    /// Where viewers fetch objects: the CDN stand-in's base URL.
    pub cdn_base: String,
    /// The page's origins: what `AppOrigin` stands for in the CORS rules.
    pub page_origins: Vec<String>,
    /// Function settings on top of the template's.
    pub overrides: Vec<(String, String)>,
    /// Faults to inject into the functions' AWS calls from the start (`faults.rs`).
    pub faults: String,
}

pub struct Backend {
    pub template: Template,
    pub s3: LocalS3,
    pub moto: Moto,
    pub aws: SdkConfig,
    /// The functions' AWS configuration (`aws` with the fault plan in its HTTP client).
    pub functions_aws: SdkConfig,
    pub s3_client: aws_sdk_s3::Client,
    pub upload: Arc<issue_upload_url::Deps>,
    pub view: Arc<issue_view_url::Deps>,
    pub ownership: Arc<record_ownership::Deps>,
    /// The environment each function was configured with, by logical id.
    pub environments: BTreeMap<String, Vec<(String, String)>>,
    /// The faults the functions' AWS calls go through.
    pub faults: Faults,
    pub events: mpsc::UnboundedReceiver<ObjectCreated>,
    pub cloudfront_key: PemPair,
    pub public_key_path: PathBuf,
    pub secret_arn: String,
}

impl Backend {
    pub async fn start(options: BackendOptions) -> Result<Self, String> {
        let template = Template::load()?;
        let keys_dir = options.data_dir.join("keys");
        let cloudfront_key = load_or_create(&keys_dir, "cloudfront-signing")?;
        let public_key_path = keys_dir.join("cloudfront-signing.pub.pem");

        let moto = Moto::start(&options.moto_python, options.moto_port).await?;
        let s3_root = options.data_dir.join("s3");
        // moto keeps DynamoDB in memory, so objects from an earlier run would have no records.
        if s3_root.exists() {
            std::fs::remove_dir_all(&s3_root)
                .map_err(|e| format!("cannot clear {}: {e}", s3_root.display()))?;
        }
        let aws = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials())
            .endpoint_url(&moto.endpoint)
            .timeout_config(shared::aws::timeouts())
            .load()
            .await;
        // The functions' own configuration: the same, with their calls passed through the
        // fault plan (the stand-ins' set-up and the CDN's reads are never faulted).
        let faults = Faults::default();
        faults.set(&options.faults)?;
        let functions_aws = aws
            .clone()
            .into_builder()
            .http_client(faults.wrap(aws_smithy_http_client::Builder::new().build_http()))
            .build();
        // The role browsers' credentials come from, with the policy the template gives it.
        let bucket_arn = format!("arn:aws:s3:::{BUCKET}");
        let role_policies = template.role_policies(
            CREDENTIALS_ROLE,
            &BTreeMap::from([("FilesBucket.Arn", bucket_arn)]),
        )?;
        let sts = AssumeRole {
            sessions: Sessions::with_principal(ACCESS_KEY, SECRET_KEY),
            moto: aws_sdk_sts::Client::new(&aws),
            role_policy: super::iam::union(&role_policies),
        };
        let (sender, events) = mpsc::unbounded_channel();
        let s3 = LocalS3::start(
            &s3_root,
            options.s3_port,
            sts,
            S3Cors {
                origins: options.page_origins.clone(),
                rule: template.bucket_cors.clone(),
            },
            sender,
        )
        .await?;

        let s3_client = shared::aws::s3::client(&aws, Some(&s3.endpoint));
        s3_client
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .map_err(|e| format!("CreateBucket {BUCKET}: {}", shared::aws::error_summary(&e)))?;
        create_table(&aws_sdk_dynamodb::Client::new(&aws), TABLE, &template.table).await?;
        let secret_arn = create_secret(
            &aws_sdk_secretsmanager::Client::new(&aws),
            SECRET,
            KEY_PAIR_ID,
            &cloudfront_key.private_pem,
        )
        .await?;

        // What only a deployment knows, by the variable the template sets from it.
        let locals = BTreeMap::from([
            ("BUCKET_NAME", BUCKET.to_owned()),
            ("TABLE_NAME", TABLE.to_owned()),
            ("JWT_ISSUER", JWT_ISSUER.to_owned()),
            ("CDN_BASE_URL", options.cdn_base.clone()),
            ("SIGNING_KEY_SECRET_ID", SECRET.to_owned()),
            ("CREDENTIALS_ROLE_ARN", CREDENTIALS_ROLE_ARN.to_owned()),
            // The key slots, as the template fills them: the dev key in the first, the
            // second empty (`LocalStack::deploy_key_slots` changes them, as a deploy does).
            (
                "TRUSTED_KEY_1",
                format!("{KEY_PAIR_ID} {}", cloudfront_key.public_pem),
            ),
            ("TRUSTED_KEY_2", String::new()),
        ]);
        let mut environments = BTreeMap::new();
        for id in [UPLOAD_FUNCTION, VIEW_FUNCTION, OWNERSHIP_FUNCTION] {
            let mut env = template.function(id)?.local_environment(&locals)?;
            // Set by Lambda itself, and the endpoint override the SDK reads.
            env.push(("AWS_REGION".into(), REGION.into()));
            env.push(("AWS_ENDPOINT_URL_S3".into(), s3.endpoint.clone()));
            // The local STS answers on the local S3's port (it must know the sessions).
            env.push(("AWS_ENDPOINT_URL_STS".into(), s3.endpoint.clone()));
            env.extend(options.overrides.iter().cloned());
            environments.insert(id.to_owned(), env);
        }
        let env = |id: &str| EnvList(environments.get(id).cloned().unwrap_or_default());

        let upload = issue_upload_url::Config::from_env(&env(UPLOAD_FUNCTION))
            .map_err(|e| format!("{UPLOAD_FUNCTION}: {e}"))?;
        let upload = issue_upload_url::Deps::from_aws(upload, &functions_aws)
            .await
            .map_err(|e| format!("{UPLOAD_FUNCTION}: {e}"))?;
        let view = issue_view_url::Config::from_env(&env(VIEW_FUNCTION))
            .map_err(|e| format!("{VIEW_FUNCTION}: {e}"))?;
        let view = issue_view_url::Deps::from_aws(view, &functions_aws)
            .await
            .map_err(|e| format!("{VIEW_FUNCTION}: {e}"))?;
        let ownership = record_ownership::Config::from_env(&env(OWNERSHIP_FUNCTION))
            .map_err(|e| format!("{OWNERSHIP_FUNCTION}: {e}"))?;
        let ownership = record_ownership::Deps::from_aws(ownership, &functions_aws)
            .await
            .map_err(|e| format!("{OWNERSHIP_FUNCTION}: {e}"))?;
        Ok(Self {
            template,
            s3,
            moto,
            aws,
            functions_aws,
            s3_client,
            upload: Arc::new(upload),
            view: Arc::new(view),
            ownership: Arc::new(ownership),
            environments,
            faults,
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

/// Lambda's waits between the attempts of an asynchronous invocation that failed: "a
/// one-minute wait between the first two attempts, and two minutes between the second and
/// third" (the Lambda developer guide, *Error handling and automatic retries*).
pub const LAMBDA_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// Deliver one ObjectCreated notification to the ownership function the way Lambda handles
/// an asynchronous invocation: on error, two retries after `delays`, then give up. On AWS
/// the event then goes to the on-failure queue; here it is appended to `failures` (one JSON
/// line per event), so it is kept for a replay just the same.
pub async fn deliver(
    ownership: &record_ownership::Deps,
    event: serde_json::Value,
    delays: [Duration; 2],
    failures: &Path,
) -> Result<record_ownership::Report, String> {
    let mut last_error = String::new();
    for attempt in 0..3usize {
        if attempt > 0 {
            tokio::time::sleep(delays[attempt - 1]).await;
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
                let next = delays.get(attempt).map(|d| d.as_secs());
                tracing::warn!(attempt = attempt + 1, retry_in_seconds = ?next, error = %err, "record-ownership failed");
                last_error = err.to_string();
            }
        }
    }
    let kept = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(failures)
        .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{event}\n").as_bytes()));
    match kept {
        Ok(()) => {
            tracing::error!(error = %last_error, failures = %failures.display(), "event failed 3 attempts; kept as the on-failure queue would keep it")
        }
        Err(err) => {
            tracing::error!(error = %last_error, %err, "event failed 3 attempts and could not be kept")
        }
    }
    Err(last_error)
}

pub struct StackOptions {
    pub data_dir: PathBuf,
    pub moto_python: PathBuf,
    /// The HTTP API and the page. 0 picks a free port; so do the others.
    pub api_port: u16,
    pub s3_port: u16,
    pub cdn_port: u16,
    pub moto_port: u16,
    pub overrides: Vec<(String, String)>,
    /// Serve the page from this directory (else the copy built into the binary).
    pub web_dir: Option<PathBuf>,
    /// Faults to inject into the functions' AWS calls from the start (`faults.rs`).
    pub faults: String,
    /// The waits before the ownership function's second and third attempts at an event.
    pub retry_delays: [Duration; 2],
}

impl StackOptions {
    /// The ports `up --port P` uses: the API on P, S3 on P+1, the CDN on P+2, moto on P+3.
    pub fn with_port(data_dir: PathBuf, moto_python: PathBuf, port: u16) -> Self {
        let next = |n: u16| if port == 0 { 0 } else { port.saturating_add(n) };
        Self {
            data_dir,
            moto_python,
            api_port: port,
            s3_port: next(1),
            cdn_port: next(2),
            moto_port: next(3),
            overrides: vec![],
            web_dir: None,
            faults: String::new(),
            retry_delays: LAMBDA_RETRY_DELAYS,
        }
    }
}

/// A running local stack. [`LocalStack::stop`] stops everything and waits.
pub struct LocalStack {
    pub api_url: String,
    pub cdn_url: String,
    pub s3_endpoint: String,
    pub outputs: serde_json::Value,
    pub outputs_path: PathBuf,
    pub idp: Arc<LocalIdp>,
    /// The origins the CORS rules allow: the page's.
    pub page_origins: Vec<String>,
    /// The HTTP API's routes, as served.
    pub routes: Vec<(String, String)>,
    /// The CDN stand-in.
    pub cdn: Arc<LocalCdn>,
    /// The view function as deployed now (`deploy_key_slots` replaces it).
    pub view: Arc<Deployed<issue_view_url::Deps>>,
    pub backend: Backend,
    data_dir: PathBuf,
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
            moto_python: options.moto_python,
            moto_port: options.moto_port,
            s3_port: options.s3_port,
            cdn_base: cdn_url.clone(),
            page_origins: page_origins.clone(),
            overrides: options.overrides,
            faults: options.faults,
        })
        .await?;

        let idp = Arc::new(LocalIdp::for_data_dir(&options.data_dir)?);
        let routes = RouteTable::new(&backend.template.routes)?;
        let served_routes = routes.keys();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();

        let view = Arc::new(Deployed::new(backend.view.clone()));
        let api = Arc::new(LocalApi {
            routes,
            cors: ApiCors {
                origins: page_origins.clone(),
                rule: backend.template.api_cors.clone(),
            },
            authorizer: JwtAuthorizer::trusting(&idp)?,
            upload: backend.upload.clone(),
            view: view.clone(),
            pages: DevPages {
                idp: idp.clone(),
                api_url: api_url.clone(),
                cdn_url: cdn_url.clone(),
                web_dir: options.web_dir.clone(),
                faults: backend.faults.clone(),
            },
        });
        let served_api = api.clone();
        tasks.push(tokio::spawn(super::server::serve(
            api_listener,
            stopped.clone(),
            move |req, peer| {
                let api = served_api.clone();
                async move { Ok::<_, std::convert::Infallible>(api.handle(req, peer).await) }
            },
        )));

        let cdn = Arc::new(
            LocalCdn::new(
                &cdn_url,
                KEY_PAIR_ID,
                &backend.cloudfront_key.public_pem,
                backend.s3_client.clone(),
                BUCKET,
                &backend.template.cdn_headers,
            )?
            .with_api_behaviours(backend.template.cdn_api_paths.clone(), api.clone()),
        );
        let served_cdn = cdn.clone();
        tasks.push(tokio::spawn(super::server::serve(
            cdn_listener,
            stopped.clone(),
            move |req, peer| {
                let cdn = served_cdn.clone();
                async move { Ok::<_, std::convert::Infallible>(cdn.handle(req, peer).await) }
            },
        )));

        let mut events = std::mem::replace(&mut backend.events, mpsc::unbounded_channel().1);
        let ownership = backend.ownership.clone();
        let (delays, failures) = (options.retry_delays, options.data_dir.join(FAILURES_FILE));
        tasks.push(tokio::spawn(async move {
            // Each event on its own, as Lambda runs them: a failing one waits for its retries
            // without holding up the next. Held in a set, so that stopping the stack (which
            // aborts this task and drops the set) stops the ones still waiting too.
            let mut deliveries = tokio::task::JoinSet::new();
            while let Some(created) = events.recv().await {
                while deliveries.try_join_next().is_some() {}
                let (ownership, failures) = (ownership.clone(), failures.clone());
                deliveries.spawn(async move {
                    let event = created.to_event(REGION);
                    if let Ok(report) = deliver(&ownership, event, delays, &failures).await {
                        for record in report.records {
                            tracing::info!(key = %record.key, outcome = ?record.outcome, "ObjectCreated delivered");
                        }
                    }
                });
            }
        }));

        let outputs = json!({
            "ApiUrl": api_url,
            "CdnUrl": cdn_url,
            "CdnDistributionDomainName": cdn_url.trim_start_matches("http://"),
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
            api_url,
            cdn_url,
            s3_endpoint: backend.s3.endpoint.clone(),
            outputs,
            outputs_path,
            idp,
            page_origins,
            routes: served_routes,
            cdn,
            view,
            backend,
            data_dir: options.data_dir,
            tasks,
            stop,
        })
    }

    /// A deploy that changes the template's key slots (`CloudFrontPublicKeyPem`, `…Pem2`;
    /// each `(key pair id, public key PEM)` or empty): the CDN's key group trusts exactly the
    /// filled slots, and the view function starts anew with them in `TRUSTED_KEY_1` and
    /// `TRUSTED_KEY_2`, as its containers after a deploy (requests already running finish on
    /// the old ones).
    pub async fn deploy_key_slots(&self, slots: [Option<(&str, &str)>; 2]) -> Result<(), String> {
        let mut env = self.backend.environments[VIEW_FUNCTION].clone();
        for (name, slot) in ["TRUSTED_KEY_1", "TRUSTED_KEY_2"].into_iter().zip(slots) {
            let entry = slot.map_or_else(String::new, |(id, pem)| format!("{id} {pem}"));
            env.push((name.to_owned(), entry));
        }
        let config = issue_view_url::Config::from_env(&EnvList(env))
            .map_err(|e| format!("{VIEW_FUNCTION}: {e}"))?;
        let deps = issue_view_url::Deps::from_aws(config, &self.backend.functions_aws)
            .await
            .map_err(|e| format!("{VIEW_FUNCTION}: {e}"))?;
        self.cdn.set_key_group(slots.iter().flatten().copied())?;
        self.view.replace(Arc::new(deps));
        Ok(())
    }

    /// The faults the functions' AWS calls go through (`faults.rs`).
    pub fn faults(&self) -> &Faults {
        &self.backend.faults
    }

    /// Stop moto while everything else keeps running: an outage of DynamoDB and Secrets
    /// Manager, for testing the 503 answers.
    pub async fn stop_moto(&mut self) {
        self.backend.moto.kill().await;
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
        self.backend.stop().await;
    }
}
