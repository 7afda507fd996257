use super::evaluator::{denies, Request};
use super::*;
use time::macros::datetime;

const CUTOFF: OffsetDateTime = datetime!(2026-11-22 03:00:30 UTC);

#[test]
fn role_policy_is_the_console_shape() {
    let json = RevocationPolicy { cutoff: CUTOFF }.to_json();
    assert_eq!(
        json,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-22T03:00:30Z"}}}]}"#
    );
    assert_eq!(
        RevocationPolicy::latest_cutoff(&json).unwrap(),
        Some(CUTOFF)
    );
}

#[test]
fn role_policy_denies_tokens_issued_before_the_cutoff_only() {
    let json = RevocationPolicy { cutoff: CUTOFF }.to_json();
    let at = |t| Request {
        token_issue_time: Some(t),
        userid: "AROAEXAMPLEROLEID0001:any",
    };
    assert!(denies(&json, &at(CUTOFF - Duration::hours(1))));
    assert!(denies(&json, &at(CUTOFF - Duration::seconds(1))));
    assert!(!denies(&json, &at(CUTOFF)));
    assert!(!denies(&json, &at(CUTOFF + Duration::seconds(1))));
    // Long-term keys carry no aws:TokenIssueTime: the condition cannot match them.
    assert!(!denies(
        &json,
        &Request {
            token_issue_time: None,
            userid: "AIDAEXAMPLE"
        }
    ));
}

#[test]
fn reads_console_written_documents() {
    // The console writes arrays and millisecond timestamps on some versions.
    let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",
        "Condition":{"DateLessThan":{"aws:TokenIssueTime":["2026-11-22T01:00:00.000Z"]}}}}"#;
    assert_eq!(
        RevocationPolicy::latest_cutoff(doc).unwrap(),
        Some(datetime!(2026-11-22 01:00:00 UTC))
    );
    assert!(RevocationPolicy::latest_cutoff("not json").is_err());
}

fn keith_bob_mary() -> (String, String, String) {
    (
        "AROAEXAMPLEROLEID0001:keith".into(),
        "AROAEXAMPLEROLEID0001:bob".into(),
        "AROAEXAMPLEROLEID0001:mary".into(),
    )
}

#[test]
fn session_policy_denies_only_keiths_old_session() {
    let (keith, bob, mary) = keith_bob_mary();
    let mut s = SessionRevocations::default();
    s.merge(
        std::slice::from_ref(&keith),
        CUTOFF,
        None,
        CUTOFF,
        MAX_ROLE_SESSION,
    );
    let json = s.to_json();
    let before = CUTOFF - Duration::minutes(10);
    assert!(denies(
        &json,
        &Request {
            token_issue_time: Some(before),
            userid: &keith
        }
    ));
    assert!(!denies(
        &json,
        &Request {
            token_issue_time: Some(CUTOFF + Duration::seconds(5)),
            userid: &keith
        }
    ));
    assert!(!denies(
        &json,
        &Request {
            token_issue_time: Some(before),
            userid: &bob
        }
    ));
    assert!(!denies(
        &json,
        &Request {
            token_issue_time: Some(before),
            userid: &mary
        }
    ));
}

#[test]
fn hostile_session_names_stay_exact_match_values() {
    for name in [
        "a*",
        "b?c",
        "${aws:userid}",
        "q\"uote",
        "back\\slash",
        "ünï",
        "line\nbreak",
    ] {
        let userid = format!("AROAEXAMPLEROLEID0001:{name}");
        let mut s = SessionRevocations::default();
        s.merge(
            std::slice::from_ref(&userid),
            CUTOFF,
            None,
            CUTOFF,
            MAX_ROLE_SESSION,
        );
        let json = s.to_json();
        let doc: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            doc["Statement"][0]["Condition"]["StringEquals"]["aws:userid"],
            userid.as_str()
        );
        assert!(!json.contains("Like"));
        let other = "AROAEXAMPLEROLEID0001:aXYZ";
        // Policy variables are substituted by IAM: only the judge (tests/policy_judge.rs)
        // can say what such a value denies; the planner never writes one (session names
        // are validated first).
        assert!(
            name.contains("${")
                || !denies(
                    &json,
                    &Request {
                        token_issue_time: Some(CUTOFF - Duration::hours(1)),
                        userid: other
                    }
                )
        );
        // Read back, such a statement is not a revocation of our shape: it is never
        // trusted as "already covered" and is replaced on the next write.
        let read = read_revocations(&json).unwrap();
        assert!(read.statements.is_empty(), "{name:?}: {read:?}");
        assert_eq!(read.foreign.len(), 1, "{name:?}");
    }
}

