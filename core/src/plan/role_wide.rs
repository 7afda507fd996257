//! The role-wide write: `AWSRevokeOlderSessions` with the console's shape, unless the trusted
//! cutoff in place already covers the finding. Used for role scope and as session scope's
//! fallback.

use super::cutoff::{covered, cutoff_in_place};
use crate::model::{ActionKind, Incident, PlannedAction, RoleInfo, Step, Write};
use crate::policy::attribution::{add_served, Served};
use crate::policy::{self, RevocationPolicy};
use time::OffsetDateTime;

pub(super) fn role_wide(
    role: &RoleInfo,
    existing: Option<&str>,
    incident: &Incident,
    cutoff: OffsetDateTime,
    note: Option<String>,
    now: OffsetDateTime,
) -> PlannedAction {
    let in_place = cutoff_in_place(existing, policy::ROLE_POLICY_NAME, now);
    let note = join_opt(note, in_place.note.clone());
    if !in_place.must_replace {
        if let Some(step) = covered(in_place.cutoff, incident, cutoff) {
            return PlannedAction::new(ActionKind::RevokeRoleSessions, &role.name, step);
        }
    }
    // A trusted cutoff already later than ours stays: a cutoff never moves back.
    let cutoff = in_place.cutoff.map_or(cutoff, |c| c.max(cutoff));
    PlannedAction::new(
        ActionKind::RevokeRoleSessions,
        &role.name,
        Step::Write(Write::PutRolePolicy {
            role: role.name.clone(),
            policy_name: policy::ROLE_POLICY_NAME,
            document: RevocationPolicy { cutoff }.to_json_served(&add_served(
                in_place.served,
                Served::incident(incident.finding_id.as_deref(), cutoff),
                now,
                policy::MAX_ROLE_SESSION,
            )),
            cutoff,
            previous_cutoff: in_place.cutoff,
            note,
            sessions: Vec::new(),
            fallback: None,
        }),
    )
}

fn join_opt(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}
