//! The breadth-first walk over the attacker's credentials, and the decision for each thing found.

use super::commands::{session_commands, user_commands};
use super::event::{
    is_access_key_id, observe, AssumedSession, EventRef, MintedToken, Observed, Persistence,
    PersistenceEvent,
};
use super::persistence::undo_commands;
use super::steps::*;
use super::{Lookup, Reach};
use crate::config::{Config, RevokeScope};
use crate::model::RoleInfo;
use std::collections::{BTreeSet, VecDeque};

/// How the function reaches `target` from a finding in `finding_account`, per the config:
/// outside a non-empty `ALLOWED_ACCOUNTS`: not allowed; the finding's account: as for the
/// finding; another account: through `MEMBER_ROLE_NAME`, else unreachable.
pub fn reach_from_config(config: &Config, finding_account: &str, target: &str) -> Reach {
    if !config.allowed_accounts.is_empty() && !config.allowed_accounts.iter().any(|a| a == target) {
        return Reach::NotAllowed(format!("account {target} is not in ALLOWED_ACCOUNTS"));
    }
    if target == finding_account {
        Reach::FindingAccount
    } else if config.member_role_name.is_some() {
        Reach::MemberRole
    } else {
        Reach::Unreachable(format!(
            "account {target} is not the finding's account and MEMBER_ROLE_NAME is not set"
        ))
    }
}

/// The finding's protection rules, applied to a role found on the way: service-linked and
/// Identity Center paths, `PROTECTED_ROLES`, the responder's own role ([`crate::plan::protection`]).
/// Users are not protected by role patterns.
pub fn guard_from_config<'a>(
    config: &'a Config,
    responder_role: &'a Result<Option<String>, String>,
) -> impl Fn(&WriteTarget) -> Option<String> + 'a {
    move |target| match target {
        WriteTarget::Role(role) => crate::plan::protection(
            &RoleInfo {
                name: role.name.clone(),
                arn: role.arn.clone(),
                path: role.path.clone(),
                role_id: role.role_id.clone(),
                tags: Vec::new(),
            },
            responder_role,
            config,
        ),
        WriteTarget::User { .. } => None,
    }
}

/// Walks the credentials breadth-first from `start` (the finding's access key, and any other
/// key the finding lists), reading each key's events through `lookup` once at most.
///
/// - A key at depth `d` is read when `d < options.depth`; what it created is at `d + 1`.
///   Everything found is planned (a session found at the last hop is still revoked); only
///   reading stops.
/// - A key in an account `reach` says is not allowed or unreachable is not looked up.
/// - `guard` returns why a principal must never be written to.
pub fn follow_chain(
    start: &[String],
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
    lookup: &mut dyn FnMut(&KeyToFollow) -> Lookup,
) -> FollowPlan {
    let mut walk = ChainWalk::new(start, options);
    while let Some(key) = walk.next_key(reach) {
        let found = lookup(&key);
        walk.record(key, found, reach, guard);
    }
    walk.finish()
}

/// The same walk, one key at a time, for a caller whose look-ups are asynchronous: ask
/// [`ChainWalk::next_key`] which key to read, read it, hand the result to
/// [`ChainWalk::record`], until `next_key` says `None`; then [`ChainWalk::finish`].
pub struct ChainWalk<'o> {
    options: &'o FollowOptions,
    plan: FollowPlan,
    queued: BTreeSet<String>,
    seen_events: BTreeSet<String>,
    /// (`aws:userid`, session key): one session. The same name with another key is another
    /// session, whose key is followed too.
    seen_sessions: BTreeSet<(String, Option<String>)>,
    queue: VecDeque<KeyToFollow>,
}

impl<'o> ChainWalk<'o> {
    pub fn new(start: &[String], options: &'o FollowOptions) -> Self {
        let mut walk = Self {
            options,
            plan: FollowPlan::default(),
            queued: BTreeSet::new(),
            seen_events: BTreeSet::new(),
            seen_sessions: BTreeSet::new(),
            queue: VecDeque::new(),
        };
        for key in start {
            if is_access_key_id(key) && walk.queued.insert(key.clone()) {
                walk.queue.push_back(KeyToFollow {
                    access_key_id: key.clone(),
                    account: options.finding_account.clone(),
                    depth: 0,
                });
            }
        }
        walk
    }

