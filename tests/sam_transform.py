"""The SAM transform accepts template.yaml as a deploy would send it, with the optional
parameters empty and set: `sam validate --lint` does not run every property through the
transform (a conditional HttpApi `Domain` passed it and failed every deploy).

    .venv/bin/python tests/sam_transform.py [--out DIR]    (./scripts/test runs it)

With --out, each transformed template is written to DIR/<case>.json, for checkov: the
transform makes the functions' roles and the stage, which checkov cannot see in the SAM
template itself.
"""
import copy
import json
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

out_dir = None
if sys.argv[1:2] == ["--out"] and len(sys.argv) == 3:
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
elif sys.argv[1:]:
    sys.exit("usage: sam_transform.py [--out DIR]")

cert = "arn:aws:acm:{}:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"
cases = {
    "defaults": {},
    "every-option-set": {
        "ApiDomainName": "api.example.com",
        "ApiCertificateArn": cert.format("eu-west-1"),
        "CdnDomainName": "cdn.example.com",
        "CdnCertificateArn": cert.format("us-east-1"),
        "CookieDomain": "example.com",
        "SigningKeyKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "SigningKeyReaderArns": "arn:aws:iam::123456789012:role/key-rotation,"
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/*/AWSReservedSSO_Admin_*",
        "AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:alarms",
        "AllowSelfSignUp": "true",
        "CredentialsRequireIfNoneMatch": "true",
        "IssueUploadUrlReservedConcurrency": 5,
        "IssueViewUrlReservedConcurrency": 5,
        "RecordOwnershipReservedConcurrency": 2,
        "LogRetentionDays": 365,
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
    # The parameters' names must exist: a misspelt one would test nothing.
    unknown = set(parameters) - set(template["Parameters"])
    if unknown:
        failed = True
        print(f"{label}: no such parameters {sorted(unknown)}", file=sys.stderr)
    # The stage carries the throttling of every route named in RouteSettings, and each of
    # those names a route of some function (an unknown route key fails the deploy).
    stage = resources["HttpApiApiGatewayDefaultStage"]["Properties"]
    routes = {
        f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}"
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    }
    throttled = set(stage.get("RouteSettings", {}))
    if not throttled or throttled - routes or "ThrottlingRateLimit" not in stage.get("DefaultRouteSettings", {}):
        failed = True
        print(f"{label}: route throttling missing, or for unknown routes {sorted(throttled - routes)}", file=sys.stderr)
    # Each function logs to its own group, kept LogRetentionDays.
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Lambda::Function":
            group = resource["Properties"].get("LoggingConfig", {}).get("LogGroup")
            if not (isinstance(group, dict) and group.get("Ref") in resources):
                failed = True
                print(f"{label}: {name} does not log to a group of the stack", file=sys.stderr)
    if out_dir:
        # The case's values as the defaults, so that checkov resolves them.
        for name, value in parameters.items():
            out["Parameters"][name]["Default"] = value
        with open(os.path.join(out_dir, f"{label}.json"), "w") as f:
            json.dump(out, f, indent=1)
    print(f"{label}: transformed, {len(resources)} resources")
sys.exit(1 if failed else 0)
