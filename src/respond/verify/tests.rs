//! Verification on the in-memory accounts with a fake GuardDuty: which route reads the copy,
//! what is refused, and that a refusal writes nothing and fails the invocation.

use super::*;
use crate::accounts::{AccountAccess, Accounts, GuardDutyFactory, Identity, Unreachable};
use crate::aws::guardduty::Findings;
use crate::aws::AwsResult;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::model::Outcome;
use crate::policy;
use crate::respond::Budget;
use crate::testing::{MemoryAccount, MemoryAccounts};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

const OWN: &str = "123456789012";
const MEMBER: &str = "111111111111";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker";

/// GuardDuty of one account: the findings it knows per (detector, id), its detectors, and the
/// calls it received.
#[derive(Default)]
struct FakeGuardDuty {
    detectors: Vec<String>,
    findings: BTreeMap<(String, String), Value>,
    fail_with: Option<AwsError>,
    calls: Mutex<Vec<String>>,
}

impl FakeGuardDuty {
    fn with(mut self, detector: &str, finding: &Value) -> Self {
        let id = finding["id"].as_str().unwrap().to_string();
        self.findings
            .insert((detector.to_string(), id), finding.clone());
        self
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Findings for FakeGuardDuty {
    fn list_detectors(&self) -> BoxFuture<'_, AwsResult<Vec<String>>> {
        self.calls.lock().unwrap().push("ListDetectors".into());
        futures::future::ready(Ok(self.detectors.clone())).boxed()
    }

    fn get_finding<'a>(
        &'a self,
        detector_id: &'a str,
        finding_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<Value>>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("GetFindings {detector_id} {finding_id}"));
        let result = match &self.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(self
                .findings
                .get(&(detector_id.to_string(), finding_id.to_string()))
                .cloned()),
        };
        futures::future::ready(result).boxed()
    }
}

/// The in-memory accounts, each with its fake GuardDuty.
struct WithGuardDuty {
    inner: MemoryAccounts,
    guardduty: HashMap<String, Arc<FakeGuardDuty>>,
}

impl Accounts for WithGuardDuty {
    fn identity(&self) -> BoxFuture<'_, Result<Identity, AwsError>> {
        self.inner.identity()
    }

    fn access<'a>(
        &'a self,
        account: &'a str,
        finding: &'a str,
    ) -> BoxFuture<'a, Result<AccountAccess, Unreachable>> {
        async move {
            let access = self.inner.access(account, finding).await?;
            Ok(match self.guardduty.get(account) {
                Some(gd) => {
                    let gd: Arc<dyn Findings> = gd.clone();
                    let factory: GuardDutyFactory = Arc::new(move |_region: &str| gd.clone());
                    access.with_guardduty(factory)
                }
                None => access,
            })
        }
        .boxed()
    }
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("SNS_TOPIC_ARN".to_string(), TOPIC.to_string()),
        ("CUTOFF_MARGIN_SECONDS".to_string(), "1".to_string()),
        // The sample events are dated 2026-11-22: not refused as replays here.
        ("MAX_FINDING_AGE_HOURS".to_string(), "0".to_string()),
        // No CloudTrail here: a look-up that cannot be read is an item left for a person
        // (partly contained); the follow-up has its own tests (follow/tests.rs).
        ("CHAIN_DEPTH".to_string(), "0".to_string()),
        ("VERIFY_FINDINGS".to_string(), "true".to_string()),
        ("REVOKE_SCOPE".to_string(), "role".to_string()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_vars(&vars).unwrap()
}

struct World {
    own: Arc<MemoryAccount>,
    member: Arc<MemoryAccount>,
    responder: Responder,
}

