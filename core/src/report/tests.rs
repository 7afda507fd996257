use super::*;
use crate::input::parse_payload;
use crate::model::{ActionKind, ActionOutcome, Incident, Status};
use time::macros::datetime;

fn incident(finding_type: &str, user: &str) -> Incident {
    parse_payload(&serde_json::json!({
        "id": "f1", "accountId": "111122223333", "region": "eu-west-1", "type": finding_type, "severity": 8,
        "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": user, "accessKeyId": "ASIAEXAMPLEEXAMPLE01"}},
        "service": {"eventLastSeen": "2026-11-22T02:59:00Z", "count": 2}
    }))
    .unwrap()
    .items
    .remove(0)
    .unwrap()
}

fn revoked(target: &str) -> ActionOutcome {
    let mut a = ActionOutcome::new(
        ActionKind::RevokeRoleSessions,
        target,
        Status::Done,
        "wrote AWSRevokeOlderSessions",
    );
    a.policy_name = Some(crate::policy::ROLE_POLICY_NAME);
    a.cutoff = Some("2026-11-22T03:00:30Z".into());
    a
}

fn report(incidents: Vec<IncidentReport>) -> Report {
    Report::new(
        Some(Shape::EventBridge),
        false,
        incidents,
        datetime!(2026-11-22 03:00:01 UTC),
        42,
    )
}

#[test]
fn one_incident_reads_as_one_line_and_acts_as_a_checklist() {
    let i = incident(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "web-app",
    );
    let r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
    assert_eq!(r.outcome, Outcome::Revoked);
    assert_eq!(
        r.summary,
        "REVOKED: role web-app — UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS (High)"
    );
    let text = r.to_text();
    assert!(text.starts_with(&r.summary));
    assert!(text.contains("[done] revoke role sessions web-app"));
    assert!(text.contains(
        "aws cloudtrail lookup-events --region eu-west-1 --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=ASIAEXAMPLEEXAMPLE01"
    ));
    assert!(text.contains("~/.aws/cli/cache"));
    assert!(text.contains(
        "aws iam delete-role-policy --role-name web-app --policy-name AWSRevokeOlderSessions"
    ));
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["incidents"][0]["actions"][0]["status"], "done");
    assert_eq!(json["incidents"][0]["severity_label"], "High");
    assert_eq!(json["outcome"], "revoked");
}

#[test]
fn overall_outcome_is_the_most_significant() {
    let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
    let skipped = IncidentReport::new(
        &i,
        vec![ActionOutcome::new(
            ActionKind::Triage,
            "incident",
            Status::Skipped,
            "below",
        )],
    );
    let mut failed_action = revoked("api");
    failed_action.status = Status::Failed;
    let failed = IncidentReport::new(&i, vec![failed_action]);
    let r = report(vec![
        skipped.clone(),
        IncidentReport::new(&i, vec![revoked("web-app")]),
        failed,
    ]);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        r.summary,
        "FAILED: 3 findings (1 failed, 1 revoked, 1 skipped)"
    );
    assert_eq!(report(vec![skipped]).outcome, Outcome::Skipped);
}

#[test]
fn hostile_strings_reach_the_subject_and_body_only_in_safe_bounded_form() {
    let nasty =
        "Recon:IAMUser/TorIPCaller\r\nBcc: victim@example.com \u{1b}[31m ünï ${aws:userid} "
            .repeat(20);
    let i = incident(&nasty, "web-app");
    let r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
    let subject = r.subject();
    assert!(subject.len() < 100, "{}", subject.len());
    assert!(
        subject.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "{subject:?}"
    );
    let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
    for (_, v) in &p.attributes {
        assert!(v.chars().all(|c| c.is_ascii_graphic() || c == ' '), "{v:?}");
        assert!(v.len() <= 200);
    }
    let text = r.to_text();
    assert!(!text.contains('\r') && !text.contains('\u{1b}'));
    assert!(
        r.incidents[0]
            .finding_type
            .as_ref()
            .unwrap()
            .chars()
            .count()
            <= 129
    );
}

#[test]
fn publication_carries_text_json_and_filterable_attributes() {
    let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
    let r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
    let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
    let body: serde_json::Value = serde_json::from_str(&p.message).unwrap();
    assert!(body["default"].as_str().unwrap().starts_with("REVOKED"));
    let sqs: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(sqs["outcome"], "revoked");
    let attrs: std::collections::HashMap<_, _> = p.attributes.into_iter().collect();
    assert_eq!(attrs["outcome"], "revoked");
    assert_eq!(attrs["severity"], "High");
    assert_eq!(attrs["finding_type"], "Recon:IAMUser/TorIPCaller");
}

