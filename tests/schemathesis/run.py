#!/usr/bin/env python3
"""Property tests from docs/openapi.yaml (schemathesis) against `private-uploads up`.

    .venv/bin/python tests/schemathesis/run.py [--bin target/debug/private-uploads]
        [--max-examples 25] [--seed 20261128] [--port P] [--workers 2]

Starts `private-uploads up` on free ports with a fresh data directory, mints tokens for alice
and bob, gives each a ready file, a pending presigned upload and a pending multipart upload,
then runs `st run docs/openapi.yaml` as alice with every phase (examples, coverage, fuzzing,
stateful; positive and negative data) and these checks: not_a_server_error,
response_schema_conformance, status_code_conformance, content_type_conformance,
response_headers_conformance, ignored_auth (a request without, or with a made-up, token is
refused), and not_another_users_file (hooks.py: bob's file ids get alice 400 or 404 only).
Then it restarts `up` (same keys, so the same tokens) with every dependency down
(PRIVATE_UPLOADS_FAULTS, see docs/local-stack.md, *Faults on demand*) and runs a short positive pass
checking that the outage answers are the documented 503s (schema, status, content type,
`Retry-After`). It prints the statuses seen per operation next to the documented ones, stops
`up`, and exits non-zero when schemathesis found a failure or a documented status was not
reached.

Needs the binary (`--bin`, or PRIVATE_UPLOADS_BIN) and moto (MOTO_SERVER, default the
moto_server beside this Python); it stops with a message when either is missing. It makes no
request beyond 127.0.0.1 (schemathesis 4 has no telemetry or report upload).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent
HERE = Path(__file__).resolve().parent
DOC = ROOT / "docs" / "openapi.yaml"

CHECKS = [
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "ignored_auth",
    "not_another_users_file",
]

# The second pass: every dependency of the functions down from the start (the signing key
# never loads), so that every operation meets an outage.
OUTAGE = "dynamodb:down,secretsmanager:down,sts:down,s3:down"
OUTAGE_CHECKS = [
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
]

# Documented statuses schemathesis cannot provoke through `up`, and what reaches them instead.
NOT_REACHABLE: dict[int, str] = {}
# Documented answers of one operation this run leaves alone on purpose, and where they are
# reached instead.
UNREACHED: dict[tuple[str, int], str] = {
    ("POST /uploads/multipart", 429): (
        "too_many_unfinished_uploads would stop the hooks' own multipart uploads of alice; "
        "tests/local_stack.rs reaches it over HTTP and holds it to this document"
    ),
}


def fail(message: str) -> None:
    print(f"tests/schemathesis/run.py: {message}", file=sys.stderr)
    sys.exit(2)


def free_port_block(count: int = 4) -> int:
    """A port P such that P..P+count-1 are free on 127.0.0.1 now."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    fail("found no 4 consecutive free ports on 127.0.0.1")
    raise AssertionError


def documented_statuses(path: Path) -> dict[str, set[int]]:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, set[int]] = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            out[f"{method.upper()} {path}"] = {
                int(s) for s in operation["responses"] if s != "default"
            }
    return out


