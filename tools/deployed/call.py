#!/usr/bin/env python3
"""One call to fakecloud for tests/deployed_stack.rs, for the APIs the Rust tests have no SDK
crate for (Lambda, EventBridge). Run with `.venv-sam/bin/python` (boto3). Prints one JSON line.

    call.py ENDPOINT invoke-dry-run FUNCTION_ARN          (credentials from AWS_ACCESS_KEY_ID,
                                                           AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
        -> {"verdict": "works"} | {"verdict": "denied"|"refused", "code": ..., "message": ...}
    call.py ENDPOINT function-configuration NAME          -> GetFunctionConfiguration's JSON
    call.py ENDPOINT function-policy NAME                 -> the function's resource policy (JSON)
    call.py ENDPOINT rule NAME                            -> DescribeRule's JSON
    call.py ENDPOINT test-event-pattern PATTERN_FILE EVENTS_FILE
        -> {"results": [true|false, ...]}  TestEventPattern for each event of the JSON list
    call.py ENDPOINT create-admin ACCOUNT USER [ORGANIZATION_ID]
        -> fakecloud's POST /_fakecloud/iam/create-admin: an administrator user (and its key) in
           another account, for a member account's stack
"""
import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

DENIED = {"AccessDenied", "AccessDeniedException"}


def client(endpoint, name):
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    return session.client(name, endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))


def main(argv):
    endpoint, command, *rest = argv
    if command == "invoke-dry-run":
        (arn,) = rest
        try:
            client(endpoint, "lambda").invoke(FunctionName=arn, InvocationType="DryRun")
            out = {"verdict": "works"}
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            out = {
                "verdict": "denied" if code in DENIED else "refused",
                "code": code,
                "message": e.response.get("Error", {}).get("Message", ""),
            }
    elif command == "function-configuration":
        (name,) = rest
        out = client(endpoint, "lambda").get_function_configuration(FunctionName=name)
        out.pop("ResponseMetadata", None)
    elif command == "function-policy":
        (name,) = rest
        out = json.loads(client(endpoint, "lambda").get_policy(FunctionName=name)["Policy"])
    elif command == "rule":
        (name,) = rest
        out = client(endpoint, "events").describe_rule(Name=name)
        out.pop("ResponseMetadata", None)
    elif command == "test-event-pattern":
        pattern_file, events_file = rest
        with open(pattern_file) as f:
            pattern = f.read()
        with open(events_file) as f:
            events = json.load(f)
        events_client = client(endpoint, "events")
        out = {
            "results": [
                events_client.test_event_pattern(EventPattern=pattern, Event=json.dumps(e))["Result"]
                for e in events
            ]
        }
    elif command == "create-admin":
        account, user, *org = rest
        body = {"accountId": account, "userName": user}
        if org:
            body["organizationId"] = org[0]
        req = urllib.request.Request(
            f"{endpoint}/_fakecloud/iam/create-admin",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            out = json.loads(r.read())
    else:
        print(f"call.py: unknown command {command!r}", file=sys.stderr)
        return 2
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
