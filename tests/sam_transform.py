"""The SAM transform accepts template.yaml as a deploy would send it, with the optional
parameters empty and set: `sam validate --lint` does not run every property through the
transform (a conditional HttpApi `Domain` passed it and failed every deploy). Each case's
limits are then resolved as CloudFormation would resolve them, and checked: each function's
reserved concurrency, the user pool's AllowAdminCreateUserOnly, every route's throttling,
record-ownership's two retries and on-failure queue, and the edge's cache lifetime (never
longer than a view URL lives), and the gallery cookies' route through the CDN's host.

    .venv/bin/python tests/sam_transform.py [--out DIR]    (./scripts/test runs it)

With --out, each transformed template is written to DIR/<case>.json, for checkov: the
transform makes the functions' roles and the stage, which checkov cannot see in the SAM
template itself.
"""
import copy
import re
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
        "ViewUrlMaxSeconds": 900,
    },
}
# The limits each case must produce, as a deploy would resolve them: (what, expected).
LIMITS = {
    "defaults": {
        "reserved": {"IssueUploadUrlFunction": None, "IssueViewUrlFunction": None, "RecordOwnershipFunction": None},
        "admin_only": True,
        "throttle": {"default": (50, 100), "POST /uploads": (10, 20), "POST /uploads/form": (10, 20),
                     "POST /uploads/multipart": (10, 20), "POST /credentials": (10, 20),
                     "GET /files/{file_id}/url": (100, 200), "POST /files/cookies": (100, 200)},
        "credentials": {"CREDENTIALS_PER_HOUR": 30, "CREDENTIALS_MAX_OBJECTS": 100,
                        "MAX_UNFINISHED_UPLOADS": 20, "MULTIPART_ABORT_DAYS": 1},
    },
    "every-option-set": {
        "reserved": {"IssueUploadUrlFunction": 5, "IssueViewUrlFunction": 5, "RecordOwnershipFunction": 2},
        "admin_only": False,
        "throttle": {"default": (7, 14), "POST /uploads": (3, 6), "POST /uploads/form": (3, 6),
                     "POST /uploads/multipart": (3, 6), "POST /credentials": (3, 6),
                     "GET /files/{file_id}/url": (30, 60), "POST /files/cookies": (30, 60)},
        "credentials": {"CREDENTIALS_PER_HOUR": 5, "CREDENTIALS_MAX_OBJECTS": 7,
                        "MAX_UNFINISHED_UPLOADS": 3, "MULTIPART_ABORT_DAYS": 2},
    },
}
cases["every-option-set"].update({
    "ApiThrottleRate": 7, "ApiThrottleBurst": 14, "UploadThrottleRate": 3, "UploadThrottleBurst": 6,
    "ViewThrottleRate": 30, "ViewThrottleBurst": 60,
    "CredentialsPerHour": 5, "CredentialsMaxObjects": 7, "MaxUnfinishedUploads": 3, "MultipartAbortDays": 2,
})
NO_VALUE = object()


