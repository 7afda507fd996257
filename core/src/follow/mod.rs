//! Following the attacker (issue 13, the pure part): from the CloudTrail events of a stolen
//! access key to a typed follow-up plan.
//!
//! A deny on the role a finding names does not reach what the attacker did with it: role
//! sessions it assumed elsewhere (role chaining), tokens it minted (`GetSessionToken`,
//! `GetFederationToken`) and the persistence it left in IAM. This module reads the key's events
//! (`LookupEvents` by `AccessKeyId`, handed in by the caller: nothing here calls AWS), decides
//! what to revoke and what a person must do, and follows every credential the attacker obtained
//! (a session's key, a minted token's key, a created access key) breadth-first, to
//! [`FollowOptions::depth`] (`CHAIN_DEPTH`, default [`DEFAULT_CHAIN_DEPTH`]), never reading a key
//! twice.
//!
//! - [`event`]: one record → [`Observed`], every attacker-chosen name validated
//!   (`left_behind`: the persistence records).
//! - [`persistence`]: what the attacker left behind, its report line, what to inspect and the
//!   commands that undo it.
//! - [`chain`]: the breadth-first walk → [`FollowPlan`].
//! - [`window`]: the look-up window (36 h, or `PERSISTENCE_LOOKBACK`, before `eventFirstSeen`;
//!   every region read) and the one re-look after CloudTrail's lag.
//!
//! Nothing the walk leaves live is silent: keys not read (or not all of them) and persistence
//! only listed are [`FollowPlan::leftovers`], each a person's action with its commands.
//!
//! The plan is a candidate list: before a write the orchestration still reads the role from IAM
//! (`GetRole`) and runs the same decision as for the finding's own role (protection, coverage,
//! budget); CloudTrail's word on a role's path is not IAM's.

pub mod chain;
pub mod commands;
pub mod event;
mod left_behind;
pub mod persistence;
pub mod steps;
pub mod window;

#[cfg(test)]
mod tests;

pub use chain::{follow_chain, guard_from_config, reach_from_config, ChainWalk};
pub use event::{
    observe, AssumeApi, AssumedSession, EventRef, MintedToken, Observed, Persistence,
    PersistenceEvent, RoleRef, TokenApi,
};
pub use persistence::undo_commands;
pub use steps::{
    ContainPersistence, Containment, Decision, FollowOptions, FollowPlan, KeyToFollow, KeyVisit,
    ManualAction, PersistenceStep, SessionStep, TokenStep, Visit, WriteTarget,
};
pub use window::{lookup_window, next_look, Lookback, LookupWindow, NextLook};

use serde_json::Value;

pub use crate::config::DEFAULT_CHAIN_DEPTH;

/// One item of `LookupEvents`' `Events[]` (CloudTrail API reference, `Event`), in the project's
/// own type: the adapter copies the SDK's fields here; tests read them from fixtures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookedUpEvent {
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub access_key_id: Option<String>,
    /// The full record, a JSON string.
    pub cloud_trail_event: Option<String>,
}

impl LookedUpEvent {
    /// One `Events[]` item of a `LookupEvents` response as JSON (`aws cloudtrail lookup-events`
    /// prints the same PascalCase names).
    pub fn from_json(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            event_id: s("EventId"),
            event_name: s("EventName"),
            access_key_id: s("AccessKeyId"),
            cloud_trail_event: s("CloudTrailEvent"),
        }
    }

    /// Every item of a `LookupEvents` response's `Events`.
    pub fn all_from_response(v: &Value) -> Vec<Self> {
        v.get("Events")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(Self::from_json).collect())
            .unwrap_or_default()
    }
}

/// A region of a key's look-up that was not read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub region: String,
    /// Why: a page failed (with the AWS code), the page cap, the invocation's time.
    pub why: String,
}

/// What the caller could read for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Events(Vec<LookedUpEvent>),
    /// Some of it: what was read is acted on; the rest is not "nothing found" (a page failed,
    /// or the page cap was hit: an attacker can push an `AssumeRole` past it with cheap calls).
    Partial {
        events: Vec<LookedUpEvent>,
        unread: Vec<Unread>,
    },
    /// The look-up failed or was not possible (throttled past the budget, no access): said in
    /// the report, and the key counts as visited.
    Unavailable(String),
}

/// How the function can act in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The finding's own account: the same credentials as the finding's response.
    FindingAccount,
    /// Another account, through the member role (`MEMBER_ROLE_NAME`).
    MemberRole,
    /// Outside `ALLOWED_ACCOUNTS`: never written to, never looked up.
    NotAllowed(String),
    /// No way in (no member role configured): a person acts.
    Unreachable(String),
}

impl Reach {
    pub fn can_act(&self) -> bool {
        matches!(self, Reach::FindingAccount | Reach::MemberRole)
    }
}
