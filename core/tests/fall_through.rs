//! Real findings never fall through (issue 17): the pure path from payload to report for
//! findings with odd fields, events that are not findings, empty payloads, and the manual
//! steps, which always name the principal kind the finding names.

use revoker_core::config::Config;
use revoker_core::input::parse_payload;
use revoker_core::model::{
    ActionKind, ActionOutcome, Incident, Outcome, PlannedAction, RoleInfo, Shape, Step, Triage,
};
use revoker_core::plan::{decide_role, triage, RoleFacts};
use revoker_core::policy::RevocationPolicy;
use revoker_core::report::{IncidentReport, Report, NO_FINDINGS};
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);

fn role_finding() -> Value {
    json!({
        "schemaVersion": "2.0", "accountId": "111122223333", "region": "eu-west-1", "id": "f1",
        "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 5,
        "resource": {"accessKeyDetails": {"accessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "principalId": "AROAEXAMPLEROLEID0001:alice", "userType": "AssumedRole", "userName": "web-app"}},
        "service": {"count": 3, "eventLastSeen": "2026-11-22T02:59:00Z"}
    })
}

fn user_finding(key: &str) -> Value {
    let mut f = role_finding();
    f["resource"]["accessKeyDetails"] = json!({"accessKeyId": key,
        "principalId": "AIDAEXAMPLEUSER00001", "userType": "IAMUser", "userName": "ci-bot"});
    f
}

fn one(v: &Value) -> Incident {
    parse_payload(v).unwrap().items.remove(0).unwrap()
}

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_vars(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap()
}

/// Triage only (what the function does before any AWS call), as the report shows it.
fn triaged(incident: &Incident, config: &Config) -> (PlannedAction, Report) {
    let Triage::Done(action) = triage(incident, config) else {
        panic!("expected triage to settle it: {incident:?}")
    };
    let outcome = ActionOutcome::settled(action.kind, &action.target, action.step.clone())
        .expect("no write at triage");
    let report = Report::new(
        Some(Shape::Finding),
        false,
        vec![IncidentReport::new(incident, vec![outcome])],
        NOW,
        1,
    );
    (action, report)
}

fn commands(action: &PlannedAction) -> String {
    match &action.step {
        Step::Manual { commands, .. } => commands.join("\n"),
        other => panic!("expected manual steps, got {other:?}"),
    }
}

#[test]
fn an_unreadable_last_activity_never_makes_a_finding_already_covered() {
    let facts = |cutoff| RoleFacts {
        role: RoleInfo {
            name: "web-app".into(),
            arn: "arn:aws:iam::111122223333:role/web-app".into(),
            path: "/".into(),
            role_id: "AROAEXAMPLEROLEID0001".into(),
            tags: Vec::new(),
        },
        role_policy: Ok(Some(RevocationPolicy { cutoff }.to_json())),
        session_policy: Ok(None),
        responder_role: Ok(Some("session-revoker".into())),
        note: None,
    };
    let c = config(&[("REVOKE_SCOPE", "role")]);
    // A cutoff after the finding's last activity: already covered.
    let in_place = datetime!(2026-11-22 02:59:30 UTC);
    let readable = one(&role_finding());
    let actions = decide_role(&readable, &facts(in_place), &c, NOW);
    assert!(
        matches!(actions[0].step, Step::AlreadyCovered { .. }),
        "{actions:?}"
    );
    // The same finding with its last activity unreadable: written, not "already covered".
    let mut f = role_finding();
    f["service"]["eventLastSeen"] = json!("2026-11-22T02:59:00 UTC+0");
    let unreadable = one(&f);
    assert_eq!(unreadable.event_last_seen, None);
    assert_eq!(unreadable.ignored_fields[0].field, "service.eventLastSeen");
    let actions = decide_role(&unreadable, &facts(in_place), &c, NOW);
    assert!(matches!(actions[0].step, Step::Write(_)), "{actions:?}");
}

#[test]
fn ignored_fields_reach_the_report() {
    let mut f = role_finding();
    f["service"]["eventLastSeen"] = json!("last tuesday");
    f["title"] = json!({"text": "nested"});
    let i = one(&f);
    let r = Report::new(
        Some(Shape::Finding),
        false,
        vec![IncidentReport::new(&i, vec![])],
        NOW,
        1,
    );
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    let ignored = &json["incidents"][0]["ignored_fields"];
    assert_eq!(ignored[0]["field"], "title");
    assert_eq!(ignored[1]["field"], "service.eventLastSeen");
    assert_eq!(ignored[1]["found"], "the string \"last tuesday\"");
    let text = r.to_text();
    assert!(
        text.contains("  - service.eventLastSeen: expected a timestamp"),
        "{text}"
    );
}

#[test]
fn an_unreadable_principal_fails_but_keeps_id_type_and_account() {
    let mut f = role_finding();
    f["resource"]["accessKeyDetails"]["userName"] = json!(["web-app"]);
    let i = one(&f);
    let (action, r) = triaged(&i, &Config::default());
    assert!(matches!(action.step, Step::Fail { .. }));
    let inc = &r.incidents[0];
    assert_eq!(inc.outcome, Outcome::Failed);
    assert_eq!(inc.finding_id.as_deref(), Some("f1"));
    assert_eq!(
        inc.finding_type.as_deref(),
        Some("UnauthorizedAccess:IAMUser/MaliciousIPCaller")
    );
    assert_eq!(inc.account.as_deref(), Some("111122223333"));
    assert!(
        inc.actions[0]
            .detail
            .contains("resource.accessKeyDetails.userName"),
        "{}",
        inc.actions[0].detail
    );
    assert!(
        r.summary
            .starts_with("FAILED: UnauthorizedAccess:IAMUser/MaliciousIPCaller (Medium): field `resource.accessKeyDetails.userName`"),
        "{}",
        r.summary
    );
    // An unreadable principal is failed before anything could skip it.
    let mut archived = f.clone();
    archived["service"]["archived"] = json!(true);
    let (action, _) = triaged(&one(&archived), &Config::default());
    assert!(matches!(action.step, Step::Fail { .. }));
}

#[test]
fn a_guardduty_event_that_is_not_a_finding_is_skipped_saying_so() {
    let event = json!({"version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.guardduty",
        "account": "111122223333", "region": "eu-west-1", "time": "2026-11-22T03:00:00Z", "resources": [],
        "detail": {"eventSource": "guardduty.amazonaws.com", "eventName": "CreateSampleFindings"}});
    let i = one(&event);
    let (action, r) = triaged(&i, &Config::default());
    assert!(matches!(action.step, Step::Skip { .. }));
    assert_eq!(r.outcome, Outcome::Skipped);
    assert!(
        r.summary.contains("not a GuardDuty finding")
            && r.summary.contains("AWS API Call via CloudTrail"),
        "{}",
        r.summary
    );
    assert!(r.subject().contains("not a GuardDuty finding"));
}

#[test]
fn a_payload_without_findings_says_so_in_the_report_and_the_subject() {
    for payload in [json!([]), json!({"Findings": []})] {
        let parsed = parse_payload(&payload).unwrap();
        assert!(parsed.items.is_empty());
        let r = Report::new(Some(parsed.shape), false, vec![], NOW, 1);
        assert_eq!(r.outcome, Outcome::Skipped);
        assert_eq!(r.summary, NO_FINDINGS);
        assert_eq!(
            r.subject(),
            "[session-revoker] NO ACTION: no findings in the payload"
        );
        assert!(r.to_text().contains("The payload holds no findings"));
        let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
        assert!(p.subject.contains("no findings in the payload"));
    }
}

#[test]
fn an_unknown_severity_goes_to_a_person_with_the_principals_own_steps() {
    let mut f = role_finding();
    f["severity"] = json!("Medium");
    let (action, r) = triaged(&one(&f), &Config::default());
    assert_eq!(action.kind, ActionKind::RevokeRoleSessions);
    assert_eq!(r.outcome, Outcome::ManualActionRequired);
    let c = commands(&action);
    assert!(
        c.contains("aws iam put-role-policy --role-name web-app"),
        "{c}"
    );
    assert!(!c.contains("user-policy"), "{c}");
    match &action.step {
        Step::Manual { reason, .. } => {
            assert!(reason.contains("severity is unknown (unreadable: severity: expected a number, found the string \"Medium\")"), "{reason}")
        }
        _ => unreachable!(),
    }

    let mut f = user_finding("AKIAEXAMPLESTOLENKEY");
    f.as_object_mut().unwrap().remove("severity");
    let (action, _) = triaged(&one(&f), &Config::default());
    assert_eq!(action.kind, ActionKind::DeactivateAccessKey);
    let c = commands(&action);
    assert!(
        c.contains("aws iam update-access-key --user-name ci-bot --access-key-id AKIAEXAMPLESTOLENKEY --status Inactive"),
        "{c}"
    );
    assert!(
        c.contains("aws iam put-user-policy --user-name ci-bot"),
        "{c}"
    );
    assert!(!c.contains("role-policy"), "{c}");
    // Known severities are unchanged: below the minimum is skipped.
    let mut f = role_finding();
    f["severity"] = json!(2);
    let (action, _) = triaged(&one(&f), &Config::default());
    assert!(matches!(action.step, Step::Skip { .. }));
}

#[test]
fn not_revocable_types_name_the_principal_kind_the_finding_names() {
    // A configuration change by an IAM user: the user's steps, never root's.
    let mut f = user_finding("AKIAEXAMPLESTOLENKEY");
    f["type"] = json!("Stealth:IAMUser/CloudTrailLoggingDisabled");
    f["severity"] = json!(2);
    let (action, _) = triaged(&one(&f), &Config::default());
    let c = commands(&action);
    assert!(c.contains("--user-name ci-bot"), "{c}");
    assert!(!c.contains("root") && !c.contains("role-policy"), "{c}");
    // By a role: the role's.
    let mut f = role_finding();
    f["type"] = json!("Stealth:IAMUser/PasswordPolicyChange");
    let c = commands(&triaged(&one(&f), &Config::default()).0);
    assert!(c.contains("put-role-policy --role-name web-app"), "{c}");
    assert!(!c.contains("user-policy") && !c.contains("root"), "{c}");
    // Root usage: root's steps.
    let mut f = role_finding();
    f["type"] = json!("Policy:IAMUser/RootCredentialUsage");
    f["resource"]["accessKeyDetails"] = json!({"userType": "Root", "principalId": "111122223333"});
    let (action, _) = triaged(&one(&f), &Config::default());
    assert_eq!(action.target, "root");
    assert!(commands(&action).contains("Sign in as root of account 111122223333"));
}
