//! The delayed re-check of a role policy this function wrote: the message that travels on the
//! re-check queue (`RECHECK_QUEUE_URL`), how it is read back, and how the messages of one batch
//! that name the same role become one look.
//!
//! Why a message at all: IAM has no conditional write. A writer that read the policy before our
//! write and writes after our immediate read-back erases our statement, and only a read after
//! that writer's write can see it. The queue's delivery delay is that later read, outside the
//! invocation that wrote the deny (see the README, "Failure behaviour").
//!
//! A message is input like any other: anyone allowed `sqs:SendMessage` on the queue can write
//! one. The checks here make sure a message can only ask for what this function would itself
//! have written moments before it was sent: one of its two policy names, exact `aws:userid`s
//! (`<RoleId>:<session>`), a cutoff no later than the queue's own `SentTimestamp` plus the
//! configured margin, an allowed account, a role that is not protected. (The sender's identity is
//! checked too, against the function's own, in `respond/recheck.rs`.)

use crate::config::Config;
use crate::model::Write;
use crate::names::{is_account_id, is_valid_role_name};
use crate::policy::{
    is_exact_userid, RevocationPolicy, SessionRevocations, MAX_ROLE_SESSION, ROLE_POLICY_NAME,
    SESSION_POLICY_NAME,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

mod burst;
pub mod notice;

pub use burst::{burst_under_way, BURST_WINDOW, MERGE_MAX_SESSIONS};

/// The message's format; another value is refused (never guessed at).
pub const VERSION: u8 = 1;

/// Looks at one write at most: another follows only while the last one had to rewrite
/// (writers are still racing), as the in-invocation settle pass does.
pub const MAX_LOOKS: u8 = 3;

/// Times a look that failed for a transient reason (IAM throttling) comes back by a message of
/// its own, a few seconds later, before its batch item is failed: SQS's own redelivery waits the
/// queue's visibility timeout (900 s, Lambda's minimum for the function's timeout), far too long
/// for a session deny that was never written (a merged write).
pub const MAX_RETRIES: u8 = 5;

/// Findings a merged write's message may name (for its report).
pub const MAX_FINDINGS: usize = 100;

/// The delay before retry `retry` (1-based) of a look: 2, 4, 8, 16, 20 s.
pub fn retry_delay_seconds(retry: u8) -> i32 {
    (2i32 << retry.saturating_sub(1).min(4)).min(20)
}

/// Clock skew allowed between the writer's clock (which chose the cutoff) and SQS's
/// `SentTimestamp`, on top of the configured cutoff margin.
pub const SKEW: Duration = Duration::seconds(5);

/// Which of this function's role policies was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// `AWSRevokeOlderSessions`: every token issued before the cutoff.
    RoleWide,
    /// `SessionRevokerDenyStolenSessions`: the named sessions' tokens issued before their cutoff.
    Sessions,
}

impl PolicyKind {
    pub fn policy_name(self) -> &'static str {
        match self {
            PolicyKind::RoleWide => ROLE_POLICY_NAME,
            PolicyKind::Sessions => SESSION_POLICY_NAME,
        }
    }

    fn of(policy_name: &str) -> Option<Self> {
        match policy_name {
            ROLE_POLICY_NAME => Some(PolicyKind::RoleWide),
            SESSION_POLICY_NAME => Some(PolicyKind::Sessions),
            _ => None,
        }
    }
}

/// One named session and the cutoff its statement must keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionCutoff {
    pub userid: String,
    #[serde(with = "time::serde::rfc3339")]
    pub cutoff: OffsetDateTime,
}

