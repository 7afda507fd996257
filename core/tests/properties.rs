//! Property tests (proptest): whatever arrives, parsing, planning and reporting give a
//! result or a clear error, never a panic or a hang; hostile strings from a finding reach
//! policies only as exact-match values and the SNS subject only in safe, bounded form.

use proptest::prelude::*;
use revoker_core::config::Config;
use revoker_core::input::parse_payload;
use revoker_core::model::Incident;
use revoker_core::model::RoleInfo;
use revoker_core::model::{ActionOutcome, Status};
use revoker_core::model::{PlannedAction, Step, Triage};
use revoker_core::plan::{decide_role, triage, RoleFacts};
use revoker_core::policy::{SessionRevocations, MAX_ROLE_SESSION};
use revoker_core::report::{IncidentReport, Report};
use serde_json::{json, Value};
use time::macros::datetime;

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("AssumedRole"),
            Just("IAMUser"),
            Just("Root"),
            Just("aws.guardduty"),
            Just("revoke")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(6, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Keys the parser looks for, mixed with random ones, so random documents reach deep code.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "detail", "detail-type", "source", "Findings", "action", "role", "type", "Type", "resource", "Resource",
            "service", "Service", "accessKeyDetails", "AccessKeyDetails", "userType", "userName", "principalId",
            "accessKeyId", "severity", "Severity", "additionalInfo", "AdditionalInfo", "Value", "sample",
            "recentCredentials", "eventLastSeen", "archived", "instanceDetails", "instanceId", "accountId", "session", "dry_run",
        ])
        .prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

/// A structurally valid credential finding whose strings are arbitrary.
fn hostile_finding() -> impl Strategy<Value = Value> {
    (any::<String>(), any::<String>(), any::<String>(), any::<String>(), 0.0f64..10.0).prop_map(|(name, session, ftype, title, sev)| {
        json!({
            "id": title.clone(), "accountId": "123456789012", "region": "us-east-1", "title": title, "severity": sev,
            "type": if ftype.len() % 2 == 0 { "UnauthorizedAccess:IAMUser/TorIPCaller".to_string() } else { ftype },
            "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": name,
                "principalId": format!("AROAEXAMPLEROLEID0001:{session}"), "accessKeyId": "ASIAEXAMPLEEXAMPLE01"}},
            "service": {"eventLastSeen": "2026-11-22T02:59:00Z", "additionalInfo": {"recentCredentials": [{"principalId": format!("AROAEXAMPLEROLEID0001:{session}x")}]}}
        })
    })
}

fn facts() -> RoleFacts {
    RoleFacts {
        role: RoleInfo {
            name: "web-app".into(),
            arn: "arn:aws:iam::123456789012:role/web-app".into(),
            path: "/".into(),
            role_id: "AROAEXAMPLEROLEID0001".into(),
            tags: Vec::new(),
        },
        role_policy: Ok(None),
        session_policy: Ok(None),
        responder_role: Ok(None),
        note: None,
    }
}

/// Everything the pure path does with one incident: triage, decide, report, render.
fn pure_path(incident: &Incident, config: &Config) -> Report {
    let now = datetime!(2026-11-22 03:00:00 UTC);
    let actions = match triage(incident, config) {
        Triage::Role(_) => decide_role(incident, &facts(), config, now)
            .into_iter()
            .map(|a| {
                ActionOutcome::new(a.kind, &a.target, Status::WouldDo, format!("{:?}", a.step))
            })
            .collect(),
        _ => vec![],
    };
    let r = Report::new(
        None,
        true,
        vec![IncidentReport::new(incident, actions)],
        now,
        1,
    );
    let _ = r.to_text();
    let _ = r.publication("arn:aws:sns:us-east-1:123456789012:t", &r.to_json());
    r
}

