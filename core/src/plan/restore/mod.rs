//! A one-shot restore, pure: which statements this function wrote for one incident (found by
//! the `Sid`s of `policy::attribution`, in the account itself), what is left of each policy
//! once that incident's part is taken out, and whether the restore may run now.
//!
//! Rules: only statements naming the incident change; every other statement is kept as it is;
//! a statement that also serves another incident keeps serving it (its cutoff drops to the
//! latest cutoff left, never below another incident's); a policy left empty is deleted. If a
//! statement naming the incident is no longer what was written (its shape, or its cutoff, was
//! changed), nothing is written and the difference is reported. Before the safe time (the
//! incident's cutoff + 12 h for roles, + 36 h for users) nothing is written unless forced.

pub mod report;
#[cfg(test)]
mod tests;

use crate::names::format_utc;
use crate::policy::attribution::{
    decode_sid, encode_sid, finding_tag, Served, ROLE_WIDE_SID, SESSION_SID,
};
use crate::policy::{self, MAX_ROLE_SESSION, MAX_USER_SESSION};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

/// Whose policies the restore reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestorePrincipal {
    Role(String),
    User(String),
}

impl RestorePrincipal {
    pub fn name(&self) -> &str {
        match self {
            Self::Role(n) | Self::User(n) => n,
        }
    }

    /// The inline policies this function writes on such a principal.
    pub fn policy_names(&self) -> &'static [&'static str] {
        match self {
            Self::Role(_) => &[policy::ROLE_POLICY_NAME, policy::SESSION_POLICY_NAME],
            Self::User(_) => &[policy::ROLE_POLICY_NAME],
        }
    }

    /// How long a token issued just before a cutoff may live: the safe time is cutoff + this.
    pub fn max_session(&self) -> Duration {
        match self {
            Self::Role(_) => MAX_ROLE_SESSION,
            Self::User(_) => MAX_USER_SESSION,
        }
    }
}

/// How the request names the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentKey {
    /// The finding id (and, if the request gives it, the cutoff the report stated).
    Finding {
        finding_id: String,
        cutoff: Option<OffsetDateTime>,
    },
    /// The cutoff the report stated (a manual revoke, or the console's, has no finding id).
    Cutoff(OffsetDateTime),
}

/// `{"action": "restore", ...}`, validated (see `input::parse_restore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    pub account: Option<String>,
    pub principal: RestorePrincipal,
    pub key: IncidentKey,
    pub dry_run: bool,
    pub force: bool,
    pub reason: Option<String>,
    pub reactivate_keys: bool,
}

