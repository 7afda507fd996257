#!/usr/bin/env python3
"""Deploys one of the project's CloudFormation templates into fakecloud, as CloudFormation would.

Run with the SAM virtualenv's Python (`.venv-sam/bin/python`, tools/requirements-sam.txt): the
`AWS::Serverless-2016-10-31` transform is done by `samtranslator`, the library AWS's own
CloudFormation runs for that transform (pinned through aws-sam-cli), not by fakecloud's own SAM
expansion; everything after the transform (parameters, conditions, Fn::Sub / Fn::If / Fn::Split,
creating the IAM roles and policies, SNS, SQS, KMS, EventBridge rules, Lambda function and
permissions, alarms) is fakecloud's CloudFormation. The function's code is a stand-in zip in
fakecloud's S3 (fakecloud cannot run Lambda code without Docker; the tests run the built binary
themselves, with the credentials of the role deployed here).

    deploy.py --endpoint URL --template template.yaml --stack NAME [--param Key=Value ...]
              [--access-key K --secret-key S] [--region us-east-1]

Prints one JSON object on stdout: {"stack", "status", "account", "region", "transform",
"outputs": {key: value}, "resources": {logical id: {"type", "physical"}}}. On a failed stack it
prints the failure events to stderr and exits 1. Talks to nothing but the endpoint given.
"""
import argparse
import io
import json
import os
import sys
import time
import zipfile

import boto3
from botocore.config import Config
from samtranslator import __version__ as sam_version
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

CODE_BUCKET = "session-revoker-deployed-code"
CODE_KEY = "stand-in.zip"
SAM = "AWS::Serverless-2016-10-31"


class NoManagedPolicies(ManagedPolicyLoader):
    """The templates name no SAM `Policies` (the function's role is explicit): nothing to look up.

    samtranslator would otherwise ask IAM for the managed policy list; a lookup here is a bug.
    """

    def __init__(self):  # no IAM client: offline
        pass

    def load(self):
        raise RuntimeError("the template asked the SAM transform for AWS managed policies")


def stand_in_zip():
    """A zip with a `bootstrap` that only says it is not the function (never executed here)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\necho 'stand-in: the tests run the built binary' >&2\nexit 1\n")
    return buf.getvalue()


def translated(path, s3):
    with open(path) as f:
        template = yaml_parse(f.read())
    if template.get("Transform") != SAM:
        return template, None
    # What `sam package` does before CloudFormation sees the template: the code is an S3 object.
    if s3 is not None:
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=stand_in_zip())
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    # Parameter values are passed to CloudFormation below; the transform leaves the references
    # in place (as CloudFormation's own transform step does).
    return transform(template, {}, NoManagedPolicies()), f"samtranslator {sam_version}"


def inline_list_parameters(template, given):
    """Replaces every `{"Ref": P}` of a CommaDelimitedList parameter with the list it stands for.

    Two fakecloud 0.51 gaps, not template changes: its `Fn::Join` joins only a literal list, so
    `!Join [',', !Ref FindingTypes]` (valid CloudFormation: a Ref to a CommaDelimitedList is a
    list of strings, each space-trimmed) would reach the stack as the JSON text of the intrinsic;
    and its conditions evaluate no `Fn::Join` (`UseBuiltInFindingTypes`). This does what
    CloudFormation's Ref does for such a parameter, and joins such a list where a condition joins
    it; nothing else is evaluated here.
    """
    lists = {
        name: [v.strip() for v in given.get(name, str(p.get("Default", ""))).split(",")]
        for name, p in template.get("Parameters", {}).items()
        if p.get("Type") == "CommaDelimitedList"
    }

    def walk(v):
        if isinstance(v, dict):
            if set(v) == {"Ref"} and v["Ref"] in lists:
                return list(lists[v["Ref"]])
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    def join_in_conditions(v):
        if isinstance(v, dict):
            j = v.get("Fn::Join")
            if set(v) == {"Fn::Join"} and isinstance(j, list) and len(j) == 2 \
                    and isinstance(j[1], list) and all(isinstance(x, str) for x in j[1]):
                return j[0].join(j[1])
            return {k: join_in_conditions(x) for k, x in v.items()}
        if isinstance(v, list):
            return [join_in_conditions(x) for x in v]
        return v

    for key in ("Conditions", "Resources", "Outputs"):
        if key in template:
            template[key] = walk(template[key])
    if "Conditions" in template:
        template["Conditions"] = join_in_conditions(template["Conditions"])
    return template


def main():
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--endpoint", required=True)
    a.add_argument("--template", required=True)
    a.add_argument("--stack", required=True)
    a.add_argument("--param", action="append", default=[], help="Key=Value")
    a.add_argument("--access-key", default="test")
    a.add_argument("--secret-key", default="test")
    a.add_argument("--region", default="us-east-1")
    a.add_argument("--print-template", action="store_true", help="print the translated template only")
    args = a.parse_args()
    # samtranslator reads the region (for AWS::Region / AWS::Partition) from a boto session.
    os.environ["AWS_DEFAULT_REGION"] = args.region

    session = boto3.session.Session(
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name=args.region,
    )
    cfg = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"})
    client = lambda name: session.client(name, endpoint_url=args.endpoint, config=cfg)  # noqa: E731

    template, how = translated(args.template, None if args.print_template else client("s3"))
    if args.print_template:
        json.dump(template, sys.stdout, indent=1, sort_keys=True)
        return 0
    params = []
    for p in args.param:
        key, sep, value = p.partition("=")
        if not sep:
            a.error(f"--param {p!r}: expected Key=Value")
        params.append({"ParameterKey": key, "ParameterValue": value})
    template = inline_list_parameters(template, {p["ParameterKey"]: p["ParameterValue"] for p in params})

    cfn = client("cloudformation")
    cfn.create_stack(
        StackName=args.stack,
        TemplateBody=json.dumps(template),
        Parameters=params,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.monotonic() + 120
    while True:
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        status = stack["StackStatus"]
        if not status.endswith("IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            print(f"deploy: {args.stack} still {status} after 120 s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    if status != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=args.stack)["StackEvents"]
        for e in events:
            if "FAILED" in e.get("ResourceStatus", ""):
                print(
                    f"deploy: {e.get('LogicalResourceId')} ({e.get('ResourceType')}): "
                    f"{e.get('ResourceStatus')}: {e.get('ResourceStatusReason')}",
                    file=sys.stderr,
                )
        print(f"deploy: {args.stack} ended {status}", file=sys.stderr)
        return 1
    resources = {}
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=args.stack):
        for r in page["StackResourceSummaries"]:
            resources[r["LogicalResourceId"]] = {
                "type": r["ResourceType"],
                "physical": r.get("PhysicalResourceId"),
            }
    account = stack["StackId"].split(":")[4]
    json.dump(
        {
            "stack": args.stack,
            "status": status,
            "account": account,
            "region": args.region,
            "transform": how,
            "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            "resources": resources,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
