//! The fire drill (issue 23): `{"action": "drill"}` contains the canary role's own sessions
//! through the production path and measures how long IAM takes to refuse them.
//!
//! Steps (`revoker_core::drill::StepName`): check the canary (`DRILL_ROLE_ARN`, in this
//! account, tagged `session-revoker:drill=true`); assume two sessions and show they work;
//! contain the first with session scope (the incident goes through `triage_at`,
//! `handle_role_with` and the settle pass, exactly as a finding's does) and poll it every second
//! until IAM refuses it; show the second still works; contain the role role-wide and poll the
//! second session until refused; wait for the cutoff and show a fresh session works. The deny
//! stays on the canary (cutoffs only move forward; nothing else uses the canary).

use super::Responder;
use crate::act::{Budget, Ctx};
use crate::aws::drill::{DrillCloud, DrillSession};
use crate::aws::AwsResult;
use crate::error::HandlerError;
use crate::model::ErrorReport;
use crate::report::Report;
use revoker_core::drill::{
    self, DrillAccount, DrillCall, DrillReport, DrillRequest, StepName, StepResult,
};
use std::time::{Duration, Instant};

mod contain;
mod org;

/// One call with the drill session per second, as the issue asks.
const POLL: Duration = Duration::from_secs(1);
/// Kept for the rest of the drill after polling (the fresh session, the report).
const AFTER_POLL: Duration = Duration::from_secs(15);

/// Whether an error is IAM refusing the call (the query protocol's code, and the JSON one some
/// emulators answer with).
fn refused(e: &crate::error::AwsError) -> bool {
    e.is_code("AccessDenied") || e.is_code("AccessDeniedException")
}

fn verdict(r: &AwsResult<()>) -> String {
    match r {
        Ok(()) => "works".into(),
        Err(e) if refused(e) => format!("refused ({})", e.code),
        Err(e) => format!("error ({})", e.code),
    }
}

/// The drill in one account, recording as it goes.
struct Run<'a> {
    responder: &'a Responder,
    cloud: &'a dyn DrillCloud,
    ctx: &'a Ctx,
    role: String,
    /// Whose credentials the drill uses in this account (the function's role, or the member
    /// role): named in the command a failed step shows.
    caller_arn: Option<String>,
    out: DrillAccount,
}

