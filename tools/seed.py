#!/usr/bin/env python3
"""A small account in moto for the end-to-end test and `make demo`.

Usage (with the project's virtualenv, against a moto server):
    .venv/bin/python tools/seed.py seed [--endpoint URL]           # creates the account, prints ids
    .venv/bin/python tools/seed.py show [--endpoint URL] [--drain] # prints the state, as JSON

The endpoint comes from --endpoint or MOTO_ENDPOINT (tools/with-moto.sh exports it).

`seed` creates, in account 123456789012 / us-east-1:
  - role app-deployer (path /deploy/) with an unrelated inline policy deploy-artifacts
  - role web-app, instance profile web-app, and a running instance associated with it
  - role reporting, a bystander role billing-reader and a service-linked role
  - user ci-bot with two access keys
  - SNS topic session-revoker-reports with SQS queue session-revoker-reports-inbox subscribed
    (raw delivery off: the queue receives SNS's JSON envelope, attributes inside it)
and prints {"topic_arn", "queue_url", "roles": {name: role_id}, "instance_id", "ci_bot_keys",
"association_id", ...}.

`show` prints the state the test and the demo look at: the inline policies (decoded documents) of
app-deployer, web-app and billing-reader, ci-bot's keys with their status, web-app's instance
profile association, and the messages on the queue (subject, attributes, message parsed as JSON
when it is JSON). Messages are peeked (left on the queue) unless --drain is given, which deletes
what it read so the next `show --drain` lists only newer messages.
"""

import argparse
import json
import os
import sys

import boto3

REGION = "us-east-1"
TOPIC_NAME = "session-revoker-reports"
QUEUE_NAME = "session-revoker-reports-inbox"
WEB_APP_TAG = "web-app"

TRUST = {
    "app-deployer": "codebuild.amazonaws.com",
    "web-app": "ec2.amazonaws.com",
    "reporting": "lambda.amazonaws.com",
    "billing-reader": "lambda.amazonaws.com",
}

DEPLOY_ARTIFACTS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "PutArtifacts",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject"],
            "Resource": "arn:aws:s3:::example-deploy-artifacts/*",
        }
    ],
}

BILLING_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ce:GetCostAndUsage"], "Resource": "*"}
    ],
}


def clients(endpoint):
    s = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )
    return {
        name: s.client(name, endpoint_url=endpoint)
        for name in ("iam", "ec2", "sns", "sqs")
    }


def trust(service):
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


MEMBER_ACCOUNT = "111111111111"


