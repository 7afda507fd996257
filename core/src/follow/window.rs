//! What to look up, where, over which time, and when to look again.
//!
//! - `LookupEvents` covers the last 90 days, is rate-limited to 2 requests per second per account
//!   and region, and returns events minutes after they happen (usually within about 5, sometimes
//!   15): AWS CloudTrail API reference `LookupEvents`, and DESIGN.md.
//! - IAM and STS calls made through the global endpoints are "global service events", recorded
//!   in `us-east-1` (in `us-gov-west-1` for AWS GovCloud (US), in `cn-north-1` for the China
//!   regions): CloudTrail User Guide, "Global service events".

use super::event::is_region;
use time::{Duration, OffsetDateTime};

/// How far before the finding's `eventFirstSeen` the look-up starts: GuardDuty's first-seen is
/// the first activity it scored, not necessarily the key's first use.
pub const LOOKUP_MARGIN: Duration = Duration::minutes(30);
/// With no `eventFirstSeen`, look back as far as the longest-lived minted session
/// (`GetSessionToken` of an IAM user: 36 h).
pub const DEFAULT_LOOKBACK: Duration = Duration::hours(36);
/// `LookupEvents` goes back 90 days.
pub const MAX_LOOKBACK: Duration = Duration::days(90);
/// CloudTrail's worst usual delivery delay: one more look this long after the first.
pub const CLOUDTRAIL_LAG: Duration = Duration::minutes(15);
/// A little on top of the lag, so the second look is not itself at the edge.
pub const RELOOK_SLACK: Duration = Duration::minutes(2);
/// `LookupEvents` requests per second per account and region.
pub const LOOKUP_EVENTS_PER_SECOND: u32 = 2;

/// One look: the time range and the regions to ask, for every followed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// The finding's region (when valid) and the partition's global-events region, no duplicates.
    pub regions: Vec<String>,
    /// Set when the start is a default rather than the finding's `eventFirstSeen`.
    pub note: Option<String>,
}

/// The region global IAM/STS events are recorded in, for the partition of `region`.
pub fn global_events_region(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("us-gov-") => "us-gov-west-1",
        Some(r) if r.starts_with("cn-") => "cn-north-1",
        _ => "us-east-1",
    }
}

/// From the finding's `eventFirstSeen` minus [`LOOKUP_MARGIN`] to `now`, in the finding's
/// region and the global-events region.
pub fn lookup_window(
    event_first_seen: Option<OffsetDateTime>,
    finding_region: Option<&str>,
    now: OffsetDateTime,
) -> LookupWindow {
    let region = finding_region.filter(|r| is_region(r));
    let (start, note) = match event_first_seen {
        Some(first) if first <= now => (first - LOOKUP_MARGIN, None),
        Some(_) => (
            now - LOOKUP_MARGIN,
            Some("eventFirstSeen is in the future: looked from shortly before now".to_string()),
        ),
        None => (
            now - DEFAULT_LOOKBACK,
            Some(
                "the finding has no eventFirstSeen: looked back 36 h (the longest minted session)"
                    .to_string(),
            ),
        ),
    };
    let (start, note) = if start < now - MAX_LOOKBACK {
        (
            now - MAX_LOOKBACK,
            Some("eventFirstSeen is older than CloudTrail's 90 days of event history: looked from 90 days ago".to_string()),
        )
    } else {
        (start, note)
    };
    let mut regions = Vec::new();
    if let Some(r) = region {
        regions.push(r.to_string());
    }
    let global = global_events_region(region);
    if !regions.iter().any(|r| r == global) {
        regions.push(global.to_string());
    }
    LookupWindow {
        start,
        end: now,
        regions,
        note,
    }
}

/// When to look again, and over what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextLook {
    pub at: OffsetDateTime,
    /// The next look reads from the same start to its own `now`.
    pub window_start: OffsetDateTime,
    pub why: String,
}

/// The schedule after a look ending at `window.end`, for a principal contained (its deny's
/// cutoff, or the key's deactivation) at `contained_at`.
///
/// After the containment the stolen credentials are refused, so only events from before it
/// matter, and CloudTrail has delivered all of those [`CLOUDTRAIL_LAG`] after it. So: one more
/// look, the lag plus [`RELOOK_SLACK`] after this one, while this look is still within the lag
/// of the containment; none once it is past. The re-run is the same finding again (idempotent:
/// the deny is already in place), and its own look is past the lag, so it schedules nothing:
/// no marker in the payload decides it, only the cutoff IAM holds.
///
/// Delivery of the re-run is the orchestration's: an EventBridge Scheduler one-time schedule
/// (`at(...)`) fits a 17-minute delay; an SQS delay queue caps `DelaySeconds` at 900 s, exactly
/// the lag, with no slack.
pub fn next_look(window: &LookupWindow, contained_at: OffsetDateTime) -> Option<NextLook> {
    (window.end < contained_at + CLOUDTRAIL_LAG).then(|| NextLook {
        // From the containment, not from this look: every delivery of the same finding (a
        // re-delivered event, Lambda's retry) asks for the same instant, so the same schedule.
        at: contained_at + CLOUDTRAIL_LAG + RELOOK_SLACK,
        window_start: window.start,
        why: "CloudTrail delivers events up to about 15 minutes late: one more look after the lag"
            .to_string(),
    })
}
