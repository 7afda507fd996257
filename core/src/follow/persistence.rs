//! What the attacker left behind, in one type: one line for the report, what to inspect and the
//! commands that undo it, every name in them validated in [`super::event`] /
//! [`super::footholds`] before it got here.

/// Something the attacker left behind (IAM, STS, or compute started with a role it passed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    AccessKey {
        user: String,
        access_key_id: String,
    },
    /// `UpdateAccessKey` with `Status=Active`: an inactive key is live again.
    AccessKeyActivated {
        user: String,
        access_key_id: String,
    },
    User {
        user: String,
    },
    LoginProfile {
        user: String,
    },
    LoginProfileUpdated {
        user: String,
    },
    UserPolicyAttached {
        user: String,
        policy_arn: String,
    },
    UserInlinePolicy {
        user: String,
        policy_name: String,
    },
    UserAddedToGroup {
        user: String,
        group: String,
    },
    GroupPolicyAttached {
        group: String,
        policy_arn: String,
    },
    GroupInlinePolicy {
        group: String,
        policy_name: String,
    },
    /// `CreatePolicyVersion`: a managed policy's new document (the default when `default`).
    PolicyVersionCreated {
        policy_arn: String,
        version: Option<String>,
        default: bool,
    },
    /// `SetDefaultPolicyVersion`: a managed policy switched to another of its documents.
    DefaultPolicyVersionSet {
        policy_arn: String,
        version: String,
    },
    Role {
        role: String,
    },
    TrustPolicyUpdated {
        role: String,
    },
    RolePolicyAttached {
        role: String,
        policy_arn: String,
    },
    RoleInlinePolicy {
        role: String,
        policy_name: String,
    },
    InstanceProfile {
        profile: String,
    },
    RoleAddedToProfile {
        profile: String,
        role: String,
    },
    /// A SAML identity provider created (`created`) or its metadata replaced.
    SamlProvider {
        arn: String,
        created: bool,
    },
    /// An OIDC identity provider created (`created`), or its thumbprints or client ids changed.
    OidcProvider {
        arn: String,
        created: bool,
    },
    /// An SSH public key for CodeCommit.
    SshPublicKey {
        user: String,
        key_id: String,
    },
    /// A service-specific credential (CodeCommit HTTPS, Amazon Keyspaces, Bedrock).
    ServiceSpecificCredential {
        user: String,
        credential_id: String,
    },
    /// An X.509 signing certificate of a user (SOAP, some legacy services).
    SigningCertificate {
        user: String,
        certificate_id: String,
    },
    /// A virtual MFA device created (`user: None`) or an MFA device enabled for a user: whoever
    /// holds its seed passes MFA conditions as that user.
    MfaDevice {
        user: Option<String>,
        serial: String,
    },
    /// `sts:AssumeRoot`: a root session in a member account. It cannot be restricted by a
    /// policy; it lasts at most 15 minutes; its key is followed.
    RootSession {
        account: String,
        access_key_id: Option<String>,
    },
    /// `RunInstances` with an instance profile: instances holding the role the attacker passed.
    Instances {
        region: String,
        instance_ids: Vec<String>,
        profile: String,
    },
    /// A Lambda function created with, or switched to, a role the attacker passed.
    Function {
        region: String,
        function: String,
        role_arn: String,
        created: bool,
    },
}

/// `deactivated, not deleted` advice shared by every credential a person turns off.
const KEEP_AS_EVIDENCE: &str =
    "deactivated, not deleted: keep it as evidence, delete it after the investigation";
const RESTORE_FROM_RECORDS: &str = "if a policy of that name existed before, the attacker replaced it: restore its earlier document from AWS Config or IaC";

