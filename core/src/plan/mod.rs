//! Decisions, pure: what to do about an incident, given the configuration, the facts read
//! from IAM and the time. Nothing here calls AWS or reads the clock.

use crate::config::Config;
use crate::finding_types;
use crate::model::severity_label;
use crate::model::{
    ActionKind, Incident, Origin, PlannedAction, RoleTarget, Step, Triage, UserTarget, UserType,
};
use crate::names;

mod role;
mod user;

pub use role::{
    decide_role, effective_scope, new_cutoff, protection, stolen_instance, stolen_sessions,
    RoleFacts,
};
pub use user::{decide_user, UserFacts};

fn skip(reason: impl Into<String>) -> Triage {
    Triage::Done(PlannedAction::new(
        ActionKind::Triage,
        "incident",
        Step::Skip {
            reason: reason.into(),
        },
    ))
}

fn manual(target: &str, reason: impl Into<String>, commands: Vec<String>) -> Triage {
    Triage::Done(PlannedAction::new(
        ActionKind::Triage,
        target,
        Step::Manual {
            reason: reason.into(),
            commands,
        },
    ))
}

/// The first look at an incident: before any AWS call, is it acted on, and against what?
pub fn triage(incident: &Incident, config: &Config) -> Triage {
    if incident.origin == Origin::Finding {
        if incident.archived {
            return skip("finding is archived (service.archived=true)");
        }
        if incident.sample && !config.allow_sample_findings {
            return skip("sample finding (service.additionalInfo.sample=true); set ALLOW_SAMPLE_FINDINGS=true to act on samples");
        }
        let Some(finding_type) = incident.finding_type.as_deref() else {
            return skip("finding has no type");
        };
        if let Some(why) = finding_types::known_not_revocable(finding_type) {
            return manual("incident", why, root_steps(incident, finding_type));
        }
        if !config.acts_on_type(finding_type) {
            return skip(format!(
                "finding type {} is not one of FINDING_TYPES",
                crate::text::safe_text(finding_type, 120)
            ));
        }
        match incident.severity {
            None => return skip("finding has no severity"),
            Some(s) if s < config.min_severity => {
                return skip(format!(
                    "severity {s:.1} ({}) is below MIN_SEVERITY {:.1}",
                    severity_label(s),
                    config.min_severity
                ))
            }
            Some(_) => {}
        }
    }
    if let (Some(account), false) = (&incident.account, config.allowed_accounts.is_empty()) {
        if !config.allowed_accounts.iter().any(|a| a == account) {
            return skip(format!(
                "account {} is not in ALLOWED_ACCOUNTS",
                crate::text::safe_text(account, 20)
            ));
        }
    }

    let p = &incident.principal;
    match &p.user_type {
        UserType::AssumedRole | UserType::Role => {
            let name = p.name.as_deref().filter(|n| !n.is_empty());
            match name {
                Some(n) if !names::is_valid_role_name(n) => skip(format!(
                    "resource.accessKeyDetails.userName {:?} is not a valid IAM role name",
                    crate::text::safe_text(n, 80)
                )),
                Some(n) if n.starts_with("GeneratedFinding") => {
                    skip("placeholder principal (GeneratedFinding…): a sample finding without the sample flag")
                }
                _ => {
                    let role_id = p.role_id().map(str::to_string);
                    if name.is_none() && role_id.is_none() {
                        return skip("the finding names neither the role (userName) nor its RoleId (principalId AROA…:session)");
                    }
                    Triage::Role(RoleTarget { name: name.map(str::to_string), role_id })
                }
            }
        }
        UserType::IamUser => match p.name.as_deref() {
            Some(n) if names::is_valid_user_name(n) && !n.starts_with("GeneratedFinding") => Triage::User(UserTarget {
                name: n.to_string(),
                access_key_id: p.access_key_id.clone(),
            }),
            _ => skip("the finding names no valid IAM user (resource.accessKeyDetails.userName)"),
        },
        UserType::Root => manual("root", "root credentials cannot be revoked through the IAM API", root_steps(incident, "")),
        UserType::FederatedUser => manual(
            "federated user",
            "GetFederationToken sessions are denied through the federating IAM user: revoke that user's sessions",
            vec![
                "aws cloudtrail lookup-events --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=<access-key-id>".into(),
            ],
        ),
        other => manual(
            "principal",
            format!(
                "principal type {:?} cannot be revoked by this tool",
                crate::text::safe_text(other.as_str(), 40)
            ),
            Vec::new(),
        ),
    }
}

fn root_steps(incident: &Incident, _finding_type: &str) -> Vec<String> {
    let account = incident
        .account
        .as_deref()
        .filter(|a| names::is_account_id(a))
        .unwrap_or("<account-id>");
    vec![
        format!("Sign in as root of account {account}: change the root password and check the root MFA devices"),
        "Delete root access keys if any exist: IAM console > Security credentials (root) > Access keys".into(),
        format!("aws cloudtrail lookup-events --lookup-attributes AttributeKey=Username,AttributeValue=root --region {}", incident.region.as_deref().unwrap_or("<region>")),
    ]
}

#[cfg(test)]
mod tests;
