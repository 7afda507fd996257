//! Approval on the in-memory account with a fake GuardDuty: what is done at once, what waits,
//! the role's tag, and an approve request that writes the proposal only while it holds.

use super::*;
use crate::accounts::{AccountAccess, Accounts, GuardDutyFactory, Identity, Unreachable};
use crate::aws::guardduty::Findings;
use crate::aws::AwsResult;
use crate::clock::ManualClock;
use crate::error::AwsError;
use crate::model::Outcome;
use crate::policy::{self, RevocationPolicy, ROLE_POLICY_NAME, SESSION_POLICY_NAME};
use crate::testing::{MemoryAccount, MemoryAccounts};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use time::macros::datetime;

const OWN: &str = "123456789012";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker";
const ROLE: &str = "app-deployer";
const T0: OffsetDateTime = datetime!(2026-11-22 03:10:00 UTC);

/// GuardDuty knows exactly the sample finding.
struct OneFinding(Value);

impl Findings for OneFinding {
    fn list_detectors(&self) -> BoxFuture<'_, AwsResult<Vec<String>>> {
        futures::future::ready(Ok(vec!["6ec7b0a4c1f6d12b8e3a9c1f00example".into()])).boxed()
    }

    fn get_finding<'a>(
        &'a self,
        detector_id: &'a str,
        finding_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<Value>>> {
        let known = detector_id == "6ec7b0a4c1f6d12b8e3a9c1f00example"
            && Some(finding_id) == self.0["id"].as_str();
        futures::future::ready(Ok(known.then(|| self.0.clone()))).boxed()
    }
}

struct WithGuardDuty(MemoryAccounts, Arc<OneFinding>);

impl Accounts for WithGuardDuty {
    fn identity(&self) -> BoxFuture<'_, Result<Identity, AwsError>> {
        self.0.identity()
    }

    fn access<'a>(
        &'a self,
        account: &'a str,
        finding: &'a str,
    ) -> BoxFuture<'a, Result<AccountAccess, Unreachable>> {
        async move {
            let access = self.0.access(account, finding).await?;
            let gd: Arc<dyn Findings> = self.1.clone();
            let factory: GuardDutyFactory = Arc::new(move |_region: &str| gd.clone());
            Ok(access.with_guardduty(factory))
        }
        .boxed()
    }
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../events/assumed-role-event.json")).unwrap()
}

fn setup(extra: &[(&str, &str)]) -> (Arc<MemoryAccount>, Arc<ManualClock>, Responder) {
    let mut vars: HashMap<String, String> = [
        ("SNS_TOPIC_ARN", TOPIC),
        ("CUTOFF_MARGIN_SECONDS", "1"),
        ("MAX_FINDING_AGE_HOURS", "0"),
        ("CHAIN_DEPTH", "0"),
        ("REVOKE_SCOPE", "role"),
        ("APPROVAL_REQUIRED", "role-wide"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let a = MemoryAccount::new(OWN);
    a.add_role(ROLE, "/");
    a.add_role("session-revoker", "/");
    let clock = Arc::new(ManualClock::new(T0));
    let accounts = WithGuardDuty(
        MemoryAccounts::new(&a, "session-revoker"),
        Arc::new(OneFinding(event()["detail"].clone())),
    );
    let r = Responder {
        config: Config::from_vars(&vars).unwrap(),
        clock: clock.clone(),
        accounts: Arc::new(accounts),
        notifier: Some(a.clone()),
    };
    (a, clock, r)
}

fn request_of(report: &Report) -> Value {
    let section = report.incidents[0]
        .approval
        .as_ref()
        .expect("an approval section");
    serde_json::to_value(section.request.as_ref().unwrap()).unwrap()
}

fn session_denied(a: &MemoryAccount) -> bool {
    a.role_policy(ROLE, SESSION_POLICY_NAME)
        .is_some_and(|d| d.contains("AROAQEXAMPLEDEPLOYER1:ci-pipeline-4821"))
}

#[tokio::test]
async fn role_wide_denies_the_stolen_session_now_and_proposes_the_role_wide_deny() {
    let (a, _clock, r) = setup(&[]);
    let (report, fate) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert!(fate.is_ok(), "waiting for a person is not a failure");
    assert_eq!(report.outcome, Outcome::ApprovalNeeded);
    assert!(
        report.summary.starts_with("APPROVAL NEEDED"),
        "{}",
        report.summary
    );
    assert!(session_denied(&a), "the stolen session is denied at once");
    assert_eq!(
        a.role_policy(ROLE, ROLE_POLICY_NAME),
        None,
        "the role-wide deny waits"
    );
    let i = &report.incidents[0];
    let waiting: Vec<_> = i
        .actions
        .iter()
        .filter(|x| x.status == Status::AwaitingApproval)
        .collect();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].policy_name, Some(ROLE_POLICY_NAME));
    let section = i.approval.as_ref().unwrap();
    assert_eq!(section.required_by, "APPROVAL_REQUIRED=role-wide");
    assert_eq!(section.expires_at.as_deref(), Some("2026-11-23T03:10:00Z"));
    assert!(section.command.contains("aws lambda invoke"));
    // SNS and the text lead with it; the JSON carries the request as it is.
    let published = a.published();
    assert!(
        published[0].subject.contains("APPROVAL NEEDED"),
        "{}",
        published[0].subject
    );
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(
        json["incidents"][0]["approval"]["request"]["action"],
        "approve"
    );
    assert!(report.to_text().contains("Approval   APPROVAL NEEDED"));
}