class Stack:
    """`private-uploads up` on `port`, in its own process group, stopped by `stop()`."""

    def __init__(self, binary: str, port: int, data_dir: Path, env: dict[str, str], log: str = "up.log"):
        self.binary, self.port, self.data_dir, self.env = binary, port, data_dir, env
        self.api = f"http://127.0.0.1:{port}"
        self.log_path = data_dir.parent / log
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "up", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 120) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"`up` exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}")
            if "private-uploads is up" in self.log_path.read_text(errors="replace"):
                try:
                    if requests.get(f"{self.api}/openapi.yaml", timeout=5).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        fail(f"`up` was not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def token(self, user: str) -> str:
        out = subprocess.run(
            [self.binary, "token", user, "--data-dir", str(self.data_dir)],
            env=self.env, capture_output=True, text=True, check=False,
        )
        if out.returncode != 0:
            fail(f"`token {user}` failed: {out.stderr}")
        return out.stdout.strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print("`up` ignored SIGTERM for 30 s; killing its process group", file=sys.stderr)
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def seed(api: str, token: str) -> dict[str, str]:
    """A ready file, a pending presigned upload and a pending multipart upload of one user."""
    import requests

    auth = {"authorization": f"Bearer {token}"}
    body = b"hello"
    issue = {"filename": "seed.txt", "content_type": "text/plain", "size": len(body)}

    def post(path: str) -> dict:
        r = requests.post(f"{api}{path}", headers=auth, json=issue, timeout=30)
        if r.status_code != 201:
            fail(f"seeding: POST {path} answered {r.status_code}: {r.text}")
        return r.json()

    ready = post("/uploads")
    put = requests.put(ready["upload"]["url"], data=body, headers=ready["upload"]["headers"], timeout=30)
    if put.status_code != 200:
        fail(f"seeding: the PUT answered {put.status_code}: {put.text}")
    pending = post("/uploads")
    multipart = post("/uploads/multipart")
    deadline = time.monotonic() + 30
    while True:
        got = requests.get(f"{api}/files/{ready['file_id']}", headers=auth, timeout=30).json()
        if got.get("status") == "ready":
            break
        if time.monotonic() > deadline:
            fail(f"seeding: {ready['file_id']} is still {got} after 30 s")
        time.sleep(0.1)
    return {
        "ready_file_id": ready["file_id"],
        "pending_file_id": pending["file_id"],
        "multipart_file_id": multipart["file_id"],
        "prefix": ready["key"].rsplit("/", 1)[0] + "/",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bin",
        default=os.environ.get("PRIVATE_UPLOADS_BIN", str(ROOT / "target" / "debug" / "private-uploads")),
        help="the private-uploads binary (default: $PRIVATE_UPLOADS_BIN or target/debug/private-uploads)",
    )
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", 25)))
    parser.add_argument(
        "--seed",
        default=os.environ.get("SCHEMATHESIS_SEED", "20261128"),
        help="hypothesis seed, an integer or `random` (default fixed, so CI replays the same cases)",
    )
    parser.add_argument("--port", type=int, default=0, help="the API's port (P..P+3 are used); default: free ones")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--doc", default=str(DOC), help="the OpenAPI document (default docs/openapi.yaml)")
    parser.add_argument("--report-dir", help="also write schemathesis's JUnit and NDJSON reports here")
    parser.add_argument("st_args", nargs="*", help="more arguments for `st run` (after --)")
    args = parser.parse_args()

    binary = args.bin
    doc_path = Path(args.doc).resolve()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        fail(f"no private-uploads binary at {binary}: build it (cargo build -p private-uploads) or pass --bin")
    moto = os.environ.get("MOTO_SERVER") or str(Path(sys.executable).parent / "moto_server")
    if not (os.path.isfile(moto) and os.access(moto, os.X_OK)):
        fail(f"no moto server at {moto}: install tests/requirements.txt into the venv (./scripts/test does) or set MOTO_SERVER")
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        fail(f"no `st` beside {sys.executable}: pip install -r tests/requirements.txt (schemathesis)")
    seed_value = str(int.from_bytes(os.urandom(4), "big")) if args.seed == "random" else args.seed

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(MOTO_SERVER=moto, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    # Few credentials an hour, so that POST /credentials reaches its 429 (rate_limited); as
    # many unfinished multipart uploads as allowed, so that the hooks can always start theirs
    # (see UNREACHED).
    env.update(CREDENTIALS_PER_HOUR="3", MAX_UNFINISHED_UPLOADS="1000")

    port = args.port or free_port_block()
    work = Path(tempfile.mkdtemp(prefix="pu-schemathesis-"))
    started = time.monotonic()
    stack = Stack(binary, port, work / "data", env)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    keep = bool(os.environ.get("PU_ST_KEEP"))
    try:
        stack.wait_ready()
        print(f"== up is ready on {stack.api} ({time.monotonic() - started:.1f}s)", flush=True)
        tokens = {user: stack.token(user) for user in ("alice", "bob")}
        state = {"tokens": tokens, "files": {u: seed(stack.api, t) for u, t in tokens.items()}}
        (work / "state.json").write_text(json.dumps(state))
        statuses = work / "statuses.jsonl"
        statuses.touch()

        st_env = dict(env)
        st_env.update(
            SCHEMATHESIS_HOOKS=str(HERE / "hooks.py"),
            PU_ST_API=stack.api,
            PU_ST_STATE=str(work / "state.json"),
            PU_ST_STATUSES=str(statuses),
        )
        # alice's token as the document's `jwt` scheme (not a bare header), so that ignored_auth
        # knows it and also sends each operation without it and with a made-up one.
        config = work / "schemathesis.toml"
        config.write_text(f'[auth.openapi.jwt]\nbearer = "{tokens["alice"]}"\n')

        def st_run(checks: list[str], mode: str, phases: str, max_examples: int) -> list[str]:
            return [
                st, "--config-file", str(config), "run", str(doc_path),
                "--url", stack.api,
                "--checks", ",".join(checks),
                "--mode", mode,
                "--phases", phases,
                "--max-examples", str(max_examples),
                "--seed", seed_value,
                "--workers", args.workers,
                "--generation-database", "none",
                "--request-timeout", "30",
                "--no-color",
            ]

        command = st_run(CHECKS, "all", "examples,coverage,fuzzing,stateful", args.max_examples)
        if args.report_dir:
            command += ["--report", "junit,ndjson", "--report-dir", str(Path(args.report_dir).resolve())]
        command += args.st_args
        print("== " + " ".join(command), flush=True)
        print(f"== seed {seed_value} (replay with --seed {seed_value})", flush=True)
        # In `work`: schemathesis keeps its replay cache in .schemathesis/ under its directory.
        st_code = subprocess.run(command, cwd=work, env=st_env, check=False).returncode
        keep = keep or st_code != 0

        # The outage pass: the same data directory (keys, so the tokens stay valid) and port.
        stack.stop()
        stack = Stack(binary, port, work / "data", {**env, "PRIVATE_UPLOADS_FAULTS": OUTAGE}, "up-outage.log")
        stack.wait_ready()
        print(f"== up is ready again with every dependency down ({OUTAGE})", flush=True)
        outage = st_run(OUTAGE_CHECKS, "positive", "fuzzing", 2)
        print("== " + " ".join(outage), flush=True)
        outage_code = subprocess.run(outage, cwd=work, env={**st_env, "PU_ST_OUTAGE": "1"}, check=False).returncode
        keep = keep or outage_code != 0
        if st_code == 0 and outage_code != 0:
            print("FAILED: the outage pass found failures (answers to an outage not as documented)", file=sys.stderr)
            st_code = outage_code

        seen: dict[str, set[int]] = {}
        other_methods: set[int] = set()
        for line in statuses.read_text().splitlines():
            entry = json.loads(line)
            if entry["method"] != entry["operation"].split(" ")[0]:
                other_methods.add(entry["status"])  # the coverage phase's undocumented methods
                continue
            seen.setdefault(entry["operation"], set()).add(entry["status"])
        documented = documented_statuses(doc_path)
        missing_total = []
        undocumented_total = []
        print("\n== statuses per operation (documented; reached by schemathesis)")
        for operation, want in documented.items():
            got = seen.get(operation, set())
            missing = sorted(want - got)
            unexplained = [s for s in missing if s not in NOT_REACHABLE and (operation, s) not in UNREACHED]
            missing_total += [(operation, s) for s in unexplained]
            extra = sorted(got - want)
            # `default` (500 internal_error) is documented for every operation.
            undocumented_total += [(operation, s) for s in extra if s != 500]
            print(
                f"  {operation:36} reached {sorted(got)}"
                + (f"; not reached {missing}" if missing else "")
                + (f"; undocumented {extra}" if extra else "")
            )
        if other_methods:
            print(f"  (undocumented methods on documented paths: {sorted(other_methods)})")
        for status, why in NOT_REACHABLE.items():
            print(f"  (not expected here: {status}, {why})")
        for (operation, status), why in UNREACHED.items():
            print(f"  (not expected here: {operation} {status}, {why})")
        print(f"== took {time.monotonic() - started:.0f}s")
        if st_code != 0:
            print(f"FAILED: schemathesis found failures (exit {st_code}); replay with --seed {seed_value}", file=sys.stderr)
            return 1
        if undocumented_total:
            print(
                "FAILED: undocumented statuses answered: "
                + ", ".join(f"{op} {s}" for op, s in undocumented_total),
                file=sys.stderr,
            )
            return 1
        if missing_total:
            print(
                "FAILED: documented statuses no request reached: "
                + ", ".join(f"{op} {s}" for op, s in missing_total),
                file=sys.stderr,
            )
            return 1
        print("== schemathesis: no failures, every reachable documented status reached")
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        stack.stop()
        if keep:
            print(f"kept {work} (up.log, statuses.jsonl; `st replay ID` works from there)")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
