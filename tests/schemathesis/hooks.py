"""Schemathesis hooks for tests/schemathesis/run.py (loaded through SCHEMATHESIS_HOOKS).

Schemathesis makes up every request from docs/openapi.yaml; made-up file ids are never
anyone's, so on its own it only ever sees 404 for a file. These hooks, run in its process:

- swap the generated `file_id` of 7 requests in 10 for a real one (each operation's requests
  take the ten choices in turn, so every one is made in every run): alice's ready file, pending PUT
  upload and pending multipart upload, made by run.py before the run; for DELETE and
  /complete, a fresh one made here just before the request (so deleting it once does not
  leave the rest of the run with 404s), with the right `upload_id` and part ETag for some
  completions; for /url, a plain or an `ip`-bound query on the ready file; or one of bob's
  files. The other 3 keep the generated id: made up, or one schemathesis took from an
  earlier answer (alice's seeds are never deleted that way);
- make half the bodies of POST /uploads, /uploads/form and /uploads/multipart plausible
  (a type that is allowed, not allowed or script-capable; a size within or over the limit),
  which made-up strings almost never are;
- check that alice, the caller of every request, never gets anything but 400 or 404 for a
  file of bob's (`not_another_users_file`);
- record the status of every answer per operation, for run.py's summary.

With PU_ST_OUTAGE set (run.py's second pass, every dependency down) nothing can be made, so
the hooks only give each request a well-formed body and an id of alice's, so that it gets as
far as the outage.

Environment: PU_ST_API (the API's URL), PU_ST_STATE (the JSON run.py writes: tokens and
seeded files), PU_ST_STATUSES (where to append the statuses, one JSON line each),
PU_ST_OUTAGE (the outage pass).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time

import requests
import schemathesis

API = os.environ["PU_ST_API"]
with open(os.environ["PU_ST_STATE"], encoding="utf-8") as f:
    STATE = json.load(f)
STATUS_LOG = os.environ["PU_ST_STATUSES"]
_lock = threading.Lock()
_http = requests.Session()


def _alice() -> dict[str, str]:
    return {"authorization": f"Bearer {STATE['tokens']['alice']}"}


def _bob_ids() -> set[str]:
    return {v for k, v in STATE["files"]["bob"].items() if k.endswith("file_id")}


def fresh_multipart(put_part: bool) -> dict[str, str]:
    """A new one-part multipart upload of alice's: file id, upload id, and the part's ETag."""
    body = b"schemathesis"
    issued = _http.post(
        f"{API}/uploads/multipart",
        headers=_alice(),
        json={"filename": "st.txt", "content_type": "text/plain", "size": len(body)},
        timeout=30,
    )
    issued.raise_for_status()
    issued = issued.json()
    out = {"file_id": issued["file_id"], "upload_id": issued["upload_id"], "etag": ""}
    if put_part:
        put = _http.put(issued["parts"][0]["url"], data=body, timeout=30)
        put.raise_for_status()
        out["etag"] = put.headers["etag"]
    return out


def fresh_ready() -> str:
    """A new ready file of alice's (presigned PUT, then wait for record-ownership)."""
    body = b"hello"
    issued = _http.post(
        f"{API}/uploads",
        headers=_alice(),
        json={"filename": "st.txt", "content_type": "text/plain", "size": len(body)},
        timeout=30,
    )
    issued.raise_for_status()
    issued = issued.json()
    upload = issued["upload"]
    put = _http.put(upload["url"], data=body, headers=upload["headers"], timeout=30)
    put.raise_for_status()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = _http.get(f"{API}/files/{issued['file_id']}", headers=_alice(), timeout=30).json()
        if got.get("status") == "ready":
            return issued["file_id"]
        time.sleep(0.05)
    raise RuntimeError(f"seeded file {issued['file_id']} never became ready")


def _pick(value: object, n: int) -> int:
    return int(hashlib.sha256(repr(value).encode()).hexdigest(), 16) % n


ISSUING = {"POST /uploads", "POST /uploads/form", "POST /uploads/multipart"}


def _shaped_issue(body: dict) -> dict:
    """Half the bodies of the issuing routes made plausible: made-up content types and sizes
    almost never reach the 415, 413 and 201 answers."""
    choice = _pick(body, 10)
    if choice < 5:
        return body
    shaped = {"filename": "st.txt", "content_type": "text/plain", "size": 5}
    if choice == 5:
        shaped["content_type"] = "video/mp4"  # not in the allow-list: 415
    elif choice == 6:
        shaped["content_type"] = "image/svg+xml"  # script-capable, not opted in: 415
    elif choice == 7:
        shaped["size"] = 104857601  # MAX_UPLOAD_BYTES + 1: 413
    elif choice == 9:
        # and the generated sha256, part_size, crc64nvme: mostly 400
        shaped.update({k: v for k, v in body.items() if k not in shaped})
    return shaped


def _alice_seeds() -> set[str]:
    return {v for k, v in STATE["files"]["alice"].items() if k.endswith("file_id")}