    /// The next key whose events must be read; keys that are not read (depth limit, an account
    /// the function may not look in) are recorded on the way.
    pub fn next_key(&mut self, reach: &dyn Fn(&str) -> Reach) -> Option<KeyToFollow> {
        while let Some(key) = self.queue.pop_front() {
            if key.depth >= self.options.depth {
                self.plan.keys.push(KeyVisit {
                    visit: Visit::NotFollowed(format!(
                        "CHAIN_DEPTH {} reached: its events were not read",
                        self.options.depth
                    )),
                    key,
                });
                continue;
            }
            match reach(&key.account) {
                Reach::NotAllowed(why) | Reach::Unreachable(why) => {
                    self.plan.keys.push(KeyVisit {
                        visit: Visit::NotFollowed(why),
                        key,
                    });
                }
                Reach::FindingAccount | Reach::MemberRole => return Some(key),
            }
        }
        None
    }

    /// What was read for `key` (from [`ChainWalk::next_key`]).
    pub fn record(
        &mut self,
        key: KeyToFollow,
        found: Lookup,
        reach: &dyn Fn(&str) -> Reach,
        guard: &dyn Fn(&WriteTarget) -> Option<String>,
    ) {
        let options = self.options;
        let plan = &mut self.plan;
        let (events, unread) = match found {
            Lookup::Events(events) => (events, Vec::new()),
            Lookup::Partial { events, unread } => (events, unread),
            Lookup::Unavailable(why) => {
                plan.keys.push(KeyVisit {
                    visit: Visit::Unavailable(why),
                    key,
                });
                return;
            }
        };
        let mut relevant = 0;
        let mut next: Vec<KeyToFollow> = Vec::new();
        for looked in &events {
            let observed = observe(looked, &key.access_key_id);
            if matches!(observed, Observed::Other) {
                continue;
            }
            if let Some(id) = observed_event(&observed).and_then(|e| e.event_id.clone()) {
                if !self.seen_events.insert(id) {
                    continue;
                }
            }
            relevant += 1;
            let depth = key.depth + 1;
            match observed {
                Observed::Session(session) => {
                    // The same session name twice (two AssumeRole calls) is one `aws:userid`
                    // but two keys: every key is followed; the revocation is de-duplicated
                    // where it is written (`FollowPlan::revocations_by_role`).
                    if !self
                        .seen_sessions
                        .insert((session.assumed_role_id.clone(), session.session_key.clone()))
                    {
                        continue;
                    }
                    if let Some(k) = &session.session_key {
                        next.push(KeyToFollow {
                            access_key_id: k.clone(),
                            account: session.role.account.clone(),
                            depth,
                        });
                    }
                    plan.sessions
                        .push(session_step(session, &key, depth, options, reach, guard));
                }
                Observed::Token(token) => {
                    if let Some(k) = &token.minted_key {
                        next.push(KeyToFollow {
                            access_key_id: k.clone(),
                            account: token.account.clone(),
                            depth,
                        });
                    }
                    plan.tokens
                        .push(token_step(token, &key, depth, options, reach, guard));
                }
                Observed::Persistence(event) => {
                    // Credentials the attacker holds: a key it created (it has the secret), a
                    // root session it opened (in the target account).
                    let held = match &event.what {
                        Persistence::AccessKey { access_key_id, .. } => Some((
                            access_key_id,
                            event.account.clone().unwrap_or_else(|| key.account.clone()),
                        )),
                        Persistence::RootSession {
                            account,
                            access_key_id: Some(k),
                        } => Some((k, account.clone())),
                        _ => None,
                    };
                    if let Some((k, account)) = held {
                        next.push(KeyToFollow {
                            access_key_id: k.clone(),
                            account,
                            depth,
                        });
                    }
                    plan.persistence
                        .push(persistence_step(event, &key, depth, options, reach, guard));
                }
                Observed::Refused { event, error_code } => plan.refused.push((event, error_code)),
                Observed::Unreadable { event, why } => plan.unreadable.push((event, why)),
                Observed::Other => {}
            }
        }
        let visit = if unread.is_empty() {
            Visit::Read {
                events: events.len(),
                relevant,
            }
        } else {
            Visit::Partial {
                events: events.len(),
                relevant,
                unread,
            }
        };
        plan.keys.push(KeyVisit { visit, key });
        for k in next {
            if self.queued.insert(k.access_key_id.clone()) {
                self.queue.push_back(k);
            }
        }
    }