fn world(guardduty: &[(&str, &Arc<FakeGuardDuty>)], config: Config) -> World {
    let own = MemoryAccount::new(OWN);
    own.add_role("app-deployer", "/");
    own.add_role("prod-admin", "/");
    own.add_role("session-revoker", "/");
    let member = MemoryAccount::new(MEMBER);
    member.add_role("data-pipeline", "/");
    let accounts = WithGuardDuty {
        inner: MemoryAccounts::new(&own, "session-revoker").with_member(&member),
        guardduty: guardduty
            .iter()
            .map(|(a, g)| (a.to_string(), Arc::clone(g)))
            .collect(),
    };
    let responder = Responder {
        config,
        clock: Arc::new(SystemClock),
        accounts: Arc::new(accounts),
        notifier: Some(own.clone()),
    };
    World {
        own,
        member,
        responder,
    }
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../../events/assumed-role-event.json")).unwrap()
}

fn member_event() -> Value {
    serde_json::from_str(include_str!("../../../events/member-account-event.json")).unwrap()
}

const DETECTOR: &str = "6ec7b0a4c1f6d12b8e3a9c1f00example";

fn denied(w: &World, role: &str) -> bool {
    w.own.role_policy(role, policy::ROLE_POLICY_NAME).is_some()
}

#[tokio::test]
async fn a_genuine_finding_is_acted_on_and_marked_verified() {
    let gd = Arc::new(FakeGuardDuty::default().with(DETECTOR, &event()["detail"]));
    let w = world(&[(OWN, &gd)], config(&[]));
    let report = w
        .responder
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(denied(&w, "app-deployer"));
    let verified = &report.incidents[0].actions[0].facts["verified"];
    assert!(
        verified.contains("responder's own credentials (account 123456789012, detector 6ec7b0a4c1f6d12b8e3a9c1f00example)"),
        "{verified}"
    );
    // The finding's own account: the ARN's detector, no ListDetectors.
    assert_eq!(
        gd.calls(),
        vec![format!(
            "GetFindings {DETECTOR} c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10"
        )]
    );
}

#[tokio::test]
async fn an_unknown_finding_id_is_refused_as_possibly_forged_and_nothing_is_written() {
    let gd = Arc::new(FakeGuardDuty::default());
    let w = world(&[(OWN, &gd)], config(&[]));
    let (report, fate) = w
        .responder
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let a = &report.incidents[0].actions;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].status, Status::Failed);
    assert_eq!(a[0].action, ActionKind::Triage);
    assert!(
        a[0].detail.starts_with(
            "refused: possibly forged: GuardDuty does not know finding c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10 in us-east-1"
        ),
        "{}",
        a[0].detail
    );
    assert_eq!(a[0].facts["verdict"], "unknown_to_guardduty");
    assert!(fate.is_err(), "a refused finding fails the invocation");
    assert!(!denied(&w, "app-deployer"));
}

#[tokio::test]
async fn a_swapped_principal_is_refused_naming_the_field_and_the_named_role_is_untouched() {
    let gd = Arc::new(FakeGuardDuty::default().with(DETECTOR, &event()["detail"]));
    let w = world(&[(OWN, &gd)], config(&[]));
    let mut forged = event();
    forged["detail"]["resource"]["accessKeyDetails"]["userName"] = json!("prod-admin");
    let (report, fate) = w
        .responder
        .respond_with_fate(&forged, Budget::UNLIMITED)
        .await
        .unwrap();
    let a = &report.incidents[0].actions[0];
    assert_eq!(a.status, Status::Failed);
    assert!(
        a.detail.contains(
            "resource.accessKeyDetails.userName (given \"prod-admin\", GuardDuty \"app-deployer\")"
        ),
        "{}",
        a.detail
    );
    assert!(fate.is_err());
    assert!(!denied(&w, "prod-admin"));
    assert!(
        !denied(&w, "app-deployer"),
        "a refused finding writes nothing"
    );
}

