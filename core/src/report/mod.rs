//! The report: JSON for machines, text for people, and the SNS form of both. Pure.

use crate::model::{
    severity_label, ActionKind, ActionOutcome, Outcome, Publication, Shape, Status,
};
use crate::names::format_utc;
use crate::text::ascii_line;
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

mod chat;
mod follow;
mod incident;
mod sequence;
mod text;

pub use chat::chat_notification;
pub use follow::{describe_persistence, FollowUpReport, NextLookLine, NextLookStatus};
pub use incident::{IncidentReport, PrincipalReport};
pub use sequence::{SequenceReport, SignalReport};
use text::principal_kind;

/// The headline of a payload that holds no findings (`[]`, `{"Findings": []}`).
pub const NO_FINDINGS: &str = "NO ACTION: no findings in the payload";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub summary: String,
    pub outcome: Outcome,
    pub dry_run: bool,
    pub input: Option<Shape>,
    pub generated_at: String,
    pub duration_ms: u64,
    pub incidents: Vec<IncidentReport>,
    /// Work not started because the invocation's time ran out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_started: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// A fire drill's section (`{"action": "drill"}`, `crate::drill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::drill::DrillReport>,
}

impl Report {
    pub fn new(
        input: Option<Shape>,
        dry_run: bool,
        incidents: Vec<IncidentReport>,
        now: OffsetDateTime,
        duration_ms: u64,
    ) -> Self {
        let outcome = Outcome::combine(incidents.iter().map(|i| i.outcome));
        let mut r = Self {
            summary: String::new(),
            outcome,
            dry_run,
            input,
            generated_at: format_utc(now),
            duration_ms,
            incidents,
            not_started: Vec::new(),
            published: None,
            drill: None,
        };
        r.summary = r.headline();
        r
    }

    /// The first line: what happened, to whom. An instance left without its profile comes first.
    pub fn headline(&self) -> String {
        if let Some(alarm) = self.stranded_instance_alarm() {
            return alarm;
        }
        let not_started = match self.not_started.len() {
            0 => String::new(),
            n => format!("NOT STARTED (time ran out): {n} finding(s)"),
        };
        let handled = match self.incidents.as_slice() {
            [] if not_started.is_empty() => return NO_FINDINGS.to_string(),
            [] => return not_started,
            [one] => Self::incident_line(one),
            many => {
                let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
                for i in many {
                    *counts.entry(i.outcome).or_default() += 1;
                }
                // Most significant first.
                let parts: Vec<String> = counts
                    .iter()
                    .rev()
                    .map(|(k, n)| format!("{n} {}", k.as_str()))
                    .collect();
                format!(
                    "{}: {} findings ({})",
                    self.outcome.headline(),
                    many.len(),
                    parts.join(", ")
                )
            }
        };
        let handled = match sequence::headline_note(self) {
            Some(note) => format!("{handled}; {note}"),
            None => handled,
        };
        if not_started.is_empty() {
            handled
        } else {
            format!("{not_started}; {handled}")
        }
    }

    fn one_line(one: &IncidentReport, outcome: Outcome) -> String {
        let what = one
            .finding_type
            .clone()
            .unwrap_or_else(|| one.source.describe().to_string());
        let sev = one
            .severity
            .map(|s| format!(" ({})", severity_label(s)))
            .unwrap_or_default();
        let acted_on = one
            .actions
            .iter()
            .find(|a| a.action != ActionKind::Triage)
            .map(|a| a.target.clone());
        match (acted_on, &one.principal.name) {
            (Some(who), _) => format!(
                "{}: {} {} — {}{}",
                outcome.headline(),
                principal_kind(one),
                who,
                what,
                sev
            ),
            (None, Some(name)) => format!(
                "{}: {} {} — {}{}",
                outcome.headline(),
                principal_kind(one),
                name,
                what,
                sev
            ),
            // Nothing about a principal to name: say why nothing was done.
            (None, None) => {
                let why = one
                    .actions
                    .first()
                    .map(|a| format!(": {}", a.detail))
                    .unwrap_or_default();
                format!("{}: {}{}{}", outcome.headline(), what, sev, why)
            }
        }
    }

    /// One incident's line: its outcome's words, and for a partly contained one what is left.
    pub(crate) fn incident_line(one: &IncidentReport) -> String {
        match one.outcome {
            Outcome::PartlyContained => Self::partly_line(one),
            outcome => Self::one_line(one, outcome),
        }
    }

