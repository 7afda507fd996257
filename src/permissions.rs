//! Every AWS API action this function calls, in one place.
//!
//! `tests/template.rs` reads `template.yaml` and `member-role.yaml` and fails when a
//! template grants an action that is not listed here or misses one that is, so a new
//! SDK call without a permission (or a stale permission) fails the build.

/// Actions called with the function's own credentials (the administrator account).
pub const RESPONDER_ACTIONS: &[&str] = &[
    "iam:GetRole",
    "iam:ListRoles",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:UpdateAccessKey",
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
    // {"action": "restore"} (src/respond/restore.rs): a deny policy left empty is deleted.
    "iam:DeleteRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:GetInstanceProfile",
    "iam:PassRole",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DisassociateIamInstanceProfile",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "sns:Publish",
    "sts:AssumeRole",
    "cloudtrail:LookupEvents",
    // The regions whose CloudTrail the follow-up reads (no resource-level permissions).
    "ec2:DescribeRegions",
    "scheduler:CreateSchedule",
    // IDENTITY_CENTER_INSTANCE_ARN (src/aws/sso_admin.rs): the permission set of a stolen
    // Identity Center session, in the responder's own (Identity Center administration) account.
    "sso:ListPermissionSets",
    "sso:DescribePermissionSet",
    "sso:GetInlinePolicyForPermissionSet",
    "sso:PutInlinePolicyToPermissionSet",
    "sso:ProvisionPermissionSet",
    "sso:DescribePermissionSetProvisioningStatus",
    // VERIFY_FINDINGS (src/respond/verify.rs): GuardDuty's own copy of a finding; an
    // administrator reads a member's through its own detector, found with ListDetectors.
    "guardduty:GetFindings",
    "guardduty:ListDetectors",
    // The fire drill (src/respond/drill.rs): the canary's tag, checked before it is touched
    // (sts:AssumeRole on the canary is listed above). A role's approval tag comes with
    // iam:GetRole's answer (src/respond/approval.rs).
    "iam:ListRoleTags",
    // RECHECK_QUEUE_URL (src/aws/sqs.rs): the delayed look at each role policy written.
    "sqs:SendMessage",
];

/// Actions called in a member account through the assumed member role.
pub const MEMBER_ACTIONS: &[&str] = &[
    "iam:GetRole",
    "iam:ListRoles",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetUser",
    "iam:ListAccessKeys",
    "iam:UpdateAccessKey",
    "iam:GetUserPolicy",
    "iam:PutUserPolicy",
    // {"action": "restore"} (src/respond/restore.rs): a deny policy left empty is deleted.
    "iam:DeleteRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:GetInstanceProfile",
    "iam:PassRole",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DisassociateIamInstanceProfile",
    "ec2:AssociateIamInstanceProfile",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "cloudtrail:LookupEvents",
    // VERIFY_FINDINGS: the member's copy of its finding, by the detector its ARN names.
    "guardduty:GetFindings",
    // The fire drill in organization mode (src/respond/drill/org.rs): the canary's tag, and
    // the canary's sessions (member-role.yaml's DrillRole only).
    "iam:ListRoleTags",
    "sts:AssumeRole",
];

/// Granted to the function role for the Lambda service, not for calls the code makes: writing
/// its logs, sending failed async invocations to the failure queue (OnFailure destination, done
/// with the execution role), and using the stack's KMS key for that queue and for publishing to
/// the encrypted report topic.
pub const PLATFORM_ACTIONS: &[&str] = &[
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
    // The re-check queue's event source mapping polls with the function's role.
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "kms:GenerateDataKey",
    "kms:Decrypt",
];

/// Called but needs no IAM permission (AWS always allows it), so no template grants it.
pub const UNGATED_ACTIONS: &[&str] = &["sts:GetCallerIdentity"];
