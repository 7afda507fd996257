//! A rendered message, ready for SNS.

/// A report ready for SNS.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub topic_arn: String,
    pub subject: String,
    /// `MessageStructure=json` body: `default` (text) plus per-protocol bodies.
    pub message: String,
    pub attributes: Vec<(String, String)>,
}