impl Run<'_> {
    fn pass(&mut self, step: StepName, detail: impl Into<String>) {
        self.out
            .step(step, StepResult::Passed, detail, self.ctx.elapsed_ms());
    }

    /// Records a failed step; `None` so a step can end the drill with `?`.
    fn fail<T>(
        &mut self,
        step: StepName,
        detail: impl Into<String>,
        error: Option<&crate::error::AwsError>,
    ) -> Option<T> {
        let detail = detail.into();
        tracing::error!(step = ?step, detail = %detail, "drill step failed");
        self.out
            .step(step, StepResult::Failed, detail, self.ctx.elapsed_ms());
        let w = drill::org::Where {
            account: &self.out.account,
            canary: &self.role,
            canary_arn: &self.out.role_arn,
            caller_arn: self.caller_arn.as_deref(),
            external_id: false,
        };
        let command = drill::org::command(step, &w);
        if let Some(last) = self.out.steps.last_mut() {
            last.error = error.map(ErrorReport::from);
            last.command = Some(command);
        }
        None
    }

    fn call(&mut self, call: &str, by: &str, result: String, attempts: Option<u32>) {
        self.out.calls.push(DrillCall {
            call: call.into(),
            by: by.into(),
            result,
            attempts,
            at_ms: self.ctx.elapsed_ms(),
        });
    }

    /// Whose credentials the drill's own calls use in this account, for the report.
    fn caller(&self) -> &'static str {
        if self.out.via_role.is_some() {
            "member role"
        } else {
            "function"
        }
    }

    async fn check_canary(&mut self) -> Option<()> {
        let tags = self.cloud.list_role_tags(&self.role).await;
        let result = match &tags {
            Ok(Some(_)) => "works".to_string(),
            Ok(None) => "error (NoSuchEntity)".into(),
            Err(e) => format!("error ({})", e.code),
        };
        self.call("iam:ListRoleTags", self.caller(), result, None);
        match tags {
            Ok(Some(tags)) => match drill::tag_refusal(&self.role, &tags) {
                None => {
                    self.pass(
                        StepName::CheckCanary,
                        format!(
                            "role {} is tagged {}={}",
                            self.role,
                            drill::TAG_KEY,
                            drill::TAG_VALUE
                        ),
                    );
                    Some(())
                }
                Some(why) => self.fail(StepName::CheckCanary, format!("refused: {why}"), None),
            },
            Ok(None) => {
                let detail = format!(
                    "the canary role {} does not exist in account {} (NoSuchEntity): {}; `aws iam get-role --role-name {}` shows it",
                    self.role,
                    self.out.account,
                    if self.out.via_role.is_some() {
                        "deploy member-role.yaml there with DrillRoleName equal to DRILL_ROLE_NAME"
                    } else {
                        "deploy the template's DrillRole or correct DRILL_ROLE_ARN"
                    },
                    self.role
                );
                self.fail(StepName::CheckCanary, detail, None)
            }
            Err(e) => {
                let who = if self.out.via_role.is_some() {
                    "the member role needs iam:ListRoleTags on it (member-role.yaml's DrillTheCanary, DrillRoleName)"
                } else {
                    "the function needs iam:ListRoleTags on it"
                };
                self.fail(
                    StepName::CheckCanary,
                    format!("the canary's tags could not be read: {e}; {who}"),
                    Some(&e),
                )
            }
        }
    }

    /// Assumes a drill session and shows it works (`iam:GetRole` on the canary itself).
    async fn session(&mut self, step: StepName, suffix: &str) -> Option<DrillSession> {
        let name = drill::session_name(self.responder.clock.now(), suffix);
        let arn = self.out.role_arn.clone();
        let session = self.cloud.assume(&arn, &name).await;
        self.call(
            "sts:AssumeRole",
            self.caller(),
            session
                .as_ref()
                .map(|_| format!("works ({name})"))
                .unwrap_or_else(|e| format!("error ({})", e.code)),
            None,
        );
        let session = match session {
            Ok(s) => s,
            Err(e) => {
                return self.fail(
                    step,
                    format!("the function could not assume {arn} as {name}: {e}; check DrillRole's trust policy and the function's sts:AssumeRole grant"),
                    Some(&e),
                )
            }
        };
        let works = self.cloud.get_role_as(&session, &self.role).await;
        self.call("iam:GetRole", &name, verdict(&works), None);
        if let Err(e) = works {
            return self.fail(
                step,
                format!("the drill session {name} cannot call iam:GetRole on the canary: {e}; DrillRole must allow iam:GetRole on its own ARN"),
                Some(&e),
            );
        }
        Some(session)
    }

    /// Polls with `session` every second until IAM refuses it: the milliseconds from `written`.
    async fn poll_until_refused(
        &mut self,
        session: &DrillSession,
        written: Instant,
    ) -> Option<u64> {
        let max_wait = Duration::from_secs(self.responder.config.drill_max_wait_seconds);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let r = self.cloud.get_role_as(session, &self.role).await;
            let at = written.elapsed();
            let last = verdict(&r);
            if matches!(&r, Err(e) if refused(e)) {
                self.call("iam:GetRole", &session.name, last, Some(attempts));
                return Some(at.as_millis() as u64);
            }
            let out_of_time = self
                .ctx
                .budget
                .remaining()
                .is_some_and(|left| left < AFTER_POLL + POLL);
            if at >= max_wait || out_of_time {
                self.call("iam:GetRole", &session.name, last, Some(attempts));
                return None;
            }
            // The next poll a whole second after the previous one's start, from the write.
            let next = POLL * attempts;
            tokio::time::sleep(next.saturating_sub(written.elapsed())).await;
        }
    }

    async fn drill(&mut self) -> Option<()> {
        self.check_canary().await?;
        let first = self.session(StepName::SessionsWork, "session").await?;
        let second = self.session(StepName::SessionsWork, "role").await?;
        self.pass(
            StepName::SessionsWork,
            format!(
                "sessions {} and {} call iam:GetRole on the canary",
                first.name, second.name
            ),
        );
        self.contain(&first, true).await?;
        if !self.ctx.dry_run {
            let other = self.cloud.get_role_as(&second, &self.role).await;
            self.call("iam:GetRole", &second.name, verdict(&other), None);
            match other {
                Ok(()) => self.pass(
                    StepName::OtherSessionWorks,
                    format!(
                        "session {} still works: the session-scoped deny cut only its session",
                        second.name
                    ),
                ),
                Err(e) => {
                    return self.fail(
                        StepName::OtherSessionWorks,
                        format!(
                            "session {} was refused by a deny meant for {} only: {e}",
                            second.name, first.name
                        ),
                        Some(&e),
                    )
                }
            }
        }
        let cutoff = self.contain(&second, false).await?;
        if self.ctx.dry_run {
            return Some(());
        }
        // After the cutoff (issue times are compared at whole seconds: one more).
        if let Some(cutoff) = cutoff {
            let wait = cutoff + time::Duration::seconds(1) - self.responder.clock.now();
            if wait.is_positive() {
                let wait = Duration::from_millis(wait.whole_milliseconds() as u64);
                if self
                    .ctx
                    .budget
                    .remaining()
                    .is_some_and(|r| r < wait + AFTER_POLL)
                {
                    return self.fail(
                        StepName::FreshSessionWorks,
                        "no time left in the invocation to wait for the cutoff (CUTOFF_MARGIN_SECONDS); raise the function's timeout",
                        None,
                    );
                }
                tokio::time::sleep(wait).await;
            }
        }
        let fresh = self.session(StepName::FreshSessionWorks, "fresh").await?;
        self.pass(
            StepName::FreshSessionWorks,
            format!(
                "session {} issued after the cutoff works: the deny cuts only older sessions",
                fresh.name
            ),
        );
        Some(())
    }
}

impl Responder {
    /// Runs a drill request end to end: the report is published and logged like any other, and
    /// a failed drill fails the invocation.
    pub(super) async fn drill(
        &self,
        request: DrillRequest,
        budget: Budget,
    ) -> (Report, Result<(), HandlerError>) {
        let ctx = Ctx {
            started: Instant::now(),
            dry_run: self.config.dry_run || request.dry_run,
            budget,
        };
        let mut report = DrillReport::new(
            ctx.dry_run,
            self.config.cutoff_margin_seconds,
            self.config.drill_max_wait_seconds,
        );
        report.reason = request.reason;
        (report.accounts, report.note) = self.drill_accounts(&ctx).await;
        report.finish();
        if let Some(w) = &report.warning {
            tracing::warn!(warning = %w, "drill: cutoff margin shorter than the measured propagation");
        }
        let report = Report::drill(report, self.clock.now(), ctx.elapsed_ms());
        let (report, fate) = self.finish(report).await;
        let fate = match fate {
            Ok(()) if report.outcome == crate::model::Outcome::DrillFailed => {
                Err(HandlerError::ActionsFailed(report.summary.clone()))
            }
            other => other,
        };
        (report, fate)
    }
}