#[tokio::test]
async fn an_approval_writes_the_proposal_when_it_still_holds() {
    let (a, clock, r) = setup(&[]);
    let (report, _) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let mut request = request_of(&report);
    request["reason"] = json!("CHG-1234: app owner agreed");
    request["requested_by"] = json!("alice@example.com");
    clock.advance(std::time::Duration::from_secs(3600));
    let (approved, fate) = r
        .respond_with_fate(&request, Budget::UNLIMITED)
        .await
        .unwrap();
    assert!(fate.is_ok(), "{}", approved.summary);
    assert_eq!(approved.outcome, Outcome::Revoked, "{}", approved.to_text());
    let doc = a
        .role_policy(ROLE, ROLE_POLICY_NAME)
        .expect("the role-wide deny");
    assert!(policy::read_revocations(&doc).unwrap().is_exact());
    let i = &approved.incidents[0];
    assert_eq!(
        i.reason.as_deref(),
        Some("approval: CHG-1234: app owner agreed")
    );
    let act = &i.actions[0];
    assert_eq!(act.facts["approval"], "approved");
    assert!(act.facts["approved_by"].starts_with("alice@example.com (stated in the request"));
    assert!(act.facts.contains_key("invoked_by"));
    assert_eq!(
        a.published().len(),
        2,
        "the approval is reported like any incident"
    );
    // Sent again: the plan is not the same any more (the deny is in place now).
    let (again, _) = r
        .respond_with_fate(&request, Budget::UNLIMITED)
        .await
        .unwrap();
    assert_ne!(again.outcome, Outcome::Revoked);
}

#[tokio::test]
async fn an_expired_forged_or_outdated_approval_writes_nothing() {
    let (a, clock, r) = setup(&[]);
    let (report, _) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let request = request_of(&report);
    let refused = |report: &Report, code: &str| {
        let first = &report.incidents[0].actions[0];
        assert_eq!(
            first.facts.get("approval").map(String::as_str),
            Some(code),
            "{}",
            report.to_text()
        );
        assert_eq!(first.status, Status::ManualActionRequired);
    };
    // Forged: another digest. The plan made now is offered again (the digest is no secret).
    let mut forged = request.clone();
    forged["digest"] = json!("0".repeat(64));
    let (report, fate) = r
        .respond_with_fate(&forged, Budget::UNLIMITED)
        .await
        .unwrap();
    refused(&report, "plan_changed");
    assert_eq!(report.outcome, Outcome::ApprovalNeeded);
    assert!(
        fate.is_ok(),
        "a refused approval is a report, not a failed invocation"
    );
    // Another role than the finding names.
    let mut other = request.clone();
    other["role"] = json!("session-revoker");
    let (report, _) = r
        .respond_with_fate(&other, Budget::UNLIMITED)
        .await
        .unwrap();
    refused(&report, "other_role");
    assert_eq!(report.outcome, Outcome::ManualActionRequired);
    // A finding GuardDuty does not know.
    let mut unknown = request.clone();
    unknown["finding_arn"] = json!(request["finding_arn"]
        .as_str()
        .unwrap()
        .replace("c2b6", "ffff"));
    let (report, _) = r
        .respond_with_fate(&unknown, Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::ManualActionRequired);
    assert_eq!(
        report.incidents[0].actions[0].facts["verdict"],
        "unknown_to_guardduty"
    );
    assert_eq!(a.role_policy(ROLE, ROLE_POLICY_NAME), None);
    // Expired.
    clock.advance(std::time::Duration::from_secs(25 * 3600));
    let (report, _) = r
        .respond_with_fate(&request, Budget::UNLIMITED)
        .await
        .unwrap();
    refused(&report, "expired");
    assert_eq!(report.outcome, Outcome::ManualActionRequired);
    assert_eq!(a.role_policy(ROLE, ROLE_POLICY_NAME), None);
}

