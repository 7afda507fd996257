//! The follow-up's part of an incident report: what the stolen key's CloudTrail events showed,
//! what was looked at and up to when, and when the next look happens.
//!
//! The revocations and deactivations themselves are actions of the incident (with the same
//! statuses as the finding's own, so a failed one fails the invocation); this section is the
//! evidence behind them and the persistence a person undoes.

use crate::follow::{
    Containment, EventRef, FollowPlan, LookupWindow, NextLook, Persistence, Visit,
};
use crate::names::format_utc;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUpReport {
    /// The CloudTrail look-up: from, until, where.
    pub looked_from: String,
    pub looked_until: String,
    pub regions: Vec<String>,
    /// Regions of a key not read to the end: `region: why (key …)`. Not "nothing found": each
    /// is a `manual_action_required` action with its commands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions_not_read: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `CHAIN_DEPTH`.
    pub depth: u32,
    /// Every key considered, in the order visited.
    pub keys: Vec<KeyLine>,
    /// Role sessions the followed keys created (their revocations are actions).
    pub sessions: Vec<SessionLine>,
    /// Tokens minted by IAM users' keys.
    pub tokens: Vec<TokenLine>,
    /// What the followed keys created in IAM, with the commands that undo it.
    pub persistence: Vec<PersistenceLine>,
    /// Calls of interest that failed (nothing was created): `event (errorCode)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_calls: Vec<String>,
    pub next_look: NextLookLine,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyLine {
    pub access_key_id: String,
    pub account: String,
    pub depth: u32,
    /// `read`, `partial` (some regions or pages not read), `unavailable` or `not_followed`.
    pub result: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionLine {
    /// `<RoleId>:<session>`: the session's `aws:userid`.
    pub session: String,
    pub role_arn: String,
    pub via_key: String,
    pub depth: u32,
    pub api: crate::follow::AssumeApi,
    pub event: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenLine {
    pub user: String,
    pub account: String,
    pub api: crate::follow::TokenApi,
    pub via_key: String,
    pub event: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersistenceLine {
    pub what: String,
    pub event: String,
    pub via_key: String,
    /// `deactivated` (CONTAIN_PERSISTENCE=contain, see the actions) or `listed`.
    pub containment: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_listed: Option<String>,
    pub undo: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
}

/// Where the next look stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextLookStatus {
    /// Asked for by an incident; the payload's one schedule is not made yet (never reported:
    /// the orchestration resolves every pending look before the report is published).
    Pending,
    Scheduled,
    /// A person runs it: `command`.
    NotScheduled,
    /// The schedule could not be created: `command`.
    Failed,
    /// CloudTrail has had time to deliver everything from before the containment.
    None,
}

impl NextLookStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            NextLookStatus::Pending => "pending",
            NextLookStatus::Scheduled => "scheduled",
            NextLookStatus::NotScheduled => "not_scheduled",
            NextLookStatus::Failed => "failed",
            NextLookStatus::None => "none",
        }
    }
}

/// When the next look happens, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextLookLine {
    pub status: NextLookStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl NextLookLine {
    pub fn none() -> Self {
        Self {
            status: NextLookStatus::None,
            at: None,
            detail: "the containment is older than CloudTrail's delivery lag: every event from \
                     before it has been delivered"
                .into(),
            command: None,
        }
    }

    /// The look `next` asks for, to be scheduled for the whole payload.
    pub fn pending(next: NextLook) -> Self {
        Self {
            status: NextLookStatus::Pending,
            at: Some(format_utc(next.at)),
            detail: next.why,
            command: None,
        }
    }
}

fn event_label(e: &EventRef) -> String {
    let mut s = e.event_name.to_string();
    if let Some(id) = &e.event_id {
        s.push_str(&format!(" {id}"));
    }
    if let Some(t) = e.event_time {
        s.push_str(&format!(" at {}", format_utc(t)));
    }
    if let Some(r) = &e.region {
        s.push_str(&format!(" in {r}"));
    }
    s
}

/// One line for a persistence event (every name in it passed a `names` check).
pub fn describe_persistence(what: &Persistence) -> String {
    what.describe()
}

