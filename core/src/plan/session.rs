//! Session scope: which sessions were stolen, and the per-session deny statements that name
//! exactly them (merged with those in place, cutoffs only moving forward).

use super::cutoff::MAX_CUTOFF_AHEAD;
use super::role_wide::role_wide;
use crate::model::{ActionKind, Incident, PlannedAction, RoleInfo, Step, Write};
use crate::names;
use crate::policy::attribution::{add_served, served_in_place, Served, SESSION_SID};
use crate::policy::{self, SessionRevocations};
use std::collections::BTreeMap;
use time::OffsetDateTime;

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
        .filter(|id| id.split_once(':').is_some_and(|(rid, _)| same_role(rid)))
        .map(str::to_string)
        .chain(requested)
        // Only `<RoleId>:<valid STS session name>` reaches a policy: IAM substitutes policy
        // variables (`${aws:username}`) inside condition values, and `*`/`?` mean nothing to
        // `StringEquals` but everything to a reader; such a "session" is no real session.
        .filter(|id| policy::is_exact_userid(id))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The session part of the finding's own principal id, when it is present but not a valid
/// STS role session name (bounded for the report).
pub(super) fn invalid_session(incident: &Incident) -> Option<String> {
    let session = incident
        .requested_session
        .as_deref()
        .or_else(|| incident.principal.session_name())?;
    (!names::is_valid_session_name(session)).then(|| crate::text::safe_text(session, 80))
}

pub(super) fn session_scoped(
    role: &RoleInfo,
    role_policy: Option<&str>,
    existing: Option<&str>,
    sessions: &[String],
    incident: &Incident,
    cutoff: OffsetDateTime,
    now: OffsetDateTime,
) -> PlannedAction {
    let mut note = None;
    let mut must_replace = false;
    // The incidents each session's statement serves, from its `Sid` (policy::attribution).
    let mut served: BTreeMap<String, Vec<Served>> = BTreeMap::new();
    let mut merged = match existing.map(policy::read_revocations) {
        None => SessionRevocations::default(),
        Some(Ok(read)) => {
            let horizon = now + MAX_CUTOFF_AHEAD;
            let mut foreign = read.foreign.clone();
            if read.statements.iter().any(|s| s.userid.is_none()) {
                foreign.push("a role-wide statement under the session policy's name".into());
            }
            if read.statements.iter().any(|s| s.cutoff > horizon) {
                foreign.push("a cutoff far in the future".into());
            }
            let mut exact = read.clone();
            exact
                .statements
                .retain(|s| s.userid.is_some() && s.cutoff <= horizon);
            if !foreign.is_empty() {
                must_replace = true;
                note = Some(format!(
                    "the policy in place under {} was not this tool's shape ({}) and is replaced",
                    policy::SESSION_POLICY_NAME,
                    foreign.join("; ")
                ));
            }
            for st in &exact.statements {
                if let Some(userid) = &st.userid {
                    served
                        .entry(userid.clone())
                        .or_default()
                        .extend(served_in_place(SESSION_SID, st.sid.as_deref(), st.cutoff));
                }
            }
            SessionRevocations::from_revocations(&exact)
        }
        Some(Err(e)) => {
            must_replace = true;
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
    if summary.added.is_empty() && summary.moved_forward.is_empty() && !must_replace {
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
    let entry = Served::incident(incident.finding_id.as_deref(), cutoff);
    for userid in summary.added.iter().chain(&summary.moved_forward) {
        let entries = served.remove(userid).unwrap_or_default();
        let entries = add_served(entries, entry.clone(), now, policy::MAX_ROLE_SESSION);
        served.insert(userid.clone(), entries);
    }
    let document = merged.to_json_served(&served);
    if policy::policy_size(&document) > policy::INLINE_POLICY_BUDGET {
        return role_wide(role, role_policy, incident, cutoff, Some(format!(
            "{} sessions would exceed the role's inline policy budget ({} characters): revoked role-wide instead",
            merged.sessions.len(),
            policy::INLINE_POLICY_BUDGET
        )), now);
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
    )), now) {
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