/// What was written and what must still hold, as it travels on the queue (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecheckMessage {
    pub version: u8,
    pub account: String,
    pub role: String,
    pub policy: PolicyKind,
    /// Role-wide: the cutoff written. Sessions: the latest of the sessions' cutoffs.
    #[serde(with = "time::serde::rfc3339")]
    pub cutoff: OffsetDateTime,
    /// Sessions only (empty for role-wide): each `aws:userid` and its cutoff.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionCutoff>,
    /// Which look this is (0: the first after the write).
    #[serde(default)]
    pub look: u8,
    /// For logs (and a merged write's report) only: never used to decide anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<String>,
    /// A deny not written yet (issue 26): a finding at a role whose session deny another
    /// invocation had just written joined the role's merged write instead of writing on its
    /// own. The look writes it (as it restores any session missing), reports it, and keeps
    /// looking as after any write.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merge: bool,
    /// A look sent again after a transient failure (see [`MAX_RETRIES`]): how many times.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry: u8,
    /// A merged write sent again: the findings that joined it (its report names them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

impl RecheckMessage {
    /// The message for a role policy write of the plan (`None` for any other write).
    pub fn for_write(account: &str, write: &Write, finding_id: Option<&str>) -> Option<Self> {
        let Write::PutRolePolicy {
            role,
            policy_name,
            document,
            cutoff,
            sessions,
            ..
        } = write
        else {
            return None;
        };
        let policy = PolicyKind::of(policy_name)?;
        let sessions = match policy {
            PolicyKind::RoleWide => Vec::new(),
            PolicyKind::Sessions => {
                // Each named session keeps the cutoff the planned document gives it (see
                // `reconcile`): an earlier one already in place is not moved forward.
                let planned = SessionRevocations::from_document(document).unwrap_or_default();
                sessions
                    .iter()
                    .map(|s| SessionCutoff {
                        userid: s.clone(),
                        cutoff: planned.sessions.get(s).copied().unwrap_or(*cutoff),
                    })
                    .collect()
            }
        };
        Some(Self {
            version: VERSION,
            account: account.to_string(),
            role: role.clone(),
            policy,
            cutoff: *cutoff,
            sessions,
            look: 0,
            finding_id: finding_id.filter(|f| is_finding_id(f)).map(str::to_string),
            merge: false,
            retry: 0,
            findings: Vec::new(),
        })
    }

    /// The message by which a finding's write that IAM throttled past the SDK's retries is
    /// handed to its role's merged write (either policy: cutoffs only move forward and session
    /// lists only grow, so the batch merges it like any other).
    pub fn handing_over(account: &str, write: &Write, finding_id: Option<&str>) -> Option<Self> {
        let mut m = Self::for_write(account, write, finding_id)?;
        m.merge = true;
        Some(m)
    }

    /// The message by which a finding's session deny joins its role's merged write (see
    /// [`burst_under_way`]): only a session-scoped write can join, a role-wide one is written
    /// at once (a later finding at the role then finds it already covered).
    pub fn joining(account: &str, write: &Write, finding_id: Option<&str>) -> Option<Self> {
        let mut m = Self::for_write(account, write, finding_id)?;
        (m.policy == PolicyKind::Sessions).then(|| {
            m.merge = true;
            m
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a re-check message serializes")
    }
}

/// Why a message was refused (it is dropped, never acted on, never retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a re-check message: {0}")]
    Unreadable(String),
    #[error("message version {0} is not {VERSION}")]
    Version(u8),
    #[error("look {0} is past the last ({MAX_LOOKS})")]
    Looks(u8),
    #[error("retry {0} is past the last ({MAX_RETRIES})")]
    Retries(u8),
    #[error("a finding id that is not one, or more than {MAX_FINDINGS}")]
    Findings,
    #[error("sent by {0:?}, not by this function")]
    Sender(String),
    #[error("no SentTimestamp from SQS")]
    NoSentTime,
    #[error("not an account id")]
    Account,
    #[error("account {0} is not in ALLOWED_ACCOUNTS")]
    NotAllowed(String),
    #[error("not a role name")]
    Role,
    #[error("role {0} is protected (PROTECTED_ROLES)")]
    Protected(String),
    #[error(
        "a cutoff after the message was sent (plus the margin): this function never writes one"
    )]
    FutureCutoff,
    #[error("a cutoff older than any live role session: nothing to keep denied")]
    Stale,
    #[error("session {0:?} is not an exact aws:userid of a role session")]
    Session(String),
    #[error("a role-wide message with sessions, or a sessions message without any")]
    Shape,
}