def member_iam(endpoint):
    """IAM in the member account: moto keeps accounts apart by the credentials of a role
    assumed in that account (it does not check that the role exists)."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER_ACCOUNT}:role/seeder", RoleSessionName="seeder"
    )["Credentials"]
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def seed(c):
    iam, ec2, sns, sqs = c["iam"], c["ec2"], c["sns"], c["sqs"]
    member = c["member_iam"]
    member_role = member.create_role(
        RoleName="data-pipeline", AssumeRolePolicyDocument=trust("glue.amazonaws.com")
    )["Role"]
    roles = {}
    paths = {"app-deployer": "/deploy/"}
    for name, service in TRUST.items():
        r = iam.create_role(
            RoleName=name,
            Path=paths.get(name, "/"),
            AssumeRolePolicyDocument=trust(service),
        )["Role"]
        roles[name] = r["RoleId"]
    iam.put_role_policy(
        RoleName="app-deployer",
        PolicyName="deploy-artifacts",
        PolicyDocument=json.dumps(DEPLOY_ARTIFACTS),
    )
    iam.put_role_policy(
        RoleName="billing-reader",
        PolicyName="read-costs",
        PolicyDocument=json.dumps(BILLING_READ),
    )
    slr = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")[
        "Role"
    ]
    roles[slr["RoleName"]] = slr["RoleId"]

    profile = iam.create_instance_profile(InstanceProfileName="web-app")[
        "InstanceProfile"
    ]
    iam.add_role_to_instance_profile(InstanceProfileName="web-app", RoleName="web-app")
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": WEB_APP_TAG}],
            }
        ],
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    association = ec2.associate_iam_instance_profile(
        IamInstanceProfile={"Arn": profile["Arn"]}, InstanceId=instance_id
    )["IamInstanceProfileAssociation"]

    iam.create_user(UserName="ci-bot")
    keys = [
        iam.create_access_key(UserName="ci-bot")["AccessKey"]["AccessKeyId"]
        for _ in range(2)
    ]

    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    subscription = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "false"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    return {
        "account": "123456789012",
        "region": REGION,
        "topic_arn": topic_arn,
        "subscription_arn": subscription,
        "queue_url": queue_url,
        "roles": roles,
        "service_linked_role": slr["RoleName"],
        "instance_id": instance_id,
        "instance_profile_arn": profile["Arn"],
        "association_id": association["AssociationId"],
        "ci_bot_keys": keys,
        "member_account": MEMBER_ACCOUNT,
        "member_role_id": member_role["RoleId"],
    }


def inline_policies(iam, role):
    out = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        # boto3 URL-decodes and parses the document already.
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        out[name] = doc
    return out


def web_app_instance(ec2):
    instances = [
        i
        for r in ec2.describe_instances(
            Filters=[{"Name": "tag:Name", "Values": [WEB_APP_TAG]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    if not instances:
        return None
    instance_id = instances[0]["InstanceId"]
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    return {
        "instance_id": instance_id,
        "state": instances[0]["State"]["Name"],
        "associations": [
            {
                "association_id": a["AssociationId"],
                "instance_profile_arn": a["IamInstanceProfile"]["Arn"],
                "state": a["State"],
            }
            for a in associations
        ],
    }


def queue_messages(sqs, drain):
    try:
        queue_url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return []
    out, seen = [], set()
    while True:
        kwargs = {
            "QueueUrl": queue_url,
            "MaxNumberOfMessages": 10,
            "MessageAttributeNames": ["All"],
            "WaitTimeSeconds": 0,
        }
        if not drain:
            # Peek: leave the messages visible for the next reader.
            kwargs["VisibilityTimeout"] = 0
        batch = sqs.receive_message(**kwargs).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for m in fresh:
            seen.add(m["MessageId"])
            out.append(describe_message(m))
            if drain:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if not drain:
            break
    return out


def describe_message(m):
    body = m["Body"]
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        return {"raw_body": body}
    if not isinstance(envelope, dict) or envelope.get("Type") != "Notification":
        # Raw delivery: the body is the message itself.
        return {"raw_body": body, "message": envelope}
    message = envelope.get("Message")
    try:
        parsed = json.loads(message)
    except (TypeError, json.JSONDecodeError):
        parsed = None
    return {
        "subject": envelope.get("Subject"),
        "attributes": {
            k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()
        },
        "message": parsed if parsed is not None else message,
        "message_is_json": parsed is not None,
        "topic_arn": envelope.get("TopicArn"),
        "message_id": envelope.get("MessageId"),
    }


def show(c, drain):
    iam, ec2, sqs = c["iam"], c["ec2"], c["sqs"]
    return {
        "policies": {
            role: inline_policies(iam, role)
            for role in ("app-deployer", "web-app", "billing-reader")
        },
        "role_ids": {r: iam.get_role(RoleName=r)["Role"]["RoleId"] for r in TRUST},
        "ci_bot_keys": {
            k["AccessKeyId"]: k["Status"]
            for k in iam.list_access_keys(UserName="ci-bot")["AccessKeyMetadata"]
        },
        "web_app_instance": web_app_instance(ec2),
        "member_policies": {"data-pipeline": inline_policies(c["member_iam"], "data-pipeline")},
        "admin_has_data_pipeline": any(
            r["RoleName"] == "data-pipeline" for r in iam.list_roles()["Roles"]
        ),
        "messages": queue_messages(sqs, drain),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["seed", "show"])
    p.add_argument("--endpoint", default=os.environ.get("MOTO_ENDPOINT"))
    p.add_argument(
        "--drain", action="store_true", help="show: delete the queue messages read"
    )
    args = p.parse_args()
    if not args.endpoint:
        sys.exit("seed.py: no endpoint: pass --endpoint or set MOTO_ENDPOINT")
    c = clients(args.endpoint)
    c["member_iam"] = member_iam(args.endpoint)
    result = seed(c) if args.mode == "seed" else show(c, args.drain)
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
