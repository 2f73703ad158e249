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

use anyhow::anyhow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::json;
use shared::config::Env;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::api_gateway::{ApiCors, LocalApi, RouteTable};
use super::async_invoke::deliver_all;
pub use super::async_invoke::{FAILURES_FILE, LAMBDA_RETRY_DELAYS, deliver};
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

/// The bucket, the table and the signing-key secret, as the stack creates them; the
/// secret's ARN.
async fn provision(
    aws: &SdkConfig,
    s3_client: &aws_sdk_s3::Client,
    template: &Template,
    cloudfront_key: &PemPair,
) -> anyhow::Result<String> {
    s3_client
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| anyhow!("CreateBucket {BUCKET}: {}", shared::aws::error_summary(&e)))?;
    create_table(&aws_sdk_dynamodb::Client::new(aws), TABLE, &template.table).await?;
    create_secret(
        &aws_sdk_secretsmanager::Client::new(aws),
        SECRET,
        KEY_PAIR_ID,
        &cloudfront_key.private_pem,
    )
    .await
}

/// What only a deployment knows, by the variable the template sets from it.
fn deployment_values(cdn_base: &str, cloudfront_key: &PemPair) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("BUCKET_NAME", BUCKET.to_owned()),
        ("TABLE_NAME", TABLE.to_owned()),
        ("JWT_ISSUER", JWT_ISSUER.to_owned()),
        ("CDN_BASE_URL", cdn_base.to_owned()),
        ("SIGNING_KEY_SECRET_ID", SECRET.to_owned()),
        ("CREDENTIALS_ROLE_ARN", CREDENTIALS_ROLE_ARN.to_owned()),
        // The key slots, as the template fills them: the dev key in the first, the second
        // empty (`LocalStack::deploy_key_slots` changes them, as a deploy does).
        (
            "TRUSTED_KEY_1",
            format!("{KEY_PAIR_ID} {}", cloudfront_key.public_pem),
        ),
        ("TRUSTED_KEY_2", String::new()),
    ])
}

/// Each function's environment, by logical id: the template's, what Lambda sets, the
/// endpoint overrides, then `up`'s own overrides.
fn environments(
    template: &Template,
    locals: &BTreeMap<&str, String>,
    s3_endpoint: &str,
    overrides: &[(String, String)],
) -> anyhow::Result<BTreeMap<String, Vec<(String, String)>>> {
    let mut environments = BTreeMap::new();
    for id in [UPLOAD_FUNCTION, VIEW_FUNCTION, OWNERSHIP_FUNCTION] {
        let mut env = template.function(id)?.local_environment(locals)?;
        // Set by Lambda itself, and the endpoint override the SDK reads.
        env.push(("AWS_REGION".into(), REGION.into()));
        env.push(("AWS_ENDPOINT_URL_S3".into(), s3_endpoint.to_owned()));
        // The local STS answers on the local S3's port (it must know the sessions).
        env.push(("AWS_ENDPOINT_URL_STS".into(), s3_endpoint.to_owned()));
        env.extend(overrides.iter().cloned());
        environments.insert(id.to_owned(), env);
    }
    Ok(environments)
}

type Functions = (
    issue_upload_url::Deps,
    issue_view_url::Deps,
    record_ownership::Deps,
);

