//! The exact commands a person runs (or that undo what the attacker did), built only from
//! names validated in [`super::event`].

use super::event::{AssumedSession, EventRef, MintedToken, Persistence};
use crate::config::RevokeScope;
use crate::policy::{self, RevocationPolicy, SessionRevocations};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub(super) fn event_lookup_command(event: &EventRef) -> String {
    let region = event.region.as_deref().unwrap_or("us-east-1");
    match &event.event_id {
        Some(id) => format!(
            "aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=EventId,AttributeValue={id}"
        ),
        None => format!(
            "aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=EventName,AttributeValue={}",
            event.event_name
        ),
    }
}

/// The by-hand revocation of one session, every value validated upstream.
pub(super) fn session_commands(
    s: &AssumedSession,
    scope: RevokeScope,
    cutoff: OffsetDateTime,
) -> Vec<String> {
    let (policy_name, document) = match scope {
        RevokeScope::Role => (
            policy::ROLE_POLICY_NAME,
            RevocationPolicy { cutoff }.to_json(),
        ),
        RevokeScope::Session | RevokeScope::Auto => (
            policy::SESSION_POLICY_NAME,
            SessionRevocations {
                sessions: BTreeMap::from([(s.assumed_role_id.clone(), cutoff)]),
            }
            .to_json(),
        ),
    };
    vec![
        format!(
            "# in account {}, with credentials of that account (merge with any existing {policy_name} statements):",
            s.role.account
        ),
        format!(
            "aws iam put-role-policy --role-name {} --policy-name {policy_name} --policy-document file://deny.json",
            s.role.name
        ),
        format!("deny.json: {document}"),
    ]
}

/// The by-hand revocation of an IAM user's minted tokens.
pub(super) fn user_commands(token: &MintedToken, cutoff: OffsetDateTime) -> Vec<String> {
    vec![
        format!(
            "# in account {}, with credentials of that account:",
            token.account
        ),
        format!(
            "aws iam put-user-policy --user-name {} --policy-name {} --policy-document file://deny.json",
            token.user_name,
            policy::ROLE_POLICY_NAME
        ),
        format!("deny.json: {}", RevocationPolicy { cutoff }.to_json()),
    ]
}

/// The exact commands that undo one persistence event (names validated in [`super::event`]).
pub fn undo_commands(what: &Persistence) -> (Vec<String>, Option<String>) {
    match what {
        Persistence::AccessKey { user, access_key_id } => (
            vec![format!(
                "aws iam update-access-key --user-name {user} --access-key-id {access_key_id} --status Inactive"
            )],
            Some("deactivated, not deleted: keep it as evidence, delete it (aws iam delete-access-key) after the investigation".into()),
        ),
        Persistence::User { user } => (
            vec![
                format!("aws iam list-access-keys --user-name {user}"),
                format!("aws iam delete-login-profile --user-name {user}"),
                format!("aws iam list-attached-user-policies --user-name {user}"),
                format!("aws iam list-user-policies --user-name {user}"),
                format!("aws iam delete-user --user-name {user}"),
            ],
            Some("delete-user fails until the user's keys, login profile, policies, group memberships and MFA devices are removed".into()),
        ),
        Persistence::LoginProfile { user } => (
            vec![format!("aws iam delete-login-profile --user-name {user}")],
            None,
        ),
        Persistence::LoginProfileUpdated { user } => (
            vec![format!("aws iam delete-login-profile --user-name {user}")],
            Some("the previous password cannot be restored: remove console access, then let the owner set a new password".into()),
        ),
        Persistence::UserPolicyAttached { user, policy_arn } => (
            vec![format!(
                "aws iam detach-user-policy --user-name {user} --policy-arn {policy_arn}"
            )],
            None,
        ),
        Persistence::UserInlinePolicy { user, policy_name } => (
            vec![format!(
                "aws iam delete-user-policy --user-name {user} --policy-name {policy_name}"
            )],
            Some("if a policy of that name existed before, the attacker replaced it: restore its earlier document from AWS Config or IaC".into()),
        ),
        Persistence::Role { role } => (
            vec![
                format!("aws iam list-attached-role-policies --role-name {role}"),
                format!("aws iam list-role-policies --role-name {role}"),
                format!("aws iam list-instance-profiles-for-role --role-name {role}"),
                format!("aws iam delete-role --role-name {role}"),
            ],
            Some("delete-role fails until the role's policies and instance profiles are removed".into()),
        ),
        Persistence::TrustPolicyUpdated { role } => (
            vec![format!(
                "aws iam update-assume-role-policy --role-name {role} --policy-document file://trust-before.json"
            )],
            Some("the earlier trust policy is not in the event: take it from AWS Config or IaC".into()),
        ),
        Persistence::RolePolicyAttached { role, policy_arn } => (
            vec![format!(
                "aws iam detach-role-policy --role-name {role} --policy-arn {policy_arn}"
            )],
            None,
        ),
        Persistence::RoleInlinePolicy { role, policy_name } => (
            vec![format!(
                "aws iam delete-role-policy --role-name {role} --policy-name {policy_name}"
            )],
            Some("if a policy of that name existed before, the attacker replaced it: restore its earlier document from AWS Config or IaC".into()),
        ),
        Persistence::InstanceProfile { profile } => (
            vec![format!(
                "aws iam delete-instance-profile --instance-profile-name {profile}"
            )],
            Some("delete-instance-profile fails while a role is in the profile".into()),
        ),
        Persistence::RoleAddedToProfile { profile, role } => (
            vec![format!(
                "aws iam remove-role-from-instance-profile --instance-profile-name {profile} --role-name {role}"
            )],
            Some("instances already associated with the profile keep their current credentials until revoked".into()),
        ),
    }
}
