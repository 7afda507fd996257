use super::*;
use crate::input::parse_payload;
use crate::plan::decide_role;
use std::collections::HashMap;
use time::macros::datetime;
use time::Duration;

const NOW: OffsetDateTime = datetime!(2026-11-30 12:00:00 UTC);
const CUTOFF: OffsetDateTime = datetime!(2026-11-30 12:00:30 UTC);
const ROLE_ID: &str = "AROAEXAMPLESSOROLE001";
const ALICE: &str = "AROAEXAMPLESSOROLE001:alice@example.com";
const ARN: &str = "arn:aws:sso:::instance/ssoins-0123456789abcdef";

fn sso_role(path: &str) -> RoleInfo {
    RoleInfo {
        name: "AWSReservedSSO_Power_User_0123456789abcdef".into(),
        arn: format!(
            "arn:aws:iam::111122223333:role{path}AWSReservedSSO_Power_User_0123456789abcdef"
        ),
        path: path.into(),
        role_id: ROLE_ID.into(),
        tags: Vec::new(),
    }
}

fn facts(role: RoleInfo) -> RoleFacts {
    RoleFacts {
        role,
        role_policy: Ok(None),
        session_policy: Ok(None),
        responder_role: Ok(Some("session-revoker".into())),
        note: None,
    }
}

fn incident(principal_id: &str) -> Incident {
    parse_payload(&serde_json::json!({
        "id": "f1", "accountId": "111122223333", "region": "eu-west-1", "severity": 5,
        "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        "resource": {"accessKeyDetails": {"userType": "AssumedRole",
            "userName": "AWSReservedSSO_Power_User_0123456789abcdef",
            "principalId": principal_id, "accessKeyId": "ASIAEXAMPLEEXAMPLE01"}},
        "service": {"eventLastSeen": "2026-11-30T11:59:00Z"}
    }))
    .unwrap()
    .items
    .remove(0)
    .unwrap()
}

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_vars(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
    .unwrap()
}

