use super::*;
use std::collections::HashMap;
use time::macros::datetime;

const ROLE_ID: &str = "AROAEXAMPLEEXAMPLE01";
const SENT: OffsetDateTime = datetime!(2026-12-06 03:00:00 UTC);

fn config(extra: &[(&str, &str)]) -> Config {
    let vars: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_vars(&vars).unwrap()
}

fn sessions_write(sessions: &[(&str, OffsetDateTime)]) -> Write {
    let map: BTreeMap<String, OffsetDateTime> = sessions
        .iter()
        .map(|(s, c)| (format!("{ROLE_ID}:{s}"), *c))
        .collect();
    Write::PutRolePolicy {
        role: "app".into(),
        policy_name: SESSION_POLICY_NAME,
        document: SessionRevocations {
            sessions: map.clone(),
        }
        .to_json(),
        cutoff: SENT + Duration::seconds(30),
        previous_cutoff: None,
        note: None,
        sessions: map.keys().cloned().collect(),
        fallback: None,
    }
}

fn role_wide(cutoff: OffsetDateTime) -> Write {
    Write::PutRolePolicy {
        role: "app".into(),
        policy_name: ROLE_POLICY_NAME,
        document: RevocationPolicy { cutoff }.to_json(),
        cutoff,
        previous_cutoff: None,
        note: None,
        sessions: Vec::new(),
        fallback: None,
    }
}

#[test]
fn a_written_deny_round_trips_through_the_message() {
    let cutoff = SENT + Duration::seconds(30);
    let m = RecheckMessage::for_write("210987654321", &role_wide(cutoff), Some("abc123")).unwrap();
    let back = read(&m.to_json(), &config(&[]), SENT).unwrap();
    assert_eq!(back.policy, PolicyKind::RoleWide);
    assert_eq!(back.cutoff, cutoff);
    assert_eq!(back.to_write(), role_wide(cutoff));

    // Sessions keep their own cutoffs (an earlier one in place is not moved forward).
    let early = SENT - Duration::hours(1);
    let w = sessions_write(&[
        ("i-0123456789abcdef0", SENT + Duration::seconds(30)),
        ("etl-01", early),
    ]);
    let m = RecheckMessage::for_write("210987654321", &w, None).unwrap();
    let back = read(&m.to_json(), &config(&[]), SENT).unwrap();
    assert_eq!(back.sessions[&format!("{ROLE_ID}:etl-01")], early);
    assert_eq!(back.to_write(), w);
}

#[test]
fn only_role_policy_writes_of_our_two_names_make_a_message() {
    let mut w = role_wide(SENT);
    if let Write::PutRolePolicy { policy_name, .. } = &mut w {
        *policy_name = "SomethingElse";
    }
    assert!(RecheckMessage::for_write("210987654321", &w, None).is_none());
    let key = Write::DeactivateAccessKey {
        user: "u".into(),
        access_key_id: "AKIAEXAMPLEEXAMPLE01".into(),
    };
    assert!(RecheckMessage::for_write("210987654321", &key, None).is_none());
    // A finding id that is not plain alphanumerics is left out, not carried.
    let m = RecheckMessage::for_write("210987654321", &role_wide(SENT), Some("a\"b")).unwrap();
    assert_eq!(m.finding_id, None);
}

fn message(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let w = sessions_write(&[("etl-01", SENT + Duration::seconds(30))]);
    let mut v =
        serde_json::to_value(RecheckMessage::for_write("210987654321", &w, None).unwrap()).unwrap();
    edit(&mut v);
    v.to_string()
}

#[test]
fn a_forged_message_cannot_ask_for_more_than_this_function_writes() {
    let c = config(&[
        ("PROTECTED_ROLES", "break-glass*"),
        ("ALLOWED_ACCOUNTS", "210987654321"),
    ]);
    let refused = |body: String| read(&body, &c, SENT).unwrap_err();
    assert!(read(&message(|_| {}), &c, SENT).is_ok());
    // A cutoff in the future would refuse the role's fresh, honest sessions.
    assert_eq!(
        refused(message(|v| v["cutoff"] = "2027-01-01T00:00:00Z".into())),
        Refused::FutureCutoff
    );
    assert_eq!(
        refused(message(
            |v| v["sessions"][0]["cutoff"] = "2027-01-01T00:00:00Z".into()
        )),
        Refused::FutureCutoff
    );
    // A policy variable or wildcard in a session, or a user id, never reaches a policy.
    for bad in [
        format!("{ROLE_ID}:${{aws:username}}"),
        "*".into(),
        "AIDAEXAMPLEEXAMPLE01".into(),
    ] {
        assert_eq!(
            refused(message(|v| v["sessions"][0]["userid"] = bad.clone().into())),
            Refused::Session(bad)
        );
    }
    assert_eq!(
        refused(message(|v| v["role"] = "break-glass-admin".into())),
        Refused::Protected("break-glass-admin".into())
    );
    assert_eq!(
        refused(message(|v| v["role"] = "a/b".into())),
        Refused::Role
    );
    assert_eq!(
        refused(message(|v| v["account"] = "123456789012".into())),
        Refused::NotAllowed("123456789012".into())
    );
    assert_eq!(
        refused(message(|v| v["account"] = "1234".into())),
        Refused::Account
    );
    // Another policy name, an unknown field, another version: unreadable or refused.
    assert!(matches!(
        refused(message(|v| v["policy"] = "AdministratorAccess".into())),
        Refused::Unreadable(_)
    ));
    assert!(matches!(
        refused(message(|v| v["document"] = "{}".into())),
        Refused::Unreadable(_)
    ));
    assert_eq!(
        refused(message(|v| v["version"] = 2.into())),
        Refused::Version(2)
    );
    assert_eq!(
        refused(message(|v| v["policy"] = "role_wide".into())),
        Refused::Shape
    );
    assert_eq!(
        refused(message(|v| v["sessions"] = serde_json::json!([]))),
        Refused::Shape
    );
    assert_eq!(
        refused(message(|v| v["cutoff"] = "2026-12-01T00:00:00Z".into())),
        Refused::Stale
    );
}

