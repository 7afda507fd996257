//! Whether an invocation failed, decided from its report alone: a failed invocation is what
//! Lambda's Errors metric counts, what it retries, and, after the retries, what reaches the
//! failure queue for replay. A finding that is not contained never looks like success.

use crate::act::is_transient;
use crate::error::HandlerError;
use crate::model::Status;
use crate::report::Report;
use crate::text::ascii_line;

/// `Err` when the invocation must fail: an instance left without its profile, any action that
/// failed (retryable or not: the finding is not contained), an unreadable finding, or work
/// that was not started for lack of time. Called after the report is published and logged.
pub fn invocation_result(report: &Report) -> Result<(), HandlerError> {
    let actions = || report.incidents.iter().flat_map(|i| &i.actions);
    if let Some(a) = actions().find(|a| a.restore_command.is_some()) {
        return Err(HandlerError::ActionsFailed(format!(
            "{}; {}",
            report.summary, a.detail
        )));
    }
    let mut why: Vec<String> = actions()
        .filter(|a| a.status == Status::Failed)
        .map(|a| {
            let code = a.error.as_ref().map(|e| e.code.as_str()).unwrap_or("");
            let kind = if is_transient(code) {
                "retryable"
            } else {
                "not contained"
            };
            format!("{kind}: {} {code}: {}", ascii_line(&a.target), a.detail)
        })
        .collect();
    why.extend(
        report
            .not_started
            .iter()
            .map(|s| format!("retryable: not started: {s}")),
    );
    if why.is_empty() {
        return Ok(());
    }
    Err(HandlerError::ActionsFailed(format!(
        "{} ({})",
        report.summary,
        why.join("; ")
    )))
}
