//! Carrying out a plan's writes, one file per kind of action. Each takes the narrowest AWS
//! capability it uses and returns the outcome the report shows; in a dry run it says what
//! it would do and writes nothing.

pub mod deactivate_key;
pub mod reassociate;
pub mod restore;
pub mod revoke_identity_center;
pub mod revoke_role_sessions;
pub mod revoke_user_sessions;

use crate::aws::MAX_ATTEMPTS;
use crate::error::AwsError;
use crate::model::{ActionOutcome, Status};
use std::time::{Duration, Instant};

/// Time kept back at the end of an invocation to report and publish.
pub const REPORT_RESERVE: Duration = Duration::from_secs(5);

/// The invocation's time limit (from the Lambda context).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Option<Instant>,
}

impl Budget {
    pub const UNLIMITED: Budget = Budget { deadline: None };

    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether work that needs `needs` can start and still leave time to report.
    pub fn can_start(&self, needs: Duration) -> bool {
        self.remaining().is_none_or(|r| r > needs + REPORT_RESERVE)
    }
}

/// What every action needs to know about the invocation it runs in.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub started: Instant,
    pub dry_run: bool,
    pub budget: Budget,
}

impl Ctx {
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// IAM (or STS) refused for its rate: another attempt in seconds can succeed.
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded"
    )
}

/// Retryable failures: the invocation fails so Lambda retries it (a retry finds the work
/// already done "already covered" and finishes the rest). Throttling is one of them.
pub fn is_transient(code: &str) -> bool {
    is_throttling(code)
        || matches!(
            code,
            "ServiceUnavailable"
            | "ServiceFailure"
            | "InternalError"
            | "InternalFailure"
            | "TimeoutError"
            | "DispatchFailure"
            | "ResponseError"
            | "ConcurrentModification"
            // A deny written but not read again by the settle pass (time ran out): the
            // retry verifies it.
            | "Unverified"
        )
}

/// Marks an outcome failed with the AWS error that ended it.
pub fn failed(mut o: ActionOutcome, e: AwsError) -> ActionOutcome {
    o.status = Status::Failed;
    o.detail = format!("{} failed", e.operation);
    if is_transient(&e.code) {
        // The SDK retried before giving up (standard mode; fewer attempts when its retry quota
        // is spent): the invocation fails so that Lambda retries the whole event.
        o.detail = format!(
            "{} failed after the SDK's retries (up to {MAX_ATTEMPTS} attempts)",
            e.operation
        );
        o.facts.insert("max_attempts", MAX_ATTEMPTS.to_string());
    }
    o.error = Some((&e).into());
    o
}