impl Persistence {
    /// One line for the report (every name in it passed a `names` check).
    pub fn describe(&self) -> String {
        use Persistence::*;
        match self {
            AccessKey {
                user,
                access_key_id,
            } => {
                format!("access key {access_key_id} created for user {user}")
            }
            AccessKeyActivated {
                user,
                access_key_id,
            } => {
                format!("access key {access_key_id} of user {user} made active again")
            }
            User { user } => format!("user {user} created"),
            LoginProfile { user } => format!("console password created for user {user}"),
            LoginProfileUpdated { user } => format!("console password changed for user {user}"),
            UserPolicyAttached { user, policy_arn } => {
                format!("policy {policy_arn} attached to user {user}")
            }
            UserInlinePolicy { user, policy_name } => {
                format!("inline policy {policy_name} put on user {user}")
            }
            UserAddedToGroup { user, group } => format!("user {user} added to group {group}"),
            GroupPolicyAttached { group, policy_arn } => {
                format!("policy {policy_arn} attached to group {group}")
            }
            GroupInlinePolicy { group, policy_name } => {
                format!("inline policy {policy_name} put on group {group}")
            }
            PolicyVersionCreated {
                policy_arn,
                version,
                default,
            } => format!(
                "new version {} of policy {policy_arn}{}",
                version.as_deref().unwrap_or("(id not recorded)"),
                if *default { ", made the default" } else { "" }
            ),
            DefaultPolicyVersionSet {
                policy_arn,
                version,
            } => format!("policy {policy_arn} switched to its version {version}"),
            Role { role } => format!("role {role} created"),
            TrustPolicyUpdated { role } => format!("trust policy of role {role} changed"),
            RolePolicyAttached { role, policy_arn } => {
                format!("policy {policy_arn} attached to role {role}")
            }
            RoleInlinePolicy { role, policy_name } => {
                format!("inline policy {policy_name} put on role {role}")
            }
            InstanceProfile { profile } => format!("instance profile {profile} created"),
            RoleAddedToProfile { profile, role } => {
                format!("role {role} added to instance profile {profile}")
            }
            SamlProvider { arn, created: true } => format!("SAML provider {arn} created"),
            SamlProvider { arn, .. } => format!("SAML provider {arn} changed"),
            OidcProvider { arn, created: true } => format!("OIDC provider {arn} created"),
            OidcProvider { arn, .. } => format!("OIDC provider {arn} changed"),
            SshPublicKey { user, key_id } => {
                format!("SSH public key {key_id} uploaded for user {user}")
            }
            ServiceSpecificCredential {
                user,
                credential_id,
            } => format!("service-specific credential {credential_id} created for user {user}"),
            SigningCertificate {
                user,
                certificate_id,
            } => format!("signing certificate {certificate_id} uploaded for user {user}"),
            MfaDevice {
                user: Some(user),
                serial,
            } => format!("MFA device {serial} enabled for user {user}"),
            MfaDevice { user: None, serial } => format!("virtual MFA device {serial} created"),
            RootSession { account, .. } => {
                format!("root session (AssumeRoot) in account {account}")
            }
            Instances {
                region,
                instance_ids,
                profile,
            } => format!(
                "instances {} started in {region} with instance profile {profile}",
                instance_ids.join(" ")
            ),
            Function {
                region,
                function,
                role_arn,
                created,
            } => format!(
                "Lambda function {function} in {region} {} role {role_arn}",
                if *created {
                    "created with"
                } else {
                    "switched to"
                }
            ),
        }
    }

    /// An access key that is live because of the attacker: the one `CONTAIN_PERSISTENCE=contain`
    /// deactivates (user, key).
    pub fn live_key(&self) -> Option<(&str, &str)> {
        match self {
            Persistence::AccessKey {
                user,
                access_key_id,
            }
            | Persistence::AccessKeyActivated {
                user,
                access_key_id,
            } => Some((user, access_key_id)),
            _ => None,
        }
    }
}

