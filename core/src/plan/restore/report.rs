//! What a restore reports: the response to `{"action": "restore", ...}`, also published.

use super::{IncidentKey, PolicyChange, RestorePlan, RestorePrincipal, RestoreRequest, Verdict};
use crate::names::format_utc;
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreStatus {
    /// The writes were made.
    Restored,
    /// Dry run: the writes that would be made.
    WouldRestore,
    /// Nothing in the account names the incident.
    NothingFound,
    /// Something naming the incident changed since it was written: nothing written.
    Drift,
    /// Before the safe time and not forced: nothing written.
    TooEarly,
    /// An AWS call failed (the error says which); what was written before it is listed.
    Failed,
}

impl RestoreStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restored => "restored",
            Self::WouldRestore => "would_restore",
            Self::NothingFound => "nothing_found",
            Self::Drift => "drift",
            Self::TooEarly => "too_early",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeLine {
    pub policy_name: &'static str,
    /// `put` (the policy rewritten without the incident) or `delete` (nothing else was in it).
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Whether this change was made (false in a dry run, a refusal, or after a failure).
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    pub action: &'static str,
    /// The same as `status` (SNS subscribers filter every report on the `outcome` attribute).
    pub outcome: RestoreStatus,
    pub status: RestoreStatus,
    /// One line for people: the status and the principal.
    pub summary: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub principal_type: &'static str,
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_at: Option<String>,
    pub dry_run: bool,
    pub forced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub changes: Vec<ChangeLine>,
    pub reopened: Vec<String>,
    pub drift: Vec<String>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// Steps a person runs (reactivating keys: this function does not).
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub generated_at: String,
}

impl RestoreReport {
    /// The report of a plan before any write (a dry run, a refusal, or the writes to come:
    /// the executor marks each change done and sets `Restored` or `Failed`).
    pub fn new(request: &RestoreRequest, plan: &RestorePlan, now: OffsetDateTime) -> Self {
        let (principal_type, principal) = match &request.principal {
            RestorePrincipal::Role(n) => ("role", n.clone()),
            RestorePrincipal::User(n) => ("user", n.clone()),
        };
        let (finding_id, asked_cutoff) = match &request.key {
            IncidentKey::Finding { finding_id, cutoff } => (Some(finding_id.clone()), *cutoff),
            IncidentKey::Cutoff(c) => (None, Some(*c)),
        };
        let safe = plan.safe_at.map(format_utc);
        let early = plan.safe_at.is_some_and(|s| now < s);
        let mut warnings = Vec::new();
        let mut drift = Vec::new();
        let mut changes = Vec::new();
        let (status, detail) = match &plan.verdict {
            Verdict::NothingFound => (
                RestoreStatus::NothingFound,
                format!(
                    "nothing on {principal_type} {principal} names this incident: it was never written here, was already restored, or was rewritten since; nothing was written"
                ),
            ),
            Verdict::Drift(d) => {
                drift = d.clone();
                (
                    RestoreStatus::Drift,
                    "what was written for this incident is no longer there as written (see drift): nothing was written; compare and restore by hand".to_string(),
                )
            }
            Verdict::TooEarly(list) => {
                changes = change_lines(list);
                (
                RestoreStatus::TooEarly,
                format!(
                    "refused: before the safe time {}, tokens the deny refuses may still be live; nothing was written. Send again after that time, or with \"force\": true and a \"reason\"",
                    safe.as_deref().unwrap_or("-")
                ),
            )
            }
            Verdict::Restore(list) => {
                changes = change_lines(list);
                if early {
                    warnings.push(format!(
                        "forced before the safe time {}: the stolen tokens this deny refused work again until they expire",
                        safe.as_deref().unwrap_or("-")
                    ));
                }
                let verb = if request.dry_run {
                    "would remove"
                } else {
                    "removes"
                };
                (
                    if request.dry_run {
                        RestoreStatus::WouldRestore
                    } else {
                        RestoreStatus::Restored
                    },
                    format!(
                        "{verb} what this function wrote for the incident on {principal_type} {principal} ({} change(s)); everything else is kept{}",
                        changes.len(),
                        if request.dry_run {
                            "; dry run: send again with \"dry_run\": false to restore"
                        } else {
                            ""
                        }
                    ),
                )
            }
        };
        let mut commands = Vec::new();
        if request.reactivate_keys {
            warnings.push("a leaked long-term key should be rotated (a new key, the old one deleted), not reactivated".into());
            if let RestorePrincipal::User(user) = &request.principal {
                commands.push(format!("aws iam list-access-keys --user-name {user}"));
                commands.push(format!("aws iam update-access-key --user-name {user} --access-key-id <the key the report named> --status Active  # this function does not reactivate keys"));
            }
        }
        Self {
            action: "restore",
            outcome: status,
            summary: String::new(),
            status,
            detail,
            account: request.account.clone(),
            principal_type,
            principal,
            finding_id,
            cutoff: plan.cutoff.or(asked_cutoff).map(format_utc),
            safe_at: safe,
            dry_run: request.dry_run,
            forced: request.force,
            reason: request.reason.clone(),
            changes,
            reopened: plan.reopened.clone(),
            drift,
            notes: plan.notes.clone(),
            warnings,
            commands,
            error: None,
            generated_at: format_utc(now),
        }
    }

    /// Sets `outcome` and `summary` from `status` (after the executor changed it).
    pub fn finish(&mut self) {
        self.outcome = self.status;
        self.summary = format!(
            "restore {}: {} {}: {}",
            self.status.as_str(),
            self.principal_type,
            self.principal,
            self.detail
        );
    }

    /// The SNS subject (at most 100 characters).
    pub fn subject(&self) -> String {
        let s = format!(
            "session-revoker restore {}: {} {}",
            self.status.as_str(),
            self.principal_type,
            self.principal
        );
        s.chars().take(100).collect()
    }
}

fn change_lines(list: &[PolicyChange]) -> Vec<ChangeLine> {
    list.iter()
        .map(|c| match c {
            PolicyChange::Put {
                policy_name,
                document,
            } => ChangeLine {
                policy_name,
                change: "put",
                document: Some(document.clone()),
                done: false,
            },
            PolicyChange::Delete { policy_name } => ChangeLine {
                policy_name,
                change: "delete",
                document: None,
                done: false,
            },
        })
        .collect()
}
