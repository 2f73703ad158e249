"""The SAM transform accepts template.yaml as a deploy would send it, with the optional
parameters empty and set: `sam validate --lint` does not run every property through the
transform (a conditional HttpApi `Domain` passed it and failed every deploy).

    .venv/bin/python tests/sam_transform.py    (./scripts/test runs it)
"""
import copy
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_REGION", "eu-west-1")

from samtranslator.public.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
template = yaml_parse(open(os.path.join(HERE, "..", "template.yaml")).read())
# `sam deploy` uploads each function first and sends an S3 URI as its CodeUri.
for name, resource in template["Resources"].items():
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = f"s3://bucket/{name}.zip"

cert = "arn:aws:acm:{}:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
cases = {
    "defaults": {},
    "custom domains": {
        "ApiDomainName": "api.example.com",
        "ApiCertificateArn": cert.format("eu-west-1"),
        "CdnDomainName": "cdn.example.com",
        "CdnCertificateArn": cert.format("us-east-1"),
        "CookieDomain": "example.com",
    },
}
failed = False
for label, parameters in cases.items():
    try:
        out = transform(copy.deepcopy(template), parameters, None)  # it edits its input
    except InvalidDocumentException as error:
        failed = True
        print(f"{label}: the SAM transform refuses the template:", file=sys.stderr)
        for cause in error.causes:
            print(f"  {cause}", file=sys.stderr)
        continue
    resources = out["Resources"]
    for needed in ["ApiCustomDomain", "ApiCustomDomainMapping", "HttpApiApiGatewayDefaultStage"]:
        if needed not in resources:
            failed = True
            print(f"{label}: no {needed} after the transform", file=sys.stderr)
    print(f"{label}: transformed, {len(resources)} resources")
sys.exit(1 if failed else 0)
