//! The response to a payload: triage, read the facts, decide, act, report, publish.
//!
//! Order matters on the critical path: the reads that decide a revocation run concurrently,
//! the deny policy is written first, and everything that can wait (instance work, the
//! report) comes after it.

mod approval;
mod drill;
mod facts;
pub mod fate;
mod follow;
mod identity_center;
pub mod metrics;
mod next_look;
mod publish;
pub mod recheck;
mod restore;
mod role;
mod settle;
mod user;
pub mod verify;

use crate::accounts::{AccountAccess, Accounts, Identity, Unreachable};
use crate::act::revoke_role_sessions::RolePolicyWrite;
use crate::act::revoke_user_sessions::UserPolicyWrite;
pub use crate::act::Budget;
use crate::act::{self, Ctx, REPORT_RESERVE};
use crate::aws::Notifier;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{AwsError, HandlerError};
use crate::input::parse_payload;
use crate::model::{ActionKind, ActionOutcome, Incident, PlannedAction, Status, Triage, Write};
use crate::plan;
use crate::report::{IncidentReport, Report};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many incidents of one payload are handled at once.
const CONCURRENCY: usize = 8;

pub struct Responder {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub accounts: Arc<dyn Accounts>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

impl Responder {
    /// Handles a payload end to end and returns the report (also published and logged).
    pub async fn respond(&self, payload: &Value, budget: Budget) -> Result<Report, HandlerError> {
        let (report, fate) = self.respond_with_fate(payload, budget).await?;
        fate.map(|()| report)
    }

    /// As `respond`, keeping the report when the invocation fails (an `Err` of its own is a
    /// payload that could not be read at all: there is no report then).
    pub async fn respond_with_fate(
        &self,
        payload: &Value,
        budget: Budget,
    ) -> Result<(Report, Result<(), HandlerError>), HandlerError> {
        // A fire drill (`{"action": "drill"}`, drill.rs) is not a finding: its own report.
        if let Some(request) = revoker_core::drill::parse_request(payload)
            .inspect_err(|e| tracing::error!(error = %e, "invalid drill request"))?
        {
            return Ok(self.drill(request, budget).await);
        }
        // An approve request (`{"action": "approve"}`, approval.rs): one proposal, planned again.
        if plan::approval::ApproveRequest::is_approve(payload) {
            return self.approve(payload, budget).await;
        }
        let started = Instant::now();
        let parsed = parse_payload(payload)
            .inspect_err(|e| tracing::error!(error = %e, "invalid payload"))?;
        let dry_run_all = self.config.dry_run;
        let ctx = Ctx {
            started,
            dry_run: dry_run_all,
            budget,
        };

        let mut not_started = Vec::new();
        let items: Vec<_> = parsed.items.iter().enumerate().collect();
        // Boxed so the future stays Send (a stream over borrowing closures trips rustc's
        // higher-ranked lifetime inference).
        let pending = settle::Pending::default();
        let work: Vec<futures::future::BoxFuture<'_, Option<IncidentReport>>> = items
            .into_iter()
            .map(|(index, item)| self.process_item(index, item, &ctx, &pending).boxed())
            .collect();
        // A scheduled next look follows the key even if the finding was archived since.
        let results: Vec<Option<IncidentReport>> = next_look::scoped(
            payload,
            futures::stream::iter(work).buffered(CONCURRENCY).collect(),
        )
        .await;
        let mut results = results;
        // The later look at each role policy written: a delayed message when the queue is set
        // (recheck.rs), else (or when the message cannot be sent) the settle pass here.
        recheck::enqueue(self, &pending, &ctx, &mut results).await;
        settle::settle(&pending, &ctx, &mut results).await;
        let mut incidents = Vec::new();
        for (result, item) in results.into_iter().zip(&parsed.items) {
            match result {
                Some(r) => incidents.push(r),
                None => not_started.push(match item {
                    Ok(i) => format!(
                        "finding {} ({})",
                        i.finding_id.as_deref().unwrap_or("-"),
                        i.principal.name.as_deref().unwrap_or("-")
                    ),
                    Err(_) => "unreadable item".into(),
                }),
            }
        }
        let any_dry = dry_run_all
            || parsed
                .items
                .iter()
                .any(|i| i.as_ref().is_ok_and(|i| i.dry_run));
        // One schedule for the next CloudTrail look of every incident that asked for one.
        self.schedule_next_looks(payload, &mut incidents, any_dry)
            .await;
        let mut report = Report::new(
            Some(parsed.shape),
            any_dry,
            incidents,
            self.clock.now(),
            ctx.elapsed_ms(),
        );
        report.set_not_started(not_started);
        Ok(self.finish(report).await)
    }

