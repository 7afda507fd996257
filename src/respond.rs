//! The response to a payload: triage, read the facts, decide, act, report, publish.
//!
//! Order matters on the critical path: the reads that decide a revocation run concurrently,
//! the deny policy is written first, and everything that can wait (instance work, the
//! report) comes after it.

use crate::accounts::{AccountAccess, Accounts, Identity, Unreachable};
use crate::aws::{Iam, Notifier, RoleInfo};
use crate::clock::Clock;
use crate::config::{Config, RevokeScope};
use crate::error::{AwsError, HandlerError};
use crate::input::{parse_payload, Incident};
use crate::names::format_utc;
use crate::plan::{
    self, ActionKind, PlannedAction, RoleFacts, RoleTarget, Step, Triage, UserFacts, UserTarget,
    Write,
};
use crate::policy::{self, RevocationPolicy, SessionRevocations};
use crate::report::{ActionOutcome, IncidentReport, Report, Status};
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many incidents of one payload are handled at once.
const CONCURRENCY: usize = 8;
/// Time kept back at the end of an invocation to report and publish.
const REPORT_RESERVE: Duration = Duration::from_secs(5);
/// Most `ListRoles` pages read to find a role by its RoleId (1000 roles a page: IAM's quota
/// is 5000 roles per account).
const MAX_ROLE_PAGES: usize = 10;

pub struct Responder {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub accounts: Arc<dyn Accounts>,
    pub notifier: Option<Arc<dyn Notifier>>,
}

/// The invocation's time limit (from the Lambda context).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Option<Instant>,
}

impl Budget {
    pub const UNLIMITED: Budget = Budget { deadline: None };

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn can_start(&self, needs: Duration) -> bool {
        self.remaining().is_none_or(|r| r > needs + REPORT_RESERVE)
    }
}

struct Ctx {
    started: Instant,
    dry_run: bool,
    budget: Budget,
}

impl Ctx {
    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// Retryable failures: the invocation fails so Lambda retries it (a retry finds the work
/// already done "already covered" and finishes the rest).
fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "ServiceUnavailable"
            | "ServiceFailure"
            | "InternalError"
            | "InternalFailure"
            | "TimeoutError"
            | "DispatchFailure"
            | "ResponseError"
    )
}

impl Responder {
    /// Handles a payload end to end and returns the report (also published and logged).
    pub async fn respond(&self, payload: &Value, budget: Budget) -> Result<Report, HandlerError> {
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
        let work: Vec<futures::future::BoxFuture<'_, Option<IncidentReport>>> = items
            .into_iter()
            .map(|(index, item)| self.process_item(index, item, &ctx).boxed())
            .collect();
        let results: Vec<Option<IncidentReport>> = futures::stream::iter(work)
            .buffered(CONCURRENCY)
            .collect()
            .await;
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
        let mut report = Report::new(
            Some(parsed.shape),
            any_dry,
            incidents,
            self.clock.now(),
            ctx.elapsed_ms(),
        );
        report.set_not_started(not_started);
        self.finish(report).await
    }

