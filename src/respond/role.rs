//! A role's finding: the role's facts (with its approval tag) read at once, findings of one
//! payload at the same role one after the other, then the plan carried out in order (each
//! write in place before the next, a re-association only after this run's deny), every role
//! policy written handed to the later look (`settle`, `recheck`).

use super::{approval, facts, identity_center, settle, Responder};
use crate::accounts::AccountAccess;
use crate::act::Ctx;
use crate::config::{Config, RevokeScope};
use crate::model::{
    ActionKind, ActionOutcome, Incident, PlannedAction, RoleTarget, Status, Step, Write,
};
use crate::plan;
use std::time::Instant;

/// When a role policy write of a finding is handed to its role's merged write (the re-check
/// queue) instead of being written by the invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Join {
    /// Always written here: a drill, a person's request, a follow-up, no re-check queue.
    Never,
    /// Written here; handed over only when IAM throttles it past the SDK's retries.
    OnThrottle,
    /// A burst at the role: a session deny joins at once (a role-wide one is still written
    /// here, and handed over when throttled).
    Now,
}

impl Responder {
    pub(super) async fn handle_role(
        &self,
        incident: &Incident,
        target: &RoleTarget,
        ctx: &Ctx,
        item: usize,
        pending: &settle::Pending,
    ) -> Vec<ActionOutcome> {
        // Approval (issue 25) is for what a finding would cut: a person's own revoke, or a
        // Security Hub custom action a person chose, is that person's decision already.
        let approval =
            incident.origin != crate::model::Origin::Manual && incident.requested_via.is_none();
        self.respond_to_role(
            &self.config,
            (approval, true),
            incident,
            target,
            ctx,
            (item, 0),
            pending,
        )
        .await
    }

