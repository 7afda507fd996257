//! Decisions, pure: what to do about an incident, given the configuration, the facts read
//! from IAM and the time. Nothing here calls AWS or reads the clock.

use crate::config::Config;
use crate::finding_types;
use crate::model::severity_label;
use crate::model::{
    ActionKind, AwsError, FindingError, Incident, Origin, PlannedAction, RoleTarget, Step, Triage,
    UserTarget, UserType,
};
use crate::names;

pub mod approval;
mod cutoff;
pub mod identity_center;
pub mod manual;
pub mod restore;
mod role;
mod role_wide;
mod session;
mod user;

pub use cutoff::new_cutoff;
pub use manual::{by_hand, unreachable_account, ByHand};
pub use role::{decide_role, effective_scope, protection, stolen_instance, RoleFacts};
pub use session::stolen_sessions;
pub use user::{decide_user, revoke_minted_tokens, UserFacts};

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

/// A finding whose principal cannot be identified: a failure naming the field, decided before
/// anything else (nothing about it can be trusted to skip it either).
fn unreadable(error: &FindingError) -> Triage {
    Triage::Done(PlannedAction::new(
        ActionKind::Triage,
        "incident",
        Step::Fail {
            error: AwsError::new(
                "ReadFinding",
                "UnreadableFinding",
                format!(
                    "{error}: the finding's principal cannot be identified and nothing was done; check the finding and respond by hand"
                ),
            ),
        },
    ))
}

/// The first look at an incident: before any AWS call, is it acted on, and against what?
///
/// The order: not a finding (skip); principal unreadable (fail); archived, sample, no type
/// (skip); types known but not revocable (manual: root steps for root, the principal's own
/// steps otherwise); type not in `FINDING_TYPES`, severity below `MIN_SEVERITY` (skip);
/// account outside `ALLOWED_ACCOUNTS` (skip); an attack sequence's review (manual); then the
/// principal: a role or a user to act on
/// (manual instead when the severity is unknown), root, federated and unknown types (manual).
pub fn triage(incident: &Incident, config: &Config) -> Triage {
    if let Some(reason) = &incident.not_a_finding {
        return skip(reason.clone());
    }
    if let Some(error) = &incident.unreadable {
        return unreadable(error);
    }
    let mut severity_unknown = false;
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
            return not_revocable(incident, config, finding_type, why);
        }
        if !config.acts_on_type(finding_type) {
            return skip(format!(
                "finding type {} is not one of FINDING_TYPES",
                crate::text::safe_text(finding_type, 120)
            ));
        }
        match incident.severity {
            None => severity_unknown = true,
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
    // The attack sequence itself (no credential named, or more than were read): a person.
    if let Some(why) = incident.sequence.as_ref().and_then(|s| s.review.as_deref()) {
        let steps = manual::sequence_review(incident);
        return manual(&steps.target, why, steps.commands);
    }
    match principal(incident) {
        Triage::Role(_) | Triage::User(_) if severity_unknown => {
            severity_unknown_manual(incident, config)
        }
        other => other,
    }
}