/// What to inspect and the exact commands that undo one persistence event, and what they cannot
/// restore (names validated in [`super::event`]).
pub fn undo_commands(what: &Persistence) -> (Vec<String>, Option<String>) {
    use Persistence::*;
    let (commands, caveat): (Vec<String>, Option<&str>) = match what {
        AccessKey { user, access_key_id } | AccessKeyActivated { user, access_key_id } => (
            vec![format!(
                "aws iam update-access-key --user-name {user} --access-key-id {access_key_id} --status Inactive"
            )],
            Some("deactivated, not deleted: keep it as evidence, delete it (aws iam delete-access-key) after the investigation"),
        ),
        User { user } => (
            vec![
                format!("aws iam list-access-keys --user-name {user}"),
                format!("aws iam delete-login-profile --user-name {user}"),
                format!("aws iam list-attached-user-policies --user-name {user}"),
                format!("aws iam list-user-policies --user-name {user}"),
                format!("aws iam list-groups-for-user --user-name {user}"),
                format!("aws iam list-mfa-devices --user-name {user}"),
                format!("aws iam delete-user --user-name {user}"),
            ],
            Some("delete-user fails until the user's keys, login profile, policies, group memberships and MFA devices are removed"),
        ),
        LoginProfile { user } => (vec![format!("aws iam delete-login-profile --user-name {user}")], None),
        LoginProfileUpdated { user } => (
            vec![format!("aws iam delete-login-profile --user-name {user}")],
            Some("the previous password cannot be restored: remove console access, then let the owner set a new password"),
        ),
        UserPolicyAttached { user, policy_arn } => (
            vec![format!("aws iam detach-user-policy --user-name {user} --policy-arn {policy_arn}")],
            None,
        ),
        UserInlinePolicy { user, policy_name } => (
            vec![format!("aws iam delete-user-policy --user-name {user} --policy-name {policy_name}")],
            Some(RESTORE_FROM_RECORDS),
        ),
        UserAddedToGroup { user, group } => (
            vec![
                format!("aws iam list-attached-group-policies --group-name {group}"),
                format!("aws iam remove-user-from-group --user-name {user} --group-name {group}"),
            ],
            None,
        ),
        GroupPolicyAttached { group, policy_arn } => (
            vec![format!("aws iam detach-group-policy --group-name {group} --policy-arn {policy_arn}")],
            Some("every member of the group had this policy: look at what they did with it"),
        ),
        GroupInlinePolicy { group, policy_name } => (
            vec![format!("aws iam delete-group-policy --group-name {group} --policy-name {policy_name}")],
            Some(RESTORE_FROM_RECORDS),
        ),
        PolicyVersionCreated { policy_arn, version, .. } => {
            let mut c = vec![format!("aws iam list-policy-versions --policy-arn {policy_arn}")];
            c.push(format!(
                "aws iam set-default-policy-version --policy-arn {policy_arn} --version-id <the version that was the default before>"
            ));
            if let Some(v) = version {
                c.push(format!("aws iam delete-policy-version --policy-arn {policy_arn} --version-id {v}"));
            }
            (c, Some("the earlier default version is not in the event: pick it from list-policy-versions and AWS Config; delete-policy-version fails while the version is the default"))
        }
        DefaultPolicyVersionSet { policy_arn, version } => (
            vec![
                format!("aws iam get-policy-version --policy-arn {policy_arn} --version-id {version}"),
                format!("aws iam list-policy-versions --policy-arn {policy_arn}"),
                format!(
                    "aws iam set-default-policy-version --policy-arn {policy_arn} --version-id <the version that was the default before>"
                ),
            ],
            Some("the earlier default version is not in the event: take it from AWS Config or IaC"),
        ),
        Role { role } => (
            vec![
                format!("aws iam get-role --role-name {role}"),
                format!("aws iam list-attached-role-policies --role-name {role}"),
                format!("aws iam list-role-policies --role-name {role}"),
                format!("aws iam list-instance-profiles-for-role --role-name {role}"),
                format!("aws iam delete-role --role-name {role}"),
            ],
            Some("delete-role fails until the role's policies and instance profiles are removed; its trust policy says who can assume it"),
        ),
        TrustPolicyUpdated { role } => (
            vec![
                format!("aws iam get-role --role-name {role}"),
                format!("aws iam update-assume-role-policy --role-name {role} --policy-document file://trust-before.json"),
            ],
            Some("the earlier trust policy is not in the event: take it from AWS Config or IaC"),
        ),
        RolePolicyAttached { role, policy_arn } => (
            vec![format!("aws iam detach-role-policy --role-name {role} --policy-arn {policy_arn}")],
            None,
        ),
        RoleInlinePolicy { role, policy_name } => (
            vec![format!("aws iam delete-role-policy --role-name {role} --policy-name {policy_name}")],
            Some(RESTORE_FROM_RECORDS),
        ),
        InstanceProfile { profile } => (
            vec![format!("aws iam delete-instance-profile --instance-profile-name {profile}")],
            Some("delete-instance-profile fails while a role is in the profile"),
        ),
        RoleAddedToProfile { profile, role } => (
            vec![format!(
                "aws iam remove-role-from-instance-profile --instance-profile-name {profile} --role-name {role}"
            )],
            Some("instances already associated with the profile keep their current credentials until revoked"),
        ),
        SamlProvider { arn, created: true } => (
            vec![
                format!("aws iam get-saml-provider --saml-provider-arn {arn}"),
                format!("aws iam delete-saml-provider --saml-provider-arn {arn}"),
            ],
            Some("roles whose trust policy names this provider accept its sign-ins: look for them too"),
        ),
        SamlProvider { arn, .. } => (
            vec![
                format!("aws iam get-saml-provider --saml-provider-arn {arn}"),
                format!("aws iam update-saml-provider --saml-provider-arn {arn} --saml-metadata-document file://metadata-before.xml"),
            ],
            Some("the earlier metadata is not in the event: take it from your identity provider"),
        ),
        OidcProvider { arn, created: true } => (
            vec![
                format!("aws iam get-open-id-connect-provider --open-id-connect-provider-arn {arn}"),
                format!("aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {arn}"),
            ],
            Some("roles whose trust policy names this provider accept its tokens: look for them too"),
        ),
        OidcProvider { arn, .. } => (
            vec![format!("aws iam get-open-id-connect-provider --open-id-connect-provider-arn {arn}")],
            Some("remove the client ids and thumbprints the attacker added (remove-client-id-from-open-id-connect-provider, update-open-id-connect-provider-thumbprint)"),
        ),
        SshPublicKey { user, key_id } => (
            vec![format!(
                "aws iam update-ssh-public-key --user-name {user} --ssh-public-key-id {key_id} --status Inactive"
            )],
            Some(KEEP_AS_EVIDENCE),
        ),
        ServiceSpecificCredential { user, credential_id } => (
            vec![format!(
                "aws iam update-service-specific-credential --user-name {user} --service-specific-credential-id {credential_id} --status Inactive"
            )],
            Some(KEEP_AS_EVIDENCE),
        ),
        SigningCertificate { user, certificate_id } => (
            vec![format!(
                "aws iam update-signing-certificate --user-name {user} --certificate-id {certificate_id} --status Inactive"
            )],
            Some(KEEP_AS_EVIDENCE),
        ),
        MfaDevice { user: Some(user), serial } => (
            vec![
                format!("aws iam list-mfa-devices --user-name {user}"),
                format!("aws iam deactivate-mfa-device --user-name {user} --serial-number {serial}"),
            ],
            Some("whoever holds the device's seed passes MFA conditions as this user until it is deactivated"),
        ),
        MfaDevice { user: None, serial } => (
            vec![
                "aws iam list-virtual-mfa-devices --assignment-status Assigned".to_string(),
                format!("aws iam delete-virtual-mfa-device --serial-number {serial}"),
            ],
            Some("delete-virtual-mfa-device fails while the device is enabled for a user: deactivate it first"),
        ),
        RootSession { account, access_key_id } => (
            vec![match access_key_id {
                Some(k) => format!(
                    "# in account {account}: aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={k}"
                ),
                None => format!(
                    "# in account {account}: aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventName,AttributeValue=AssumeRoot"
                ),
            }],
            Some("a root session cannot be restricted by any policy; it lasts at most 15 minutes: look at what it did (and in every region), and who may call sts:AssumeRoot"),
        ),
        Instances { region, instance_ids, profile } => {
            let ids = instance_ids.join(" ");
            (
                vec![
                    format!("aws ec2 describe-instances --region {region} --instance-ids {ids}"),
                    format!("aws iam get-instance-profile --instance-profile-name {profile}"),
                    format!("aws ec2 stop-instances --region {region} --instance-ids {ids}"),
                ],
                Some("stopped, not terminated: keep the disks as evidence; credentials already taken from the instances live until their role's sessions are revoked"),
            )
        }
        Function { region, function, created, .. } => {
            let mut c = vec![
                format!("aws lambda get-function-configuration --region {region} --function-name {function}"),
                format!("aws lambda put-function-concurrency --region {region} --function-name {function} --reserved-concurrent-executions 0"),
            ];
            if !created {
                c.push(format!(
                    "aws lambda update-function-configuration --region {region} --function-name {function} --role <the role it had before>"
                ));
            }
            (c, Some("reserved concurrency 0 stops every invocation without deleting the function (evidence); look at its triggers and what the role allows"))
        }
    };
    (commands, caveat.map(str::to_string))
}
