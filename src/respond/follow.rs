//! Following the attacker (issue 13): after the finding's own deny is in place, read what the
//! stolen key did in CloudTrail, revoke the sessions it assumed and the users' tokens it minted,
//! list (or, with `CONTAIN_PERSISTENCE=contain`, deactivate) the keys it created, and say when
//! CloudTrail is looked at again.
//!
//! Never before the deny: the follow-up runs after the incident's own actions, so the critical
//! path stays at two AWS calls. The decisions are the core's (`revoker_core::follow`); this file
//! reads CloudTrail page by page within the invocation's time and CloudTrail's rate limit, and
//! carries out the plan through the same paths as a finding's own principal: every session found
//! becomes an incident of its own role (same triage, protections, responder's own role,
//! `ALLOWED_ACCOUNTS`, dry run, coverage rules, read-back and settle pass).

use super::settle;
use super::Responder;
use crate::accounts::Unreachable;
use crate::act::Ctx;
use crate::config::Config;
use crate::model::{
    ActionKind, ActionOutcome, Incident, PlannedAction, Principal, Status, Step, StolenCredential,
    Triage, UserType, Write,
};
use crate::plan::{self, UserFacts};
use crate::policy;
use futures::FutureExt;
use revoker_core::follow::{
    self, guard_from_config, lookup_window, next_look, reach_from_config, ChainWalk, FollowOptions,
    FollowPlan, KeyToFollow, LookedUpEvent, Lookup, LookupWindow, SessionStep, TokenStep,
};
use revoker_core::names::parse_utc;
use revoker_core::report::{FollowUpReport, NextLookLine};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// `LookupEvents` pages read per key and region at most (50 events each): a key with more
/// history than this in the window is read in part, and the report says so.
const MAX_PAGES: usize = 20;
/// Time a look-up needs left in the invocation before it starts (a page, and the report).
const LOOKUP_NEEDS: Duration = Duration::from_secs(3);

/// Spaces `LookupEvents` calls to CloudTrail's 2 requests per second per account and region,
/// across the incidents and invocations of one container (the SDK's retries with backoff handle
/// throttling beyond it: other containers ask too).
#[derive(Default)]
struct Pacer {
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl Pacer {
    async fn wait(&self, account: &str, region: &str) {
        let gap = Duration::from_millis(1000 / u64::from(follow::window::LOOKUP_EVENTS_PER_SECOND));
        let wait = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let key = (account.to_string(), region.to_string());
            let next = last.get(&key).map_or(now, |t| (*t + gap).max(now));
            last.insert(key, next);
            next - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The time the finding's principal was contained, from its own actions: the latest cutoff of a
/// deny in place (written, would be written, or already there), or now for a deactivated key.
/// `None`: not contained, so nothing is followed (the invocation fails and is retried).
fn contained_at(actions: &[ActionOutcome], now: OffsetDateTime) -> Option<OffsetDateTime> {
    if actions.iter().any(|a| a.status == Status::Failed) {
        return None;
    }
    actions
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                Status::Done | Status::WouldDo | Status::AlreadyCovered
            )
        })
        .filter_map(|a| match a.action {
            ActionKind::RevokeRoleSessions
            | ActionKind::RevokeSessions
            | ActionKind::RevokeUserSessions => a.cutoff.as_deref().and_then(parse_utc),
            ActionKind::DeactivateAccessKey => Some(now),
            _ => None,
        })
        .max()
}

/// The incident for the sessions of one role the followed keys created: the finding's own
/// fields (type, severity: the same triage), this role and these sessions as the principal.
fn role_incident(
    finding: &Incident,
    account: &str,
    role: &str,
    steps: &[&SessionStep],
) -> Incident {
    let mut incident = finding.clone();
    incident.account = Some(account.to_string());
    incident.principal = Principal {
        user_type: UserType::AssumedRole,
        name: Some(role.to_string()),
        principal_id: Some(steps[0].session.assumed_role_id.clone()),
        access_key_id: steps[0].session.session_key.clone(),
    };
    incident.recent_credentials = steps[1..]
        .iter()
        .map(|s| StolenCredential {
            access_key_id: s.session.session_key.clone(),
            principal_id: Some(s.session.assumed_role_id.clone()),
            ip_address_v4: None,
        })
        .collect();
    // Coverage is judged against when these sessions were issued, not the finding's last
    // activity: a deny older than a session found here does not cover it.
    incident.event_last_seen = steps
        .iter()
        .map(|s| s.session.event.event_time)
        .collect::<Option<Vec<_>>>()
        .and_then(|t| t.into_iter().max());
    incident.instance_id = None;
    incident.requested_session = None;
    incident
}

