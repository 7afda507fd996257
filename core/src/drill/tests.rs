use super::*;
use crate::model::ActionKind;
use crate::report::Report;
use serde_json::json;

#[test]
fn a_drill_request_is_strict_and_other_payloads_are_not_drills() {
    let req = parse_request(&json!({"action": "drill"})).unwrap().unwrap();
    assert!(!req.dry_run);
    let req = parse_request(&json!({"action": "drill", "dry_run": true, "reason": "weekly"}))
        .unwrap()
        .unwrap();
    assert!(req.dry_run);
    assert_eq!(req.reason.as_deref(), Some("weekly"));
    // Not a drill: left to the other parsers.
    assert_eq!(
        parse_request(&json!({"action": "revoke", "role": "x"})).unwrap(),
        None
    );
    assert_eq!(parse_request(&json!([{"action": "drill"}])).unwrap(), None);
    // A drill with anything else is refused, naming the field.
    let err = parse_request(&json!({"action": "drill", "role": "prod-admin"})).unwrap_err();
    assert!(err.to_string().contains("unknown field `role`"), "{err}");
    assert!(
        err.to_string()
            .contains("accepted fields: action, dry_run, reason"),
        "{err}"
    );
    let err = parse_request(&json!({"action": "drill", "dry_run": "yes"})).unwrap_err();
    assert!(err.to_string().contains("drill request"), "{err}");
}

#[test]
fn session_names_are_valid_sts_names_with_the_time() {
    let t = time::macros::datetime!(2026-12-06 01:37:18 UTC);
    let name = session_name(t, "session");
    assert_eq!(name, "drill-20261206T013718Z-session");
    assert!(names::is_valid_session_name(&name));
    assert!(names::is_valid_session_name(&session_name(t, "fresh")));
}

#[test]
fn only_a_role_tagged_for_drills_is_touched() {
    let tag = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(
        tag_refusal("canary", &[tag(TAG_KEY, "true"), tag("team", "x")]),
        None
    );
    let missing = tag_refusal("prod-admin", &[tag("team", "x")]).unwrap();
    assert!(
        missing.contains("prod-admin lacks the tag session-revoker:drill=true"),
        "{missing}"
    );
    let wrong = tag_refusal("canary", &[tag(TAG_KEY, "false")]).unwrap();
    assert!(wrong.contains("\"false\""), "{wrong}");
}

#[test]
fn the_canary_arn_is_required_and_validated() {
    let err = canary(None).unwrap_err();
    assert!(err.contains("DRILL_ROLE_ARN is not set"), "{err}");
    assert!(canary(Some("prod-admin"))
        .unwrap_err()
        .contains("not an IAM role ARN"));
    assert_eq!(
        canary(Some("arn:aws:iam::123456789012:role/drill/canary")).unwrap(),
        ("123456789012".into(), "canary".into())
    );
}

#[test]
fn the_drill_incidents_name_the_session_or_the_role() {
    let config = crate::config::Config::default();
    let scoped = incident(
        "123456789012",
        "canary",
        "AROAEXAMPLE:drill-x-session",
        true,
        false,
    );
    assert_eq!(scoped.requested_session.as_deref(), Some("drill-x-session"));
    assert_eq!(
        crate::plan::effective_scope(&scoped, &config),
        crate::config::RevokeScope::Session
    );
    let wide = incident(
        "123456789012",
        "canary",
        "AROAEXAMPLE:drill-x-role",
        false,
        true,
    );
    assert_eq!(wide.requested_session, None);
    assert!(wide.dry_run);
    assert!(matches!(
        crate::plan::triage(&wide, &config),
        crate::model::Triage::Role(_)
    ));
}

fn passed_account(propagation: &[u64]) -> DrillAccount {
    let mut a = DrillAccount::new("123456789012", "arn:aws:iam::123456789012:role/canary");
    for (i, ms) in propagation.iter().enumerate() {
        a.scopes.push(ScopeResult {
            scope: if i == 0 { "session" } else { "role" },
            session: format!("drill-{i}"),
            actions: vec![ActionOutcome::new(
                ActionKind::RevokeSessions,
                "canary",
                Status::Done,
                "",
            )],
            written_at_ms: Some(100),
            propagation_ms: Some(*ms),
        });
    }
    a.step(StepName::CheckCanary, StepResult::Passed, "tagged", 1);
    a.step(StepName::FreshSessionWorks, StepResult::Passed, "works", 9);
    a
}

