//! Approval over the real planner (`decide_role`): what is done at once, what waits, and when
//! an approval still holds.

use super::*;
use crate::input::parse_payload;
use crate::model::{ActionKind, RoleInfo};
use crate::policy::{RevocationPolicy, SESSION_POLICY_NAME};
use serde_json::json;
use std::collections::HashMap;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);
const ARN: &str =
    "arn:aws:guardduty:eu-west-1:111122223333:detector/12abc34d567e8fa901bc2d34e56789f0/finding/f-approve";
const EXFIL: &str = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_vars(
        &pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
    )
    .unwrap()
}

fn finding(kind: &str, principal_id: Option<&str>) -> Incident {
    let mut details = json!({"userType": "AssumedRole", "userName": "web-app", "accessKeyId": "ASIAEXAMPLEEXAMPLE01"});
    if let Some(p) = principal_id {
        details["principalId"] = json!(p);
    }
    parse_payload(&json!({
        "id": "f-approve", "arn": ARN, "accountId": "111122223333", "region": "eu-west-1", "type": kind, "severity": 8.0,
        "resource": {"accessKeyDetails": details, "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
        "service": {}
    }))
    .unwrap()
    .items
    .remove(0)
    .unwrap()
}

fn facts(role_policy: Option<String>) -> RoleFacts {
    RoleFacts {
        role: RoleInfo {
            name: "web-app".into(),
            arn: "arn:aws:iam::111122223333:role/web-app".into(),
            path: "/".into(),
            role_id: "AROAEXAMPLEROLEID0001".into(),
            tags: Vec::new(),
        },
        role_policy: Ok(role_policy),
        session_policy: Ok(None),
        responder_role: Ok(Some("session-revoker".into())),
        note: None,
    }
}

fn policy_of(a: &PlannedAction) -> Option<&'static str> {
    match &a.step {
        Step::Write(Write::PutRolePolicy { policy_name, .. }) => Some(policy_name),
        _ => None,
    }
}

#[test]
fn modes_and_the_principals_tag() {
    assert_eq!(ApprovalMode::parse(""), Ok(ApprovalMode::Never));
    assert_eq!(ApprovalMode::parse("Role-Wide"), Ok(ApprovalMode::RoleWide));
    assert_eq!(ApprovalMode::parse("always"), Ok(ApprovalMode::Always));
    assert!(ApprovalMode::parse("sometimes")
        .unwrap_err()
        .contains("never, role-wide or always"));
    let m = ApprovalMode::Never;
    assert_eq!(
        m.for_principal(Some("required")),
        (ApprovalMode::Always, None)
    );
    assert_eq!(
        ApprovalMode::Always.for_principal(Some("never")),
        (ApprovalMode::Never, None)
    );
    let (kept, why) = ApprovalMode::RoleWide.for_principal(Some("maybe"));
    assert_eq!(kept, ApprovalMode::RoleWide);
    assert!(why.unwrap().contains("ignored"));
}

#[test]
fn never_is_exactly_todays_plan() {
    let i = finding(EXFIL, Some("AROAEXAMPLEROLEID0001:deploy-pipeline"));
    let c = config(&[("REVOKE_SCOPE", "role")]);
    let plan = decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::Never, T0);
    assert_eq!(plan.now, decide_role(&i, &facts(None), &c, T0));
    assert!(plan.proposed.is_empty());
}

#[test]
fn role_wide_contains_the_stolen_session_now_and_proposes_the_role_wide_deny() {
    let i = finding(EXFIL, Some("AROAEXAMPLEROLEID0001:deploy-pipeline"));
    let c = config(&[("REVOKE_SCOPE", "role")]);
    let plan = decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::RoleWide, T0);
    assert_eq!(plan.now.len(), 1, "{plan:?}");
    assert_eq!(plan.now[0].kind, ActionKind::RevokeSessions);
    assert_eq!(policy_of(&plan.now[0]), Some(SESSION_POLICY_NAME));
    match &plan.now[0].step {
        Step::Write(Write::PutRolePolicy {
            sessions, fallback, ..
        }) => {
            assert_eq!(
                sessions,
                &["AROAEXAMPLEROLEID0001:deploy-pipeline".to_string()]
            );
            assert!(
                fallback.is_none(),
                "no silent role-wide fallback without approval"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.proposed.len(), 1, "{plan:?}");
    assert_eq!(policy_of(&plan.proposed[0]), Some(ROLE_POLICY_NAME));
}

#[test]
fn with_no_session_named_nothing_is_done_at_once_and_the_deny_waits() {
    let i = finding("UnauthorizedAccess:IAMUser/MaliciousIPCaller", None);
    let c = config(&[("REVOKE_SCOPE", "role")]);
    let plan = decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::RoleWide, T0);
    assert!(plan.now.iter().all(|a| policy_of(a).is_none()), "{plan:?}");
    assert_eq!(policy_of(&plan.proposed[0]), Some(ROLE_POLICY_NAME));
}

