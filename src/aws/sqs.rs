//! The re-check queue through `aws_sdk_sqs` (and the caller identity SQS records as a message's
//! sender, through `aws_sdk_sts`).

use super::AwsResult;
use crate::error::from_sdk;
use futures::future::BoxFuture;
use futures::FutureExt;

/// The delayed look at a role policy written (`RECHECK_QUEUE_URL`, `respond/recheck.rs`).
pub trait RecheckQueue: Send + Sync {
    /// `SendMessage` of one body, delivered after `delay_seconds` (0–900; the queue's own
    /// `DelaySeconds` when `None`). The message id.
    fn send<'a>(
        &'a self,
        body: &'a str,
        delay_seconds: Option<i32>,
    ) -> BoxFuture<'a, AwsResult<String>>;
    /// The `SenderId` SQS records on this function's own messages: its caller identity's user
    /// id (`AROA…:<session>` for a role), to tell its messages from anyone else's.
    fn own_sender_id(&self) -> BoxFuture<'_, AwsResult<String>>;
}

pub struct SqsRecheckQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
    pub url: String,
    /// `GetCallerIdentity`'s user id, read once per container.
    pub own: tokio::sync::OnceCell<String>,
}

impl SqsRecheckQueue {
    pub fn new(sdk: &aws_config::SdkConfig, url: &str) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            url: url.to_string(),
            own: tokio::sync::OnceCell::new(),
        }
    }
}

impl RecheckQueue for SqsRecheckQueue {
    fn send<'a>(
        &'a self,
        body: &'a str,
        delay_seconds: Option<i32>,
    ) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            let out = self
                .sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .set_delay_seconds(delay_seconds)
                .send()
                .await
                .map_err(|e| from_sdk("SendMessage", e))?;
            Ok(out.message_id().unwrap_or_default().to_string())
        }
        .boxed()
    }

    fn own_sender_id(&self) -> BoxFuture<'_, AwsResult<String>> {
        async move {
            self.own
                .get_or_try_init(|| async {
                    let out = self
                        .sts
                        .get_caller_identity()
                        .send()
                        .await
                        .map_err(|e| from_sdk("GetCallerIdentity", e))?;
                    Ok(out.user_id().unwrap_or_default().to_string())
                })
                .await
                .cloned()
        }
        .boxed()
    }
}
