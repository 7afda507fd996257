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
    FollowPlan, Lookback, LookupWindow, ManualAction, SessionStep, TokenStep,
};
use revoker_core::names::parse_utc;
use revoker_core::report::{FollowUpReport, NextLookLine};
use time::OffsetDateTime;

mod lookup;

/// The time the finding's principal was contained, from its own actions: the latest cutoff of a
/// deny in place (written, would be written, or already there), or now for a deactivated key.
fn contained_at(actions: &[ActionOutcome], now: OffsetDateTime) -> Option<OffsetDateTime> {
    latest_cutoff(
        actions,
        &[Status::Done, Status::WouldDo, Status::AlreadyCovered],
        now,
    )
}

/// Whether the follow-up runs, and from which containment the next look is timed (`None`
/// inside: only the follow-up's own revocations time it).
///
/// - A failed action: no (the invocation fails and is retried; the retry follows).
/// - The principal contained: yes, from its containment.
/// - The finding's own role is protected (or otherwise left to a person by a revocation that
///   could not be written, or waiting for approval): yes, its key may have reached elsewhere; from `eventLastSeen`
///   (fixed by the payload, so the re-run does not schedule itself forever).
/// - The scheduled next look of a finding archived since (by an analyst, or by the attacker
///   with `guardduty:ArchiveFindings`): yes, the look does not depend on the archive flag.
fn follow_from(
    incident: &Incident,
    actions: &[ActionOutcome],
    now: OffsetDateTime,
) -> Option<Option<OffsetDateTime>> {
    if actions.iter().any(|a| a.status == Status::Failed) {
        return None;
    }
    if let Some(at) = contained_at(actions, now) {
        return Some(Some(at));
    }
    let left_to_a_person = incident.severity.is_some()
        && actions.iter().any(|a| {
            // A role-wide deny waiting for approval (nothing cut at once when the finding names
            // no session) leaves the key's reach unfollowed otherwise.
            matches!(
                a.status,
                Status::ManualActionRequired | Status::AwaitingApproval
            ) && matches!(
                a.action,
                ActionKind::RevokeRoleSessions | ActionKind::RevokeSessions
            )
        });
    if left_to_a_person {
        return Some(incident.event_last_seen);
    }
    (incident.archived && super::next_look::is_rerun()).then_some(None)
}

/// The latest cutoff (or key deactivation: `now`) of the actions in `statuses`.
fn latest_cutoff(
    actions: &[ActionOutcome],
    statuses: &[Status],
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    actions
        .iter()
        .filter(|a| statuses.contains(&a.status))
        .filter_map(|a| match a.action {
            ActionKind::RevokeRoleSessions
            | ActionKind::RevokeSessions
            | ActionKind::RevokeUserSessions => a.cutoff.as_deref().and_then(parse_utc),
            ActionKind::DeactivateAccessKey => Some(now),
            _ => None,
        })
        .max()
}

/// The account's regions could not be listed: the finding's keys were read only in the
/// finding's region and the global-events region; a person reads the others.
fn unlisted_regions(
    start: &[String],
    account: &str,
    window: &LookupWindow,
    why: &str,
) -> ManualAction {
    let keys: Vec<&str> = start
        .iter()
        .map(String::as_str)
        .filter(|k| follow::event::is_access_key_id(k))
        .collect();
    let mut commands = vec![format!(
        "# in account {account}: the regions enabled there, then for each region R and key K:"
    )];
    commands.push("aws ec2 describe-regions --query 'Regions[].RegionName' --output text".into());
    commands.extend(keys.iter().map(|k| {
        format!(
            "aws cloudtrail lookup-events --region R --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={k} --start-time {} --end-time {}",
            revoker_core::names::format_utc(window.start),
            revoker_core::names::format_utc(window.end)
        )
    }));
    ManualAction {
        kind: ActionKind::Triage,
        target: format!("CloudTrail of the other regions of account {account}"),
        reason: format!(
            "the account's regions could not be listed ({why}): only {} were read; what the stolen key did elsewhere is unknown",
            window.regions.join(", ")
        ),
        commands,
        not_contained: false,
    }
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
    // The same session name used twice is one `aws:userid` (two keys): denied once.
    let mut seen = vec![steps[0].session.assumed_role_id.as_str()];
    incident.recent_credentials = steps[1..]
        .iter()
        .filter(|s| {
            let id = s.session.assumed_role_id.as_str();
            let new = !seen.contains(&id);
            seen.push(id);
            new
        })
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
    // These sessions are not the finding: a finding archived since (the scheduled look) does
    // not make them skipped.
    incident.archived = false;
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
        let contained_at = follow_from(incident, own_actions, now)?;
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
        let regions = lookup::other_regions(config, self.accounts.as_ref()).await;
        let mut window = lookup_window(
            incident.event_first_seen,
            incident.region.as_deref(),
            regions.as_deref().unwrap_or_default(),
            Lookback::days(config.persistence_lookback_days),
            now,
        );
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
        let mut walk = ChainWalk::new(&start, &options);
        while let Some(key) = walk.next_key(&reach) {
            let found =
                lookup::lookup_key(self.accounts.as_ref(), &key, &window, finding, ctx).await;
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
        let mut manual = plan.manual_actions();
        manual.extend(plan.leftovers(&window));
        if let Err(why) = &regions {
            // Not "nothing found": the regions not read are a person's.
            window.note = Some(format!(
                "the account's other regions were not read ({why}): read only {}",
                window.regions.join(", ")
            ));
            manual.push(unlisted_regions(&start, &finding_account, &window, why));
        }
        for m in manual {
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

        // Sessions revoked by the follow-up itself need their own look after their own
        // revocation (their sessions' events arrive as late as any).
        let contained_at = contained_at.max(latest_cutoff(
            &actions,
            &[Status::Done, Status::WouldDo],
            now,
        ));
        let next = match contained_at.and_then(|at| next_look(&window, at)) {
            None => NextLookLine::none(),
            Some(next) => NextLookLine::pending(next),
        };
        Some((
            actions,
            FollowUpReport::new(&plan, &window, config.chain_depth, next),
        ))
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
            let mut sessions: Vec<&str> = Vec::new();
            for s in &steps {
                if !sessions.contains(&s.session.assumed_role_id.as_str()) {
                    sessions.push(&s.session.assumed_role_id);
                }
            }
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