    /// Publishes and logs the report, and decides whether the invocation failed.
    async fn finish(&self, mut report: Report) -> Result<Report, HandlerError> {
        // Rendered once: the same JSON goes to SNS and to the log.
        let json = report.to_json();
        let publish_result = match (&self.notifier, &self.config.sns_topic_arn) {
            (Some(notifier), Some(topic)) => {
                Some(notifier.publish(&report.publication(topic, &json)).await)
            }
            _ => None,
        };
        if let Some(Ok(id)) = &publish_result {
            report.published = Some(id.clone());
        }
        // The full report always reaches the log: it is the record of what was done.
        tracing::info!(
            outcome = report.outcome.as_str(),
            summary = %report.summary,
            published = report.published.as_deref().unwrap_or("-"),
            report = %json,
            "report"
        );
        if let Some(Err(e)) = publish_result {
            tracing::error!(code = %e.code, message = %e.message, "report not published");
            return Err(HandlerError::Publish(e));
        }
        let actions = || report.incidents.iter().flat_map(|i| &i.actions);
        if let Some(a) = actions().find(|a| a.facts.contains_key("restore_command")) {
            return Err(HandlerError::ActionsFailed(format!(
                "{}; {}",
                report.summary, a.detail
            )));
        }
        let transient: Vec<String> = actions()
            .filter(|a| {
                a.status == Status::Failed
                    && a.error.as_ref().is_some_and(|e| is_transient(&e.code))
            })
            .map(|a| {
                format!(
                    "{} {}: {}",
                    crate::report::ascii_line(&a.target),
                    a.error.as_ref().map(|e| e.code.as_str()).unwrap_or(""),
                    a.detail
                )
            })
            .collect();
        if !transient.is_empty() || !report.not_started.is_empty() {
            let mut why = transient;
            why.extend(
                report
                    .not_started
                    .iter()
                    .map(|s| format!("not started: {s}")),
            );
            return Err(HandlerError::ActionsFailed(format!(
                "{} (retryable: {})",
                report.summary,
                why.join("; ")
            )));
        }
        Ok(report)
    }

    /// One payload item: an unreadable one is reported, a readable one handled unless the
    /// time is nearly out (`None`: not started).
    async fn process_item(
        &self,
        index: usize,
        item: &Result<Incident, crate::error::FindingError>,
        ctx: &Ctx,
    ) -> Option<IncidentReport> {
        match item {
            Err(e) => {
                tracing::warn!(index, error = %e, "unreadable finding");
                Some(IncidentReport::unreadable(index, e))
            }
            Ok(_) if !ctx.budget.can_start(Duration::from_secs(2)) => None,
            Ok(incident) => Some(self.handle_incident(incident, ctx).await),
        }
    }