/// A message that passed every check: what the delayed look must find in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    pub account: String,
    pub role: String,
    pub policy: PolicyKind,
    /// Role-wide: the cutoff. Sessions: the latest of the sessions' cutoffs.
    pub cutoff: OffsetDateTime,
    pub sessions: BTreeMap<String, OffsetDateTime>,
    pub look: u8,
    /// It carries a deny not written yet (a merged write, [`RecheckMessage::merge`]).
    pub merge: bool,
    /// The findings whose denies joined the merged write (for its report).
    pub findings: Vec<String>,
    /// How many times this look was sent again after a transient failure.
    pub retry: u8,
}

/// A finding id as the report may name it (GuardDuty's are 32 hex characters).
fn is_finding_id(f: &str) -> bool {
    !f.is_empty() && f.len() <= 128 && f.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether SQS's `SenderId` of a message is this function: the same principal as its own
/// caller identity (the role id before `:`; the session part is the function's name in Lambda,
/// but any session of the function's role could write the deny itself anyway).
pub fn is_own_sender(sender: &str, own: &str) -> bool {
    let principal = |s: &str| s.split(':').next().unwrap_or_default().to_string();
    !own.is_empty() && principal(sender) == principal(own)
}

/// Reads and checks a message body; `sent` is SQS's own `SentTimestamp` of the message (not
/// the sender's word).
pub fn read(body: &str, config: &Config, sent: OffsetDateTime) -> Result<Recheck, Refused> {
    let m: RecheckMessage =
        serde_json::from_str(body).map_err(|e| Refused::Unreadable(e.to_string()))?;
    if m.version != VERSION {
        return Err(Refused::Version(m.version));
    }
    if m.look >= MAX_LOOKS {
        return Err(Refused::Looks(m.look));
    }
    if m.retry > MAX_RETRIES {
        return Err(Refused::Retries(m.retry));
    }
    if m.findings.len() > MAX_FINDINGS || !m.findings.iter().all(|f| is_finding_id(f)) {
        return Err(Refused::Findings);
    }
    if !is_account_id(&m.account) {
        return Err(Refused::Account);
    }
    if !config.allowed_accounts.is_empty() && !config.allowed_accounts.contains(&m.account) {
        return Err(Refused::NotAllowed(m.account));
    }
    if !is_valid_role_name(&m.role) {
        return Err(Refused::Role);
    }
    if config.protecting_pattern(&m.role, None).is_some() {
        return Err(Refused::Protected(m.role));
    }
    let latest = sent + Duration::seconds(config.cutoff_margin_seconds) + SKEW;
    let in_bounds = |c: OffsetDateTime| -> Result<(), Refused> {
        if c > latest {
            Err(Refused::FutureCutoff)
        } else if c < sent - MAX_ROLE_SESSION {
            Err(Refused::Stale)
        } else {
            Ok(())
        }
    };
    in_bounds(m.cutoff)?;
    let mut sessions = BTreeMap::new();
    for s in &m.sessions {
        // A role session only (`<RoleId>:<session>`): a user id has no place on a role.
        if !s.userid.contains(':') || !is_exact_userid(&s.userid) {
            return Err(Refused::Session(s.userid.clone()));
        }
        in_bounds(s.cutoff)?;
        let c = sessions.entry(s.userid.clone()).or_insert(s.cutoff);
        *c = (*c).max(s.cutoff);
    }
    match (m.policy, sessions.is_empty()) {
        (PolicyKind::RoleWide, true) | (PolicyKind::Sessions, false) => {}
        _ => return Err(Refused::Shape),
    }
    let cutoff = match m.policy {
        PolicyKind::RoleWide => m.cutoff,
        PolicyKind::Sessions => sessions.values().copied().max().unwrap_or(m.cutoff),
    };
    let mut findings = match (m.merge, m.finding_id) {
        (true, Some(f)) if is_finding_id(&f) => vec![f],
        _ => Vec::new(),
    };
    if m.merge {
        for f in m.findings {
            if !findings.contains(&f) {
                findings.push(f);
            }
        }
    }
    Ok(Recheck {
        account: m.account,
        role: m.role,
        policy: m.policy,
        cutoff,
        sessions,
        look: m.look,
        merge: m.merge,
        findings,
        retry: m.retry,
    })
}

impl Recheck {
    /// The document to write when what is in place no longer holds this: the shape this
    /// function writes, built by serde from the checked values only.
    pub fn document(&self) -> String {
        match self.policy {
            PolicyKind::RoleWide => RevocationPolicy {
                cutoff: self.cutoff,
            }
            .to_json(),
            PolicyKind::Sessions => SessionRevocations {
                sessions: self.sessions.clone(),
            }
            .to_json(),
        }
    }

    /// As the plan's write, for the same read-merge-write the invocation's own pass runs.
    pub fn to_write(&self) -> Write {
        Write::PutRolePolicy {
            role: self.role.clone(),
            policy_name: self.policy.policy_name(),
            document: self.document(),
            cutoff: self.cutoff,
            previous_cutoff: None,
            note: None,
            sessions: self.sessions.keys().cloned().collect(),
            fallback: None,
        }
    }

    fn key(&self) -> (String, String, PolicyKind) {
        (self.account.clone(), self.role.clone(), self.policy)
    }

    /// This look as a message again (the findings bounded as `read` bounds them).
    fn to_message(&self) -> RecheckMessage {
        RecheckMessage {
            version: VERSION,
            account: self.account.clone(),
            role: self.role.clone(),
            policy: self.policy,
            cutoff: self.cutoff,
            sessions: self
                .sessions
                .iter()
                .map(|(userid, cutoff)| SessionCutoff {
                    userid: userid.clone(),
                    cutoff: *cutoff,
                })
                .collect(),
            look: self.look,
            finding_id: None,
            merge: self.merge,
            retry: self.retry,
            findings: self.findings.iter().take(MAX_FINDINGS).cloned().collect(),
        }
    }

    /// The message for the next look at this write (`None` after the last): what must hold,
    /// nothing new to write, a fresh retry count.
    pub fn next_look(&self) -> Option<RecheckMessage> {
        let look = self.look + 1;
        (look < MAX_LOOKS).then(|| RecheckMessage {
            look,
            merge: false,
            retry: 0,
            findings: Vec::new(),
            ..self.to_message()
        })
    }

    /// The same look, sent again after a transient failure (`None` after [`MAX_RETRIES`]: the
    /// batch item then fails, and SQS's redelivery and dead-letter queue take over).
    pub fn retry_message(&self) -> Option<RecheckMessage> {
        let retry = self.retry + 1;
        (retry <= MAX_RETRIES).then(|| RecheckMessage {
            retry,
            ..self.to_message()
        })
    }

    fn absorb(&mut self, other: Recheck) {
        // The earliest look of the group: as many looks as the least-looked write still has.
        self.look = self.look.min(other.look);
        self.cutoff = self.cutoff.max(other.cutoff);
        self.merge |= other.merge;
        self.retry = self.retry.min(other.retry);
        for f in other.findings {
            if !self.findings.contains(&f) {
                self.findings.push(f);
            }
        }
        for (userid, cutoff) in other.sessions {
            let c = self.sessions.entry(userid).or_insert(cutoff);
            *c = (*c).max(cutoff);
        }
    }
}

/// One look per role policy: the messages of a batch (by their position) that name the same
/// account, role and policy become one, with the latest cutoffs and every session, so the
/// batch makes at most one write per role policy.
pub fn merge_by_role(checks: Vec<(usize, Recheck)>) -> Vec<(Vec<usize>, Recheck)> {
    let mut merged: BTreeMap<(String, String, PolicyKind), (Vec<usize>, Recheck)> = BTreeMap::new();
    for (at, check) in checks {
        match merged.entry(check.key()) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let (places, into) = e.get_mut();
                places.push(at);
                into.absorb(check);
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((vec![at], check));
            }
        }
    }
    merged.into_values().collect()
}

#[cfg(test)]
mod tests;
