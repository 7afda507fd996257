use super::*;
use crate::model::{Incident, Origin, UserType};
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
    // An identity field (principal, type, account): the incident is unreadable, naming it.
    let unreadable = |f: Value| {
        let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
        i.unreadable.expect("an unreadable incident")
    };
    let mut f = finding();
    f["resource"]["accessKeyDetails"]["userName"] = json!({"nested": true});
    assert_eq!(unreadable(f).field, "resource.accessKeyDetails.userName");
    let mut f = finding();
    f["resource"] = json!("AccessKey");
    assert_eq!(unreadable(f).field, "resource");
    // An optional field: ignored, and named (the new behaviour; these were errors).
    let ignored = |f: Value| {
        let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
        assert_eq!(i.unreadable, None);
        i.ignored_fields
            .iter()
            .map(|f| f.field.clone())
            .collect::<Vec<_>>()
    };
    let mut f = finding();
    f["severity"] = json!("high");
    assert_eq!(ignored(f), ["severity"]);
    let mut f = finding();
    f["service"]["eventLastSeen"] = json!("last tuesday");
    assert_eq!(ignored(f), ["service.eventLastSeen"]);
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
    assert!(err.to_string().contains("the actions are"), "{err}");
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

fn one(v: &Value) -> Incident {
    parse_payload(v).unwrap().items.remove(0).unwrap()
}

fn ignored_fields(i: &Incident) -> Vec<&str> {
    i.ignored_fields.iter().map(|f| f.field.as_str()).collect()
}

#[test]
fn every_timestamp_form_reads_in_a_finding() {
    use time::macros::datetime;
    let t = datetime!(2026-11-22 03:00:00 UTC);
    for (form, expected) in [
        ("2026-11-22T03:00:00Z", t),
        ("2026-11-22T03:00:00.000Z", t),
        (
            "2026-11-22T03:00:00.123456Z",
            t + time::Duration::microseconds(123_456),
        ),
        ("2026-11-22T03:00:00+00:00", t),
        ("2026-11-22T03:00:00+0000", t),
        ("2026-11-22T04:30:00+01:30", t),
        ("2026-11-22T04:30:00.000+0130", t),
        ("2026-11-21T19:00:00-0800", t),
        ("2026-11-22 03:00:00", t),
        (
            "2026-11-22 03:00:00.500",
            t + time::Duration::milliseconds(500),
        ),
    ] {
        let mut f = finding();
        for path in [
            &["service", "eventLastSeen"][..],
            &["service", "eventFirstSeen"],
            &["updatedAt"],
            &["createdAt"],
        ] {
            set(&mut f, path, json!(form));
        }
        let i = one(&f);
        assert!(
            i.ignored_fields.is_empty(),
            "{form}: {:?}",
            i.ignored_fields
        );
        assert_eq!(i.event_last_seen, Some(expected), "{form}");
        assert_eq!(i.event_first_seen, Some(expected), "{form}");
        assert_eq!(i.updated_at, Some(expected), "{form}");
        assert_eq!(i.created_at, Some(expected), "{form}");
    }
}

fn set(v: &mut Value, path: &[&str], value: Value) {
    let (last, sections) = path.split_last().unwrap();
    let mut cur = v;
    for key in sections {
        if !cur[*key].is_object() {
            cur[*key] = json!({});
        }
        cur = &mut cur[*key];
    }
    cur[*last] = value;
}

