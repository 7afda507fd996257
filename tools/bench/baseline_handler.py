"""The cold-start baseline for `make bench`: a minimal Python Lambda handler that creates the
same AWS clients as session-revoker (IAM, SNS, STS, EC2) at import, as a boto3 function would.

Region and endpoint come from the environment (AWS_REGION, AWS_ENDPOINT_URL), as in Lambda.
"""

import boto3

iam = boto3.client("iam")
sns = boto3.client("sns")
sts = boto3.client("sts")
ec2 = boto3.client("ec2")


def handler(event, context):
    # The baseline measures start-up only; the handler answers without calling AWS.
    return {"ok": True, "keys": sorted(event)[:8] if isinstance(event, dict) else None}