    /// As `handle_role`, deciding with `config` (the follow-up's sessions: session scope, no
    /// re-association; a drill's canary) and never waiting for approval.
    ///
    /// `first_action`: where these outcomes will start in the item's report (the settle pass
    /// finds its action there).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn handle_role_with(
        &self,
        config: &Config,
        incident: &Incident,
        target: &RoleTarget,
        ctx: &Ctx,
        item: usize,
        first_action: usize,
        pending: &settle::Pending,
    ) -> Vec<ActionOutcome> {
        self.respond_to_role(
            config,
            (false, false),
            incident,
            target,
            ctx,
            (item, first_action),
            pending,
        )
        .await
    }

    /// A role's response: read, decide (with `approval`, what cuts more than the attacker is
    /// proposed, approval.rs), write. With `may_join`, a session deny at a role another
    /// invocation is writing joins that role's merged write (`join_merged_write`).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn respond_to_role(
        &self,
        config: &Config,
        (approval, may_join): (bool, bool),
        incident: &Incident,
        target: &RoleTarget,
        ctx: &Ctx,
        (item, first_action): (usize, usize),
        pending: &settle::Pending,
    ) -> Vec<ActionOutcome> {
        // From the first read to each write: this invocation's own read-to-write gap, which the
        // settle interval must outlast for a concurrent writer under the same conditions.
        let started = Instant::now();
        let label = target
            .name
            .clone()
            .or_else(|| target.role_id.clone())
            .unwrap_or_default();
        let session_scope = plan::effective_scope(incident, config) == RevokeScope::Session;
        let kind = if session_scope {
            ActionKind::RevokeSessions
        } else {
            ActionKind::RevokeRoleSessions
        };
        let (access, identity) = match self.access(incident).await {
            Ok(a) => a,
            Err(u) => return self.unreachable(incident, u, ctx),
        };
        // Findings of this payload at the same role: one after the other (settle.rs).
        let _turn = pending.role_turn(&access.account, &label).await;
        // The role's approval tag comes with the role (`GetRole` answers its tags).
        let facts = facts::role_facts(access.iam.as_ref(), target, identity, session_scope).await;
        let facts = match facts {
            Ok(f) => f,
            Err(step) => {
                return vec![
                    self.execute(
                        PlannedAction {
                            kind,
                            target: label,
                            step,
                        },
                        Some(&access),
                        ctx,
                    )
                    .await,
                ]
            }
        };
        // Identity Center roles, with IDENTITY_CENTER_INSTANCE_ARN: through the permission set.
        if let Some(done) = identity_center::respond(
            self,
            incident,
            &facts,
            &access,
            ctx,
            item,
            first_action,
            pending,
        )
        .await
        {
            return done;
        }
        let now = self.clock.now();
        // A burst at this role (a responder wrote a session deny on it moments ago): this
        // finding's session deny joins the role's merged write on the re-check queue.
        let join = if !may_join || self.accounts.recheck_queue().is_none() {
            Join::Never
        } else if crate::recheck::burst_under_way(
            facts
                .session_policy
                .as_ref()
                .ok()
                .and_then(Option::as_deref),
            now,
        ) {
            Join::Now
        } else {
            Join::OnThrottle
        };
        if !approval {
            let planned = plan::decide_role(incident, &facts, config, now);
            return self
                .run_role_plan(
                    planned,
                    &access,
                    ctx,
                    (item, first_action, incident.finding_id.as_deref()),
                    pending,
                    (started, join),
                )
                .await;
        }
        let tag = approval::TagRead::of(&facts.role);
        let decided = approval::decide(incident, &facts, config, &tag, now);
        let mut outcomes = self
            .run_role_plan(
                decided.now,
                &access,
                ctx,
                (item, first_action, incident.finding_id.as_deref()),
                pending,
                (started, join),
            )
            .await;
        approval::annotate(&mut outcomes, &tag);
        outcomes.extend(decided.proposed);
        outcomes
    }

    /// Carries out a role's plan in order, each write in place before the next; a
    /// re-association only after this run's deny.
    pub(super) async fn run_role_plan(
        &self,
        planned: Vec<PlannedAction>,
        access: &AccountAccess,
        ctx: &Ctx,
        // Where the outcomes go in the report (payload item, first action), and the finding
        // they answer (for the re-check's logs).
        (item, first_action, finding_id): (usize, usize, Option<&str>),
        pending: &settle::Pending,
        // From the first read (the read-to-write gap), and when a write joins its role's merged
        // write instead of being written here.
        (started, join): (Instant, Join),
    ) -> Vec<ActionOutcome> {
        let mut outcomes: Vec<ActionOutcome> = Vec::new();
        // A re-association must follow this run's own deny, so a plan with one writes now.
        let join_now = join == Join::Now
            && !ctx.dry_run
            && !planned
                .iter()
                .any(|a| a.kind == ActionKind::ReassociateInstanceProfile);
        for action in planned {
            if let (true, Step::Write(write)) = (join_now, &action.step) {
                let why = "joined the role's merged write: another invocation wrote a session deny on this role moments ago (a burst)";
                if let Some(queued) = self
                    .join_merged_write(
                        (action.kind, &action.target),
                        write,
                        false,
                        access,
                        finding_id,
                        ctx,
                        why,
                    )
                    .await
                {
                    outcomes.push(queued);
                    continue;
                }
            }
            // Re-associating after a deny that failed would hand the instance credentials
            // while the stolen ones still work: only after this run's deny is in place.
            let deny_in_place = outcomes
                .first()
                .is_some_and(|o| matches!(o.status, Status::Done | Status::WouldDo));
            if action.kind == ActionKind::ReassociateInstanceProfile && !deny_in_place {
                let mut skipped = ActionOutcome::new(
                    action.kind,
                    &action.target,
                    Status::Skipped,
                    "the deny was not written, so the instance keeps its current association",
                );
                skipped.at_ms = ctx.elapsed_ms();
                outcomes.push(skipped);
                continue;
            }
            let written = match &action.step {
                Step::Write(w @ Write::PutRolePolicy { .. }) => Some(w.clone()),
                _ => None,
            };
            let (kind, target) = (action.kind, action.target.clone());
            let mut outcome = self.execute(action, Some(access), ctx).await;
            // Throttled past the SDK's retries: handed to the merged write, which tries again
            // in seconds (re-check retries), instead of failing the invocation for a Lambda
            // retry a minute later.
            let throttled = outcome.status == Status::Failed
                && outcome
                    .error
                    .as_ref()
                    .is_some_and(|e| crate::act::is_throttling(&e.code));
            if let (true, Join::Now | Join::OnThrottle, Some(write)) =
                (throttled && !ctx.dry_run, join, &written)
            {
                let why = format!(
                    "IAM throttled the write past the SDK's {} attempts, so it was handed to the role's merged write",
                    crate::aws::MAX_ATTEMPTS
                );
                if let Some(queued) = self
                    .join_merged_write((kind, &target), write, true, access, finding_id, ctx, &why)
                    .await
                {
                    outcome = queued;
                }
            }
            if let (Some(write), Status::Done) = (written, outcome.status) {
                // The policy actually written: the planned one, or its role-wide fallback.
                let write = match write {
                    Write::PutRolePolicy {
                        policy_name,
                        fallback: Some(fallback),
                        ..
                    } if outcome.policy_name != Some(policy_name) => *fallback,
                    w => w,
                };
                pending.push(settle::Written {
                    item,
                    account: access.account.clone(),
                    finding_id: finding_id.map(str::to_string),
                    action: first_action + outcomes.len(),
                    iam: access.iam.clone(),
                    write,
                    took: started.elapsed(),
                });
            }
            if let Some(via) = &access.via_role {
                outcome.facts.insert("via_role", via.clone());
            }
            outcome.facts.insert("account", access.account.clone());
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Hands a finding's role policy write to its role's merged write: the re-check queue,
    /// without delay, where the next batch merges every session waiting for the role into one
    /// write (one write per role in a burst, not one per finding) and reports when it is in
    /// place. `why` is the start of the action's detail. `None` when this write cannot be
    /// handed over (not a role policy; a role-wide deny only when `any_policy`) or the message
    /// could not be sent: the caller then keeps what it had.
    #[allow(clippy::too_many_arguments)]
    async fn join_merged_write(
        &self,
        (kind, target): (ActionKind, &str),
        write: &Write,
        any_policy: bool,
        access: &AccountAccess,
        finding_id: Option<&str>,
        ctx: &Ctx,
        why: &str,
    ) -> Option<ActionOutcome> {
        let Write::PutRolePolicy {
            role,
            policy_name,
            cutoff,
            sessions,
            ..
        } = write
        else {
            return None;
        };
        let message = if any_policy {
            crate::recheck::RecheckMessage::handing_over(&access.account, write, finding_id)?
        } else {
            crate::recheck::RecheckMessage::joining(&access.account, write, finding_id)?
        };
        let queue = self.accounts.recheck_queue()?;
        match queue.send(&message.to_json(), Some(0)).await {
            Ok(id) => {
                let denied = if sessions.is_empty() {
                    format!(
                        "every token of role {role} issued before {}",
                        crate::names::format_utc(*cutoff)
                    )
                } else {
                    format!("session(s) {}", sessions.join(", "))
                };
                let mut o = ActionOutcome::new(
                    kind,
                    target,
                    Status::Queued,
                    format!(
                        "{why}: {policy_name} on role {role} for {denied} is written together with the others waiting for the role by the re-check queue's next batch, which reports on this topic when the deny is in place; not denied yet. If it cannot be written, the message goes to the re-check dead-letter queue and its alarm fires."
                    ),
                );
                o.policy_name = Some(policy_name);
                o.cutoff = Some(crate::names::format_utc(*cutoff));
                o.facts.insert("merged_write", "queued".into());
                o.facts.insert("recheck_message_id", id);
                o.facts.insert("account", access.account.clone());
                if let Some(via) = &access.via_role {
                    o.facts.insert("via_role", via.clone());
                }
                o.at_ms = ctx.elapsed_ms();
                tracing::info!(account = %access.account, role = %role, sessions = sessions.len(), "deny handed to the role's merged write");
                Some(o)
            }
            Err(e) => {
                tracing::warn!(account = %access.account, role = %role, code = %e.code, "the merged write could not be joined");
                None
            }
        }
    }
}
