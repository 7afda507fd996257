//! Approval where the cut is wide (issue 25): on a finding, what cuts only the attacker is done
//! at once and what cuts more is proposed (`plan::approval`); `{"action": "approve", ...}`
//! reads the finding again from GuardDuty, plans again and writes the proposal only when it is
//! still the same plan and not expired.
//!
//! The role's tag `session-revoker:approval` (`required` | `never`) overrides `APPROVAL_REQUIRED`
//! for that role, in both directions, as the issue asks: whoever may tag the role decides for
//! it (the README says how to keep that right to the people who should have it). When the tag
//! cannot be read the setting applies and the report says so.

use super::{facts, verify, Responder};
use crate::act::{Budget, Ctx};
use crate::config::Config;
use crate::error::HandlerError;
use crate::model::{ActionKind, ActionOutcome, FindingArn, Incident, Shape, Status, Triage};
use crate::plan::approval::{
    decide_role_with_approval, proposed_outcomes, ApprovalMode, ApprovalSection, ApproveRequest,
    Refusal, APPROVAL_TAG,
};
use crate::plan::{self, RoleFacts};
use crate::report::{IncidentReport, Report};
use crate::text::safe_text;
use serde_json::Value;
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// The role's approval tag, as `GetRole` answered it with the role (no call of its own: the
/// role is read before every decision anyway).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TagRead(Option<String>);

impl TagRead {
    pub(super) fn of(role: &crate::model::RoleInfo) -> Self {
        Self(role.tag(APPROVAL_TAG).map(str::to_string))
    }
}

/// The mode for this role and what decided it (for the report).
fn mode_for(config: &Config, tag: &TagRead) -> (ApprovalMode, String, Option<String>) {
    let setting = config.approval_required;
    match tag {
        TagRead(Some(value)) => {
            let (mode, ignored) = setting.for_principal(Some(value));
            match ignored {
                None => (
                    mode,
                    format!(
                        "the role's tag {APPROVAL_TAG}={}",
                        safe_text(value.trim(), 40)
                    ),
                    None,
                ),
                Some(why) => (
                    mode,
                    format!("APPROVAL_REQUIRED={}", setting.as_str()),
                    Some(why),
                ),
            }
        }
        TagRead(None) => (
            setting,
            format!("APPROVAL_REQUIRED={}", setting.as_str()),
            None,
        ),
    }
}

/// A role's decision under approval: what to write now, and the proposal's actions.
pub(super) struct Decided {
    pub now: Vec<crate::model::PlannedAction>,
    pub proposed: Vec<ActionOutcome>,
}

pub(super) fn decide(
    incident: &Incident,
    facts: &RoleFacts,
    config: &Config,
    tag: &TagRead,
    now: OffsetDateTime,
) -> Decided {
    let (mode, required_by, _) = mode_for(config, tag);
    let split = decide_role_with_approval(incident, facts, config, mode, now);
    if split.proposed.is_empty() {
        return Decided {
            now: split.now,
            proposed: Vec::new(),
        };
    }
    tracing::info!(role = %facts.role.name, mode = mode.as_str(), required_by = %required_by, proposed = split.proposed.len(), "wide cut proposed, waiting for approval");
    let section = ApprovalSection::new(
        incident,
        &facts.role.name,
        &split.proposed,
        required_by,
        config.lambda_function.as_ref(),
        now,
        ttl(config),
    );
    Decided {
        now: split.now,
        proposed: proposed_outcomes(&split.proposed, section),
    }
}

fn ttl(config: &Config) -> Duration {
    Duration::hours(i64::from(config.approval_ttl_hours))
}

/// Names on the first outcome how the tag was read when that matters (its value was ignored).
pub(super) fn annotate(outcomes: &mut [ActionOutcome], tag: &TagRead) {
    let note = match tag {
        TagRead(Some(v)) if ApprovalMode::Never.for_principal(Some(v)).1.is_some() => {
            Some(format!(
                "{} is neither required nor never: ignored",
                safe_text(v, 40)
            ))
        }
        _ => None,
    };
    if let (Some(note), Some(first)) = (note, outcomes.first_mut()) {
        first.facts.insert("approval_tag", note);
    }
}

