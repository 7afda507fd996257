//! When a finding's session deny joins its role's merged write instead of being written by its
//! own invocation (issue 26): a burst at the role is under way.

use crate::policy::SessionRevocations;
use time::{Duration, OffsetDateTime};

/// Sessions in place beyond which a finding no longer joins a merged write: a statement is
/// about 200 characters and a role's inline policies hold 10,240, so about 45 fit.
pub const MERGE_MAX_SESSIONS: usize = 30;

/// How recent a session cutoff in place must be for a burst at the role to be under way.
pub const BURST_WINDOW: Duration = Duration::seconds(60);

/// Whether another responder wrote a session deny on this role moments ago (a cutoff in the
/// session policy in place within [`BURST_WINDOW`] before `now`, or ahead of it by the margin):
/// findings at this role are arriving together, and this finding's deny joins the role's merged
/// write instead of writing on its own. One write per role in a burst instead of one per
/// finding is what keeps IAM's per-account write rate from setting how long the attackers keep
/// their sessions. A cutoff far ahead of `now` is not a responder's (it is replaced, see
/// `plan::cutoff`), so it does not count.
pub fn burst_under_way(session_policy: Option<&str>, now: OffsetDateTime) -> bool {
    let Some(doc) = session_policy else {
        return false;
    };
    let Ok(in_place) = SessionRevocations::from_document(doc) else {
        return false;
    };
    // Near IAM's size limit a write may be refused (`LimitExceeded`), and only the finding's
    // own path decides the role-wide fallback: such a role is written directly.
    if in_place.sessions.len() >= MERGE_MAX_SESSIONS {
        return false;
    }
    let (from, to) = (now - BURST_WINDOW, now + Duration::hours(1));
    in_place.sessions.values().any(|c| *c > from && *c <= to)
}
