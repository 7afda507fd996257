use super::*;
use crate::model::{Origin, UserType};
use crate::names;
use serde_json::json;

fn finding() -> Value {
    json!({
        "schemaVersion": "2.0",
        "accountId": "111122223333",
        "region": "eu-west-1",
        "id": "f1",
        "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "severity": 8,
        "resource": {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": "ASIAEXAMPLEEXAMPLE01",
                "principalId": "AROAEXAMPLEROLEID0001:i-0123456789abcdef0",
                "userType": "AssumedRole",
                "userName": "web-app"
            },
            "instanceDetails": {"instanceId": "i-0123456789abcdef0"}
        },
        "service": {
            "archived": false,
            "count": 3,
            "eventLastSeen": "2026-11-22T02:59:00.000Z",
            "additionalInfo": {"recentCredentials": [
                {"accessKeyId": "ASIAEXAMPLEEXAMPLE02", "principalId": "AROAEXAMPLEROLEID0001:i-0fedcba9876543210", "ipAddressV4": "198.51.100.7"}
            ]}
        },
        "updatedAt": "2026-11-22T03:00:00Z"
    })
}

#[test]
fn bare_finding() {
    let p = parse_payload(&finding()).unwrap();
    assert_eq!(p.shape, Shape::Finding);
    let i = p.items[0].as_ref().unwrap();
    assert_eq!(i.principal.user_type, UserType::AssumedRole);
    assert_eq!(i.principal.name.as_deref(), Some("web-app"));
    assert_eq!(i.principal.role_id(), Some("AROAEXAMPLEROLEID0001"));
    assert_eq!(i.principal.session_name(), Some("i-0123456789abcdef0"));
    assert_eq!(i.severity, Some(8.0));
    assert_eq!(i.count, Some(3));
    assert_eq!(i.recent_credentials.len(), 1);
    assert_eq!(
        names::format_utc(i.event_last_seen.unwrap()),
        "2026-11-22T02:59:00Z"
    );
}

#[test]
fn envelope_falls_back_to_envelope_account_and_region() {
    let mut detail = finding();
    detail.as_object_mut().unwrap().remove("accountId");
    detail.as_object_mut().unwrap().remove("region");
    let env = json!({"version": "0", "id": "e", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": "444455556666", "region": "us-east-1", "time": "2026-11-22T03:00:00Z", "resources": [], "detail": detail});
    let p = parse_payload(&env).unwrap();
    assert_eq!(p.shape, Shape::EventBridge);
    let i = p.items[0].as_ref().unwrap();
    assert_eq!(i.account.as_deref(), Some("444455556666"));
    assert_eq!(i.region.as_deref(), Some("us-east-1"));
}

#[test]
fn envelope_from_another_source_is_refused() {
    let env = json!({"detail-type": "x", "source": "aws.ec2", "detail": finding()});
    let err = parse_payload(&env).unwrap().items.remove(0).unwrap_err();
    assert_eq!(err.field, "source");
    let env = json!({"source": "aws.guardduty", "time": "not a time", "detail": finding()});
    let err = parse_payload(&env).unwrap().items.remove(0).unwrap_err();
    assert_eq!(err.field, "EventBridge envelope");
    assert!(err.problem.contains("missing field `detail-type`"), "{err}");
    let env = json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "time": "not a time", "detail": finding()});
    assert!(
        parse_payload(&env).unwrap().items[0].is_ok(),
        "an odd `time` does not cost the finding"
    );
}

#[test]
fn pascal_case_get_findings_with_string_additional_info() {
    let out = json!({"Findings": [{
        "AccountId": "111122223333", "Id": "f2", "Region": "us-east-1",
        "Type": "Recon:IAMUser/MaliciousIPCaller", "Severity": "5",
        "Resource": {"AccessKeyDetails": {"UserType": "IAMUser", "UserName": "alice", "AccessKeyId": "AKIAEXAMPLEEXAMPLE01", "PrincipalId": "AIDAEXAMPLEEXAMPLE01"}},
        "Service": {"Archived": false, "EventLastSeen": "2026-11-22T02:59:00Z", "AdditionalInfo": {"Value": "{\"sample\":true}", "Type": "default"}}
    }]});
    let p = parse_payload(&out).unwrap();
    assert_eq!(p.shape, Shape::GetFindings);
    let i = p.items[0].as_ref().unwrap();
    assert_eq!(i.principal.user_type, UserType::IamUser);
    assert_eq!(i.severity, Some(5.0));
    assert!(i.sample);
}