/// A write the restore makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyChange {
    Put {
        policy_name: &'static str,
        document: String,
    },
    Delete {
        policy_name: &'static str,
    },
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing in the account names this incident (never written, already restored, or
    /// rewritten since).
    NothingFound,
    /// Something naming the incident is no longer as written: nothing is written.
    Drift(Vec<String>),
    /// Before the safe time, not forced: nothing is written (the writes it would make).
    TooEarly(Vec<PolicyChange>),
    /// These writes restore it.
    Restore(Vec<PolicyChange>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    pub verdict: Verdict,
    /// The incident's cutoff as found (the latest of its entries).
    pub cutoff: Option<OffsetDateTime>,
    /// When the tokens the incident's deny refuses have all expired.
    pub safe_at: Option<OffsetDateTime>,
    /// What each change makes work again, in words.
    pub reopened: Vec<String>,
    /// Anything else worth saying (unreadable documents, statements of other incidents kept).
    pub notes: Vec<String>,
}

/// Decides the restore from the documents in place (`(policy name, document)`, `None` when the
/// principal has no such policy) and the time.
pub fn plan_restore(
    request: &RestoreRequest,
    in_place: &[(&'static str, Option<String>)],
    now: OffsetDateTime,
) -> RestorePlan {
    let mut scan = Scan {
        key: &request.key,
        tag: match &request.key {
            IncidentKey::Finding { finding_id, .. } => Some(finding_tag(finding_id)),
            IncidentKey::Cutoff(_) => None,
        },
        drift: Vec::new(),
        reopened: Vec::new(),
        notes: Vec::new(),
        cutoff: None,
    };
    let mut changes = Vec::new();
    for (name, document) in in_place {
        let Some(document) = document else { continue };
        if let Some(change) = scan.policy(name, document) {
            changes.push(change);
        }
    }
    let safe_at = scan.cutoff.map(|c| c + request.principal.max_session());
    let verdict = if !scan.drift.is_empty() {
        Verdict::Drift(scan.drift)
    } else if changes.is_empty() {
        Verdict::NothingFound
    } else if safe_at.is_some_and(|s| now < s) && !request.force {
        Verdict::TooEarly(changes)
    } else {
        Verdict::Restore(changes)
    };
    RestorePlan {
        verdict,
        cutoff: scan.cutoff,
        safe_at,
        reopened: scan.reopened,
        notes: scan.notes,
    }
}

struct Scan<'a> {
    key: &'a IncidentKey,
    tag: Option<String>,
    drift: Vec<String>,
    reopened: Vec<String>,
    notes: Vec<String>,
    cutoff: Option<OffsetDateTime>,
}

impl Scan<'_> {
    /// One policy: the change that takes this incident out of it, if it names the incident.
    fn policy(&mut self, name: &'static str, document: &str) -> Option<PolicyChange> {
        let mut doc: Value = match serde_json::from_str(document) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                self.notes.push(format!(
                    "{name} is not a readable JSON policy document: nothing in it was matched"
                ));
                return None;
            }
        };
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => return None,
        };
        let session_policy = name == policy::SESSION_POLICY_NAME;
        let mut kept = Vec::with_capacity(statements.len());
        let mut changed = false;
        for (i, statement) in statements.into_iter().enumerate() {
            let at = format!("{name} statement {}", i + 1);
            match self.statement(&at, statement.clone(), session_policy) {
                None => kept.push(statement),
                Some(rewritten) => {
                    changed = true;
                    kept.extend(rewritten);
                }
            }
        }
        if !changed {
            return None;
        }
        if kept.is_empty() {
            return Some(PolicyChange::Delete { policy_name: name });
        }
        doc["Statement"] = Value::Array(kept);
        Some(PolicyChange::Put {
            policy_name: name,
            document: serde_json::to_string(&doc).expect("policy document serializes"),
        })
    }

    /// `None`: the statement does not name the incident (kept as it is). `Some(None)`: removed.
    /// `Some(Some(s))`: rewritten without the incident.
    fn statement(
        &mut self,
        at: &str,
        mut statement: Value,
        session_policy: bool,
    ) -> Option<Option<Value>> {
        let prefix = if session_policy {
            SESSION_SID
        } else {
            ROLE_WIDE_SID
        };
        let sid = statement
            .get("Sid")
            .and_then(Value::as_str)
            .map(str::to_string);
        let exact = policy::exact_statement(&statement);
        let decoded = sid.as_deref().and_then(|s| decode_sid(prefix, s));
        let entries = match (&decoded, &exact) {
            (Some(entries), _) => entries.clone(),
            // No Sid of ours: one cutoff of unknown origin, which only a cutoff can name.
            (None, Ok(st)) => vec![Served {
                tag: None,
                cutoff: st.cutoff,
            }],
            (None, Err(_)) => return None,
        };
        let (matched, left): (Vec<Served>, Vec<Served>) =
            entries.into_iter().partition(|e| self.names(e));
        if matched.is_empty() {
            return None;
        }
        let written = matched.iter().map(|e| e.cutoff).max()?;
        self.cutoff = self.cutoff.max(Some(written));
        let st = match exact {
            Err(why) => {
                self.drift.push(format!(
                    "{at} names this incident but is no longer the deny written ({why})"
                ));
                return Some(None);
            }
            Ok(st) => st,
        };
        let recorded = left.iter().chain(&matched).map(|e| e.cutoff).max()?;
        if st.cutoff != recorded {
            self.drift.push(format!(
                "{at}: its Sid records cutoff {} but its condition now says {}",
                format_utc(recorded),
                format_utc(st.cutoff)
            ));
        }
        if st.userid.is_some() != session_policy {
            self.drift.push(format!(
                "{at}: a {} statement under this policy name",
                if session_policy {
                    "role-wide"
                } else {
                    "session-scoped"
                }
            ));
        }
        if let IncidentKey::Finding {
            cutoff: Some(asked),
            ..
        } = self.key
        {
            if *asked != written {
                self.drift.push(format!(
                    "{at}: the request names cutoff {} but the deny written for this finding carries {}",
                    format_utc(*asked),
                    format_utc(written)
                ));
            }
        }
        let whom = match &st.userid {
            Some(u) => format!("session {u}"),
            None => "the principal".to_string(),
        };
        let Some(new_cutoff) = left.iter().map(|e| e.cutoff).max() else {
            self.reopened.push(format!(
                "{at} removed: tokens of {whom} issued before {} are no longer denied by it",
                format_utc(st.cutoff)
            ));
            return Some(None);
        };
        if new_cutoff < st.cutoff {
            self.reopened.push(format!(
                "{at}: cutoff lowered from {} to {} (another incident's, kept): tokens of {whom} issued in between are no longer denied",
                format_utc(st.cutoff),
                format_utc(new_cutoff)
            ));
        } else {
            self.notes.push(format!(
                "{at} also serves another incident whose cutoff {} is as late: it stays in force unchanged but for its Sid",
                format_utc(new_cutoff)
            ));
        }
        let stamp = format_utc(new_cutoff);
        statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = Value::String(stamp);
        let own_prefix = match (&sid, session_policy) {
            (Some(s), true) => session_prefix(s),
            (None, true) => SESSION_SID.to_string(),
            (_, false) => ROLE_WIDE_SID.to_string(),
        };
        match (encode_sid(&own_prefix, &left), session_policy) {
            (Some(s), _) => statement["Sid"] = Value::String(s),
            (None, true) => statement["Sid"] = Value::String(own_prefix),
            (None, false) => {
                if let Value::Object(o) = &mut statement {
                    o.remove("Sid");
                }
            }
        }
        Some(Some(statement))
    }

    fn names(&self, entry: &Served) -> bool {
        match (self.key, &self.tag) {
            (IncidentKey::Finding { .. }, Some(tag)) => entry.tag.as_deref() == Some(tag.as_str()),
            (IncidentKey::Cutoff(c), _) => entry.cutoff == *c,
            _ => false,
        }
    }
}

/// `StolenSession<n>` of a per-session statement's Sid.
fn session_prefix(sid: &str) -> String {
    let digits = sid[SESSION_SID.len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    sid[..SESSION_SID.len() + digits].to_string()
}