#[test]
fn messages_for_the_same_role_policy_become_one_look() {
    let c = config(&[]);
    let a = sessions_write(&[("etl-01", SENT)]);
    let b = sessions_write(&[("etl-02", SENT + Duration::seconds(10))]);
    let mut other = role_wide(SENT);
    if let Write::PutRolePolicy { role, .. } = &mut other {
        *role = "other".into();
    }
    let checks: Vec<(usize, Recheck)> = [a, other, b]
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let m = RecheckMessage::for_write("210987654321", w, None).unwrap();
            (i, read(&m.to_json(), &c, SENT).unwrap())
        })
        .collect();
    let merged = merge_by_role(checks);
    assert_eq!(merged.len(), 2);
    let (places, app) = merged.iter().find(|(_, r)| r.role == "app").unwrap();
    assert_eq!(places, &vec![0, 2]);
    assert_eq!(app.sessions.len(), 2);
    assert_eq!(app.cutoff, SENT + Duration::seconds(10));
}

#[test]
fn a_burst_is_a_session_cutoff_written_within_the_window() {
    let doc = |cutoff: OffsetDateTime| {
        SessionRevocations {
            sessions: [(format!("{ROLE_ID}:i-1"), cutoff)].into_iter().collect(),
        }
        .to_json()
    };
    let now = SENT;
    // A responder's write moments ago (its cutoff is the write time plus the margin).
    assert!(burst_under_way(
        Some(&doc(now + Duration::seconds(30))),
        now
    ));
    assert!(burst_under_way(
        Some(&doc(now - Duration::seconds(59))),
        now
    ));
    // Older than the window: an earlier incident, this finding is written on its own.
    assert!(!burst_under_way(Some(&doc(now - BURST_WINDOW)), now));
    // Far ahead: not a responder's (a lock-out or decoy, replaced by the planner).
    assert!(!burst_under_way(Some(&doc(now + Duration::hours(2))), now));
    // Near the size limit: written directly (its own path may fall back to role-wide).
    let full = SessionRevocations {
        sessions: (0..MERGE_MAX_SESSIONS)
            .map(|i| (format!("{ROLE_ID}:i-{i}"), now))
            .collect(),
    }
    .to_json();
    assert!(!burst_under_way(Some(&full), now));
    // Nothing in place, or something unreadable: no burst.
    assert!(!burst_under_way(None, now));
    assert!(!burst_under_way(Some("{\"Version\":"), now));
}

#[test]
fn only_a_session_deny_joins_a_merged_write_and_the_join_travels_with_its_finding() {
    let write = sessions_write(&[("i-1", SENT + Duration::seconds(30))]);
    let m = RecheckMessage::joining("123456789012", &write, Some("abc123")).unwrap();
    assert!(m.merge);
    let read = read(&m.to_json(), &config(&[]), SENT).unwrap();
    assert!(read.merge);
    assert_eq!(read.findings, ["abc123"]);
    // A role-wide deny is written at once (the next finding is then already covered).
    assert!(RecheckMessage::joining("123456789012", &role_wide(SENT), None).is_none());
    // An ordinary look does not say merge at all (the format of earlier messages holds).
    let look = RecheckMessage::for_write("123456789012", &write, Some("abc123")).unwrap();
    assert!(!look.to_json().contains("merge"));
    let read = super::read(&look.to_json(), &config(&[]), SENT).unwrap();
    assert!(!read.merge && read.findings.is_empty());
    // Merged with an ordinary look of the same role: one look, still a merged write.
    let merged = merge_by_role(vec![
        (0, read),
        (1, super::read(&m.to_json(), &config(&[]), SENT).unwrap()),
    ]);
    assert_eq!(merged.len(), 1);
    assert!(merged[0].1.merge);
    assert_eq!(merged[0].1.findings, ["abc123"]);
}

