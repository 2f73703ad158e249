// sigv4.mjs against botocore's S3SigV4Auth (the AWS SDK for Python's header signing), run
// on the same request at the same instant: the Authorization header must be equal, byte for
// byte. Needs PYTHON, a Python with botocore (./scripts/test sets it to its venv's).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { keyPath, signS3Request, uriEncode } from "../sigv4.mjs";

const PYTHON = process.env.PYTHON;

const BOTOCORE = `
import datetime, json, sys
from unittest import mock
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
case = json.load(sys.stdin)
now = datetime.datetime(2026, 1, 1, 18, 0, 0, tzinfo=datetime.timezone.utc)
class Pinned(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return now.replace(tzinfo=None)
    @classmethod
    def now(cls, tz=None):
        return now if tz else now.replace(tzinfo=None)
request = AWSRequest(method=case["method"], url=case["url"], headers=case["headers"])
# As the AWS SDKs send a browser's PutObject: the body not hashed (UNSIGNED-PAYLOAD).
request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
creds = Credentials(case["access_key"], case["secret_key"], case.get("token"))
with mock.patch("botocore.auth.datetime.datetime", Pinned):
    if hasattr(botocore.auth, "get_current_datetime"):
        with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
            botocore.auth.S3SigV4Auth(creds, "s3", case["region"]).add_auth(request)
    else:
        botocore.auth.S3SigV4Auth(creds, "s3", case["region"]).add_auth(request)
print(json.dumps({k.lower(): v for k, v in request.headers.items()}))
`;

function botocore(testCase) {
  assert.ok(PYTHON, "PYTHON must name a Python with botocore (./scripts/test sets it; or pip install botocore)");
  return JSON.parse(execFileSync(PYTHON, ["-c", BOTOCORE], { input: JSON.stringify(testCase), encoding: "utf8" }));
}

const cases = [
  {
    name: "a PutObject with temporary credentials, metadata and If-None-Match (virtual-hosted)",
    method: "PUT",
    url: `https://bucket-1.s3.eu-west-1.amazonaws.com/${keyPath("users/3f1c9a2e-8d4b/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d")}`,
    headers: {
      "Content-Type": "image/png",
      "x-amz-meta-filename": encodeURIComponent("holiday (1) ünïcode.png"),
      "If-None-Match": "*",
    },
    region: "eu-west-1",
    access_key: "ASIAEXAMPLE",
    secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    token: "FwoGZXIvYXdzEBYaDHqa0AP/token+with/odd=chars",
  },
  {
    name: "path-style at a local endpoint with a port, a query and long-term credentials",
    method: "POST",
    url: "http://127.0.0.1:3001/private-uploads-local/users/alice/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d?uploads=&x-id=CreateMultipartUpload",
    headers: { "content-type": "application/pdf" },
    region: "us-east-1",
    access_key: "AKIDEXAMPLE",
    secret_key: "secret",
  },
];

for (const testCase of cases) {
  test(`the same Authorization as botocore: ${testCase.name}`, async () => {
    const expected = botocore(testCase);
    const ours = await signS3Request({
      method: testCase.method,
      url: testCase.url,
      headers: testCase.headers,
      credentials: { accessKeyId: testCase.access_key, secretAccessKey: testCase.secret_key, sessionToken: testCase.token },
      region: testCase.region,
      now: new Date(Date.UTC(2026, 0, 1, 18, 0, 0)),
    });
    assert.match(expected.authorization, /^AWS4-HMAC-SHA256 Credential=/, "botocore signed it");
    assert.equal(ours.authorization, expected.authorization);
    assert.equal(ours["x-amz-date"], expected["x-amz-date"]);
    assert.equal(ours["x-amz-content-sha256"], expected["x-amz-content-sha256"]);
    assert.equal(ours["x-amz-security-token"], expected["x-amz-security-token"]);
  });
}

test("a changed header or secret changes the signature", async () => {
  const base = { method: "PUT", url: "https://b.s3.eu-west-1.amazonaws.com/k", region: "eu-west-1", now: new Date(0) };
  const credentials = { accessKeyId: "A", secretAccessKey: "S" };
  const a = await signS3Request({ ...base, headers: { "content-type": "image/png" }, credentials });
  const b = await signS3Request({ ...base, headers: { "content-type": "image/gif" }, credentials });
  const c = await signS3Request({ ...base, headers: { "content-type": "image/png" }, credentials: { ...credentials, secretAccessKey: "T" } });
  assert.notEqual(a.authorization, b.authorization);
  assert.notEqual(a.authorization, c.authorization);
});

test("uriEncode escapes what RFC 3986 reserves, encodeURIComponent's leftovers included", () => {
  assert.equal(uriEncode("a b!'()*~._-"), "a%20b%21%27%28%29%2A~._-");
  assert.equal(keyPath("users/a b/c"), "users/a%20b/c");
});