#[test]
fn a_passed_drill_reports_the_longest_propagation_and_warns_when_the_margin_is_shorter() {
    let mut d = DrillReport::new(false, 30, 300);
    d.accounts.push(passed_account(&[1_200, 4_500]));
    d.finish();
    assert!(d.accounts[0].ready);
    assert_eq!(d.propagation_ms, Some(4_500));
    assert_eq!(d.warning, None, "4.5 s is inside a 30 s margin");
    assert_eq!(d.outcome(), Outcome::DrillPassed);
    assert!(d
        .headline()
        .starts_with("DRILL PASSED: canary arn:aws:iam::123456789012:role/canary"));
    assert!(d.headline().contains("4.5 s"), "{}", d.headline());

    let mut short = DrillReport::new(false, 2, 300);
    short.accounts.push(passed_account(&[2_500]));
    short.finish();
    let w = short.warning.clone().unwrap();
    assert!(
        w.contains("CUTOFF_MARGIN_SECONDS=2 is shorter than the 2.5 s"),
        "{w}"
    );
    assert_eq!(margin_warning(3, Some(3_000)), None);
    assert_eq!(margin_warning(3, None), None);

    let report = Report::drill(d, time::OffsetDateTime::UNIX_EPOCH, 5);
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["outcome"], "drill_passed");
    assert_eq!(v["drill"]["propagation_ms"], 4_500);
    assert_eq!(v["drill"]["accounts"][0]["scopes"][1]["scope"], "role");
    assert_eq!(
        v["drill"]["accounts"][0]["steps"][0]["step"],
        "check_canary"
    );
    assert_eq!(v["drill"]["accounts"][0]["steps"][0]["result"], "passed");
}

#[test]
fn a_failed_step_or_a_write_that_did_not_happen_fails_the_drill_naming_the_step() {
    let mut d = DrillReport::new(false, 30, 300);
    let mut a = passed_account(&[]);
    a.step(
        StepName::ContainSession,
        StepResult::Failed,
        "PutRolePolicy: AccessDenied",
        5,
    );
    d.accounts.push(a);
    d.finish();
    assert!(!d.accounts[0].ready);
    assert_eq!(d.outcome(), Outcome::DrillFailed);
    assert_eq!(
        d.headline(),
        "DRILL FAILED at step contain_session: PutRolePolicy: AccessDenied (account 123456789012)"
    );

    // Every step passed but an action of the production path did not write: not ready.
    let mut d = DrillReport::new(false, 30, 300);
    let mut a = passed_account(&[10]);
    a.scopes[0].actions[0].status = Status::Failed;
    d.accounts.push(a);
    d.finish();
    assert_eq!(d.outcome(), Outcome::DrillFailed);

    // No account at all (the request was refused before any): failed.
    let mut d = DrillReport::new(false, 30, 300);
    d.finish();
    assert_eq!(d.outcome(), Outcome::DrillFailed);
}

#[test]
fn combining_drill_outcomes() {
    use Outcome::*;
    assert_eq!(Outcome::combine([DrillPassed]), DrillPassed);
    assert_eq!(Outcome::combine([DrillPassed, DrillPassed]), DrillPassed);
    assert_eq!(Outcome::combine([DrillPassed, DrillFailed]), DrillFailed);
    assert_eq!(Outcome::combine([DrillFailed, Revoked]), DrillFailed);
    assert_eq!(Outcome::combine([DrillFailed, Failed]), Failed);
    assert_eq!(Outcome::combine([DrillPassed, Revoked]), Revoked);
    assert_eq!(Outcome::combine([Skipped, DrillPassed]), DrillPassed);
    assert_eq!(DrillFailed.as_str(), "drill_failed");
    assert_eq!(DrillPassed.headline(), "DRILL PASSED");
}

#[test]
fn the_text_report_lists_the_steps_and_the_margin() {
    let mut d = DrillReport::new(false, 2, 300);
    d.accounts.push(passed_account(&[2_500]));
    d.finish();
    let text = Report::drill(d, time::OffsetDateTime::UNIX_EPOCH, 5).to_text();
    assert!(text.starts_with("DRILL PASSED"), "{text}");
    assert!(
        text.contains("check_canary         passed   tagged"),
        "{text}"
    );
    assert!(
        text.contains("session scope: refused 2.5 s after the write"),
        "{text}"
    );
    assert!(
        text.contains("CUTOFF_MARGIN_SECONDS=2; longest propagation measured: 2.5 s"),
        "{text}"
    );
    assert!(
        text.contains("WARNING: CUTOFF_MARGIN_SECONDS=2 is shorter"),
        "{text}"
    );
    assert!(!text.contains("no findings"), "{text}");
}

