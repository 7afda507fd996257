//! IAM Identity Center sessions: roles under `/aws-reserved/sso.amazonaws.com/` cannot be
//! changed through IAM. AWS's documented way to revoke one user's active session is a deny in the
//! *permission set's* inline policy, matched to that user, then provisioning the permission set
//! to the account again (Identity Center then rewrites the role's policy there).
//!
//! What this module decides, pure: which permission set (from the role's name), in which home
//! region (from the role's path), which sessions (`aws:userid` = `<RoleId>:<user name>`), and the
//! merged inline policy: our statements (Sid `SessionRevokerDenyStolenSessions`, `Deny` `*` on
//! `*`, exact `StringEquals aws:userid` + literal `DateLessThan aws:TokenIssueTime`) beside every
//! other statement of the permission set, which are kept as they are.
//!
//! One permission set is provisioned into many accounts. The statement stays exact everywhere:
//! the `aws:userid` values carry the RoleId of the role in the finding's account, and the role of
//! the same permission set in another account has another RoleId. A user who signs in again gets
//! the same `aws:userid` (the session name is the user name): the cutoff is what separates the
//! stolen token from the user's fresh one, so each id keeps its own cutoff, as in session scope.

use super::cutoff::MAX_CUTOFF_AHEAD;
use super::session::{invalid_session, stolen_sessions};
use crate::config::Config;
use crate::model::facts::RoleFacts;
use crate::model::{ActionKind, AwsError, Incident, PlannedAction, RoleInfo, Step};
use crate::names::{self, format_utc, parse_utc};
use crate::policy::{self, SessionRevocations};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// Path of the roles Identity Center creates; the instance's home region follows it, except
/// for instances in `us-east-1` (AWS: "Referencing permission sets in resource policies").
pub const ROLE_PATH: &str = "/aws-reserved/sso.amazonaws.com/";
/// The Sid of our statement in the permission set's inline policy (the name session scope
/// gives its policy, so a person recognises both). Further cutoffs get `…2`, `…3`.
pub const STATEMENT_SID: &str = policy::SESSION_POLICY_NAME;
/// `PutInlinePolicyToPermissionSet` accepts at most this many characters.
pub const INLINE_POLICY_LIMIT: usize = 32_768;
/// Provisioning makes the permission set's inline policy an inline policy of the role in every
/// assigned account, where IAM's budget for a role's inline policies applies (10,240
/// characters, whitespace not counted): the smaller of the two limits is the one that holds.
pub const PROVISIONED_POLICY_LIMIT: usize = policy::INLINE_POLICY_BUDGET;
/// Identity Center's home region when the role path names none.
const PATH_WITHOUT_REGION: &str = "us-east-1";

pub fn is_identity_center_role(role: &RoleInfo) -> bool {
    role.path.starts_with(ROLE_PATH)
}

/// `AWSReservedSSO_<permission set name>_<suffix>` → the permission set's name. Permission set
/// names are `[\w+=,.@-]{1,32}` and may hold `_`: the suffix is what follows the last one.
pub fn permission_set_name(role_name: &str) -> Option<&str> {
    let rest = role_name.strip_prefix("AWSReservedSSO_")?;
    let (name, suffix) = rest.rsplit_once('_')?;
    let name_ok = (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let suffix_ok =
        (8..=32).contains(&suffix.len()) && suffix.bytes().all(|b| b.is_ascii_hexdigit());
    (name_ok && suffix_ok).then_some(name)
}

/// The Identity Center home region from the role's path: `/aws-reserved/sso.amazonaws.com/<region>/`,
/// or `us-east-1` when the path names none (commercial partition only: elsewhere unknown).
pub fn home_region(role: &RoleInfo) -> Option<String> {
    let rest = role.path.strip_prefix(ROLE_PATH)?;
    let region = rest.trim_end_matches('/');
    if region.is_empty() {
        return role
            .arn
            .starts_with("arn:aws:")
            .then(|| PATH_WITHOUT_REGION.to_string());
    }
    is_region(region).then(|| region.to_string())
}

fn is_region(r: &str) -> bool {
    (4..=30).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && r.contains('-')
        && !r.starts_with('-')
}

/// What is revoked through Identity Center: validated names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSetTarget {
    pub instance_arn: String,
    pub permission_set: String,
    pub home_region: String,
    /// The finding's account, where the permission set is provisioned again.
    pub account: String,
    pub role: String,
    /// `aws:userid` values of the stolen sessions (`<RoleId>:<user name>`).
    pub sessions: Vec<String>,
}

impl PermissionSetTarget {
    /// The Identity Center user names of the stolen sessions: an `AWSReservedSSO_` role
    /// session is named after the user (`<RoleId>:<user name>`, validated session names).
    fn users(&self) -> impl Iterator<Item = &str> {
        self.sessions
            .iter()
            .filter_map(|s| s.split_once(':').map(|(_, user)| user))
            .filter(|u| names::is_valid_session_name(u))
    }

