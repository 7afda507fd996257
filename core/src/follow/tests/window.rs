//! The look-up window: how far back, which regions, and the one look after CloudTrail's lag.

use super::*;

#[test]
fn lookup_window_and_the_one_relook() {
    let first = datetime!(2026-11-30 08:50:00 UTC);
    let week = Lookback::days(7);
    let w = lookup_window(Some(first), Some("eu-west-1"), &[], week, NOW);
    // Persistence lives forever: a week before the first scored call (PERSISTENCE_LOOKBACK).
    assert_eq!(w.start, datetime!(2026-11-23 08:50:00 UTC));
    assert_eq!(w.end, NOW);
    assert_eq!(w.regions, vec!["eu-west-1", "us-east-1"]);
    assert_eq!(w.note, None);
    // A look-back shorter than the longest token still reads 36 h before eventFirstSeen:
    // an AssumeRole an hour before the first scored call is not missed.
    let short = lookup_window(Some(first), None, &[], Lookback::days(1), NOW);
    assert_eq!(short.start, datetime!(2026-11-28 20:50:00 UTC));

    let w1 = lookup_window(Some(first), Some("us-east-1"), &[], week, NOW);
    assert_eq!(w1.regions, vec!["us-east-1"]);
    let gov = lookup_window(Some(first), Some("us-gov-east-1"), &[], week, NOW);
    assert_eq!(gov.regions, vec!["us-gov-east-1", "us-gov-west-1"]);
    let bad = lookup_window(Some(first), Some("eu-west-1\nx"), &[], week, NOW);
    assert_eq!(bad.regions, vec!["us-east-1"]);
    // Every other region enabled for the account, after the two, once each, names checked.
    let all = lookup_window(
        Some(first),
        Some("eu-west-1"),
        &[
            "ap-southeast-2".to_string(),
            "us-east-1".to_string(),
            "eu-west-1".to_string(),
            "x;rm".to_string(),
        ],
        week,
        NOW,
    );
    assert_eq!(
        all.regions,
        vec!["eu-west-1", "us-east-1", "ap-southeast-2"]
    );

    let none = lookup_window(None, None, &[], Lookback::days(1), NOW);
    assert_eq!(none.start, datetime!(2026-11-28 22:00:00 UTC));
    assert!(none.note.is_some());
    let old = lookup_window(
        Some(datetime!(2026-01-01 00:00:00 UTC)),
        None,
        &[],
        week,
        NOW,
    );
    assert_eq!(old.start, NOW - time::Duration::days(90));
    let ninety = lookup_window(Some(first), None, &[], Lookback::days(90), NOW);
    assert_eq!(ninety.start, NOW - time::Duration::days(90));

    // The first look, right after the deny (cutoff 30 s ahead): one more after the lag.
    let next = next_look(&w, NOW + time::Duration::seconds(30)).expect("one more look");
    assert_eq!(next.at, datetime!(2026-11-30 10:17:30 UTC));
    assert_eq!(next.window_start, w.start);
    // The re-run 17 minutes later finds the deny from then: past the lag, no third look.
    let rerun = lookup_window(Some(first), Some("eu-west-1"), &[], week, next.at);
    assert_eq!(next_look(&rerun, NOW + time::Duration::seconds(30)), None);
    // A deny already in place for hours (a re-delivered finding): nothing more to wait for.
    assert_eq!(next_look(&w, NOW - time::Duration::hours(3)), None);
}
