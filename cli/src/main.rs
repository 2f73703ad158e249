//! `private-uploads`: run the whole stack locally, mint dev tokens, make key pairs, and sign
//! CloudFront URLs with the same code the view function uses. Argument parsing only; each
//! subcommand lives in `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use private_uploads::commands;
use private_uploads::keys::KeyKind;

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
        /// Serve the page from this directory instead of the copy built into the binary
        /// (to edit it without rebuilding; `web` also serves the Uppy example once built).
        #[arg(long)]
        web_dir: Option<PathBuf>,
    },
    /// Print a JWT for USER that the local stack started with the same --data-dir accepts.
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
    /// One step of a signing-key rotation, applied to the secret JSON read on stdin (the
    /// result goes to stdout): see the README's runbook.
    RotateKey {
        #[command(subcommand)]
        step: RotateStep,
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

#[derive(Subcommand)]
enum RotateStep {
    /// Add the next key (its private key PEM file and its KeyPairId2/KeyPairId output).
    Add {
        #[arg(long)]
        key_pair_id: String,
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Sign with this key from the functions' next refresh.
    Activate { key_pair_id: String },
    /// Drop a key that is no longer active.
    Remove { key_pair_id: String },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Up {
            port,
            data_dir,
            web_dir,
        } => commands::up::run(port, data_dir, web_dir),
        Command::Token {
            user,
            ttl,
            data_dir,
        } => commands::token::run(&user, ttl, &data_dir),
        Command::Keygen {
            ecdsa, key_pair_id, ..
        } => commands::keygen::run(
            if ecdsa { KeyKind::Ecdsa } else { KeyKind::Rsa },
            &key_pair_id,
        ),
        Command::RotateKey { step } => commands::rotate_key::run(&match &step {
            RotateStep::Add {
                key_pair_id,
                key_file,
            } => commands::rotate_key::Step::Add {
                key_pair_id,
                key_file,
            },
            RotateStep::Activate { key_pair_id } => {
                commands::rotate_key::Step::Activate(key_pair_id)
            }
            RotateStep::Remove { key_pair_id } => commands::rotate_key::Step::Remove(key_pair_id),
        }),
        Command::SignUrl {
            key_file,
            key_pair_id,
            expires,
            hash,
            urls,
        } => commands::sign_url::run(&key_file, &key_pair_id, &expires, &hash, &urls),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("private-uploads: {message}");
            ExitCode::FAILURE
        }
    }
}
