//! Organization mode of the fire drill: which member accounts a drill goes into, the canary's
//! ARN there, and for each step the command a person runs to see why it failed.
//!
//! A drill goes into every account the function would act in by configuration: its own (the
//! canary `DRILL_ROLE_ARN`) and each member account of `ALLOWED_ACCOUNTS` (the canary
//! `DRILL_ROLE_NAME`, which `member-role.yaml` creates, reached through the member role).
//! With `ALLOWED_ACCOUNTS` empty the function acts in any account a finding names; the drill
//! cannot list those (no `organizations:ListAccounts`; see the README) and says so.

use super::StepName;
use crate::policy::{ROLE_POLICY_NAME, SESSION_POLICY_NAME};

/// The member accounts a drill goes into: `ALLOWED_ACCOUNTS` without the function's own
/// account, each once, in the configured order.
pub fn member_accounts(own: &str, allowed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in allowed {
        if a != own && !out.contains(a) {
            out.push(a.clone());
        }
    }
    out
}

/// Why a member account cannot be drilled with this configuration (`None`: it can).
pub fn member_refusal(
    member_role_name: Option<&str>,
    drill_role_name: Option<&str>,
) -> Option<String> {
    match (member_role_name, drill_role_name) {
        (None, _) => Some(
            "MEMBER_ROLE_NAME is not set: the function cannot reach this account of ALLOWED_ACCOUNTS, in a drill or for a finding".into(),
        ),
        (Some(_), None) => Some(
            "DRILL_ROLE_NAME is not set: the canary member-role.yaml creates in member accounts is unknown (the template sets it from DrillRoleName)".into(),
        ),
        (Some(_), Some(_)) => None,
    }
}

/// Whether the function's own account is left out by `ALLOWED_ACCOUNTS` (a list without it):
/// the function acts on no finding there, so its canary there is not drilled.
pub fn own_excluded(own: &str, allowed: &[String]) -> bool {
    !allowed.is_empty() && !allowed.iter().any(|a| a == own)
}

/// What a drill does not cover with this configuration (`None`: every account the function
/// would act in): its own account when `ALLOWED_ACCOUNTS` leaves it out, and with
/// `MEMBER_ROLE_NAME` set and `ALLOWED_ACCOUNTS` empty, the member accounts (the function acts in
/// any a finding names, and the drill cannot list them: it does not call
/// `organizations:ListAccounts`).
pub fn coverage_note(
    own: Option<&str>,
    member_role_name: Option<&str>,
    allowed: &[String],
) -> Option<String> {
    let mut notes = Vec::new();
    if let Some(own) = own.filter(|o| own_excluded(o, allowed)) {
        notes.push(format!(
            "the function's own account {own} is not in ALLOWED_ACCOUNTS: it acts on no finding there, and its canary was not drilled"
        ));
    }
    if member_role_name.is_some() && allowed.is_empty() {
        notes.push(
            "ALLOWED_ACCOUNTS is empty: the function acts in any member account a finding names, and the drill went only into its own; list the member accounts in ALLOWED_ACCOUNTS (AllowedAccounts) to drill them too".to_string(),
        );
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// The canary's ARN in a member account: the member role's ARN (its partition and account)
/// with the canary's name. `None` when `member_role_arn` is not a role ARN.
pub fn member_canary_arn(member_role_arn: &str, canary: &str) -> Option<String> {
    let (account, _path, _name) = crate::names::parse_role_arn(member_role_arn)?;
    let partition = member_role_arn.split(':').nth(1)?;
    Some(format!("arn:{partition}:iam::{account}:role/{canary}"))
}

/// What a failing step's command needs. Every value comes from the configuration (validated
/// role names and account ids) or from IAM's own answers, never from a finding.
#[derive(Debug, Clone, Default)]
pub struct Where<'a> {
    pub account: &'a str,
    /// The canary's name and ARN.
    pub canary: &'a str,
    pub canary_arn: &'a str,
    /// Whose credentials the drill uses there: the function's role (own account) or the
    /// member role; `None` when unknown (the function does not run as a role).
    pub caller_arn: Option<&'a str>,
    /// Set when the member role is assumed with an external id (its value is never printed).
    pub external_id: bool,
}

/// The command that shows why `step` failed, run in `w.account` with the credentials named.
pub fn command(step: StepName, w: &Where<'_>) -> String {
    let caller = w.caller_arn.unwrap_or("<the function's role ARN>");
    let Where {
        account,
        canary,
        canary_arn,
        ..
    } = w;
    match step {
        StepName::AssumeMemberRole => format!(
            "aws sts assume-role --role-arn {caller} --role-session-name drill-check{} (with the function's role credentials: the member role's trust must name the function's role{})",
            if w.external_id { " --external-id \"$MEMBER_ROLE_EXTERNAL_ID\"" } else { "" },
            if w.external_id { " and the external id" } else { "" },
        ),
        StepName::CheckCanary => format!(
            "aws iam list-role-tags --role-name {canary} (in account {account}, as {caller})"
        ),
        StepName::SessionsWork | StepName::FreshSessionWorks => format!(
            "aws iam get-role --role-name {canary} --query 'Role.AssumeRolePolicyDocument' (in account {account}: the trust must name {caller}), and aws iam list-role-policies --role-name {canary} (read-itself allows iam:GetRole on {canary_arn})"
        ),
        StepName::ContainSession | StepName::ContainRole => format!(
            "aws iam simulate-principal-policy --policy-source-arn {caller} --action-names iam:GetRolePolicy iam:PutRolePolicy --resource-arns {canary_arn} (in account {account})"
        ),
        StepName::SessionRefused | StepName::OtherSessionWorks => format!(
            "aws iam get-role-policy --role-name {canary} --policy-name {SESSION_POLICY_NAME} (in account {account}: the deny's aws:userid and cutoff against the session's)"
        ),
        StepName::RoleRefused => format!(
            "aws iam get-role-policy --role-name {canary} --policy-name {ROLE_POLICY_NAME} (in account {account}: the cutoff against the session's issue time)"
        ),
    }
}
