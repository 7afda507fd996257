//! What the walk found and decided: the follow-up plan and its parts.

use super::commands::{event_lookup_command, key_lookup_commands};
use super::event::{AssumedSession, EventRef, MintedToken, PersistenceEvent, RoleRef};
use super::window::LookupWindow;
use super::{Reach, Unread};
use crate::config::RevokeScope;
use crate::model::ActionKind;
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

pub use crate::config::ContainPersistence;

/// The fixed inputs of a walk.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The finding's account (`detail.accountId`).
    pub finding_account: String,
    /// `CHAIN_DEPTH`: keys found this many hops from the finding's key are listed, not read.
    pub depth: u32,
    /// `REVOKE_SCOPE`. For sessions the attacker created, `auto` means session scope: every one
    /// of them is the attacker's, while the role's other sessions are not.
    pub scope: RevokeScope,
    pub contain: ContainPersistence,
    /// The cutoff written into the deny documents of by-hand commands.
    pub cutoff: OffsetDateTime,
}

/// A key to read the events of, in the account whose CloudTrail holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyToFollow {
    pub access_key_id: String,
    pub account: String,
    /// 0 for the finding's keys.
    pub depth: u32,
}

/// A principal the plan would write to, for the protection check.
#[derive(Debug, Clone, Copy)]
pub enum WriteTarget<'a> {
    Role(&'a RoleRef),
    User { account: &'a str, name: &'a str },
}

/// What happens to a session or a user found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the deny, in the finding's account or through the member role.
    Revoke { reach: Reach },
    /// Never written to (protected role, the responder's own role, service-linked…): a person
    /// decides, with `commands` when a deny can be written by hand at all (none for
    /// service-linked and Identity Center roles).
    Protected {
        reason: String,
        commands: Vec<String>,
    },
    /// The account is outside `ALLOWED_ACCOUNTS` (the function was told not to act there):
    /// `manual_action_required`, with the commands.
    ManualActionRequired {
        reason: String,
        commands: Vec<String>,
    },
    /// The function should act in the account but has no way in (no member role): the
    /// attacker's session stays live, so this is not contained (`failed`, with the commands),
    /// like a finding whose own account cannot be reached.
    NotContained {
        reason: String,
        commands: Vec<String>,
    },
}

/// A role session the attacker created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStep {
    pub session: AssumedSession,
    /// The key that created it.
    pub via_key: String,
    /// Hops from the finding's key (1: the finding's key assumed it).
    pub depth: u32,
    /// `Session` (exact `aws:userid`, policy `SessionRevokerDenyStolenSessions`) or `Role`
    /// (`AWSRevokeOlderSessions`).
    pub scope: RevokeScope,
    /// Other account than the finding's.
    pub cross_account: bool,
    pub decision: Decision,
}

/// An IAM user's minted token: the user's `AWSRevokeOlderSessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStep {
    pub token: MintedToken,
    pub via_key: String,
    pub depth: u32,
    pub decision: Decision,
}

/// What is done about one persistence event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// An attacker-created access key, deactivated (`CONTAIN_PERSISTENCE=contain`).
    Deactivate { reach: Reach },
    /// Listed with its undo commands; nobody deletes anything automatically.
    ListOnly { reason: String },
}

/// A persistence event with the exact commands that undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceStep {
    pub event: PersistenceEvent,
    pub via_key: String,
    pub depth: u32,
    /// Commands built only from validated names.
    pub undo: Vec<String>,
    /// What the commands cannot restore, when something.
    pub caveat: Option<String>,
    pub containment: Containment,
}

/// What happened to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visit {
    /// Its events were read: how many, and how many mattered.
    Read { events: usize, relevant: usize },
    /// Read in part: a region's page failed, the page cap was hit, or the time ran out. What
    /// was read is acted on; the rest is not "nothing found".
    Partial {
        events: usize,
        relevant: usize,
        unread: Vec<Unread>,
    },
    /// The look-up failed.
    Unavailable(String),
    /// Not read: depth limit, or an account the function may not look in.
    NotFollowed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVisit {
    pub key: KeyToFollow,
    pub visit: Visit,
}

/// Something a person must do, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualAction {
    /// `RevokeSessions` for a session, `RevokeUserSessions` for a user, `Triage` for an event
    /// that did not validate.
    pub kind: ActionKind,
    pub target: String,
    pub reason: String,
    pub commands: Vec<String>,
    /// The attacker's credentials stay live (`Decision::NotContained`): the invocation fails.
    pub not_contained: bool,
}

/// The follow-up plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowPlan {
    /// Every key considered, in the order visited.
    pub keys: Vec<KeyVisit>,
    pub sessions: Vec<SessionStep>,
    pub tokens: Vec<TokenStep>,
    pub persistence: Vec<PersistenceStep>,
    /// Calls that failed (`errorCode`): attempts, nothing created.
    pub refused: Vec<(EventRef, String)>,
    /// Relevant events whose fields did not validate: a person looks.
    pub unreadable: Vec<(EventRef, String)>,
}

impl FollowPlan {
    /// Sessions to revoke now.
    pub fn sessions_to_revoke(&self) -> impl Iterator<Item = &SessionStep> {
        self.sessions
            .iter()
            .filter(|s| matches!(s.decision, Decision::Revoke { .. }))
    }

    /// Users whose minted tokens to revoke now, one step per user (several tokens of one user
    /// need one deny).
    pub fn users_to_revoke(&self) -> Vec<&TokenStep> {
        self.distinct_users(true)
    }

