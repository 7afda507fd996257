//! The report as text, for people: the outcome first, then each incident as a checklist.

use super::{IncidentReport, Report};
use crate::model::{severity_label, ActionKind, Origin, Status};

impl Report {
    /// The report for people: headline, facts, actions with outcomes, next steps.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.summary);
        out.push('\n');
        if self.dry_run {
            out.push_str("DRY RUN: nothing was written.\n");
        }
        if let Some(drill) = &self.drill {
            // A fire drill: its steps and figures (crate::drill).
            out.push_str(&drill.to_text());
        } else if self.incidents.is_empty() && self.not_started.is_empty() {
            out.push_str("\nThe payload holds no findings: nothing to do.\n");
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
                    .or_else(|| (i.source == Origin::Manual).then(|| "manual".into()))
                    .or_else(|| i.requested_via.clone()),
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
            let seen: Vec<String> = [("first", &i.event_first_seen), ("last", &i.event_last_seen)]
                .into_iter()
                .filter_map(|(which, t)| t.as_ref().map(|t| format!("{which} seen {t}")))
                .collect();
            line(
                &mut out,
                "Activity",
                (!seen.is_empty())
                    .then(|| format!("{}, count {}", seen.join(", "), i.count.unwrap_or(1))),
            );
            line(
                &mut out,
                "Sequence",
                i.sequence.as_ref().map(|s| s.describe()),
            );
            if !i.ignored_fields.is_empty() {
                out.push_str("Ignored    (present but unreadable, treated as absent)\n");
                for f in &i.ignored_fields {
                    out.push_str(&format!("  - {f}\n"));
                }
            }
            out.push_str("Actions\n");
            for a in &i.actions {
                out.push_str(&format!(
                    "  [{}] {} {}: {}\n",
                    status_word(a.status),
                    action_word(a.action),
                    a.target,
                    a.detail
                ));
                let facts: Vec<String> = a.facts.iter().map(|(k, v)| format!("{k}={v}")).collect();
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
            if let Some(a) = &i.approval {
                out.push_str(&format!(
                    "Approval   APPROVAL NEEDED (required by {}){}\n  {}\n  $ {}\n",
                    a.required_by,
                    a.expires_at
                        .as_deref()
                        .map(|e| format!(", expires {e}"))
                        .unwrap_or_default(),
                    a.note,
                    a.command
                ));
            }
            if let Some(f) = &i.follow_up {
                out.push_str(&f.to_text());
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
}

pub(super) fn principal_kind(i: &IncidentReport) -> &'static str {
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
        Status::AwaitingApproval => "AWAITING APPROVAL",
        Status::Queued => "QUEUED",
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