OUTAGE = bool(os.environ.get("PU_ST_OUTAGE"))
# bob's files first, then alice's, then the generated id (see before_call).
CHOICES = [3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
_calls: dict[str, int] = {}


def _outage_case(case) -> None:
    """A request that passes validation, so that it reaches the dependency that is down."""
    label = case.operation.label
    if label in ISSUING:
        case.body = {"filename": "st.txt", "content_type": "text/plain", "size": 5}
    elif label == "POST /uploads/{file_id}/complete":
        case.body = {"upload_id": "u", "parts": [{"part_number": 1, "etag": '"e"'}]}
    case.query = {}
    if case.path_parameters and "file_id" in case.path_parameters:
        case.path_parameters = {**case.path_parameters, "file_id": STATE["files"]["alice"]["ready_file_id"]}


@schemathesis.hook
def before_call(context, case, kwargs):
    if OUTAGE:
        _outage_case(case)
        return
    # Cases share their containers: replace them, never change them in place.
    if case.operation.label in ISSUING and isinstance(case.body, dict):
        case.body = _shaped_issue(case.body)
    params = case.path_parameters
    if not params or "file_id" not in params:
        return
    files = STATE["files"]["alice"]
    label = case.operation.label
    generated = params["file_id"]
    # Not a hash of the case: the generated ids include ones the server made during the run
    # (time-based), so hashed choices differed from run to run and a documented answer could
    # go unreached. Each operation's requests take the choices in turn instead.
    with _lock:
        made = _calls.get(label, 0)
        _calls[label] = made + 1
    choice = CHOICES[made % len(CHOICES)]
    if label == "GET /uploads/{file_id}/parts" and choice in (3, 4):
        case.query = {}  # a bad `from` would be refused (400) before the id is looked up
    elif label == "GET /uploads/{file_id}/parts" and choice == 5:
        case.query = {"from": 1000}  # alice's multipart upload has 1 part: 400
    file_id = generated
    if choice < 3:
        # Keep the generated id: made up (404, or 400 for odd ones), or one an earlier answer
        # gave (schemathesis reuses them). alice's seeds stay for the whole run.
        if case.method == "DELETE" and generated in _alice_seeds():
            file_id = fresh_ready() if label == "DELETE /files/{file_id}" else fresh_multipart(False)["file_id"]
    elif choice < 5:
        file_id = STATE["files"]["bob"][["ready_file_id", "multipart_file_id"][choice - 3]]
    elif label == "DELETE /files/{file_id}":
        file_id = fresh_ready()
    elif label == "DELETE /uploads/{file_id}":
        if choice < 7:
            file_id = files["ready_file_id"]  # finished: 409
        else:
            file_id = fresh_multipart(put_part=choice == 8)["file_id"]
    elif label == "POST /uploads/{file_id}/complete":
        if choice < 7:
            file_id = files["ready_file_id"]  # finished: 409 (for a well-formed body)
            case.body = {"upload_id": "u", "parts": [{"part_number": 1, "etag": '"e"'}]}
        else:
            upload = fresh_multipart(put_part=True)
            file_id = upload["file_id"]
            if choice >= 8:
                # The right upload id and part list: 200. Otherwise the generated body: 400.
                case.body = {
                    "upload_id": upload["upload_id"],
                    "parts": [{"part_number": 1, "etag": upload["etag"]}],
                }
    elif label == "GET /files/{file_id}/url":
        names = ["ready_file_id"] * 3 + ["pending_file_id", "multipart_file_id"]
        file_id = files[names[choice - 5]]  # not ready: 404
        if choice == 5:
            case.query = {}  # 200
        elif choice == 6:
            case.query = {"expires_in": 60, "ip": "127.0.0.0/16"}  # 200, custom policy
    else:
        file_id = files[["ready_file_id", "pending_file_id", "multipart_file_id"][choice % 3]]
        if label == "GET /uploads/{file_id}/parts" and choice == 8:
            case.query = {}  # the multipart upload's first page: 200
    if file_id != generated:
        case.path_parameters = {**params, "file_id": file_id}


@schemathesis.hook
def after_call(context, case, response):
    request = response.request
    line = json.dumps(
        {
            "operation": case.operation.label,
            "status": response.status_code,
            "method": request.method,
            "url": request.url,
            "auth": (request.headers.get("authorization") or "")[:20],
            "body": response.text[:200],
        }
    )
    with _lock, open(STATUS_LOG, "a", encoding="utf-8") as log:
        log.write(line + "\n")


@schemathesis.check
def not_another_users_file(ctx, response, case):
    """Alice asks with a file id of bob's: 400 (a bad parameter) or 404, like any unknown id."""
    file_id = (case.path_parameters or {}).get("file_id")
    sent = response.request.headers.get("authorization")
    if sent != f"Bearer {STATE['tokens']['alice']}":
        return None  # no token or a made-up one: 401 whoever's file it is (ignored_auth's concern)
    if file_id in _bob_ids() and response.status_code not in (400, 404):
        raise AssertionError(
            f"alice got {response.status_code} for bob's file {file_id}: "
            f"{response.text[:300]}"
        )
    prefix = STATE["files"]["bob"]["prefix"]
    if prefix in response.text:
        raise AssertionError(f"an answer to alice names bob's prefix {prefix}: {response.text[:300]}")
    return None