/// An action in an account that could not be reached (the member role could not be assumed):
/// not contained, with the AWS error.
fn not_reached(kind: ActionKind, target: &str, u: &Unreachable, ctx: &Ctx) -> ActionOutcome {
    let mut a = ActionOutcome::new(
        kind,
        target,
        Status::Failed,
        format!(
            "not contained: account {} could not be reached: {}",
            u.account, u.reason
        ),
    );
    a.error = u.error.as_ref().map(Into::into);
    a.at_ms = ctx.elapsed_ms();
    a
}

impl Responder {
    /// The follow-up of one incident, after its own actions: the actions it took and the
    /// report section; `None` when nothing is followed (CHAIN_DEPTH 0, no key, not contained).
    pub(super) async fn follow_up(
        &self,
        incident: &Incident,
        own_actions: &[ActionOutcome],
        ctx: &Ctx,
        item: usize,
        pending: &settle::Pending,
    ) -> Option<(Vec<ActionOutcome>, FollowUpReport)> {
        let config = &self.config;
        if config.chain_depth == 0 {
            return None;
        }
        let mut start: Vec<String> = incident.principal.access_key_id.iter().cloned().collect();
        start.extend(
            incident
                .recent_credentials
                .iter()
                .filter_map(|c| c.access_key_id.clone()),
        );
        if !start.iter().any(|k| follow::event::is_access_key_id(k)) {
            return None;
        }
        let now = self.clock.now();
        let contained_at = contained_at(own_actions, now)?;
        let identity = self.accounts.identity().await;
        let finding_account = match (&incident.account, &identity) {
            (Some(a), _) => a.clone(),
            (None, Ok(id)) => id.account.clone(),
            (None, Err(_)) => return None,
        };
        let responder_role: Result<Option<String>, String> = identity
            .as_ref()
            .map(|id| id.role_name.clone())
            .map_err(|e| e.to_string());
        let window = lookup_window(incident.event_first_seen, incident.region.as_deref(), now);
        let options = FollowOptions {
            finding_account: finding_account.clone(),
            depth: config.chain_depth,
            scope: config.revoke_scope,
            contain: config.contain_persistence,
            cutoff: plan::new_cutoff(now, config),
        };
        let reach = |account: &str| reach_from_config(config, &finding_account, account);
        let guard = guard_from_config(config, &responder_role);

        let finding = incident.finding_id.as_deref().unwrap_or("manual");
        // One pacer for the whole container: CloudTrail's limit is per account and region,
        // whatever incident or invocation asks.
        static PACER: std::sync::OnceLock<Pacer> = std::sync::OnceLock::new();
        let pacer = PACER.get_or_init(Pacer::default);
        let mut walk = ChainWalk::new(&start, &options);
        while let Some(key) = walk.next_key(&reach) {
            let found = self.lookup_key(&key, &window, finding, pacer, ctx).await;
            walk.record(key, found, &reach, &guard);
        }
        let plan = walk.finish();
        tracing::info!(
            keys = plan.keys.len(),
            sessions = plan.sessions.len(),
            tokens = plan.tokens.len(),
            persistence = plan.persistence.len(),
            "followed the stolen key"
        );

        let mut actions = Vec::new();
        self.revoke_sessions(
            incident,
            &plan,
            ctx,
            (item, own_actions.len()),
            pending,
            &mut actions,
        )
        .await;
        self.revoke_tokens(incident, &plan, ctx, &mut actions).await;
        self.deactivate_created_keys(incident, &plan, ctx, &mut actions)
            .await;
        for m in plan.manual_actions() {
            // A session or user the function should reach but cannot stays the attacker's:
            // not contained, like a finding whose own account cannot be reached (the
            // invocation fails, the alarm fires); outside ALLOWED_ACCOUNTS or protected is a
            // person's call by configuration.
            let (status, detail) = if m.not_contained {
                (
                    Status::Failed,
                    format!("not contained: {}; do the steps below there", m.reason),
                )
            } else {
                (Status::ManualActionRequired, m.reason)
            };
            let mut a = ActionOutcome::new(m.kind, &m.target, status, detail);
            a.commands = m.commands;
            a.facts
                .insert("found_by", "following the stolen key".into());
            a.at_ms = ctx.elapsed_ms();
            actions.push(a);
        }

        let next = match next_look(&window, contained_at) {
            None => NextLookLine::none(),
            Some(next) => NextLookLine::pending(next),
        };
        Some((
            actions,
            FollowUpReport::new(&plan, &window, config.chain_depth, next),
        ))
    }

