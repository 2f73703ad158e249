//! The local stand-in for DynamoDB, Secrets Manager and STS: moto server as a child process
//! on loopback, and the stack's table and secret created in it as the template declares
//! them.
//!
//! moto checks what we need from these services (conditional writes, secrets, AssumeRole);
//! it is not used for S3, whose presigned URLs it accepts without checking them. It runs
//! with its requests serialized (`moto_serialized.py`), because its DynamoDB transactions
//! are not isolated from concurrent requests and DynamoDB's are.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use shared::aws::error_summary;
use tokio::process::{Child, Command};

use super::template::TableSpec;

/// How to get moto when it is missing, for error messages.
pub const INSTALL_HINT: &str = "moto_server was not found. Run ./scripts/test once (it creates .venv with moto), \
or: python3 -m venv .venv && .venv/bin/pip install 'moto[server]'; or set MOTO_SERVER to its path.";

/// `MOTO_SERVER`, else `<dir>/.venv/bin/moto_server` for `dir` and its ancestors, else PATH.
pub fn find_moto_server(start: &Path) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "MOTO_SERVER={} does not exist. {INSTALL_HINT}",
                path.display()
            ))
        };
    }
    for dir in start.ancestors() {
        let candidate = dir.join(".venv/bin/moto_server");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
        .ok_or_else(|| INSTALL_HINT.to_owned())
}

/// moto's server, with each request handled alone (see the file: moto's DynamoDB
/// transactions are not isolated otherwise).
const SERIALIZED: &str = include_str!("moto_serialized.py");

/// The Python that runs `moto_server` (its `#!` line), which can import moto.
fn interpreter(program: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read(program)
        .map_err(|e| format!("cannot read {}: {e}. {INSTALL_HINT}", program.display()))?;
    let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(first);
    line.strip_prefix("#!")
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|python| Path::new(python).is_file())
        .map(PathBuf::from)
        .ok_or_else(|| {
            format!(
                "{} is not the moto_server script of a Python environment. {INSTALL_HINT}",
                program.display()
            )
        })
}

/// A running moto server; killed when dropped.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Start `program` on 127.0.0.1 (`port` 0 picks a free one) and wait until it accepts
    /// connections.
    /// The moto server's process id (to read its CPU time), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn start(program: &Path, port: u16) -> Result<Self, String> {
        let port = if port == 0 { free_port()? } else { port };
        let python = interpreter(program)?;
        let child = Command::new(&python)
            .args(["-c", SERIALIZED, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}. {INSTALL_HINT}", program.display()))?;
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "moto_server exited at start ({status}); is port {port} free?"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not listen on 127.0.0.1:{port} within 60 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kill the server and wait for it to exit.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Stop the server and wait for it to exit.
    pub async fn stop(mut self) {
        self.kill().await;
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// The moto version the project pins (same as tests/requirements.txt).
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// Find moto, or install it into `<project>/.venv` on first use.
pub fn ensure_installed(project: &Path) -> Result<PathBuf, String> {
    if let Ok(found) = find_moto_server(project) {
        return Ok(found);
    }
    let venv = project.join(".venv");
    eprintln!(
        "moto not found: installing {MOTO_REQUIREMENT} into {} (first run only)…",
        venv.display()
    );
    let run = |program: &Path, args: &[&str]| -> Result<(), String> {
        let status = std::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} {} failed ({status})",
                program.display(),
                args.join(" ")
            ))
        }
    };
    if !venv.join("bin/python").is_file() {
        run(
            Path::new("python3"),
            &["-m", "venv", &venv.to_string_lossy()],
        )?;
    }
    run(
        &venv.join("bin/pip"),
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
        ],
    )?;
    let installed = venv.join("bin/moto_server");
    if installed.is_file() {
        Ok(installed)
    } else {
        Err(INSTALL_HINT.to_owned())
    }
}

/// The ownership table as `template.yaml` declares it: its hash and range keys (strings),
/// on demand, TTL on its TTL attribute.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    spec: &TableSpec,
) -> Result<(), String> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(&spec.partition_key)?)
        .attribute_definitions(attribute(&spec.sort_key)?)
        .key_schema(key(&spec.partition_key, KeyType::Hash)?)
        .key_schema(key(&spec.sort_key, KeyType::Range)?)
        .send()
        .await
        .map_err(|e| format!("CreateTable {name}: {}", error_summary(&e)))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&spec.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("UpdateTimeToLive {name}: {}", error_summary(&e)))?;
    Ok(())
}

/// The signing-key secret, holding `{"key_pair_id", "private_key_pem"}`. Returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    key_pair_id: &str,
    private_key_pem: &str,
) -> Result<String, String> {
    let value = serde_json::json!({"key_pair_id": key_pair_id, "private_key_pem": private_key_pem})
        .to_string();
    let out = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| format!("CreateSecret {name}: {}", error_summary(&e)))?;
    Ok(out.arn.unwrap_or_default())
}
