//! The end of an invocation: the report published to SNS (and, with `CHAT_TOPIC_ARN`, one chat
//! notification per finding), logged in full, the embedded metrics printed, and the
//! invocation's result decided from the report alone (`fate`).

use super::{fate, metrics, Responder};
use crate::error::HandlerError;
use crate::report::Report;

impl Responder {
    /// Publishes and logs the report, and decides whether the invocation failed.
    pub(super) async fn finish(&self, mut report: Report) -> (Report, Result<(), HandlerError>) {
        // Rendered once: the same JSON goes to SNS and to the log.
        let json = report.to_json();
        let publish_result = match (&self.notifier, &self.config.sns_topic_arn) {
            (Some(notifier), Some(topic)) => {
                Some(notifier.publish(&report.publication(topic, &json)).await)
            }
            _ => None,
        };
        if let Some(Ok(id)) = &publish_result {
            report.published = Some(id.clone());
        }
        // Chat (CHAT_TOPIC_ARN): one custom notification per finding, after the report. A chat
        // message that fails is logged and counted (metric `ChatNotPublished`) and fails
        // nothing: the report (SNS, log, response) is the record, and containment is done.
        if let (Some(notifier), Some(chat_topic)) = (&self.notifier, &self.config.chat_topic_arn) {
            let chats = report.chat_publications(chat_topic);
            let results =
                futures::future::join_all(chats.iter().map(|p| notifier.publish(p))).await;
            let failed: Vec<_> = results.into_iter().filter_map(Result::err).collect();
            for e in &failed {
                tracing::error!(code = %e.code, message = %e.message, "chat notification not published");
            }
            if !failed.is_empty() {
                let now_ms = (self.clock.now().unix_timestamp_nanos() / 1_000_000).max(0) as u64;
                println!(
                    "{}",
                    serde_json::json!({"_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [{
                        "Namespace": metrics::NAMESPACE, "Dimensions": [["Service"]],
                        "Metrics": [{"Name": "ChatNotPublished", "Unit": "Count"}]}]},
                        "Service": "session-revoker", "ChatNotPublished": failed.len()})
                );
            }
        }
        // The full report always reaches the log: it is the record of what was done.
        tracing::info!(
            outcome = report.outcome.as_str(),
            summary = %report.summary,
            published = report.published.as_deref().unwrap_or("-"),
            report = %json,
            "report"
        );
        // Embedded metrics go to stdout as their own line (Lambda's log pipeline reads them).
        let now_ms = (self.clock.now().unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        println!("{}", metrics::embedded_metrics(&report, now_ms));
        for line in metrics::drill_account_metrics(&report, now_ms) {
            println!("{line}");
        }
        if let Some(Err(e)) = publish_result {
            tracing::error!(code = %e.code, message = %e.message, "report not published");
            return (report, Err(HandlerError::Publish(e)));
        }
        let fate = fate::invocation_result(&report);
        (report, fate)
    }
}
