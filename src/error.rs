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

    /// Builds an `AwsError` from any SDK error, keeping the service's code and message
    /// when the service answered, and naming the kind of local failure when it did not.
    pub fn from_sdk<E, R>(operation: &'static str, err: aws_sdk_iam::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_iam::error::SdkError;
        let (code, message) = match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                (
                    e.code().unwrap_or("Unknown").to_string(),
                    e.message().unwrap_or_default().to_string(),
                )
            }
            SdkError::TimeoutError(_) => ("TimeoutError".into(), format!("{err:?}")),
            SdkError::DispatchFailure(d) => (
                "DispatchFailure".into(),
                d.as_connector_error()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| format!("{err:?}")),
            ),
            SdkError::ResponseError(_) => ("ResponseError".into(), format!("{err:?}")),
            SdkError::ConstructionFailure(_) => ("ConstructionFailure".into(), format!("{err:?}")),
            _ => ("Unknown".into(), format!("{err:?}")),
        };
        Self::new(operation, code, bounded(&message, 500))
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

/// Why an invocation as a whole failed (the report, where there is one, is logged in full).
#[derive(Debug, Error)]
pub enum HandlerError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("publishing the report failed ({0}); the full report was logged as JSON")]
    Publish(AwsError),
    #[error("{0}")]
    ActionsFailed(String),
}

impl HandlerError {
    /// The `errorType` Lambda shows for this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Input(_) => "InvalidInput",
            HandlerError::Publish(_) => "ReportNotPublished",
            HandlerError::ActionsFailed(_) => "ActionsFailed",
        }
    }
}