    pub fn finish(self) -> FollowPlan {
        self.plan
    }
}

fn observed_event(o: &Observed) -> Option<&EventRef> {
    match o {
        Observed::Session(s) => Some(&s.event),
        Observed::Token(t) => Some(&t.event),
        Observed::Persistence(p) => Some(&p.event),
        Observed::Refused { event, .. } | Observed::Unreadable { event, .. } => Some(event),
        Observed::Other => None,
    }
}

/// The decision for a principal no protection applies to, from how its account is reached:
/// revoke there, or leave the by-hand `commands` to a person (outside `ALLOWED_ACCOUNTS`) or
/// report it not contained (no way in).
fn by_reach(reach: Reach, commands: impl FnOnce() -> Vec<String>) -> Decision {
    match reach {
        r @ (Reach::FindingAccount | Reach::MemberRole) => Decision::Revoke { reach: r },
        Reach::NotAllowed(reason) => Decision::ManualActionRequired {
            reason,
            commands: commands(),
        },
        Reach::Unreachable(reason) => Decision::NotContained {
            reason,
            commands: commands(),
        },
    }
}

fn session_step(
    session: AssumedSession,
    via: &KeyToFollow,
    depth: u32,
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
) -> SessionStep {
    let scope = match options.scope {
        RevokeScope::Role => RevokeScope::Role,
        RevokeScope::Session | RevokeScope::Auto => RevokeScope::Session,
    };
    let account = session.role.account.clone();
    let decision = if let Some(reason) = guard(&WriteTarget::Role(&session.role)) {
        let by_hand = !session.role.path.starts_with("/aws-service-role/")
            && !session.role.path.starts_with("/aws-reserved/");
        Decision::Protected {
            reason,
            commands: if by_hand {
                session_commands(&session, scope, options.cutoff)
            } else {
                Vec::new()
            },
        }
    } else {
        by_reach(reach(&account), || {
            session_commands(&session, scope, options.cutoff)
        })
    };
    SessionStep {
        cross_account: account != options.finding_account,
        session,
        via_key: via.access_key_id.clone(),
        depth,
        scope,
        decision,
    }
}

/// The follow-up for a token minted by a stolen user key (the user's deny).
fn token_step(
    token: MintedToken,
    via: &KeyToFollow,
    depth: u32,
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
) -> TokenStep {
    let decision = if let Some(reason) = guard(&WriteTarget::User {
        account: &token.account,
        name: &token.user_name,
    }) {
        Decision::Protected {
            reason,
            commands: user_commands(&token, options.cutoff),
        }
    } else {
        by_reach(reach(&token.account), || {
            user_commands(&token, options.cutoff)
        })
    };
    TokenStep {
        token,
        via_key: via.access_key_id.clone(),
        depth,
        decision,
    }
}

fn persistence_step(
    event: PersistenceEvent,
    via: &KeyToFollow,
    depth: u32,
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
) -> PersistenceStep {
    let (mut undo, caveat) = undo_commands(&event.what);
    let account = event.account.as_deref().unwrap_or(&via.account);
    let reached = reach(account);
    if !reached.can_act() || account != options.finding_account {
        undo.insert(
            0,
            format!("# in account {account}, with credentials of that account:"),
        );
    }
    let containment = match (event.what.live_key(), options.contain) {
        (Some((user, _)), ContainPersistence::Contain) => {
            if let Some(reason) = guard(&WriteTarget::User {
                account,
                name: user,
            }) {
                Containment::ListOnly { reason }
            } else {
                match reached {
                    r @ (Reach::FindingAccount | Reach::MemberRole) => {
                        Containment::Deactivate { reach: r }
                    }
                    Reach::NotAllowed(why) | Reach::Unreachable(why) => {
                        Containment::ListOnly { reason: why }
                    }
                }
            }
        }
        (Some(_), ContainPersistence::Report) => Containment::ListOnly {
            reason: "CONTAIN_PERSISTENCE=report: listed, not deactivated".into(),
        },
        _ => Containment::ListOnly {
            reason: "nothing but attacker-created access keys is changed automatically".into(),
        },
    };
    PersistenceStep {
        event,
        via_key: via.access_key_id.clone(),
        depth,
        undo,
        caveat,
        containment,
    }
}