#[test]
fn always_also_holds_back_a_reassociation_after_a_session_deny() {
    let i = finding(EXFIL, Some("AROAEXAMPLEROLEID0001:i-0123456789abcdef0"));
    let c = config(&[("REASSOCIATE_INSTANCE_PROFILE", "true")]);
    // role-wide mode: a session-scoped deny and its re-association are done at once.
    let plan = decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::RoleWide, T0);
    assert!(plan.proposed.is_empty(), "{plan:?}");
    assert_eq!(plan.now.len(), 2);
    let plan = decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::Always, T0);
    assert_eq!(plan.now.len(), 1, "{plan:?}");
    assert_eq!(plan.now[0].kind, ActionKind::RevokeSessions);
    assert_eq!(plan.proposed.len(), 1);
    assert_eq!(
        plan.proposed[0].kind,
        ActionKind::ReassociateInstanceProfile
    );
}

#[test]
fn the_digest_names_the_plan_not_the_moment() {
    let i = finding(EXFIL, Some("AROAEXAMPLEROLEID0001:deploy-pipeline"));
    let c = config(&[("REVOKE_SCOPE", "role")]);
    let at = |t, doc: Option<String>| {
        decide_role_with_approval(&i, &facts(doc), &c, ApprovalMode::RoleWide, t).proposed
    };
    let exp = "2026-11-23T03:00:00Z";
    let first = plan_digest(&i, &at(T0, None), exp);
    assert_eq!(first.len(), 64);
    // Planned again an hour later (a new cutoff): the same plan.
    assert_eq!(
        first,
        plan_digest(&i, &at(T0 + Duration::hours(1), None), exp)
    );
    // Another expiry (an edited request): another digest.
    assert_ne!(
        first,
        plan_digest(&i, &at(T0, None), "2026-11-30T03:00:00Z")
    );
    // Something was written in between (a cutoff now in place): another plan.
    let written = RevocationPolicy {
        cutoff: T0 + Duration::minutes(5),
    }
    .to_json();
    assert_ne!(
        first,
        plan_digest(&i, &at(T0 + Duration::hours(1), Some(written)), exp)
    );
    let mut other = i.clone();
    other.finding_id = Some("f-other".into());
    assert_ne!(first, plan_digest(&other, &at(T0, None), exp));
}

#[test]
fn an_approval_holds_only_while_unexpired_and_unchanged() {
    let i = finding(EXFIL, Some("AROAEXAMPLEROLEID0001:deploy-pipeline"));
    let c = config(&[("REVOKE_SCOPE", "role")]);
    let proposed =
        decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::RoleWide, T0).proposed;
    let req = ApproveRequest::new(&i, "web-app", &proposed, T0, DEFAULT_TTL).unwrap();
    assert_eq!(req.finding_arn, ARN);
    assert_eq!(req.expires_at, "2026-11-23T03:00:00Z");
    // The request the report offers parses back as it is.
    let sent = serde_json::to_value(&req).unwrap();
    assert_eq!(sent["action"], "approve");
    let back = ApproveRequest::parse(&sent).unwrap();
    assert_eq!(back, req);
    let later = T0 + Duration::hours(2);
    let replanned =
        decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::RoleWide, later).proposed;
    let check = |r: &ApproveRequest, plan: &[PlannedAction], at| r.check(&i, plan, at, DEFAULT_TTL);
    assert_eq!(check(&back, &replanned, later), Ok(()));
    // With a reason and who sent it (recorded, not checked): still the same approval.
    let mut signed = sent.clone();
    signed["reason"] = json!("change CHG-1234, app owner agreed");
    signed["requested_by"] = json!("alice@example.com");
    let signed = ApproveRequest::parse(&signed).unwrap();
    assert_eq!(check(&signed, &replanned, later), Ok(()));
    assert_eq!(signed.requested_by.as_deref(), Some("alice@example.com"));
    // Expired.
    let err = check(&back, &replanned, T0 + Duration::hours(25)).unwrap_err();
    assert!(matches!(err, Refusal::Expired(_)), "{err}");
    assert!(err.to_string().contains("expired"));
    // Forged: another digest.
    let mut forged = back.clone();
    forged.digest = "0".repeat(64);
    assert_eq!(check(&forged, &replanned, later), Err(Refusal::PlanChanged));
    // An expiry moved a little (still within the TTL): the digest no longer matches.
    let mut moved = back.clone();
    moved.expires_at = "2026-11-23T04:00:00Z".into();
    assert_eq!(check(&moved, &replanned, later), Err(Refusal::PlanChanged));
    // An expiry moved far ahead: no proposal of this function carries it.
    let mut far = back.clone();
    far.expires_at = "2027-01-01T00:00:00Z".into();
    assert!(matches!(
        check(&far, &replanned, later),
        Err(Refusal::ExpiryTooFar(_))
    ));
    // Changed in between: a deny written since.
    let written = RevocationPolicy {
        cutoff: T0 + Duration::minutes(5),
    }
    .to_json();
    let changed =
        decide_role_with_approval(&i, &facts(Some(written)), &c, ApprovalMode::RoleWide, later)
            .proposed;
    assert_eq!(check(&back, &changed, later), Err(Refusal::PlanChanged));
    // Nothing wide left to do.
    assert_eq!(check(&back, &[], later), Err(Refusal::NothingLeft));
}