#[tokio::test]
async fn a_member_finding_is_read_by_the_administrator_then_through_the_member_role() {
    let detail = member_event()["detail"].clone();
    // The administrator's detector does not have it (not an administrator of this member, say);
    // the member's own detector does.
    let admin = Arc::new(FakeGuardDuty {
        detectors: vec!["admindetector".into()],
        ..Default::default()
    });
    let member = Arc::new(FakeGuardDuty::default().with(DETECTOR, &detail));
    let w = world(
        &[(OWN, &admin), (MEMBER, &member)],
        config(&[("MEMBER_ROLE_NAME", "SessionRevokerMember")]),
    );
    let report = w
        .responder
        .respond(&member_event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(w
        .member
        .role_policy("data-pipeline", policy::ROLE_POLICY_NAME)
        .is_some());
    assert_eq!(
        admin.calls(),
        vec![
            "ListDetectors".to_string(),
            "GetFindings admindetector 8a7b6c5d4e3f40a1b2c3d4e5f6a7b8c9".to_string()
        ]
    );
    assert_eq!(member.calls().len(), 1);
    let verified = &report.incidents[0].actions[0].facts["verified"];
    assert!(
        verified.contains("through SessionRevokerMember"),
        "{verified}"
    );
}

#[tokio::test]
async fn an_administrator_reads_member_findings_through_its_own_detector() {
    let detail = member_event()["detail"].clone();
    let admin = Arc::new(
        FakeGuardDuty {
            detectors: vec!["admindetector".into()],
            ..Default::default()
        }
        .with("admindetector", &detail),
    );
    let w = world(&[(OWN, &admin)], config(&[]));
    let report = w
        .responder
        .respond(&member_event(), Budget::UNLIMITED)
        .await
        .unwrap();
    // Verified by the administrator; the member account itself is reached as before.
    assert!(report.incidents[0].actions[0].facts["verified"].contains("detector admindetector"));
}

#[tokio::test]
async fn guardduty_unreadable_is_refused_as_not_verified_keeping_the_code() {
    let gd = Arc::new(FakeGuardDuty {
        fail_with: Some(AwsError::new(
            "GetFindings",
            "AccessDeniedException",
            "not authorized to perform guardduty:GetFindings",
        )),
        ..Default::default()
    });
    let w = world(&[(OWN, &gd)], config(&[]));
    let (report, fate) = w
        .responder
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let a = &report.incidents[0].actions[0];
    assert_eq!(a.status, Status::Failed);
    assert!(
        a.detail.starts_with("refused: not verified with GuardDuty"),
        "{}",
        a.detail
    );
    assert_eq!(a.error.as_ref().unwrap().code, "AccessDeniedException");
    assert!(fate.is_err());
    assert!(!denied(&w, "app-deployer"));
}

#[tokio::test]
async fn a_finding_without_an_arn_is_not_verifiable() {
    let gd = Arc::new(FakeGuardDuty::default().with(DETECTOR, &event()["detail"]));
    let w = world(&[(OWN, &gd)], config(&[]));
    let mut e = event();
    e["detail"].as_object_mut().unwrap().remove("arn");
    let (report, _) = w
        .responder
        .respond_with_fate(&e, Budget::UNLIMITED)
        .await
        .unwrap();
    let a = &report.incidents[0].actions[0];
    assert_eq!(a.status, Status::Failed);
    assert!(
        a.detail.contains("carries no GuardDuty finding ARN"),
        "{}",
        a.detail
    );
    assert!(gd.calls().is_empty());
}

#[tokio::test]
async fn skipped_findings_and_verification_off_ask_guardduty_nothing() {
    let gd = Arc::new(FakeGuardDuty::default());
    let w = world(&[(OWN, &gd)], config(&[("MIN_SEVERITY", "9")]));
    let report = w
        .responder
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Skipped);
    let w = world(&[(OWN, &gd)], config(&[("VERIFY_FINDINGS", "false")]));
    let report = w
        .responder
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(gd.calls().is_empty());
}

