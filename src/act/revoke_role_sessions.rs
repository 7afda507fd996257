//! The deny policy on a role: `AWSRevokeOlderSessions` (every token issued before the cutoff)
//! or `SessionRevokerDenyStolenSessions` (only the named sessions' tokens issued before it).
//!
//! Concurrent responders may write the same policy between our write and the next one, so
//! the write is read back and rewritten (cutoffs only move forward) until what is in place
//! holds what this write must leave denied.

use super::{failed, Ctx};
use crate::aws::RolePolicies;
use crate::error::AwsError;
use crate::model::{ActionKind, ActionOutcome, Status, Write};
use crate::names::format_utc;
use crate::policy::{RevocationPolicy, SessionRevocations};
use futures::future::BoxFuture;
use futures::FutureExt;
use time::OffsetDateTime;

/// A role policy write, borrowed from the plan's `Write::PutRolePolicy`.
pub struct RolePolicyWrite<'a> {
    pub role: &'a str,
    pub policy_name: &'static str,
    pub document: &'a str,
    pub cutoff: OffsetDateTime,
    pub previous_cutoff: Option<OffsetDateTime>,
    pub note: Option<&'a str>,
    /// Session scope: the `aws:userid`s that must stay denied (checked on read-back).
    pub sessions: &'a [String],
    /// Session scope: the role-wide write to make if IAM refuses the size.
    pub fallback: Option<&'a Write>,
}

impl<'a> RolePolicyWrite<'a> {
    /// The borrowed form of a `Write::PutRolePolicy`; `None` for any other write.
    pub fn from_write(write: &'a Write) -> Option<Self> {
        match write {
            Write::PutRolePolicy {
                role,
                policy_name,
                document,
                cutoff,
                previous_cutoff,
                note,
                sessions,
                fallback,
            } => Some(Self {
                role,
                policy_name,
                document,
                cutoff: *cutoff,
                previous_cutoff: *previous_cutoff,
                note: note.as_deref(),
                sessions,
                fallback: fallback.as_deref(),
            }),
            _ => None,
        }
    }
}

pub fn run<'a>(
    policies: &'a dyn RolePolicies,
    kind: ActionKind,
    target: &'a str,
    w: RolePolicyWrite<'a>,
    ctx: &'a Ctx,
) -> BoxFuture<'a, ActionOutcome> {
    async move {
        let mut o = ActionOutcome::new(kind, target, Status::Done, String::new());
        o.policy_name = Some(w.policy_name);
        o.cutoff = Some(format_utc(w.cutoff));
        o.previous_cutoff = w.previous_cutoff.map(format_utc);
        let what = format!(
            "{} on role {}: deny tokens issued before {}{}",
            w.policy_name,
            w.role,
            format_utc(w.cutoff),
            w.previous_cutoff
                .map(|p| format!(" (was {})", format_utc(p)))
                .unwrap_or_default()
        );
        let what = match w.note {
            Some(n) => format!("{what}; {n}"),
            None => what,
        };
        if ctx.dry_run {
            o.status = Status::WouldDo;
            o.detail = format!("would write {what}");
            return o;
        }
        match put_verified(policies, &w).await {
            Ok(rewrites) => {
                tracing::info!(role = %w.role, policy = w.policy_name, cutoff = %format_utc(w.cutoff), ms = ctx.elapsed_ms(), "deny in place");
                o.detail = format!("wrote {what}");
                o.facts
                    .insert("deny_in_place_ms", ctx.elapsed_ms().to_string());
                if rewrites > 0 {
                    o.facts
                        .insert("rewrites_after_concurrent_update", rewrites.to_string());
                }
                o
            }
            Err(e) if e.is_code("LimitExceeded") => {
                match w.fallback.and_then(RolePolicyWrite::from_write) {
                    Some(fallback) => {
                        let mut f =
                            run(policies, ActionKind::RevokeRoleSessions, target, fallback, ctx)
                                .await;
                        f.facts
                            .insert("fallback_from", format!("{}: {}", w.policy_name, e.message));
                        f
                    }
                    None => failed(o, e),
                }
            }
            Err(e) => failed(o, e),
        }
    }
    .boxed()
}

