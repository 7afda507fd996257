//! The report: JSON for machines, text for people, and the SNS form of both. Pure.

use crate::aws::Publication;
use crate::error::AwsError;
use crate::input::{Incident, Shape};
use crate::names::format_utc;
use crate::plan::{severity_label, ActionKind};
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What happened to one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Skipped,
    AlreadyCovered,
    ManualActionRequired,
    WouldDo,
    Done,
    Failed,
}

/// The outcome of an incident, or of the whole invocation (the most significant one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Skipped,
    AlreadyCovered,
    ManualActionRequired,
    WouldRevoke,
    Revoked,
    Failed,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Skipped => "skipped",
            Outcome::AlreadyCovered => "already_covered",
            Outcome::ManualActionRequired => "manual_action_required",
            Outcome::WouldRevoke => "would_revoke",
            Outcome::Revoked => "revoked",
            Outcome::Failed => "failed",
        }
    }

    fn headline(&self) -> &'static str {
        match self {
            Outcome::Skipped => "NO ACTION",
            Outcome::AlreadyCovered => "ALREADY COVERED",
            Outcome::ManualActionRequired => "MANUAL ACTION REQUIRED",
            Outcome::WouldRevoke => "DRY RUN",
            Outcome::Revoked => "REVOKED",
            Outcome::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorReport {
    pub operation: String,
    pub code: String,
    pub message: String,
}

impl From<&AwsError> for ErrorReport {
    fn from(e: &AwsError) -> Self {
        Self {
            operation: e.operation.to_string(),
            code: e.code.clone(),
            message: e.message.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionOutcome {
    pub action: ActionKind,
    pub target: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_cutoff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Action-specific facts (association ids, waits, attempts).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<&'static str, String>,
    /// Milliseconds from the start of the invocation to the end of this action.
    pub at_ms: u64,
}

impl ActionOutcome {
    pub fn new(
        action: ActionKind,
        target: &str,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            action,
            target: safe_text(target, 200),
            status,
            detail: detail.into(),
            policy_name: None,
            cutoff: None,
            previous_cutoff: None,
            error: None,
            commands: Vec::new(),
            facts: BTreeMap::new(),
            at_ms: 0,
        }
    }
}

impl ActionOutcome {
    /// The outcome of a planned step that needs no AWS call; a write is handed back to be
    /// carried out (or, in a dry run, described).
    pub fn settled(
        kind: ActionKind,
        target: &str,
        step: crate::plan::Step,
    ) -> Result<Self, Box<crate::plan::Write>> {
        use crate::plan::Step;
        Ok(match step {
            Step::Write(write) => return Err(Box::new(write)),
            Step::Skip { reason } => Self::new(kind, target, Status::Skipped, reason),
            Step::AlreadyCovered { cutoff, reason } => {
                let mut o = Self::new(kind, target, Status::AlreadyCovered, reason);
                o.cutoff = Some(format_utc(cutoff));
                o
            }
            Step::Manual { reason, commands } => {
                let mut o = Self::new(kind, target, Status::ManualActionRequired, reason);
                o.commands = commands;
                o
            }
            Step::Fail { error } => {
                let mut o = Self::new(kind, target, Status::Failed, error.message.clone());
                o.error = Some((&error).into());
                o
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalReport {
    pub user_type: String,
    pub name: Option<String>,
    pub principal_id: Option<String>,
    pub access_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentReport {
    pub source: &'static str,
    pub finding_id: Option<String>,
    pub finding_type: Option<String>,
    pub title: Option<String>,
    pub severity: Option<f64>,
    pub severity_label: Option<&'static str>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: PrincipalReport,
    pub event_last_seen: Option<String>,
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub outcome: Outcome,
    pub actions: Vec<ActionOutcome>,
    pub next_steps: Vec<String>,
}

impl IncidentReport {
    pub fn new(incident: &Incident, actions: Vec<ActionOutcome>) -> Self {
        let p = &incident.principal;
        let mut report = Self {
            source: match incident.origin {
                crate::input::Origin::Finding => "finding",
                crate::input::Origin::Manual => "manual_request",
            },
            finding_id: incident.finding_id.as_deref().map(|s| safe_text(s, 128)),
            finding_type: incident.finding_type.as_deref().map(|s| safe_text(s, 128)),
            title: incident.title.as_deref().map(|s| safe_text(s, 300)),
            severity: incident.severity,
            severity_label: incident.severity.map(severity_label),
            account: incident.account.as_deref().map(|s| safe_text(s, 32)),
            region: incident.region.as_deref().map(|s| safe_text(s, 32)),
            principal: PrincipalReport {
                user_type: safe_text(p.user_type.as_str(), 40),
                name: p.name.as_deref().map(|s| safe_text(s, 128)),
                principal_id: p.principal_id.as_deref().map(|s| safe_text(s, 200)),
                access_key_id: p.access_key_id.as_deref().map(|s| safe_text(s, 128)),
            },
            event_last_seen: incident.event_last_seen.map(format_utc),
            count: incident.count,
            reason: incident.reason.clone(),
            outcome: Outcome::Skipped,
            actions,
            next_steps: Vec::new(),
        };
        report.outcome = incident_outcome(&report.actions);
        report.next_steps = next_steps(incident, &report);
        report
    }

    /// A payload item that could not be read at all.
    pub fn unreadable(index: usize, error: &crate::error::FindingError) -> Self {
        let action = ActionOutcome::new(
            ActionKind::Triage,
            &format!("payload item {index}"),
            Status::Failed,
            safe_text(&error.to_string(), 500),
        );
        Self {
            source: "finding",
            finding_id: None,
            finding_type: None,
            title: None,
            severity: None,
            severity_label: None,
            account: None,
            region: None,
            principal: PrincipalReport {
                user_type: String::new(),
                name: None,
                principal_id: None,
                access_key_id: None,
            },
            event_last_seen: None,
            count: None,
            reason: None,
            outcome: Outcome::Failed,
            actions: vec![action],
            next_steps: Vec::new(),
        }
    }
}

fn incident_outcome(actions: &[ActionOutcome]) -> Outcome {
    actions
        .iter()
        .map(|a| match a.status {
            Status::Skipped => Outcome::Skipped,
            Status::AlreadyCovered => Outcome::AlreadyCovered,
            Status::ManualActionRequired => Outcome::ManualActionRequired,
            Status::WouldDo => Outcome::WouldRevoke,
            Status::Done => Outcome::Revoked,
            Status::Failed => Outcome::Failed,
        })
        .max()
        .unwrap_or(Outcome::Skipped)
}

/// An access key id safe to put in a command line, or a placeholder.
fn key_for_command(key: Option<&str>) -> &str {
    key.filter(|k| {
        (16..=128).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
    .unwrap_or("<access-key-id>")
}

fn region_for_command(region: Option<&str>) -> &str {
    region
        .filter(|r| {
            (1..=30).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or("<region>")
}

fn next_steps(incident: &Incident, report: &IncidentReport) -> Vec<String> {
    let acted = report.actions.iter().any(|a| {
        matches!(
            a.status,
            Status::Done | Status::WouldDo | Status::AlreadyCovered
        )
    });
    if !acted {
        return Vec::new();
    }
    let key = key_for_command(incident.principal.access_key_id.as_deref());
    let region = region_for_command(incident.region.as_deref());
    let mut steps = vec![format!(
        "See what the stolen key did: aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={key} --max-results 50"
    )];
    for a in &report.actions {
        if !matches!(
            a.status,
            Status::Done | Status::WouldDo | Status::AlreadyCovered
        ) {
            continue;
        }
        let target = if crate::names::is_valid_role_name(&a.target) {
            a.target.as_str()
        } else {
            "<name>"
        };
        match a.action {
            ActionKind::RevokeRoleSessions | ActionKind::RevokeSessions => {
                steps.push("Honest users of this role now get AccessDenied until they take new credentials: \
                    re-run `aws sso login` or the role assumption, delete cached CLI credentials (~/.aws/cli/cache/*.json, ~/.aws/sso/cache/), \
                    and restart services that cache tokens".to_string());
                steps.push(format!(
                    "Undo when safe: aws iam delete-role-policy --role-name {target} --policy-name {}",
                    a.policy_name.unwrap_or(crate::policy::ROLE_POLICY_NAME)
                ));
            }
            ActionKind::DeactivateAccessKey => {
                // The action's target is the key; the user is the finding's principal.
                let target = incident
                    .principal
                    .name
                    .as_deref()
                    .filter(|n| crate::names::is_valid_user_name(n))
                    .unwrap_or("<user-name>");
                steps.push(format!(
                    "Rotate the key in every system that uses it, then delete it after the investigation: \
                     aws iam create-access-key --user-name {target}; aws iam delete-access-key --user-name {target} --access-key-id {key}"
                ));
                steps.push(format!(
                    "Look for persistence the attacker may have left: aws iam list-access-keys --user-name {target}; \
                     aws iam get-login-profile --user-name {target}; aws iam list-mfa-devices --user-name {target}; \
                     aws iam list-attached-user-policies --user-name {target}; aws iam list-user-policies --user-name {target}"
                ));
            }
            ActionKind::RevokeUserSessions => steps.push(format!(
                "Undo when safe: aws iam delete-user-policy --user-name {target} --policy-name {}",
                a.policy_name.unwrap_or(crate::policy::ROLE_POLICY_NAME)
            )),
            ActionKind::ReassociateInstanceProfile => steps.push(format!(
                "The instance may keep cached credentials until they rotate: on {target}, `aws sts get-caller-identity` must succeed \
                 and a call the role allows must not be denied; stop and start the instance as the last resort"
            )),
            ActionKind::Triage => {}
        }
    }
    steps.dedup();
    steps
}

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
}

impl Report {
    pub fn new(
        input: Option<Shape>,
        dry_run: bool,
        incidents: Vec<IncidentReport>,
        now: OffsetDateTime,
        duration_ms: u64,
    ) -> Self {
        let outcome = incidents
            .iter()
            .map(|i| i.outcome)
            .max()
            .unwrap_or(Outcome::Skipped);
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
            [] => return not_started,
            [one] => Self::one_line(one, one.outcome),
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
            .unwrap_or_else(|| one.source.replace('_', " "));
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

    fn stranded_instance_alarm(&self) -> Option<String> {
        self.incidents
            .iter()
            .flat_map(|i| &i.actions)
            .find_map(|a| {
                (a.action == ActionKind::ReassociateInstanceProfile
                    && a.facts.contains_key("restore_command"))
                .then(|| {
                    format!(
                        "INSTANCE {} HAS NO INSTANCE PROFILE: restore it with `{}`",
                        a.target, a.facts["restore_command"]
                    )
                })
            })
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

    /// The report for people: headline, facts, actions with outcomes, next steps.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.summary);
        out.push('\n');
        if self.dry_run {
            out.push_str("DRY RUN: nothing was written.\n");
        }
        for (n, i) in self.incidents.iter().enumerate() {
            out.push('\n');
            if self.incidents.len() > 1 {
                out.push_str(&format!(
                    "== {} of {}: {}\n",
                    n + 1,
                    self.incidents.len(),
                    i.outcome.as_str()
                ));
            }
            let line = |out: &mut String, label: &str, value: Option<String>| {
                if let Some(v) = value {
                    out.push_str(&format!("{label:<10} {v}\n"));
                }
            };
            line(
                &mut out,
                "Finding",
                i.finding_type
                    .clone()
                    .map(|t| format!("{t}  (id {})", i.finding_id.clone().unwrap_or_default())),
            );
            line(
                &mut out,
                "Request",
                i.reason
                    .clone()
                    .map(|r| format!("manual: {r}"))
                    .or_else(|| (i.source == "manual_request").then(|| "manual".into())),
            );
            line(&mut out, "Title", i.title.clone());
            line(
                &mut out,
                "Severity",
                i.severity
                    .map(|s| format!("{s:.1} ({})", severity_label(s))),
            );
            line(
                &mut out,
                "Account",
                i.account.clone().map(|a| {
                    format!(
                        "{a}  region {}",
                        i.region.clone().unwrap_or_else(|| "-".into())
                    )
                }),
            );
            let p = &i.principal;
            line(
                &mut out,
                "Principal",
                Some(format!(
                    "{} {}{}{}",
                    p.user_type,
                    p.name.clone().unwrap_or_else(|| "-".into()),
                    p.principal_id
                        .as_deref()
                        .map(|x| format!("  id {x}"))
                        .unwrap_or_default(),
                    p.access_key_id
                        .as_deref()
                        .map(|x| format!("  key {x}"))
                        .unwrap_or_default()
                )),
            );
            line(
                &mut out,
                "Activity",
                i.event_last_seen
                    .clone()
                    .map(|t| format!("last seen {t}, count {}", i.count.unwrap_or(1))),
            );
            out.push_str("Actions\n");
            for a in &i.actions {
                out.push_str(&format!(
                    "  [{}] {} {}: {}\n",
                    status_word(a.status),
                    action_word(a.action),
                    a.target,
                    a.detail
                ));
                let facts: Vec<String> = a
                    .facts
                    .iter()
                    .filter(|(k, _)| **k != "restore_command")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !facts.is_empty() {
                    out.push_str(&format!("      {}\n", facts.join("  ")));
                }
                if let Some(e) = &a.error {
                    out.push_str(&format!(
                        "      error {} {}: {}\n",
                        e.operation, e.code, e.message
                    ));
                }
                for c in &a.commands {
                    out.push_str(&format!("      $ {c}\n"));
                }
            }
            if !i.next_steps.is_empty() {
                out.push_str("Next steps\n");
                for s in &i.next_steps {
                    out.push_str(&format!("  - {s}\n"));
                }
            }
        }
        if !self.not_started.is_empty() {
            out.push_str("\nNot started (time ran out)\n");
            for s in &self.not_started {
                out.push_str(&format!("  - {s}\n"));
            }
        }
        out.push_str(&format!(
            "\nsession-revoker, {} ms, {}\n",
            self.duration_ms, self.generated_at
        ));
        out
    }

    /// Subject: ASCII, no line breaks, under 100 characters (SNS's limit).
    pub fn subject(&self) -> String {
        let s = ascii_line(&format!("[session-revoker] {}", self.summary));
        if s.len() <= 99 {
            s
        } else {
            format!("{}...", &s[..96])
        }
    }

    /// The SNS form: text for e-mail and people, the JSON report for machine protocols,
    /// and attributes for subscription filters.
    /// `json` is this report's `to_json()`, rendered once by the caller (it is also logged).
    pub fn publication(&self, topic_arn: &str, json: &str) -> Publication {
        const SNS_LIMIT: usize = 256 * 1024;
        let text = self.to_text();
        let body = |text: &str, json: &str| {
            serde_json::json!({"default": text, "email": text, "email-json": json, "sqs": json, "lambda": json, "https": json, "http": json})
                .to_string()
        };
        let mut message = body(&text, json);
        if message.len() > SNS_LIMIT {
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
            if message.len() > SNS_LIMIT {
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

fn principal_kind(i: &IncidentReport) -> &'static str {
    match i
        .actions
        .iter()
        .find(|a| a.action != ActionKind::Triage)
        .map(|a| a.action)
    {
        Some(ActionKind::DeactivateAccessKey) => "key",
        Some(ActionKind::RevokeUserSessions) => "user",
        Some(ActionKind::ReassociateInstanceProfile) => "instance",
        Some(_) => "role",
        None => match i.principal.user_type.as_str() {
            "IAMUser" => "user",
            "Root" => "root",
            _ => "role",
        },
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Skipped => "skipped",
        Status::AlreadyCovered => "already covered",
        Status::ManualActionRequired => "MANUAL",
        Status::WouldDo => "would do",
        Status::Done => "done",
        Status::Failed => "FAILED",
    }
}

fn action_word(a: ActionKind) -> &'static str {
    match a {
        ActionKind::Triage => "respond to",
        ActionKind::RevokeRoleSessions => "revoke role sessions",
        ActionKind::RevokeSessions => "revoke stolen sessions",
        ActionKind::DeactivateAccessKey => "deactivate access key",
        ActionKind::RevokeUserSessions => "revoke user sessions",
        ActionKind::ReassociateInstanceProfile => "re-associate instance profile",
    }
}

/// Text from a finding made safe to show: control characters (line breaks, escapes)
/// replaced, length bounded.
pub fn safe_text(s: &str, max_chars: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Printable ASCII only, on one line (for the SNS subject and attributes).
pub fn ascii_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '—' | '–' => '-',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_payload;
    use time::macros::datetime;

    fn incident(finding_type: &str, user: &str) -> Incident {
        parse_payload(&serde_json::json!({
            "id": "f1", "accountId": "111122223333", "region": "eu-west-1", "type": finding_type, "severity": 8,
            "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": user, "accessKeyId": "ASIAEXAMPLEEXAMPLE01"}},
            "service": {"eventLastSeen": "2026-11-22T02:59:00Z", "count": 2}
        }))
        .unwrap()
        .items
        .remove(0)
        .unwrap()
    }

    fn revoked(target: &str) -> ActionOutcome {
        let mut a = ActionOutcome::new(
            ActionKind::RevokeRoleSessions,
            target,
            Status::Done,
            "wrote AWSRevokeOlderSessions",
        );
        a.policy_name = Some(crate::policy::ROLE_POLICY_NAME);
        a.cutoff = Some("2026-11-22T03:00:30Z".into());
        a
    }

    fn report(incidents: Vec<IncidentReport>) -> Report {
        Report::new(
            Some(Shape::EventBridge),
            false,
            incidents,
            datetime!(2026-11-22 03:00:01 UTC),
            42,
        )
    }

    #[test]
    fn one_incident_reads_as_one_line_and_acts_as_a_checklist() {
        let i = incident(
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "web-app",
        );
        let r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
        assert_eq!(r.outcome, Outcome::Revoked);
        assert_eq!(
            r.summary,
            "REVOKED: role web-app — UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS (High)"
        );
        let text = r.to_text();
        assert!(text.starts_with(&r.summary));
        assert!(text.contains("[done] revoke role sessions web-app"));
        assert!(text.contains(
            "aws cloudtrail lookup-events --region eu-west-1 --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=ASIAEXAMPLEEXAMPLE01"
        ));
        assert!(text.contains("~/.aws/cli/cache"));
        assert!(text.contains(
            "aws iam delete-role-policy --role-name web-app --policy-name AWSRevokeOlderSessions"
        ));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["incidents"][0]["actions"][0]["status"], "done");
        assert_eq!(json["incidents"][0]["severity_label"], "High");
        assert_eq!(json["outcome"], "revoked");
    }

    #[test]
    fn overall_outcome_is_the_most_significant() {
        let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
        let skipped = IncidentReport::new(
            &i,
            vec![ActionOutcome::new(
                ActionKind::Triage,
                "incident",
                Status::Skipped,
                "below",
            )],
        );
        let mut failed_action = revoked("api");
        failed_action.status = Status::Failed;
        let failed = IncidentReport::new(&i, vec![failed_action]);
        let r = report(vec![
            skipped.clone(),
            IncidentReport::new(&i, vec![revoked("web-app")]),
            failed,
        ]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(
            r.summary,
            "FAILED: 3 findings (1 failed, 1 revoked, 1 skipped)"
        );
        assert_eq!(report(vec![skipped]).outcome, Outcome::Skipped);
    }

    #[test]
    fn hostile_strings_reach_the_subject_and_body_only_in_safe_bounded_form() {
        let nasty =
            "Recon:IAMUser/TorIPCaller\r\nBcc: victim@example.com \u{1b}[31m ünï ${aws:userid} "
                .repeat(20);
        let i = incident(&nasty, "web-app");
        let r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
        let subject = r.subject();
        assert!(subject.len() < 100, "{}", subject.len());
        assert!(
            subject.chars().all(|c| c.is_ascii_graphic() || c == ' '),
            "{subject:?}"
        );
        let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
        for (_, v) in &p.attributes {
            assert!(v.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{v:?}");
            assert!(v.len() <= 200);
        }
        let text = r.to_text();
        assert!(!text.contains('\r') && !text.contains('\u{1b}'));
        assert!(
            r.incidents[0]
                .finding_type
                .as_ref()
                .unwrap()
                .chars()
                .count()
                <= 129
        );
    }

    #[test]
    fn publication_carries_text_json_and_filterable_attributes() {
        let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
        let r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
        let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
        let body: serde_json::Value = serde_json::from_str(&p.message).unwrap();
        assert!(body["default"].as_str().unwrap().starts_with("REVOKED"));
        let sqs: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(sqs["outcome"], "revoked");
        let attrs: std::collections::HashMap<_, _> = p.attributes.into_iter().collect();
        assert_eq!(attrs["outcome"], "revoked");
        assert_eq!(attrs["severity"], "High");
        assert_eq!(attrs["finding_type"], "Recon:IAMUser/TorIPCaller");
    }

    #[test]
    fn huge_reports_are_cut_to_fit_sns() {
        let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
        let mut big = revoked("web-app");
        big.detail = "x".repeat(4000);
        let incidents = (0..100)
            .map(|_| IncidentReport::new(&i, vec![big.clone()]))
            .collect();
        let r = report(incidents);
        let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
        assert!(p.message.len() <= 256 * 1024);
        assert!(p.message.contains("truncated"));
    }

    #[test]
    fn unstarted_work_is_a_failure_not_no_action() {
        let mut r = report(vec![]);
        r.set_not_started(vec!["finding f1 (web-app)".into()]);
        assert_eq!(r.outcome, Outcome::Failed);
        assert_eq!(r.summary, "NOT STARTED (time ran out): 1 finding(s)");
        let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
        let mut r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
        r.set_not_started(vec!["finding f2 (api)".into()]);
        assert!(
            r.summary
                .starts_with("NOT STARTED (time ran out): 1 finding(s); REVOKED: role web-app"),
            "{}",
            r.summary
        );
    }

    #[test]
    fn no_action_without_a_principal_says_why() {
        let mut i = incident("Recon:EC2/PortProbeUnprotectedPort", "x");
        i.principal.name = None;
        let skipped = ActionOutcome::new(
            ActionKind::Triage,
            "incident",
            Status::Skipped,
            "finding type is not one of FINDING_TYPES",
        );
        let r = report(vec![IncidentReport::new(&i, vec![skipped])]);
        assert_eq!(r.summary, "NO ACTION: Recon:EC2/PortProbeUnprotectedPort (High): finding type is not one of FINDING_TYPES");
    }

    #[test]
    fn a_stranded_instance_comes_first() {
        let i = incident(
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "web-app",
        );
        let mut stranded = ActionOutcome::new(
            ActionKind::ReassociateInstanceProfile,
            "i-0123456789abcdef0",
            Status::Failed,
            "failed",
        );
        stranded.facts.insert(
            "restore_command",
            "aws ec2 associate-iam-instance-profile --instance-id i-0123456789abcdef0".into(),
        );
        let r = report(vec![IncidentReport::new(
            &i,
            vec![revoked("web-app"), stranded],
        )]);
        assert!(r
            .to_text()
            .starts_with("INSTANCE i-0123456789abcdef0 HAS NO INSTANCE PROFILE"));
    }
}
