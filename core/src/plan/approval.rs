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
//! changes the plan, the digest differs and the approval writes nothing. The digest also
//! covers the expiry, so an edited `expires_at` is refused, and no expiry further than
//! `APPROVAL_TTL` ahead is accepted. It authenticates nothing (no secret: anyone who can read
//! the role and the finding can compute it): whoever may invoke the function may also send a
//! revoke; it makes sure a person approves the plan they were shown, while it is still the plan.

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
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::RoleWide => "role-wide",
            Self::Always => "always",
        }
    }

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

/// The digest naming a proposal (see the module's note on what it covers), bound to the
/// expiry the report gave with it: an edited `expires_at` is another digest.
pub fn plan_digest(incident: &Incident, proposed: &[PlannedAction], expires_at: &str) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(incident.finding_id.as_deref().unwrap_or("-"));
    field(incident.account.as_deref().unwrap_or("-"));
    field(expires_at);
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
/// `reason` and `requested_by` are the sender's to add: Lambda does not tell a function who
/// invoked it, so the report records what the request states (and says it is unchecked).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    pub action: String,
    /// Where GuardDuty's copy is read again: the request carries nothing of the finding itself.
    pub finding_arn: String,
    pub role: String,
    pub digest: String,
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// Why an approval writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Past its `expires_at`.
    Expired(OffsetDateTime),
    /// An expiry further ahead than `APPROVAL_TTL` from now: no proposal of this function
    /// carries one (an edited request).
    ExpiryTooFar(OffsetDateTime),
    /// The plan made now has nothing wide left (already covered, or done by hand).
    NothingLeft,
    /// Another digest: something was written in between, or the request was altered.
    PlanChanged,
}

impl Refusal {
    /// For the report's facts and the log.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Expired(_) => "expired",
            Refusal::ExpiryTooFar(_) => "expiry_beyond_ttl",
            Refusal::NothingLeft => "nothing_left",
            Refusal::PlanChanged => "plan_changed",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Expired(at) => write!(f, "the approval expired at {}: nothing was written; the next finding (or a manual revoke) proposes again", format_utc(*at)),
            Refusal::ExpiryTooFar(at) => write!(f, "the approval's expiry {} is further ahead than APPROVAL_TTL allows, so no report of this function gave it (the request was altered): nothing was written", format_utc(*at)),
            Refusal::NothingLeft => write!(f, "nothing is left to approve: the plan made now writes nothing wide (already covered, or done by hand); nothing was written"),
            Refusal::PlanChanged => write!(f, "the plan changed since it was proposed (something was written in between, or the request was altered): nothing was written; the plan made now is in this report"),
        }
    }
}

