//! The cutoff: the one a revocation written now uses, the one in place that can be trusted,
//! and when a finding is already covered by it.

use crate::config::Config;
use crate::model::{Incident, Step};
use crate::names;
use crate::policy::attribution::{served_in_place, Served, ROLE_WIDE_SID};
use crate::policy::{self, Revocations};
use time::{Duration, OffsetDateTime};

/// The cutoff a revocation written now uses: whole seconds, `CUTOFF_MARGIN_SECONDS` ahead.
pub fn new_cutoff(now: OffsetDateTime, config: &Config) -> OffsetDateTime {
    let t = now + Duration::seconds(config.cutoff_margin_seconds);
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Latest cutoff a revocation may carry ahead of now: the console sets about 30 s, this tool
/// `CUTOFF_MARGIN_SECONDS`. A later one denies every new session too: not a revocation but a
/// lock-out (or a decoy), so it is replaced.
pub const MAX_CUTOFF_AHEAD: Duration = Duration::hours(1);

/// What an existing `AWSRevokeOlderSessions` (role or user) holds that can be trusted.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct InPlace {
    /// The latest role-wide cutoff of exactly the console's shape.
    pub cutoff: Option<OffsetDateTime>,
    /// The document holds something else: it is written anew, whatever its cutoff says.
    pub must_replace: bool,
    pub note: Option<String>,
    /// The incidents the trusted statements serve, from their `Sid`s (see
    /// `policy::attribution`), so a new write keeps naming them.
    pub served: Vec<Served>,
}

/// Reads the role-wide cutoff in place. Only a statement of exactly the console's shape is
/// trusted; anything else under the name (a narrow `Action`, an extra condition, a cutoff
/// far in the future, an unreadable document) is reported and replaced.
pub(super) fn cutoff_in_place(existing: Option<&str>, name: &str, now: OffsetDateTime) -> InPlace {
    let Some(document) = existing else {
        return InPlace::default();
    };
    match policy::read_revocations(document) {
        Err(e) => InPlace {
            cutoff: None,
            must_replace: true,
            note: Some(format!(
                "the existing {name} was unreadable ({e}) and is replaced"
            )),
            served: Vec::new(),
        },
        Ok(read) => trusted(read, name, now),
    }
}

fn trusted(mut read: Revocations, name: &str, now: OffsetDateTime) -> InPlace {
    let horizon = now + MAX_CUTOFF_AHEAD;
    let far: Vec<OffsetDateTime> = read
        .statements
        .iter()
        .filter(|s| s.cutoff > horizon)
        .map(|s| s.cutoff)
        .collect();
    for c in far {
        read.foreign.push(format!(
            "a cutoff {} more than {} min ahead, which would refuse new sessions too",
            names::format_utc(c),
            MAX_CUTOFF_AHEAD.whole_minutes()
        ));
    }
    if read.statements.iter().any(|s| s.userid.is_some()) {
        read.foreign
            .push("a session-scoped statement under the role-wide name".into());
    }
    read.statements
        .retain(|s| s.userid.is_none() && s.cutoff <= horizon);
    let must_replace = !read.is_exact() || read.statements.is_empty();
    let served = read
        .statements
        .iter()
        .flat_map(|s| served_in_place(ROLE_WIDE_SID, s.sid.as_deref(), s.cutoff))
        .collect();
    InPlace {
        cutoff: read.role_wide_cutoff(),
        must_replace,
        served,
        note: (!read.is_exact()).then(|| {
            format!(
                "the policy in place under {name} was not the console's shape ({}) and is replaced",
                read.foreign.join("; ")
            )
        }),
    }
}

/// "Already covered": the cutoff in place is later than the finding's last activity (every
/// token it saw is denied), or later than the cutoff we would write now.
pub(super) fn covered(
    previous: Option<OffsetDateTime>,
    incident: &Incident,
    cutoff: OffsetDateTime,
) -> Option<Step> {
    let previous = previous?;
    if let Some(seen) = incident.event_last_seen.filter(|seen| previous > *seen) {
        return Some(Step::AlreadyCovered {
            cutoff: previous,
            reason: format!(
                "cutoff {} is later than the finding's last activity {}: the tokens it saw are already denied",
                names::format_utc(previous),
                names::format_utc(seen)
            ),
        });
    }
    (previous >= cutoff).then(|| Step::AlreadyCovered {
        cutoff: previous,
        reason: format!(
            "cutoff {} already in place is not earlier than a new one",
            names::format_utc(previous)
        ),
    })
}
