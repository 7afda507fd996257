//! Errors, each keeping what a responder needs to act on it: the AWS error code and message.

use thiserror::Error;

/// A failed AWS call, reduced to what the report and the logs show.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{operation} failed: {code}: {message}")]
pub struct AwsError {
    /// The API operation, e.g. `PutRolePolicy`.
    pub operation: &'static str,
    /// The AWS error code (`NoSuchEntity`, `Throttling`, …) or a local class (`DispatchFailure`).
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(
        operation: &'static str,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn is_code(&self, code: &str) -> bool {
        self.code == code
    }
}

/// Cuts a message to at most `max` characters (AWS messages can echo request data).
pub fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// The payload could not be understood at all (not one finding of several: see `FindingError`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    #[error("unrecognised payload: expected {expected}; found {found}")]
    UnrecognisedShape {
        expected: &'static str,
        found: String,
    },
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
}

/// One finding (or manual request) in the payload is unusable; the others are still handled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("field `{field}`: {problem}")]
pub struct FindingError {
    pub field: String,
    pub problem: String,
}

impl FindingError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// A configuration variable is missing or malformed; reported once, at start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("configuration: {variable}={value:?} is invalid: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub problem: String,
}
