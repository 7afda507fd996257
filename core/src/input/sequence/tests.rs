//! Attack sequences: one incident per credential, each handled like a finding of its own.

use crate::config::Config;
use crate::input::parse_payload;
use crate::model::{Incident, Triage, UserType};
use crate::plan::triage;
use serde_json::{json, Value};

fn event() -> Value {
    serde_json::from_str(include_str!(
        "../../../../events/attack-sequence-event.json"
    ))
    .unwrap()
}

fn incidents(v: &Value) -> Vec<Incident> {
    parse_payload(v)
        .unwrap()
        .items
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn sequence(f: &mut Value) -> &mut Value {
    &mut f["detail"]["service"]["detection"]["sequence"]
}

fn user_actor(id: &str, name: &str, key: &str, account: &str) -> Value {
    json!({"id": id, "user": {"name": name, "uid": "AIDAEXAMPLEUSER00001", "type": "IAMUser",
        "credentialUid": key, "account": {"uid": account}}})
}

fn role_actor(id: &str, role_arn: &str, session: &str, key: &str, account: &str) -> Value {
    json!({"id": id, "user": {"name": session, "uid": format!("AROAEXAMPLEROLEID0001:{session}"),
        "type": "AssumedRole", "credentialUid": key, "account": {"uid": account}},
        "session": {"issuer": role_arn}})
}

#[test]
fn the_sample_names_a_user_key_and_a_role_session_each_an_incident() {
    let list = incidents(&event());
    assert_eq!(list.len(), 2, "{list:#?}");
    let (user, role) = (&list[0], &list[1]);
    // The actor and the ACCESS_KEY resource name the same key: one credential.
    assert_eq!(user.principal.user_type, UserType::IamUser);
    assert_eq!(user.principal.name.as_deref(), Some("ci-bot"));
    assert_eq!(
        user.principal.access_key_id.as_deref(),
        Some("AKIAQEXAMPLE7CIUSER1")
    );
    assert_eq!(user.account.as_deref(), Some("123456789012"));
    // The role's name is the issuer's, not the session name the caller chose (`user.name`).
    assert_eq!(role.principal.user_type, UserType::AssumedRole);
    assert_eq!(role.principal.name.as_deref(), Some("web-app"));
    assert_eq!(role.principal.session_name(), Some("attacker-laptop"));
    assert_eq!(
        role.principal.access_key_id.as_deref(),
        Some("ASIAQEXAMPLEWEBAPP001")
    );
    for i in &list {
        assert_eq!(
            i.finding_type.as_deref(),
            Some("AttackSequence:IAM/CompromisedCredentials")
        );
        assert_eq!(
            i.finding_id.as_deref(),
            Some("4ac9e2f07b1d48e3a6c05f9d8e7b2a10")
        );
        assert_eq!(i.severity, Some(9.2));
        assert!(
            i.unreadable.is_none() && i.ignored_fields.is_empty(),
            "{i:#?}"
        );
        let link = i.sequence.as_ref().unwrap();
        assert_eq!((link.credentials_found, link.review.as_deref()), (2, None));
    }
    // Each credential's signals, and its window from them (coverage uses the last sighting).
    let names = |i: &Incident| -> Vec<String> {
        i.sequence
            .as_ref()
            .unwrap()
            .signals
            .iter()
            .filter_map(|s| s.name.clone())
            .collect()
    };
    assert_eq!(
        names(user),
        ["UnauthorizedAccess:IAMUser/TorIPCaller", "sts:AssumeRole"]
    );
    assert_eq!(names(role), ["sts:AssumeRole", "s3:GetObject"]);
    let utc = |t: Option<time::OffsetDateTime>| t.map(crate::names::format_utc);
    assert_eq!(
        utc(user.event_last_seen).as_deref(),
        Some("2026-11-22T02:58:41Z")
    );
    assert_eq!(
        utc(role.event_first_seen).as_deref(),
        Some("2026-11-22T02:47:19Z")
    );
    assert_eq!(
        utc(role.event_last_seen).as_deref(),
        Some("2026-11-22T03:12:48Z")
    );
    assert_eq!(user.sequence.as_ref().unwrap().signals[0].count, Some(4));
    // Both go through the single-finding path: a user and a role to act on, by default.
    let config = Config::default();
    assert!(matches!(triage(user, &config), Triage::User(u) if u.name == "ci-bot"));
    assert!(
        matches!(triage(role, &config), Triage::Role(r) if r.name.as_deref() == Some("web-app"))
    );
}

#[test]
fn a_user_and_a_role_in_two_accounts() {
    let mut f = event();
    *sequence(&mut f) = json!({
        "actors": [
            user_actor("a1", "alice", "AKIAEXAMPLEALICE0001", "111111111111"),
            // Activity in 111111111111, role owned by 222222222222 (the issuer's account).
            role_actor("a2", "arn:aws:iam::222222222222:role/etl", "x", "ASIAEXAMPLEETL00001", "111111111111"),
        ],
        "resources": [{"uid": "AKIAEXAMPLEALICE0001", "resourceType": "ACCESS_KEY",
            "accountId": "333333333333", "data": {"accessKey": {"userName": "alice", "userType": "IAMUser"}}}],
        "signals": [],
    });
    let list = incidents(&f);
    assert_eq!(list.len(), 2);
    // The key resource's account is the key's owner: it wins over where the activity was.
    assert_eq!(list[0].account.as_deref(), Some("333333333333"));
    assert_eq!(list[1].account.as_deref(), Some("222222222222"));
    assert_eq!(list[1].principal.name.as_deref(), Some("etl"));
    // ALLOWED_ACCOUNTS applies to each credential's own account.
    let config = Config {
        allowed_accounts: vec!["222222222222".into()],
        ..Config::default()
    };
    assert!(
        matches!(triage(&list[0], &config), Triage::Done(a) if format!("{a:?}").contains("ALLOWED_ACCOUNTS"))
    );
    assert!(matches!(triage(&list[1], &config), Triage::Role(_)));
    // No signal names them: the finding's own window.
    assert_eq!(
        list[0]
            .event_last_seen
            .map(crate::names::format_utc)
            .as_deref(),
        Some("2026-11-22T03:12:48Z")
    );
}

#[test]
fn a_sequence_that_names_no_credential_is_a_review_for_a_person() {
    for seq in [
        json!({"actors": [], "resources": [{"uid": "arn:aws:s3:::b", "resourceType": "S3_BUCKET"}],
            "signals": [{"name": "s3:GetObject", "type": "S3_DATA_EVENTS", "count": 3}]}),
        json!(null),
        json!("not an object"),
        json!({"actors": [{"id": "a", "user": null}, 7, {"session": {}}]}),
    ] {
        let mut f = event();
        *sequence(&mut f) = seq.clone();
        let list = incidents(&f);
        assert_eq!(list.len(), 1, "{seq}: {list:#?}");
        let link = list[0].sequence.as_ref().unwrap();
        assert_eq!((link.credential, link.credentials_found), (None, 0));
        let Triage::Done(a) = triage(&list[0], &Config::default()) else {
            panic!("{seq}: not a manual review")
        };
        let text = format!("{a:?}");
        assert!(
            text.contains("Manual") && text.contains("get-findings"),
            "{seq}: {text}"
        );
        assert!(!text.contains("put-role-policy"), "{text}");
    }
}

#[test]
fn a_hostile_name_in_an_actor_never_reaches_a_policy_and_costs_only_its_credential() {
    let mut f = event();
    let seq = sequence(&mut f);
    seq["actors"][0]["user"]["name"] = json!("${aws:username}*");
    seq["actors"][1]["user"]["name"] = json!({"not": "a string"});
    seq["resources"] = json!([]);
    let list = incidents(&f);
    assert_eq!(list.len(), 2);
    // The hostile string: refused by the user-name rule, like a single finding's.
    let Triage::Done(a) = triage(&list[0], &Config::default()) else {
        panic!()
    };
    assert!(
        format!("{a:?}").contains("names no valid IAM user"),
        "{a:?}"
    );
    // The unreadable name: that credential is unreadable, named at its path.
    let e = list[1].unreadable.as_ref().unwrap();
    assert_eq!(e.field, "service.detection.sequence.actors[1].user.name");
    assert!(matches!(
        triage(&list[1], &Config::default()),
        Triage::Done(_)
    ));
}

#[test]
fn a_session_named_like_another_role_never_names_that_role() {
    // Without an issuer, `user.name` (possibly the session name the caller chose) is not the
    // role: the RoleId in `user.uid` is, looked up by id.
    let mut f = event();
    let seq = sequence(&mut f);
    seq["actors"][1]["session"]["issuer"] = json!(null);
    seq["actors"][1]["user"]["name"] = json!("billing-reader");
    let role = &incidents(&f)[1];
    assert_eq!(role.principal.name, None);
    let Triage::Role(target) = triage(role, &Config::default()) else {
        panic!("{role:#?}")
    };
    assert_eq!(target.name, None);
    assert_eq!(target.role_id.as_deref(), Some("AROAQEXAMPLEWEBAPP0001"));
    // A hostile issuer is no role ARN: the same.
    sequence(&mut f)["actors"][1]["session"]["issuer"] =
        json!("arn:aws:iam::123456789012:role/${aws:username}");
    assert_eq!(incidents(&f)[1].principal.name, None);
}

#[test]
fn security_hub_copy_full_of_actors_says_more_may_exist() {
    let actors: Vec<Value> = (0..10)
        .map(|n| json!({"Id": format!("a{n}"), "User": {"Name": format!("user{n}"), "Type": "IAMUser",
            "Uid": format!("AIDAEXAMPLEUSER0000{n}"), "CredentialUid": format!("AKIAEXAMPLEKEY00000{n}"),
            "Account": {"Uid": "111122223333"}}}))
        .collect();
    let asff = |actors: &[Value]| {
        json!({
            "SchemaVersion": "2018-10-08",
            "Id": "arn:aws:guardduty:us-east-1:111122223333:detector/d/finding/seq1",
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "AwsAccountId": "111122223333", "Region": "us-east-1",
            "FindingProviderFields": {"Types": ["TTPs/AttackSequence:IAM-CompromisedCredentials"],
                "Severity": {"Original": "9.2"}},
            "Resources": [{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:AKIAEXAMPLEKEY000000",
                "Details": {"AwsIamAccessKey": {"PrincipalName": "user0", "PrincipalType": "IAMUser", "AccountId": "111122223333"}}},
                {"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:AKIAEXAMPLEKEY000001"}],
            "Detection": {"Sequence": {"Uid": "s", "Actors": actors,
                "Signals": [{"Id": "g1", "Type": "FINDING", "Name": "Recon:IAMUser/TorIPCaller", "Count": 2,
                    "FirstSeenAt": 1795489200000_u64, "LastSeenAt": 1795489260000_u64, "ActorIds": ["a0"]}]}}
        })
    };
    let list = incidents(&asff(&actors));
    assert_eq!(list.len(), 11, "ten credentials and the review: {list:#?}");
    assert!(list
        .iter()
        .all(|i| i.finding_type.as_deref() == Some("AttackSequence:IAM/CompromisedCredentials")));
    assert_eq!(list[0].principal.name.as_deref(), Some("user0"));
    assert_eq!(list[0].sequence.as_ref().unwrap().signals[0].count, Some(2));
    assert!(list[0].event_last_seen.is_some());
    let review = &list[10];
    let link = review.sequence.as_ref().unwrap();
    assert!(link.more_may_exist && link.credential.is_none());
    assert!(
        link.review.as_deref().unwrap().contains("may name more"),
        "{link:?}"
    );
    // Fewer than ten actors: the copy is complete, no review.
    let list = incidents(&asff(&actors[..2]));
    assert_eq!(list.len(), 2, "{list:#?}");
    assert!(list
        .iter()
        .all(|i| !i.sequence.as_ref().unwrap().more_may_exist));
}

#[test]
fn get_findings_output_in_pascal_case_is_read_too() {
    let mut detail = event()["detail"].clone();
    fn pascal(v: &Value) -> Value {
        match v {
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| {
                        let mut c = k.chars();
                        let k: String = c
                            .next()
                            .map(|f| f.to_uppercase().chain(c).collect())
                            .unwrap_or_default();
                        (k, pascal(v))
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(pascal).collect()),
            other => other.clone(),
        }
    }
    detail = pascal(&detail);
    let list = incidents(&json!({"Findings": [detail]}));
    assert_eq!(list.len(), 2);
    assert_eq!(list, incidents(&event()));
}

#[test]
fn wrong_types_anywhere_give_incidents_never_a_panic() {
    let base = event();
    let paths: &[&[&str]] = &[
        &["actors"],
        &["actors", "0"],
        &["actors", "0", "user"],
        &["actors", "0", "id"],
        &["actors", "1", "session"],
        &["actors", "1", "session", "issuer"],
        &["resources", "0", "data"],
        &["resources", "0", "uid"],
        &["signals"],
        &["signals", "0", "actorIds"],
        &["signals", "0", "count"],
        &["signals", "0", "lastSeenAt"],
        &["signals", "2", "firstSeenAt"],
    ];
    for path in paths {
        for bad in [
            json!(null),
            json!(-1.5),
            json!("x".repeat(5000)),
            json!([[]]),
            json!({"a": {}}),
            json!(true),
        ] {
            let mut f = base.clone();
            let mut v = sequence(&mut f);
            for k in *path {
                v = match k.parse::<usize>() {
                    Ok(n) => &mut v[n],
                    Err(_) => &mut v[*k],
                };
            }
            *v = bad.clone();
            let p = parse_payload(&f).unwrap();
            assert!(!p.items.is_empty(), "{path:?} = {bad}");
            for i in p.items.iter().map(|i| i.as_ref().unwrap()) {
                let _ = triage(i, &Config::default());
                assert!(i.sequence.is_some());
            }
        }
    }
}

#[test]
fn the_fuzz_seeds_parse_as_intended() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (file, credentials, review) in [
        ("attack-sequence-get-findings.json", 2, false),
        ("attack-sequence-no-credential.json", 0, true),
        ("attack-sequence-securityhub-full.json", 10, true),
    ] {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        let list = incidents(&v);
        let reviews = list
            .iter()
            .filter(|i| i.sequence.as_ref().unwrap().review.is_some())
            .count();
        assert_eq!(
            (list.len() - reviews, reviews == 1),
            (credentials, review),
            "{file}: {list:#?}"
        );
    }
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("attack-sequence-hostile.json")).unwrap(),
    )
    .unwrap();
    assert!(parse_payload(&v).unwrap().items.len() >= 3);
}