    /// The permission-set deny refuses the role sessions issued before its cutoff, not the
    /// user's AWS access portal session, which mints new ones (issued after the cutoff, so not
    /// refused) until it ends: a person ends it.
    pub fn portal_session_steps(&self) -> Vec<String> {
        self.users()
            .map(|user| {
                format!(
                    "End {user}'s AWS access portal session, which mints new role sessions this deny does not refuse: IAM Identity Center console > Users > {user} > Active sessions > delete each session (or Disable user access); it otherwise lasts the portal's session duration (Settings > Authentication, 8 hours by default, up to 90 days for extended sessions)"
                )
            })
            .collect()
    }

    /// When the deny cannot be written: take the user's assignment of this permission set to
    /// the account away (nothing is deleted from the user), then end the portal session.
    pub fn suspend_steps(&self, permission_set_arn: &str) -> Vec<String> {
        let region = &self.home_region;
        let mut steps = vec![format!(
            "aws sso-admin list-instances --region {region}  # the IdentityStoreId of {}",
            self.instance_arn
        )];
        for user in self.users() {
            steps.push(format!(
                "aws identitystore get-user-id --region {region} --identity-store-id <IdentityStoreId> --alternate-identifier '{{\"UniqueAttribute\":{{\"AttributePath\":\"userName\",\"AttributeValue\":\"{user}\"}}}}'"
            ));
            steps.push(format!(
                "aws sso-admin delete-account-assignment --region {region} --instance-arn {} --target-id {} --target-type AWS_ACCOUNT --permission-set-arn {permission_set_arn} --principal-type USER --principal-id <UserId>  # suspends {user}'s access to this account through {}",
                self.instance_arn, self.account, self.permission_set
            ));
        }
        steps.extend(self.portal_session_steps());
        steps
    }
}

/// Where an Identity Center finding goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Not an Identity Center role, or `IDENTITY_CENTER_INSTANCE_ARN` is unset, or the role is
    /// protected otherwise: the ordinary decision (`decide_role`) applies.
    Ordinary,
    /// Nothing to write: the action says why (and what a person does).
    Done(PlannedAction),
    Revoke(PermissionSetTarget),
}

/// Whether (and what) to revoke through the permission set of `IDENTITY_CENTER_INSTANCE_ARN`.
pub fn route(incident: &Incident, facts: &RoleFacts, config: &Config) -> Route {
    let role = &facts.role;
    let Some(instance_arn) = config.identity_center_instance_arn.as_deref() else {
        return Route::Ordinary;
    };
    if !is_identity_center_role(role)
        || config
            .protecting_pattern(&role.name, Some(&role.arn))
            .is_some()
    {
        return Route::Ordinary;
    }
    // An Identity Center role trusts only Identity Center's SAML provider, so the responder
    // cannot run as one; a responder whose own role is unknown is still no such role.
    if matches!(&facts.responder_role, Ok(Some(own)) if own == &role.name) {
        return Route::Ordinary;
    }
    let manual = |reason: String| {
        Route::Done(PlannedAction::new(
            ActionKind::RevokeSessions,
            &role.name,
            Step::Manual {
                reason,
                commands: by_hand_steps(role, incident, config),
            },
        ))
    };
    if let Some(bad) = invalid_session(incident) {
        return Route::Done(PlannedAction::new(
            ActionKind::RevokeSessions,
            &role.name,
            Step::Fail {
                error: AwsError::new(
                    "ValidateFinding",
                    "InvalidSessionName",
                    format!("the stolen session name {bad:?} is not a valid STS role session name ([\\w+=,.@-], 2-64 characters): nothing was written to the permission set; check the finding (it may be forged)"),
                ),
            },
        ));
    }
    let Some(permission_set) = permission_set_name(&role.name) else {
        return manual(format!(
            "{} is under {ROLE_PATH} but its name is not AWSReservedSSO_<permission set>_<suffix>: the permission set is unknown and nothing was written",
            role.name
        ));
    };
    let Some(home_region) = home_region(role) else {
        return manual(format!(
            "the path of {} ({}) does not tell Identity Center's home region: nothing was written",
            role.name,
            crate::text::safe_text(&role.path, 80)
        ));
    };
    let Some(account) = names::parse_role_arn(&role.arn).map(|(account, _, _)| account) else {
        return manual(format!(
            "the ARN of {} names no account: nothing was written",
            role.name
        ));
    };
    let sessions = stolen_sessions(incident, role);
    if sessions.is_empty() {
        return manual(format!(
            "the finding names no session of {} (<RoleId>:<user name>): a deny without one would refuse every user of permission set {permission_set}, so nothing was written",
            role.name
        ));
    }
    Route::Revoke(PermissionSetTarget {
        instance_arn: instance_arn.to_string(),
        permission_set: permission_set.to_string(),
        home_region,
        account,
        role: role.name.clone(),
        sessions,
    })
}

