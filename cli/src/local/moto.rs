//! The local stand-in for DynamoDB, Secrets Manager and STS: moto server as a child process
//! on loopback, and the stack's table and secret created in it as the template declares
//! them.
//!
//! moto checks what we need from these services (conditional writes, secrets, AssumeRole);
//! it is not used for S3, whose presigned URLs it accepts without checking them. It runs
//! with its requests serialized (`moto_serialized.py`), because its DynamoDB transactions
//! are not isolated from concurrent requests and DynamoDB's are. That script needs a Python
//! that can import moto, so that is what [`find_moto_python`] looks for: whatever shape
//! `moto_server` has on PATH (a venv's script, a pyenv or asdf shim, an `env python3`
//! script), each candidate Python is asked whether it can import moto.

use anyhow::anyhow;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use shared::aws::error_summary;
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

use super::template::TableSpec;

/// How to get moto by hand, for error messages.
pub const INSTALL_HINT: &str = "Run ./scripts/test once (it creates .venv with moto), \
or: python3 -m venv .venv && .venv/bin/pip install 'moto[server]'; or set MOTO_SERVER to a moto_server \
whose Python can import moto.";

/// The moto version the project pins (same as tests/requirements.txt).
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

/// What a Python is asked: can it import moto's server, and which executable is it really
/// (a shim answers with the interpreter it runs).
const PROBE: &str = "import sys, moto.server; print(sys.executable)";

/// Where to look for a Python that can import moto: the process environment by default;
/// tests give their own.
pub struct MotoSearch {
    /// The checkout: its `.venv` is tried first.
    pub project: PathBuf,
    /// `MOTO_SERVER`: a `moto_server` to take the Python of (only that one is tried).
    pub moto_server: Option<OsString>,
    /// `PATH`: `moto_server` and `python3` are looked up there.
    pub path: Option<OsString>,
}

impl MotoSearch {
    pub fn from_env(project: &Path) -> Self {
        Self {
            project: project.to_owned(),
            moto_server: std::env::var_os("MOTO_SERVER").filter(|v| !v.is_empty()),
            path: std::env::var_os("PATH"),
        }
    }

    fn on_path(&self, program: &str) -> Option<PathBuf> {
        let paths = self.path.as_deref()?;
        std::env::split_paths(paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }

    /// The Pythons worth asking, in order, each with where it came from.
    fn candidates(&self) -> Vec<(String, PathBuf)> {
        let mut found = Vec::new();
        if let Some(server) = &self.moto_server {
            let server = PathBuf::from(server);
            if let Some(python) = self.shebang_python(&server) {
                found.push((
                    format!("the Python of MOTO_SERVER={}", server.display()),
                    python,
                ));
            }
            return found;
        }
        found.push((
            "the checkout's .venv".to_owned(),
            self.project.join(".venv/bin/python"),
        ));
        if let Some(server) = self.on_path("moto_server")
            && let Some(python) = self.shebang_python(&server)
        {
            found.push((format!("the Python of {}", server.display()), python));
        }
        if let Some(python) = self.on_path("python3") {
            found.push(("python3 on PATH".to_owned(), python));
        }
        found
    }

    /// The Python a script's `#!` line names, directly or through `env` (`#!/usr/bin/env
    /// python3`, `env -S python3 -u`); none when the line names something else (a shell
    /// script: a pyenv or asdf shim, a wrapper).
    fn shebang_python(&self, script: &Path) -> Option<PathBuf> {
        let text = std::fs::read(script).ok()?;
        let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(first);
        let mut words = line.strip_prefix("#!")?.split_whitespace();
        let program = words.next()?;
        let python = if Path::new(program).file_name() == Some(OsStr::new("env")) {
            let name = words.find(|w| !w.starts_with('-'))?;
            if name.contains('/') {
                PathBuf::from(name)
            } else {
                self.on_path(name)?
            }
        } else {
            PathBuf::from(program)
        };
        let name = python.file_name()?.to_string_lossy().into_owned();
        (name.starts_with("python") || name.starts_with("pypy")).then_some(python)
    }
}

/// Why no Python with moto was found: each candidate and what it answered.
#[derive(Debug)]
pub struct MotoNotFound {
    /// `MOTO_SERVER` was set: installing elsewhere would not honour it.
    pub explicit: bool,
    pub tried: Vec<String>,
}

impl std::fmt::Display for MotoNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.explicit {
            "MOTO_SERVER names no Python that can import moto"
        } else {
            "no Python here can import moto"
        };
        write!(
            f,
            "{what} (tried: {}). {INSTALL_HINT}",
            self.tried.join("; ")
        )
    }
}

