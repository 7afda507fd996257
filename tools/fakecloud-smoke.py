#!/usr/bin/env python3
"""Live check of what the drills rely on in fakecloud 0.51.0 (docs/emulators.md records the results).

Run against a fresh server started by tools/with-fakecloud.sh (--iam strict --verify-sigv4):
    tools/with-fakecloud.sh .venv/bin/python tools/fakecloud-smoke.py
Exit 0 when every check holds; each check prints one line. Uses boto3 from the project's .venv.

What it proves, with the reserved `test`/`test` key as administrator:
  - enforcement is on: a user without policies is refused, an unknown key and a wrong secret are refused;
  - user U (allow-all inline) assumes role R (trust: the account root) -> session S1; S1's call works;
  - the console-shape AWSRevokeOlderSessions with a cutoff 2 s ahead: S1 and a session assumed before
    the cutoff are refused; after the cutoff a newly assumed S2 works and S1 stays refused;
  - the session-scoped SessionRevokerDenyStolenSessions (aws:userid = RoleId:keith) refuses only keith;
  - long-term key: no aws:TokenIssueTime, so the user's AWSRevokeOlderSessions leaves the key working
    while a GetSessionToken session minted before the cutoff is refused; deactivating the key does not
    end that session;
  - GetFederationToken credentials are refused even under allow-all; a decoy deny (ec2:None) refuses nothing;
  - which "real calls" are enforced (IAM, STS, S3, SQS, SNS) and which are not (EC2);
  - trust policies are checked on AssumeRole; GetRolePolicy returns the document URL-encoded; POST /_reset.
"""
import json
import os
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("FAKECLOUD_ENDPOINT")
if not ENDPOINT:
    sys.exit("FAKECLOUD_ENDPOINT is not set: run under tools/with-fakecloud.sh")
ACCOUNT = "123456789012"
REGION = "us-east-1"
CFG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30)

failures = 0
results = []


def check(name, ok, detail=""):
    global failures
    if not ok:
        failures += 1
    line = f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail else "")
    results.append(line)
    print(line, flush=True)


def client(service, creds):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=CFG,
    )


def attempt(fn):
    """('ok', response) or (error code, message)."""
    try:
        return "ok", fn()
    except ClientError as e:
        err = e.response.get("Error", {})
        return err.get("Code", "?"), err.get("Message", "")


def utc(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def cutoff_in(seconds):
    """A whole-second UTC cutoff at least `seconds` ahead (the policy literal has no fraction)."""
    now = datetime.now(timezone.utc)
    return (now + timedelta(seconds=seconds + 1)).replace(microsecond=0)


def wait_past(cutoff):
    delay = (cutoff - datetime.now(timezone.utc)).total_seconds() + 0.3
    if delay > 0:
        time.sleep(delay)


def console_deny(cutoff):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": utc(cutoff)}},
                }
            ],
        },
        separators=(",", ":"),
    )


def session_deny(entries):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"StolenSession{i + 1}",
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {
                        "DateLessThan": {"aws:TokenIssueTime": utc(cutoff)},
                        "StringEquals": {"aws:userid": userid},
                    },
                }
                for i, (userid, cutoff) in enumerate(entries)
            ],
        },
        separators=(",", ":"),
    )


ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
ADMIN = {"AccessKeyId": "test", "SecretAccessKey": "test"}


def list_roles(creds):
    return attempt(lambda: client("iam", creds).list_roles())


