//! The report for chat: one Amazon Q Developer in chat applications (formerly AWS Chatbot)
//! custom notification per finding, outcome first, the commands a person runs next. Pure.
//!
//! Schema: "Custom notifications using Amazon Q Developer in chat applications", Event schema and
//! Parameter details (https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html):
//! `{"version", "source", "id", "content": {"textType", "title", "description", "nextSteps": [],
//! "keywords": []}, "metadata": {"threadId", "summary", "eventType", "relatedResources": [],
//! "additionalContext": {}}}`; `version` must be "1.0", `source` must be "custom", and
//! `client-markdown` is the only `textType`. `tests/fixtures/chat-notification.schema.json` holds
//! these constraints as a JSON Schema, and the tests check every rendered message against it.
//!
//! Everything from the finding (names, types, session names, details that quote them) is
//! attacker-influenced: in the markdown it appears only inside code spans (backticks removed from
//! it, control characters replaced, length bounded), so it cannot become a link, a mention or
//! formatting in the security team's channel.

use super::{IncidentReport, Report};
use crate::model::{severity_label, Publication, Status};
use crate::text::{ascii_line, safe_text};
use serde_json::{json, Value};

/// Longest description sent (chat clients cut long messages; the full report is in SNS and the log).
const MAX_DESCRIPTION: usize = 3000;
/// Most next steps sent.
const MAX_NEXT_STEPS: usize = 6;

/// Attacker-influenced text as an inline code span. Slack reads its control sequences
/// (`<!channel>`, `<@U…>`, `<https://…|text>`) before markdown, inside code spans too, so `&`,
/// `<` and `>` are escaped as Slack documents (`&amp;`, `&lt;`, `&gt;`); a URL scheme is
/// defanged (`hxxps[:]//`) so no client turns it into a link.
fn code(s: &str, max: usize) -> String {
    let clean: String = safe_text(s, max).chars().filter(|c| *c != '`').collect();
    format!("`{}`", defang(&escape_control(clean.trim())))
}

/// `&`, `<`, `>` as the entities Slack and Teams expect in message text.
fn escape_control(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `scheme://` becomes `scheme[:]//` (the usual defanging of indicators in security tooling):
/// a finding's text never becomes a link.
fn defang(s: &str) -> String {
    s.replace("://", "[:]//")
}

/// Plain text for the title and keywords: one line, no markdown meaning, no mention, no link.
fn plain(s: &str, max: usize) -> String {
    let flat: String = safe_text(s, max)
        .chars()
        .map(|c| match c {
            '*' | '_' | '~' | '`' | '<' | '>' | '[' | ']' | '|' | '@' | '&' => ' ',
            c => c,
        })
        .collect();
    // After the mapping: the brackets of the defanged form are not removed again.
    defang(flat.trim())
}

/// One custom notification for one finding of the report.
pub fn chat_notification(report: &Report, incident: &IncidentReport) -> Value {
    let title = plain(&Report::incident_line(incident), 200);
    let mut description = String::new();
    if report.dry_run {
        description.push_str("*DRY RUN: nothing was written.*\n");
    }
    for a in &incident.actions {
        let action = serde_json::to_value(a.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let status = serde_json::to_value(a.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mark = match a.status {
            Status::Done | Status::AlreadyCovered => "✅",
            Status::WouldDo => "🔎",
            Status::Skipped => "➖",
            Status::ManualActionRequired => "⚠️",
            Status::AwaitingApproval => "⏸️",
            Status::Queued => "⏳",
            Status::Failed => "❌",
        };
        description.push_str(&format!(
            "{mark} *{status}* {action} {}: {}\n",
            code(&a.target, 120),
            code(&a.detail, 400)
        ));
    }
    let field = |label: &str, v: Option<String>| {
        v.map(|v| format!("*{label}:* {}\n", code(&v, 200)))
            .unwrap_or_default()
    };
    description.push_str(&field(
        "Principal",
        incident.principal.name.as_ref().map(|n| {
            format!(
                "{} {n}{}",
                incident.principal.user_type,
                incident
                    .principal
                    .principal_id
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            )
        }),
    ));
    description.push_str(&field(
        "Account",
        incident
            .account
            .as_ref()
            .map(|a| format!("{a} {}", incident.region.as_deref().unwrap_or("-"))),
    ));
    description.push_str(&field("Finding", incident.finding_id.clone()));
    if description.chars().count() > MAX_DESCRIPTION {
        description = description.chars().take(MAX_DESCRIPTION).collect();
        description.push_str("\n… (the full report is in the SNS report and the function's log)");
    }

    // The approve command first: it is the one decision the message asks for, and it must
    // arrive whole (a finding id may be long), so it is not cut at 600 characters.
    let mut next_steps: Vec<String> = incident
        .approval
        .iter()
        .map(|a| code(&a.command, 2000))
        .chain(
            incident
                .actions
                .iter()
                .filter_map(|a| a.restore_command.as_deref())
                .chain(
                    incident
                        .actions
                        .iter()
                        .flat_map(|a| a.commands.iter().map(String::as_str)),
                )
                .chain(incident.next_steps.iter().map(String::as_str))
                .map(|s| code(s, 600)),
        )
        .collect();
    next_steps.dedup();
    next_steps.truncate(MAX_NEXT_STEPS);

    let mut keywords = vec![incident.outcome.as_str().to_string()];
    if let Some(s) = incident.severity {
        keywords.push(severity_label(s).to_string());
    }
    if let Some(t) = &incident.finding_type {
        keywords.push(plain(t, 80));
    }
    if report.dry_run {
        keywords.push("dry run".into());
    }

    let mut related: Vec<String> = incident
        .actions
        .iter()
        .filter(|a| !a.target.is_empty() && a.target != "-")
        .map(|a| defang(&escape_control(&ascii_line(&safe_text(&a.target, 120)))))
        .collect();
    related.dedup();
    let thread = incident
        .finding_id
        .as_deref()
        .map(|id| ascii_line(&safe_text(id, 120)));

    let mut notification = json!({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": next_steps,
            "keywords": keywords,
        },
        "metadata": {
            "summary": title,
            "eventType": "session-revoker",
            "relatedResources": related,
            "additionalContext": {
                "outcome": incident.outcome.as_str(),
                "account": incident.account.as_deref().map(|a| ascii_line(&safe_text(a, 64))).unwrap_or_default(),
                "region": incident.region.as_deref().map(|r| ascii_line(&safe_text(r, 64))).unwrap_or_default(),
            },
        },
    });
    if let Some(t) = thread {
        // Re-deliveries of one finding land in one thread.
        notification["id"] = json!(t);
        notification["metadata"]["threadId"] = json!(t);
    }
    notification
}

impl Report {
    /// One chat notification per finding, ready for SNS (`default` is what the chat client
    /// reads; the topic's only subscriber is the chat client).
    pub fn chat_publications(&self, topic_arn: &str) -> Vec<Publication> {
        self.incidents
            .iter()
            .map(|i| {
                let n = chat_notification(self, i);
                let subject = ascii_line(&format!(
                    "[session-revoker] {}",
                    n["content"]["title"].as_str().unwrap_or_default()
                ));
                let subject = if subject.len() <= 99 {
                    subject
                } else {
                    format!("{}...", &subject[..96])
                };
                Publication {
                    topic_arn: topic_arn.to_string(),
                    subject,
                    message: json!({ "default": n.to_string() }).to_string(),
                    attributes: vec![("outcome".into(), i.outcome.as_str().into())],
                }
            })
            .collect()
    }
}
