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

/// How far before the finding's `eventFirstSeen` sessions and tokens are looked for:
/// GuardDuty's first-seen is the first activity it scored, not the key's first use, and a token
/// minted before it (`GetSessionToken` of an IAM user: up to 36 h; a role session: up to 12 h)
/// may still be live.
pub const SESSION_LOOKBACK: Duration = Duration::hours(36);
/// With no `eventFirstSeen`, the same: as far back as the longest-lived minted session.
pub const DEFAULT_LOOKBACK: Duration = SESSION_LOOKBACK;
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
    /// The finding's region (when valid), the partition's global-events region, then every
    /// other region to read (enabled for the account, or `TRAIL_REGIONS`), no duplicates.
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

/// What a look covers, before the clock is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookback {
    /// `PERSISTENCE_LOOKBACK`: how far before `eventFirstSeen` persistence is looked for.
    pub persistence: Duration,
}

impl Lookback {
    pub fn days(days: u32) -> Self {
        Self {
            persistence: Duration::days(i64::from(days)),
        }
    }

    /// One read serves sessions, tokens and persistence: the longer of the two look-backs.
    fn before_first_seen(&self) -> Duration {
        self.persistence.max(SESSION_LOOKBACK)
    }
}

/// From the finding's `eventFirstSeen` minus the look-back (at least [`SESSION_LOOKBACK`],
/// `PERSISTENCE_LOOKBACK` when longer; at most CloudTrail's 90 days) to `now`, in the finding's
/// region, the global-events region and `other_regions` (invalid names dropped: they come from
/// AWS or the configuration, but never reach a command unchecked).
///
/// STS calls to a regional endpoint are recorded in that region, and the caller picks the
/// endpoint: reading only the finding's region and `us-east-1` would miss an `AssumeRole` made
/// through `sts.ap-southeast-2.amazonaws.com`.
pub fn lookup_window(
    event_first_seen: Option<OffsetDateTime>,
    finding_region: Option<&str>,
    other_regions: &[String],
    lookback: Lookback,
    now: OffsetDateTime,
) -> LookupWindow {
    let region = finding_region.filter(|r| is_region(r));
    let back = lookback.before_first_seen();
    let (start, note) = match event_first_seen {
        Some(first) if first <= now => (first - back, None),
        Some(_) => (
            now - back,
            Some("eventFirstSeen is in the future: looked back from now".to_string()),
        ),
        None => (
            now - back,
            Some(format!(
                "the finding has no eventFirstSeen: looked back {} h from now",
                back.whole_hours()
            )),
        ),
    };
    let (start, note) = if start < now - MAX_LOOKBACK {
        (
            now - MAX_LOOKBACK,
            Some("the look-back reaches past CloudTrail's 90 days of event history: looked from 90 days ago".to_string()),
        )
    } else {
        (start, note)
    };
    let mut regions: Vec<String> = Vec::new();
    let global = global_events_region(region);
    for r in region
        .into_iter()
        .chain([global])
        .chain(other_regions.iter().map(String::as_str))
    {
        if is_region(r) && !regions.iter().any(|x| x == r) {
            regions.push(r.to_string());
        }
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
