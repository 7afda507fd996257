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

use crate::act::revoke_identity_center::{reconcile_once, Wanted};
use crate::act::revoke_role_sessions::{reconcile, RolePolicyWrite};
use crate::act::{failed, Ctx};
use crate::aws::sso_admin::PermissionSets;
use crate::aws::Iam;
use crate::model::{ActionOutcome, Write};
use crate::plan::identity_center::PermissionSetTarget;
use crate::report::IncidentReport;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longer than a concurrent responder's read-to-write gap (one IAM round trip, a few with SDK
/// retries). Measured in the drills: 1.5 s still lost a session among 20 concurrent
/// invocations on a loaded 2-core machine; 2.5 s with a second pass did not.
const SETTLE: Duration = Duration::from_millis(2500);
/// The longest settle interval: under heavy IAM throttling a writer's read-to-write gap grows
/// with the SDK's backoff (up to 5 s per retry); beyond this the invocation's time is better
/// spent failing for a Lambda retry.
const MAX_SETTLE: Duration = Duration::from_secs(15);

/// The interval before a pass: [`SETTLE`], or twice the longest read-to-write gap of this
/// invocation's own writes when IAM was slow (throttled, retried): a concurrent writer under
/// the same conditions has a gap like ours, and a pass sooner than its write misses it. `make
/// bench`'s burst at 1 IAM write/s per account lost 1 of 1,000 sessions in some runs with a
/// fixed 2.5 s.
pub fn interval_for(longest_gap: Duration) -> Duration {
    (longest_gap * 2).clamp(SETTLE, MAX_SETTLE)
}

/// The least time the settle pass needs (its interval and up to three passes): work that runs
/// before it (the follow-up) leaves this much of the invocation for it.
pub const RESERVE: Duration = Duration::from_millis(2500 * 4);

/// The error code of a written deny the settle pass had no time to read again (retryable).
pub const UNVERIFIED: &str = "Unverified";

/// Passes at most: another one follows only while the last one had to rewrite something
/// (evidence that writers are still racing).
const MAX_PASSES: usize = 3;

/// A role policy written by this invocation, to verify once more at the end.
pub struct Written {
    /// The payload item the write belongs to.
    pub item: usize,
    /// The account of the role, and the finding, for the re-check queue's message.
    pub account: String,
    pub finding_id: Option<String>,
    /// The action's position in that item's report.
    pub action: usize,
    pub iam: Arc<dyn Iam>,
    pub write: Write,
    /// From this invocation's first read of the role to this write: its read-to-write gap.
    pub took: Duration,
}

/// An IAM Identity Center permission set this invocation wrote our deny into: one stolen user
/// active in several accounts gives concurrent read-modify-writes of one permission set, so it
/// is looked at again like a role policy.
pub struct WrittenPermissionSet {
    pub item: usize,
    pub action: usize,
    pub sets: Arc<dyn PermissionSets>,
    pub target: PermissionSetTarget,
    pub permission_set_arn: String,
    pub wanted: Wanted,
    pub now: time::OffsetDateTime,
}

/// Per (account, role): the turn of the payload's findings at it.
type RoleTurns = Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;

/// What one payload wrote (to look at again), and whose turn it is at each role.
#[derive(Default)]
pub struct Pending(
    Mutex<Vec<Written>>,
    Mutex<Vec<WrittenPermissionSet>>,
    RoleTurns,
);

impl Pending {
    /// One finding of the payload at a time reads and writes a given role: the next one reads
    /// what the last one wrote (a role-wide deny already in place is `already_covered`, no
    /// second write; a session statement is merged into the document in place), instead of two
    /// concurrent writes to one policy that the read-back must then merge.
    pub async fn role_turn(&self, account: &str, role: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let turn = self
            .2
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((account.to_string(), role.to_string()))
            .or_default()
            .clone();
        turn.lock_owned().await
    }

    pub fn push(&self, w: Written) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    /// The role policies written so far, taken (for the re-check queue; what it cannot take
    /// is pushed back and looked at in the invocation).
    pub fn take_roles(&self) -> Vec<Written> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn push_permission_set(&self, w: WrittenPermissionSet) {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    fn take(&self) -> Vec<Recheck> {
        let roles = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let sets = std::mem::take(&mut *self.1.lock().unwrap_or_else(|e| e.into_inner()));
        roles
            .into_iter()
            .map(Recheck::Role)
            .chain(sets.into_iter().map(Recheck::PermissionSet))
            .collect()
    }
}

/// One write to look at again.
enum Recheck {
    Role(Written),
    PermissionSet(WrittenPermissionSet),
}

impl Recheck {
    fn place(&self) -> (usize, usize) {
        match self {
            Recheck::Role(w) => (w.item, w.action),
            Recheck::PermissionSet(w) => (w.item, w.action),
        }
    }

