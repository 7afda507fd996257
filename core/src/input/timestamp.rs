//! Timestamps as findings carry them, in every form GuardDuty has emitted and tools re-emit.
//!
//! Only the `time` crate's own parsers are used: RFC 3339 (with or without fractional
//! seconds, `Z` or `±hh:mm`, `T` or a space), ISO 8601 (which adds offsets without a colon,
//! `+0000`), and one format description for the "space instead of `T`, no zone" form that
//! databases and SIEMs write (read as UTC). A string in none of these forms is unreadable:
//! the caller treats it as absent. `names::parse_utc` stays strict: it reads the cutoffs of
//! the policies this tool writes, not findings.

use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// What the form descriptions say a finding's timestamp may look like (for reports).
pub(super) const EXPECTED: &str =
    "a timestamp (RFC 3339 or ISO 8601, or `YYYY-MM-DD hh:mm:ss` in UTC)";

/// Parses a finding's timestamp string; `None` when it is in no known form.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    let s = s.trim();
    if s.len() > 64 {
        return None;
    }
    // `2026-11-22 03:00:00` and `2026-11-22 03:00:00.250`: no zone, UTC by convention. Only
    // with a space: a `T` without a zone is ISO 8601 local time, and guessing UTC for it could
    // place the activity earlier than it was (and call a finding already covered).
    let space_no_zone = format_description!(
        version = 2,
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(s, space_no_zone)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
}

/// Epoch milliseconds (old findings carry numbers where new ones carry strings).
pub fn from_epoch_millis(ms: f64) -> Option<OffsetDateTime> {
    if !ms.is_finite() {
        return None;
    }
    let nanos = (ms * 1_000_000.0).round();
    if nanos.abs() > 1e30 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp_nanos(nanos as i128).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_form_reads_as_the_same_instant() {
        let t = datetime!(2026-11-22 03:00:00 UTC);
        for s in [
            "2026-11-22T03:00:00Z",
            "2026-11-22T03:00:00.000Z",
            "2026-11-22T03:00:00.000000Z",
            "2026-11-22T03:00:00+00:00",
            "2026-11-22T03:00:00+0000",
            "2026-11-22T03:00:00.000+0000",
            "2026-11-22T05:00:00+02:00",
            "2026-11-22T05:00:00+0200",
            "2026-11-21T22:00:00-05:00",
            "2026-11-21T22:00:00-0500",
            "2026-11-22 03:00:00",
            "2026-11-22 03:00:00Z",
            "2026-11-22t03:00:00z",
            " 2026-11-22T03:00:00Z ",
        ] {
            assert_eq!(parse_timestamp(s), Some(t), "{s}");
        }
    }

    #[test]
    fn fractions_are_kept() {
        let t = datetime!(2026-11-22 03:00:00.25 UTC);
        for s in [
            "2026-11-22T03:00:00.25Z",
            "2026-11-22T03:00:00.250+00:00",
            "2026-11-22T03:00:00.250+0000",
            "2026-11-22 03:00:00.250",
            "2026-11-22 03:00:00.25",
        ] {
            assert_eq!(parse_timestamp(s), Some(t), "{s}");
        }
    }

    #[test]
    fn anything_else_is_unreadable() {
        for s in [
            "",
            "last tuesday",
            "2026-11-22",
            "2026-11-22T03:00:00",
            "22/11/2026 03:00:00",
            "2026-13-22T03:00:00Z",
            "2026-11-22 25:00:00",
            "1700000000000",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s:?}");
        }
        assert_eq!(parse_timestamp(&"2026-11-22T03:00:00Z".repeat(10)), None);
    }

    #[test]
    fn epoch_millis() {
        assert_eq!(
            from_epoch_millis(1_500_000_000_000.0).map(OffsetDateTime::unix_timestamp),
            Some(1_500_000_000)
        );
        assert_eq!(from_epoch_millis(f64::MAX), None);
        assert_eq!(from_epoch_millis(f64::NAN), None);
    }
}