#[test]
fn array_of_findings_keeps_good_ones_when_one_is_bad() {
    let p = parse_payload(&json!([finding(), 42, finding()])).unwrap();
    assert_eq!(p.shape, Shape::FindingArray);
    assert!(p.items[0].is_ok() && p.items[2].is_ok());
    assert_eq!(p.items[1].as_ref().unwrap_err().field, "[1]");
}

#[test]
fn wrong_types_name_the_field() {
    let mut f = finding();
    f["resource"]["accessKeyDetails"]["userName"] = json!({"nested": true});
    let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
    assert_eq!(err.field, "resource.accessKeyDetails.userName");
    let mut f = finding();
    f["resource"] = json!("AccessKey");
    let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
    assert_eq!(err.field, "resource");
    let mut f = finding();
    f["severity"] = json!("high");
    let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
    assert_eq!(err.field, "severity");
    let mut f = finding();
    f["service"]["eventLastSeen"] = json!("last tuesday");
    let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
    assert_eq!(err.field, "service.eventLastSeen");
}

#[test]
fn nulls_and_missing_sections_are_none() {
    let f = json!({"type": "Recon:IAMUser/TorIPCaller", "resource": null, "service": {"additionalInfo": null}});
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(i.principal.user_type, UserType::Other(String::new()));
    assert_eq!(i.principal.name, None);
    assert!(!i.sample);
}

#[test]
fn old_findings_with_numbers_and_epoch_millis() {
    let mut f = finding();
    f["accountId"] = json!(111122223333u64);
    f["service"]["eventLastSeen"] = json!(1_500_000_000_000i64);
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(i.account.as_deref(), Some("111122223333"));
    assert_eq!(i.event_last_seen.unwrap().unix_timestamp(), 1_500_000_000);
}

#[test]
fn manual_request() {
    let p = parse_payload(&json!({"action": "revoke", "role": "arn:aws:iam::111122223333:role/ops/web-app", "reason": "ticket 42", "dry_run": true})).unwrap();
    let i = p.items[0].as_ref().unwrap();
    assert_eq!(i.origin, Origin::Manual);
    assert_eq!(i.principal.name.as_deref(), Some("web-app"));
    assert_eq!(i.account.as_deref(), Some("111122223333"));
    assert!(i.dry_run);
}

#[test]
fn manual_request_typos_are_errors() {
    let err =
        parse_payload(&json!({"action": "revoke", "role": "web", "dryrun": true})).unwrap_err();
    assert!(err.to_string().contains("dryrun"), "{err}");
    let err = parse_payload(&json!({"action": "delete", "role": "web"})).unwrap_err();
    assert!(err.to_string().contains("only action"), "{err}");
    let err = parse_payload(&json!({"action": "revoke", "role": "web\"app"})).unwrap_err();
    assert!(
        err.to_string().contains("not a valid IAM role name"),
        "{err}"
    );
}

#[test]
fn unrecognised_shapes_say_what_was_expected_and_found() {
    for (v, found) in [
        (json!("hello"), "a string"),
        (json!(null), "null"),
        (json!({"foo": 1}), "\"foo\""),
        (json!([]), "empty"),
    ] {
        let err = parse_payload(&v).unwrap_err().to_string();
        assert!(err.contains(found), "{err}");
    }
    let err = parse_payload(&json!({"hello": 1})).unwrap_err().to_string();
    assert!(
        err.contains("expected an EventBridge GuardDuty event"),
        "{err}"
    );
}