    /// One payload item: an unreadable one is reported, a readable one handled unless the
    /// time is nearly out (`None`: not started).
    async fn process_item(
        &self,
        index: usize,
        item: &Result<Incident, crate::error::FindingError>,
        ctx: &Ctx,
        pending: &settle::Pending,
    ) -> Option<IncidentReport> {
        match item {
            Err(e) => {
                tracing::warn!(index, error = %e, "unreadable finding");
                Some(IncidentReport::unreadable(index, e))
            }
            Ok(_) if !ctx.budget.can_start(Duration::from_secs(2)) => None,
            Ok(incident) => Some(self.handle_incident(incident, ctx, index, pending).await),
        }
    }

    async fn handle_incident(
        &self,
        incident: &Incident,
        ctx: &Ctx,
        item: usize,
        pending: &settle::Pending,
    ) -> IncidentReport {
        let ctx = Ctx {
            started: ctx.started,
            dry_run: ctx.dry_run || incident.dry_run,
            budget: ctx.budget,
        };
        let span = tracing::info_span!(
            "incident",
            finding_id = incident.finding_id.as_deref().unwrap_or("-")
        );
        let _enter = span.enter();
        // VERIFY_FINDINGS: act on GuardDuty's copy of the finding, or refuse it (verify.rs).
        let checked = match verify::check(self, incident, &ctx).await {
            Ok(checked) => checked,
            Err(refused) => {
                // The scheduled next look of a finding archived since (by an analyst, or by the
                // attacker with guardduty:ArchiveFindings) still follows the key: what it
                // reached does not depend on the finding's state.
                let archived_rerun = next_look::is_rerun()
                    && refused.facts.get("verdict").map(String::as_str)
                        == Some("archived_in_guardduty");
                let mut report = IncidentReport::new(incident, vec![*refused]);
                if archived_rerun {
                    if let Some((more, follow_up)) = self
                        .follow_up(incident, &report.actions, &ctx, item, pending)
                        .await
                    {
                        report.add_follow_up(more, follow_up);
                    }
                }
                return report;
            }
        };
        let incident = &checked.incident(incident);
        let actions = match plan::triage_at(incident, &self.config, self.clock.now()) {
            Triage::Done(action) => vec![self.execute(action, None, &ctx).await],
            Triage::Role(target) => {
                self.handle_role(incident, &target, &ctx, item, pending)
                    .await
            }
            Triage::User(target) => self.handle_user(incident, &target, &ctx).await,
        };
        for a in &actions {
            tracing::info!(action = ?a.action, target = %a.target, outcome = ?a.status, detail = %a.detail, "action");
        }
        let mut report = IncidentReport::new(incident, checked.mark(actions));
        // After the deny, never before: what the stolen key did (CHAIN_DEPTH).
        if let Some((more, follow_up)) = self
            .follow_up(incident, &report.actions, &ctx, item, pending)
            .await
        {
            report.add_follow_up(more, follow_up);
        }
        report
    }

    /// The account to act in and its clients; a finding without an account is the responder's own.
    async fn access(
        &self,
        incident: &Incident,
    ) -> Result<(AccountAccess, Result<Identity, AwsError>), Unreachable> {
        let identity = self.accounts.identity().await;
        let account = match (&incident.account, &identity) {
            (Some(a), _) => a.clone(),
            (None, Ok(id)) => id.account.clone(),
            (None, Err(e)) => {
                return Err(Unreachable {
                    account: "-".into(),
                    reason: "the responder's own account could not be determined".into(),
                    error: Some(e.clone()),
                })
            }
        };
        let finding = incident.finding_id.as_deref().unwrap_or("manual");
        let access = self.accounts.access(&account, finding).await?;
        Ok((access, identity))
    }