/// Each optional field, present but unreadable: absent, named, and the principal intact.
#[test]
fn each_unreadable_optional_field_is_ignored_and_named() {
    let base = one(&finding());
    let cases: &[(&[&str], Value, &str)] = &[
        (
            &["service", "eventLastSeen"],
            json!("last tuesday"),
            "service.eventLastSeen",
        ),
        (
            &["service", "eventLastSeen"],
            json!({"at": 1}),
            "service.eventLastSeen",
        ),
        (
            &["service", "eventFirstSeen"],
            json!("2026-11-22T03:00:00"),
            "service.eventFirstSeen",
        ),
        (&["updatedAt"], json!([2026, 11, 22]), "updatedAt"),
        (&["createdAt"], json!(true), "createdAt"),
        (&["service", "count"], json!("many"), "service.count"),
        (&["service", "count"], json!(-3), "service.count"),
        (&["service", "count"], json!(2.5), "service.count"),
        (&["service", "archived"], json!("maybe"), "service.archived"),
        (&["severity"], json!("High"), "severity"),
        (&["severity"], json!({"score": 8}), "severity"),
        (&["title"], json!({"text": "x"}), "title"),
        (&["title"], json!("t".repeat(5000)), "title"),
        (&["id"], json!(["f1"]), "id"),
        (&["region"], json!({}), "region"),
        (
            &["resource", "instanceDetails"],
            json!("i-0123"),
            "resource.instanceDetails",
        ),
        (
            &["resource", "instanceDetails", "instanceId"],
            json!({}),
            "resource.instanceDetails.instanceId",
        ),
        (&["service", "action"], json!(7), "service.action"),
        (
            &[
                "service",
                "action",
                "awsApiCallAction",
                "remoteIpDetails",
                "ipAddressV4",
            ],
            json!([1, 2]),
            "service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
        ),
        (
            &["service", "additionalInfo"],
            json!("sample"),
            "service.additionalInfo",
        ),
        (
            &["service", "additionalInfo", "sample"],
            json!(1),
            "service.additionalInfo.sample",
        ),
        (
            &["service", "additionalInfo", "recentCredentials"],
            json!({}),
            "service.additionalInfo.recentCredentials",
        ),
        (
            &["service", "additionalInfo", "recentCredentials"],
            json!([{"principalId": {}}]),
            "service.additionalInfo.recentCredentials[0].principalId",
        ),
        (
            &["service", "additionalInfo", "recentCredentials"],
            json!(["x"]),
            "service.additionalInfo.recentCredentials[0]",
        ),
    ];
    for (path, value, field) in cases {
        let mut f = finding();
        set(&mut f, path, value.clone());
        let i = one(&f);
        assert_eq!(i.unreadable, None, "{field}");
        assert_eq!(i.principal, base.principal, "{field}");
        assert_eq!(i.finding_type, base.finding_type, "{field}");
        assert_eq!(i.account, base.account, "{field}");
        assert_eq!(ignored_fields(&i), [*field], "{field}");
        let report = &i.ignored_fields[0];
        assert!(
            !report.expected.is_empty() && !report.found.is_empty(),
            "{report:?}"
        );
    }
    // Absent is the safe side: no last activity (never "already covered" by time), not
    // archived, not a sample, no severity.
    let mut f = finding();
    f["service"]["eventLastSeen"] = json!("yesterday-ish");
    f["service"]["archived"] = json!("maybe");
    f["severity"] = json!("High");
    let i = one(&f);
    assert_eq!(i.event_last_seen, None);
    assert!(!i.archived);
    assert_eq!(i.severity, None);
    assert_eq!(
        ignored_fields(&i),
        ["severity", "service.eventLastSeen", "service.archived"]
    );
    let found = &i.ignored_fields[1];
    assert_eq!(found.found, "the string \"yesterday-ish\"");
}

#[test]
fn a_whole_section_of_the_wrong_type_is_named_once() {
    let mut f = finding();
    f["service"] = json!("GuardDuty");
    let i = one(&f);
    assert_eq!(i.unreadable, None);
    assert_eq!(ignored_fields(&i), ["service"]);
    assert_eq!(i.principal, one(&finding()).principal);
}

