//! `private-uploads up`: the whole stack on 127.0.0.1 until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::path::PathBuf;

use super::shell_word;
use crate::local::stack::{LocalStack, StackOptions};
use crate::local::template::Template;

pub fn run(port: u16, data_dir: PathBuf, web_dir: Option<PathBuf>) -> Result<(), String> {
    // The functions' own log set-up (its ceiling keeps secrets out at every level).
    let directives = std::env::var("RUST_LOG")
        .unwrap_or_else(|_| "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn".to_owned());
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(shared::logging::subscriber(
        &directives,
        shared::logging::Format::Coloured,
        std::io::stderr,
    ));
    let project = std::env::current_dir().map_err(|e| e.to_string())?;
    let moto = crate::local::moto::ensure_installed(&project)?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", data_dir.display()))?;
    let mut options = StackOptions::with_port(data_dir.clone(), moto, port);
    options.overrides = tunable_overrides(&Template::load()?);
    // Faults in the functions' AWS calls from the start (README, "Faults on demand").
    options.faults = std::env::var("PRIVATE_UPLOADS_FAULTS").unwrap_or_default();
    if let Some(dir) = web_dir {
        if !dir.join("index.html").is_file() {
            return Err(format!("--web-dir {}: no index.html there", dir.display()));
        }
        options.web_dir = Some(
            dir.canonicalize()
                .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?,
        );
    }

    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
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
                .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
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
/// same knobs a deployment has (see the README's Configure table).
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
