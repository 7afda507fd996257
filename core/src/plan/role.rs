//! Deciding about a role: protected or not, role-wide or session-scoped, covered already or
//! not, and whether an instance needs fresh credentials.

use crate::config::{Config, RevokeScope};
use crate::finding_types;
use crate::model::{ActionKind, AwsError, Incident, PlannedAction, RoleInfo, Step, Write};
use crate::names;
use crate::policy::{self, PolicyParseError, RevocationPolicy, SessionRevocations};
use time::{Duration, OffsetDateTime};
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
pub(super) fn cutoff_in_place(existing: Option<&str>) -> Result<Option<OffsetDateTime>, String> {
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
pub(super) fn covered(
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
