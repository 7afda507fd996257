use super::*;
use crate::input::parse_payload;
use crate::model::Principal;
use crate::model::{ActionKind, AwsError, PlannedAction, RoleInfo, Step, Write};
use crate::policy::{self, RevocationPolicy};
use std::collections::HashMap;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);

fn incident(json: serde_json::Value) -> Incident {
    parse_payload(&json).unwrap().items.remove(0).unwrap()
}

fn finding(finding_type: &str, severity: f64) -> Incident {
    incident(serde_json::json!({
        "id": "f1", "accountId": "111122223333", "region": "eu-west-1", "type": finding_type, "severity": severity,
        "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": "web-app",
            "principalId": "AROAEXAMPLEROLEID0001:i-0123456789abcdef0", "accessKeyId": "ASIAEXAMPLEEXAMPLE01"},
            "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
        "service": {"eventLastSeen": "2026-11-22T02:59:00Z", "additionalInfo": {"recentCredentials": [
            {"principalId": "AROAEXAMPLEROLEID0001:i-0fedcba9876543210"},
            {"principalId": "AROAOTHERROLEEXAMPLE1:i-0aaaaaaaaaaaaaaaa"}]}}
    }))
}

/// The tests below that speak of role-wide revocation of an instance's stolen session set
/// `REVOKE_SCOPE=role`: the default (`auto`) scopes instance sessions to the session.
fn role_scope() -> Config {
    config(&[("REVOKE_SCOPE", "role")])
}

#[test]
fn instance_sessions_default_to_session_scope_and_others_to_role_scope() {
    let c = Config::default();
    let i = finding(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        8.0,
    );
    assert_eq!(effective_scope(&i, &c), crate::config::RevokeScope::Session);
    let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
    assert_eq!(actions[0].kind, ActionKind::RevokeSessions);
    let mut other = finding(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        8.0,
    );
    other.principal.principal_id = Some("AROAEXAMPLEROLEID0001:deploy-pipeline".into());
    assert_eq!(
        effective_scope(&other, &c),
        crate::config::RevokeScope::Role
    );
}

