//! `private-uploads up`: the whole stack on 127.0.0.1 until Ctrl-C or SIGTERM.

use anyhow::anyhow;
use std::io::Write as _;
use std::path::PathBuf;

use super::{checkout, shell_word};
use crate::local::moto::{MotoSearch, ensure_installed, find_moto_python};
use crate::local::stack::{LocalStack, StackOptions};
use crate::local::template::{EnvValue, Template};

/// `up`'s arguments (`main.rs` documents each).
pub struct UpOptions {
    pub port: u16,
    pub data_dir: PathBuf,
    pub web_dir: Option<PathBuf>,
    pub faults: String,
    pub moto_server: Option<PathBuf>,
    pub log: String,
    /// Log lines as flat JSON, as the functions write them on Lambda.
    pub json_logs: bool,
}

/// The functions' own log set-up (its ceiling keeps secrets out at every level), on stderr.
fn init_logging(up: &UpOptions) {
    let format = if up.json_logs {
        shared::logging::Format::Json
    } else {
        shared::logging::Format::Coloured
    };
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(shared::logging::subscriber(
        &up.log,
        format,
        std::io::stderr,
    ));
}

pub fn run(up: UpOptions) -> anyhow::Result<()> {
    init_logging(&up);
    let project = checkout();
    let moto = match &up.moto_server {
        Some(server) => find_moto_python(&MotoSearch {
            moto_server: Some(server.into()),
            ..MotoSearch::from_env(&project)
        })
        .map_err(|e| anyhow!("{e}"))?,
        None => ensure_installed(&project)?,
    };
    eprintln!("moto: {}", moto.display());
    std::fs::create_dir_all(&up.data_dir)
        .map_err(|e| anyhow!("cannot create {}: {e}", up.data_dir.display()))?;
    let data_dir = up
        .data_dir
        .canonicalize()
        .map_err(|e| anyhow!("cannot resolve {}: {e}", up.data_dir.display()))?;
    let mut options = StackOptions::with_port(data_dir.clone(), moto, up.port);
    options.overrides = tunable_overrides(&Template::load()?);
    options.faults = up.faults;
    if let Some(dir) = up.web_dir {
        if !dir.join("index.html").is_file() {
            return Err(anyhow!("--web-dir {}: no index.html there", dir.display()));
        }
        options.web_dir = Some(
            dir.canonicalize()
                .map_err(|e| anyhow!("cannot resolve {}: {e}", dir.display()))?,
        );
    }

    let runtime = tokio::runtime::Runtime::new().map_err(|e| anyhow!("{e}"))?;
    runtime.block_on(async move {
        eprintln!(
            "starting: moto on 127.0.0.1:{}, then the S3, CDN and API stand-ins (data in {})…",
            options.moto_port,
            data_dir.display()
        );
        let stack = LocalStack::start(options).await?;
        let outputs = &stack.outputs;
        println!("private-uploads is up:");
        println!("  upload page + HTTP API  {}", stack.api_url);
        println!("  OpenAPI                 {}/openapi.yaml", stack.api_url);
        println!("  S3 (verifying)          {}", stack.s3_endpoint);
        println!("  CDN (signed URLs only)  {}", stack.cdn_url);
        println!(
            "  DynamoDB/Secrets (moto) {}",
            outputs["MotoEndpoint"].as_str().unwrap_or("")
        );
        println!("  outputs                 {}", stack.outputs_path.display());
        println!(
            "  faults                  {}/local/faults (GET shows, PUT sets)",
            stack.api_url
        );
        println!("Mint a token: {}", token_command(&data_dir));
        println!("Stop: Ctrl-C");
        let _ = std::io::stdout().flush();

        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| anyhow!("cannot watch SIGTERM: {e}"))?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("stopping…");
        stack.stop().await;
        eprintln!("stopped.");
        Ok(())
    })
}

/// The function settings a stack parameter sets, taken from `up`'s own environment: the
/// same knobs a deployment has (docs/operations.md, "Configure").
fn tunable_overrides(template: &Template) -> Vec<(String, String)> {
    let mut names: Vec<&str> = template
        .functions
        .values()
        .flat_map(|f| f.tunable())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.to_owned(), v)))
        .collect()
}

/// A command that mints a token this stack accepts, from any directory: this very binary
/// and this data directory, both absolute.
fn token_command(data_dir: &std::path::Path) -> String {
    let program = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "private-uploads".into());
    format!(
        "{} token alice --data-dir {}",
        shell_word(&program),
        shell_word(&data_dir.display().to_string())
    )
}

/// The settings `up` takes from its environment, with the template's defaults, for `up
/// --help`.
pub fn settings_help() -> String {
    let Ok(template) = Template::load() else {
        return String::new();
    };
    let mut settings: Vec<(String, String)> = template
        .functions
        .values()
        .flat_map(|f| f.environment.iter())
        .filter_map(|(name, value)| match value {
            EnvValue::Parameter {
                name: parameter,
                default,
                min,
                max,
            } => Some((
                name.clone(),
                format!(
                    "{parameter}, default {}{}",
                    if default.is_empty() { "empty" } else { default },
                    match (min, max) {
                        (Some(min), Some(max)) => format!(", {min} to {max}"),
                        _ => String::new(),
                    }
                ),
            )),
            _ => None,
        })
        .collect();
    settings.sort();
    settings.dedup();
    let width = settings.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut help = String::from(
        "Function settings, read from the environment (the template's parameters; docs/operations.md):\n",
    );
    for (name, about) in settings {
        help.push_str(&format!("  {name:width$}  {about}\n"));
    }
    help
}
