//! Decisions, pure: what to do about an incident, given the configuration, the facts read
//! from IAM and the time. Nothing here calls AWS or reads the clock.

use crate::aws::RoleInfo;
use crate::config::{Config, RevokeScope};
use crate::error::AwsError;
use crate::finding_types;
use crate::input::{Incident, Origin, UserType};
use crate::names;
use crate::policy::{self, PolicyParseError, RevocationPolicy, SessionRevocations};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// What kind of response an action is (reported as `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Decide whether the incident is acted on at all.
    Triage,
    /// `AWSRevokeOlderSessions` on a role.
    RevokeRoleSessions,
    /// Per-session deny statements on a role.
    RevokeSessions,
    /// `UpdateAccessKey Status=Inactive` on the key named in the finding.
    DeactivateAccessKey,
    /// A deny policy on an IAM user's temporary sessions.
    RevokeUserSessions,
    /// Give the instance credentials issued after the cutoff.
    ReassociateInstanceProfile,
}

/// A write the executor performs (or, in a dry run, reports it would).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    PutRolePolicy {
        role: String,
        policy_name: &'static str,
        document: String,
        cutoff: OffsetDateTime,
        previous_cutoff: Option<OffsetDateTime>,
        note: Option<String>,
        /// Session-scoped: the `aws:userid`s this write must leave denied (checked on read-back).
        sessions: Vec<String>,
        /// Session-scoped: the role-wide write to make if IAM refuses the size (`LimitExceeded`).
        fallback: Option<Box<Write>>,
    },
    PutUserPolicy {
        user: String,
        policy_name: &'static str,
        document: String,
        cutoff: OffsetDateTime,
        previous_cutoff: Option<OffsetDateTime>,
        note: Option<String>,
    },
    DeactivateAccessKey {
        user: String,
        access_key_id: String,
    },
    ReassociateInstanceProfile {
        instance_id: String,
        region: Option<String>,
        role: String,
        /// Not before this instant: credentials issued earlier are denied.
        not_before: OffsetDateTime,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Write(Write),
    Skip {
        reason: String,
    },
    AlreadyCovered {
        cutoff: OffsetDateTime,
        reason: String,
    },
    Manual {
        reason: String,
        commands: Vec<String>,
    },
    Fail {
        error: AwsError,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAction {
    pub kind: ActionKind,
    pub target: String,
    pub step: Step,
}

impl PlannedAction {
    fn new(kind: ActionKind, target: impl Into<String>, step: Step) -> Self {
        Self {
            kind,
            target: target.into(),
            step,
        }
    }
}

/// Where the first look at an incident leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage {
    /// Nothing to do; the action says why.
    Done(PlannedAction),
    /// Revoke sessions of a role, identified by name or by RoleId.
    Role(RoleTarget),
    /// An IAM user's key or sessions.
    User(UserTarget),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleTarget {
    pub name: Option<String>,
    pub role_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserTarget {
    pub name: String,
    pub access_key_id: Option<String>,
}

pub fn severity_label(severity: f64) -> &'static str {
    match severity {
        s if s >= 9.0 => "Critical",
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    }
}

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
                crate::report::safe_text(finding_type, 120)
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
                crate::report::safe_text(account, 20)
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
                    crate::report::safe_text(n, 80)
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
                crate::report::safe_text(other.as_str(), 40)
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

/// What IAM says about a role before the decision.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    pub role: RoleInfo,
    /// The existing `AWSRevokeOlderSessions` document (`None`: there is none).
    pub role_policy: Result<Option<String>, AwsError>,
    /// The existing per-session policy; read only when `REVOKE_SCOPE=session`.
    pub session_policy: Result<Option<String>, AwsError>,
    /// The responder's own role name (`None`: it does not run as a role).
    pub responder_role: Result<Option<String>, String>,
    /// Something the report should say about the facts (e.g. a RoleId mismatch).
    pub note: Option<String>,
}

/// Reasons a role is never revoked, whatever the finding says.
pub fn protection(
    role: &RoleInfo,
    responder_role: &Result<Option<String>, String>,
    config: &Config,
) -> Option<String> {
    if role.path.starts_with("/aws-service-role/") {
        return Some(format!("{} is a service-linked role (path /aws-service-role/): AWS does not allow modifying it", role.name));
    }
    if role.path.starts_with("/aws-reserved/sso.amazonaws.com/") {
        return Some(format!(
            "{} is an IAM Identity Center role (path /aws-reserved/sso.amazonaws.com/): revoke the user's sessions in IAM Identity Center instead",
            role.name
        ));
    }
    if let Some(p) = config.protecting_pattern(&role.name, Some(&role.arn)) {
        return Some(format!(
            "{} matches PROTECTED_ROLES pattern {:?}",
            role.name,
            p.as_str()
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

/// The cutoff a revocation written now uses: whole seconds, `CUTOFF_MARGIN_SECONDS` ahead.
pub fn new_cutoff(now: OffsetDateTime, config: &Config) -> OffsetDateTime {
    let t = now + Duration::seconds(config.cutoff_margin_seconds);
    t.replace_nanosecond(0).unwrap_or(t)
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
        return vec![PlannedAction::new(
            ActionKind::RevokeRoleSessions,
            &role.name,
            Step::Skip { reason },
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
            let sessions = stolen_sessions(incident, role);
            match &facts.session_policy {
                Err(error) => return vec![fail(incident, config, role, error)],
                Ok(_) if sessions.is_empty() => role_wide(
                    role,
                    role_policy,
                    incident,
                    cutoff,
                    Some(join_notes("REVOKE_SCOPE=session but no session of this role is named: revoked role-wide", &facts.note)),
                ),
                Ok(existing) => session_scoped(role, role_policy, existing.as_deref(), &sessions, incident, cutoff, now),
            }
        }
        RevokeScope::Role => role_wide(role, role_policy, incident, cutoff, facts.note.clone()),
    };
    let revokes = matches!(revoke.step, Step::Write(_) | Step::AlreadyCovered { .. });
    actions.push(revoke);
    if revokes && config.reassociate_instance_profile {
        if let Some(a) = reassociation(incident, role, cutoff) {
            actions.push(a);
        }
    }
    actions
}

/// The scope for this incident: a manual request naming a session is always session-scoped.
pub fn effective_scope(incident: &Incident, config: &Config) -> RevokeScope {
    if incident.requested_session.is_some() {
        RevokeScope::Session
    } else {
        config.revoke_scope
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
        RevokeScope::Role => ActionKind::RevokeRoleSessions,
        RevokeScope::Session => ActionKind::RevokeSessions,
    };
    PlannedAction::new(
        kind,
        &role.name,
        Step::Fail {
            error: error.clone(),
        },
    )
}

fn role_wide(
    role: &RoleInfo,
    existing: Option<&str>,
    incident: &Incident,
    cutoff: OffsetDateTime,
    mut note: Option<String>,
) -> PlannedAction {
    let previous = cutoff_in_place(existing).unwrap_or_else(|unreadable| {
        note = Some(unreadable);
        None
    });
    if let Some(step) = covered(previous, incident, cutoff) {
        return PlannedAction::new(ActionKind::RevokeRoleSessions, &role.name, step);
    }
    PlannedAction::new(
        ActionKind::RevokeRoleSessions,
        &role.name,
        Step::Write(Write::PutRolePolicy {
            role: role.name.clone(),
            policy_name: policy::ROLE_POLICY_NAME,
            document: RevocationPolicy { cutoff }.to_json(),
            cutoff,
            previous_cutoff: previous,
            note,
            sessions: Vec::new(),
            fallback: None,
        }),
    )
}

/// The role-wide cutoff in an existing `AWSRevokeOlderSessions` (role or user), or, when the
/// document cannot be read, the note saying it is replaced.
fn cutoff_in_place(existing: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
    match existing.map(RevocationPolicy::latest_cutoff) {
        None => Ok(None),
        Some(Ok(cutoff)) => Ok(cutoff),
        Some(Err(PolicyParseError(e))) => Err(format!(
            "the existing {} was unreadable ({e}) and is replaced",
            policy::ROLE_POLICY_NAME
        )),
    }
}

/// "Already covered": the cutoff in place is later than the finding's last activity (every
/// token it saw is denied), or later than the cutoff we would write now.
fn covered(
    previous: Option<OffsetDateTime>,
    incident: &Incident,
    cutoff: OffsetDateTime,
) -> Option<Step> {
    let previous = previous?;
    if let Some(seen) = incident.event_last_seen.filter(|seen| previous > *seen) {
        return Some(Step::AlreadyCovered {
            cutoff: previous,
            reason: format!(
                "cutoff {} is later than the finding's last activity {}: the tokens it saw are already denied",
                names::format_utc(previous),
                names::format_utc(seen)
            ),
        });
    }
    (previous >= cutoff).then(|| Step::AlreadyCovered {
        cutoff: previous,
        reason: format!(
            "cutoff {} already in place is not earlier than a new one",
            names::format_utc(previous)
        ),
    })
}

/// `aws:userid` values of the stolen sessions of this role: the finding's principal, every
/// `recentCredentials` entry of the same role, and a session named in a manual request.
/// The RoleId is the role's current one or the finding's own (the value the stolen
/// token's `aws:userid` carries).
pub fn stolen_sessions(incident: &Incident, role: &RoleInfo) -> Vec<String> {
    let finding_role_id = incident.principal.role_id();
    let same_role = |rid: &str| rid == role.role_id || Some(rid) == finding_role_id;
    let requested = incident
        .requested_session
        .as_ref()
        .map(|s| format!("{}:{s}", role.role_id));
    let mut ids: Vec<String> = std::iter::once(incident.principal.principal_id.as_deref())
        .chain(
            incident
                .recent_credentials
                .iter()
                .map(|c| c.principal_id.as_deref()),
        )
        .flatten()
        .filter(|id| id.len() <= 200)
        .filter(|id| {
            id.split_once(':')
                .is_some_and(|(rid, session)| same_role(rid) && !session.is_empty())
        })
        .map(str::to_string)
        .chain(requested)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn session_scoped(
    role: &RoleInfo,
    role_policy: Option<&str>,
    existing: Option<&str>,
    sessions: &[String],
    incident: &Incident,
    cutoff: OffsetDateTime,
    now: OffsetDateTime,
) -> PlannedAction {
    let mut note = None;
    let mut merged = match existing.map(SessionRevocations::from_document) {
        None => SessionRevocations::default(),
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            note = Some(format!(
                "the existing {} was unreadable ({e}) and is replaced",
                policy::SESSION_POLICY_NAME
            ));
            SessionRevocations::default()
        }
    };
    let previous = sessions
        .iter()
        .filter_map(|s| merged.sessions.get(s))
        .max()
        .copied();
    let summary = merged.merge(
        sessions,
        cutoff,
        incident.event_last_seen,
        now,
        policy::MAX_ROLE_SESSION,
    );
    if summary.added.is_empty() && summary.moved_forward.is_empty() {
        return PlannedAction::new(
            ActionKind::RevokeSessions,
            &role.name,
            Step::AlreadyCovered {
                cutoff: previous.unwrap_or(cutoff),
                reason: format!(
                    "every named session ({}) is already denied up to its last activity",
                    sessions.len()
                ),
            },
        );
    }
    let document = merged.to_json();
    if policy::policy_size(&document) > policy::INLINE_POLICY_BUDGET {
        return role_wide(role, role_policy, incident, cutoff, Some(format!(
            "{} sessions would exceed the role's inline policy budget ({} characters): revoked role-wide instead",
            merged.sessions.len(),
            policy::INLINE_POLICY_BUDGET
        )));
    }
    let mut described = vec![format!("sessions: {}", sessions.join(", "))];
    if !summary.pruned.is_empty() {
        described.push(format!(
            "pruned {} expired statement(s)",
            summary.pruned.len()
        ));
    }
    described.extend(note);
    let fallback = match role_wide(role, role_policy, incident, cutoff, Some(format!(
        "IAM refused the per-session policy (role inline policy budget of {} characters): revoked role-wide instead",
        policy::INLINE_POLICY_BUDGET
    ))) {
        PlannedAction { step: Step::Write(w), .. } => Some(Box::new(w)),
        _ => None,
    };
    PlannedAction::new(
        ActionKind::RevokeSessions,
        &role.name,
        Step::Write(Write::PutRolePolicy {
            role: role.name.clone(),
            policy_name: policy::SESSION_POLICY_NAME,
            document,
            cutoff,
            previous_cutoff: previous,
            note: Some(described.join("; ")),
            sessions: sessions.to_vec(),
            fallback,
        }),
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
    Some(PlannedAction::new(
        ActionKind::ReassociateInstanceProfile,
        &instance_id,
        Step::Write(Write::ReassociateInstanceProfile {
            instance_id: instance_id.clone(),
            region: incident.region.clone(),
            role: role.name.clone(),
            not_before: cutoff,
        }),
    ))
}

/// What IAM says about a user before the decision.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub user: crate::aws::UserInfo,
    pub keys: Result<Vec<crate::aws::AccessKeyInfo>, AwsError>,
    pub user_policy: Result<Option<String>, AwsError>,
}

/// The decision for an IAM user: deactivate exactly the long-term key the finding names, or
/// deny the user's temporary sessions issued before the cutoff.
pub fn decide_user(
    incident: &Incident,
    target: &UserTarget,
    facts: &UserFacts,
    config: &Config,
    now: OffsetDateTime,
) -> Vec<PlannedAction> {
    let user = &facts.user.name;
    let Some(key) = target.access_key_id.as_deref() else {
        return vec![PlannedAction::new(
            ActionKind::DeactivateAccessKey,
            user,
            Step::Manual {
                reason: "the finding names no access key: review the user's keys and sessions"
                    .into(),
                commands: vec![format!("aws iam list-access-keys --user-name {user}")],
            },
        )];
    };
    if names::is_unique_id(key, "AKIA") {
        let keys = match &facts.keys {
            Ok(keys) => keys,
            Err(error) => {
                return vec![PlannedAction::new(
                    ActionKind::DeactivateAccessKey,
                    key,
                    Step::Fail {
                        error: error.clone(),
                    },
                )]
            }
        };
        let step = match keys.iter().find(|k| k.access_key_id == key) {
            None => Step::Fail {
                error: AwsError::new(
                    "ListAccessKeys",
                    "NoSuchEntity",
                    format!("access key {key} is not one of user {user}'s keys"),
                ),
            },
            Some(k) if k.status == "Inactive" => Step::AlreadyCovered {
                cutoff: now,
                reason: format!("access key {key} of user {user} is already inactive"),
            },
            Some(_) => Step::Write(Write::DeactivateAccessKey {
                user: user.clone(),
                access_key_id: key.to_string(),
            }),
        };
        return vec![PlannedAction::new(
            ActionKind::DeactivateAccessKey,
            key,
            step,
        )];
    }
    if names::is_unique_id(key, "ASIA") {
        let existing = match &facts.user_policy {
            Ok(doc) => doc.as_deref(),
            Err(error) => {
                return vec![PlannedAction::new(
                    ActionKind::RevokeUserSessions,
                    user,
                    Step::Fail {
                        error: error.clone(),
                    },
                )]
            }
        };
        let cutoff = new_cutoff(now, config);
        let mut note = Some("user sessions (GetSessionToken) last up to 36 h; the deny covers every one issued before the cutoff".to_string());
        let previous = cutoff_in_place(existing).unwrap_or_else(|unreadable| {
            note = Some(unreadable);
            None
        });
        let step = covered(previous, incident, cutoff).unwrap_or_else(|| {
            Step::Write(Write::PutUserPolicy {
                user: user.clone(),
                policy_name: policy::ROLE_POLICY_NAME,
                document: RevocationPolicy { cutoff }.to_json(),
                cutoff,
                previous_cutoff: previous,
                note,
            })
        });
        return vec![PlannedAction::new(
            ActionKind::RevokeUserSessions,
            user,
            step,
        )];
    }
    vec![PlannedAction::new(
        ActionKind::DeactivateAccessKey,
        user,
        Step::Skip {
            reason: format!(
                "access key id {:?} is neither a long-term (AKIA…) nor a temporary (ASIA…) key",
                crate::report::safe_text(key, 40)
            ),
        },
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{parse_payload, Principal};
    use std::collections::HashMap;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);

    fn incident(json: serde_json::Value) -> Incident {
        parse_payload(&json).unwrap().items.remove(0).unwrap()
    }

    fn finding(finding_type: &str, severity: f64) -> Incident {
        incident(serde_json::json!({
            "id": "f1", "accountId": "111122223333", "region": "eu-west-1", "type": finding_type, "severity": severity,
            "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": "web-app",
                "principalId": "AROAEXAMPLEROLEID0001:i-0123456789abcdef0", "accessKeyId": "ASIAEXAMPLEEXAMPLE01"},
                "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
            "service": {"eventLastSeen": "2026-11-22T02:59:00Z", "additionalInfo": {"recentCredentials": [
                {"principalId": "AROAEXAMPLEROLEID0001:i-0fedcba9876543210"},
                {"principalId": "AROAOTHERROLEEXAMPLE1:i-0aaaaaaaaaaaaaaaa"}]}}
        }))
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_vars(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
        .unwrap()
    }

    fn role(path: &str) -> RoleInfo {
        RoleInfo {
            name: "web-app".into(),
            arn: format!("arn:aws:iam::111122223333:role{path}web-app"),
            path: path.into(),
            role_id: "AROAEXAMPLEROLEID0001".into(),
        }
    }

    fn facts(role: RoleInfo, role_policy: Option<String>) -> RoleFacts {
        RoleFacts {
            role,
            role_policy: Ok(role_policy),
            session_policy: Ok(None),
            responder_role: Ok(Some("session-revoker".into())),
            note: None,
        }
    }

    const EXFIL: &str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";

    fn skip_reason(t: Triage) -> String {
        match t {
            Triage::Done(PlannedAction {
                step: Step::Skip { reason },
                ..
            }) => reason,
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn triage_acts_on_credential_findings_at_or_above_the_minimum() {
        let c = Config::default();
        assert_eq!(
            triage(&finding(EXFIL, 8.0), &c),
            Triage::Role(RoleTarget {
                name: Some("web-app".into()),
                role_id: Some("AROAEXAMPLEROLEID0001".into())
            })
        );
        assert!(matches!(
            triage(&finding("Recon:IAMUser/TorIPCaller", 4.0), &c),
            Triage::Role(_)
        ));
        assert!(
            skip_reason(triage(&finding("Recon:IAMUser/TorIPCaller", 3.9), &c))
                .contains("below MIN_SEVERITY 4.0")
        );
        assert!(skip_reason(triage(
            &finding("Recon:EC2/PortProbeUnprotectedPort", 8.0),
            &c
        ))
        .contains("not one of FINDING_TYPES"));
    }

    #[test]
    fn triage_skips_samples_archived_and_placeholders() {
        let c = Config::default();
        let mut i = finding(EXFIL, 8.0);
        i.sample = true;
        assert!(skip_reason(triage(&i, &c)).contains("ALLOW_SAMPLE_FINDINGS"));
        let allow = config(&[("ALLOW_SAMPLE_FINDINGS", "true")]);
        assert!(matches!(triage(&i, &allow), Triage::Role(_)));
        i.principal.name = Some("GeneratedFindingUserName".into());
        assert!(skip_reason(triage(&i, &allow)).contains("placeholder"));
        let mut i = finding(EXFIL, 8.0);
        i.archived = true;
        assert!(skip_reason(triage(&i, &c)).contains("archived"));
    }

    #[test]
    fn triage_sends_root_and_unknown_principals_to_manual_action() {
        let c = Config::default();
        let mut i = finding(EXFIL, 8.0);
        i.principal = Principal {
            user_type: UserType::Root,
            name: None,
            principal_id: None,
            access_key_id: None,
        };
        match triage(&i, &c) {
            Triage::Done(PlannedAction {
                step: Step::Manual { commands, .. },
                ..
            }) => {
                assert!(commands
                    .iter()
                    .any(|c| c.contains("cloudtrail lookup-events")))
            }
            other => panic!("{other:?}"),
        }
        let root_finding = finding("Policy:IAMUser/RootCredentialUsage", 2.0);
        assert!(matches!(
            triage(&root_finding, &c),
            Triage::Done(PlannedAction {
                step: Step::Manual { .. },
                ..
            })
        ));
        let mut i = finding(EXFIL, 8.0);
        i.principal.user_type = UserType::Other("GeneratedFindingUserType".into());
        assert!(matches!(
            triage(&i, &c),
            Triage::Done(PlannedAction {
                step: Step::Manual { .. },
                ..
            })
        ));
    }

    #[test]
    fn triage_refuses_accounts_outside_the_allow_list() {
        let c = config(&[("ALLOWED_ACCOUNTS", "444455556666")]);
        assert!(skip_reason(triage(&finding(EXFIL, 8.0), &c)).contains("ALLOWED_ACCOUNTS"));
    }

    fn write_of(actions: &[PlannedAction]) -> &Write {
        match &actions[0].step {
            Step::Write(w) => w,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn revokes_with_a_cutoff_margin_ahead_of_now() {
        let i = finding(EXFIL, 8.0);
        let actions = decide_role(&i, &facts(role("/"), None), &Config::default(), NOW);
        match write_of(&actions) {
            Write::PutRolePolicy {
                policy_name,
                cutoff,
                document,
                previous_cutoff,
                ..
            } => {
                assert_eq!(*policy_name, "AWSRevokeOlderSessions");
                assert_eq!(*cutoff, datetime!(2026-11-22 03:00:30 UTC));
                assert_eq!(*previous_cutoff, None);
                assert!(document.contains("2026-11-22T03:00:30Z"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(actions.len(), 1, "no re-association unless configured");
    }

    #[test]
    fn repeated_delivery_is_already_covered_and_later_activity_moves_forward() {
        let i = finding(EXFIL, 8.0); // last seen 02:59:00
        let existing = RevocationPolicy {
            cutoff: datetime!(2026-11-22 02:59:30 UTC),
        }
        .to_json();
        let actions = decide_role(
            &i,
            &facts(role("/"), Some(existing.clone())),
            &Config::default(),
            NOW,
        );
        assert!(
            matches!(actions[0].step, Step::AlreadyCovered { .. }),
            "{actions:?}"
        );

        let mut later = i.clone();
        later.event_last_seen = Some(datetime!(2026-11-22 02:59:45 UTC));
        let actions = decide_role(
            &later,
            &facts(role("/"), Some(existing)),
            &Config::default(),
            NOW,
        );
        match write_of(&actions) {
            Write::PutRolePolicy {
                previous_cutoff,
                cutoff,
                ..
            } => {
                assert_eq!(*previous_cutoff, Some(datetime!(2026-11-22 02:59:30 UTC)));
                assert!(*cutoff > datetime!(2026-11-22 02:59:30 UTC));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn never_moves_a_cutoff_backwards() {
        // A cutoff already further ahead than now + margin (written by the console with a
        // longer margin, or by a concurrent responder) is kept.
        let mut i = finding(EXFIL, 8.0);
        i.event_last_seen = None;
        let ahead = RevocationPolicy {
            cutoff: datetime!(2026-11-22 03:05:00 UTC),
        }
        .to_json();
        let actions = decide_role(&i, &facts(role("/"), Some(ahead)), &Config::default(), NOW);
        assert!(
            matches!(actions[0].step, Step::AlreadyCovered { cutoff, .. } if cutoff == datetime!(2026-11-22 03:05:00 UTC))
        );
    }

    #[test]
    fn protected_roles_are_never_revoked() {
        let i = finding(EXFIL, 8.0);
        let c = config(&[("PROTECTED_ROLES", "web-*")]);
        let skip = |actions: Vec<PlannedAction>| match &actions[0].step {
            Step::Skip { reason } => reason.clone(),
            other => panic!("{other:?}"),
        };
        assert!(skip(decide_role(
            &i,
            &facts(role("/aws-service-role/"), None),
            &Config::default(),
            NOW
        ))
        .contains("service-linked"));
        assert!(skip(decide_role(
            &i,
            &facts(role("/aws-reserved/sso.amazonaws.com/"), None),
            &Config::default(),
            NOW
        ))
        .contains("Identity Center"));
        assert!(skip(decide_role(&i, &facts(role("/"), None), &c, NOW)).contains("PROTECTED_ROLES"));
        let mut own = facts(role("/"), None);
        own.responder_role = Ok(Some("web-app".into()));
        assert!(skip(decide_role(&i, &own, &Config::default(), NOW)).contains("own role"));
        let mut unknown = facts(role("/"), None);
        unknown.responder_role = Err("GetCallerIdentity failed".into());
        assert!(
            skip(decide_role(&i, &unknown, &Config::default(), NOW)).contains("RESPONDER_ROLE_ARN")
        );
    }

    #[test]
    fn a_failed_policy_read_is_a_failure_not_a_blind_write() {
        let i = finding(EXFIL, 8.0);
        let mut f = facts(role("/"), None);
        f.role_policy = Err(AwsError::new(
            "GetRolePolicy",
            "Throttling",
            "Rate exceeded",
        ));
        let actions = decide_role(&i, &f, &Config::default(), NOW);
        assert!(matches!(&actions[0].step, Step::Fail { error } if error.code == "Throttling"));
    }

    #[test]
    fn session_scope_denies_the_named_sessions_of_this_role_only() {
        let i = finding(EXFIL, 8.0);
        let c = config(&[("REVOKE_SCOPE", "session")]);
        let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
        assert_eq!(actions[0].kind, ActionKind::RevokeSessions);
        match write_of(&actions) {
            Write::PutRolePolicy {
                policy_name,
                document,
                sessions,
                fallback,
                ..
            } => {
                assert_eq!(*policy_name, policy::SESSION_POLICY_NAME);
                assert_eq!(
                    sessions,
                    &vec![
                        "AROAEXAMPLEROLEID0001:i-0123456789abcdef0".to_string(),
                        "AROAEXAMPLEROLEID0001:i-0fedcba9876543210".to_string()
                    ]
                );
                assert!(
                    !document.contains("AROAOTHERROLEEXAMPLE1"),
                    "another role's session is not this role's"
                );
                assert!(fallback.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn session_scope_on_a_shared_instance_role_denies_only_that_instances_old_sessions() {
        use crate::policy::evaluator::{denies, Request};
        // web-app is the instance profile role of a fleet; one instance's credentials leaked.
        let i = finding(EXFIL, 8.0);
        let c = config(&[("REVOKE_SCOPE", "session")]);
        let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
        let Write::PutRolePolicy {
            document, cutoff, ..
        } = write_of(&actions)
        else {
            panic!()
        };
        let old = *cutoff - Duration::hours(2);
        let token = |userid: &'static str, issued| Request {
            token_issue_time: Some(issued),
            userid,
        };
        let stolen = "AROAEXAMPLEROLEID0001:i-0123456789abcdef0";
        assert!(
            denies(document, &token(stolen, old)),
            "the leaked instance session is denied"
        );
        assert!(
            !denies(document, &token(stolen, *cutoff + Duration::minutes(5))),
            "its next credentials work"
        );
        for sibling in [
            "AROAEXAMPLEROLEID0001:i-0aaaaaaaaaaaaaaa1",
            "AROAEXAMPLEROLEID0001:i-0bbbbbbbbbbbbbbb2",
        ] {
            assert!(
                !denies(document, &token(sibling, old)),
                "{sibling} keeps working"
            );
        }
    }

    #[test]
    fn session_scope_falls_back_to_role_wide_over_the_size_budget() {
        let mut i = finding(EXFIL, 8.0);
        i.recent_credentials = (0..300)
            .map(|n| crate::input::StolenCredential {
                access_key_id: None,
                principal_id: Some(format!("AROAEXAMPLEROLEID0001:i-{n:017x}")),
                ip_address_v4: None,
            })
            .collect();
        let c = config(&[("REVOKE_SCOPE", "session")]);
        let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
        match write_of(&actions) {
            Write::PutRolePolicy {
                policy_name, note, ..
            } => {
                assert_eq!(*policy_name, policy::ROLE_POLICY_NAME);
                assert!(note.as_deref().unwrap().contains("budget"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn instance_resolution() {
        let i = finding(EXFIL, 8.0);
        assert_eq!(stolen_instance(&i).as_deref(), Some("i-0123456789abcdef0"));
        // Session name not an instance id, exfiltration type: instanceDetails.
        let mut j = i.clone();
        j.principal.principal_id = Some("AROAEXAMPLEROLEID0001:alice".into());
        assert_eq!(stolen_instance(&j).as_deref(), Some("i-0123456789abcdef0"));
        // Not an exfiltration type and no instance session: no instance.
        j.finding_type = Some("Recon:IAMUser/TorIPCaller".into());
        assert_eq!(stolen_instance(&j), None);
        let c = config(&[("REASSOCIATE_INSTANCE_PROFILE", "true")]);
        let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
        assert!(
            matches!(&actions[1].step, Step::Write(Write::ReassociateInstanceProfile { not_before, .. }) if *not_before == datetime!(2026-11-22 03:00:30 UTC))
        );
    }

    fn user_facts(keys: &[(&str, &str)]) -> UserFacts {
        UserFacts {
            user: crate::aws::UserInfo {
                name: "ci-bot".into(),
                arn: "arn:aws:iam::111122223333:user/ci-bot".into(),
                user_id: "AIDAEXAMPLEUSER00001".into(),
            },
            keys: Ok(keys
                .iter()
                .map(|(id, s)| crate::aws::AccessKeyInfo {
                    access_key_id: id.to_string(),
                    status: s.to_string(),
                })
                .collect()),
            user_policy: Ok(None),
        }
    }

    #[test]
    fn user_keys_deactivate_exactly_the_named_key() {
        let i = finding(EXFIL, 8.0);
        let target = |key: &str| UserTarget {
            name: "ci-bot".into(),
            access_key_id: Some(key.into()),
        };
        let f = user_facts(&[
            ("AKIAEXAMPLEOTHERKEY1", "Active"),
            ("AKIAEXAMPLESTOLENKEY", "Active"),
        ]);
        let actions = decide_user(
            &i,
            &target("AKIAEXAMPLESTOLENKEY"),
            &f,
            &Config::default(),
            NOW,
        );
        assert_eq!(
            write_of(&actions),
            &Write::DeactivateAccessKey {
                user: "ci-bot".into(),
                access_key_id: "AKIAEXAMPLESTOLENKEY".into()
            }
        );
        let f = user_facts(&[("AKIAEXAMPLESTOLENKEY", "Inactive")]);
        let actions = decide_user(
            &i,
            &target("AKIAEXAMPLESTOLENKEY"),
            &f,
            &Config::default(),
            NOW,
        );
        assert!(matches!(actions[0].step, Step::AlreadyCovered { .. }));
        let actions = decide_user(
            &i,
            &target("AKIAEXAMPLEUNKNOWN01"),
            &f,
            &Config::default(),
            NOW,
        );
        assert!(matches!(&actions[0].step, Step::Fail { error } if error.code == "NoSuchEntity"));
        let actions = decide_user(
            &i,
            &target("ASIAEXAMPLETEMPKEY01"),
            &f,
            &Config::default(),
            NOW,
        );
        assert!(matches!(write_of(&actions), Write::PutUserPolicy { .. }));
    }
}
