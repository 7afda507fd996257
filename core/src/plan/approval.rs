//! Approval where the cut is wide (issue 25), pure: which planned writes wait for a person, the
//! digest that names a proposal, the approve request and whether it still holds.
//!
//! What cuts only the attacker is done at once: a session-scoped deny, the named long-term key,
//! the user's sessions. What cuts more (a role-wide deny, an instance profile re-association) is
//! proposed when approval is required: `APPROVAL_REQUIRED` = `never` (default) | `role-wide` |
//! `always`, and a role or user tag `session-revoker:approval` = `required` | `never` that
//! overrides it for that principal.
//!
//! The digest covers what the proposal would change and what it would change it from (the
//! finding, the principal, each write's kind, target, policy and the cutoff in place), not the
//! new cutoff (a re-plan always takes a new one): if anything was written in between that
//! changes the plan, the digest differs and the approval writes nothing. It authenticates
//! nothing: whoever may invoke the function may also send a revoke; it makes sure a person
//! approves the plan they were shown, while it is still the plan.

use super::{decide_role, RoleFacts};
use crate::config::{Config, RevokeScope};
use crate::model::{Incident, PlannedAction, Step, Write};
use crate::names::{format_utc, parse_utc};
use crate::policy::ROLE_POLICY_NAME;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// The tag on a role or user that overrides `APPROVAL_REQUIRED` for it.
pub const APPROVAL_TAG: &str = "session-revoker:approval";
/// `APPROVAL_TTL` default: how long a proposal can be approved.
pub const DEFAULT_TTL: Duration = Duration::hours(24);

/// `APPROVAL_REQUIRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApprovalMode {
    /// Everything is done at once (today's behaviour).
    #[default]
    Never,
    /// A role-wide deny waits for approval (and the re-association that would follow it).
    RoleWide,
    /// Every wide write waits: a role-wide deny and any instance profile re-association.
    Always,
}

impl ApprovalMode {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "never" => Ok(Self::Never),
            "role-wide" => Ok(Self::RoleWide),
            "always" => Ok(Self::Always),
            other => Err(format!(
                "{:?}: expected never, role-wide or always",
                crate::text::safe_text(other, 40)
            )),
        }
    }

    /// The mode for one principal, its `session-revoker:approval` tag (if any) overriding:
    /// `required` is `always`, `never` is `never`; any other value is ignored (and named).
    pub fn for_principal(self, tag: Option<&str>) -> (Self, Option<String>) {
        match tag.map(str::trim) {
            None => (self, None),
            Some(t) if t.eq_ignore_ascii_case("required") => (Self::Always, None),
            Some(t) if t.eq_ignore_ascii_case("never") => (Self::Never, None),
            Some(t) => (
                self,
                Some(format!(
                    "tag {APPROVAL_TAG}={:?} is neither required nor never: ignored",
                    crate::text::safe_text(t, 40)
                )),
            ),
        }
    }
}

/// Whether a planned write cuts more than the attacker, on its own: a role-wide deny (in
/// `role-wide` and `always`), an instance profile re-association (in `always`; in `role-wide` it
/// waits only with the role-wide deny it follows).
pub fn is_wide(action: &PlannedAction, mode: ApprovalMode) -> bool {
    match (&action.step, mode) {
        (_, ApprovalMode::Never) => false,
        (Step::Write(Write::PutRolePolicy { policy_name, .. }), _) => {
            *policy_name == ROLE_POLICY_NAME
        }
        (Step::Write(Write::ReassociateInstanceProfile { .. }), ApprovalMode::Always) => true,
        _ => false,
    }
}

fn is_reassociation(action: &PlannedAction) -> bool {
    matches!(
        action.step,
        Step::Write(Write::ReassociateInstanceProfile { .. })
    )
}

/// A role's plan under approval: what is done now, and what is proposed.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPlan {
    pub now: Vec<PlannedAction>,
    pub proposed: Vec<PlannedAction>,
}

