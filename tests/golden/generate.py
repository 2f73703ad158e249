#!/usr/bin/env python3
"""Golden vectors from botocore, the reference implementation no one here wrote.

Writes tests/golden/cloudfront.json (CloudFront signed URLs, canned and custom policies,
RSA-SHA1, via botocore.signers.CloudFrontSigner), tests/golden/s3_presign.json (S3 SigV4
presigned PUTs via botocore.auth.S3SigV4QueryAuth, with signed headers and session tokens)
and tests/golden/s3_post.json (browser POST forms via the S3 client's
generate_presigned_post, signature_version s3v4), with the clock pinned so the output is
deterministic. The Rust test tests/golden.rs asserts
that our signers produce the same URLs byte for byte.

    python tests/golden/generate.py           # rewrite the fixtures
    python tests/golden/generate.py --check   # fail if regenerating would change them (CI)
"""

import argparse
import datetime
import json
import sys
import urllib.parse
from pathlib import Path
from unittest import mock

import botocore
import botocore.auth
import botocore.config
import botocore.session
import botocore.signers
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KEY_FILE = "shared/testdata/rsa2048-pkcs1.pem"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
PINNED = datetime.datetime(2026, 1, 1, 18, 0, 0, tzinfo=datetime.timezone.utc)


def utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)


def cloudfront_vectors():
    key = serialization.load_pem_private_key((ROOT / KEY_FILE).read_bytes(), password=None)
    signer = CloudFrontSigner(KEY_PAIR_ID, lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA1()))
    base = "https://d111111abcdef8.cloudfront.net"
    long_path = "/".join(["segment-%03d" % i for i in range(150)])
    canned = [
        ("simple key", f"{base}/users/3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", 1767290400),
        ("query string", f"{base}/image.jpg?color=red&size=medium", 1767290400),
        ("percent-encoded space, plus and percent", f"{base}/users/a%20b/c%2Bd%25e.png", 1767290400),
        ("raw space and plus", f"{base}/users/a b/c+d.png", 1767290400),
        ("raw unicode", f"{base}/写真/ümlaut 😀.png", 1800000000),
        ("percent-encoded unicode", f"{base}/%E5%86%99%E7%9C%9F/%C3%BCmlaut.png", 1800000000),
        ("quote and backslash", f'{base}/odd"name\\x.png', 1800000000),
        ("very long path", f"{base}/{long_path}.bin", 2147483647),
    ]
    vectors = []
    for name, url, expires in canned:
        vectors.append({
            "name": name,
            "url": url,
            "policy": None,
            "expires": expires,
            "expected": signer.generate_presigned_url(url, date_less_than=utc(expires)),
        })
    custom = [
        ("wildcard resource", f"{base}/users/alice/019a.png", f"{base}/users/alice/*", 1767290400, None, None),
        ("start time and source IP", f"{base}/users/alice/019a.png", f"{base}/users/alice/*", 1767290400, 1767200000, "192.0.2.0/24"),
        ("single-character wildcard with query", f"{base}/a/b.png?v=2", f"{base}/a/?.png?v=*", 1767290400, None, "2001:db8::/32"),
    ]
    for name, url, resource, expires, start, ip in custom:
        policy = signer.build_policy(resource, utc(expires), utc(start) if start else None, ip)
        vectors.append({
            "name": name,
            "url": url,
            "policy": {"resource": resource, "expires": expires, "not_before": start, "source_ip": ip},
            "expires": expires,
            "expected": signer.generate_presigned_url(url, policy=policy),
        })
    return {"generator": f"botocore {botocore.__version__} CloudFrontSigner, RSA-SHA1 (PKCS#1 v1.5)",
            "key_file": KEY_FILE, "key_pair_id": KEY_PAIR_ID, "vectors": vectors}