impl FollowUpReport {
    pub fn new(plan: &FollowPlan, window: &LookupWindow, depth: u32, next: NextLookLine) -> Self {
        let keys = plan
            .keys
            .iter()
            .map(|k| {
                let (result, detail) = match &k.visit {
                    Visit::Read { events, relevant } => (
                        "read",
                        format!("{events} events, {relevant} of them followed up"),
                    ),
                    Visit::Partial {
                        events,
                        relevant,
                        unread,
                    } => (
                        "partial",
                        format!(
                            "{events} events, {relevant} of them followed up; not read: {}",
                            unread
                                .iter()
                                .map(|u| format!("{} ({})", u.region, u.why))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    ),
                    Visit::Unavailable(why) => ("unavailable", why.clone()),
                    Visit::NotFollowed(why) => ("not_followed", why.clone()),
                };
                KeyLine {
                    access_key_id: k.key.access_key_id.clone(),
                    account: k.key.account.clone(),
                    depth: k.key.depth,
                    result,
                    detail,
                }
            })
            .collect();
        let sessions = plan
            .sessions
            .iter()
            .map(|s| SessionLine {
                session: s.session.assumed_role_id.clone(),
                role_arn: s.session.role.arn.clone(),
                via_key: s.via_key.clone(),
                depth: s.depth,
                api: s.session.api,
                event: event_label(&s.session.event),
            })
            .collect();
        let tokens = plan
            .tokens
            .iter()
            .map(|t| TokenLine {
                user: t.token.user_name.clone(),
                account: t.token.account.clone(),
                api: t.token.api,
                via_key: t.via_key.clone(),
                event: event_label(&t.token.event),
            })
            .collect();
        let persistence = plan
            .persistence
            .iter()
            .map(|p| {
                let (containment, why_listed) = match &p.containment {
                    Containment::Deactivate { .. } => ("deactivated", None),
                    Containment::ListOnly { reason } => ("listed", Some(reason.clone())),
                };
                PersistenceLine {
                    what: describe_persistence(&p.event.what),
                    event: event_label(&p.event.event),
                    via_key: p.via_key.clone(),
                    containment,
                    why_listed,
                    undo: p.undo.clone(),
                    caveat: p.caveat.clone(),
                }
            })
            .collect();
        let regions_not_read = plan
            .keys
            .iter()
            .flat_map(|k| match &k.visit {
                Visit::Partial { unread, .. } => unread
                    .iter()
                    .map(|u| format!("{}: {} (key {})", u.region, u.why, k.key.access_key_id))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let refused_calls = plan
            .refused
            .iter()
            .map(|(e, code)| format!("{} ({code})", event_label(e)))
            .collect();
        Self {
            looked_from: format_utc(window.start),
            looked_until: format_utc(window.end),
            regions: window.regions.clone(),
            regions_not_read,
            note: window.note.clone(),
            depth,
            keys,
            sessions,
            tokens,
            persistence,
            refused_calls,
            next_look: next,
        }
    }

    /// The section of the text report.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Followed  the stolen key's CloudTrail events from {} to {} in {} (CHAIN_DEPTH {})\n",
            self.looked_from,
            self.looked_until,
            self.regions.join(", "),
            self.depth
        );
        if let Some(note) = &self.note {
            out.push_str(&format!("          note: {note}\n"));
        }
        for r in &self.regions_not_read {
            out.push_str(&format!("          NOT READ (a person reads it): {r}\n"));
        }
        for k in &self.keys {
            out.push_str(&format!(
                "  key {} in {} (hop {}): {}: {}\n",
                k.access_key_id, k.account, k.depth, k.result, k.detail
            ));
        }
        for s in &self.sessions {
            out.push_str(&format!(
                "  session {} of {} ({:?} by {})\n",
                s.session, s.role_arn, s.api, s.via_key
            ));
        }
        for t in &self.tokens {
            out.push_str(&format!(
                "  {:?} by user {} in {} (key {})\n",
                t.api, t.user, t.account, t.via_key
            ));
        }
        for p in &self.persistence {
            out.push_str(&format!("  {}: {} ({})\n", p.containment, p.what, p.event));
            for c in &p.undo {
                out.push_str(&format!("      {c}\n"));
            }
            if let Some(c) = &p.caveat {
                out.push_str(&format!("      note: {c}\n"));
            }
        }
        for r in &self.refused_calls {
            out.push_str(&format!("  refused by AWS (nothing created): {r}\n"));
        }
        out.push_str(&format!(
            "Next look {}{}: {}\n",
            self.next_look.status.as_str(),
            self.next_look
                .at
                .as_deref()
                .map(|a| format!(" at {a}"))
                .unwrap_or_default(),
            self.next_look.detail
        ));
        if let Some(c) = &self.next_look.command {
            out.push_str(&format!("      {c}\n"));
        }
        out
    }
}