    fn distinct_users(&self, revoke: bool) -> Vec<&TokenStep> {
        let mut seen = BTreeSet::new();
        self.tokens
            .iter()
            .filter(|t| matches!(t.decision, Decision::Revoke { .. }) == revoke)
            .filter(|t| seen.insert((t.token.account.as_str(), t.token.user_name.as_str())))
            .collect()
    }

    /// Sessions to revoke now, grouped by role (account, role name): one policy write per role,
    /// whose session-scoped document holds every `aws:userid` of the group.
    pub fn revocations_by_role(&self) -> BTreeMap<(&str, &str), Vec<&SessionStep>> {
        let mut out: BTreeMap<(&str, &str), Vec<&SessionStep>> = BTreeMap::new();
        for s in self.sessions_to_revoke() {
            out.entry((
                s.session.role.account.as_str(),
                s.session.role.name.as_str(),
            ))
            .or_default()
            .push(s);
        }
        out
    }

    /// Attacker-created access keys to deactivate now: (account, user, key).
    pub fn keys_to_deactivate(&self) -> Vec<(Option<&str>, &str, &str)> {
        self.persistence
            .iter()
            .filter(|p| matches!(p.containment, Containment::Deactivate { .. }))
            .filter_map(|p| {
                let (user, key) = p.event.what.live_key()?;
                Some((p.event.account.as_deref(), user, key))
            })
            .collect()
    }

    /// Everything a person must do: sessions and users in accounts the function cannot act in,
    /// protected roles the attacker reached, and relevant events that did not validate.
    pub fn manual_actions(&self) -> Vec<ManualAction> {
        let mut out = Vec::new();
        for s in &self.sessions {
            if let Decision::ManualActionRequired { reason, commands }
            | Decision::Protected { reason, commands }
            | Decision::NotContained { reason, commands } = &s.decision
            {
                out.push(ManualAction {
                    kind: ActionKind::RevokeSessions,
                    not_contained: matches!(s.decision, Decision::NotContained { .. }),
                    target: format!(
                        "session {} of role {} in {}",
                        s.session.assumed_role_id, s.session.role.name, s.session.role.account
                    ),
                    reason: reason.clone(),
                    commands: commands.clone(),
                });
            }
        }
        for t in self.distinct_users(false) {
            if let Decision::ManualActionRequired { reason, commands }
            | Decision::Protected { reason, commands }
            | Decision::NotContained { reason, commands } = &t.decision
            {
                out.push(ManualAction {
                    kind: ActionKind::RevokeUserSessions,
                    not_contained: matches!(t.decision, Decision::NotContained { .. }),
                    target: format!("IAM user {} in {}", t.token.user_name, t.token.account),
                    reason: reason.clone(),
                    commands: commands.clone(),
                });
            }
        }
        for (event, why) in &self.unreadable {
            out.push(ManualAction {
                kind: ActionKind::Triage,
                target: format!(
                    "{} event {}",
                    event.event_name,
                    event.event_id.as_deref().unwrap_or("(no id)")
                ),
                reason: why.clone(),
                commands: vec![event_lookup_command(event)],
                not_contained: false,
            });
        }
        // The same session name twice is one `aws:userid`: one thing for a person to do.
        let mut seen: Vec<(ActionKind, String)> = Vec::new();
        out.retain(|m| {
            let k = (m.kind, m.target.clone());
            let new = !seen.contains(&k);
            seen.push(k);
            new
        });
        out
    }

    /// What the follow-up leaves live and a person must finish (issue 21): keys whose events
    /// were not read, or not all of them (a region that could not be read is not "nothing
    /// found"), and persistence only listed. Each is `manual_action_required` with its commands.
    pub fn leftovers(&self, window: &LookupWindow) -> Vec<ManualAction> {
        let mut out = Vec::new();
        for k in &self.keys {
            let key = &k.key;
            let all: Vec<&str> = window.regions.iter().map(String::as_str).collect();
            let (reason, regions) = match &k.visit {
                Visit::Read { .. } => continue,
                Visit::Unavailable(why) => (
                    format!("its CloudTrail events could not be read ({why}): what it did is unknown and may still be live"),
                    all,
                ),
                Visit::NotFollowed(why) => (
                    format!("its CloudTrail events were not read ({why}): what it did is unknown and may still be live"),
                    all,
                ),
                Visit::Partial { unread, .. } => (
                    format!(
                        "its CloudTrail events were read in part; not read: {}: what it did there is unknown and may still be live",
                        unread
                            .iter()
                            .map(|u| format!("{} ({})", u.region, u.why))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    unread.iter().map(|u| u.region.as_str()).collect(),
                ),
            };
            out.push(ManualAction {
                kind: ActionKind::Triage,
                target: format!(
                    "key {} in {} (hop {})",
                    key.access_key_id, key.account, key.depth
                ),
                reason,
                commands: key_lookup_commands(key, window, &regions),
                not_contained: false,
            });
        }
        for p in &self.persistence {
            let Containment::ListOnly { reason } = &p.containment else {
                continue;
            };
            let mut commands = p.undo.clone();
            if let Some(caveat) = &p.caveat {
                commands.push(format!("# {caveat}"));
            }
            out.push(ManualAction {
                kind: if p.event.what.live_key().is_some() {
                    ActionKind::DeactivateAccessKey
                } else {
                    ActionKind::Triage
                },
                target: p.event.what.describe(),
                reason: format!("left live by the attacker, listed not undone ({reason})"),
                commands,
                not_contained: false,
            });
        }
        out
    }
}
