//! Errors of the Lambda side: the SDK's errors reduced to `AwsError`, and why an invocation failed.

pub use revoker_core::model::error::*;
use thiserror::Error;

/// Builds an `AwsError` from any SDK error, keeping the service's code and message
/// when the service answered, and naming the kind of local failure when it did not.
pub fn from_sdk<E, R>(operation: &'static str, err: aws_sdk_iam::error::SdkError<E, R>) -> AwsError
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
    AwsError::new(operation, code, bounded(&message, 500))
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
