//! A drill's containment of one session, through the production path (`triage_at`,
//! `handle_role_with`, the settle pass), and the poll for IAM's refusal.

use super::{Run, StepName, StepResult};
use crate::aws::drill::DrillSession;
use crate::config::RevokeScope;
use crate::model::{Status, Triage};
use crate::plan;
use crate::report::IncidentReport;
use crate::respond::settle;
use revoker_core::drill::{self, ScopeResult};
use std::time::Instant;

impl Run<'_> {
    /// Contains `session` through the production path (session scope or role-wide), then polls
    /// it until refused while the settle pass runs. The cutoff written, when the deny holds.
    pub(super) async fn contain(
        &mut self,
        session: &DrillSession,
        session_scope: bool,
    ) -> Option<Option<time::OffsetDateTime>> {
        let (step, refused_step, scope) = if session_scope {
            (
                StepName::ContainSession,
                StepName::SessionRefused,
                "session",
            )
        } else {
            (StepName::ContainRole, StepName::RoleRefused, "role")
        };
        let r = self.responder;
        let incident = drill::incident(
            &self.out.account,
            &self.role,
            &session.userid,
            session_scope,
            self.ctx.dry_run,
        );
        // Each shape the function can write, whatever REVOKE_SCOPE says: with REVOKE_SCOPE=role
        // the session step would otherwise write role-wide and cut the other session too.
        let mut config = r.config.clone();
        config.revoke_scope = if session_scope {
            RevokeScope::Session
        } else {
            RevokeScope::Role
        };
        let target = match plan::triage_at(&incident, &config, r.clock.now()) {
            Triage::Role(t) => t,
            Triage::Done(a) => {
                let detail = match &a.step {
                    crate::model::Step::Skip { reason } => reason.clone(),
                    other => format!("{other:?}"),
                };
                return self.fail(
                    step,
                    format!("the drill's incident was not acted on: {detail}"),
                    None,
                );
            }
            Triage::User(_) => return self.fail(step, "the drill's incident named a user", None),
        };
        let pending = settle::Pending::default();
        let actions = r
            .handle_role_with(&config, &incident, &target, self.ctx, 0, 0, &pending)
            .await;
        let written = Instant::now();
        let written_at_ms = self.ctx.elapsed_ms();
        let expected = if self.ctx.dry_run {
            Status::WouldDo
        } else {
            Status::Done
        };
        let mut result = ScopeResult {
            scope,
            session: session.name.clone(),
            actions: actions.clone(),
            written_at_ms: (expected == Status::Done).then_some(written_at_ms),
            propagation_ms: None,
        };
        let Some(first) = actions.first().filter(|a| a.status == expected).cloned() else {
            let why = actions
                .first()
                .map(|a| {
                    let code = a
                        .error
                        .as_ref()
                        .map(|e| format!(" ({} {})", e.operation, e.code))
                        .unwrap_or_default();
                    format!(
                        "{}: {}{code}",
                        serde_json::to_value(a.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        a.detail
                    )
                })
                .unwrap_or_else(|| "nothing was planned".into());
            let error = actions.first().and_then(|a| a.error.clone());
            self.out.scopes.push(result);
            self.fail::<()>(
                step,
                format!("the {scope}-scoped deny was not written: {why}"),
                None,
            );
            if let Some(last) = self.out.steps.last_mut() {
                last.error = error;
            }
            return None;
        };
        let cutoff = first.cutoff.as_deref().and_then(crate::names::parse_utc);
        if self.ctx.dry_run {
            self.pass(step, format!("dry run: would write {}", first.detail));
            self.out.steps.push(drill::DrillStep {
                step: refused_step,
                result: StepResult::Skipped,
                detail: "dry run: nothing was written".into(),
                error: None,
                command: None,
                at_ms: self.ctx.elapsed_ms(),
            });
            self.out.scopes.push(result);
            return Some(cutoff);
        }
        self.pass(
            step,
            format!(
                "{} written and read back (cutoff {})",
                first.policy_name.unwrap_or("deny"),
                first.cutoff.as_deref().unwrap_or("-")
            ),
        );
        // The settle pass of the production path, while the session is polled.
        let mut reports = vec![Some(IncidentReport::new(&incident, actions))];
        let ctx = self.ctx;
        let (_, propagation) = futures::join!(
            settle::settle(&pending, ctx, &mut reports),
            self.poll_until_refused(session, written)
        );
        if let Some(settled) = reports.pop().flatten() {
            result.actions = settled.actions;
        }
        result.propagation_ms = propagation;
        let unsettled = result
            .actions
            .iter()
            .find(|a| a.status == Status::Failed)
            .cloned();
        self.out.scopes.push(result);
        if let Some(a) = unsettled {
            return self.fail(
                step,
                format!("the settle pass found the deny changed: {}", a.detail),
                None,
            );
        }
        match propagation {
            Some(ms) => {
                self.pass(
                    refused_step,
                    format!(
                        "IAM refused session {} {ms} ms after the write",
                        session.name
                    ),
                );
                Some(cutoff)
            }
            None => {
                // Why, when the drill can tell: a token newer than the cutoff is not a slow
                // IAM but a deny that can never cover the session.
                let why = cutoff
                    .and_then(|c| drill::issued_after_cutoff(c, session.credentials.expiration))
                    .unwrap_or_else(|| {
                        "IAM did not apply the deny within DRILL_MAX_WAIT_SECONDS (or the invocation's time)".into()
                    });
                self.fail(
                    refused_step,
                    format!(
                        "session {} still worked {} s after the deny was written: the deny did not take; {why}",
                        session.name,
                        written.elapsed().as_secs()
                    ),
                    None,
                )
            }
        }
    }
}
