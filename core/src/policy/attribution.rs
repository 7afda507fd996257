//! Which incidents a deny statement serves, carried in the statement's own `Sid`, so that a
//! restore finds what was written for an incident in the account itself, with no state kept
//! anywhere else.
//!
//! A `Sid` is no condition: it changes nothing IAM evaluates, and the exact-shape rule of
//! [`super::read_revocations`] still decides what is a revocation. The console writes no `Sid`;
//! a statement without ours is read as one entry of unknown origin at its own cutoff.
//!
//! Grammar (IAM allows only `[A-Za-z0-9]` in a `Sid`): a prefix (`SessionRevoker` for the
//! role-wide statement, `StolenSession<n>` for a per-session one) followed by entries, each
//! `F<12 hex>T<YYYYMMDDhhmmss>` (an incident: the first 12 hex digits of the SHA-256 of its
//! finding id, and the cutoff written for it) or `UT<YYYYMMDDhhmmss>` (a cutoff of unknown
//! origin: the console's, a manual revoke without a finding id). A statement's cutoff is the
//! latest of its entries'; a restore removes one entry and lowers the cutoff to the latest of
//! those left, or removes the statement when none is left.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// Prefix of the role-wide statement's `Sid` (in `AWSRevokeOlderSessions` of a role or user).
pub const ROLE_WIDE_SID: &str = "SessionRevoker";
/// Prefix of a per-session statement's `Sid`, followed by its index.
pub const SESSION_SID: &str = "StolenSession";
/// Most entries one statement carries. Beyond that the earliest are dropped: the deny stays as
/// it is (its cutoff is the latest entry's), only a restore can no longer name them (safe side).
pub const MAX_ENTRIES: usize = 10;

/// The 12-hex-digit tag of a finding id (SHA-256, first 6 bytes): a fixed alphabet whatever the
/// finding id holds, and long enough that two incidents on one principal do not collide.
pub fn finding_tag(finding_id: &str) -> String {
    let digest = Sha256::digest(finding_id.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// One incident a statement serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Served {
    /// `None`: a cutoff of unknown origin (the console's, a manual revoke).
    pub tag: Option<String>,
    pub cutoff: OffsetDateTime,
}

impl Served {
    pub fn incident(finding_id: Option<&str>, cutoff: OffsetDateTime) -> Self {
        Self {
            tag: finding_id.map(finding_tag),
            cutoff: whole_seconds(cutoff),
        }
    }

    fn encode(&self) -> String {
        let t = whole_seconds(self.cutoff);
        let stamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        match &self.tag {
            Some(tag) => format!("F{tag}T{stamp}"),
            None => format!("UT{stamp}"),
        }
    }
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The `Sid` for a statement with this prefix serving these entries (`None` when it serves
/// none we can name: the statement is then written as the console writes it).
pub fn encode_sid(prefix: &str, served: &[Served]) -> Option<String> {
    // Nothing named, or one cutoff of unknown origin (the statement's own cutoff says as much):
    // the console's shape, no `Sid`.
    if served.iter().all(|s| s.tag.is_none()) && served.len() <= 1 {
        return None;
    }
    let mut sid = prefix.to_string();
    for s in served {
        sid.push_str(&s.encode());
    }
    Some(sid)
}

/// The entries a `Sid` names after `prefix` (and, for the per-session prefix, its index), or
/// `None` when the `Sid` is not ours or does not parse: such a statement is of unknown origin.
pub fn decode_sid(prefix: &str, sid: &str) -> Option<Vec<Served>> {
    let mut rest = sid.strip_prefix(prefix)?;
    if prefix == SESSION_SID {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (tag, after) = if let Some(r) = rest.strip_prefix('F') {
            let tag = r.get(..12)?;
            if !tag
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return None;
            }
            (Some(tag.to_string()), &r[12..])
        } else if let Some(r) = rest.strip_prefix('U') {
            (None, r)
        } else {
            return None;
        };
        let stamp = after.strip_prefix('T')?.get(..14)?;
        out.push(Served {
            tag,
            cutoff: parse_stamp(stamp)?,
        });
        rest = &after[15..];
    }
    (!out.is_empty()).then_some(out)
}

fn parse_stamp(s: &str) -> Option<OffsetDateTime> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        n(0..4)? as i32,
        time::Month::try_from(n(4..6)? as u8).ok()?,
        n(6..8)? as u8,
    )
    .ok()?;
    let clock = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8).ok()?;
    Some(date.with_time(clock).assume_utc())
}

/// What a statement already in place serves, read for a new write: its own entries when its
/// `Sid` is ours and agrees with its cutoff, else one entry of unknown origin at its cutoff.
pub fn served_in_place(prefix: &str, sid: Option<&str>, cutoff: OffsetDateTime) -> Vec<Served> {
    match sid.and_then(|s| decode_sid(prefix, s)) {
        Some(entries) if entries.iter().map(|e| e.cutoff).max() == Some(whole_seconds(cutoff)) => {
            entries
        }
        _ => vec![Served {
            tag: None,
            cutoff: whole_seconds(cutoff),
        }],
    }
}