    /// Every event of `key` in the window, from each region of the window, in the key's account.
    async fn lookup_key(
        &self,
        key: &KeyToFollow,
        window: &LookupWindow,
        finding: &str,
        pacer: &Pacer,
        ctx: &Ctx,
    ) -> Lookup {
        let access = match self.accounts.access(&key.account, finding).await {
            Ok(a) => a,
            Err(u) => return Lookup::Unavailable(format!("account {}: {}", u.account, u.reason)),
        };
        let mut events: Vec<LookedUpEvent> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        for region in &window.regions {
            let Some(history) = access.event_history(region) else {
                problems.push(format!(
                    "{region}: CloudTrail cannot be read in this account"
                ));
                continue;
            };
            let mut token: Option<String> = None;
            for page in 0.. {
                if page == MAX_PAGES {
                    problems.push(format!(
                        "{region}: more than {} events, only the first {MAX_PAGES} pages read",
                        MAX_PAGES * 50
                    ));
                    break;
                }
                if !ctx.budget.can_start(LOOKUP_NEEDS + super::settle::RESERVE) {
                    problems.push(format!(
                        "{region}: the invocation's time ran out (the next look reads it)"
                    ));
                    break;
                }
                pacer.wait(&key.account, region).await;
                match history
                    .lookup_events_by_key(&key.access_key_id, window.start, window.end, token)
                    .await
                {
                    Ok(p) => {
                        events.extend(p.events);
                        token = p.next_token;
                        if token.is_none() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(key = %key.access_key_id, region = %region, code = %e.code, "LookupEvents failed");
                        problems.push(format!("{region}: LookupEvents {}: {}", e.code, e.message));
                        break;
                    }
                }
            }
        }
        if events.is_empty() && !problems.is_empty() {
            return Lookup::Unavailable(problems.join("; "));
        }
        if !problems.is_empty() {
            // What was read is acted on; what was not is said, and the next look reads it.
            tracing::warn!(key = %key.access_key_id, problems = %problems.join("; "), "look-up incomplete");
        }
        Lookup::Events(events)
    }