def main():
    health = json.load(urllib.request.urlopen(f"{ENDPOINT}/_fakecloud/health", timeout=5))
    check("health answers, version 0.51.0", health.get("version") == "0.51.0", f"version {health.get('version')}")
    services = health.get("services", [])
    for svc in ("iam", "sts", "sns", "sqs", "ec2", "s3"):
        check(f"serves {svc}", svc in services)

    iam = client("iam", ADMIN)
    sts_admin = client("sts", ADMIN)
    ident = sts_admin.get_caller_identity()
    check("admin test/test is the account root", ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:root", ident["Arn"])

    # --- principals -------------------------------------------------------------------------------
    iam.create_user(UserName="U")
    u_key = iam.create_access_key(UserName="U")["AccessKey"]
    check("long-term key prefix", u_key["AccessKeyId"].startswith("FKIA"), u_key["AccessKeyId"][:4])
    iam.put_user_policy(UserName="U", PolicyName="AllowAll", PolicyDocument=ALLOW_ALL)
    u_id = iam.get_user(UserName="U")["User"]["UserId"]
    check("user id prefix AIDA", u_id.startswith("AIDA"), u_id)

    trust_root = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    role = iam.create_role(RoleName="R", AssumeRolePolicyDocument=trust_root)["Role"]
    role_id = role["RoleId"]
    check("role id prefix AROA", role_id.startswith("AROA"), role_id)
    iam.put_role_policy(RoleName="R", PolicyName="AllowAll", PolicyDocument=ALLOW_ALL)

    # --- enforcement is on ------------------------------------------------------------------------
    iam.create_user(UserName="NoPolicy")
    np_key = iam.create_access_key(UserName="NoPolicy")["AccessKey"]
    code, msg = list_roles(np_key)
    check("user without policies is refused iam:ListRoles", code != "ok", f"{code}: {msg[:90]}")
    code, _ = list_roles({"AccessKeyId": "FKIAUNKNOWN000000000", "SecretAccessKey": "x"})
    check("unknown key refused", code != "ok", code)
    code, _ = list_roles({"AccessKeyId": u_key["AccessKeyId"], "SecretAccessKey": "wrong-secret"})
    check("wrong secret refused (--verify-sigv4)", code != "ok", code)
    code, _ = list_roles(u_key)
    check("U (allow-all) may iam:ListRoles", code == "ok", code)

    # Which calls are enforced: the no-policy user is refused an enforced call, served an unenforced one.
    probes = {
        "sts:GetCallerIdentity": lambda c: client("sts", c).get_caller_identity(),
        "iam:ListRoles": lambda c: client("iam", c).list_roles(),
        "s3:ListBuckets": lambda c: client("s3", c).list_buckets(),
        "sqs:ListQueues": lambda c: client("sqs", c).list_queues(),
        "sns:ListTopics": lambda c: client("sns", c).list_topics(),
        "ec2:DescribeInstances": lambda c: client("ec2", c).describe_instances(),
    }
    enforced = {}
    for name, call in probes.items():
        code, msg = attempt(lambda: call(np_key))
        enforced[name] = code != "ok"
        check(f"no-policy user, {name}", True, "refused (" + code + ")" if code != "ok" else "served (NOT enforced)")

    # --- trust policy ------------------------------------------------------------------------------
    trust_other = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/Other"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    iam.create_role(RoleName="NotForU", AssumeRolePolicyDocument=trust_other)
    code, msg = attempt(
        lambda: client("sts", u_key).assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/NotForU", RoleSessionName="x1")
    )
    check("trust policy checked: U may not assume a role trusting only user/Other", code != "ok", code)

    def assume(name):
        out = client("sts", u_key).assume_role(RoleArn=role["Arn"], RoleSessionName=name)
        return out["Credentials"], out["AssumedRoleUser"]

    # --- role-wide revocation (console shape) ------------------------------------------------------
    s1, s1_user = assume("s1")
    check("temporary key prefix", s1["AccessKeyId"].startswith("FSIA"), s1["AccessKeyId"][:4])
    check("AssumedRoleId is <RoleId>:<session>", s1_user["AssumedRoleId"] == f"{role_id}:s1", s1_user["AssumedRoleId"])
    who = client("sts", s1).get_caller_identity()
    check("S1 GetCallerIdentity UserId = <RoleId>:s1", who["UserId"] == f"{role_id}:s1", who["UserId"])
    code, _ = list_roles(s1)
    check("S1 iam:ListRoles before the deny", code == "ok", code)

    cutoff = cutoff_in(2)
    iam.put_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions", PolicyDocument=console_deny(cutoff))
    code, msg = list_roles(s1)
    check("S1 refused once the deny is in place (issued before the cutoff)", code != "ok", f"{code}: {msg[:100]}")
    code_gci, _ = attempt(lambda: client("sts", s1).get_caller_identity())
    check("S1 sts:GetCallerIdentity under the deny", True, "refused (" + code_gci + ")" if code_gci != "ok" else "served")
    s_between, _ = assume("between")
    code, _ = list_roles(s_between)
    check("session assumed after the put but before the cutoff refused", code != "ok", code)
    wait_past(cutoff)
    s2, _ = assume("s2")
    code, _ = list_roles(s2)
    check("S2 assumed after the cutoff works", code == "ok", code)
    code, _ = list_roles(s1)
    check("S1 still refused after the cutoff", code != "ok", code)
    code, _ = list_roles(ADMIN)
    check("admin test/test unaffected", code == "ok", code)
    raw = {}

    def keep_raw(http_response, **_):
        raw["body"] = http_response.content.decode()

    iam.meta.events.register("after-call.iam.GetRolePolicy", keep_raw)
    doc = iam.get_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    check("GetRolePolicy wire form is URL-encoded", "%7B" in raw.get("body", ""))
    check(
        "GetRolePolicy round-trips the document (boto3 decodes it)",
        doc == json.loads(console_deny(cutoff)),
    )
    iam.delete_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions")
    code, _ = list_roles(s1)
    check("S1 works again once the deny is deleted", code == "ok", code)

    # aws:TokenIssueTime is compared at whole seconds (fakecloud-core auth.rs renders it with
    # SecondsFormat::Secs): a token issued earlier in the very second a floored cutoff names survives.
    while datetime.now(timezone.utc).microsecond > 300_000:
        time.sleep(0.02)
    same_second, _ = assume("samesecond")
    floored = datetime.now(timezone.utc).replace(microsecond=0)
    iam.put_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions", PolicyDocument=console_deny(floored))
    code, _ = list_roles(same_second)
    check(
        "token issued in the same second as a floored cutoff (before the deny) survives",
        code == "ok",
        f"{code}; cutoff {utc(floored)}",
    )
    iam.put_role_policy(
        RoleName="R", PolicyName="AWSRevokeOlderSessions", PolicyDocument=console_deny(floored + timedelta(seconds=1))
    )
    code, _ = list_roles(same_second)
    check("...and is refused with the cutoff one second later", code != "ok", code)
    iam.delete_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions")

    # --- session-scoped revocation ----------------------------------------------------------------
    bob, _ = assume("bob")
    mary, _ = assume("mary")
    keith, _ = assume("keith")
    cutoff = cutoff_in(2)
    iam.put_role_policy(
        RoleName="R",
        PolicyName="SessionRevokerDenyStolenSessions",
        PolicyDocument=session_deny([(f"{role_id}:keith", cutoff)]),
    )
    code, _ = list_roles(keith)
    check("session scope: keith refused", code != "ok", code)
    code, _ = list_roles(bob)
    check("session scope: bob works", code == "ok", code)
    code, _ = list_roles(mary)
    check("session scope: mary works", code == "ok", code)
    wait_past(cutoff)
    keith2, _ = assume("keith")
    code, _ = list_roles(keith2)
    check("session scope: keith's new session after the cutoff works", code == "ok", code)
    code, _ = list_roles(keith)
    check("session scope: keith's old session still refused", code != "ok", code)
    iam.delete_role_policy(RoleName="R", PolicyName="SessionRevokerDenyStolenSessions")

    # --- decoy ------------------------------------------------------------------------------------
    decoy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": "ec2:None",
                    "Resource": "*",
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": utc(cutoff_in(3600))}},
                }
            ],
        }
    )
    iam.put_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions", PolicyDocument=decoy)
    code, _ = list_roles(s1)
    check("decoy AWSRevokeOlderSessions (Action ec2:None) leaves S1 working", code == "ok", code)
    iam.delete_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions")

    # --- IAM user: long-term key, GetSessionToken, GetFederationToken -------------------------------
    gst1 = client("sts", u_key).get_session_token(DurationSeconds=900)["Credentials"]
    who = client("sts", gst1).get_caller_identity()
    check(
        "GetSessionToken session: Arn is the user, UserId the user's AIDA id",
        who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/U" and who["UserId"] == u_id,
        f"{who['Arn']} {who['UserId']}",
    )
    check("GetSessionToken key prefix", gst1["AccessKeyId"].startswith("FSIA"), gst1["AccessKeyId"][:4])
    code, _ = list_roles(gst1)
    check("GetSessionToken session works before the deny", code == "ok", code)
    fed_code = {}
    for label, kwargs in (("with an allow-all Policy", {"Policy": ALLOW_ALL}), ("without Policy", {})):
        fed = client("sts", u_key).get_federation_token(Name="fedsession", DurationSeconds=900, **kwargs)
        fcreds = fed["Credentials"]
        code, msg = list_roles(fcreds)
        fed_code[label] = code
        check(f"GetFederationToken session {label}: iam:ListRoles", True, "refused (" + code + ")" if code != "ok" else "served")
        code, _ = attempt(lambda: client("sts", fcreds).get_caller_identity())
        check(f"GetFederationToken session {label}: GetCallerIdentity", True, "refused (" + code + ")" if code != "ok" else "served")
    check("GetFederationToken credentials are refused even under allow-all", all(c != "ok" for c in fed_code.values()))

    iam.update_access_key(UserName="U", AccessKeyId=u_key["AccessKeyId"], Status="Inactive")
    code, _ = list_roles(u_key)
    check("deactivated long-term key refused", code != "ok", code)
    keys = iam.list_access_keys(UserName="U")["AccessKeyMetadata"]
    check("ListAccessKeys shows it Inactive", [k["Status"] for k in keys] == ["Inactive"], str([k["Status"] for k in keys]))
    code, _ = list_roles(gst1)
    check("GetSessionToken session minted from the key survives its deactivation", code == "ok", code)
    iam.update_access_key(UserName="U", AccessKeyId=u_key["AccessKeyId"], Status="Active")

    cutoff = cutoff_in(2)
    iam.put_user_policy(UserName="U", PolicyName="AWSRevokeOlderSessions", PolicyDocument=console_deny(cutoff))
    code, _ = list_roles(gst1)
    check("user's AWSRevokeOlderSessions refuses the older GetSessionToken session", code != "ok", code)
    code, _ = list_roles(u_key)
    check("...and leaves the long-term key working (no aws:TokenIssueTime)", code == "ok", code)
    code, _ = attempt(lambda: client("sts", u_key).assume_role(RoleArn=role["Arn"], RoleSessionName="s3"))
    check("...and the long-term key can still assume R", code == "ok", code)
    wait_past(cutoff)
    gst2 = client("sts", u_key).get_session_token(DurationSeconds=900)["Credentials"]
    code, _ = list_roles(gst2)
    check("GetSessionToken session minted after the cutoff works", code == "ok", code)
    iam.delete_user_policy(UserName="U", PolicyName="AWSRevokeOlderSessions")

    # aws:userid of a long-term key is the user's AIDA id.
    iam.put_user_policy(
        UserName="U",
        PolicyName="DenyByUserid",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"aws:userid": u_id}}}
                ],
            }
        ),
    )
    code, _ = list_roles(u_key)
    check("long-term key's aws:userid is the user's id (a deny on it refuses the key)", code != "ok", code)
    iam.delete_user_policy(UserName="U", PolicyName="DenyByUserid")

    # --- reset ------------------------------------------------------------------------------------
    req = urllib.request.Request(f"{ENDPOINT}/_reset", method="POST", data=b"")
    body = json.load(urllib.request.urlopen(req, timeout=30))
    check("POST /_reset answers", body.get("status") == "ok", json.dumps(body))
    code, _ = attempt(lambda: iam.get_user(UserName="U"))
    check("after /_reset the user is gone", code == "NoSuchEntity", code)

    print(f"\n{len(results) - failures} ok, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
