//! Deciding about a role: protected or not, role-wide or session-scoped, covered already or
//! not, and whether an instance needs fresh credentials.

use super::cutoff::new_cutoff;
use super::role_wide::role_wide;
use super::session::{invalid_session, session_scoped, stolen_sessions};
use crate::config::{Config, RevokeScope};
use crate::finding_types;
pub use crate::model::facts::RoleFacts;
use crate::model::{ActionKind, AwsError, Incident, PlannedAction, RoleInfo, Step, Write};
use crate::names;
use crate::policy::{self, RevocationPolicy};
use time::OffsetDateTime;

/// Reasons a role is never revoked, whatever the finding says.
pub fn protection(
    role: &RoleInfo,
    responder_role: &Result<Option<String>, String>,
    config: &Config,
) -> Option<String> {
    if role.path.starts_with("/aws-service-role/") {
        return Some(format!("{} is a service-linked role (path /aws-service-role/): AWS does not allow modifying it", role.name));
    }
    if let Some(p) = config.protecting_pattern(&role.name, Some(&role.arn)) {
        return Some(format!(
            "{} matches PROTECTED_ROLES pattern {:?}",
            role.name,
            p.as_str()
        ));
    }
    if role.path.starts_with("/aws-reserved/sso.amazonaws.com/") {
        return Some(format!(
            "{} is an IAM Identity Center role (path /aws-reserved/sso.amazonaws.com/): IAM cannot change it; revoke the user's session through the permission set (the steps below), or set IDENTITY_CENTER_INSTANCE_ARN to have this function do it",
            role.name
        ));
    }
    match responder_role {
        Ok(Some(own)) if own == &role.name => {
            Some(format!("{} is the responder's own role", role.name))
        }
        Ok(_) => None,
        Err(why) => Some(format!(
            "cannot confirm {} is not the responder's own role ({why}); set RESPONDER_ROLE_ARN",
            role.name
        )),
    }
}

/// What a person does for a role this function will not write to.
fn protected_role_steps(
    role: &RoleInfo,
    incident: &Incident,
    now: OffsetDateTime,
    config: &Config,
) -> Vec<String> {
    let account = incident
        .account
        .as_deref()
        .filter(|a| names::is_account_id(a))
        .unwrap_or("<account>");
    if role.path.starts_with("/aws-service-role/") {
        return vec![
            format!("In account {account}: service-linked role {} cannot be changed; find what the stolen session did (CloudTrail, by the finding's access key) and contain it at the resources it reached", role.name),
            "Open an AWS Support case if the service's credentials themselves are exposed".into(),
        ];
    }
    if role.path.starts_with("/aws-reserved/sso.amazonaws.com/") {
        return super::identity_center::by_hand_steps(role, incident, config);
    }
    vec![
        format!("Confirm the finding, then in account {account}: aws iam put-role-policy --role-name {} --policy-name {} --policy-document file://deny.json", role.name, policy::ROLE_POLICY_NAME),
        format!("deny.json: {}", RevocationPolicy { cutoff: new_cutoff(now, config) }.to_json()),
    ]
}

/// The decision for a role whose facts are known.
pub fn decide_role(
    incident: &Incident,
    facts: &RoleFacts,
    config: &Config,
    now: OffsetDateTime,
) -> Vec<PlannedAction> {
    let role = &facts.role;
    if let Some(reason) = protection(role, &facts.responder_role, config) {
        // The stolen session is still live: a person must act, so this is never "skipped".
        return vec![PlannedAction::new(
            ActionKind::RevokeRoleSessions,
            &role.name,
            Step::Manual {
                commands: protected_role_steps(role, incident, now, config),
                reason,
            },
        )];
    }
    // A failed read must not turn into a write that could lower a cutoff in place.
    let role_policy = match &facts.role_policy {
        Ok(doc) => doc.as_deref(),
        Err(error) => return vec![fail(incident, config, role, error)],
    };
    let cutoff = new_cutoff(now, config);
    let mut actions = Vec::new();
    let revoke = match effective_scope(incident, config) {
        RevokeScope::Session => {
            if let Some(bad) = invalid_session(incident) {
                return vec![PlannedAction::new(
                    ActionKind::RevokeSessions,
                    &role.name,
                    Step::Fail {
                        error: AwsError::new(
                            "ValidateFinding",
                            "InvalidSessionName",
                            format!("the stolen session name {bad:?} is not a valid STS role session name ([\\w+=,.@-], 2-64 characters): nothing was written; check the finding (it may be forged) and revoke role-wide by hand if it is genuine"),
                        ),
                    },
                )];
            }
            let sessions = stolen_sessions(incident, role);
            match &facts.session_policy {
                Err(error) => return vec![fail(incident, config, role, error)],
                Ok(_) if sessions.is_empty() => role_wide(
                    role,
                    role_policy,
                    incident,
                    cutoff,
                    Some(join_notes("REVOKE_SCOPE=session but no session of this role is named: revoked role-wide", &facts.note)),
                    now,
                ),
                Ok(existing) => session_scoped(role, role_policy, existing.as_deref(), &sessions, incident, cutoff, now),
            }
        }
        RevokeScope::Role | RevokeScope::Auto => {
            role_wide(role, role_policy, incident, cutoff, facts.note.clone(), now)
        }
    };
    // The instance gets fresh credentials only after this run writes its deny (not after a
    // re-delivery that found it covered), and never before the latest cutoff in place.
    let written_cutoff = match &revoke.step {
        Step::Write(Write::PutRolePolicy { cutoff, .. }) => Some(*cutoff),
        _ => None,
    };
    actions.push(revoke);
    if let (Some(not_before), true) = (written_cutoff, config.reassociate_instance_profile) {
        if let Some(a) = reassociation(incident, role, not_before.max(cutoff)) {
            actions.push(a);
        }
    }
    actions
}