    /// The sessions to revoke, one incident per role through the same path as a finding's own
    /// role, session-scoped unless `REVOKE_SCOPE=role`; never re-associating an instance (a
    /// session name the attacker chose could name one).
    async fn revoke_sessions(
        &self,
        finding: &Incident,
        plan: &FollowPlan,
        ctx: &Ctx,
        (item, first_action): (usize, usize),
        pending: &settle::Pending,
        actions: &mut Vec<ActionOutcome>,
    ) {
        for ((account, role), steps) in plan.revocations_by_role() {
            let mut config: Config = self.config.clone();
            // Already `Role` or `Session` (the planner resolves `auto` for these sessions).
            config.revoke_scope = steps[0].scope;
            config.reassociate_instance_profile = false;
            let incident = role_incident(finding, account, role, &steps);
            let outcomes = match plan::triage(&incident, &config) {
                Triage::Role(target) => {
                    // Boxed: rustc cannot prove this nested future Send through the payload's
                    // stream otherwise (higher-ranked lifetime inference).
                    self.handle_role_with(
                        &config,
                        &incident,
                        &target,
                        ctx,
                        item,
                        first_action + actions.len(),
                        pending,
                    )
                    .boxed()
                    .await
                }
                Triage::Done(action) => vec![self.execute(action, None, ctx).await],
                Triage::User(_) => Vec::new(),
            };
            let sessions: Vec<&str> = steps
                .iter()
                .map(|s| s.session.assumed_role_id.as_str())
                .collect();
            for mut o in outcomes {
                o.facts
                    .insert("found_by", "following the stolen key".into());
                o.facts.insert("sessions", sessions.join(","));
                o.facts.insert(
                    "via_keys",
                    steps
                        .iter()
                        .map(|s| s.via_key.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                actions.push(o);
            }
        }
    }

    /// The users whose tokens a followed key minted: the user's deny, in the user's account.
    async fn revoke_tokens(
        &self,
        finding: &Incident,
        plan: &FollowPlan,
        ctx: &Ctx,
        actions: &mut Vec<ActionOutcome>,
    ) {
        for step in plan.users_to_revoke() {
            let mut o = self.revoke_token_user(finding, step, ctx).await;
            o.facts
                .insert("found_by", "following the stolen key".into());
            o.facts.insert("via_key", step.via_key.clone());
            o.facts.insert("account", step.token.account.clone());
            actions.push(o);
        }
    }

    async fn revoke_token_user(
        &self,
        finding: &Incident,
        step: &TokenStep,
        ctx: &Ctx,
    ) -> ActionOutcome {
        let user = &step.token.user_name;
        let fail = |error: crate::error::AwsError| PlannedAction {
            kind: ActionKind::RevokeUserSessions,
            target: user.clone(),
            step: Step::Fail { error },
        };
        let access = match self
            .accounts
            .access(
                &step.token.account,
                finding.finding_id.as_deref().unwrap_or("manual"),
            )
            .await
        {
            Ok(a) => a,
            Err(u) => return not_reached(ActionKind::RevokeUserSessions, user, &u, ctx),
        };
        let iam = access.iam.as_ref();
        let (got, user_policy) = futures::join!(
            iam.get_user(user),
            iam.get_user_policy(user, policy::ROLE_POLICY_NAME)
        );
        let action = match got {
            Ok(Some(info)) => {
                let mut incident = finding.clone();
                incident.account = Some(step.token.account.clone());
                incident.event_last_seen = step.token.event.event_time;
                let facts = UserFacts {
                    user: info,
                    keys: Ok(Vec::new()),
                    user_policy,
                };
                plan::revoke_minted_tokens(&incident, &facts, &self.config, self.clock.now())
            }
            Ok(None) => fail(crate::error::AwsError::new(
                "GetUser",
                "NoSuchEntity",
                format!(
                    "user {user} does not exist in account {}",
                    step.token.account
                ),
            )),
            Err(e) => fail(e),
        };
        self.execute(action, Some(&access), ctx).await
    }

    /// Access keys the attacker created, with `CONTAIN_PERSISTENCE=contain`: deactivated
    /// (`UpdateAccessKey Status=Inactive`), never deleted.
    async fn deactivate_created_keys(
        &self,
        finding: &Incident,
        plan: &FollowPlan,
        ctx: &Ctx,
        actions: &mut Vec<ActionOutcome>,
    ) {
        for (account, user, key) in plan.keys_to_deactivate() {
            let account = account.or(finding.account.as_deref()).unwrap_or_default();
            let action = PlannedAction {
                kind: ActionKind::DeactivateAccessKey,
                target: key.to_string(),
                step: Step::Write(Write::DeactivateAccessKey {
                    user: user.to_string(),
                    access_key_id: key.to_string(),
                }),
            };
            let finding_id = finding.finding_id.as_deref().unwrap_or("manual");
            let mut o = match self.accounts.access(account, finding_id).await {
                Ok(access) => self.execute(action, Some(&access), ctx).await,
                Err(u) => not_reached(ActionKind::DeactivateAccessKey, key, &u, ctx),
            };
            o.facts
                .insert("found_by", "following the stolen key: created by it".into());
            o.facts.insert("user", user.to_string());
            o.facts.insert("account", account.to_string());
            actions.push(o);
        }
    }
}

#[cfg(test)]
mod tests;
