//! `private-uploads`: run the whole stack locally, mint dev tokens, make key pairs, and sign
//! CloudFront URLs with the same code the view function uses. Argument parsing only; each
//! subcommand lives in `commands/`.
//!
//! Exit codes: 0 done, 1 failed, 2 a usage error (clap's, and every argument checked here).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, CommandFactory, FromArgMatches, Parser, Subcommand};
use private_uploads::commands::{self, checkout};
use private_uploads::keys::KeyKind;

#[derive(Parser)]
#[command(
    name = "private-uploads",
    version,
    about = "private-uploads: the local stack, dev tokens, signing keys and URL signing",
    long_about = "private-uploads: the local stack, dev tokens, signing keys and URL signing.\n\n\
        Exit codes: 0 done, 1 failed, 2 a usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `.local` at the checkout's root, whatever the current directory.
fn default_data_dir() -> PathBuf {
    checkout().join(".local")
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole stack on 127.0.0.1 until Ctrl-C or SIGTERM: the HTTP API and the upload
    /// page on PORT, S3 and STS on PORT+1, the CDN on PORT+2, moto on PORT+3.
    Up {
        /// The first of the four ports.
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Keys (kept across runs, so tokens and keys survive restarts), objects (cleared at
        /// each start) and the outputs file.
        #[arg(long, value_name = "DIR", default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
        /// Serve the page from this directory instead of the copy built into the binary (to
        /// edit it without rebuilding; `web` also serves the Uppy example once built).
        #[arg(long, value_name = "DIR")]
        web_dir: Option<PathBuf>,
        /// Make the functions' AWS calls fail, e.g. `dynamodb:down:60s,sts:throttle:3x`
        /// (docs/local-stack.md, "Faults on demand"); `PUT /local/faults` changes it later.
        #[arg(
            long,
            value_name = "PLAN",
            env = "PRIVATE_UPLOADS_FAULTS",
            default_value = ""
        )]
        faults: String,
        /// A moto_server whose Python has moto. Default: the checkout's .venv, then
        /// moto_server and python3 on PATH (shims included), else moto is installed into
        /// the checkout's .venv.
        #[arg(long, value_name = "PATH", env = "MOTO_SERVER")]
        moto_server: Option<PathBuf>,
        /// The log filter (`info`, `debug`, `issue_upload_url=trace`, …); secrets are never
        /// logged at any level.
        #[arg(
            long,
            value_name = "FILTER",
            env = "RUST_LOG",
            default_value = "info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn"
        )]
        log: String,
        /// `json`: each log line one flat JSON object, as the functions write them on Lambda
        /// (the template sets `LogFormat: JSON`); `text`: coloured text. The functions' metric
        /// lines (CloudWatch EMF) are printed as they are either way.
        #[arg(long, value_name = "FORMAT", env = "AWS_LAMBDA_LOG_FORMAT", default_value = "text", value_parser = ["text", "json", "TEXT", "JSON"])]
        log_format: String,
    },
    /// Print a JWT for USER that the local stack started with the same --data-dir accepts.
    Token {
        /// The user's name: the token's `sub`.
        #[arg(value_parser = non_empty)]
        user: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=86_400))]
        ttl: i64,
        /// The data directory of the stack that should accept it.
        #[arg(long, value_name = "DIR", default_value_os_t = default_data_dir())]
        data_dir: PathBuf,
    },
    /// Make a CloudFront key pair (RSA-2048, or P-256 with --ecdsa) into named files: the
    /// public key for a key slot of the template, and the private key or the secret JSON.
    #[command(group(ArgGroup::new("private").required(true).multiple(true).args(["private_out", "secret_out"])))]
    Keygen {
        /// An ECDSA P-256 key instead of RSA-2048.
        #[arg(long)]
        ecdsa: bool,
        /// Where the public key goes (PEM): `CloudFrontPublicKeyPem` or `…Pem2`.
        #[arg(long, value_name = "FILE")]
        public_out: PathBuf,
        /// Where the private key goes (PEM, mode 600); `private-uploads secret` makes the
        /// secret JSON from it once the stack's KeyPairId output is known.
        #[arg(long, value_name = "FILE")]
        private_out: Option<PathBuf>,
        /// Where the secret JSON goes (mode 600), for `put-secret-value`. Needs --key-pair-id.
        #[arg(long, value_name = "FILE", requires = "key_pair_id")]
        secret_out: Option<PathBuf>,
        /// The stack's KeyPairId (or KeyPairId2) output, named in the secret JSON.
        #[arg(long, value_name = "K…", value_parser = key_pair_id)]
        key_pair_id: Option<String>,
    },
    /// Write the signing-key secret's JSON for a private key: what `aws secretsmanager
    /// put-secret-value --secret-string file://…` puts.
    Secret {
        /// The stack's KeyPairId (or KeyPairId2) output: the id the key group knows the key by.
        #[arg(long, value_name = "K…", value_parser = key_pair_id)]
        key_pair_id: String,
        /// The private key (PEM: PKCS#8 or PKCS#1 RSA, or P-256).
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        /// Write it here (mode 600) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// One step of a signing-key rotation, applied to the secret JSON read on stdin (the
    /// result goes to stdout): see docs/operations.md, "Rotate the signing key".
    RotateKey {
        #[command(subcommand)]
        step: RotateStep,
    },
    /// Sign URLs (arguments, or one per line on stdin) with a canned policy, one signed URL
    /// per line, with the same code as the view function.
    SignUrl {
        /// The private key (PEM).
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
        /// The id the key group knows the key by.
        #[arg(long, value_name = "K…", value_parser = key_pair_id)]
        key_pair_id: String,
        /// When the URLs expire: epoch seconds, or a duration such as 30m, 12h, 7d.
        #[arg(long, value_name = "WHEN", value_parser = expires_at)]
        expires: i64,
        /// The hash of the signature.
        #[arg(long, default_value = "sha256", value_parser = ["sha1", "sha256"])]
        hash: String,
        /// Percent-encoded http(s) URLs, as viewers request them (none: read stdin).
        #[arg(value_name = "URL")]
        urls: Vec<String>,
    },
}

