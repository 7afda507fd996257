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

/// The most a `Publish` message may hold.
pub const SNS_LIMIT: usize = 256 * 1024;

impl Publication {
    /// A subject as SNS takes it: ASCII, no line breaks, under 100 characters.
    pub fn subject_line(line: &str) -> String {
        let s = crate::text::ascii_line(&format!("[session-revoker] {line}"));
        if s.len() <= 99 {
            s
        } else {
            format!("{}...", &s[..96])
        }
    }

    /// The `MessageStructure=json` body: `text` for e-mail and people, `json` for machine
    /// protocols.
    pub fn body(text: &str, json: &str) -> String {
        serde_json::json!({"default": text, "email": text, "email-json": json, "sqs": json, "lambda": json, "https": json, "http": json})
            .to_string()
    }
}