fn assert_subject_safe(r: &Report) {
    let s = r.subject();
    assert!(s.len() < 100, "{s:?}");
    assert!(s.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{s:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_json_value_is_ok_or_a_clear_error(v in any_json()) {
        let session_config = Config::from_vars(&[("REVOKE_SCOPE".to_string(), "session".to_string()), ("ALLOW_SAMPLE_FINDINGS".to_string(), "true".to_string())].into()).unwrap();
        match parse_payload(&v) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(parsed) => {
                for item in &parsed.items {
                    match item {
                        Ok(incident) => {
                            assert_subject_safe(&pure_path(incident, &Config::default()));
                            assert_subject_safe(&pure_path(incident, &session_config));
                        }
                        Err(e) => prop_assert!(!e.field.is_empty() || e.problem.contains("expected")),
                    }
                }
            }
        }
    }

    #[test]
    fn any_bytes_are_ok_or_a_clear_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let _ = parse_payload(&v);
        }
    }

    #[test]
    fn hostile_strings_stay_exact_match_values_and_safe_text(f in hostile_finding()) {
        let config = Config::from_vars(&[("REVOKE_SCOPE".to_string(), "session".to_string())].into()).unwrap();
        let parsed = parse_payload(&f).unwrap();
        let Ok(incident) = &parsed.items[0] else { return Ok(()) };
        let report = pure_path(incident, &config);
        assert_subject_safe(&report);
        prop_assert!(!report.to_text().chars().any(|c| c.is_control() && c != '\n'));
        // Whatever the session name, it reaches the policy only as a StringEquals value.
        let userid = incident.principal.principal_id.clone().unwrap();
        let mut s = SessionRevocations::default();
        s.merge(std::slice::from_ref(&userid), datetime!(2026-11-22 03:00:30 UTC), None, datetime!(2026-11-22 03:00:00 UTC), MAX_ROLE_SESSION);
        let doc: Value = serde_json::from_str(&s.to_json()).unwrap();
        prop_assert_eq!(doc["Statement"][0]["Condition"]["StringEquals"]["aws:userid"].as_str(), Some(userid.as_str()));
        prop_assert_eq!(doc["Statement"][0]["Condition"].as_object().unwrap().len(), 2);
    }
}

/// Fields used only to decide or to report (and sections holding only such fields).
const OPTIONAL_FIELDS: &[&[&str]] = &[
    &["id"],
    &["arn"],
    &["title"],
    &["description"],
    &["severity"],
    &["region"],
    &["partition"],
    &["schemaVersion"],
    &["createdAt"],
    &["updatedAt"],
    &["service"],
    &["service", "eventFirstSeen"],
    &["service", "eventLastSeen"],
    &["service", "count"],
    &["service", "archived"],
    &["service", "action"],
    &["service", "action", "awsApiCallAction", "remoteIpDetails"],
    &[
        "service",
        "action",
        "awsApiCallAction",
        "remoteIpDetails",
        "ipAddressV4",
    ],
    &["service", "additionalInfo"],
    &["service", "additionalInfo", "sample"],
    &["service", "additionalInfo", "recentCredentials"],
    &["resource", "resourceType"],
    &["resource", "instanceDetails"],
    &["resource", "instanceDetails", "instanceId"],
];

/// Envelope fields the finding does not need (it has its own account and region).
const OPTIONAL_ENVELOPE_FIELDS: &[&str] =
    &["version", "id", "time", "resources", "account", "region"];

fn readable_finding() -> Value {
    json!({
        "schemaVersion": "2.0", "accountId": "111122223333", "region": "eu-west-1", "id": "f1",
        "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "severity": 8,
        "title": "Credentials used outside AWS", "createdAt": "2026-11-22T02:00:00.000Z", "updatedAt": "2026-11-22T03:00:00Z",
        "resource": {"resourceType": "AccessKey",
            "accessKeyDetails": {"accessKeyId": "ASIAEXAMPLEEXAMPLE01", "principalId": "AROAEXAMPLEROLEID0001:i-0123456789abcdef0",
                "userType": "AssumedRole", "userName": "web-app"},
            "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
        "service": {"archived": false, "count": 3, "eventFirstSeen": "2026-11-22T02:00:00Z", "eventLastSeen": "2026-11-22T02:59:00.000Z",
            "action": {"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": "198.51.100.7"}}},
            "additionalInfo": {"recentCredentials": [{"accessKeyId": "ASIAEXAMPLEEXAMPLE02", "principalId": "AROAEXAMPLEROLEID0001:i-0fedcba9876543210"}]}}
    })
}

fn set(v: &mut Value, path: &[String], value: Value) {
    let (last, sections) = path.split_last().unwrap();
    let mut cur = v;
    for key in sections {
        if !cur[key.as_str()].is_object() {
            cur[key.as_str()] = json!({});
        }
        cur = &mut cur[key.as_str()];
    }
    cur[last.as_str()] = value;
}