#[derive(Subcommand)]
enum RotateStep {
    /// Add the next key to the secret; the active key does not change.
    Add {
        /// The next key's id: the KeyPairId2 (or KeyPairId) output.
        #[arg(long, value_name = "K…", value_parser = key_pair_id)]
        key_pair_id: String,
        /// Its private key (PEM).
        #[arg(long, value_name = "FILE")]
        key_file: PathBuf,
    },
    /// Sign with this key from the view function's next refresh of the secret.
    Activate {
        /// A key the secret holds.
        #[arg(value_name = "KEY_PAIR_ID", value_parser = key_pair_id)]
        key_pair_id: String,
    },
    /// Drop a key that is no longer active.
    Remove {
        /// A key the secret holds, other than the active one.
        #[arg(value_name = "KEY_PAIR_ID", value_parser = key_pair_id)]
        key_pair_id: String,
    },
}

/// `--expires`, read when the command starts: a malformed or past time is a usage error.
fn expires_at(text: &str) -> Result<i64, String> {
    commands::sign_url::parse_expires(text, chrono::Utc::now().timestamp())
}

fn key_pair_id(text: &str) -> Result<String, String> {
    commands::keygen::parse_key_pair_id(text).map_err(|e| e.to_string())
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_owned())
    }
}

/// `up --help` also lists the settings the template's parameters set, which `up` takes
/// from its environment (read from the template, so the list is never stale).
fn command() -> clap::Command {
    let settings = commands::up::settings_help();
    Cli::command().mut_subcommand("up", |up| up.after_long_help(settings))
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match cli.command {
        Command::Up {
            port,
            data_dir,
            web_dir,
            faults,
            moto_server,
            log,
            log_format,
        } => commands::up::run(commands::up::UpOptions {
            port,
            data_dir,
            web_dir,
            faults,
            moto_server,
            log,
            json_logs: log_format.eq_ignore_ascii_case("json"),
        }),
        Command::Token {
            user,
            ttl,
            data_dir,
        } => commands::token::run(&user, ttl, &data_dir),
        Command::Keygen {
            ecdsa,
            public_out,
            private_out,
            secret_out,
            key_pair_id,
        } => commands::keygen::run(
            if ecdsa { KeyKind::Ecdsa } else { KeyKind::Rsa },
            &commands::keygen::KeygenOut {
                public: &public_out,
                private: private_out.as_deref(),
                secret: secret_out.as_deref().zip(key_pair_id.as_deref()),
            },
        ),
        Command::Secret {
            key_pair_id,
            key_file,
            out,
        } => commands::keygen::secret(&key_pair_id, &key_file, out.as_deref()),
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
        } => commands::sign_url::run(&key_file, &key_pair_id, expires, &hash, &urls),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain: what failed, and each cause under it.
            eprintln!("private-uploads: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_and_argument_has_help() {
        command().debug_assert();
        fn walk(cmd: &clap::Command, path: &str) {
            let path = format!("{path} {}", cmd.get_name());
            if path.trim() != "private-uploads" {
                assert!(cmd.get_about().is_some(), "{path} has no help");
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} {id} has no help");
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &path);
                }
            }
        }
        walk(&command(), "");
    }

    #[test]
    fn up_help_lists_every_variable_it_reads() {
        let mut cmd = command();
        let up = cmd.find_subcommand_mut("up").unwrap();
        let help = up.render_long_help().to_string();
        for variable in [
            "PRIVATE_UPLOADS_FAULTS",
            "MOTO_SERVER",
            "RUST_LOG",
            "AWS_LAMBDA_LOG_FORMAT",
            "ALLOWED_CONTENT_TYPES",
            "MAX_UPLOAD_BYTES",
            "QUOTA_FILES",
        ] {
            assert!(
                help.contains(variable),
                "{variable} missing from up --help:\n{help}"
            );
        }
    }

    #[test]
    fn usage_errors_exit_2() {
        for args in [
            vec!["private-uploads", "keygen", "--public-out", "p.pem"],
            vec![
                "private-uploads",
                "keygen",
                "--public-out",
                "p.pem",
                "--secret-out",
                "s.json",
            ],
            vec![
                "private-uploads",
                "keygen",
                "--public-out",
                "p",
                "--secret-out",
                "s",
                "--key-pair-id",
                "REPLACE_WITH_KeyPairId_OUTPUT",
            ],
            vec![
                "private-uploads",
                "keygen",
                "--rsa",
                "--public-out",
                "p",
                "--private-out",
                "k",
            ],
            vec!["private-uploads", "token", ""],
            vec!["private-uploads", "token", "alice", "--ttl", "0"],
            vec!["private-uploads", "rotate-key", "activate", "placeholder"],
        ] {
            let err = match command().try_get_matches_from(&args) {
                Ok(_) => panic!("{args:?} parsed"),
                Err(err) => err,
            };
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
        let err = command()
            .try_get_matches_from([
                "private-uploads",
                "secret",
                "--key-pair-id",
                "REPLACE_WITH_KeyPairId_OUTPUT",
                "--key-file",
                "k",
            ])
            .unwrap_err();
        assert!(
            err.to_string().contains("not a CloudFront public key id"),
            "{err}"
        );
    }
}