/// A Python interpreter that imports moto: its real executable (not a shim).
pub fn find_moto_python(search: &MotoSearch) -> Result<PathBuf, MotoNotFound> {
    let mut tried = Vec::new();
    if let Some(server) = &search.moto_server
        && search.candidates().is_empty()
    {
        tried.push(format!(
            "MOTO_SERVER={}: not a Python script (no #!…python line)",
            PathBuf::from(server).display()
        ));
    }
    for (origin, python) in search.candidates() {
        match probe(&python) {
            Ok(real) => return Ok(real),
            Err(answer) => tried.push(format!("{origin} ({}): {answer}", python.display())),
        }
    }
    Err(MotoNotFound {
        explicit: search.moto_server.is_some(),
        tried,
    })
}

/// Ask `python` whether it can import moto; `Ok` holds its real executable.
fn probe(python: &Path) -> anyhow::Result<PathBuf> {
    if !python.is_file() {
        return Err(anyhow!("missing"));
    }
    let output = run_with_deadline(
        std::process::Command::new(python).args(["-c", PROBE]),
        Duration::from_secs(60),
    )?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return Err(anyhow!("{}", last.unwrap_or("exited with an error").trim()));
    }
    let real = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    Ok(if real.is_file() {
        real
    } else {
        python.to_owned()
    })
}

/// Run a short command, killing it if it has not finished by `deadline`.
fn run_with_deadline(
    command: &mut std::process::Command,
    deadline: Duration,
) -> anyhow::Result<std::process::Output> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow!("cannot run: {e}"))?;
    let until = Instant::now() + deadline;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| anyhow!("{e}")),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(anyhow!("no answer within {} s", deadline.as_secs()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Find a Python with moto, or install moto into `<project>/.venv` (saying so) and use that.
pub fn ensure_installed(project: &Path) -> anyhow::Result<PathBuf> {
    let search = MotoSearch::from_env(project);
    let not_found = match find_moto_python(&search) {
        Ok(python) => return Ok(python),
        Err(not_found) if not_found.explicit => return Err(anyhow!("{not_found}")),
        Err(not_found) => not_found,
    };
    let venv = project.join(".venv");
    eprintln!(
        "moto: {}.\nmoto: installing {MOTO_REQUIREMENT} into {} (first run only, about a minute)…",
        not_found.tried.join("; "),
        venv.display()
    );
    let run = |program: &Path, args: &[&str]| -> anyhow::Result<()> {
        let status = std::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| anyhow!("cannot run {}: {e}. {INSTALL_HINT}", program.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(anyhow!(
                "{} {} failed ({status}). {INSTALL_HINT}",
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
    let python = venv.join("bin/python");
    probe(&python).map_err(|answer| {
        anyhow!(
            "{} still cannot import moto after installing it: {answer}",
            python.display()
        )
    })
}

/// How much of moto's own output is kept to explain a failed start.
const STDERR_LINES: usize = 40;

/// A running moto server; killed when dropped.
pub struct Moto {
    pub endpoint: String,
    child: Child,
    /// The last lines moto printed on stderr.
    stderr: Arc<Mutex<std::collections::VecDeque<String>>>,
}

impl Moto {
    /// The moto server's process id (to read its CPU time), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Start moto with `python` (one that imports it: [`find_moto_python`]) on 127.0.0.1
    /// (`port` 0 picks a free one) and wait until it accepts connections. If it exits
    /// first, the error holds what it printed.
    pub async fn start(python: &Path, port: u16) -> anyhow::Result<Self> {
        let port = if port == 0 {
            free_port()?
        } else {
            // Something else listening there would look like moto answering.
            std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
                anyhow!("cannot use 127.0.0.1:{port} for moto: {e} (is another stack running? try --port)")
            })?;
            port
        };
        let mut child = Command::new(python)
            .args(["-c", SERIALIZED, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow!(
                    "cannot start moto with {}: {e}. {INSTALL_HINT}",
                    python.display()
                )
            })?;
        // moto logs every request on stderr: keep reading it, keep the tail.
        let stderr = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            let tail = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut tail = tail
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if tail.len() == STDERR_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            });
        }
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            stderr,
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
                // Let the reader take the last lines the process wrote.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(anyhow!(
                    "moto ({} -c moto_serialized.py -p {port}) exited at start ({status}); it printed:\n{}",
                    python.display(),
                    moto.printed()
                ));
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "moto did not listen on 127.0.0.1:{port} within 60 s; it printed:\n{}",
                    moto.printed()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What moto last printed on stderr (or a note that it printed nothing).
    fn printed(&self) -> String {
        let tail = self
            .stderr
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tail.is_empty() {
            "(nothing)".to_owned()
        } else {
            tail.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
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

/// moto's server, with each request handled alone (see the file: moto's DynamoDB
/// transactions are not isolated otherwise).
const SERIALIZED: &str = include_str!("moto_serialized.py");

/// A port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| anyhow!("no free port on 127.0.0.1: {e}"))
}

/// The ownership table as `template.yaml` declares it: its hash and range keys (strings),
/// on demand, TTL on its TTL attribute.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    spec: &TableSpec,
) -> anyhow::Result<()> {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| anyhow!("{e}"))
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| anyhow!("{e}"))
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
        .map_err(|e| anyhow!("CreateTable {name}: {}", error_summary(&e)))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(&spec.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(|e| anyhow!("{e}"))?,
        )
        .send()
        .await
        .map_err(|e| anyhow!("UpdateTimeToLive {name}: {}", error_summary(&e)))?;
    Ok(())
}