#[test]
fn the_report_ties_each_incident_to_the_sequence_and_counts_what_was_contained() {
    use crate::model::{ActionKind, ActionOutcome, Status};
    use crate::report::{IncidentReport, Report};
    let list = incidents(&event());
    let done = |kind, target: &str, status| vec![ActionOutcome::new(kind, target, status, "x")];
    let reports = vec![
        IncidentReport::new(
            &list[0],
            done(
                ActionKind::DeactivateAccessKey,
                "AKIAQEXAMPLE7CIUSER1",
                Status::Done,
            ),
        ),
        IncidentReport::new(
            &list[1],
            done(ActionKind::RevokeRoleSessions, "web-app", Status::Failed),
        ),
    ];
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let r = Report::new(None, false, reports, now, 0);
    assert!(
        r.summary.ends_with(
            "attack sequence 4ac9e2f07b1d48e3a6c05f9d8e7b2a10: 1 of 2 credentials contained"
        ),
        "{}",
        r.summary
    );
    let json: Value = serde_json::from_str(&r.to_json()).unwrap();
    let seq = &json["incidents"][1]["sequence"];
    assert_eq!(seq["credential"], 2);
    assert_eq!(seq["signals"][1]["name"], "s3:GetObject");
    assert_eq!(seq["signals"][1]["type"], "S3_DATA_EVENTS");
    assert_eq!(seq["signals"][1]["count"], 212);
    assert_eq!(seq["signals"][1]["last_seen"], "2026-11-22T03:12:48Z");
    let text = r.to_text();
    assert!(
        text.contains("credential 2 of 2 named by attack sequence 4ac9e2f07b1d48e3a6c05f9d8e7b2a10; signals: sts:AssumeRole (CLOUD_TRAIL, 1×"),
        "{text}"
    );
    // A dry run says "would be contained".
    let reports = vec![IncidentReport::new(
        &list[0],
        done(ActionKind::DeactivateAccessKey, "k", Status::WouldDo),
    )];
    assert!(Report::new(None, true, reports, now, 0)
        .summary
        .contains("1 of 2 credentials would be contained"));
}