#[test]
fn organization_mode_drills_each_allowed_member_once_and_never_the_own_account_twice() {
    let own = "111111111111";
    let allowed: Vec<String> = ["222222222222", own, "333333333333", "222222222222"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        org::member_accounts(own, &allowed),
        ["222222222222", "333333333333"]
    );
    assert!(org::member_accounts(own, &[]).is_empty());
    assert!(org::member_refusal(Some("m"), Some("c")).is_none());
    assert!(org::member_refusal(None, Some("c"))
        .unwrap()
        .contains("MEMBER_ROLE_NAME is not set"));
    assert!(org::member_refusal(Some("m"), None)
        .unwrap()
        .contains("DRILL_ROLE_NAME is not set"));
    // The canary's ARN keeps the member role's partition and account, never its path.
    assert_eq!(
        org::member_canary_arn("arn:aws-cn:iam::222222222222:role/ops/member", "canary").as_deref(),
        Some("arn:aws-cn:iam::222222222222:role/canary")
    );
    assert_eq!(org::member_canary_arn("not-an-arn", "canary"), None);
}

#[test]
fn a_failed_member_account_is_one_row_with_the_command_and_the_others_stay_ready() {
    let member_role = "arn:aws:iam::222222222222:role/session-revoker-member";
    let w = org::Where {
        account: "222222222222",
        canary: "session-revoker-drill",
        canary_arn: "-",
        caller_arn: Some(member_role),
        external_id: true,
    };
    let cmd = org::command(StepName::AssumeMemberRole, &w);
    assert!(
        cmd.starts_with(&format!(
            "aws sts assume-role --role-arn {member_role} --role-session-name drill-check --external-id \"$MEMBER_ROLE_EXTERNAL_ID\""
        )),
        "{cmd}"
    );
    let no_id = org::command(
        StepName::AssumeMemberRole,
        &org::Where {
            external_id: false,
            ..w.clone()
        },
    );
    assert!(!no_id.contains("external-id"), "{no_id}");
    assert!(
        org::command(StepName::RoleRefused, &w).contains("--policy-name AWSRevokeOlderSessions")
    );
    assert!(org::command(StepName::SessionRefused, &w)
        .contains("--policy-name SessionRevokerDenyStolenSessions"));
    assert!(org::command(StepName::ContainRole, &w).contains(&format!(
        "simulate-principal-policy --policy-source-arn {member_role}"
    )));

    let mut d = DrillReport::new(false, 30, 300);
    d.accounts.push(passed_account(&[10, 20]));
    let mut failed = DrillAccount::new("222222222222", "-");
    failed.step(
        StepName::AssumeMemberRole,
        StepResult::Failed,
        "AccessDenied",
        3,
    );
    failed.steps[0].command = Some(cmd.clone());
    d.accounts.push(failed);
    d.finish();
    assert!(d.accounts[0].ready);
    assert!(!d.accounts[1].ready);
    assert_eq!(d.outcome(), Outcome::DrillFailed);
    assert_eq!(
        d.headline(),
        "DRILL FAILED at step assume_member_role: AccessDenied (account 222222222222); 1 of 2 accounts ready"
    );
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["accounts"][1]["steps"][0]["command"], json!(cmd));
    assert!(v["accounts"][0]["steps"][0].get("command").is_none());
    assert!(d.to_text().contains(&format!("shows why: {cmd}")));
}

#[test]
fn a_session_issued_at_or_after_the_cutoff_is_named_as_not_covered() {
    let cutoff = time::macros::datetime!(2026-12-06 03:00:00 UTC);
    let expiring = |issued: OffsetDateTime| issued + time::Duration::seconds(SESSION_SECONDS);
    // Issued a second before the cutoff: covered.
    assert_eq!(
        issued_after_cutoff(cutoff, expiring(cutoff - time::Duration::seconds(1))),
        None
    );
    // Issued in the cutoff's second (whole seconds compared) or later: not covered.
    let why = issued_after_cutoff(cutoff, expiring(cutoff + time::Duration::milliseconds(400)))
        .expect("the cutoff's own second is not older than the cutoff");
    assert!(why.contains("2026-12-06T03:00:00Z"), "{why}");
    assert!(why.contains("clock is behind IAM's"), "{why}");
    assert!(issued_after_cutoff(cutoff, expiring(cutoff + time::Duration::minutes(10))).is_some());
}

#[test]
fn a_drill_says_when_it_cannot_reach_the_accounts_the_function_would_act_in() {
    let own = Some("111111111111");
    let member = ["222222222222".to_string()];
    let note = org::coverage_note(own, Some("member"), &[]).unwrap();
    assert!(note.contains("ALLOWED_ACCOUNTS is empty"), "{note}");
    assert_eq!(org::coverage_note(own, None, &[]), None, "single account");
    // The own account left out of ALLOWED_ACCOUNTS: not drilled, and said.
    assert!(org::own_excluded("111111111111", &member));
    assert!(!org::own_excluded("111111111111", &[]));
    let note = org::coverage_note(own, Some("member"), &member).unwrap();
    assert!(
        note.contains("own account 111111111111 is not in ALLOWED_ACCOUNTS"),
        "{note}"
    );
    let both = ["111111111111".to_string(), "222222222222".to_string()];
    assert_eq!(org::coverage_note(own, Some("member"), &both), None);
}