    async fn handle_incident(&self, incident: &Incident, ctx: &Ctx) -> IncidentReport {
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
        let actions = match plan::triage(incident, &self.config) {
            Triage::Done(action) => vec![self.execute(action, None, incident, &ctx).await],
            Triage::Role(target) => self.handle_role(incident, &target, &ctx).await,
            Triage::User(target) => self.handle_user(incident, &target, &ctx).await,
        };
        for a in &actions {
            tracing::info!(action = ?a.action, target = %a.target, outcome = ?a.status, detail = %a.detail, "action");
        }
        IncidentReport::new(incident, actions)
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

    fn unreachable(
        &self,
        kind: ActionKind,
        target: &str,
        u: Unreachable,
        ctx: &Ctx,
    ) -> Vec<ActionOutcome> {
        let mut a = ActionOutcome::new(
            kind,
            target,
            Status::ManualActionRequired,
            format!("account {} could not be reached: {}", u.account, u.reason),
        );
        a.error = u.error.as_ref().map(Into::into);
        a.commands = vec![
            format!("In account {}: aws iam put-role-policy --role-name {} --policy-name {} --policy-document file://deny.json", u.account, command_name(target), policy::ROLE_POLICY_NAME),
            "deny.json: the console's \"Revoke active sessions\" on the role writes the same policy".into(),
        ];
        a.at_ms = ctx.elapsed_ms();
        vec![a]
    }

    async fn handle_role(
        &self,
        incident: &Incident,
        target: &RoleTarget,
        ctx: &Ctx,
    ) -> Vec<ActionOutcome> {
        let label = target
            .name
            .clone()
            .or_else(|| target.role_id.clone())
            .unwrap_or_default();
        let session_scope = plan::effective_scope(incident, &self.config) == RevokeScope::Session;
        let kind = if session_scope {
            ActionKind::RevokeSessions
        } else {
            ActionKind::RevokeRoleSessions
        };
        let (access, identity) = match self.access(incident).await {
            Ok(a) => a,
            Err(u) => return self.unreachable(kind, &label, u, ctx),
        };
        let facts = match self
            .role_facts(access.iam.as_ref(), target, identity, session_scope)
            .await
        {
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
                        incident,
                        ctx,
                    )
                    .await,
                ]
            }
        };
        let planned = plan::decide_role(incident, &facts, &self.config, self.clock.now());
        let mut outcomes = Vec::new();
        for action in planned {
            let mut outcome = self.execute(action, Some(&access), incident, ctx).await;
            if let Some(via) = &access.via_role {
                outcome.facts.insert("via_role", via.clone());
            }
            outcome.facts.insert("account", access.account.clone());
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Reads the role and its revocation policies concurrently (one round trip when the
    /// finding names the role).
    async fn role_facts(
        &self,
        iam: &dyn Iam,
        target: &RoleTarget,
        identity: Result<Identity, AwsError>,
        session_scope: bool,
    ) -> Result<RoleFacts, Step> {
        let name = match &target.name {
            Some(n) => n.clone(),
            None => {
                let role_id = target.role_id.as_deref().unwrap_or_default();
                find_role_by_id(iam, role_id).await?.name
            }
        };
        let (role, role_policy, session_policy) = futures::join!(
            iam.get_role(&name),
            iam.get_role_policy(&name, policy::ROLE_POLICY_NAME),
            async {
                if session_scope {
                    iam.get_role_policy(&name, policy::SESSION_POLICY_NAME)
                        .await
                } else {
                    Ok(None)
                }
            }
        );
        let role = match role {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(Step::Fail {
                    error: AwsError::new(
                        "GetRole",
                        "NoSuchEntity",
                        format!("role {name} does not exist in this account"),
                    ),
                })
            }
            Err(error) => return Err(Step::Fail { error }),
        };
        // A different RoleId means the role was re-created (old sessions are then already
        // invalid) or the finding is inconsistent: revoke by name anyway and say so.
        let note = target
            .role_id
            .as_deref()
            .filter(|id| *id != role.role_id)
            .map(|id| {
                format!(
                    "the finding's RoleId {id} differs from role {name}'s current RoleId {}",
                    role.role_id
                )
            });
        let responder_role = identity.map(|i| i.role_name).map_err(|e| e.to_string());
        Ok(RoleFacts {
            role,
            role_policy,
            session_policy,
            responder_role,
            note,
        })
    }

    async fn handle_user(
        &self,
        incident: &Incident,
        target: &UserTarget,
        ctx: &Ctx,
    ) -> Vec<ActionOutcome> {
        let (access, _) = match self.access(incident).await {
            Ok(a) => a,
            Err(u) => {
                return self.unreachable(ActionKind::DeactivateAccessKey, &target.name, u, ctx)
            }
        };
        let iam = access.iam.as_ref();
        let (user, keys, user_policy) = futures::join!(
            iam.get_user(&target.name),
            iam.list_access_keys(&target.name),
            iam.get_user_policy(&target.name, policy::ROLE_POLICY_NAME)
        );
        let user = match user {
            Ok(Some(u)) => u,
            missing_or_failed => {
                let error = missing_or_failed.err().unwrap_or_else(|| {
                    AwsError::new(
                        "GetUser",
                        "NoSuchEntity",
                        format!("user {} does not exist in this account", target.name),
                    )
                });
                let action = PlannedAction {
                    kind: ActionKind::DeactivateAccessKey,
                    target: target.name.clone(),
                    step: Step::Fail { error },
                };
                return vec![self.execute(action, Some(&access), incident, ctx).await];
            }
        };
        let facts = UserFacts {
            user,
            keys,
            user_policy,
        };
        let mut outcomes = Vec::new();
        for action in plan::decide_user(incident, target, &facts, &self.config, self.clock.now()) {
            let mut outcome = self.execute(action, Some(&access), incident, ctx).await;
            outcome.facts.insert("account", access.account.clone());
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Carries out one planned action (or, in a dry run, says what it would do).
    async fn execute(
        &self,
        action: PlannedAction,
        access: Option<&AccountAccess>,
        incident: &Incident,
        ctx: &Ctx,
    ) -> ActionOutcome {
        let PlannedAction { kind, target, step } = action;
        let mut out = match (ActionOutcome::settled(kind, &target, step), access) {
            (Ok(settled), _) => settled,
            (Err(write), Some(access)) => {
                self.write(kind, &target, *write, access, incident, ctx)
                    .await
            }
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
        incident: &Incident,
        ctx: &Ctx,
    ) -> ActionOutcome {
        let iam = access.iam.as_ref();
        match write {
            Write::PutRolePolicy {
                role,
                policy_name,
                document,
                cutoff,
                previous_cutoff,
                note,
                sessions,
                fallback,
            } => {
                let mut o = ActionOutcome::new(kind, target, Status::Done, String::new());
                o.policy_name = Some(policy_name);
                o.cutoff = Some(format_utc(cutoff));
                o.previous_cutoff = previous_cutoff.map(format_utc);
                let what = format!(
                    "{policy_name} on role {role}: deny tokens issued before {}{}",
                    format_utc(cutoff),
                    previous_cutoff
                        .map(|p| format!(" (was {})", format_utc(p)))
                        .unwrap_or_default()
                );
                let what = match &note {
                    Some(n) => format!("{what}; {n}"),
                    None => what,
                };
                if ctx.dry_run {
                    o.status = Status::WouldDo;
                    o.detail = format!("would write {what}");
                    return o;
                }
                match put_role_policy_verified(
                    iam,
                    &role,
                    policy_name,
                    &document,
                    cutoff,
                    &sessions,
                )
                .await
                {
                    Ok(rewrites) => {
                        tracing::info!(role = %role, policy = policy_name, cutoff = %format_utc(cutoff), ms = ctx.elapsed_ms(), "deny in place");
                        o.detail = format!("wrote {what}");
                        o.facts
                            .insert("deny_in_place_ms", ctx.elapsed_ms().to_string());
                        if rewrites > 0 {
                            o.facts
                                .insert("rewrites_after_concurrent_update", rewrites.to_string());
                        }
                        o
                    }
                    Err(e) if e.is_code("LimitExceeded") && fallback.is_some() => {
                        let fallback = *fallback.expect("checked");
                        let mut f = Box::pin(self.write(
                            ActionKind::RevokeRoleSessions,
                            target,
                            fallback,
                            access,
                            incident,
                            ctx,
                        ))
                        .await;
                        f.facts
                            .insert("fallback_from", format!("{policy_name}: {}", e.message));
                        f
                    }
                    Err(e) => failed(o, e),
                }
            }
            Write::PutUserPolicy {
                user,
                policy_name,
                document,
                cutoff,
                previous_cutoff,
                note,
            } => {
                let mut o = ActionOutcome::new(kind, target, Status::Done, String::new());
                o.policy_name = Some(policy_name);
                o.cutoff = Some(format_utc(cutoff));
                o.previous_cutoff = previous_cutoff.map(format_utc);
                let what = format!(
                    "{policy_name} on user {user}: deny tokens issued before {}{}",
                    format_utc(cutoff),
                    note.map(|n| format!("; {n}")).unwrap_or_default()
                );
                if ctx.dry_run {
                    o.status = Status::WouldDo;
                    o.detail = format!("would write {what}");
                    return o;
                }
                match iam.put_user_policy(&user, policy_name, &document).await {
                    Ok(()) => {
                        o.detail = format!("wrote {what}");
                        o
                    }
                    Err(e) => failed(o, e),
                }
            }
            Write::DeactivateAccessKey {
                user,
                access_key_id,
            } => {
                let mut o = ActionOutcome::new(kind, target, Status::Done, String::new());
                let what = format!("access key {access_key_id} of user {user} set Inactive (not deleted: it is evidence)");
                if ctx.dry_run {
                    o.status = Status::WouldDo;
                    o.detail = format!("would have {what}");
                    return o;
                }
                match iam.deactivate_access_key(&user, &access_key_id).await {
                    Ok(()) => {
                        o.detail = what;
                        o
                    }
                    Err(e) => failed(o, e),
                }
            }
            Write::ReassociateInstanceProfile {
                instance_id,
                region,
                role,
                not_before,
            } => {
                let region = region.unwrap_or_else(|| "us-east-1".into());
                let ec2 = access.ec2(&region);
                crate::reassociate::reassociate(
                    crate::reassociate::Request {
                        instance_id: &instance_id,
                        region: &region,
                        role: &role,
                        not_before,
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

fn failed(mut o: ActionOutcome, e: AwsError) -> ActionOutcome {
    o.status = Status::Failed;
    o.detail = format!("{} failed", e.operation);
    if is_transient(&e.code) {
        // The SDK retried before giving up (standard mode; fewer attempts when its retry quota
        // is spent): the invocation fails so that Lambda retries the whole event.
        o.detail = format!(
            "{} failed after the SDK's retries (up to {} attempts)",
            e.operation,
            crate::lambda::MAX_ATTEMPTS
        );
        o.facts
            .insert("max_attempts", crate::lambda::MAX_ATTEMPTS.to_string());
    }
    o.error = Some((&e).into());
    o
}

fn command_name(s: &str) -> &str {
    if crate::names::is_valid_role_name(s) {
        s
    } else {
        "<role-name>"
    }
}

/// Finds a role by RoleId: IAM has no such lookup, so page through `ListRoles`.
async fn find_role_by_id(iam: &dyn Iam, role_id: &str) -> Result<RoleInfo, Step> {
    let mut marker = None;
    for _ in 0..MAX_ROLE_PAGES {
        let (roles, next) = iam
            .list_roles(marker)
            .await
            .map_err(|error| Step::Fail { error })?;
        if let Some(r) = roles.into_iter().find(|r| r.role_id == role_id) {
            return Ok(r);
        }
        match next {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    Err(Step::Fail {
        error: AwsError::new(
            "ListRoles",
            "NoSuchEntity",
            format!("no role with RoleId {role_id} in this account"),
        ),
    })
}

/// Writes the policy, then reads it back: a concurrent responder may have written an older
/// cutoff (or a session list without ours) in between. Cutoffs only ever move forward, so
/// rewriting the later state converges. Returns how many rewrites it took.
async fn put_role_policy_verified(
    iam: &dyn Iam,
    role: &str,
    policy_name: &'static str,
    document: &str,
    cutoff: time::OffsetDateTime,
    sessions: &[String],
) -> Result<u32, AwsError> {
    iam.put_role_policy(role, policy_name, document).await?;
    for rewrite in 0..3u32 {
        let Ok(Some(current)) = iam.get_role_policy(role, policy_name).await else {
            // The write succeeded; a failed read-back is not a reason to report failure.
            return Ok(rewrite);
        };
        let next = if sessions.is_empty() {
            match RevocationPolicy::latest_cutoff(&current) {
                Ok(Some(c)) if c >= cutoff => return Ok(rewrite),
                _ => document.to_string(),
            }
        } else {
            let mut merged = SessionRevocations::from_document(&current).unwrap_or_default();
            if sessions
                .iter()
                .all(|s| merged.sessions.get(s).is_some_and(|c| *c >= cutoff))
            {
                return Ok(rewrite);
            }
            for s in sessions {
                let c = merged.sessions.entry(s.clone()).or_insert(cutoff);
                *c = (*c).max(cutoff);
            }
            merged.to_json()
        };
        iam.put_role_policy(role, policy_name, &next).await?;
    }
    Ok(3)
}