#[test]
fn verify_findings_compares_each_credential_with_guardduty_s_own() {
    use crate::verify::{finding_arn, judge, Verdict};
    let copy = event()["detail"].clone();
    let list = incidents(&event());
    for given in &list {
        let arn = finding_arn(given).unwrap();
        match judge(given, &arn, Some(&copy)) {
            Verdict::Genuine(c) => assert_eq!(c.principal, given.principal),
            other => panic!("{other:?}"),
        }
    }
    // A credential GuardDuty's copy does not name: refused.
    let mut forged = event();
    sequence(&mut forged)["actors"][1]["session"]["issuer"] =
        json!("arn:aws:iam::123456789012:role/admin");
    let given = &incidents(&forged)[1];
    let arn = finding_arn(given).unwrap();
    assert!(matches!(
        judge(given, &arn, Some(&copy)),
        Verdict::Differs(_)
    ));
    // Security Hub's full copy: its review stands once GuardDuty knows the finding.
    let mut review = list[0].clone();
    review.principal = Incident::empty(crate::model::Origin::Finding).principal;
    review.account = Some("123456789012".into());
    review.sequence = Some(crate::model::SequenceLink {
        credentials_found: 10,
        credential: None,
        signals: Vec::new(),
        more_may_exist: true,
        review: Some("more".into()),
    });
    assert!(matches!(
        judge(&review, &arn, Some(&copy)),
        Verdict::Genuine(_)
    ));
}