#[test]
fn an_invalid_session_name_is_refused_and_never_written() {
    for bad in ["a*", "${aws:username}", "x", "q\"uote", &"s".repeat(65)] {
        let mut i = finding(
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            8.0,
        );
        i.principal.principal_id = Some(format!("AROAEXAMPLEROLEID0001:{bad}"));
        let c = config(&[("REVOKE_SCOPE", "session")]);
        let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
        assert_eq!(actions.len(), 1, "{bad}");
        match &actions[0].step {
            Step::Fail { error } => assert_eq!(error.code, "InvalidSessionName", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
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

fn role(path: &str) -> RoleInfo {
    RoleInfo {
        name: "web-app".into(),
        arn: format!("arn:aws:iam::111122223333:role{path}web-app"),
        path: path.into(),
        role_id: "AROAEXAMPLEROLEID0001".into(),
        tags: Vec::new(),
    }
}

fn facts(role: RoleInfo, role_policy: Option<String>) -> RoleFacts {
    RoleFacts {
        role,
        role_policy: Ok(role_policy),
        session_policy: Ok(None),
        responder_role: Ok(Some("session-revoker".into())),
        note: None,
    }
}

const EXFIL: &str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";

fn skip_reason(t: Triage) -> String {
    match t {
        Triage::Done(PlannedAction {
            step: Step::Skip { reason },
            ..
        }) => reason,
        other => panic!("expected a skip, got {other:?}"),
    }
}

#[test]
fn triage_acts_on_credential_findings_at_or_above_the_minimum() {
    let c = role_scope();
    assert_eq!(
        triage(&finding(EXFIL, 8.0), &c),
        Triage::Role(RoleTarget {
            name: Some("web-app".into()),
            role_id: Some("AROAEXAMPLEROLEID0001".into())
        })
    );
    assert!(matches!(
        triage(&finding("Recon:IAMUser/TorIPCaller", 4.0), &c),
        Triage::Role(_)
    ));
    assert!(
        skip_reason(triage(&finding("Recon:IAMUser/TorIPCaller", 3.9), &c))
            .contains("below MIN_SEVERITY 4.0")
    );
    assert!(skip_reason(triage(
        &finding("Recon:EC2/PortProbeUnprotectedPort", 8.0),
        &c
    ))
    .contains("not one of FINDING_TYPES"));
}

#[test]
fn triage_skips_samples_archived_and_placeholders() {
    let c = role_scope();
    let mut i = finding(EXFIL, 8.0);
    i.sample = true;
    assert!(skip_reason(triage(&i, &c)).contains("ALLOW_SAMPLE_FINDINGS"));
    let allow = config(&[("ALLOW_SAMPLE_FINDINGS", "true")]);
    assert!(matches!(triage(&i, &allow), Triage::Role(_)));
    i.principal.name = Some("GeneratedFindingUserName".into());
    assert!(skip_reason(triage(&i, &allow)).contains("placeholder"));
    let mut i = finding(EXFIL, 8.0);
    i.archived = true;
    assert!(skip_reason(triage(&i, &c)).contains("archived"));
}

#[test]
fn triage_sends_root_and_unknown_principals_to_manual_action() {
    let c = role_scope();
    let mut i = finding(EXFIL, 8.0);
    i.principal = Principal {
        user_type: UserType::Root,
        name: None,
        principal_id: None,
        access_key_id: None,
    };
    match triage(&i, &c) {
        Triage::Done(PlannedAction {
            step: Step::Manual { commands, .. },
            ..
        }) => {
            assert!(commands
                .iter()
                .any(|c| c.contains("cloudtrail lookup-events")))
        }
        other => panic!("{other:?}"),
    }
    let root_finding = finding("Policy:IAMUser/RootCredentialUsage", 2.0);
    assert!(matches!(
        triage(&root_finding, &c),
        Triage::Done(PlannedAction {
            step: Step::Manual { .. },
            ..
        })
    ));
    let mut i = finding(EXFIL, 8.0);
    i.principal.user_type = UserType::Other("GeneratedFindingUserType".into());
    assert!(matches!(
        triage(&i, &c),
        Triage::Done(PlannedAction {
            step: Step::Manual { .. },
            ..
        })
    ));
}

#[test]
fn triage_refuses_accounts_outside_the_allow_list() {
    let c = config(&[("ALLOWED_ACCOUNTS", "444455556666")]);
    assert!(skip_reason(triage(&finding(EXFIL, 8.0), &c)).contains("ALLOWED_ACCOUNTS"));
}

fn write_of(actions: &[PlannedAction]) -> &Write {
    match &actions[0].step {
        Step::Write(w) => w,
        other => panic!("expected a write, got {other:?}"),
    }
}

#[test]
fn revokes_with_a_cutoff_margin_ahead_of_now() {
    let i = finding(EXFIL, 8.0);
    let actions = decide_role(&i, &facts(role("/"), None), &role_scope(), NOW);
    match write_of(&actions) {
        Write::PutRolePolicy {
            policy_name,
            cutoff,
            document,
            previous_cutoff,
            ..
        } => {
            assert_eq!(*policy_name, "AWSRevokeOlderSessions");
            assert_eq!(*cutoff, datetime!(2026-11-22 03:00:30 UTC));
            assert_eq!(*previous_cutoff, None);
            assert!(document.contains("2026-11-22T03:00:30Z"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(actions.len(), 1, "no re-association unless configured");
}

#[test]
fn repeated_delivery_is_already_covered_and_later_activity_moves_forward() {
    let i = finding(EXFIL, 8.0); // last seen 02:59:00
    let existing = RevocationPolicy {
        cutoff: datetime!(2026-11-22 02:59:30 UTC),
    }
    .to_json();
    let actions = decide_role(
        &i,
        &facts(role("/"), Some(existing.clone())),
        &role_scope(),
        NOW,
    );
    assert!(
        matches!(actions[0].step, Step::AlreadyCovered { .. }),
        "{actions:?}"
    );

    let mut later = i.clone();
    later.event_last_seen = Some(datetime!(2026-11-22 02:59:45 UTC));
    let actions = decide_role(
        &later,
        &facts(role("/"), Some(existing)),
        &role_scope(),
        NOW,
    );
    match write_of(&actions) {
        Write::PutRolePolicy {
            previous_cutoff,
            cutoff,
            ..
        } => {
            assert_eq!(*previous_cutoff, Some(datetime!(2026-11-22 02:59:30 UTC)));
            assert!(*cutoff > datetime!(2026-11-22 02:59:30 UTC));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn never_moves_a_cutoff_backwards() {
    // A cutoff already further ahead than now + margin (written by the console with a
    // longer margin, or by a concurrent responder) is kept.
    let mut i = finding(EXFIL, 8.0);
    i.event_last_seen = None;
    let ahead = RevocationPolicy {
        cutoff: datetime!(2026-11-22 03:05:00 UTC),
    }
    .to_json();
    let actions = decide_role(&i, &facts(role("/"), Some(ahead)), &role_scope(), NOW);
    assert!(
        matches!(actions[0].step, Step::AlreadyCovered { cutoff, .. } if cutoff == datetime!(2026-11-22 03:05:00 UTC))
    );
}

#[test]
fn protected_roles_are_never_revoked_and_need_a_person() {
    let i = finding(EXFIL, 8.0);
    let c = config(&[("PROTECTED_ROLES", "web-*")]);
    // The stolen session is still live: manual action with steps, never "skipped".
    let skip = |actions: Vec<PlannedAction>| match &actions[0].step {
        Step::Manual { reason, commands } if !commands.is_empty() => reason.clone(),
        other => panic!("{other:?}"),
    };
    assert!(skip(decide_role(
        &i,
        &facts(role("/aws-service-role/"), None),
        &role_scope(),
        NOW
    ))
    .contains("service-linked"));
    assert!(skip(decide_role(
        &i,
        &facts(role("/aws-reserved/sso.amazonaws.com/"), None),
        &role_scope(),
        NOW
    ))
    .contains("Identity Center"));
    assert!(skip(decide_role(&i, &facts(role("/"), None), &c, NOW)).contains("PROTECTED_ROLES"));
    let mut own = facts(role("/"), None);
    own.responder_role = Ok(Some("web-app".into()));
    assert!(skip(decide_role(&i, &own, &role_scope(), NOW)).contains("own role"));
    let mut unknown = facts(role("/"), None);
    unknown.responder_role = Err("GetCallerIdentity failed".into());
    assert!(skip(decide_role(&i, &unknown, &role_scope(), NOW)).contains("RESPONDER_ROLE_ARN"));
}

#[test]
fn a_failed_policy_read_is_a_failure_not_a_blind_write() {
    let i = finding(EXFIL, 8.0);
    let mut f = facts(role("/"), None);
    f.role_policy = Err(AwsError::new(
        "GetRolePolicy",
        "Throttling",
        "Rate exceeded",
    ));
    let actions = decide_role(&i, &f, &role_scope(), NOW);
    assert!(matches!(&actions[0].step, Step::Fail { error } if error.code == "Throttling"));
}

#[test]
fn session_scope_denies_the_named_sessions_of_this_role_only() {
    let i = finding(EXFIL, 8.0);
    let c = config(&[("REVOKE_SCOPE", "session")]);
    let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
    assert_eq!(actions[0].kind, ActionKind::RevokeSessions);
    match write_of(&actions) {
        Write::PutRolePolicy {
            policy_name,
            document,
            sessions,
            fallback,
            ..
        } => {
            assert_eq!(*policy_name, policy::SESSION_POLICY_NAME);
            assert_eq!(
                sessions,
                &vec![
                    "AROAEXAMPLEROLEID0001:i-0123456789abcdef0".to_string(),
                    "AROAEXAMPLEROLEID0001:i-0fedcba9876543210".to_string()
                ]
            );
            assert!(
                !document.contains("AROAOTHERROLEEXAMPLE1"),
                "another role's session is not this role's"
            );
            assert!(fallback.is_some());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn session_scope_on_a_shared_instance_role_denies_only_that_instances_old_sessions() {
    use crate::policy::evaluator::{denies, Request};
    // web-app is the instance profile role of a fleet; one instance's credentials leaked.
    let i = finding(EXFIL, 8.0);
    let c = config(&[("REVOKE_SCOPE", "session")]);
    let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
    let Write::PutRolePolicy {
        document, cutoff, ..
    } = write_of(&actions)
    else {
        panic!()
    };
    let old = *cutoff - Duration::hours(2);
    let token = |userid: &'static str, issued| Request {
        token_issue_time: Some(issued),
        userid,
    };
    let stolen = "AROAEXAMPLEROLEID0001:i-0123456789abcdef0";
    assert!(
        denies(document, &token(stolen, old)),
        "the leaked instance session is denied"
    );
    assert!(
        !denies(document, &token(stolen, *cutoff + Duration::minutes(5))),
        "its next credentials work"
    );
    for sibling in [
        "AROAEXAMPLEROLEID0001:i-0aaaaaaaaaaaaaaa1",
        "AROAEXAMPLEROLEID0001:i-0bbbbbbbbbbbbbbb2",
    ] {
        assert!(
            !denies(document, &token(sibling, old)),
            "{sibling} keeps working"
        );
    }
}

#[test]
fn session_scope_falls_back_to_role_wide_over_the_size_budget() {
    let mut i = finding(EXFIL, 8.0);
    i.recent_credentials = (0..300)
        .map(|n| crate::model::StolenCredential {
            access_key_id: None,
            principal_id: Some(format!("AROAEXAMPLEROLEID0001:i-{n:017x}")),
            ip_address_v4: None,
        })
        .collect();
    let c = config(&[("REVOKE_SCOPE", "session")]);
    let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
    match write_of(&actions) {
        Write::PutRolePolicy {
            policy_name, note, ..
        } => {
            assert_eq!(*policy_name, policy::ROLE_POLICY_NAME);
            assert!(note.as_deref().unwrap().contains("budget"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn instance_resolution() {
    let i = finding(EXFIL, 8.0);
    assert_eq!(stolen_instance(&i).as_deref(), Some("i-0123456789abcdef0"));
    // Session name not an instance id, exfiltration type: instanceDetails.
    let mut j = i.clone();
    j.principal.principal_id = Some("AROAEXAMPLEROLEID0001:alice".into());
    assert_eq!(stolen_instance(&j).as_deref(), Some("i-0123456789abcdef0"));
    // Not an exfiltration type and no instance session: no instance.
    j.finding_type = Some("Recon:IAMUser/TorIPCaller".into());
    assert_eq!(stolen_instance(&j), None);
    let c = config(&[("REASSOCIATE_INSTANCE_PROFILE", "true")]);
    let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
    assert!(
        matches!(&actions[1].step, Step::Write(Write::ReassociateInstanceProfile { not_before, .. }) if *not_before == datetime!(2026-11-22 03:00:30 UTC))
    );
}

#[test]
fn the_instance_is_reassociated_in_the_findings_region_and_only_a_real_one() {
    let c = config(&[("REASSOCIATE_INSTANCE_PROFILE", "true")]);
    let reassociation = |region: Option<&str>| {
        let mut i = finding(EXFIL, 8.0);
        i.region = region.map(str::to_string);
        let actions = decide_role(&i, &facts(role("/"), None), &c, NOW);
        assert!(
            matches!(actions[0].step, Step::Write(_)),
            "the deny is written whatever the region: {actions:?}"
        );
        assert_eq!(actions[1].kind, ActionKind::ReassociateInstanceProfile);
        actions[1].step.clone()
    };
    assert!(matches!(
        reassociation(Some("ap-southeast-2")),
        Step::Write(Write::ReassociateInstanceProfile { region: Some(r), .. }) if r == "ap-southeast-2"
    ));
    for (region, why) in [
        (Some("ec2.evil.example/"), "is not an AWS region name"),
        (Some("us-east-1.evil.example"), "is not an AWS region name"),
        (None, "names no region"),
    ] {
        match reassociation(region) {
            Step::Skip { reason } => {
                assert!(reason.contains(why), "{region:?}: {reason}");
                assert!(reason.contains("i-0123456789abcdef0"), "{reason}");
            }
            other => panic!("{region:?} must not reach EC2: {other:?}"),
        }
    }
}

fn user_facts(keys: &[(&str, &str)]) -> UserFacts {
    UserFacts {
        user: crate::model::UserInfo {
            name: "ci-bot".into(),
            arn: "arn:aws:iam::111122223333:user/ci-bot".into(),
            user_id: "AIDAEXAMPLEUSER00001".into(),
        },
        keys: Ok(keys
            .iter()
            .map(|(id, s)| crate::model::AccessKeyInfo {
                access_key_id: id.to_string(),
                status: crate::model::KeyStatus::parse(s),
            })
            .collect()),
        user_policy: Ok(None),
    }
}

#[test]
fn user_keys_deactivate_exactly_the_named_key() {
    let i = finding(EXFIL, 8.0);
    let target = |key: &str| UserTarget {
        name: "ci-bot".into(),
        access_key_id: Some(key.into()),
    };
    let f = user_facts(&[
        ("AKIAEXAMPLEOTHERKEY1", "Active"),
        ("AKIAEXAMPLESTOLENKEY", "Active"),
    ]);
    let actions = decide_user(&i, &target("AKIAEXAMPLESTOLENKEY"), &f, &role_scope(), NOW);
    assert_eq!(
        write_of(&actions),
        &Write::DeactivateAccessKey {
            user: "ci-bot".into(),
            access_key_id: "AKIAEXAMPLESTOLENKEY".into()
        }
    );
    let f = user_facts(&[("AKIAEXAMPLESTOLENKEY", "Inactive")]);
    let actions = decide_user(&i, &target("AKIAEXAMPLESTOLENKEY"), &f, &role_scope(), NOW);
    assert!(matches!(actions[0].step, Step::AlreadyCovered { .. }));
    let actions = decide_user(&i, &target("AKIAEXAMPLEUNKNOWN01"), &f, &role_scope(), NOW);
    assert!(matches!(&actions[0].step, Step::Fail { error } if error.code == "NoSuchEntity"));
    let actions = decide_user(&i, &target("ASIAEXAMPLETEMPKEY01"), &f, &role_scope(), NOW);
    assert!(matches!(write_of(&actions), Write::PutUserPolicy { .. }));
}

#[test]
fn a_long_term_key_is_deactivated_and_the_sessions_minted_from_it_denied() {
    let i = finding(EXFIL, 8.0);
    // IAM says which keys are long-term: the prefix is only a hint (emulators and future
    // formats differ), so a listed key with any prefix is deactivated.
    for key in ["AKIAEXAMPLESTOLENKEY", "FKIAexamplestolenkey"] {
        let f = user_facts(&[(key, "Active")]);
        let target = UserTarget {
            name: "ci-bot".into(),
            access_key_id: Some(key.into()),
        };
        let actions = decide_user(&i, &target, &f, &role_scope(), NOW);
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert_eq!(actions[0].kind, ActionKind::DeactivateAccessKey);
        assert!(
            matches!(&actions[0].step, Step::Write(Write::DeactivateAccessKey { access_key_id, .. }) if access_key_id == key)
        );
        assert_eq!(actions[1].kind, ActionKind::RevokeUserSessions);
        match &actions[1].step {
            Step::Write(Write::PutUserPolicy {
                document, cutoff, ..
            }) => {
                assert_eq!(*cutoff, NOW + Duration::seconds(30));
                // The console's shape, its Sid naming the finding (policy::attribution).
                let read = crate::policy::read_revocations(document).unwrap();
                assert!(read.is_exact(), "{document}");
                assert_eq!(read.statements.len(), 1);
                assert_eq!(read.statements[0].cutoff, *cutoff);
                let sid = read.statements[0].sid.as_deref().unwrap();
                let served = crate::policy::attribution::decode_sid("SessionRevoker", sid);
                assert_eq!(
                    served,
                    Some(vec![crate::policy::attribution::Served::incident(
                        i.finding_id.as_deref(),
                        *cutoff
                    )])
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // A key IAM does not list for the user is a temporary one, whatever its prefix.
    let f = user_facts(&[("AKIAEXAMPLEOTHERKEY1", "Active")]);
    let target = UserTarget {
        name: "ci-bot".into(),
        access_key_id: Some("FSIAexampletempkey01".into()),
    };
    let actions = decide_user(&i, &target, &f, &role_scope(), NOW);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].kind, ActionKind::RevokeUserSessions);
}

#[test]
fn a_replayed_old_finding_writes_nothing_unless_a_person_asked() {
    let c = Config::default();
    let fresh = finding("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 5.0);
    assert!(matches!(triage_at(&fresh, &c, NOW), Triage::Role(_)));
    // The same finding, sent again 37 h after its last activity: every token it saw expired.
    let later = NOW + Duration::hours(37);
    match triage_at(&fresh, &c, later) {
        Triage::Done(PlannedAction {
            step: Step::Skip { reason },
            ..
        }) => assert!(
            reason.contains("the longest token it could concern"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    // At 35 h it is still acted on (a user's GetSessionToken session lives 36 h).
    assert!(matches!(
        triage_at(&fresh, &c, NOW + Duration::hours(35)),
        Triage::Role(_)
    ));
    // A person's choice (a Security Hub custom action) is acted on whatever its age.
    let mut asked = fresh.clone();
    asked.requested_via = Some("Security Hub custom action".into());
    assert!(matches!(triage_at(&asked, &c, later), Triage::Role(_)));
    // A long-term key never expires: a person decides, with the steps.
    let user = incident(serde_json::json!({
        "id": "f2", "accountId": "111122223333", "region": "eu-west-1",
        "type": "UnauthorizedAccess:IAMUser/TorIPCaller", "severity": 5.0,
        "resource": {"accessKeyDetails": {"userType": "IAMUser", "userName": "ci-bot",
            "principalId": "AIDAEXAMPLEEXAMPLE001", "accessKeyId": "AKIAQEXAMPLE7CIUSER1"}},
        "service": {"eventLastSeen": "2026-11-22T02:59:00Z"}
    }));
    match triage_at(&user, &c, later) {
        Triage::Done(PlannedAction {
            step: Step::Manual { reason, commands },
            ..
        }) => {
            assert!(reason.contains("does not expire"), "{reason}");
            assert!(
                commands.iter().any(|c| c.contains("update-access-key")),
                "{commands:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Turned off: acted on.
    let off = config(&[("MAX_FINDING_AGE_HOURS", "0")]);
    assert!(matches!(triage_at(&fresh, &off, later), Triage::Role(_)));
    // Without eventLastSeen nothing is inferred (absent is the safe side: acted on).
    let mut unknown = fresh;
    unknown.event_last_seen = None;
    assert!(matches!(triage_at(&unknown, &c, later), Triage::Role(_)));
}