/// Most rewrites after concurrent updates before giving up (the invocation then fails and
/// Lambda retries it).
const MAX_REWRITES: u32 = 6;

/// Writes the policy, then reads it back: a concurrent responder may have written an older
/// cutoff (or a session list without ours) in between, or the stolen session may have written
/// a decoy. Returns how many rewrites it took.
async fn put_verified(
    policies: &dyn RolePolicies,
    w: &RolePolicyWrite<'_>,
) -> Result<u32, AwsError> {
    policies
        .put_role_policy(w.role, w.policy_name, w.document)
        .await?;
    reconcile(policies, w).await
}

/// Reads what is in place and, until it holds what this write must leave denied, writes the
/// merged state again (cutoffs only move forward, session lists only grow, so this converges),
/// with jitter between rewrites. `ConcurrentModification` (retryable) when it still does not
/// hold after `MAX_REWRITES`.
///
/// A read-back right after our own write cannot see a writer that read the policy before our
/// write and writes after our read-back: the responder calls this again once the payload is
/// done and a settle interval has passed (see `respond`), which is what catches that case.
pub async fn reconcile(
    policies: &dyn RolePolicies,
    w: &RolePolicyWrite<'_>,
) -> Result<u32, AwsError> {
    let mut rewrites = 0u32;
    // After our own rewrite, a read that shows it is not enough: another writer that read
    // before it may still write. It counts once a later read, after a pause, still shows it.
    let mut confirm = false;
    for round in 0..(2 * MAX_REWRITES + 2) {
        let current = match policies.get_role_policy(w.role, w.policy_name).await {
            Ok(Some(current)) => current,
            Ok(None) => String::new(),
            // The write succeeded; a failed read-back is not a reason to report failure.
            Err(_) => return Ok(rewrites),
        };
        let next = if w.sessions.is_empty() {
            match RevocationPolicy::latest_cutoff(&current) {
                Ok(Some(c)) if c >= w.cutoff => None,
                _ => Some(w.document.to_string()),
            }
        } else {
            // Each named session must keep the cutoff the planned document gives it: a session
            // the plan left at an earlier cutoff (already covered) is not moved forward here,
            // or an honest fresh session of it issued in between would be refused.
            let planned = SessionRevocations::from_document(w.document).unwrap_or_default();
            let wanted = |s: &String| planned.sessions.get(s).copied().unwrap_or(w.cutoff);
            let mut merged = SessionRevocations::from_document(&current).unwrap_or_default();
            if w.sessions
                .iter()
                .all(|s| merged.sessions.get(s).is_some_and(|c| *c >= wanted(s)))
            {
                None
            } else {
                for s in w.sessions {
                    let c = merged.sessions.entry(s.clone()).or_insert(wanted(s));
                    *c = (*c).max(wanted(s));
                }
                Some(merged.to_json())
            }
        };
        let Some(next) = next else {
            if !confirm {
                return Ok(rewrites);
            }
            confirm = false;
            tokio::time::sleep(jitter(round + 4)).await;
            continue;
        };
        if rewrites == MAX_REWRITES {
            break;
        }
        // Concurrent writers that read at the same moment would otherwise keep colliding.
        tokio::time::sleep(jitter(round)).await;
        tracing::warn!(role = %w.role, policy = w.policy_name, rewrites, "policy changed under us: rewriting");
        policies
            .put_role_policy(w.role, w.policy_name, &next)
            .await?;
        rewrites += 1;
        confirm = true;
    }
    Err(AwsError::new(
        "PutRolePolicy",
        "ConcurrentModification",
        format!(
            "{} on {} still did not hold this write after {MAX_REWRITES} rewrites",
            w.policy_name, w.role
        ),
    ))
}

/// 20 ms per round plus 0–60 ms from the clock's sub-second digits (no RNG needed).
fn jitter(attempt: u32) -> std::time::Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let base = 20 * u64::from(attempt + 1);
    std::time::Duration::from_millis(base + u64::from(nanos % 60_000_000) / 1_000_000)
}