/// Decides a role with approval: with none required, exactly `decide_role`. Otherwise the
/// stolen sessions are denied at once, session-scoped (when the finding names one), and the
/// wide writes of the plan `config` would make are proposed.
pub fn decide_role_with_approval(
    incident: &Incident,
    facts: &RoleFacts,
    config: &Config,
    mode: ApprovalMode,
    now: OffsetDateTime,
) -> ApprovalPlan {
    let full = decide_role(incident, facts, config, now);
    if mode == ApprovalMode::Never || !full.iter().any(|a| is_wide(a, mode)) {
        return ApprovalPlan {
            now: full,
            proposed: Vec::new(),
        };
    }
    let mut narrow_config = config.clone();
    narrow_config.revoke_scope = RevokeScope::Session;
    narrow_config.reassociate_instance_profile = false;
    let narrow: Vec<PlannedAction> = decide_role(incident, facts, &narrow_config, now)
        .into_iter()
        // Session scope with no session named falls back to role-wide: that waits too.
        .filter(|a| !is_wide(a, mode))
        .map(|mut a| {
            // Over the size budget a session write falls back to role-wide: not without approval.
            if let Step::Write(Write::PutRolePolicy { fallback, .. }) = &mut a.step {
                *fallback = None;
            }
            a
        })
        .collect();
    // A re-association follows the deny of its run: when the role-wide deny waits, so does it.
    let (proposed, kept): (Vec<_>, Vec<_>) = full
        .into_iter()
        .partition(|a| is_wide(a, mode) || is_reassociation(a));
    // What the full plan does narrowly anyway (nothing today for a role) stays, unless the
    // narrow plan already does the same kind of write.
    let mut now_actions = narrow;
    for a in kept {
        if !now_actions.iter().any(|n| n.kind == a.kind) {
            now_actions.push(a);
        }
    }
    ApprovalPlan {
        now: now_actions,
        proposed,
    }
}

/// The digest naming a proposal (see the module's note on what it covers).
pub fn plan_digest(incident: &Incident, proposed: &[PlannedAction]) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(incident.finding_id.as_deref().unwrap_or("-"));
    field(incident.account.as_deref().unwrap_or("-"));
    for a in proposed {
        field(&format!("{:?}", a.kind));
        field(&a.target);
        match &a.step {
            Step::Write(Write::PutRolePolicy {
                role,
                policy_name,
                previous_cutoff,
                ..
            }) => {
                field(role);
                field(policy_name);
                field(&previous_cutoff.map(format_utc).unwrap_or_default());
            }
            Step::Write(Write::ReassociateInstanceProfile {
                instance_id,
                region,
                role,
                ..
            }) => {
                field(instance_id);
                field(region.as_deref().unwrap_or("-"));
                field(role);
            }
            other => field(&format!("{other:?}")),
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The approve request a report offers: send it as it is (`aws lambda invoke --payload`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    pub action: String,
    pub finding_id: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub digest: String,
    pub expires_at: String,
}

impl ApproveRequest {
    pub fn new(
        incident: &Incident,
        role: &str,
        proposed: &[PlannedAction],
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Option<Self> {
        Some(Self {
            action: "approve".into(),
            finding_id: incident.finding_id.clone()?,
            role: role.to_string(),
            account: incident.account.clone(),
            digest: plan_digest(incident, proposed),
            expires_at: format_utc(now + ttl),
        })
    }

    /// Reads an approve request (strict: unknown fields refused), without judging it yet.
    pub fn parse(payload: &serde_json::Value) -> Result<Self, String> {
        let req = Self::deserialize_strict(payload)?;
        if req.action != "approve" {
            return Err("action is not \"approve\"".into());
        }
        if !crate::names::is_valid_role_name(&req.role) {
            return Err(format!(
                "role {:?} is not a valid IAM role name",
                crate::text::safe_text(&req.role, 80)
            ));
        }
        if req.digest.len() != 64 || !req.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("digest is not 64 hex digits".into());
        }
        if parse_utc(&req.expires_at).is_none() {
            return Err("expires_at is not a UTC timestamp".into());
        }
        Ok(req)
    }

    fn deserialize_strict(payload: &serde_json::Value) -> Result<Self, String> {
        <Self as serde::Deserialize>::deserialize(payload).map_err(|e| {
            format!("{e} (accepted fields: action, finding_id, role, account, digest, expires_at)")
        })
    }

    /// Whether this approval still holds for the plan made again now (`replanned`: the wide
    /// writes of the new plan): not expired, and the same plan.
    pub fn check(
        &self,
        incident: &Incident,
        replanned: &[PlannedAction],
        now: OffsetDateTime,
    ) -> Result<(), String> {
        let expires = parse_utc(&self.expires_at).ok_or("expires_at is not a UTC timestamp")?;
        if now > expires {
            return Err(format!(
                "the approval expired at {}: nothing was written; the next finding (or a manual revoke) proposes again",
                format_utc(expires)
            ));
        }
        if replanned.is_empty() {
            return Err("nothing is left to approve: the plan made now writes nothing wide (already covered, or done by hand)".into());
        }
        let digest = plan_digest(incident, replanned);
        if digest != self.digest {
            return Err("the plan changed since it was proposed (something was written in between, or the request was altered): nothing was written; see the new plan".into());
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