#[tokio::test]
async fn a_deny_written_in_between_changes_the_plan_and_the_new_one_is_offered() {
    let (a, clock, r) = setup(&[]);
    let (report, _) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let request = request_of(&report);
    // A person wrote a role-wide deny since, with a cutoff before the finding's last activity
    // (one after it covers the finding: nothing left to approve, the test below).
    let by_hand = RevocationPolicy {
        cutoff: datetime!(2026-11-22 01:00:00 UTC),
    }
    .to_json();
    a.put_role_policy_now(ROLE, ROLE_POLICY_NAME, &by_hand);
    clock.advance(std::time::Duration::from_secs(600));
    let (changed, _) = r
        .respond_with_fate(&request, Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(
        changed.incidents[0].actions[0].facts["approval"],
        "plan_changed"
    );
    assert_eq!(
        a.role_policy(ROLE, ROLE_POLICY_NAME).as_deref(),
        Some(by_hand.as_str()),
        "nothing written"
    );
    // The plan made now is in the report, with its own request: approving that one works.
    let (approved, _) = r
        .respond_with_fate(&request_of(&changed), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(approved.outcome, Outcome::Revoked, "{}", approved.to_text());
    assert_ne!(
        a.role_policy(ROLE, ROLE_POLICY_NAME).as_deref(),
        Some(by_hand.as_str())
    );
}

#[tokio::test]
async fn the_roles_tag_overrides_the_setting_for_that_role() {
    // `never` on the role under `always`: everything at once.
    let (a, _c, r) = setup(&[("APPROVAL_REQUIRED", "always")]);
    a.tag_role(ROLE, APPROVAL_TAG, "never");
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(a.role_policy(ROLE, ROLE_POLICY_NAME).is_some());
    // `required` on the role under `never`: the role-wide deny waits.
    let (a, _c, r) = setup(&[("APPROVAL_REQUIRED", "never")]);
    a.tag_role(ROLE, "Session-Revoker:Approval", "Required");
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::ApprovalNeeded);
    assert!(report.incidents[0]
        .approval
        .as_ref()
        .unwrap()
        .required_by
        .contains("tag session-revoker:approval=Required"));
    assert_eq!(a.role_policy(ROLE, ROLE_POLICY_NAME), None);
    // Neither value: ignored, named, the setting applies.
    let (a, _c, r) = setup(&[("APPROVAL_REQUIRED", "never")]);
    a.tag_role(ROLE, APPROVAL_TAG, "maybe");
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(report.incidents[0].actions[0].facts["approval_tag"].contains("ignored"));
}

#[tokio::test]
async fn the_tag_comes_with_the_role_so_no_read_of_its_own_delays_the_deny() {
    let (a, _c, r) = setup(&[]);
    a.tag_role(ROLE, APPROVAL_TAG, "never");
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    // `never` on the role overrides the setting: read from GetRole's answer.
    assert_eq!(report.outcome, Outcome::Revoked, "{}", report.to_text());
    assert_eq!(a.faults.calls("GetRole"), 1);
    assert_eq!(a.faults.calls("ListRoleTags"), 0);
}

#[tokio::test]
async fn a_persons_revoke_and_approval_never_are_todays_behaviour() {
    // A manual revoke is a person's decision: no approval, no tag read.
    let (a, _c, r) = setup(&[("APPROVAL_REQUIRED", "always")]);
    let manual = json!({"action": "revoke", "role": ROLE, "reason": "on call"});
    let report = r.respond(&manual, Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(a.role_policy(ROLE, ROLE_POLICY_NAME).is_some());
    assert_eq!(a.faults.calls("ListRoleTags"), 0);
    // `never` (the default): the finding's role-wide deny at once, as before.
    let (a, _c, r) = setup(&[("APPROVAL_REQUIRED", "never")]);
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(report.incidents[0].approval.is_none());
    assert!(a.role_policy(ROLE, ROLE_POLICY_NAME).is_some());
}

#[tokio::test]
async fn a_bad_approve_request_is_an_input_error() {
    let (_a, _c, r) = setup(&[]);
    let err = r
        .respond_with_fate(
            &json!({"action": "approve", "finding_id": "x"}),
            Budget::UNLIMITED,
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(err.to_string().contains("accepted fields"), "{err}");
}

#[tokio::test]
async fn a_deny_that_already_covers_the_finding_leaves_nothing_to_approve() {
    let (a, clock, r) = setup(&[]);
    let (report, _) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let request = request_of(&report);
    let by_hand = RevocationPolicy {
        cutoff: T0 + time::Duration::minutes(5),
    }
    .to_json();
    a.put_role_policy_now(ROLE, ROLE_POLICY_NAME, &by_hand);
    clock.advance(std::time::Duration::from_secs(600));
    let (report, fate) = r
        .respond_with_fate(&request, Budget::UNLIMITED)
        .await
        .unwrap();
    let first = &report.incidents[0].actions[0];
    assert_eq!(first.facts["approval"], "nothing_left");
    assert_eq!(
        (first.status, report.outcome),
        (Status::Skipped, Outcome::Skipped)
    );
    assert!(fate.is_ok());
    assert_eq!(
        a.role_policy(ROLE, ROLE_POLICY_NAME).as_deref(),
        Some(by_hand.as_str())
    );
}

#[tokio::test]
async fn a_security_hub_custom_action_is_a_persons_decision_and_does_not_wait() {
    let (a, _c, r) = setup(&[("APPROVAL_REQUIRED", "always")]);
    a.add_role("web-app", "/");
    let custom: Value = serde_json::from_str(include_str!(
        "../../events/securityhub-custom-action-event.json"
    ))
    .unwrap();
    let report = r.respond(&custom, Budget::UNLIMITED).await.unwrap();
    assert!(
        report.incidents.iter().all(|i| i.approval.is_none()),
        "{}",
        report.to_text()
    );
    assert!(a.role_policy("web-app", ROLE_POLICY_NAME).is_some());
    assert_eq!(a.faults.calls("ListRoleTags"), 0);
}