#[test]
fn a_look_sent_again_waits_a_little_longer_each_time_and_keeps_what_it_carries() {
    let delays: Vec<i32> = (1..=MAX_RETRIES).map(retry_delay_seconds).collect();
    assert_eq!(delays, [2, 4, 8, 16, 20]);
    let write = sessions_write(&[("i-1", SENT + Duration::seconds(30))]);
    let m = RecheckMessage::joining("123456789012", &write, Some("abc123")).unwrap();
    let mut check = read(&m.to_json(), &config(&[]), SENT).unwrap();
    for retry in 1..=MAX_RETRIES {
        let again = check.retry_message().unwrap();
        assert_eq!((again.retry, again.look, again.merge), (retry, 0, true));
        check = read(&again.to_json(), &config(&[]), SENT).unwrap();
        assert_eq!(check.findings, ["abc123"]);
        assert_eq!(check.sessions.len(), 1);
    }
    assert!(check.retry_message().is_none(), "then the batch item fails");
    // Forged counts or finding ids are refused.
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    v["retry"] = (MAX_RETRIES + 1).into();
    assert_eq!(
        read(&v.to_string(), &config(&[]), SENT),
        Err(Refused::Retries(MAX_RETRIES + 1))
    );
    v["retry"] = 1.into();
    v["findings"] = serde_json::json!(["ok", "not ok"]);
    assert_eq!(
        read(&v.to_string(), &config(&[]), SENT),
        Err(Refused::Findings)
    );
}

#[test]
fn one_report_names_every_merged_write_of_a_batch_and_its_findings() {
    let check = |role: &str, sessions: &[&str], finding: &str| {
        let map: BTreeMap<String, OffsetDateTime> = sessions
            .iter()
            .map(|s| (format!("{ROLE_ID}:{s}"), SENT))
            .collect();
        let mut m = RecheckMessage::joining(
            "123456789012",
            &sessions_write(&sessions.iter().map(|s| (*s, SENT)).collect::<Vec<_>>()),
            Some(finding),
        )
        .unwrap();
        m.role = role.into();
        let mut c = read(&m.to_json(), &config(&[]), SENT).unwrap();
        c.sessions = map;
        c
    };
    let (a, b) = (
        check("app", &["i-1", "i-2"], "fa"),
        check("web", &["i-3"], "fb"),
    );
    let p = notice::merged_write_publication(
        &[(&a, 1), (&b, 1)],
        "arn:aws:sns:us-east-1:123456789012:t",
    );
    assert_eq!(
        p.subject,
        "[session-revoker] REVOKED: 3 session(s) of 2 roles denied by merged writes"
    );
    let body: serde_json::Value = serde_json::from_str(&p.message).unwrap();
    let json: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(json["kind"], "merged_write");
    assert_eq!(json["merged_writes"][0]["findings"][0], "fa");
    assert_eq!(json["merged_writes"][1]["role"], "web");
    assert!(body["default"]
        .as_str()
        .unwrap()
        .contains("now contained: fb"));
    assert!(p
        .attributes
        .contains(&("outcome".to_string(), "revoked".to_string())));
    // One write: the role is named in the subject.
    let one = notice::merged_write_publication(&[(&b, 1)], "arn:aws:sns:us-east-1:123456789012:t");
    assert!(one
        .subject
        .contains("1 session(s) of role web in 123456789012"));
}

#[test]
fn a_merged_write_report_too_large_for_sns_still_names_every_role_and_finding() {
    let write = sessions_write(&[("i-1", SENT)]);
    let m = RecheckMessage::joining("123456789012", &write, Some("f0")).unwrap();
    let checks: Vec<Recheck> = (0..100)
        .map(|r| {
            let mut c = read(&m.to_json(), &config(&[]), SENT).unwrap();
            c.role = format!("role-{r}");
            c.findings = vec![format!("f{r}")];
            c.sessions = (0..45)
                .map(|s| (format!("{ROLE_ID}:i-{r:03}{s:016}"), SENT))
                .collect();
            c
        })
        .collect();
    let written: Vec<(&Recheck, u32)> = checks.iter().map(|c| (c, 1)).collect();
    let p = notice::merged_write_publication(&written, "arn:aws:sns:us-east-1:123456789012:t");
    assert!(p.message.len() <= crate::model::publication::SNS_LIMIT);
    assert!(p.message.contains("truncated"));
    for r in [0, 57, 99] {
        assert!(
            p.message.contains(&format!(
                "role-{r} in 123456789012 (SessionRevokerDenyStolenSessions): f{r}"
            )),
            "{r}"
        );
    }
}
