//! One record read: session fields, policy ARNs and region names validated.

use super::*;

fn assume_record(assumed_role_id: &str, session: &str, role_arn: &str) -> LookedUpEvent {
    let record = serde_json::json!({
        "eventName": "AssumeRole", "eventSource": "sts.amazonaws.com",
        "eventID": "0b6c1c9e-1111-4222-8333-944455556666", "eventTime": "2026-11-30T09:00:00Z",
        "awsRegion": "eu-west-1", "recipientAccountId": FIND,
        "userIdentity": {"type": "AssumedRole", "accessKeyId": K0, "accountId": FIND},
        "requestParameters": {"roleArn": role_arn, "roleSessionName": session},
        "responseElements": {
            "credentials": {"accessKeyId": "ASIANEXTKEY000000001", "expiration": "Nov 30, 2026, 10:00:00 AM"},
            "assumedRoleUser": {"assumedRoleId": assumed_role_id,
                "arn": format!("arn:aws:sts::{FIND}:assumed-role/target/{session}")}
        }
    });
    LookedUpEvent {
        cloud_trail_event: Some(record.to_string()),
        ..Default::default()
    }
}

#[test]
fn session_fields_are_validated() {
    let arn = "arn:aws:iam::111122223333:role/team/target";
    let ok = observe(&assume_record("AROATARGETROLE000001:s-1", "s-1", arn), K0);
    let Observed::Session(s) = ok else {
        panic!("{ok:?}")
    };
    assert_eq!(s.role.path, "/team/");
    assert_eq!(s.role.role_id, "AROATARGETROLE000001");
    assert_eq!(s.event.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s.event.event_time, Some(datetime!(2026-11-30 09:00:00 UTC)));

    for (id, session, role_arn) in [
        (
            "AROATARGETROLE000001:${aws:username}",
            "${aws:username}",
            arn,
        ),
        ("AROATARGETROLE000001:*", "*", arn),
        ("AROATARGETROLE000001:s-1", "s-2", arn),
        ("AIDATARGETUSER000001", "s-1", arn),
        (
            "AROATARGETROLE000001:s-1",
            "s-1",
            "arn:aws:iam::111122223333:user/target",
        ),
        (
            "AROATARGETROLE000001:s-1",
            "s-1",
            "arn:aws:iam::111122223333:role/other",
        ),
    ] {
        let got = observe(&assume_record(id, session, role_arn), K0);
        assert!(
            matches!(got, Observed::Unreadable { .. }),
            "{id} {session} {role_arn}: {got:?}"
        );
    }
    // Another key's record is not this key's doing.
    assert_eq!(
        observe(
            &assume_record("AROATARGETROLE000001:s-1", "s-1", arn),
            "ASIAOTHERKEY00000001"
        ),
        Observed::Other
    );
    let broken = LookedUpEvent {
        event_name: Some("CreateUser".into()),
        cloud_trail_event: Some("{not json".into()),
        ..Default::default()
    };
    assert!(matches!(
        observe(&broken, K0),
        Observed::Unreadable { event, .. } if event.event_name == "CreateUser"
    ));
}

#[test]
fn policy_arns_and_regions() {
    assert!(event::is_policy_arn(
        "arn:aws:iam::aws:policy/AdministratorAccess"
    ));
    assert!(event::is_policy_arn(
        "arn:aws-us-gov:iam::111122223333:policy/a/b/c"
    ));
    assert!(!event::is_policy_arn("arn:aws:iam::aws:policy/*"));
    assert!(!event::is_policy_arn("arn:aws:iam::aws:role/x"));
    assert!(!event::is_policy_arn("arn:aws:iam::12:policy/x"));
    assert!(event::is_region("us-gov-west-1"));
    assert!(event::is_region("eu-central-2"));
    assert!(!event::is_region("us-east-1;"));
    assert!(!event::is_region("global"));
}
