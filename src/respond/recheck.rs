//! The later look at each role policy written, as a delayed message on the re-check queue
//! (`RECHECK_QUEUE_URL`, the template's `RecheckQueue` with its `DelaySeconds`) instead of a
//! sleep inside the invocation that wrote the deny.
//!
//! The invocation writes the deny and reads it back at once (as before), then sends one message
//! per role policy written and returns. The queue delivers the message after its delay to this
//! same function (its second event source); that invocation reads the policy again and
//! re-merges exactly as the settle pass does (`reconcile`). A policy that still does not hold
//! fails its batch item (`ConcurrentModification`): SQS delivers it again, and after the
//! queue's `maxReceiveCount` it lands in the dead-letter queue, whose alarm fires.
//!
//! Without a queue (local runs, `make demo`), or when a message cannot be sent, the settle pass
//! runs in the invocation as before (settle.rs): a deny is never left without its later look.

use super::settle::Pending;
use super::Responder;
use crate::act::revoke_role_sessions::{reconcile, RolePolicyWrite};
use crate::act::Ctx;
use crate::error::AwsError;
use crate::recheck::{self, Recheck, RecheckMessage, Refused};
use crate::report::IncidentReport;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use std::sync::Arc;
use time::OffsetDateTime;

/// Sends the later look at every role policy written in this invocation to the queue; what
/// cannot be sent stays in `pending`, for the settle pass that follows.
pub async fn enqueue(
    r: &Responder,
    pending: &Pending,
    ctx: &Ctx,
    reports: &mut [Option<IncidentReport>],
) {
    let Some(queue) = r.accounts.recheck_queue() else {
        return;
    };
    let written = pending.take_roles();
    if written.is_empty() {
        return;
    }
    let sends = written.into_iter().map(|w| {
        let queue = Arc::clone(&queue);
        async move {
            let sent =
                match RecheckMessage::for_write(&w.account, &w.write, w.finding_id.as_deref()) {
                    Some(m) => {
                        let body = m.to_json();
                        // The quick look restores a session erased by a writer like us within
                        // seconds; the final one is what makes the deny hold. Only the final
                        // one must be sent: without the quick one a restore just comes later.
                        send_looks(queue.as_ref(), &body, w.took).await
                    }
                    None => Err(AwsError::new(
                        "SendMessage",
                        "NotARolePolicy",
                        "not a role policy of this function",
                    )),
                };
            (w, sent)
        }
    });
    for (w, sent) in futures::future::join_all(sends).await {
        let action = reports
            .get_mut(w.item)
            .and_then(Option::as_mut)
            .and_then(|r| r.actions.get_mut(w.action));
        match sent {
            Ok(id) => {
                if let Some(a) = action {
                    a.facts.insert("recheck", "queued".into());
                    a.facts.insert("recheck_message_id", id);
                }
            }
            Err(e) => {
                // Never silently: the settle pass in this invocation looks at it instead.
                tracing::warn!(account = %w.account, code = %e.code, error = %e.message, "the re-check message could not be sent: settling in the invocation");
                if let Some(a) = action {
                    a.facts.insert(
                        "recheck",
                        format!("in the invocation (SendMessage failed: {})", e.code),
                    );
                }
                pending.push(w);
            }
        }
    }
    tracing::debug!(ms = ctx.elapsed_ms(), "re-checks queued");
}

/// Sends a first write's two looks: the quick one after twice its read-to-write gap, and the
/// final one. Two `SendMessage` calls at once, not one `SendMessageBatch`: IAM authorizes a batch
/// as `sqs:SendMessage`, but fakecloud (the deployed-stack judge) asks for an
/// `sqs:SendMessageBatch` that IAM does not have, so the deployed role could not be judged.
/// The quick look restores a session erased by a writer like us within seconds; the final one is
/// what makes the deny hold: only the final one must be sent.
async fn send_looks(
    queue: &dyn crate::aws::sqs::RecheckQueue,
    body: &str,
    took: std::time::Duration,
) -> Result<String, AwsError> {
    let (quick, last) = futures::join!(
        queue.send(body, Some(quick_delay(took))),
        queue.send(body, Some(RECHECK_DELAY_SECONDS))
    );
    if let Err(e) = quick {
        tracing::warn!(code = %e.code, "the quick re-check could not be sent: the final one stands");
    }
    last
}

