//! Whether an invocation failed, decided from its report alone: a failed invocation is how
//! Lambda retries it and, after the retries, how the event reaches the failure queue.

use crate::act::is_transient;
use crate::error::HandlerError;
use crate::model::Status;
use crate::report::Report;

/// `Err` when the invocation must fail: an instance left without its profile, a failure a
/// retry can fix, or work that was not started for lack of time.
pub fn invocation_result(report: &Report) -> Result<(), HandlerError> {
    let actions = || report.incidents.iter().flat_map(|i| &i.actions);
    if let Some(a) = actions().find(|a| a.restore_command.is_some()) {
        return Err(HandlerError::ActionsFailed(format!(
            "{}; {}",
            report.summary, a.detail
        )));
    }
    let transient: Vec<String> = actions()
        .filter(|a| {
            a.status == Status::Failed && a.error.as_ref().is_some_and(|e| is_transient(&e.code))
        })
        .map(|a| {
            format!(
                "{} {}: {}",
                crate::text::ascii_line(&a.target),
                a.error.as_ref().map(|e| e.code.as_str()).unwrap_or(""),
                a.detail
            )
        })
        .collect();
    if !transient.is_empty() || !report.not_started.is_empty() {
        let mut why = transient;
        why.extend(
            report
                .not_started
                .iter()
                .map(|s| format!("not started: {s}")),
        );
        return Err(HandlerError::ActionsFailed(format!(
            "{} (retryable: {})",
            report.summary,
            why.join("; ")
        )));
    }
    Ok(())
}