def resolver(out, parameters):
    """Resolves Ref to parameters, Fn::If/Fn::Equals/Fn::Not/Fn::And/Fn::Or and Condition, as
    CloudFormation would with these parameter values; leaves other intrinsics as they are."""
    values = {name: spec.get("Default") for name, spec in out.get("Parameters", {}).items()}
    values.update(parameters)
    conditions = out.get("Conditions", {})

    def condition(name):
        return bool(resolve(conditions[name]))

    def resolve(node):
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        (key, arg), = node.items()
        if key == "Ref":
            if arg == "AWS::NoValue":
                return NO_VALUE
            return values[arg] if arg in values else node
        if key == "Fn::If":
            name, then, otherwise = arg
            return resolve(then if condition(name) else otherwise)
        if key == "Fn::Equals":
            left, right = resolve(arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not resolve(arg[0])
        if key == "Fn::And":
            return all(resolve(a) for a in arg)
        if key == "Fn::Or":
            return any(resolve(a) for a in arg)
        if key == "Condition":
            return condition(arg)
        return node

    return resolve


def check_limits(label, out, parameters):
    """The abuse limits and the S3 event's retries, resolved: the problems found."""
    resolve = resolver(out, parameters)
    resources = out["Resources"]
    want = LIMITS[label]
    problems = []
    for function, reserved in want["reserved"].items():
        got = resolve(resources[function]["Properties"].get("ReservedConcurrentExecutions", NO_VALUE))
        got = None if got is NO_VALUE else int(got)
        if got != reserved:
            problems.append(f"{function} reserved concurrency {got}, expected {reserved}")
    pools = [r for r in resources.values() if r["Type"] == "AWS::Cognito::UserPool"]
    admin_only = [resolve(p["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"]) for p in pools]
    if admin_only != [want["admin_only"]]:
        problems.append(f"AllowAdminCreateUserOnly {admin_only}, expected [{want['admin_only']}]")
    stage = resources["HttpApiApiGatewayDefaultStage"]["Properties"]
    settings = {"default": stage.get("DefaultRouteSettings", {}), **stage.get("RouteSettings", {})}
    for route, (rate, burst) in want["throttle"].items():
        got = settings.get(route, {})
        pair = (resolve(got.get("ThrottlingRateLimit")), resolve(got.get("ThrottlingBurstLimit")))
        if tuple(map(str, pair)) != (str(rate), str(burst)):
            problems.append(f"throttling of {route} {pair}, expected {(rate, burst)}")
    # The edge keeps a file no longer than a view URL lives, whatever the object's headers say.
    distribution = resources["Distribution"]["Properties"]["DistributionConfig"]
    policy_ref = distribution["DefaultCacheBehavior"].get("CachePolicyId")
    policy = resources.get(policy_ref.get("Ref"), {}) if isinstance(policy_ref, dict) else {}
    if policy.get("Type") != "AWS::CloudFront::CachePolicy":
        problems.append(f"the distribution's cache policy {policy_ref} is not one of the stack's")
    else:
        config = policy["Properties"]["CachePolicyConfig"]
        view_max = int(resolve({"Ref": "ViewUrlMaxSeconds"}))
        ttls = {name: int(resolve(config[name])) for name in ["MinTTL", "DefaultTTL", "MaxTTL"]}
        if ttls["MaxTTL"] > view_max or ttls["DefaultTTL"] > view_max:
            problems.append(f"the edge may keep a file {ttls}, longer than a view URL lives ({view_max} s)")
    # The gallery cookies are asked for through the CDN's own host: with ApiDomainName, one
    # uncached behaviour sends /files/cookies to the HTTP API's custom domain, with no key
    # group (the API's authorizer decides); without it, no behaviour and no API origin.
    behaviours = resolve(distribution.get("CacheBehaviors", []))
    behaviours = [] if behaviours is NO_VALUE else behaviours
    origins = [o for o in resolve(distribution["Origins"]) if o is not NO_VALUE]
    origins = {o["Id"]: o for o in (resolve(o) for o in origins)}
    api_domain = resolve({"Ref": "ApiDomainName"})
    cookies = [b for b in behaviours if b.get("PathPattern") == "/files/cookies"]
    api_origin = origins.get(cookies[0]["TargetOriginId"]) if len(cookies) == 1 else None
    if not api_domain:
        if behaviours or "api" in origins:
            problems.append(f"without ApiDomainName no behaviour and no API origin: {behaviours} {list(origins)}")
    elif not cookies or len(behaviours) != 1:
        problems.append(f"expected one cache behaviour, for /files/cookies: {behaviours}")
    elif (
        cookies[0].get("CachePolicyId") != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
        or "TrustedKeyGroups" in cookies[0]
        or "POST" not in cookies[0].get("AllowedMethods", [])
        or api_origin is None
        or resolve(api_origin.get("DomainName")) != api_domain
    ):
        problems.append(f"/files/cookies must go, uncached and unsigned, to the HTTP API's domain: {cookies[0]}")
    # Temporary credentials' bounds: the upload function counts credentials and unfinished
    # multipart uploads (and may list them), record-ownership counts each credential's
    # objects with the same limit, and the bucket aborts what is left unfinished.
    def env(function):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        return {name: resolve(value) for name, value in variables.items()}
    upload_env, ownership_env = env("IssueUploadUrlFunction"), env("RecordOwnershipFunction")
    for name, expected in want["credentials"].items():
        if str(upload_env.get(name)) != str(expected):
            problems.append(f"IssueUploadUrlFunction {name}={upload_env.get(name)}, expected {expected}")
    if str(ownership_env.get("CREDENTIALS_MAX_OBJECTS")) != str(want["credentials"]["CREDENTIALS_MAX_OBJECTS"]):
        problems.append(f"RecordOwnershipFunction CREDENTIALS_MAX_OBJECTS={ownership_env.get('CREDENTIALS_MAX_OBJECTS')}")
    bucket = next(r for r in resources.values() if r["Type"] == "AWS::S3::Bucket" and "LifecycleConfiguration" in r["Properties"])
    aborts = [
        resolve(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        if rule.get("Status") == "Enabled" and "AbortIncompleteMultipartUpload" in rule and not rule.get("Prefix") and not rule.get("Filter")
    ]
    if [str(days) for days in aborts] != [str(want["credentials"]["MULTIPART_ABORT_DAYS"])]:
        problems.append(f"the bucket aborts unfinished uploads after {aborts} days, expected [{want['credentials']['MULTIPART_ABORT_DAYS']}]")
    role = resources[resources["IssueUploadUrlFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]]
    lists = [
        statement
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if statement.get("Effect") == "Allow" and "s3:ListBucketMultipartUploads" in json.dumps(statement.get("Action"))
    ]
    if len(lists) != 1 or lists[0].get("Resource") != {"Fn::GetAtt": ["FilesBucket", "Arn"]}:
        problems.append(f"the upload function must list the bucket's multipart uploads: {lists}")
    # record-ownership's S3 events: two retries, then the failure queue.
    configs = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    ownership = [c for c in configs if c.get("FunctionName", {}).get("Ref") == "RecordOwnershipFunction"]
    if len(ownership) != 1:
        problems.append(f"{len(ownership)} EventInvokeConfig for RecordOwnershipFunction, expected 1")
    else:
        config = ownership[0]
        if config.get("MaximumRetryAttempts") != 2:
            problems.append(f"MaximumRetryAttempts {config.get('MaximumRetryAttempts')}, expected 2")
        on_failure = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if on_failure != {"Fn::GetAtt": ["OwnershipFailuresQueue", "Arn"]}:
            problems.append(f"on-failure destination {on_failure}, expected the OwnershipFailuresQueue")
    return problems


def references(node):
    """Every resource name a node refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub), in every
    branch of every Fn::If: CloudFormation refuses a cycle before it looks at conditions."""
    if isinstance(node, list):
        for item in node:
            yield from references(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield (arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                if isinstance(text, str):
                    for name in re.findall(r"\$\{([^}!][^}]*)\}", text):
                        yield name.split(".")[0]
                if isinstance(arg, list):
                    yield from references(arg[1:])
            else:
                yield from references(arg)


def cycles(resources):
    """The dependency cycles among resources (references and DependsOn), as CloudFormation
    would refuse them: "Circular dependency between resources"."""
    edges = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        found = set(references(resource.get("Properties", {}))) | set(depends)
        edges[name] = {d for d in found if d in resources and d != name}
    found, state, path = [], {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


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
    for cycle in cycles(resources):
        failed = True
        print(f"{label}: a circular dependency CloudFormation refuses: {' -> '.join(cycle)}", file=sys.stderr)
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
    for problem in check_limits(label, out, parameters):
        failed = True
        print(f"{label}: {problem}", file=sys.stderr)
    if out_dir:
        # The case's values as the defaults, so that checkov resolves them.
        for name, value in parameters.items():
            out["Parameters"][name]["Default"] = value
        with open(os.path.join(out_dir, f"{label}.json"), "w") as f:
            json.dump(out, f, indent=1)
    print(f"{label}: transformed, {len(resources)} resources")
sys.exit(1 if failed else 0)