/// The three functions, each configured from its environment as Lambda would start it.
async fn functions(
    environments: &BTreeMap<String, Vec<(String, String)>>,
    aws: &SdkConfig,
) -> anyhow::Result<Functions> {
    let env = |id: &str| EnvList(environments.get(id).cloned().unwrap_or_default());
    let upload = issue_upload_url::Config::from_env(&env(UPLOAD_FUNCTION))
        .map_err(|e| anyhow!("{UPLOAD_FUNCTION}: {e}"))?;
    let upload = issue_upload_url::Deps::from_aws(upload, aws)
        .await
        .map_err(|e| anyhow!("{UPLOAD_FUNCTION}: {e}"))?;
    let view = issue_view_url::Config::from_env(&env(VIEW_FUNCTION))
        .map_err(|e| anyhow!("{VIEW_FUNCTION}: {e}"))?;
    let view = issue_view_url::Deps::from_aws(view, aws)
        .await
        .map_err(|e| anyhow!("{VIEW_FUNCTION}: {e}"))?;
    let ownership = record_ownership::Config::from_env(&env(OWNERSHIP_FUNCTION))
        .map_err(|e| anyhow!("{OWNERSHIP_FUNCTION}: {e}"))?;
    let ownership = record_ownership::Deps::from_aws(ownership, aws)
        .await
        .map_err(|e| anyhow!("{OWNERSHIP_FUNCTION}: {e}"))?;
    Ok((upload, view, ownership))
}

impl Backend {
    pub async fn start(options: BackendOptions) -> anyhow::Result<Self> {
        let template = Template::load()?;
        let keys_dir = options.data_dir.join("keys");
        let cloudfront_key = load_or_create(&keys_dir, "cloudfront-signing")?;
        let public_key_path = keys_dir.join("cloudfront-signing.pub.pem");

        let moto = Moto::start(&options.moto_python, options.moto_port).await?;
        let s3_root = options.data_dir.join("s3");
        // moto keeps DynamoDB in memory, so objects from an earlier run would have no records.
        if s3_root.exists() {
            std::fs::remove_dir_all(&s3_root)
                .map_err(|e| anyhow!("cannot clear {}: {e}", s3_root.display()))?;
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
        faults.set(&options.faults).map_err(anyhow::Error::msg)?;
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
        let secret_arn = provision(&aws, &s3_client, &template, &cloudfront_key).await?;

        let locals = deployment_values(&options.cdn_base, &cloudfront_key);
        let environments = environments(&template, &locals, &s3.endpoint, &options.overrides)?;
        let (upload, view, ownership) = functions(&environments, &functions_aws).await?;
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

async fn bind(port: u16) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        anyhow!("cannot listen on 127.0.0.1:{port}: {e} (is another stack running? try --port)")
    })?;
    let addr = listener.local_addr().map_err(|e| anyhow!("{e}"))?;
    Ok((listener, addr))
}

/// Serve `target` on `listener` until the stack stops.
fn serving<T, F, Fut>(
    listener: TcpListener,
    stopped: tokio::sync::watch::Receiver<bool>,
    target: Arc<T>,
    handle: F,
) -> tokio::task::JoinHandle<()>
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>, http::Request<hyper::body::Incoming>, SocketAddr) -> Fut
        + Clone
        + Send
        + Sync
        + 'static,
    Fut: std::future::Future<Output = super::server::HttpResponse> + Send + 'static,
{
    tokio::spawn(super::server::serve(listener, stopped, move |req, peer| {
        let answer = handle(target.clone(), req, peer);
        async move { Ok::<_, std::convert::Infallible>(answer.await) }
    }))
}

impl StackOptions {
    /// What the stand-ins behind the API and the CDN are started with.
    fn backend(&self, cdn_base: &str, page_origins: &[String]) -> BackendOptions {
        BackendOptions {
            data_dir: self.data_dir.clone(),
            moto_python: self.moto_python.clone(),
            moto_port: self.moto_port,
            s3_port: self.s3_port,
            cdn_base: cdn_base.to_owned(),
            page_origins: page_origins.to_vec(),
            overrides: self.overrides.clone(),
            faults: self.faults.clone(),
        }
    }
}

/// The HTTP API stand-in: the template's routes and CORS rule, the authorizer trusting the
/// dev identity provider, the two API functions, and the page beside them.
fn local_api(
    backend: &Backend,
    idp: &LocalIdp,
    view: Arc<Deployed<issue_view_url::Deps>>,
    pages: DevPages,
    page_origins: &[String],
) -> anyhow::Result<LocalApi> {
    Ok(LocalApi {
        routes: RouteTable::new(&backend.template.routes)?,
        cors: ApiCors {
            origins: page_origins.to_vec(),
            rule: backend.template.api_cors.clone(),
        },
        authorizer: JwtAuthorizer::trusting(idp)?,
        upload: backend.upload.clone(),
        view,
        pages,
    })
}