#[test]
fn an_unreadable_identity_keeps_id_type_and_account() {
    for (path, value, field) in [
        (
            &["resource", "accessKeyDetails", "principalId"][..],
            json!({"id": 1}),
            "resource.accessKeyDetails.principalId",
        ),
        (
            &["resource", "accessKeyDetails", "userType"],
            json!(["AssumedRole"]),
            "resource.accessKeyDetails.userType",
        ),
        (
            &["resource", "accessKeyDetails", "accessKeyId"],
            json!(false),
            "resource.accessKeyDetails.accessKeyId",
        ),
        (
            &["resource", "accessKeyDetails"],
            json!("AKIA…"),
            "resource.accessKeyDetails",
        ),
    ] {
        let mut f = finding();
        set(&mut f, path, value);
        let i = one(&f);
        let err = i.unreadable.as_ref().expect("unreadable");
        assert_eq!(err.field, field);
        assert_eq!(i.finding_id.as_deref(), Some("f1"));
        assert_eq!(
            i.finding_type.as_deref(),
            Some("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
        );
        assert_eq!(i.account.as_deref(), Some("111122223333"));
        // Nothing of the principal is kept: nothing can act on half of it.
        assert_eq!(i.principal.name, None, "{field}");
        assert_eq!(i.principal.principal_id, None, "{field}");
    }
    // The type and the account are identity too.
    let mut f = finding();
    f["type"] = json!({"name": "x"});
    assert_eq!(one(&f).unreadable.unwrap().field, "type");
    let mut f = finding();
    f["accountId"] = json!(["111122223333"]);
    let i = one(&f);
    assert_eq!(i.unreadable.as_ref().unwrap().field, "accountId");
    assert_eq!(i.finding_id.as_deref(), Some("f1"));
}

fn envelope(detail_type: &str, detail: Value) -> Value {
    json!({"version": "0", "id": "e1", "detail-type": detail_type, "source": "aws.guardduty",
        "account": "444455556666", "region": "us-east-1", "time": "2026-11-22T03:00:00Z", "resources": [], "detail": detail})
}

#[test]
fn guardduty_events_that_are_not_findings_are_skipped_with_the_reason() {
    let cloudtrail = envelope(
        "AWS API Call via CloudTrail",
        json!({"eventSource": "guardduty.amazonaws.com", "eventName": "ArchiveFindings"}),
    );
    let p = parse_payload(&cloudtrail).unwrap();
    assert_eq!(p.shape, Shape::EventBridge);
    let i = p.items[0].as_ref().unwrap();
    let reason = i.not_a_finding.as_deref().unwrap();
    assert!(
        reason.contains("\"AWS API Call via CloudTrail\""),
        "{reason}"
    );
    assert_eq!(i.account.as_deref(), Some("444455556666"));
    assert_eq!(i.unreadable, None);
    // A finding event is not.
    let i = one(&envelope("GuardDuty Finding", finding()));
    assert_eq!(i.not_a_finding, None);
}

#[test]
fn an_odd_envelope_account_or_region_costs_nothing_the_finding_has() {
    let mut env = envelope("GuardDuty Finding", finding());
    env["account"] = json!({"id": 1});
    env["region"] = json!([]);
    let i = one(&env);
    assert_eq!(i.unreadable, None);
    assert_eq!(i.account.as_deref(), Some("111122223333"));
    // Without the finding's own account, the envelope's is the account: unreadable, it is
    // identity.
    env["detail"].as_object_mut().unwrap().remove("accountId");
    env["detail"].as_object_mut().unwrap().remove("region");
    let i = one(&env);
    assert_eq!(
        i.unreadable.as_ref().unwrap().field,
        "account (EventBridge envelope)"
    );
    assert_eq!(ignored_fields(&i), ["region (EventBridge envelope)"]);
    env["account"] = json!(444455556666u64);
    assert_eq!(one(&env).account.as_deref(), Some("444455556666"));
}

#[test]
fn no_findings_at_all_is_an_empty_payload_not_an_error() {
    for (v, shape) in [
        (json!([]), Shape::FindingArray),
        (json!({"Findings": []}), Shape::GetFindings),
        (json!({"findings": []}), Shape::GetFindings),
    ] {
        let p = parse_payload(&v).unwrap();
        assert_eq!(p.shape, shape);
        assert!(p.items.is_empty());
    }
}

fn asff() -> Value {
    json!({
        "SchemaVersion": "2018-10-08",
        "Id": "arn:aws:guardduty:us-east-1:111122223333:detector/d/finding/f1",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "GeneratorId": "arn:aws:guardduty:us-east-1:111122223333:detector/d",
        "AwsAccountId": "111122223333",
        "Types": ["TTPs/Initial Access/UnauthorizedAccess:IAMUser-MaliciousIPCaller"],
        "Severity": {"Label": "MEDIUM", "Normalized": 50},
        "Resources": [{"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIAEXAMPLEEXAMPLE01",
            "Details": {"AwsIamAccessKey": {"PrincipalName": "web-app", "PrincipalType": "AssumedRole"}}}]
    })
}

#[test]
fn security_hub_guardduty_findings_are_read_in_every_shape() {
    let event = json!({"version": "0", "id": "e", "detail-type": "Security Hub Findings - Imported",
        "source": "aws.securityhub", "account": "111122223333", "region": "us-east-1", "detail": {"findings": [asff()]}});
    for (v, shape) in [
        (asff(), Shape::Finding),
        (event, Shape::SecurityHubEvent),
        (json!({"Findings": [asff(), asff()]}), Shape::GetFindings),
        (json!([asff()]), Shape::FindingArray),
    ] {
        let p = parse_payload(&v).unwrap();
        assert_eq!(p.shape, shape);
        for item in &p.items {
            let i = item.as_ref().unwrap();
            assert_eq!(
                i.finding_type.as_deref(),
                Some("UnauthorizedAccess:IAMUser/MaliciousIPCaller")
            );
            assert_eq!(i.account.as_deref(), Some("111122223333"));
            assert_eq!(i.principal.user_type, UserType::AssumedRole);
            assert_eq!(i.principal.name.as_deref(), Some("web-app"));
            assert_eq!(
                i.principal.access_key_id.as_deref(),
                Some("ASIAEXAMPLEEXAMPLE01")
            );
            assert_eq!(i.severity, Some(5.0), "Normalized 50 / 10");
            assert!(i.unreadable.is_none(), "{:?}", i.unreadable);
        }
    }
    // Among GuardDuty findings, an ASFF item is read too.
    let p = parse_payload(&json!([finding(), asff()])).unwrap();
    assert!(p.items.iter().all(Result::is_ok));
    // GuardDuty's own PascalCase output (SchemaVersion "2.0") is not ASFF.
    let out = json!({"Findings": [{"SchemaVersion": "2.0", "AccountId": "111122223333", "Id": "f2",
        "Type": "Recon:IAMUser/MaliciousIPCaller", "Resource": {}, "Service": {}}]});
    assert!(parse_payload(&out).unwrap().items[0].is_ok());
}

#[test]
fn asff_product_fields_fill_the_guardduty_fields() {
    let mut f = asff();
    let o = f.as_object_mut().unwrap();
    o.insert(
        "Id".into(),
        json!("arn:aws:guardduty:eu-west-1:111122223333:detector/d1/finding/abc123"),
    );
    o.insert("Region".into(), json!("eu-west-1"));
    o.insert("UpdatedAt".into(), json!("2026-11-22T03:00:00.000Z"));
    o.insert(
        "Severity".into(),
        json!({"Label": "HIGH", "Normalized": 80, "Original": "8"}),
    );
    o.insert("ProductFields".into(), json!({
        "aws/guardduty/service/count": "7",
        "aws/guardduty/service/archived": "false",
        "aws/guardduty/service/eventLastSeen": "2026-11-22T02:59:00.000Z",
        "aws/guardduty/service/action/awsApiCallAction/remoteIpDetails/ipAddressV4": "198.51.100.7",
        "aws/guardduty/service/additionalInfo/value": "{\"sample\":true,\"recentCredentials\":[{\"accessKeyId\":\"ASIAEXAMPLEEXAMPLE02\",\"principalId\":\"AROAEXAMPLEROLEID0001:i-0fedcba9876543210\"}]}",
        "aws/securityhub/ProductName": "GuardDuty"
    }));
    o.insert("Resources".into(), json!([
        {"Type": "AwsIamAccessKey", "Id": "AWS::IAM::AccessKey:ASIAEXAMPLEEXAMPLE01",
         "Details": {"AwsIamAccessKey": {"PrincipalId": "AROAEXAMPLEROLEID0001:i-0123456789abcdef0",
            "PrincipalName": "web-app", "PrincipalType": "AssumedRole"}}},
        {"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:eu-west-1:111122223333:instance/i-0123456789abcdef0"}
    ]));
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(
        i.finding_id.as_deref(),
        Some("abc123"),
        "GuardDuty's id, not the ARN"
    );
    assert_eq!(i.region.as_deref(), Some("eu-west-1"));
    assert_eq!(i.severity, Some(8.0), "Original wins over Normalized");
    assert_eq!(i.count, Some(7));
    assert!(!i.archived);
    assert!(i.sample);
    assert_eq!(i.recent_credentials.len(), 1);
    assert_eq!(i.remote_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(i.instance_id.as_deref(), Some("i-0123456789abcdef0"));
    assert_eq!(i.principal.role_id(), Some("AROAEXAMPLEROLEID0001"));
    assert_eq!(
        names::format_utc(i.event_last_seen.unwrap()),
        "2026-11-22T02:59:00Z"
    );
}

#[test]
fn asff_is_validated_like_guardduty_and_other_products_are_skipped() {
    // Another product: skipped, naming it.
    let mut f = asff();
    f["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/inspector");
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    let why = i.not_a_finding.as_deref().unwrap();
    assert!(why.contains("product/aws/inspector"), "{why}");
    // An attacker-chosen principal of the wrong type: unreadable, nothing to act on.
    let mut f = asff();
    f["Resources"][0]["Details"]["AwsIamAccessKey"]["PrincipalName"] = json!({"x": 1});
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(
        i.unreadable.as_ref().unwrap().field,
        "resource.accessKeyDetails.userName"
    );
    assert_eq!(i.principal.name, None);
    // Two access keys: which one was stolen is not guessed.
    let mut f = asff();
    let r = f["Resources"][0].clone();
    f["Resources"] = json!([r.clone(), r]);
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(i.unreadable.as_ref().unwrap().field, "Resources");
    assert_eq!(i.principal.name, None);
    // Types from which no GuardDuty type can be read: unreadable.
    let mut f = asff();
    f["Types"] = json!(["Software and Configuration Checks/Vulnerabilities/CVE"]);
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(i.unreadable.as_ref().unwrap().field, "Types");
    // A Security Hub event of another detail-type: skipped, saying so.
    let ev = json!({"detail-type": "Security Hub Insight Results", "source": "aws.securityhub", "detail": {}});
    let i = parse_payload(&ev).unwrap().items.remove(0).unwrap();
    assert!(i.not_a_finding.unwrap().contains("Insight Results"));
    // `detail.findings` not an array: that item's error.
    let ev = json!({"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub", "detail": {"findings": 3}});
    assert_eq!(
        parse_payload(&ev).unwrap().items[0]
            .as_ref()
            .unwrap_err()
            .field,
        "detail.findings"
    );
}

#[test]
fn security_hub_event_files_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    for (name, n) in [
        ("securityhub-imported-event.json", 1),
        ("securityhub-custom-action-event.json", 2),
    ] {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let p = parse_payload(&v).unwrap();
        assert_eq!(p.shape, Shape::SecurityHubEvent, "{name}");
        assert_eq!(p.items.len(), n, "{name}");
        let i = p.items[0].as_ref().unwrap();
        assert!(
            i.unreadable.is_none() && i.ignored_fields.is_empty(),
            "{name}: {i:?}"
        );
        assert_eq!(i.principal.name.as_deref(), Some("web-app"), "{name}");
        assert_eq!(i.principal.session_name(), Some("ops-laptop-17"), "{name}");
        assert_eq!(
            i.finding_type.as_deref(),
            Some("UnauthorizedAccess:IAMUser/MaliciousIPCaller")
        );
        assert!(i.event_last_seen.is_some() && i.count.is_some(), "{name}");
        // A custom action is a person's request, named as such; an imported finding is not.
        match name {
            "securityhub-custom-action-event.json" => assert!(
                p.items.iter().all(|i| i
                    .as_ref()
                    .unwrap()
                    .requested_via
                    .as_deref()
                    .is_some_and(|r| r.contains("\"Revoke sessions\"") && r.contains("a person"))),
                "{name}: {i:?}"
            ),
            _ => assert_eq!(i.requested_via, None, "{name}"),
        }
    }
}

/// Issue 21: the type is GuardDuty's (`FindingProviderFields.Types`), not the top-level `Types`
/// that anyone allowed `securityhub:BatchUpdateFindings` can rewrite.
#[test]
fn asff_type_is_what_guardduty_wrote_not_what_batch_update_findings_changed() {
    let credential = "TTPs/Initial Access/UnauthorizedAccess:IAMUser-MaliciousIPCaller";
    let harmless = "Software and Configuration Checks/Policy:S3-BucketBlockPublicAccessDisabled";
    // Types changed to a harmless type; GuardDuty's own copy keeps the credential type.
    let mut f = asff();
    f["Types"] = json!([harmless]);
    f["FindingProviderFields"] = json!({"Types": [credential], "Severity": {"Original": "5"}});
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert!(i.unreadable.is_none(), "{:?}", i.unreadable);
    assert_eq!(
        i.finding_type.as_deref(),
        Some("UnauthorizedAccess:IAMUser/MaliciousIPCaller")
    );
    assert!(i.ignored_fields.is_empty(), "{:?}", i.ignored_fields);
    // The reverse: Types changed to the credential type, GuardDuty wrote a harmless one.
    f["Types"] = json!([credential]);
    f["FindingProviderFields"]["Types"] = json!([harmless]);
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(
        i.finding_type.as_deref(),
        Some("Policy:S3/BucketBlockPublicAccessDisabled")
    );
    // FindingProviderFields without Types: unreadable, never the changeable Types instead.
    f["FindingProviderFields"] = json!({"Severity": {"Original": "5"}});
    let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
    assert_eq!(
        i.unreadable.as_ref().unwrap().field,
        "FindingProviderFields.Types"
    );
    assert_eq!(i.principal.name, None);
    // No FindingProviderFields at all: Types is read, and the report says where from.
    let i = parse_payload(&asff()).unwrap().items.remove(0).unwrap();
    assert_eq!(
        i.finding_type.as_deref(),
        Some("UnauthorizedAccess:IAMUser/MaliciousIPCaller")
    );
    assert!(
        i.ignored_fields
            .iter()
            .any(|u| u.field == "FindingProviderFields.Types"
                && u.found.contains("BatchUpdateFindings")),
        "{:?}",
        i.ignored_fields
    );
}
