//! `private-uploads`: run the whole stack locally, mint dev tokens, make key pairs, and sign
//! CloudFront URLs with the same code the view function uses.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use private_uploads::keys::KeyKind;
use private_uploads::stack::{LocalStack, StackOptions, TUNABLE};
use shared::cloudfront::{HashAlgorithm, SigningKey};

#[derive(Parser)]
#[command(
    name = "private-uploads",
    version,
    about = "private-uploads: local stack, dev tokens, keys and URL signing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole stack on 127.0.0.1 until Ctrl-C: HTTP API and upload page on PORT,
    /// S3 on PORT+1, the CDN on PORT+2, moto on PORT+3.
    Up {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Keys (kept across runs), objects and the outputs file.
        #[arg(long, default_value = ".local")]
        data_dir: PathBuf,
    },
    /// Print a JWT for USER that the local stack's authorizer accepts.
    Token {
        user: String,
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        #[arg(long, default_value = ".local")]
        data_dir: PathBuf,
    },
    /// Make a CloudFront key pair: prints the public key PEM (the template's
    /// CloudFrontPublicKeyPem) and the secret JSON to put in Secrets Manager.
    Keygen {
        #[arg(long, conflicts_with = "ecdsa")]
        rsa: bool,
        #[arg(long)]
        ecdsa: bool,
        /// The stack's KeyPairId output, if you know it already.
        #[arg(long, default_value = "REPLACE_WITH_KeyPairId_OUTPUT")]
        key_pair_id: String,
    },
    /// Sign URLs (arguments, or one per line on stdin) with a canned policy.
    SignUrl {
        #[arg(long)]
        key_file: PathBuf,
        #[arg(long)]
        key_pair_id: String,
        /// Epoch seconds, or a duration such as 30m, 12h, 7d.
        #[arg(long)]
        expires: String,
        #[arg(long, default_value = "sha256", value_parser = ["sha1", "sha256"])]
        hash: String,
        urls: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up { port, data_dir } => up(port, data_dir),
        Command::Token {
            user,
            ttl,
            data_dir,
        } => token(&user, ttl, &data_dir),
        Command::Keygen {
            ecdsa, key_pair_id, ..
        } => keygen(
            if ecdsa { KeyKind::Ecdsa } else { KeyKind::Rsa },
            &key_pair_id,
        ),
        Command::SignUrl {
            key_file,
            key_pair_id,
            expires,
            hash,
            urls,
        } => sign_url(&key_file, &key_pair_id, &expires, &hash, &urls),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("private-uploads: {message}");
            ExitCode::FAILURE
        }
    }
}

fn up(port: u16, data_dir: PathBuf) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let project = std::env::current_dir().map_err(|e| e.to_string())?;
    let moto = private_uploads::moto::ensure_installed(&project)?;
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let data_dir = data_dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", data_dir.display()))?;
    let mut options = StackOptions::with_port(data_dir, moto, port);
    options.overrides = TUNABLE
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (*name, v)))
        .collect();

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
        println!("Mint a token: private-uploads token alice    Stop: Ctrl-C");
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

fn token(user: &str, ttl: i64, data_dir: &std::path::Path) -> Result<(), String> {
    if user.is_empty() || !(1..=86_400).contains(&ttl) {
        return Err("USER must not be empty and --ttl must be 1 to 86400 seconds".into());
    }
    let key = private_uploads::keys::load_or_create(&data_dir.join("keys"), "jwt-signing")?;
    let idp = private_uploads::jwt::LocalIdp::new(
        &key.private_pem,
        private_uploads::stack::JWT_ISSUER,
        private_uploads::stack::JWT_AUDIENCE,
    )?;
    println!("{}", idp.mint(user, chrono::Utc::now().timestamp(), ttl)?);
    Ok(())
}

fn keygen(kind: KeyKind, key_pair_id: &str) -> Result<(), String> {
    let (public, secret) = private_uploads::commands::keygen(kind, key_pair_id)?;
    eprintln!("# Public key: the template's CloudFrontPublicKeyPem parameter.");
    print!("{public}");
    eprintln!(
        "# Secret JSON: aws secretsmanager put-secret-value --secret-id <SecretArn> --secret-string file://secret.json"
    );
    println!("{secret}");
    Ok(())
}

fn sign_url(
    key_file: &std::path::Path,
    key_pair_id: &str,
    expires: &str,
    hash: &str,
    urls: &[String],
) -> Result<(), String> {
    let pem = std::fs::read_to_string(key_file)
        .map_err(|e| format!("cannot read {}: {e}", key_file.display()))?;
    let key = SigningKey::from_pem(key_pair_id, &pem).map_err(|e| e.to_string())?;
    let expires =
        private_uploads::commands::parse_expires(expires, chrono::Utc::now().timestamp())?;
    let hash = HashAlgorithm::parse(hash).ok_or("--hash must be sha1 or sha256")?;
    let signed =
        private_uploads::commands::sign_urls(&key, expires, hash, urls, std::io::stdin().lock())?;
    let mut out = std::io::stdout().lock();
    for url in signed {
        writeln!(out, "{url}").map_err(|e| e.to_string())?;
    }
    Ok(())
}