#[test]
fn huge_reports_are_cut_to_fit_sns() {
    let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
    let mut big = revoked("web-app");
    big.detail = "x".repeat(4000);
    let incidents = (0..100)
        .map(|_| IncidentReport::new(&i, vec![big.clone()]))
        .collect();
    let r = report(incidents);
    let p = r.publication("arn:aws:sns:eu-west-1:111122223333:reports", &r.to_json());
    assert!(p.message.len() <= 256 * 1024);
    assert!(p.message.contains("truncated"));
}

#[test]
fn unstarted_work_is_a_failure_not_no_action() {
    let mut r = report(vec![]);
    r.set_not_started(vec!["finding f1 (web-app)".into()]);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.summary, "NOT STARTED (time ran out): 1 finding(s)");
    let i = incident("Recon:IAMUser/TorIPCaller", "web-app");
    let mut r = report(vec![IncidentReport::new(&i, vec![revoked("web-app")])]);
    r.set_not_started(vec!["finding f2 (api)".into()]);
    assert!(
        r.summary
            .starts_with("NOT STARTED (time ran out): 1 finding(s); REVOKED: role web-app"),
        "{}",
        r.summary
    );
}

#[test]
fn no_action_without_a_principal_says_why() {
    let mut i = incident("Recon:EC2/PortProbeUnprotectedPort", "x");
    i.principal.name = None;
    let skipped = ActionOutcome::new(
        ActionKind::Triage,
        "incident",
        Status::Skipped,
        "finding type is not one of FINDING_TYPES",
    );
    let r = report(vec![IncidentReport::new(&i, vec![skipped])]);
    assert_eq!(r.summary, "NO ACTION: Recon:EC2/PortProbeUnprotectedPort (High): finding type is not one of FINDING_TYPES");
}

#[test]
fn a_stranded_instance_comes_first() {
    let i = incident(
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "web-app",
    );
    let mut stranded = ActionOutcome::new(
        ActionKind::ReassociateInstanceProfile,
        "i-0123456789abcdef0",
        Status::Failed,
        "failed",
    );
    stranded.restore_command =
        Some("aws ec2 associate-iam-instance-profile --instance-id i-0123456789abcdef0".into());
    let r = report(vec![IncidentReport::new(
        &i,
        vec![revoked("web-app"), stranded],
    )]);
    assert!(r
        .to_text()
        .starts_with("INSTANCE i-0123456789abcdef0 HAS NO INSTANCE PROFILE"));
}

#[test]
fn the_undo_advice_says_when_deleting_the_deny_is_safe() {
    let i = incident("UnauthorizedAccess:IAMUser/MaliciousIPCaller", "web-app");
    let mut a = revoked("web-app");
    a.cutoff = Some("2026-11-22T03:00:30Z".into());
    let r = IncidentReport::new(&i, vec![a]);
    let undo = r
        .next_steps
        .iter()
        .find(|s| s.contains("delete-role-policy"))
        .expect("an undo step");
    assert!(
        undo.contains("from 2026-11-22T15:00:30Z on"),
        "cutoff + 12 h, the longest role session: {undo}"
    );
    assert!(undo.contains("not before"), "{undo}");
}

/// A small evaluator of the JSON Schema keywords `tests/fixtures/chat-notification.schema.json`
/// uses (no schema crate in the core's dependencies): every violation, with its path.
fn violations(
    schema: &serde_json::Value,
    v: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    if let Some(c) = schema.get("const") {
        if v != c {
            out.push(format!("{path}: expected {c}, found {v}"));
        }
    }
    if let Some(Value::Array(e)) = schema.get("enum") {
        if !e.contains(v) {
            out.push(format!("{path}: {v} not in {e:?}"));
        }
    }
    let ok = match schema.get("type").and_then(Value::as_str) {
        Some("string") => v.is_string(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !ok {
        out.push(format!("{path}: expected {}, found {v}", schema["type"]));
        return;
    }
    if let (Some(max), Some(s)) = (schema.get("maxLength").and_then(Value::as_u64), v.as_str()) {
        if s.chars().count() as u64 > max {
            out.push(format!("{path}: longer than {max}"));
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            violations(items, x, &format!("{path}[{i}]"), out);
        }
    }
    if let Some(o) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !o.contains_key(r.as_str().unwrap_or_default()) {
                out.push(format!("{path}: missing {r}"));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(s) => violations(s, x, &format!("{path}.{k}"), out),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(format!("{path}: unexpected key {k}")),
                    Some(s @ Value::Object(_)) => violations(s, x, &format!("{path}.{k}"), out),
                    _ => {}
                },
            }
        }
    }
}