impl ApproveRequest {
    /// The request for a proposal; `None` when the finding has no ARN (GuardDuty's copy could
    /// not be read again, so it cannot be approved: a manual revoke is the way then).
    pub fn new(
        incident: &Incident,
        role: &str,
        proposed: &[PlannedAction],
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Option<Self> {
        let expires_at = format_utc(now + ttl);
        Some(Self {
            action: "approve".into(),
            finding_arn: incident.finding_arn.clone()?,
            role: role.to_string(),
            digest: plan_digest(incident, proposed, &expires_at),
            expires_at,
            reason: None,
            requested_by: None,
        })
    }

    /// Whether a payload asks for an approval (`{"action": "approve", ...}`).
    pub fn is_approve(payload: &serde_json::Value) -> bool {
        payload.get("action").and_then(serde_json::Value::as_str) == Some("approve")
    }

    /// Reads an approve request (strict: unknown fields refused), without judging it yet.
    pub fn parse(payload: &serde_json::Value) -> Result<Self, String> {
        let mut req = Self::deserialize_strict(payload)?;
        if req.action != "approve" {
            return Err("action is not \"approve\"".into());
        }
        if let Err(e) = crate::model::FindingArn::parse(&req.finding_arn) {
            return Err(format!("finding_arn: {e}"));
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
        // Stated by the sender, not checked by anyone: bounded for the report.
        let bounded = |v: Option<String>| {
            v.map(|r| crate::text::safe_text(&r, 300))
                .filter(|r| !r.trim().is_empty())
        };
        req.reason = bounded(req.reason);
        req.requested_by = bounded(req.requested_by);
        req.digest.make_ascii_lowercase();
        Ok(req)
    }

    fn deserialize_strict(payload: &serde_json::Value) -> Result<Self, String> {
        <Self as serde::Deserialize>::deserialize(payload).map_err(|e| {
            format!("{e} (accepted fields: action, finding_arn, role, digest, expires_at, reason, requested_by)")
        })
    }

    /// Whether this approval still holds for the plan made again now (`replanned`: the wide
    /// writes of the new plan): not expired, an expiry this function could have given, and
    /// the same plan.
    pub fn check(
        &self,
        incident: &Incident,
        replanned: &[PlannedAction],
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<(), Refusal> {
        let expires = parse_utc(&self.expires_at).ok_or(Refusal::PlanChanged)?;
        if now > expires {
            return Err(Refusal::Expired(expires));
        }
        if expires > now + ttl {
            return Err(Refusal::ExpiryTooFar(expires));
        }
        if replanned.is_empty() {
            return Err(Refusal::NothingLeft);
        }
        if plan_digest(incident, replanned, &self.expires_at) != self.digest {
            return Err(Refusal::PlanChanged);
        }
        Ok(())
    }
}

/// An incident's `approval` section: what waits, why, and the exact request that approves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovalSection {
    /// What made approval required: the setting or the role's tag.
    pub required_by: String,
    /// The approve request, ready to send as it is; absent when the finding has no ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ApproveRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The command that sends it (or, without an ARN, the manual revoke that does the same).
    pub command: String,
    pub note: String,
}

impl ApprovalSection {
    /// `function`: the function's name and region when Lambda says them (else placeholders).
    pub fn new(
        incident: &Incident,
        role: &str,
        proposed: &[PlannedAction],
        required_by: String,
        function: Option<&crate::config::LambdaFunction>,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Self {
        let (name, region) = function
            .map(|f| (f.name.as_str(), f.region.as_str()))
            .unwrap_or(("<function-name>", "<region>"));
        let invoke = |payload: &str| {
            // Every value in the payload is validated (role name, ARN alphabet, hex, a UTC
            // timestamp) or bounded text without quotes: safe inside single quotes.
            format!("aws lambda invoke --region {region} --function-name {name} --cli-binary-format raw-in-base64-out --payload '{}' approval.json && cat approval.json", payload.replace('\'', ""))
        };
        match ApproveRequest::new(incident, role, proposed, now, ttl) {
            Some(request) => Self {
                required_by,
                command: invoke(&serde_json::to_string(&request).unwrap_or_default()),
                expires_at: Some(request.expires_at.clone()),
                note: format!(
                    "Sending this request re-reads the finding from GuardDuty, plans again and writes the proposed actions only if the plan is still this one and the request has not expired ({}); add \"reason\" and \"requested_by\" to it for the record (they are not checked: Lambda does not tell the function who invoked it).",
                    format_utc(now + ttl)
                ),
                request: Some(request),
            },
            None => Self {
                required_by,
                request: None,
                expires_at: None,
                command: invoke(&serde_json::json!({"action": "revoke", "role": role, "reason": "approved wide revocation"}).to_string()),
                note: "The finding has no ARN, so it cannot be read again from GuardDuty and approved: a person who approves sends the manual revoke below instead (role-wide with REVOKE_SCOPE=role or auto).".into(),
            },
        }
    }
}

/// The report's actions for a proposal: each wide write `awaiting_approval`, not done; the
/// first carries the incident's approval section.
pub fn proposed_outcomes(
    proposed: &[PlannedAction],
    section: ApprovalSection,
) -> Vec<crate::model::ActionOutcome> {
    use crate::model::{ActionOutcome, Status};
    let mut out: Vec<ActionOutcome> = proposed
        .iter()
        .map(|a| {
            let (what, policy, previous) = match &a.step {
                Step::Write(Write::PutRolePolicy {
                    role,
                    policy_name,
                    previous_cutoff,
                    ..
                }) => (
                    format!("deny every session of role {role} issued before a new cutoff ({policy_name}): it also cuts the role's honest sessions"),
                    Some(*policy_name),
                    *previous_cutoff,
                ),
                Step::Write(Write::ReassociateInstanceProfile { instance_id, .. }) => (
                    format!("re-associate the instance profile of {instance_id} (fresh credentials for the instance)"),
                    None,
                    None,
                ),
                other => (format!("{other:?}"), None, None),
            };
            let mut o = ActionOutcome::new(
                a.kind,
                &a.target,
                Status::AwaitingApproval,
                format!(
                    "proposed, not done: {what}; waits for approval (required by {})",
                    section.required_by
                ),
            );
            o.policy_name = policy;
            o.previous_cutoff = previous.map(format_utc);
            o
        })
        .collect();
    if let Some(first) = out.first_mut() {
        first.approval = Some(Box::new(section));
    }
    out
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
