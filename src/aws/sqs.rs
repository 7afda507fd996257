//! The re-check queue through `aws_sdk_sqs` (and the caller identity SQS records as a message's
//! sender, through `aws_sdk_sts`).

use super::AwsResult;
use crate::error::{from_sdk, AwsError};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
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
    /// `SendMessageBatch` of `(body, delay_seconds)` entries (at most 10) in one call: each
    /// entry's message id, or why SQS refused that entry.
    fn send_batch<'a>(
        &'a self,
        entries: &'a [(&'a str, Option<i32>)],
    ) -> BoxFuture<'a, AwsResult<Vec<AwsResult<String>>>>;
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

    fn send_batch<'a>(
        &'a self,
        entries: &'a [(&'a str, Option<i32>)],
    ) -> BoxFuture<'a, AwsResult<Vec<AwsResult<String>>>> {
        async move {
            let mut request = self.sqs.send_message_batch().queue_url(&self.url);
            for (at, (body, delay)) in entries.iter().enumerate() {
                request = request.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(at.to_string())
                        .message_body(*body)
                        .set_delay_seconds(*delay)
                        .build()
                        .map_err(|e| {
                            AwsError::new("SendMessageBatch", "InvalidEntry", e.to_string())
                        })?,
                );
            }
            let out = request
                .send()
                .await
                .map_err(|e| from_sdk("SendMessageBatch", e))?;
            // Entries come back by their `Id` (the position sent), in no promised order.
            let mut results: Vec<AwsResult<String>> = entries
                .iter()
                .map(|_| {
                    Err(AwsError::new(
                        "SendMessageBatch",
                        "MissingEntry",
                        "SQS answered neither success nor failure for this entry",
                    ))
                })
                .collect();
            for ok in out.successful() {
                if let Some(slot) = ok
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| results.get_mut(i))
                {
                    *slot = Ok(ok.message_id().to_string());
                }
            }
            for failed in out.failed() {
                if let Some(slot) = failed
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| results.get_mut(i))
                {
                    *slot = Err(AwsError::new(
                        "SendMessageBatch",
                        failed.code().to_string(),
                        failed.message().unwrap_or_default().to_string(),
                    ));
                }
            }
            Ok(results)
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