/// Adds `new` to `entries` (replacing an entry of the same incident), drops those older than
/// `now - max_session` (they match no live token) and keeps the latest [`MAX_ENTRIES`].
pub fn add_served(
    mut entries: Vec<Served>,
    new: Served,
    now: OffsetDateTime,
    max_session: Duration,
) -> Vec<Served> {
    let horizon = now - max_session;
    entries.retain(|e| e.cutoff >= horizon && (new.tag.is_none() || e.tag != new.tag));
    entries.push(new);
    entries.sort_by(|a, b| a.cutoff.cmp(&b.cutoff).then(a.tag.cmp(&b.tag)));
    entries.dedup();
    if entries.len() > MAX_ENTRIES {
        entries.drain(..entries.len() - MAX_ENTRIES);
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const C1: OffsetDateTime = datetime!(2026-11-22 03:00:30 UTC);
    const C2: OffsetDateTime = datetime!(2026-11-22 05:10:00 UTC);

    #[test]
    fn tags_are_12_hex_digits_and_differ_per_finding() {
        let a = finding_tag("4ac2b8a0e0c1d5f6a7b8c9d0e1f2a3b4");
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, finding_tag("4ac2b8a0e0c1d5f6a7b8c9d0e1f2a3b5"));
        // Anything at all in a finding id becomes hex: nothing of it reaches the Sid.
        assert!(finding_tag("${aws:username}*\"")
            .bytes()
            .all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn sids_round_trip() {
        let served = vec![
            Served::incident(None, C1),
            Served::incident(Some("f-1"), C2),
        ];
        let sid = encode_sid(ROLE_WIDE_SID, &served).unwrap();
        assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric()), "{sid}");
        assert_eq!(
            sid,
            format!(
                "SessionRevokerUT20261122030030F{}T20261122051000",
                finding_tag("f-1")
            )
        );
        assert_eq!(decode_sid(ROLE_WIDE_SID, &sid), Some(served.clone()));
        let session = encode_sid(&format!("{SESSION_SID}12"), &served).unwrap();
        assert_eq!(decode_sid(SESSION_SID, &session), Some(served));
        assert_eq!(encode_sid(ROLE_WIDE_SID, &[]), None);
        assert_eq!(
            encode_sid(ROLE_WIDE_SID, &[Served::incident(None, C1)]),
            None
        );
    }

    #[test]
    fn foreign_or_malformed_sids_are_not_ours() {
        for sid in [
            "SessionRevoker",
            "SessionRevokerX",
            "SessionRevokerFabcT20261122030030",
            "SessionRevokerFABCDEF012345T20261122030030",
            "SessionRevokerUT2026112203003",
            "SessionRevokerUT20261322030030",
            "SessionRevokerUT20261122030030Z",
            "ReadBilling",
        ] {
            assert_eq!(decode_sid(ROLE_WIDE_SID, sid), None, "{sid}");
        }
        assert_eq!(decode_sid(SESSION_SID, "StolenSession1"), None);
    }

    #[test]
    fn in_place_entries_must_agree_with_the_cutoff() {
        let sid = encode_sid(ROLE_WIDE_SID, &[Served::incident(Some("f-1"), C1)]).unwrap();
        assert_eq!(
            served_in_place(ROLE_WIDE_SID, Some(&sid), C1),
            vec![Served::incident(Some("f-1"), C1)]
        );
        // Someone moved the cutoff: the entry no longer says what the statement does.
        assert_eq!(
            served_in_place(ROLE_WIDE_SID, Some(&sid), C2),
            vec![Served::incident(None, C2)]
        );
        // The console's statement: unknown origin.
        assert_eq!(
            served_in_place(ROLE_WIDE_SID, None, C1),
            vec![Served::incident(None, C1)]
        );
    }

    #[test]
    fn adding_replaces_the_same_incident_prunes_and_caps() {
        let now = C2;
        let old = Served::incident(Some("old"), C2 - Duration::hours(13));
        let a = Served::incident(Some("a"), C1);
        let merged = add_served(
            vec![old, a.clone()],
            Served::incident(Some("b"), C2),
            now,
            Duration::hours(12),
        );
        assert_eq!(merged, vec![a.clone(), Served::incident(Some("b"), C2)]);
        // The same incident again: one entry, the new cutoff.
        let again = add_served(
            merged,
            Served::incident(Some("a"), C2),
            now,
            Duration::hours(12),
        );
        assert_eq!(again.len(), 2);
        assert!(
            again.contains(&Served::incident(Some("a"), C2)),
            "{again:?}"
        );
        assert!(
            again.contains(&Served::incident(Some("b"), C2)),
            "{again:?}"
        );
        let mut many = Vec::new();
        for i in 0..15 {
            many = add_served(
                many,
                Served::incident(Some(&format!("f{i}")), C1 + Duration::minutes(i)),
                now,
                Duration::hours(12),
            );
        }
        assert_eq!(many.len(), MAX_ENTRIES);
        assert_eq!(many[0].cutoff, C1 + Duration::minutes(5));
    }
}