/// The CDN stand-in: the distribution's key group holds the dev key, and its headers are the
/// template's.
fn local_cdn(cdn_url: &str, backend: &Backend) -> anyhow::Result<LocalCdn> {
    LocalCdn::new(
        cdn_url,
        KEY_PAIR_ID,
        &backend.cloudfront_key.public_pem,
        backend.s3_client.clone(),
        BUCKET,
        &backend.template.cdn_headers,
    )
}

/// The stack's outputs, as `sam deploy` would print them, written to `path` for the tools
/// and tests that read them.
fn write_outputs(
    path: &Path,
    api_url: &str,
    cdn_url: &str,
    backend: &Backend,
) -> anyhow::Result<serde_json::Value> {
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
    let text = serde_json::to_string_pretty(&outputs).map_err(|e| anyhow!("{e}"))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(outputs)
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let (api_listener, api_addr) = bind(options.api_port).await?;
        let (cdn_listener, cdn_addr) = bind(options.cdn_port).await?;
        let api_url = format!("http://{api_addr}");
        let cdn_url = format!("http://{cdn_addr}");
        let page_origins = vec![
            api_url.clone(),
            format!("http://localhost:{}", api_addr.port()),
        ];

        let mut backend = Backend::start(options.backend(&cdn_url, &page_origins)).await?;

        let idp = Arc::new(LocalIdp::for_data_dir(&options.data_dir)?);
        let view = Arc::new(Deployed::new(backend.view.clone()));
        let pages = DevPages {
            idp: idp.clone(),
            api_url: api_url.clone(),
            cdn_url: cdn_url.clone(),
            web_dir: options.web_dir.clone(),
            faults: backend.faults.clone(),
        };
        let api = Arc::new(local_api(
            &backend,
            &idp,
            view.clone(),
            pages,
            &page_origins,
        )?);
        let served_routes = api.routes.keys();
        let cdn = Arc::new(
            local_cdn(&cdn_url, &backend)?
                .with_api_behaviours(backend.template.cdn_api_paths.clone(), api.clone()),
        );
        let events = std::mem::replace(&mut backend.events, mpsc::unbounded_channel().1);
        let failures = options.data_dir.join(FAILURES_FILE);
        let delivery = deliver_all(
            REGION,
            events,
            backend.ownership.clone(),
            options.retry_delays,
            failures,
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let tasks = vec![
            serving(
                api_listener,
                stopped.clone(),
                api,
                |api, req, peer| async move { api.handle(req, peer).await },
            ),
            serving(
                cdn_listener,
                stopped,
                cdn.clone(),
                |cdn, req, peer| async move { cdn.handle(req, peer).await },
            ),
            tokio::spawn(delivery),
        ];

        let outputs_path = options.data_dir.join("stack-outputs.json");
        let outputs = write_outputs(&outputs_path, &api_url, &cdn_url, &backend)?;

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
    pub async fn deploy_key_slots(&self, slots: [Option<(&str, &str)>; 2]) -> anyhow::Result<()> {
        let mut env = self.backend.environments[VIEW_FUNCTION].clone();
        for (name, slot) in ["TRUSTED_KEY_1", "TRUSTED_KEY_2"].into_iter().zip(slots) {
            let entry = slot.map_or_else(String::new, |(id, pem)| format!("{id} {pem}"));
            env.push((name.to_owned(), entry));
        }
        let config = issue_view_url::Config::from_env(&EnvList(env))
            .map_err(|e| anyhow!("{VIEW_FUNCTION}: {e}"))?;
        let deps = issue_view_url::Deps::from_aws(config, &self.backend.functions_aws)
            .await
            .map_err(|e| anyhow!("{VIEW_FUNCTION}: {e}"))?;
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