def s3_vectors():
    owner_key = "users/3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
    cases = [
        # name, endpoint, region, bucket, key, token, ttl, content type, size, sha256
        ("virtual-hosted with checksum and session token", None, "eu-west-1", "private-uploads-example", owner_key,
         "IQoJb3JpZ2luX2VjE/session+token==", 300, "image/png", 1024, "X3C/GKCGAHAW6UiwSu07ghA6Nr6kF1W2zd+vEKzjxu8="),
        ("no checksum", None, "us-east-1", "private-uploads-example", owner_key,
         "token", 3600, "application/pdf", 5 * 1024 * 1024 * 1024, None),
        ("content type with parameters", None, "ap-northeast-1", "my-bucket-123", "users/a_20b/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
         "t", 60, "text/plain; charset=utf-8", 12, None),
        ("long-term credentials (no token)", None, "eu-central-1", "private-uploads-example", owner_key,
         None, 604800, "image/jpeg", 1, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ("path-style endpoint", "http://127.0.0.1:9000", "us-east-1", "private-uploads-local", "users/alice/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
         "local/dev+session=token", 300, "image/png", 70, None),
    ]
    vectors = []
    for name, endpoint, region, bucket, key, token, ttl, content_type, size, sha256 in cases:
        url = f"{endpoint}/{bucket}/{key}" if endpoint else f"https://{bucket}.s3.{region}.amazonaws.com/{key}"
        headers = {"Content-Type": content_type, "If-None-Match": "*", "Content-Length": str(size)}
        if sha256:
            headers["x-amz-checksum-sha256"] = sha256
        request = AWSRequest(method="PUT", url=url, headers=headers)
        credentials = Credentials("ASIAEXAMPLEACCESSKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)
        auth = botocore.auth.S3SigV4QueryAuth(credentials, "s3", region, expires=ttl)
        auth.add_auth(request)
        vectors.append({
            "name": name, "endpoint": endpoint, "region": region, "bucket": bucket, "key": key,
            "access_key": credentials.access_key, "secret_key": credentials.secret_key, "token": token,
            "time": int(PINNED.timestamp()), "expires_seconds": ttl,
            "content_type": content_type, "size": size, "sha256": sha256,
            "expected": request.url,
        })
    return {"generator": f"botocore {botocore.__version__} S3SigV4QueryAuth", "vectors": vectors}


def s3_post_vectors():
    """Forms as the upload function issues them: its fields and conditions, in its order."""
    owner_key = "users/3f1c9a2e-8d4b-4c1a-9e2f-7b6a5d4c3b2a/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
    cases = [
        # name, endpoint, region, bucket, key, token, ttl, filename, content type, size, sha256
        ("virtual-hosted with checksum and session token", None, "eu-west-1", "private-uploads-example", owner_key,
         "IQoJb3JpZ2luX2VjE/session+token==", 300, "holiday photo.png", "image/png", 1024,
         "X3C/GKCGAHAW6UiwSu07ghA6Nr6kF1W2zd+vEKzjxu8="),
        ("long-term credentials, no checksum", None, "us-east-1", "private-uploads-example", owner_key,
         None, 600, "report.pdf", "application/pdf", 5 * 1024 * 1024 * 1024, None),
        ("unicode, quotes and percent in the filename", None, "ap-northeast-1", "my-bucket-123", owner_key,
         "t", 300, "写真 \"ümlaut\" 100% 😀.jpg", "image/jpeg", 12, None),
        ("content type with parameters", None, "eu-central-1", "private-uploads-example", owner_key,
         "t", 450, "notes.txt", "text/plain; charset=utf-8", 1, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ("path-style endpoint", "http://127.0.0.1:9000", "us-east-1", "private-uploads-local",
         "users/alice/019ab2c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "local/dev+session=token", 300, "a.png", "image/png", 70, None),
    ]
    vectors = []
    for name, endpoint, region, bucket, key, token, ttl, filename, content_type, size, sha256 in cases:
        session = botocore.session.Session()
        session.set_credentials("ASIAEXAMPLEACCESSKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)
        config = botocore.config.Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint else "virtual"},
        )
        client = session.create_client("s3", region_name=region, endpoint_url=endpoint, config=config)
        # x-amz-meta-filename is the filename as JavaScript's encodeURIComponent writes it.
        encoded = urllib.parse.quote(filename, safe="-_.!~*'()")
        fields = {"Content-Type": content_type, "x-amz-meta-filename": encoded}
        conditions = [{"Content-Type": content_type}, {"x-amz-meta-filename": encoded},
                      ["content-length-range", 1, size]]
        if sha256:
            fields["x-amz-checksum-sha256"] = sha256
            conditions.append({"x-amz-checksum-sha256": sha256})
        fields["success_action_status"] = "201"
        conditions.append({"success_action_status": "201"})
        post = client.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=ttl)
        vectors.append({
            "name": name, "endpoint": endpoint, "region": region, "bucket": bucket, "key": key,
            "access_key": "ASIAEXAMPLEACCESSKEY", "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "token": token, "time": int(PINNED.timestamp()), "expires_seconds": ttl,
            "filename": filename, "content_type": content_type, "size": size, "sha256": sha256,
            "expected_url": post["url"],
            "expected_fields": [[k, v] for k, v in post["fields"].items()],
        })
    return {"generator": f"botocore {botocore.__version__} generate_presigned_post (s3v4)", "vectors": vectors}


class PinnedDatetime(datetime.datetime):
    """datetime.datetime with the clock pinned, for the code paths that read it directly."""

    @classmethod
    def utcnow(cls):
        return PINNED.replace(tzinfo=None)

    @classmethod
    def now(cls, tz=None):
        return PINNED if tz else PINNED.replace(tzinfo=None)


def render(value):
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed fixtures differ")
    args = parser.parse_args()
    with mock.patch("botocore.auth.get_current_datetime", return_value=PINNED), \
         mock.patch("botocore.signers.get_current_datetime", return_value=PINNED, create=True):
        files = {"cloudfront.json": render(cloudfront_vectors()), "s3_presign.json": render(s3_vectors())}
    with mock.patch("botocore.auth.datetime.datetime", PinnedDatetime), \
         mock.patch("botocore.signers.datetime.datetime", PinnedDatetime):
        files["s3_post.json"] = render(s3_post_vectors())
    stale = []
    for name, text in files.items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("golden fixtures differ from what botocore produces now: " + ", ".join(stale), file=sys.stderr)
        print("run `python tests/golden/generate.py`, review the diff, and commit it", file=sys.stderr)
        return 1
    if args.check:
        print("golden fixtures match botocore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