/// The signing-key secret, holding `{"key_pair_id", "private_key_pem"}`. Returns its ARN.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    key_pair_id: &str,
    private_key_pem: &str,
) -> anyhow::Result<String> {
    let value = serde_json::json!({"key_pair_id": key_pair_id, "private_key_pem": private_key_pem})
        .to_string();
    let out = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| anyhow!("CreateSecret {name}: {}", error_summary(&e)))?;
    Ok(out.arn.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// The bin directory of a venv with moto (the test command's), or a failure saying how
    /// to get one.
    fn venv_bin() -> PathBuf {
        let from_env = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .and_then(|p| p.parent().map(Path::to_owned));
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin");
        from_env
            .into_iter()
            .chain([checkout])
            .find(|dir| dir.join("python3").is_file())
            .unwrap_or_else(|| panic!("these tests need a venv with moto. {INSTALL_HINT}"))
    }

    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn search(project: &Path, path: &[&Path]) -> MotoSearch {
        MotoSearch {
            project: project.to_owned(),
            moto_server: None,
            path: Some(std::env::join_paths(path).unwrap()),
        }
    }

    #[test]
    fn a_pyenv_shim_first_on_path_does_not_hide_moto() {
        let project = tempfile::tempdir().unwrap();
        let shims = tempfile::tempdir().unwrap();
        // The shape of a pyenv shim: a bash script, not a Python.
        script(
            shims.path(),
            "moto_server",
            "#!/usr/bin/env bash\nset -e\nexec pyenv exec moto_server \"$@\"\n",
        );
        let venv = venv_bin();
        let python = find_moto_python(&search(project.path(), &[shims.path(), &venv]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            python.canonicalize().unwrap(),
            venv.join("python3").canonicalize().unwrap(),
            "the venv's Python, found through python3 on PATH"
        );
    }

    #[test]
    fn an_env_python3_script_names_its_python() {
        let project = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        script(
            bin.path(),
            "moto_server",
            "#!/usr/bin/env python3\nfrom moto.server import main\nmain()\n",
        );
        let venv = venv_bin();
        let mut with_env = search(project.path(), &[bin.path(), &venv]);
        with_env.moto_server = Some(bin.path().join("moto_server").into());
        let python = find_moto_python(&with_env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            python.canonicalize().unwrap(),
            venv.join("python3").canonicalize().unwrap()
        );
    }

    #[test]
    fn nothing_found_says_what_was_tried() {
        let project = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        script(bin.path(), "moto_server", "#!/usr/bin/env bash\nexit 1\n");
        // A python3 that cannot import moto.
        script(
            bin.path(),
            "python3",
            "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'moto'\" >&2\nexit 1\n",
        );
        let err = find_moto_python(&search(project.path(), &[bin.path()])).unwrap_err();
        assert!(!err.explicit);
        let text = err.to_string();
        assert!(text.contains("the checkout's .venv"), "{text}");
        assert!(text.contains("missing"), "{text}");
        assert!(text.contains("No module named 'moto'"), "{text}");
        assert!(text.contains("./scripts/test"), "{text}");

        let mut explicit = search(project.path(), &[bin.path()]);
        explicit.moto_server = Some(bin.path().join("moto_server").into());
        let err = find_moto_python(&explicit).unwrap_err();
        assert!(err.explicit, "MOTO_SERVER set: never install elsewhere");
        assert!(err.to_string().contains("not a Python script"), "{err}");
    }

    #[tokio::test]
    async fn a_failed_start_says_what_moto_printed() {
        let bin = tempfile::tempdir().unwrap();
        let python = script(
            bin.path(),
            "python3",
            "#!/bin/sh\necho 'Traceback (most recent call last):' >&2\necho 'OSError: [Errno 98] boom' >&2\nexit 3\n",
        );
        let err = match Moto::start(&python, 0).await {
            Ok(_) => panic!("a Python that exits at once started moto"),
            Err(err) => err,
        };
        assert!(err.to_string().contains("exited at start"), "{err}");
        assert!(
            err.to_string().contains("OSError: [Errno 98] boom"),
            "moto's own words: {err}"
        );
        assert!(
            !err.to_string().contains("is port"),
            "no guess about the port: {err}"
        );
    }

    #[tokio::test]
    async fn a_taken_port_is_named_before_moto_starts() {
        let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let err = match Moto::start(Path::new("/nonexistent/python3"), port).await {
            Ok(_) => panic!("started on a taken port"),
            Err(err) => err,
        };
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert!(err.to_string().to_lowercase().contains("in use"), "{err}");
    }
}