#[tokio::test]
async fn manual_requests_still_work_and_name_who_asked() {
    let gd = Arc::new(FakeGuardDuty::default());
    let w = world(&[(OWN, &gd)], config(&[]));
    let manual = json!({"action": "revoke", "role": "app-deployer", "reason": "drill"});
    // A direct invoke: Lambda gives no caller identity.
    let report = w
        .responder
        .respond(&manual, Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    let by = &report.incidents[0].actions[0].facts["requested_by"];
    assert!(by.starts_with("not given"), "{by}");
    // With Cognito credentials, Lambda names the identity.
    let caller = Caller {
        cognito: Some(("us-east-1:0000-1111".into(), "us-east-1:pool".into())),
        client_app: None,
        request_id: Some("req-1".into()),
    };
    let report = with_caller(caller, w.responder.respond(&manual, Budget::UNLIMITED))
        .await
        .unwrap();
    let by = &report.incidents[0].actions[0].facts["requested_by"];
    assert!(
        by.contains("Cognito identity us-east-1:0000-1111 of pool us-east-1:pool")
            && by.contains("req-1"),
        "{by}"
    );
    assert_eq!(
        serde_json::to_value(&report).unwrap()["incidents"][0]["source"],
        "manual_request"
    );
    assert!(gd.calls().is_empty());
}

#[test]
fn the_caller_comes_from_lambdas_context() {
    let mut ctx = lambda_runtime::Context::default();
    assert_eq!(Caller::from_context(&ctx), Caller::default());
    ctx.request_id = "abc".into();
    // The type is private to lambda_runtime: built as Lambda's header would give it.
    ctx.identity = serde_json::from_value(
        json!({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}),
    )
    .ok();
    let c = Caller::from_context(&ctx);
    assert_eq!(c.cognito, Some(("id-1".into(), "pool-1".into())));
    assert_eq!(c.request_id.as_deref(), Some("abc"));
}

#[tokio::test]
async fn a_forged_finding_gets_no_manual_steps_either() {
    let root: Value =
        serde_json::from_str(include_str!("../../../events/root-credential-event.json")).unwrap();
    let gd = Arc::new(FakeGuardDuty::default());
    // Without verification: steps for a person.
    let w = world(&[(OWN, &gd)], config(&[("VERIFY_FINDINGS", "false")]));
    let report = w.responder.respond(&root, Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::ManualActionRequired);
    // With it, GuardDuty is asked first, and a finding it does not know gets no steps.
    let w = world(&[(OWN, &gd)], config(&[]));
    let (report, fate) = w
        .responder
        .respond_with_fate(&root, Budget::UNLIMITED)
        .await
        .unwrap();
    let a = &report.incidents[0].actions;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].status, Status::Failed);
    assert!(a[0].commands.is_empty());
    assert!(a[0].detail.contains("possibly forged"), "{}", a[0].detail);
    assert!(fate.is_err());
    assert_eq!(gd.calls().len(), 1);
}

#[tokio::test]
async fn a_finding_archived_in_guardduty_since_the_event_needs_a_person_not_a_silent_skip() {
    // Archiving is one call for anyone allowed guardduty:ArchiveFindings, the attacker too.
    let mut copy = event()["detail"].clone();
    copy["service"]["archived"] = json!(true);
    let gd = Arc::new(FakeGuardDuty::default().with(DETECTOR, &copy));
    let w = world(&[(OWN, &gd)], config(&[]));
    let report = w
        .responder
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::ManualActionRequired, "{report:#?}");
    let a = &report.incidents[0].actions[0];
    assert_eq!(a.status, Status::ManualActionRequired);
    assert!(a.detail.contains("archived"), "{}", a.detail);
    assert!(
        a.commands.iter().any(|c| c.contains("put-role-policy")),
        "the steps for the role it names: {:?}",
        a.commands
    );
    assert!(!denied(&w, "app-deployer"), "nothing written automatically");
    // An event that says archived itself is skipped from what it says, as before.
    let mut archived_event = event();
    archived_event["detail"]["service"]["archived"] = json!(true);
    let skipped = w
        .responder
        .respond(&archived_event, Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(skipped.outcome, Outcome::Skipped);
}