fn pascal(key: &str) -> String {
    let mut c = key.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn to_pascal(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (pascal(k), to_pascal(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(to_pascal).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any JSON value in any optional field (several at once, in every input shape) never
    /// turns a readable principal into an unreadable finding: the principal, the type and
    /// the account stay what they are, and triage never fails the finding.
    #[test]
    fn any_value_in_optional_fields_never_makes_a_readable_principal_unreadable(
        shape in 0..3usize,
        changes in prop::collection::vec((prop::sample::select(OPTIONAL_FIELDS), any_json()), 1..5),
        envelope_changes in prop::collection::vec((prop::sample::select(OPTIONAL_ENVELOPE_FIELDS), any_json()), 0..3),
    ) {
        let base = parse_payload(&readable_finding()).unwrap().items.remove(0).unwrap();
        let mut finding = readable_finding();
        for (path, value) in &changes {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            set(&mut finding, &path, value.clone());
        }
        let payload = match shape {
            0 => finding,
            1 => json!({"Findings": [to_pascal(&finding)]}),
            _ => {
                let mut env = json!({"version": "0", "id": "e1", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
                    "account": "444455556666", "region": "us-east-1", "time": "2026-11-22T03:00:00Z", "resources": [], "detail": finding});
                for (key, value) in &envelope_changes {
                    env[*key] = value.clone();
                }
                env
            }
        };
        let mut parsed = parse_payload(&payload).unwrap();
        prop_assert_eq!(parsed.items.len(), 1);
        let incident = parsed.items.remove(0).unwrap();
        prop_assert_eq!(&incident.unreadable, &None);
        prop_assert_eq!(&incident.not_a_finding, &None);
        prop_assert_eq!(&incident.principal, &base.principal);
        prop_assert_eq!(&incident.finding_type, &base.finding_type);
        prop_assert_eq!(&incident.account, &base.account);
        let fails = matches!(
            triage(&incident, &Config::default()),
            Triage::Done(PlannedAction { step: Step::Fail { .. }, .. })
        );
        prop_assert!(!fails, "{:?}", triage(&incident, &Config::default()));
        assert_subject_safe(&pure_path(&incident, &Config::default()));
    }
}

#[test]
fn deep_nesting_is_refused_by_the_parser_or_handled() {
    // Within serde_json's recursion limit: parsed and classified without trouble.
    let shallow = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let v: Value = serde_json::from_str(&shallow).unwrap();
    assert!(parse_payload(&v).is_ok_and(|p| p.items.iter().all(|i| i.is_err())));
    // Past it (what the Lambda runtime would receive), the JSON parser refuses it first.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(serde_json::from_str::<Value>(&deep).is_err());
    // A finding nested deep in PascalCase is cut off, not recursed into without bound.
    let mut inner = json!({"Leaf": 1});
    for _ in 0..120 {
        inner = json!({"Nested": inner});
    }
    let f = json!({"Type": "Recon:IAMUser/TorIPCaller", "Resource": inner, "Severity": 5});
    assert!(parse_payload(&f).is_ok());
}

#[test]
fn very_large_payloads_are_bounded() {
    let huge = "A".repeat(5 * 1024 * 1024);
    let f = json!({"type": "Recon:IAMUser/TorIPCaller", "resource": {"accessKeyDetails": {"userName": huge}}, "service": {}});
    // The principal is identity: the finding is unreadable, naming the field (an incident,
    // since issue 17, so that the report keeps the finding's type; it was an `Err` item).
    let incident = parse_payload(&f).unwrap().items.remove(0).unwrap();
    let err = incident.unreadable.expect("an unreadable principal");
    assert_eq!(err.field, "resource.accessKeyDetails.userName");
    assert!(err.problem.len() < 200, "{err}");
    let many: Vec<Value> = (0..1000)
        .map(|_| json!({"type": "x", "resource": {}}))
        .collect();
    let err = parse_payload(&Value::Array(many)).unwrap_err();
    assert!(err.to_string().contains("at most 100"), "{err}");
}

#[test]
fn every_sample_event_parses_into_incidents() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        // A restore request is no incident: it has its own reader (input::parse_restore).
        if revoker_core::input::is_restore(&v) {
            revoker_core::input::parse_restore(&v)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        // Nor is an approve request (plan::approval::ApproveRequest::parse).
        if revoker_core::plan::approval::ApproveRequest::is_approve(&v) {
            revoker_core::plan::approval::ApproveRequest::parse(&v)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        let parsed = parse_payload(&v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!parsed.items.is_empty());
        for item in parsed.items {
            let incident = item.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(incident.unreadable, None, "{}", path.display());
            assert_eq!(incident.ignored_fields, vec![], "{}", path.display());
            assert_subject_safe(&pure_path(&incident, &Config::default()));
        }
        seen += 1;
    }
    assert!(seen >= 6, "events/ holds at least six samples");
}
