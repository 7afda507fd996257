//! What happened: one outcome per planned action, ready for the report.

use super::error::AwsError;
use super::plan::{ActionKind, Step, Write};
use crate::names::format_utc;
use crate::text::safe_text;
use serde::Serialize;
use std::collections::BTreeMap;

/// What happened to one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Skipped,
    AlreadyCovered,
    ManualActionRequired,
    WouldDo,
    Done,
    /// A wide write proposed, not done: it waits for a person's approve request (issue 25).
    AwaitingApproval,
    /// Not written yet: the deny joined its role's merged write on the re-check queue (a burst
    /// at the role, issue 26). Never a success: the merged write reports when it is in place.
    Queued,
    Failed,
}

/// The outcome of an incident, or of the whole invocation ([`Outcome::combine`]).
///
/// Ordered by significance, for the headline's counts. `Revoked` is never the outcome while
/// anything the function found is left for a person: that is `PartlyContained`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Skipped,
    /// A fire drill (issue 23, `core/src/drill.rs`) contained its canary and a fresh session works.
    DrillPassed,
    AlreadyCovered,
    ManualActionRequired,
    WouldRevoke,
    Revoked,
    /// Something was contained (revoked or already covered) and something else the function
    /// found is still live and needs a person (a `manual_action_required` action).
    PartlyContained,
    /// A deny joined its role's merged write (issue 26): not in place yet. The merged write
    /// publishes its own report when it is; if it cannot be written, its message fails to the
    /// re-check dead-letter queue and that alarm fires.
    Queued,
    /// What cuts only the attacker was done; a wider cut waits for a person's approval. Never
    /// a success: the stolen credentials' other sessions of the role may still work.
    ApprovalNeeded,
    /// A fire drill failed a step: the function could not show it contains a session.
    DrillFailed,
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
            Outcome::PartlyContained => "partly_contained",
            Outcome::Queued => "queued",
            Outcome::ApprovalNeeded => "approval_needed",
            Outcome::DrillPassed => "drill_passed",
            Outcome::DrillFailed => "drill_failed",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome of an action's status.
    pub fn of_status(status: Status) -> Self {
        match status {
            Status::Skipped => Outcome::Skipped,
            Status::AlreadyCovered => Outcome::AlreadyCovered,
            Status::ManualActionRequired => Outcome::ManualActionRequired,
            Status::WouldDo => Outcome::WouldRevoke,
            Status::Done => Outcome::Revoked,
            Status::AwaitingApproval => Outcome::ApprovalNeeded,
            Status::Queued => Outcome::Queued,
            Status::Failed => Outcome::Failed,
        }
    }

    /// The outcome of several (an incident's actions, a report's incidents): `Failed` if any
    /// failed; `PartlyContained` when something was contained (or partly) while something
    /// else needs a person, so a revocation beside a pivot into a protected role never reads
    /// `revoked`; otherwise the most significant. Nothing at all is `Skipped`.
    pub fn combine(outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        let (mut contained, mut left, mut partly) = (false, false, false);
        let mut most = None;
        for o in outcomes {
            contained |= matches!(o, Outcome::Revoked | Outcome::AlreadyCovered);
            left |= o == Outcome::ManualActionRequired;
            partly |= o == Outcome::PartlyContained;
            most = most.max(Some(o));
        }
        match most {
            None => Outcome::Skipped,
            Some(Outcome::Failed) => Outcome::Failed,
            // A failed drill is a failure; a passed one never hides another outcome (it sorts
            // below every outcome but `Skipped`).
            Some(Outcome::DrillFailed) => Outcome::DrillFailed,
            // A wide cut waiting for a person leads, whatever else is left: it is the one
            // decision the report asks for.
            Some(Outcome::ApprovalNeeded) => Outcome::ApprovalNeeded,
            // A deny not in place yet is never folded into a contained headline.
            Some(Outcome::Queued) => Outcome::Queued,
            Some(_) if partly || (contained && left) => Outcome::PartlyContained,
            Some(o) => o,
        }
    }

    pub fn headline(&self) -> &'static str {
        match self {
            Outcome::Skipped => "NO ACTION",
            Outcome::AlreadyCovered => "ALREADY COVERED",
            Outcome::ManualActionRequired => "MANUAL ACTION REQUIRED",
            Outcome::WouldRevoke => "DRY RUN",
            Outcome::Revoked => "REVOKED",
            Outcome::PartlyContained => "PARTLY CONTAINED",
            Outcome::Queued => "QUEUED",
            Outcome::ApprovalNeeded => "APPROVAL NEEDED",
            Outcome::DrillPassed => "DRILL PASSED",
            Outcome::DrillFailed => "DRILL FAILED",
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
    /// Set when an instance was left without its instance profile: the command that gives it
    /// back. Such an action fails the invocation and leads the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_command: Option<String>,
    /// Action-specific facts (association ids, waits, attempts).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<&'static str, String>,
    /// Milliseconds from the start of the invocation to the end of this action.
    pub at_ms: u64,
    /// A proposed action's approval (issue 25): the incident's report shows it once, as its
    /// `approval` section.
    #[serde(skip)]
    pub approval: Option<Box<crate::plan::approval::ApprovalSection>>,
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
            restore_command: None,
            facts: BTreeMap::new(),
            at_ms: 0,
            approval: None,
        }
    }
}

impl ActionOutcome {
    /// The outcome of a planned step that needs no AWS call; a write is handed back to be
    /// carried out (or, in a dry run, described).
    pub fn settled(kind: ActionKind, target: &str, step: Step) -> Result<Self, Box<Write>> {
        use Step;
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
