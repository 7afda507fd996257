//! What ties an incident to the attack sequence that named its credential, and the headline's
//! count of the sequence's credentials contained out of those found.

use super::{IncidentReport, Report};
use crate::model::{Incident, Outcome};
use crate::names::format_utc;
use crate::text::safe_text;
use serde::Serialize;

/// The sequence an incident belongs to (`sequence` in the incident's report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceReport {
    /// The attack sequence's finding id (the incident's own `finding_id`).
    pub finding_id: Option<String>,
    /// This credential among those the sequence names (1-based); absent on the review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<usize>,
    pub credentials_found: usize,
    /// The copy read may not name every credential (Security Hub's keeps 10 actors).
    pub more_may_exist: bool,
    /// Why the sequence itself needs a person (the review only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// The signals that involved this credential (for the review: the sequence's).
    pub signals: Vec<SignalReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalReport {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub count: Option<u64>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

impl SequenceReport {
    pub fn new(incident: &Incident) -> Option<Self> {
        let link = incident.sequence.as_ref()?;
        Some(Self {
            finding_id: incident.finding_id.as_deref().map(|s| safe_text(s, 128)),
            credential: link.credential,
            credentials_found: link.credentials_found,
            more_may_exist: link.more_may_exist,
            review: link.review.clone(),
            signals: link
                .signals
                .iter()
                .map(|s| SignalReport {
                    name: s.name.as_deref().map(|n| safe_text(n, 200)),
                    kind: s.kind.as_deref().map(|k| safe_text(k, 40)),
                    count: s.count,
                    first_seen: s.first_seen.map(format_utc),
                    last_seen: s.last_seen.map(format_utc),
                })
                .collect(),
        })
    }

    /// One line for the text report: which credential of which sequence, and its signals.
    pub fn describe(&self) -> String {
        let id = self.finding_id.as_deref().unwrap_or("-");
        let which = match self.credential {
            Some(n) => format!(
                "credential {n} of {}{} named by attack sequence {id}",
                self.credentials_found,
                more(self.more_may_exist)
            ),
            None => format!("attack sequence {id} as a whole"),
        };
        let signals: Vec<String> = self
            .signals
            .iter()
            .map(|s| {
                format!(
                    "{} ({}, {}×, {} to {})",
                    s.name.as_deref().unwrap_or("-"),
                    s.kind.as_deref().unwrap_or("-"),
                    s.count.map_or("?".into(), |c| c.to_string()),
                    s.first_seen.as_deref().unwrap_or("?"),
                    s.last_seen.as_deref().unwrap_or("?")
                )
            })
            .collect();
        match signals.is_empty() {
            true => format!("{which}; no signal names it"),
            false => format!("{which}; signals: {}", signals.join("; ")),
        }
    }
}

fn more(more_may_exist: bool) -> &'static str {
    if more_may_exist {
        " or more"
    } else {
        ""
    }
}

/// For each attack sequence in the report: "attack sequence <id>: X of N credentials
/// contained" (`would be contained` in a dry run). Contained: revoked or already covered.
pub(super) fn headline_note(report: &Report) -> Option<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut seen: Vec<Option<&str>> = Vec::new();
    for i in &report.incidents {
        let Some(s) = &i.sequence else { continue };
        let id = s.finding_id.as_deref();
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let of_this: Vec<&IncidentReport> = report
            .incidents
            .iter()
            .filter(|j| {
                j.sequence
                    .as_ref()
                    .is_some_and(|t| t.finding_id.as_deref() == id && t.credential.is_some())
            })
            .collect();
        let contained = of_this
            .iter()
            .filter(|j| {
                matches!(
                    j.outcome,
                    Outcome::Revoked | Outcome::AlreadyCovered | Outcome::WouldRevoke
                )
            })
            .count();
        let verb = if report.dry_run {
            "would be contained"
        } else {
            "contained"
        };
        notes.push(format!(
            "attack sequence {}: {contained} of {}{} credentials {verb}",
            id.unwrap_or("-"),
            s.credentials_found,
            more(s.more_may_exist)
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}