// ---------------------------------------------------------------------------------------------
// By hand

/// The steps a person runs to do what this tool does through Identity Center, exact where the
/// finding and IAM give validated names, with placeholders where they do not. The cutoff is the
/// moment the person writes the statement (`date -u`).
pub fn by_hand_steps(role: &RoleInfo, incident: &Incident, config: &Config) -> Vec<String> {
    let region = home_region(role).unwrap_or_else(|| "<identity-center-home-region>".into());
    let permission_set = permission_set_name(&role.name).unwrap_or("<permission-set-name>");
    let account = names::parse_role_arn(&role.arn)
        .map(|(a, _, _)| a)
        .or_else(|| incident.account.clone().filter(|a| names::is_account_id(a)))
        .unwrap_or_else(|| "<account-id>".into());
    let sessions = stolen_sessions(incident, role);
    let mut steps = vec![format!(
        "# with credentials of the Identity Center administration account (management or delegated administrator), in its home region {region}:"
    )];
    match config.identity_center_instance_arn.as_deref().filter(|a| crate::config::is_identity_center_instance_arn(a)) {
        Some(arn) => steps.push(format!("INSTANCE_ARN={arn}")),
        None => steps.push(format!(
            "INSTANCE_ARN=$(aws sso-admin list-instances --region {region} --query 'Instances[0].InstanceArn' --output text)"
        )),
    }
    steps.push(format!(
        "for ps in $(aws sso-admin list-permission-sets --region {region} --instance-arn \"$INSTANCE_ARN\" --query 'PermissionSets[]' --output text); do [ \"$(aws sso-admin describe-permission-set --region {region} --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$ps\" --query 'PermissionSet.Name' --output text)\" = {permission_set} ] && PS_ARN=$ps; done; echo \"$PS_ARN\"  # permission set {permission_set}"
    ));
    steps.push(format!(
        "aws sso-admin get-inline-policy-for-permission-set --region {region} --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --query InlinePolicy --output text > inline.json; grep -q '{{' inline.json || echo '{{\"Version\":\"2012-10-17\",\"Statement\":[]}}' > inline.json  # every statement in it is kept"
    ));
    if sessions.is_empty() {
        steps.push(format!(
            "# the finding names no session of {} (<RoleId>:<user name>): find the user's aws:userid in CloudTrail (userIdentity.principalId) before writing a deny; a deny without it refuses every user of the permission set",
            role.name
        ));
    } else {
        let ids: Vec<&str> = sessions.iter().map(String::as_str).collect();
        steps.push(statement_command(&ids));
        steps.push(format!(
            "jq --slurpfile s statement.json '.Statement = ([.Statement // []] | flatten) | if any(.Statement[]; (.Sid // \"\") | startswith(\"{STATEMENT_SID}\")) then error(\"a {STATEMENT_SID} statement is in place: add the ids to its aws:userid list and keep the later cutoff\") else .Statement += $s end' inline.json > merged.json  # adds the statement, touches nothing else"
        ));
    }
    steps.push(format!(
        "aws sso-admin put-inline-policy-to-permission-set --region {region} --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --inline-policy file://merged.json"
    ));
    steps.push(format!(
        "aws sso-admin provision-permission-set --region {region} --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --target-type AWS_ACCOUNT --target-id {account}"
    ));
    steps.push(format!(
        "aws sso-admin describe-permission-set-provisioning-status --region {region} --instance-arn \"$INSTANCE_ARN\" --provisioning-request-id <RequestId printed by provision-permission-set>  # until SUCCEEDED"
    ));
    steps.push("Then suspend the user in Identity Center (or disable them at the identity source) and delete their active access portal sessions".into());
    steps
}

/// A command that writes `statement.json` with the cutoff at the moment it runs.
fn statement_command(ids: &[&str]) -> String {
    const PLACEHOLDER: &str = "2000-01-01T00:00:00Z";
    let one = statement(STATEMENT_SID.to_string(), ids, PLACEHOLDER);
    let text = serde_json::to_string(&one).expect("statement serializes");
    let template = text.replace('%', "%%").replace(PLACEHOLDER, "%s");
    if template.contains("%s") && !template.contains('\'') {
        format!(
            "printf '{template}' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > statement.json  # cutoff: the moment this runs"
        )
    } else {
        // Not reached with validated ids; never a command that could break.
        "# statement.json: write the deny statement by hand".into()
    }
}

mod inline;
pub use inline::*;

#[cfg(test)]
mod tests;