    /// The account cannot be reached: the steps by hand there, for the principal kind the
    /// finding names (a user's key and sessions, or a role's sessions), built in the core.
    fn unreachable(&self, incident: &Incident, u: Unreachable, ctx: &Ctx) -> Vec<ActionOutcome> {
        let by_hand = plan::unreachable_account(incident, &self.config, &u.account);
        // Not contained: the stolen credentials still work. `failed` (with the steps a
        // person runs there) fails the invocation, so Lambda retries and, after the retries,
        // the event reaches the failure queue; the Failed metric raises the alarm.
        let mut a = ActionOutcome::new(
            by_hand.kind,
            &by_hand.target,
            Status::Failed,
            format!(
                "not contained: account {} could not be reached: {}; do the steps below there",
                u.account, u.reason
            ),
        );
        a.error = u.error.as_ref().map(Into::into);
        a.commands = by_hand.commands;
        a.at_ms = ctx.elapsed_ms();
        vec![a]
    }

    /// Carries out one planned action (or, in a dry run, says what it would do).
    async fn execute(
        &self,
        action: PlannedAction,
        access: Option<&AccountAccess>,
        ctx: &Ctx,
    ) -> ActionOutcome {
        let PlannedAction { kind, target, step } = action;
        let mut out = match (ActionOutcome::settled(kind, &target, step), access) {
            (Ok(settled), _) => settled,
            (Err(write), Some(access)) => self.write(kind, &target, *write, access, ctx).await,
            (Err(_), None) => ActionOutcome::new(
                kind,
                &target,
                Status::Failed,
                "no account access for a write",
            ),
        };
        out.at_ms = ctx.elapsed_ms();
        out
    }

    async fn write(
        &self,
        kind: ActionKind,
        target: &str,
        write: Write,
        access: &AccountAccess,
        ctx: &Ctx,
    ) -> ActionOutcome {
        let iam = access.iam.as_ref();
        match &write {
            Write::PutRolePolicy { .. } => {
                let w = RolePolicyWrite::from_write(&write).expect("a role policy write");
                act::revoke_role_sessions::run(iam, kind, target, w, ctx).await
            }
            Write::PutUserPolicy {
                user,
                policy_name,
                document,
                cutoff,
                previous_cutoff,
                note,
            } => {
                let w = UserPolicyWrite {
                    user,
                    policy_name,
                    document,
                    cutoff: *cutoff,
                    previous_cutoff: *previous_cutoff,
                    note: note.as_deref(),
                };
                act::revoke_user_sessions::run(iam, kind, target, w, ctx).await
            }
            Write::DeactivateAccessKey {
                user,
                access_key_id,
            } => act::deactivate_key::run(iam, kind, target, user, access_key_id, ctx).await,
            Write::ReassociateInstanceProfile {
                instance_id,
                region,
                role,
                not_before,
            } => {
                // The planner only plans a re-association with a valid region from the finding
                // (`names::is_region`); the default is never reached.
                let region = region.clone().unwrap_or_else(|| "us-east-1".into());
                let ec2 = access.ec2(&region);
                act::reassociate::reassociate(
                    act::reassociate::Request {
                        instance_id,
                        region: &region,
                        role,
                        not_before: *not_before,
                        strategy: self.config.reassociation_strategy,
                        max_wait: Duration::from_secs(self.config.reassociation_max_wait_seconds),
                        dry_run: ctx.dry_run,
                        time_left: ctx
                            .budget
                            .remaining()
                            .map(|r| r.saturating_sub(REPORT_RESERVE)),
                    },
                    iam,
                    ec2.as_ref(),
                    self.clock.as_ref(),
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests;