    /// What is left comes first: "PARTLY CONTAINED: role A revoked; 1 session in protected
    /// role B and 1 listed access key need a person".
    fn partly_line(one: &IncidentReport) -> String {
        let contained: Vec<String> = one
            .actions
            .iter()
            .filter(|a| matches!(a.status, Status::Done | Status::AlreadyCovered))
            .map(|a| {
                let verb = match (a.status, a.action) {
                    (Status::AlreadyCovered, _) => "already covered",
                    (_, ActionKind::DeactivateAccessKey) => "deactivated",
                    (_, ActionKind::ReassociateInstanceProfile) => "re-associated",
                    _ => "revoked",
                };
                format!("{} {verb}", named(a))
            })
            .collect();
        let left: Vec<&ActionOutcome> = one
            .actions
            .iter()
            .filter(|a| a.status == Status::ManualActionRequired)
            .collect();
        let mut named: Vec<String> = left.iter().take(3).map(|a| named(a)).collect();
        if left.len() > 3 {
            named.push(format!("{} more", left.len() - 3));
        }
        let contained = match contained.len() {
            0 => "nothing".to_string(),
            1..=2 => contained.join(", "),
            n => format!("{}, and {} more", contained[..2].join(", "), n - 2),
        };
        format!(
            "{}: {contained}; {} item(s) left live need a person: {}",
            Outcome::PartlyContained.headline(),
            left.len(),
            named.join(", ")
        )
    }

    fn stranded_instance_alarm(&self) -> Option<String> {
        self.incidents
            .iter()
            .flat_map(|i| &i.actions)
            .find_map(|a| {
                (a.action == ActionKind::ReassociateInstanceProfile && a.restore_command.is_some())
                    .then(|| {
                        format!(
                            "INSTANCE {} HAS NO INSTANCE PROFILE: restore it with `{}`",
                            a.target,
                            a.restore_command.as_deref().unwrap_or_default()
                        )
                    })
            })
    }

    /// A fire drill's report: its section, its outcome and its headline.
    pub fn drill(drill: crate::drill::DrillReport, now: OffsetDateTime, duration_ms: u64) -> Self {
        let mut r = Self::new(None, drill.dry_run, Vec::new(), now, duration_ms);
        r.outcome = drill.outcome();
        r.summary = drill.headline();
        r.drill = Some(drill);
        r
    }

    /// Records findings left unstarted: the invocation fails (and is retried), so the outcome
    /// is `failed`, never "no action".
    pub fn set_not_started(&mut self, not_started: Vec<String>) {
        if !not_started.is_empty() {
            self.outcome = Outcome::Failed;
        }
        self.not_started = not_started;
        self.summary = self.headline();
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"error\":\"report did not serialize: {e}\"}}"))
    }

    /// Subject: ASCII, no line breaks, under 100 characters (SNS's limit).
    pub fn subject(&self) -> String {
        Publication::subject_line(&self.summary)
    }

    /// The SNS form: text for e-mail and people, the JSON report for machine protocols,
    /// and attributes for subscription filters.
    /// `json` is this report's `to_json()`, rendered once by the caller (it is also logged).
    pub fn publication(&self, topic_arn: &str, json: &str) -> Publication {
        let text = self.to_text();
        let body = Publication::body;
        let mut message = body(&text, json);
        if message.len() > crate::model::publication::SNS_LIMIT {
            // Far above any real payload; keep the headline and the per-finding outcomes. The
            // full report is always in the function's log.
            let short = serde_json::json!({
                "summary": self.summary, "outcome": self.outcome, "truncated": true,
                "incidents": self.incidents.iter().map(|i| serde_json::json!({"finding_id": i.finding_id, "outcome": i.outcome})).collect::<Vec<_>>(),
            })
            .to_string();
            let short_text = format!(
                "{}\n(report too large for SNS; the full report is in the function's log)\n",
                self.summary
            );
            message = body(&short_text, &short);
            if message.len() > crate::model::publication::SNS_LIMIT {
                let minimal = serde_json::json!({"summary": self.summary, "outcome": self.outcome, "truncated": true}).to_string();
                message = body(&short_text, &minimal);
            }
        }
        let first = self.incidents.first();
        let mut attributes = vec![("outcome".to_string(), self.outcome.as_str().to_string())];
        if let Some(sev) = first.and_then(|i| i.severity_label) {
            attributes.push(("severity".into(), sev.to_string()));
        }
        if let Some(t) = first.and_then(|i| i.finding_type.as_deref()) {
            attributes.push((
                "finding_type".into(),
                ascii_line(t).chars().take(200).collect(),
            ));
        }
        attributes.push(("dry_run".into(), self.dry_run.to_string()));
        Publication {
            topic_arn: topic_arn.to_string(),
            subject: self.subject(),
            message,
            attributes,
        }
    }
}

/// An action's target in the headline's words: the follow-up's targets already say what they
/// are ("session … of role … in …"), the finding's own are names.
fn named(a: &ActionOutcome) -> String {
    let described = ["session ", "user ", "access key ", "key "]
        .iter()
        .any(|p| a.target.starts_with(p));
    if described {
        a.target.clone()
    } else {
        format!("{} {}", action_noun(a.action), a.target)
    }
}

/// What an action is about, in the headline's words.
fn action_noun(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Triage => "finding",
        ActionKind::RevokeRoleSessions => "role",
        ActionKind::RevokeSessions => "session(s) of role",
        ActionKind::DeactivateAccessKey => "access key",
        ActionKind::RevokeUserSessions => "user",
        ActionKind::ReassociateInstanceProfile => "instance",
    }
}

#[cfg(test)]
mod tests;