fn chat_schema() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/chat-notification.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn chat_notification_follows_the_custom_notification_schema() {
    let schema = chat_schema();
    let hostile = "web-app`[click](https://evil.example) @channel\n*x*";
    let mut r = report(vec![
        IncidentReport::new(
            &incident(
                "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
                "app-deployer",
            ),
            vec![revoked("app-deployer")],
        ),
        IncidentReport::new(
            &incident("Recon:IAMUser/TorIPCaller", hostile),
            vec![ActionOutcome::new(
                ActionKind::Triage,
                hostile,
                Status::Skipped,
                hostile,
            )],
        ),
    ]);
    r.dry_run = true;
    let pubs = r.chat_publications("arn:aws:sns:eu-west-1:111122223333:chat");
    assert_eq!(pubs.len(), 2, "one message per finding");
    for p in &pubs {
        let outer: serde_json::Value = serde_json::from_str(&p.message).unwrap();
        let n: serde_json::Value =
            serde_json::from_str(outer["default"].as_str().unwrap()).unwrap();
        let mut v = Vec::new();
        violations(&schema, &n, "$", &mut v);
        assert!(v.is_empty(), "{v:#?}\n{n:#}");
        assert!(p.subject.len() < 100 && p.subject.is_ascii());
    }
    let first: serde_json::Value = serde_json::from_str(
        serde_json::from_str::<serde_json::Value>(&pubs[0].message).unwrap()["default"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let title = first["content"]["title"].as_str().unwrap();
    assert!(title.starts_with("REVOKED"), "outcome first: {title}");
    let steps = first["content"]["nextSteps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .any(|s| s.as_str().unwrap().contains("aws cloudtrail lookup-events")),
        "the commands a person runs next: {steps:?}"
    );
    assert_eq!(first["metadata"]["threadId"], "f1");
    // Attacker text only inside code spans: no link, mention or formatting escapes.
    let second = chat_notification(&r, &r.incidents[1]);
    let d = second["content"]["description"].as_str().unwrap();
    for line in d.lines() {
        let outside: String = line.split('`').step_by(2).collect();
        assert!(
            !outside.contains("evil.example") && !outside.contains("@channel"),
            "{d}"
        );
    }
    assert!(!second["content"]["title"].as_str().unwrap().contains('@'));
    // The schema itself refuses what the docs refuse.
    let mut bad = second.clone();
    bad["version"] = serde_json::json!("2.0");
    bad["content"]["textType"] = serde_json::json!("markdown");
    let mut v = Vec::new();
    violations(&schema, &bad, "$", &mut v);
    assert_eq!(v.len(), 2, "{v:?}");
}

#[test]
fn chat_text_from_a_finding_never_becomes_a_link_or_a_mention() {
    // Slack parses `<...>` control sequences before markdown, inside code spans too.
    let hostile =
        "x<!channel> <@U012AB3CD> <https://evil.example|click> &lt; http://evil.example/a @here";
    let r = report(vec![IncidentReport::new(
        &incident("Recon:IAMUser/TorIPCaller", hostile),
        vec![ActionOutcome::new(
            ActionKind::Triage,
            hostile,
            Status::ManualActionRequired,
            hostile,
        )],
    )]);
    let n = chat_notification(&r, &r.incidents[0]);
    let mut texts = vec![
        n["content"]["title"].as_str().unwrap().to_string(),
        n["content"]["description"].as_str().unwrap().to_string(),
        n["metadata"]["summary"].as_str().unwrap().to_string(),
    ];
    for s in n["content"]["nextSteps"].as_array().unwrap() {
        texts.push(s.as_str().unwrap().to_string());
    }
    for k in n["content"]["keywords"].as_array().unwrap() {
        texts.push(k.as_str().unwrap().to_string());
    }
    for t in &texts {
        assert!(
            !t.contains('<') && !t.contains('>'),
            "control sequence: {t}"
        );
        assert!(!t.contains("://"), "link: {t}");
        assert!(
            !t.contains("&lt;") || t.contains("&amp;lt;"),
            "entity passed through: {t}"
        );
    }
    let d = n["content"]["description"].as_str().unwrap();
    assert!(
        d.contains("&lt;!channel&gt;"),
        "escaped, still readable: {d}"
    );
    assert!(
        d.contains("hxxp") || d.contains("http[:]//"),
        "defanged: {d}"
    );
    let title = n["content"]["title"].as_str().unwrap();
    assert!(!title.contains('@') && !title.contains('&'), "{title}");
}