#[test]
fn a_key_resource_joins_its_actor_by_key_or_by_principal() {
    // A key id of another prefix (emulators mint FKIA…), and a resource naming only the principal.
    let mut f = event();
    let seq = sequence(&mut f);
    seq["actors"][0]["user"]["credentialUid"] = json!("FKIA6F5C7A79BA0B4BE6");
    seq["resources"][0]["uid"] = json!("FKIA6F5C7A79BA0B4BE6");
    seq["resources"][0]["name"] = json!("FKIA6F5C7A79BA0B4BE6");
    assert_eq!(incidents(&f).len(), 2);
    let seq = sequence(&mut f);
    seq["resources"][0]["uid"] = json!("arn:aws:iam::123456789012:user/ci-bot");
    seq["resources"][0]["name"] = json!("ci-bot");
    let list = incidents(&f);
    assert_eq!(list.len(), 2, "{list:#?}");
    assert_eq!(
        list[0].principal.access_key_id.as_deref(),
        Some("FKIA6F5C7A79BA0B4BE6")
    );
}

#[test]
fn root_and_unknown_principals_in_a_sequence_get_their_own_steps() {
    let mut f = event();
    *sequence(&mut f) = json!({"actors": [
        {"id": "r", "user": {"type": "Root", "uid": "123456789012", "credentialUid": "ASIAEXAMPLEROOT00001",
            "account": {"uid": "123456789012"}}},
        {"id": "s", "user": {"type": "AWSService", "name": "ec2.amazonaws.com", "account": {"uid": "123456789012"}}}
    ]});
    let list = incidents(&f);
    assert_eq!(list.len(), 2);
    let Triage::Done(root) = triage(&list[0], &Config::default()) else {
        panic!()
    };
    assert_eq!(root.target, "root");
    assert!(
        format!("{root:?}").contains("Sign in as root of account 123456789012"),
        "{root:?}"
    );
    let Triage::Done(other) = triage(&list[1], &Config::default()) else {
        panic!()
    };
    assert!(
        format!("{other:?}").contains("cannot be revoked by this tool"),
        "{other:?}"
    );
}