    fn took(&self) -> Duration {
        match self {
            Recheck::Role(w) => w.took,
            Recheck::PermissionSet(_) => Duration::ZERO,
        }
    }

    fn name(&self) -> &str {
        match self {
            Recheck::Role(w) => match &w.write {
                Write::PutRolePolicy { role, .. } => role.as_str(),
                _ => "",
            },
            Recheck::PermissionSet(w) => w.target.permission_set.as_str(),
        }
    }

    /// Reads the write's target again and restores what a concurrent writer dropped.
    async fn reconcile(&self) -> Result<u32, crate::error::AwsError> {
        match self {
            Recheck::Role(w) => match RolePolicyWrite::from_write(&w.write) {
                Some(borrowed) => reconcile(w.iam.as_ref(), &borrowed).await,
                None => Ok(0),
            },
            Recheck::PermissionSet(w) => {
                reconcile_once(
                    w.sets.as_ref(),
                    &w.target,
                    &w.permission_set_arn,
                    &w.wanted,
                    w.now,
                )
                .await
            }
        }
    }
}

/// Runs the pass; `reports[item]` is the report of a payload item, when it has one.
pub async fn settle(pending: &Pending, ctx: &Ctx, reports: &mut [Option<IncidentReport>]) {
    let written = pending.take();
    if written.is_empty() {
        return;
    }
    // Never so long that the passes do not fit the invocation's time: shorter, down to SETTLE.
    let longest = written.iter().map(Recheck::took).max().unwrap_or_default();
    let interval = match ctx.budget.remaining() {
        Some(r) => interval_for(longest).min(r / 4).max(SETTLE),
        None => interval_for(longest),
    };
    if ctx.budget.remaining().is_some_and(|r| r < interval * 4) {
        // Never silently: a deny that was not read again after the settle interval may have
        // been erased by a concurrent writer. Unverified is not contained; the invocation
        // fails (retryable) and Lambda's retry finds the deny in place and settles it.
        tracing::warn!(
            written = written.len(),
            "no time left to settle the policies written: marked unverified"
        );
        for w in &written {
            let (item, at) = w.place();
            let Some(report) = reports.get_mut(item).and_then(Option::as_mut) else {
                continue;
            };
            let Some(action) = report.actions.get_mut(at) else {
                continue;
            };
            let o = action.clone();
            *action = failed(
                o,
                crate::error::AwsError::new(
                    "SettlePass",
                    UNVERIFIED,
                    "the deny was written and read back once, but the invocation's time ran out before the settle pass could read it again: a concurrent writer may have erased it; the retry verifies it",
                ),
            );
            action.facts.insert("unverified", "true".into());
            action.at_ms = ctx.elapsed_ms();
            report.refresh_outcome();
        }
        return;
    }
    if interval > SETTLE {
        tracing::info!(
            interval_ms = interval.as_millis() as u64,
            "IAM was slow: a longer settle interval"
        );
    }
    let mut results: Vec<Result<u32, crate::error::AwsError>> = Vec::new();
    for pass in 0..MAX_PASSES {
        tokio::time::sleep(interval).await;
        let mut raced = false;
        let mut this_pass = Vec::with_capacity(written.len());
        for w in &written {
            let result = w.reconcile().await;
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
            || ctx.budget.remaining().is_some_and(|r| r < interval * 4)
        {
            break;
        }
    }
    for (w, result) in written.iter().zip(results) {
        let role = w.name();
        let (item, at) = w.place();
        let Some(report) = reports.get_mut(item).and_then(Option::as_mut) else {
            continue;
        };
        let Some(action) = report.actions.get_mut(at) else {
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
                let o: ActionOutcome = action.clone();
                *action = failed(o, e);
                action.at_ms = ctx.elapsed_ms();
                report.refresh_outcome();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryAccount;

    fn written(took_ms: u64) -> Written {
        Written {
            item: 0,
            account: "123456789012".into(),
            finding_id: None,
            action: 0,
            iam: MemoryAccount::new("123456789012"),
            write: Write::DeactivateAccessKey {
                user: "u".into(),
                access_key_id: "AKIAEXAMPLEEXAMPLE01".into(),
            },
            took: Duration::from_millis(took_ms),
        }
    }

    #[test]
    fn the_settle_interval_outlasts_twice_the_slowest_write_within_bounds() {
        let longest =
            |ws: &[Written]| interval_for(ws.iter().map(|w| w.took).max().unwrap_or_default());
        assert_eq!(longest(&[]), SETTLE);
        assert_eq!(longest(&[written(40), written(300)]), SETTLE);
        assert_eq!(
            longest(&[written(40), written(4_000)]),
            Duration::from_secs(8)
        );
        assert_eq!(longest(&[written(30_000)]), MAX_SETTLE);
    }
}