fn with_instance() -> Config {
    config(&[("IDENTITY_CENTER_INSTANCE_ARN", ARN)])
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn written(m: InlineMerge) -> (String, BTreeMap<String, OffsetDateTime>, Option<String>) {
    match m {
        InlineMerge::Write {
            document,
            wanted,
            note,
            ..
        } => (document, wanted, note),
        other => panic!("expected a write: {other:?}"),
    }
}

#[test]
fn permission_set_names_from_role_names() {
    assert_eq!(
        permission_set_name("AWSReservedSSO_AdministratorAccess_1234567890abcdef"),
        Some("AdministratorAccess")
    );
    // Permission set names may hold underscores: the suffix follows the last one.
    assert_eq!(
        permission_set_name("AWSReservedSSO_Power_User_0123456789abcdef"),
        Some("Power_User")
    );
    for bad in [
        "AdministratorAccess",
        "AWSReservedSSO_AdministratorAccess",
        "AWSReservedSSO__1234567890abcdef",
        "AWSReservedSSO_Admin_not-hex-suffix!",
        "AWSReservedSSO_Admin${x}_1234567890abcdef",
        "AWSReservedSSO_ThisPermissionSetNameIsLongerThan32_1234567890abcdef",
    ] {
        assert_eq!(permission_set_name(bad), None, "{bad}");
    }
}

#[test]
fn home_region_from_the_role_path() {
    assert_eq!(
        home_region(&sso_role("/aws-reserved/sso.amazonaws.com/")).as_deref(),
        Some("us-east-1")
    );
    assert_eq!(
        home_region(&sso_role("/aws-reserved/sso.amazonaws.com/eu-west-2/")).as_deref(),
        Some("eu-west-2")
    );
    let mut china = sso_role("/aws-reserved/sso.amazonaws.com/");
    china.arn = china.arn.replace("arn:aws:", "arn:aws-cn:");
    assert_eq!(
        home_region(&china),
        None,
        "no region in the path outside aws: unknown"
    );
    assert_eq!(
        home_region(&sso_role("/aws-reserved/sso.amazonaws.com/$(x)/")),
        None
    );
    assert_eq!(home_region(&sso_role("/")), None);
}

#[test]
fn routes_only_identity_center_roles_and_only_with_the_instance_arn() {
    let i = incident(ALICE);
    let ic = facts(sso_role("/aws-reserved/sso.amazonaws.com/eu-west-2/"));
    assert_eq!(route(&i, &ic, &Config::default()), Route::Ordinary);
    let mut plain = ic.clone();
    plain.role.path = "/".into();
    assert_eq!(route(&i, &plain, &with_instance()), Route::Ordinary);
    let protected = config(&[
        ("IDENTITY_CENTER_INSTANCE_ARN", ARN),
        ("PROTECTED_ROLES", "AWSReservedSSO_Power*"),
    ]);
    assert_eq!(route(&i, &ic, &protected), Route::Ordinary);
    assert_eq!(
        route(&i, &ic, &with_instance()),
        Route::Revoke(PermissionSetTarget {
            instance_arn: ARN.into(),
            permission_set: "Power_User".into(),
            home_region: "eu-west-2".into(),
            account: "111122223333".into(),
            role: "AWSReservedSSO_Power_User_0123456789abcdef".into(),
            sessions: vec![ALICE.into()],
        })
    );
}

#[test]
fn a_protected_identity_center_role_says_which_protection() {
    let c = config(&[("PROTECTED_ROLES", "AWSReservedSSO_*")]);
    let actions = decide_role(
        &incident(ALICE),
        &facts(sso_role("/aws-reserved/sso.amazonaws.com/")),
        &c,
        NOW,
    );
    match &actions[0].step {
        Step::Manual { reason, .. } => assert!(reason.contains("PROTECTED_ROLES"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_write_without_an_exact_session() {
    let ic = facts(sso_role("/aws-reserved/sso.amazonaws.com/"));
    match route(&incident("AROAEXAMPLESSOROLE001:a*"), &ic, &with_instance()) {
        Route::Done(PlannedAction {
            step: Step::Fail { error },
            ..
        }) => assert_eq!(error.code, "InvalidSessionName"),
        other => panic!("{other:?}"),
    }
    // A finding that names no session: no exact id to deny.
    let mut none = incident(ALICE);
    none.principal.principal_id = None;
    match route(&none, &ic, &with_instance()) {
        Route::Done(PlannedAction {
            step: Step::Manual { reason, commands },
            ..
        }) => {
            assert!(
                reason.contains("every user of permission set Power_User"),
                "{reason}"
            );
            assert!(
                !commands.iter().any(|c| c.starts_with("printf")),
                "{commands:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn into_an_empty_inline_policy_the_exact_statement() {
    let (document, wanted, note) = written(merge_inline_policy(
        None,
        &[ALICE.into()],
        CUTOFF,
        None,
        NOW,
    ));
    // Compared as JSON: the key order depends on whether serde_json's `preserve_order` is
    // unified in (it is in the workspace build, not in the core's alone).
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(
        parsed,
        serde_json::from_str::<serde_json::Value>(
            r#"{"Statement":[{"Action":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-30T12:00:30Z"},"StringEquals":{"aws:userid":["AROAEXAMPLESSOROLE001:alice@example.com"]}},"Effect":"Deny","Resource":["*"],"Sid":"SessionRevokerDenyStolenSessions"}],"Version":"2012-10-17"}"#
        )
        .unwrap()
    );
    assert_eq!(wanted, BTreeMap::from([(ALICE.to_string(), CUTOFF)]));
    assert_eq!(note, None);
}

const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Id":"power-user",
  "Statement":[{"Sid":"ReadBilling","Effect":"Allow","Action":["aws-portal:View*"],"Resource":"*"},
               {"Effect":"Deny","Action":"iam:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#;

#[test]
fn every_other_statement_is_kept_as_it_was() {
    let (document, _, _) = written(merge_inline_policy(
        Some(ADMIN_POLICY),
        &[ALICE.into()],
        CUTOFF,
        None,
        NOW,
    ));
    let before = json(ADMIN_POLICY);
    let after = json(&document);
    assert_eq!(after["Id"], before["Id"]);
    assert_eq!(after["Version"], before["Version"]);
    let statements = after["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3);
    assert_eq!(statements[..2], before["Statement"].as_array().unwrap()[..]);
    assert_eq!(statements[2]["Sid"], STATEMENT_SID);
    // A single statement object (not a list) is kept too.
    let single = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    let (document, _, _) = written(merge_inline_policy(
        Some(single),
        &[ALICE.into()],
        CUTOFF,
        None,
        NOW,
    ));
    let after = json(&document);
    assert_eq!(after["Statement"][0], json(single)["Statement"]);
    assert_eq!(after["Statement"].as_array().unwrap().len(), 2);
}

fn ours(sid: &str, ids: &[&str], cutoff: &str) -> Value {
    serde_json::json!({"Sid": sid, "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}, "StringEquals": {"aws:userid": ids}}})
}

fn doc(statements: Vec<Value>) -> String {
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[test]
fn previous_sessions_keep_their_own_cutoff_and_expired_ones_are_pruned() {
    const BOB: &str = "AROAEXAMPLESSOROLE001:bob";
    const OLD: &str = "AROAEXAMPLESSOROLE001:carol";
    let existing = doc(vec![
        ours(STATEMENT_SID, &[BOB], "2026-11-30T10:00:00Z"),
        ours(
            "SessionRevokerDenyStolenSessions2",
            &[OLD],
            "2026-11-29T20:00:00Z",
        ),
    ]);
    let m = merge_inline_policy(Some(&existing), &[ALICE.into()], CUTOFF, None, NOW);
    let InlineMerge::Write {
        previous_cutoff,
        ref note,
        ..
    } = m
    else {
        panic!("{m:?}")
    };
    assert_eq!(previous_cutoff, None, "alice had no cutoff in place");
    assert!(note.as_deref().unwrap().contains("pruned 1"), "{note:?}");
    let (document, _, _) = written(m);
    let after = json(&document);
    // Bob keeps his earlier cutoff (a fresh sign-in of his after it stays allowed); Carol's
    // statement is older than any live session and is gone.
    assert_eq!(
        after["Statement"],
        serde_json::json!([
            json(
                &serde_json::to_string(&statement(
                    STATEMENT_SID.into(),
                    &[BOB],
                    "2026-11-30T10:00:00Z"
                ))
                .unwrap()
            ),
            json(
                &serde_json::to_string(&statement(
                    "SessionRevokerDenyStolenSessions2".into(),
                    &[ALICE],
                    "2026-11-30T12:00:30Z"
                ))
                .unwrap()
            ),
        ])
    );
}

#[test]
fn ids_of_one_cutoff_share_a_statement_and_cutoffs_only_move_forward() {
    const BOB: &str = "AROAEXAMPLESSOROLE001:bob";
    let (document, _, _) = written(merge_inline_policy(
        None,
        &[ALICE.into(), BOB.into()],
        CUTOFF,
        None,
        NOW,
    ));
    let after = json(&document);
    assert_eq!(after["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(
        after["Statement"][0]["Condition"]["StringEquals"]["aws:userid"],
        serde_json::json!([ALICE, BOB])
    );
    // A later finding for Alice after her last activity moves only her cutoff forward.
    let later = CUTOFF + Duration::minutes(10);
    let m = merge_inline_policy(
        Some(&document),
        &[ALICE.into()],
        later,
        Some(later - Duration::minutes(1)),
        NOW + Duration::minutes(10),
    );
    let InlineMerge::Write {
        previous_cutoff,
        wanted,
        ..
    } = &m
    else {
        panic!("{m:?}")
    };
    assert_eq!(*previous_cutoff, Some(CUTOFF));
    assert_eq!(wanted[ALICE], later);
    let read = read_inline_policy(Some(&written(m).0), NOW).unwrap();
    assert_eq!(read.revocations.sessions[ALICE], later);
    assert_eq!(read.revocations.sessions[BOB], CUTOFF);
}

#[test]
fn a_redelivered_finding_is_covered() {
    let (document, _, _) = written(merge_inline_policy(
        None,
        &[ALICE.into()],
        CUTOFF,
        None,
        NOW,
    ));
    let seen = datetime!(2026-11-30 11:59:00 UTC);
    match merge_inline_policy(
        Some(&document),
        &[ALICE.into()],
        CUTOFF + Duration::minutes(5),
        Some(seen),
        NOW + Duration::minutes(5),
    ) {
        InlineMerge::Covered { cutoff, wanted, .. } => {
            assert_eq!(cutoff, CUTOFF);
            assert_eq!(wanted[ALICE], CUTOFF);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn what_is_under_our_sid_but_not_ours_is_kept_and_reported() {
    let decoy = serde_json::json!({"Sid": STATEMENT_SID, "Effect": "Deny", "Action": "ec2:None", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-11-30T11:00:00Z"}, "StringEquals": {"aws:userid": [ALICE]}}});
    let wildcard = ours(
        "SessionRevokerDenyStolenSessions2",
        &["AROAEXAMPLESSOROLE001:*"],
        "2026-11-30T11:00:00Z",
    );
    let lockout = ours(
        "SessionRevokerDenyStolenSessions3",
        &[ALICE],
        "2027-01-01T00:00:00Z",
    );
    let existing = doc(vec![decoy.clone(), wildcard.clone(), lockout.clone()]);
    let (document, _, note) = written(merge_inline_policy(
        Some(&existing),
        &[ALICE.into()],
        CUTOFF,
        None,
        NOW,
    ));
    let note = note.unwrap();
    assert!(note.contains("Action is not"), "{note}");
    assert!(note.contains("not one exact session id"), "{note}");
    assert!(note.contains("min ahead"), "{note}");
    let after = json(&document);
    let statements = after["Statement"].as_array().unwrap();
    assert_eq!(statements[..3], [decoy, wildcard, lockout]);
    // Ours under the first Sid of the family no kept statement uses.
    assert_eq!(statements[3]["Sid"], "SessionRevokerDenyStolenSessions4");
    assert_eq!(
        statements[3]["Condition"]["StringEquals"]["aws:userid"],
        serde_json::json!([ALICE])
    );
}

#[test]
fn over_the_limit_nothing_is_written_and_unreadable_is_not_merged() {
    let mut filler = Vec::new();
    let mut big = doc(Vec::new());
    while policy::policy_size(&big) < PROVISIONED_POLICY_LIMIT - 150 {
        let i = filler.len();
        filler.push(serde_json::json!({"Sid": format!("Allow{i}"), "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}));
        big = doc(filler.clone());
    }
    // Far below Identity Center's own 32,768 characters, but over what the role in each
    // assigned account may hold once provisioned (10,240 without whitespace).
    assert!(
        big.len() < INLINE_POLICY_LIMIT
            && policy::policy_size(&big) > PROVISIONED_POLICY_LIMIT - 200,
        "{}",
        big.len()
    );
    match merge_inline_policy(Some(&big), &[ALICE.into()], CUTOFF, None, NOW) {
        InlineMerge::TooLarge { size, note } => {
            assert!(size > PROVISIONED_POLICY_LIMIT);
            assert!(note.contains("10240") && note.contains("32768"), "{note}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        merge_inline_policy(Some("{not json"), &[ALICE.into()], CUTOFF, None, NOW),
        InlineMerge::Unreadable(_)
    ));
    assert!(matches!(
        merge_inline_policy(
            Some(r#"{"Statement":"nope"}"#),
            &[ALICE.into()],
            CUTOFF,
            None,
            NOW
        ),
        InlineMerge::Unreadable(_)
    ));
}

#[test]
fn reconcile_restores_what_a_concurrent_writer_dropped() {
    let (document, wanted, _) = written(merge_inline_policy(
        Some(ADMIN_POLICY),
        &[ALICE.into()],
        CUTOFF,
        None,
        NOW,
    ));
    assert_eq!(
        reconcile_inline_policy(Some(&document), &wanted, NOW).unwrap(),
        None
    );
    // Someone put the old document back: ours is merged in again, theirs kept.
    let again = reconcile_inline_policy(Some(ADMIN_POLICY), &wanted, NOW)
        .unwrap()
        .unwrap();
    let read = read_inline_policy(Some(&again), NOW).unwrap();
    assert!(read.holds(&wanted));
    assert_eq!(json(&again)["Statement"].as_array().unwrap().len(), 3);
}

#[test]
fn by_hand_steps_are_exact_and_built_from_validated_names() {
    let role = sso_role("/aws-reserved/sso.amazonaws.com/eu-west-2/");
    let steps = by_hand_steps(&role, &incident(ALICE), &Config::default());
    let text = steps.join("\n");
    assert!(
        text.contains("aws sso-admin list-instances --region eu-west-2"),
        "{text}"
    );
    assert!(text.contains("= Power_User ]"), "{text}");
    assert!(text.contains("aws sso-admin put-inline-policy-to-permission-set --region eu-west-2 --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --inline-policy file://merged.json"), "{text}");
    assert!(text.contains("aws sso-admin provision-permission-set --region eu-west-2 --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --target-type AWS_ACCOUNT --target-id 111122223333"), "{text}");
    // The printf line writes our statement, which this tool reads back as its own.
    let line = steps
        .iter()
        .find(|c| c.starts_with("printf '"))
        .expect("a printf line");
    let rest = &line["printf '".len()..];
    let one = rest[..rest.find('\'').unwrap()]
        .replace("%s", "2026-11-30T12:00:00Z")
        .replace("%%", "%");
    let read = read_inline_policy(Some(&doc(vec![json(&one)])), NOW).unwrap();
    assert_eq!(
        read.revocations.sessions[ALICE],
        datetime!(2026-11-30 12:00:00 UTC)
    );
    assert!(read.foreign.is_empty());
    // With the instance ARN configured, it is named.
    let set = by_hand_steps(&role, &incident(ALICE), &with_instance()).join("\n");
    assert!(set.contains(&format!("INSTANCE_ARN={ARN}")), "{set}");
    // Hostile names never reach a command.
    let mut hostile = role.clone();
    hostile.name = "AWSReservedSSO_x';reboot;'_0123456789abcdef".into();
    hostile.path = "/aws-reserved/sso.amazonaws.com/$(reboot)/".into();
    let text = by_hand_steps(&hostile, &incident(ALICE), &Config::default()).join("\n");
    assert!(!text.contains("reboot"), "{text}");
    assert!(
        text.contains("<permission-set-name>") && text.contains("<identity-center-home-region>"),
        "{text}"
    );
}

#[test]
fn without_the_instance_arn_the_finding_is_manual_with_the_steps() {
    let actions = decide_role(
        &incident(ALICE),
        &facts(sso_role("/aws-reserved/sso.amazonaws.com/")),
        &Config::default(),
        NOW,
    );
    assert_eq!(actions.len(), 1);
    match &actions[0].step {
        Step::Manual { reason, commands } => {
            assert!(reason.contains("IDENTITY_CENTER_INSTANCE_ARN"), "{reason}");
            assert!(
                commands
                    .iter()
                    .any(|c| c.contains("--target-type AWS_ACCOUNT --target-id 111122223333")),
                "{commands:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}