/// Looks (reads and writes) of one batch at one account at a time.
const LOOKS_PER_ACCOUNT: usize = 2;

/// When every look comes, in SQS's whole seconds: later than any concurrent writer's
/// read-to-write gap can be. That gap is bounded by the retry policy (`aws::MAX_ATTEMPTS`
/// attempts, backoff capped at 5 s: at most about 16 s of backoff for one write, plus the calls
/// themselves), not by this invocation's own gap: under throttling one writer gets through at
/// once while another retries for its whole budget. With twice its own gap (3 to 15 s), `make
/// bench`'s burst at 1 IAM write/s per account ended with 15 of 1,000 sessions erased after
/// their last look and reported contained.
pub const RECHECK_DELAY_SECONDS: i32 = 30;

/// The quick look besides it: twice this write's read-to-write gap (2.5 to 15 s, what the
/// in-invocation settle pass slept), in whole seconds rounded up. It catches the common race
/// (writers like this one, at the same speed) early; a look that had to rewrite queues the
/// next one at [`RECHECK_DELAY_SECONDS`].
fn quick_delay(took: std::time::Duration) -> i32 {
    let interval = super::settle::interval_for(took);
    interval.as_millis().div_ceil(1000) as i32
}

/// A message of the batch: its checked content, or why it was refused.
fn read_message(m: &SqsMessage, own_sender: &str, r: &Responder) -> Result<Recheck, Refused> {
    let sender = m.attributes.get("SenderId").map(String::as_str);
    if !sender.is_some_and(|s| recheck::is_own_sender(s, own_sender)) {
        return Err(Refused::Sender(sender.unwrap_or("-").to_string()));
    }
    // SQS's own clock, not the sender's word: bounds the cutoffs a message may ask for.
    let sent = m
        .attributes
        .get("SentTimestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .ok_or(Refused::NoSentTime)?;
    recheck::read(m.body.as_deref().unwrap_or_default(), &r.config, sent)
}

impl Responder {
    /// A batch of the re-check queue: every message read and checked, those naming the same
    /// role policy merged into one look, each look a read-merge-write. The batch items that
    /// failed (refused, or a policy that still does not hold) go back to the queue.
    pub async fn recheck_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let id = |m: &SqsMessage| m.message_id.clone().unwrap_or_default();
        let own = match self.accounts.recheck_queue() {
            Some(queue) => queue.own_sender_id().await,
            None => Err(AwsError::new(
                "Recheck",
                "NoRecheckQueue",
                "a re-check message arrived but RECHECK_QUEUE_URL is not set: its sender cannot be checked",
            )),
        };
        let own = match own {
            Ok(own) => own,
            Err(e) => {
                tracing::error!(code = %e.code, error = %e.message, "re-check batch not read: every message goes back to the queue");
                response.set_failures(event.records.iter().map(id));
                return response;
            }
        };
        let mut checks = Vec::new();
        for (at, m) in event.records.iter().enumerate() {
            match read_message(m, &own, self) {
                Ok(check) => checks.push((at, check)),
                Err(refused) => {
                    // Not acted on, and not dropped quietly: it fails until the dead-letter
                    // queue takes it, and the queue's alarm tells a person.
                    tracing::error!(message_id = %id(m), reason = %refused, "re-check message refused");
                    response.add_failure(id(m));
                }
            }
        }
        // IAM's write rate is per account: a batch that wrote all of an account's roles at once
        // would throttle itself. Each account's looks run at most two at a time (a token
        // bucket's usual burst); accounts run at once.
        let mut by_account: std::collections::BTreeMap<String, Vec<(Vec<usize>, Recheck)>> =
            std::collections::BTreeMap::new();
        for (places, check) in recheck::merge_by_role(checks) {
            by_account
                .entry(check.account.clone())
                .or_default()
                .push((places, check));
        }
        let accounts = by_account.into_values().map(|looks| {
            futures::stream::iter(looks)
                .map(|(places, check)| async move { (places, self.look(&check).await, check) })
                .buffer_unordered(LOOKS_PER_ACCOUNT)
                .collect::<Vec<_>>()
        });
        let done = futures::future::join_all(accounts).await;
        let mut merged = Vec::new();
        for (places, result, check) in done.into_iter().flatten() {
            match result {
                Ok(rewrites) => {
                    tracing::info!(account = %check.account, role = %check.role, look = check.look, messages = places.len(), rewrites, merge = check.merge, "re-checked: the deny holds");
                    if check.merge {
                        merged.push((check, rewrites));
                    }
                }
                Err(e) => {
                    // Throttled (or another transient failure): the look comes back in seconds by
                    // a message of its own, not after the queue's 900 s visibility timeout.
                    if crate::act::is_transient(&e.code) {
                        if let Some(delay) = self.retry_look(&check).await {
                            tracing::warn!(account = %check.account, role = %check.role, look = check.look, retry = check.retry + 1, delay, code = %e.code, "re-check failed for a transient reason: sent again");
                            continue;
                        }
                    }
                    tracing::error!(account = %check.account, role = %check.role, look = check.look, code = %e.code, error = %e.message, "re-check failed: the batch items go back to the queue");
                    for at in places {
                        response.add_failure(id(&event.records[at]));
                    }
                }
            }
        }
        if !merged.is_empty() {
            self.report_merged_writes(&merged).await;
        }
        response
    }

    /// One delayed look: read, merge what a concurrent writer dropped, write; another look
    /// is queued while writers are still racing (it had to rewrite).
    async fn look(&self, check: &Recheck) -> Result<u32, AwsError> {
        let access = self
            .accounts
            .access(&check.account, "recheck")
            .await
            .map_err(|u| {
                u.error
                    .unwrap_or_else(|| AwsError::new("AssumeRole", "Unreachable", u.reason))
            })?;
        let write = check.to_write();
        let w = RolePolicyWrite::from_write(&write).expect("a role policy write");
        let rewrites = reconcile(access.iam.as_ref(), &w).await?;
        // A merged write is a write like any other: its final look follows (even when another
        // merged write had put these sessions in place already, that one's look covers only
        // its own messages).
        if rewrites > 0 || check.merge {
            if !check.merge {
                tracing::warn!(role = %check.role, rewrites, "restored after a concurrent overwrite");
            }
            if let (Some(next), Some(queue)) = (check.next_look(), self.accounts.recheck_queue()) {
                let body = next.to_json();
                if check.merge {
                    // A merged write is a first write: its quick look too, as an invocation's
                    // own write gets (another merged write of the role may be in flight).
                    send_looks(queue.as_ref(), &body, std::time::Duration::ZERO).await?;
                } else {
                    queue.send(&body, Some(RECHECK_DELAY_SECONDS)).await?;
                }
            }
        }
        Ok(rewrites)
    }

    /// Sends `check` again after its retry delay; the delay when sent, `None` when it cannot be
    /// (retries used up, no queue, or the send failed: the batch item then fails).
    async fn retry_look(&self, check: &Recheck) -> Option<i32> {
        let message = check.retry_message()?;
        let delay = recheck::retry_delay_seconds(message.retry);
        let queue = self.accounts.recheck_queue()?;
        match queue.send(&message.to_json(), Some(delay)).await {
            Ok(_) => Some(delay),
            Err(e) => {
                tracing::warn!(account = %check.account, role = %check.role, code = %e.code, "the retry of a re-check could not be sent");
                None
            }
        }
    }

    /// The batch's merged writes are in place: one report on the topic (the findings that joined
    /// them were reported `queued`). A report that cannot be published is logged; the denies
    /// stand and no batch item fails for it (a retry would only write nothing again).
    async fn report_merged_writes(&self, merged: &[(Recheck, u32)]) {
        let (Some(notifier), Some(topic)) = (&self.notifier, &self.config.sns_topic_arn) else {
            return;
        };
        let written: Vec<(&Recheck, u32)> = merged.iter().map(|(c, w)| (c, *w)).collect();
        let publication = recheck::notice::merged_write_publication(&written, topic);
        if let Err(e) = notifier.publish(&publication).await {
            tracing::error!(roles = merged.len(), code = %e.code, error = %e.message, "merged writes' report not published");
        }
    }
}

/// Whether a payload is an SQS event (the re-check queue's), not a finding.
pub fn is_sqs_event(payload: &serde_json::Value) -> bool {
    payload
        .get("Records")
        .and_then(|r| r.as_array())
        .and_then(|r| r.first())
        .and_then(|m| m.get("eventSource"))
        .and_then(|s| s.as_str())
        == Some("aws:sqs")
}

#[cfg(test)]
#[path = "recheck_tests.rs"]
mod tests;