/// The scope for this incident, `Role` or `Session` (never `Auto`): a manual request naming a
/// session is always session-scoped; with `Auto`, stolen instance credentials are.
pub fn effective_scope(incident: &Incident, config: &Config) -> RevokeScope {
    if incident.requested_session.is_some() {
        return RevokeScope::Session;
    }
    match config.revoke_scope {
        RevokeScope::Auto => {
            let instance_session = incident
                .principal
                .session_name()
                .is_some_and(names::is_instance_id)
                && incident.principal.role_id().is_some();
            if instance_session {
                RevokeScope::Session
            } else {
                RevokeScope::Role
            }
        }
        scope => scope,
    }
}

fn join_notes(a: &str, b: &Option<String>) -> String {
    match b {
        Some(b) => format!("{a}; {b}"),
        None => a.to_string(),
    }
}

fn fail(incident: &Incident, config: &Config, role: &RoleInfo, error: &AwsError) -> PlannedAction {
    let kind = match effective_scope(incident, config) {
        RevokeScope::Session => ActionKind::RevokeSessions,
        RevokeScope::Role | RevokeScope::Auto => ActionKind::RevokeRoleSessions,
    };
    PlannedAction::new(
        kind,
        &role.name,
        Step::Fail {
            error: error.clone(),
        },
    )
}

/// The instance whose profile credentials were stolen: the session name when it is an
/// instance id, else `instanceDetails.instanceId` for the instance-exfiltration types.
pub fn stolen_instance(incident: &Incident) -> Option<String> {
    if let Some(session) = incident
        .principal
        .session_name()
        .filter(|s| names::is_instance_id(s))
    {
        return Some(session.to_string());
    }
    let exfiltration = incident
        .finding_type
        .as_deref()
        .is_some_and(finding_types::is_instance_exfiltration);
    incident
        .instance_id
        .as_deref()
        .filter(|id| exfiltration && names::is_instance_id(id))
        .map(str::to_string)
}

fn reassociation(
    incident: &Incident,
    role: &RoleInfo,
    cutoff: OffsetDateTime,
) -> Option<PlannedAction> {
    let instance_id = stolen_instance(incident)?;
    // EC2 is regional: the instance is acted on in the finding's region, never in a default one.
    // The region is attacker-influenced and becomes part of the EC2 endpoint's host name: one that
    // is not a region name is refused. The deny is written either way; only the fresh credentials
    // wait for a person (the instance also renews them by itself within hours).
    let region = match incident.region.as_deref() {
        Some(r) if names::is_region(r) => r.to_string(),
        other => {
            let why = match other {
                Some(r) => format!(
                    "the finding's region {:?} is not an AWS region name (it may be forged)",
                    r.chars().take(64).collect::<String>()
                ),
                None => "the finding names no region".to_string(),
            };
            return Some(PlannedAction::new(
                ActionKind::ReassociateInstanceProfile,
                &instance_id,
                Step::Skip {
                    reason: format!("{why}: instance {instance_id} was not re-associated; after the cutoff, replace its instance profile association in its own region (aws ec2 replace-iam-instance-profile-association --region <region>)"),
                },
            ));
        }
    };
    Some(PlannedAction::new(
        ActionKind::ReassociateInstanceProfile,
        &instance_id,
        Step::Write(Write::ReassociateInstanceProfile {
            instance_id: instance_id.clone(),
            region: Some(region),
            role: role.name.clone(),
            not_before: cutoff,
        }),
    ))
}
