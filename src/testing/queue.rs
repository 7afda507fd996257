//! The re-check queue in memory: what was sent, in order, with the failures the tests inject
//! (`SendMessage` through [`Faults`]).

use super::Faults;
use crate::aws::sqs::RecheckQueue;
use crate::aws::AwsResult;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::{Arc, Mutex};

/// The `SenderId` SQS records for the responder's own messages in these tests.
pub const OWN_SENDER: &str = "AROARESPONDEREXAMPLE:session-revoker";

#[derive(Debug, Default)]
pub struct MemoryQueue {
    pub faults: Faults,
    sent: Mutex<Vec<String>>,
    /// The delay asked for each message ever sent, in order (not taken).
    delays: Mutex<Vec<Option<i32>>>,
}

impl MemoryQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The bodies sent so far, oldest first; taken (the queue delivers each once).
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The delay asked for each message sent so far, oldest first.
    pub fn delays(&self) -> Vec<Option<i32>> {
        self.delays
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn len(&self) -> usize {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RecheckQueue for MemoryQueue {
    fn send<'a>(
        &'a self,
        body: &'a str,
        delay_seconds: Option<i32>,
    ) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            self.faults.enter("SendMessage").await?;
            self.delays
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(delay_seconds);
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            sent.push(body.to_string());
            Ok(format!("message-{}", sent.len()))
        }
        .boxed()
    }

    fn own_sender_id(&self) -> BoxFuture<'_, AwsResult<String>> {
        futures::future::ready(Ok(OWN_SENDER.to_string())).boxed()
    }
}