/// As [`triage`], at `now`: a finding that would be acted on but whose last activity
/// (`service.eventLastSeen`) is older than the longest token it could concern
/// (`MAX_FINDING_AGE_HOURS`, 36 h: a user's `GetSessionToken` session) is a replay or a very
/// late delivery. Every token it saw has expired, so a deny written now would only cut
/// today's honest sessions: nothing is written. A long-term key never expires, so a user's
/// key finding needs a person instead, with the steps. A person's request (a manual request, a
/// Security Hub custom action) is acted on whatever its age: a person chose it.
pub fn triage_at(incident: &Incident, config: &Config, now: time::OffsetDateTime) -> Triage {
    let triage = triage(incident, config);
    if !matches!(triage, Triage::Role(_) | Triage::User(_))
        || incident.origin != Origin::Finding
        || incident.requested_via.is_some()
    {
        return triage;
    }
    let (Some(last), 1..) = (incident.event_last_seen, config.max_finding_age_hours) else {
        return triage;
    };
    let max_age = time::Duration::hours(i64::from(config.max_finding_age_hours));
    if now - last <= max_age {
        return triage;
    }
    let age_h = (now - last).whole_hours();
    let why = format!(
        "the finding's last activity (service.eventLastSeen {}) is {age_h} h old, older than MAX_FINDING_AGE_HOURS ({} h, the longest token it could concern): a replayed or very late finding",
        names::format_utc(last),
        config.max_finding_age_hours
    );
    match &triage {
        Triage::User(u) if u.access_key_id.as_deref().is_some_and(|k| !k.starts_with("ASIA")) => {
            // A long-term key (or one IAM must tell): it may still be live.
            let steps = by_hand(incident, config);
            Triage::Done(PlannedAction::new(
                steps.kind,
                steps.target,
                Step::Manual {
                    reason: format!("{why}; a long-term access key does not expire, so it may still work: nothing was written automatically, check the key and deactivate it by hand"),
                    commands: steps.commands,
                },
            ))
        }
        _ => skip(format!(
            "{why}; every token it saw has expired, so nothing was written (a deny now would only cut today's honest sessions); send a manual request if this principal must be revoked"
        )),
    }
}

/// A type this tool acts on, a principal it could revoke, but no severity to hold against
/// `MIN_SEVERITY`: neither dropped nor acted on blindly; a person decides, with the steps.
fn severity_unknown_manual(incident: &Incident, config: &Config) -> Triage {
    let why = incident
        .ignored_fields
        .iter()
        .find(|f| f.field == "severity")
        .map(|f| format!("unreadable: {f}"))
        .unwrap_or_else(|| "absent".into());
    let steps = by_hand(incident, config);
    Triage::Done(PlannedAction::new(
        steps.kind,
        steps.target,
        Step::Manual {
            reason: format!(
                "the finding's severity is unknown ({why}): its type is one of FINDING_TYPES but MIN_SEVERITY {:.1} cannot be checked, so nothing was written; check the finding and, if it is genuine, revoke by hand",
                config.min_severity
            ),
            commands: steps.commands,
        },
    ))
}

/// Known types this tool does not answer with a revocation: root's steps for root, the
/// principal's own steps (user or role) for anything else, never one for the other.
fn not_revocable(incident: &Incident, config: &Config, finding_type: &str, why: &str) -> Triage {
    let root_type = finding_type.contains("RootCredentialUsage");
    if root_type || incident.principal.user_type == UserType::Root {
        return manual("root", why, manual::root_steps(incident));
    }
    let steps = by_hand(incident, config);
    let mut commands = Vec::new();
    if matches!(
        steps.kind,
        ActionKind::RevokeRoleSessions
            | ActionKind::RevokeUserSessions
            | ActionKind::DeactivateAccessKey
    ) {
        commands.push("# if these credentials are in the wrong hands:".to_string());
    }
    commands.extend(steps.commands);
    manual("incident", why, commands)
}

/// The principal the incident names, and whether this tool can act on it.
fn principal(incident: &Incident) -> Triage {
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
            Some(n) if names::is_valid_user_name(n) && !n.starts_with("GeneratedFinding") => {
                Triage::User(UserTarget {
                    name: n.to_string(),
                    access_key_id: p.access_key_id.clone(),
                })
            }
            _ => skip("the finding names no valid IAM user (resource.accessKeyDetails.userName)"),
        },
        UserType::Root => manual(
            "root",
            "root credentials cannot be revoked through the IAM API",
            manual::root_steps(incident),
        ),
        UserType::FederatedUser => {
            let steps = by_hand(incident, &Config::default());
            manual(
                "federated user",
                "GetFederationToken sessions are denied through the federating IAM user: revoke that user's sessions",
                steps.commands,
            )
        }
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

#[cfg(test)]
mod tests;