#[test]
fn the_report_section_and_the_proposed_actions() {
    let i = finding(EXFIL, Some("AROAEXAMPLEROLEID0001:deploy-pipeline"));
    let c = config(&[("REVOKE_SCOPE", "role")]);
    let proposed =
        decide_role_with_approval(&i, &facts(None), &c, ApprovalMode::RoleWide, T0).proposed;
    let f = crate::config::LambdaFunction {
        name: "session-revoker".into(),
        region: "eu-west-1".into(),
    };
    let section = ApprovalSection::new(
        &i,
        "web-app",
        &proposed,
        "APPROVAL_REQUIRED=role-wide".into(),
        Some(&f),
        T0,
        DEFAULT_TTL,
    );
    let request = section.request.clone().unwrap();
    assert_eq!(section.expires_at.as_deref(), Some("2026-11-23T03:00:00Z"));
    // The command carries the request exactly, ready for `aws lambda invoke`.
    let payload = section.command.split('\'').nth(1).unwrap();
    let sent: serde_json::Value = serde_json::from_str(payload).unwrap();
    assert_eq!(ApproveRequest::parse(&sent).unwrap(), request);
    assert!(section
        .command
        .starts_with("aws lambda invoke --region eu-west-1 --function-name session-revoker "));
    let outcomes = proposed_outcomes(&proposed, section.clone());
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].status, crate::model::Status::AwaitingApproval);
    assert!(outcomes[0].detail.starts_with("proposed, not done"));
    assert_eq!(outcomes[0].approval.as_deref(), Some(&section));
    // Without an ARN there is nothing to read again: the section offers a manual revoke.
    let mut no_arn = i.clone();
    no_arn.finding_arn = None;
    let s = ApprovalSection::new(
        &no_arn,
        "web-app",
        &proposed,
        "x".into(),
        None,
        T0,
        DEFAULT_TTL,
    );
    assert!(s.request.is_none());
    assert!(s.command.contains(r#""action":"revoke""#), "{}", s.command);
}

#[test]
fn approve_requests_are_strict() {
    let ok = json!({"action": "approve", "finding_arn": ARN, "role": "web-app", "digest": "a".repeat(64), "expires_at": "2026-11-23T03:00:00Z"});
    assert!(ApproveRequest::parse(&ok).is_ok());
    assert!(ApproveRequest::is_approve(&ok));
    for (field, value, says) in [
        ("extra", json!(1), "unknown field"),
        ("digest", json!("abc"), "64 hex"),
        ("role", json!("web app"), "not a valid IAM role"),
        ("expires_at", json!("tomorrow"), "UTC timestamp"),
        ("action", json!("revoke"), "not \"approve\""),
        ("finding_arn", json!("f-approve"), "finding_arn"),
        (
            "finding_arn",
            json!("arn:aws:guardduty:eu-west-1:111122223333:detector/d/finding/a b"),
            "finding id",
        ),
    ] {
        let mut bad = ok.clone();
        bad[field] = value;
        let err = ApproveRequest::parse(&bad).unwrap_err();
        assert!(err.contains(says), "{field}: {err}");
    }
}