#[test]
fn only_the_exact_console_shape_is_a_revocation() {
    let exact = RevocationPolicy { cutoff: CUTOFF }.to_json();
    assert_eq!(
        read_revocations(&exact).unwrap().role_wide_cutoff(),
        Some(CUTOFF)
    );
    assert!(read_revocations(&exact).unwrap().is_exact());
    let c = format_utc(CUTOFF);
    let decoys = [
        // A narrow Action.
        format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"ec2:None","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{c}"}}}}}}]}}"#),
        // An extra condition that never matches.
        format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{c}"}},"StringEquals":{{"aws:SourceIp":"192.0.2.1"}}}}}}]}}"#),
        // A policy variable instead of a literal.
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"${aws:CurrentTime}"}}}]}"#.to_string(),
        // NotAction, an Allow, a wildcard userid.
        format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","NotAction":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{c}"}}}}}}]}}"#),
        format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{c}"}}}}}}]}}"#),
        format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{c}"}},"StringLike":{{"aws:userid":"AROAEXAMPLEROLEID0001:*"}}}}}}]}}"#),
        format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":["{c}","{c}"]}}}}}}]}}"#),
    ];
    for d in decoys {
        let read = read_revocations(&d).unwrap();
        assert!(read.statements.is_empty(), "{d}: {read:?}");
        assert!(!read.is_exact(), "{d}");
        assert_eq!(RevocationPolicy::latest_cutoff(&d).unwrap(), None, "{d}");
    }
}

#[test]
fn merge_moves_cutoffs_forward_only_and_prunes_expired() {
    let (keith, bob, _) = keith_bob_mary();
    let old = CUTOFF - Duration::hours(13);
    let mut s = SessionRevocations {
        sessions: BTreeMap::from([(bob.clone(), old), (keith.clone(), CUTOFF)]),
    };
    // An earlier cutoff for Keith never replaces the later one.
    let summary = s.merge(
        std::slice::from_ref(&keith),
        CUTOFF - Duration::minutes(5),
        None,
        CUTOFF,
        MAX_ROLE_SESSION,
    );
    assert_eq!(summary.already_covered, vec![keith.clone()]);
    assert_eq!(summary.pruned, vec![bob.clone()]);
    assert_eq!(s.sessions.get(&keith), Some(&CUTOFF));
    assert!(!s.sessions.contains_key(&bob));
    // A later cutoff moves it forward when the finding saw activity after the old one.
    let later = CUTOFF + Duration::minutes(30);
    let summary = s.merge(
        std::slice::from_ref(&keith),
        later,
        Some(CUTOFF + Duration::minutes(20)),
        later,
        MAX_ROLE_SESSION,
    );
    assert_eq!(summary.moved_forward, vec![keith.clone()]);
    assert_eq!(s.sessions.get(&keith), Some(&later));
    // A repeated delivery whose activity the cutoff already covers writes nothing new.
    let summary = s.merge(
        std::slice::from_ref(&keith),
        later + Duration::minutes(15),
        Some(later - Duration::minutes(1)),
        later,
        MAX_ROLE_SESSION,
    );
    assert_eq!(summary.already_covered, vec![keith]);
}

#[test]
fn size_counts_non_whitespace_characters() {
    assert_eq!(policy_size("{ \"a\" :\n 1 }"), 7);
    let mut s = SessionRevocations::default();
    let ids: Vec<String> = (0..200)
        .map(|i| format!("AROAEXAMPLEROLEID0001:i-{i:017x}"))
        .collect();
    s.merge(&ids, CUTOFF, None, CUTOFF, MAX_ROLE_SESSION);
    assert!(policy_size(&s.to_json()) > INLINE_POLICY_BUDGET);
}
