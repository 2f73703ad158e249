#!/usr/bin/env python3
"""Independent verifier for CloudFront canned-policy URLs (Python `cryptography`).

Reads JSON lines {"url", "signed", "public_key_pem", "key_pair_id"} and, for each, rebuilds
the canned policy from the CloudFront documentation with json.dumps, checks the URL's
parameters and verifies the signature with the public key (RSA PKCS#1 v1.5 SHA-1 without
Hash-Algorithm, SHA-256 with Hash-Algorithm=SHA256; ECDSA P-256 SHA-256). Writes one JSON
line per case: {"ok": bool, "reason": str, "policy": str}.
"""

import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def cloudfront_b64decode(text):
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def check(case):
    url, signed = case["url"], case["signed"]
    separator = "&" if "?" in url else "?"
    if not signed.startswith(url + separator):
        return False, "the signed URL does not start with the URL and its separator", ""
    params = signed[len(url) + 1:].split("&")
    names = [p.split("=", 1)[0] for p in params]
    values = dict(p.split("=", 1) for p in params)
    if names not in (["Expires", "Signature", "Key-Pair-Id"], ["Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"]):
        return False, f"unexpected parameters {names}", ""
    if values["Key-Pair-Id"] != case["key_pair_id"]:
        return False, "wrong Key-Pair-Id", ""
    expires = int(values["Expires"])
    # The documented canned policy: {"Statement":[{"Resource":URL,"Condition":{"DateLessThan":{"AWS:EpochTime":N}}}]}
    policy = json.dumps(
        {"Statement": [{"Resource": url, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}]},
        separators=(",", ":"),
    )
    signature = cloudfront_b64decode(values["Signature"])
    sha256 = values.get("Hash-Algorithm") == "SHA256"
    if "Hash-Algorithm" in values and not sha256:
        return False, "Hash-Algorithm is not SHA256", policy
    key = serialization.load_pem_public_key(case["public_key_pem"].encode())
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA256() if sha256 else hashes.SHA1())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if not sha256:
                return False, "an ECDSA URL without Hash-Algorithm=SHA256", policy
            key.verify(signature, policy.encode(), ec.ECDSA(hashes.SHA256()))
        else:
            return False, "unsupported key type", policy
    except InvalidSignature:
        return False, "the signature does not verify", policy
    return True, "", policy


def main():
    for line in sys.stdin:
        if line.strip():
            ok, reason, policy = check(json.loads(line))
            print(json.dumps({"ok": ok, "reason": reason, "policy": policy}))


if __name__ == "__main__":
    main()
