//! The settle pass: after every finding of the payload is handled and a short interval has
//! passed, each role policy this invocation wrote is read again and, if a concurrent writer
//! (another invocation, or another finding of this payload) replaced it with a state that
//! lacks what this invocation was asked to deny, merged and rewritten.
//!
//! IAM has no conditional write. A writer that read the policy before our write and writes
//! after our immediate read-back erases our sessions without either of us noticing; only a
//! read after that writer's write can. One pass per invocation, after a settle interval longer
//! than a read-to-write gap, catches it; a policy that still does not hold fails the action
//! (`ConcurrentModification`), so the invocation fails and Lambda retries it.

use crate::act::revoke_role_sessions::{reconcile, RolePolicyWrite};
use crate::act::{failed, Ctx};
use crate::aws::Iam;
use crate::model::{ActionOutcome, Status, Write};
use crate::report::IncidentReport;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longer than a concurrent responder's read-to-write gap (one IAM round trip, a few with SDK
/// retries). Measured in the drills: 1.5 s still lost a session among 20 concurrent
/// invocations on a loaded 2-core machine; 2.5 s with a second pass did not.
const SETTLE: Duration = Duration::from_millis(2500);
/// Passes at most: another one follows only while the last one had to rewrite something
/// (evidence that writers are still racing).
const MAX_PASSES: usize = 3;

/// A role policy written by this invocation, to verify once more at the end.
pub struct Written {
    /// The payload item the write belongs to.
    pub item: usize,
    /// The action's position in that item's report.
    pub action: usize,
    pub iam: Arc<dyn Iam>,
    pub write: Write,
}

#[derive(Default)]
pub struct Pending(Mutex<Vec<Written>>);

impl Pending {
    pub fn push(&self, w: Written) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    fn take(&self) -> Vec<Written> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Runs the pass; `reports[item]` is the report of a payload item, when it has one.
pub async fn settle(pending: &Pending, ctx: &Ctx, reports: &mut [Option<IncidentReport>]) {
    let written = pending.take();
    if written.is_empty() {
        return;
    }
    if ctx.budget.remaining().is_some_and(|r| r < SETTLE * 4) {
        tracing::warn!("no time left to settle the policies written");
        return;
    }
    let mut results: Vec<Result<u32, crate::error::AwsError>> = Vec::new();
    for pass in 0..MAX_PASSES {
        tokio::time::sleep(SETTLE).await;
        let mut raced = false;
        let mut this_pass = Vec::with_capacity(written.len());
        for w in &written {
            let result = match RolePolicyWrite::from_write(&w.write) {
                Some(borrowed) => reconcile(w.iam.as_ref(), &borrowed).await,
                None => Ok(0),
            };
            raced |= !matches!(result, Ok(0));
            this_pass.push(result);
        }
        // Rewrites are summed over passes; the last pass decides failure.
        results = if results.is_empty() {
            this_pass
        } else {
            results
                .into_iter()
                .zip(this_pass)
                .map(|(before, now)| match (before, now) {
                    (Ok(a), Ok(b)) => Ok(a + b),
                    (_, now) => now,
                })
                .collect()
        };
        if !raced
            || pass + 1 == MAX_PASSES
            || ctx.budget.remaining().is_some_and(|r| r < SETTLE * 4)
        {
            break;
        }
    }
    for (w, result) in written.iter().zip(results) {
        let role = match &w.write {
            Write::PutRolePolicy { role, .. } => role.as_str(),
            _ => "",
        };
        let Some(report) = reports.get_mut(w.item).and_then(Option::as_mut) else {
            continue;
        };
        let Some(action) = report.actions.get_mut(w.action) else {
            continue;
        };
        match result {
            Ok(0) => {}
            Ok(rewrites) => {
                tracing::warn!(role = %role, rewrites, "restored after a concurrent overwrite");
                action
                    .facts
                    .insert("rewrites_after_settle", rewrites.to_string());
            }
            Err(e) => {
                let mut o: ActionOutcome = action.clone();
                o.status = Status::Done;
                *action = failed(o, e);
                action.at_ms = ctx.elapsed_ms();
                report.refresh_outcome();
            }
        }
    }
}