impl Responder {
    /// `{"action": "approve", ...}`: GuardDuty's copy of the finding read again, the role's
    /// plan made again, and the proposal written only when it is the one approved, unexpired;
    /// otherwise nothing is written and the report says which. Recorded like any incident.
    pub(super) async fn approve(
        &self,
        payload: &Value,
        budget: Budget,
    ) -> Result<(Report, Result<(), HandlerError>), HandlerError> {
        let request = ApproveRequest::parse(payload).map_err(|detail| {
            tracing::error!(error = %detail, "invalid approve request");
            HandlerError::Input(crate::model::InputError::Invalid {
                what: "approve request",
                detail,
            })
        })?;
        let ctx = Ctx {
            started: Instant::now(),
            dry_run: self.config.dry_run,
            budget,
        };
        let arn = FindingArn::parse(&request.finding_arn).map_err(|e| {
            HandlerError::Input(crate::model::InputError::Invalid {
                what: "approve request",
                detail: e.to_string(),
            })
        })?;
        let invoked_by = verify::current_caller().describe();
        let pending = super::settle::Pending::default();
        let (incident, mut actions) =
            match verify::copy_for_approval(self, &arn, &request.role, &ctx).await {
                Err(mut refused) => {
                    // Nothing is at stake for the stolen session (it was cut when proposed): a
                    // person looks, and the invocation does not fail (a retry would only refuse again).
                    refused.status = Status::ManualActionRequired;
                    let mut given = Incident::empty(crate::model::Origin::Finding);
                    given.finding_id = Some(arn.finding_id.clone());
                    given.finding_arn = Some(request.finding_arn.clone());
                    given.account = Some(arn.account.clone());
                    given.region = Some(arn.region.clone());
                    (given, vec![*refused])
                }
                Ok(copy) => {
                    let actions = self.approve_copy(&request, &copy, &ctx, &pending).await;
                    (copy, actions)
                }
            };
        for a in &mut actions {
            a.facts.insert("approval_digest", request.digest.clone());
            a.facts.insert(
                "approved_by",
                request.requested_by.clone().map_or_else(
                    || "not stated in the request".into(),
                    |who| format!("{who} (stated in the request, not checked)"),
                ),
            );
            a.facts.insert("invoked_by", invoked_by.clone());
        }
        let mut incident = incident;
        incident.reason = Some(match &request.reason {
            Some(reason) => format!("approval: {reason}"),
            None => "approval (no reason given)".into(),
        });
        // The settle pass, as for any finding: a concurrent writer's policy is checked again.
        let mut results = vec![Some(IncidentReport::new(&incident, actions))];
        super::settle::settle(&pending, &ctx, &mut results).await;
        let report = Report::new(
            Some(Shape::Manual),
            ctx.dry_run,
            results.into_iter().flatten().collect(),
            self.clock.now(),
            ctx.elapsed_ms(),
        );
        Ok(self.finish(report).await)
    }

    /// The approval of one proposal, over GuardDuty's copy of its finding.
    async fn approve_copy(
        &self,
        request: &ApproveRequest,
        copy: &Incident,
        ctx: &Ctx,
        pending: &super::settle::Pending,
    ) -> Vec<ActionOutcome> {
        let now = self.clock.now();
        let refuse = |status: Status, code: &str, detail: String| {
            let mut a = ActionOutcome::new(ActionKind::Triage, &request.role, status, detail);
            a.facts.insert("approval", code.to_string());
            a.at_ms = ctx.elapsed_ms();
            a
        };
        let target = match plan::triage_at(copy, &self.config, now) {
            Triage::Role(t) => t,
            Triage::Done(a) => {
                let why = match &a.step {
                    crate::model::Step::Skip { reason } => reason.clone(),
                    other => format!("{other:?}"),
                };
                return vec![refuse(Status::ManualActionRequired, "not_actionable", format!("the finding is no longer acted on ({why}): nothing was written"))];
            }
            Triage::User(_) => {
                return vec![refuse(Status::ManualActionRequired, "not_a_role", "the finding names an IAM user: nothing of it waits for approval; nothing was written".into())]
            }
        };
        let (access, identity) = match self.access(copy).await {
            Ok(a) => a,
            Err(u) => return self.unreachable(copy, u, ctx),
        };
        let session_scope =
            plan::effective_scope(copy, &self.config) == crate::config::RevokeScope::Session;
        let facts = facts::role_facts(access.iam.as_ref(), &target, identity, session_scope).await;
        let facts = match facts {
            Ok(f) => f,
            Err(step) => {
                let mut a = ActionOutcome::settled(ActionKind::Triage, &request.role, step)
                    .unwrap_or_else(|_| {
                        ActionOutcome::new(ActionKind::Triage, &request.role, Status::Failed, "")
                    });
                a.detail = format!(
                    "the role could not be read: {}; nothing was written",
                    a.detail
                );
                return vec![a];
            }
        };
        if facts.role.name != request.role {
            return vec![refuse(
                Status::ManualActionRequired,
                "other_role",
                format!(
                    "GuardDuty's copy of the finding names role {}, not {}: nothing was written",
                    facts.role.name, request.role
                ),
            )];
        }
        let (mode, required_by, _) = mode_for(&self.config, &TagRead::of(&facts.role));
        let split = decide_role_with_approval(copy, &facts, &self.config, mode, now);
        match request.check(copy, &split.proposed, now, ttl(&self.config)) {
            Ok(()) => {
                tracing::info!(role = %facts.role.name, digest = %request.digest, "approval holds: writing the proposal");
                // What the function would have done without approval, now that it is approved.
                let planned = plan::decide_role(copy, &facts, &self.config, now);
                let mut done = self
                    .run_role_plan(
                        planned,
                        &access,
                        ctx,
                        (0, 0, copy.finding_id.as_deref()),
                        pending,
                        (Instant::now(), super::role::Join::Never),
                    )
                    .await;
                for a in &mut done {
                    a.facts.insert("approval", "approved".into());
                }
                done
            }
            Err(refusal) => {
                tracing::warn!(role = %facts.role.name, refusal = refusal.code(), "approval refused: nothing written");
                // Not a failure of the function: the approval no longer holds, and a person
                // decides again (the alarm on ManualActionRequired calls one).
                let status = match refusal {
                    Refusal::NothingLeft => Status::Skipped,
                    _ => Status::ManualActionRequired,
                };
                let mut out = vec![refuse(status, refusal.code(), refusal.to_string())];
                // The plan changed: the plan made now, with its own request, so a person can
                // approve what is true now.
                if refusal == Refusal::PlanChanged && !split.proposed.is_empty() {
                    let section = ApprovalSection::new(
                        copy,
                        &facts.role.name,
                        &split.proposed,
                        required_by,
                        self.config.lambda_function.as_ref(),
                        now,
                        ttl(&self.config),
                    );
                    out.extend(proposed_outcomes(&split.proposed, section));
                }
                out
            }
        }
    }
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
