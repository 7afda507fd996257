//! The follow-up's orchestration on in-memory accounts, CloudTrail and Scheduler (fakes: the
//! drills run it against fakecloud with a loopback CloudTrail).

use crate::clock::SystemClock;
use crate::config::{Config, LambdaFunction};
use crate::model::{KeyStatus, Outcome, Status};
use crate::policy;
use crate::respond::{Budget, Responder};
use crate::testing::{role_id_of, MemoryAccount, MemoryAccounts, MemoryScheduler, MemoryTrail};
use revoker_core::report::Report;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

const OWN: &str = "123456789012";
const MEMBER: &str = "444455556666";
const STOLEN_KEY: &str = "ASIAQEXAMPLE7DEPLOY1";

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("CUTOFF_MARGIN_SECONDS".to_string(), "1".to_string()),
        ("MAX_FINDING_AGE_HOURS".to_string(), "0".to_string()),
        (
            "MEMBER_ROLE_NAME".to_string(),
            "session-revoker-member".to_string(),
        ),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_vars(&vars).unwrap()
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../../events/assumed-role-event.json")).unwrap()
}

fn now() -> String {
    revoker_core::names::format_utc(time::OffsetDateTime::now_utc())
}

/// A CloudTrail record made with the finding's stolen key.
fn record(n: u32, name: &str, source: &str, request: Value, response: Value) -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAQEXAMPLEDEPLOYER1:ci-pipeline-4821",
            "arn": format!("arn:aws:sts::{OWN}:assumed-role/app-deployer/ci-pipeline-4821"),
            "accountId": OWN, "accessKeyId": STOLEN_KEY},
        "eventTime": now(), "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "requestParameters": request, "responseElements": response,
        "eventID": format!("00000000-0000-4000-8000-{n:012}"), "recipientAccountId": OWN
    })
}

fn assume(n: u32, account: &str, role: &str, session: &str, key: &str) -> Value {
    record(
        n,
        "AssumeRole",
        "sts.amazonaws.com",
        json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"), "roleSessionName": session}),
        json!({"credentials": {"accessKeyId": key},
               "assumedRoleUser": {"assumedRoleId": format!("{}:{session}", role_id_of(role)),
                                   "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}")}}),
    )
}

fn create_key(n: u32, user: &str, key: &str) -> Value {
    record(
        n,
        "CreateAccessKey",
        "iam.amazonaws.com",
        json!({"userName": user}),
        json!({"accessKey": {"userName": user, "accessKeyId": key, "status": "Active"}}),
    )
}

struct World {
    own: Arc<MemoryAccount>,
    member: Arc<MemoryAccount>,
    trail: Arc<MemoryTrail>,
    scheduler: Arc<MemoryScheduler>,
}

fn world() -> World {
    let own = MemoryAccount::new(OWN);
    own.add_role("app-deployer", "/");
    own.add_role("session-revoker", "/");
    own.add_role("deploy", "/");
    own.add_user("backup-svc", &[("AKIAATTACKERKEY00001", KeyStatus::Active)]);
    let member = MemoryAccount::new(MEMBER);
    member.add_role("audit", "/");
    World {
        own,
        member,
        trail: MemoryTrail::new(),
        scheduler: Arc::new(MemoryScheduler::default()),
    }
}

impl World {
    /// The responder; `DescribeRegions` lists only us-east-1 (the finding's region).
    fn responder(&self, config: Config) -> Responder {
        self.responder_with(config, |a| a.with_regions(Ok(vec!["us-east-1".into()])))
    }

    /// As `responder`, with the accounts changed by `more` (the regions `DescribeRegions` lists;
    /// none: they cannot be listed).
    fn responder_with(
        &self,
        config: Config,
        more: impl FnOnce(MemoryAccounts) -> MemoryAccounts,
    ) -> Responder {
        Responder {
            config,
            clock: Arc::new(SystemClock),
            accounts: Arc::new(more(
                MemoryAccounts::new(&self.own, "session-revoker")
                    .with_member(&self.member)
                    .with_trail(OWN, &self.trail)
                    .with_trail(MEMBER, &MemoryTrail::new())
                    .with_scheduler(&self.scheduler),
            )),
            notifier: None,
        }
    }
}

fn follow_up(report: &Report) -> Value {
    serde_json::to_value(&report.incidents[0].follow_up).unwrap()
}

#[tokio::test]
async fn sessions_in_two_accounts_are_revoked_and_the_key_left_behind_deactivated() {
    let w = world();
    w.trail.add(&assume(
        1,
        OWN,
        "deploy",
        "x-deploy",
        "ASIACHAINKEY00000001",
    ));
    w.trail.add(&assume(
        2,
        MEMBER,
        "audit",
        "x-audit",
        "ASIACHAINKEY00000002",
    ));
    w.trail
        .add(&create_key(3, "backup-svc", "AKIAATTACKERKEY00001"));
    let r = w.responder(config(&[("CONTAIN_PERSISTENCE", "contain")]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();

    assert_eq!(report.outcome, Outcome::Revoked);
    let deploy = w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .expect("deploy denied");
    assert!(
        deploy.contains(&format!("{}:x-deploy", role_id_of("deploy"))),
        "{deploy}"
    );
    let audit = w
        .member
        .role_policy("audit", policy::SESSION_POLICY_NAME)
        .expect("audit denied in the member account");
    assert!(
        audit.contains(&format!("{}:x-audit", role_id_of("audit"))),
        "{audit}"
    );
    assert_eq!(
        w.own.key_status("backup-svc", "AKIAATTACKERKEY00001"),
        Some(KeyStatus::Inactive)
    );

    let f = follow_up(&report);
    assert_eq!(f["sessions"].as_array().unwrap().len(), 2, "{f}");
    assert_eq!(f["persistence"][0]["containment"], "deactivated");
    // The keys of the sessions it assumed were read too, each in its own account.
    let keys: Vec<&str> = f["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["access_key_id"].as_str())
        .collect();
    assert!(
        keys.contains(&"ASIACHAINKEY00000001") && keys.contains(&"ASIACHAINKEY00000002"),
        "{keys:?}"
    );
    // The finding is in us-east-1: its region and the global-events region are one.
    assert!(w
        .trail
        .lookups
        .lock()
        .unwrap()
        .iter()
        .all(|(region, _)| region == "us-east-1"));
}

#[tokio::test]
async fn report_mode_lists_the_key_and_a_protected_role_is_left_to_a_person() {
    let w = world();
    w.own.add_role("break-glass-admin", "/");
    w.trail.add(&assume(
        1,
        OWN,
        "break-glass-admin",
        "x-bg",
        "ASIACHAINKEY00000003",
    ));
    w.trail
        .add(&create_key(2, "backup-svc", "AKIAATTACKERKEY00001"));
    let r = w.responder(config(&[("PROTECTED_ROLES", "break-glass*")]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();

    assert!(w
        .own
        .role_policy("break-glass-admin", policy::SESSION_POLICY_NAME)
        .is_none());
    assert!(w
        .own
        .role_policy("break-glass-admin", policy::ROLE_POLICY_NAME)
        .is_none());
    assert_eq!(
        w.own.key_status("backup-svc", "AKIAATTACKERKEY00001"),
        Some(KeyStatus::Active)
    );
    let actions = &report.incidents[0].actions;
    let manual = actions
        .iter()
        .find(|a| a.status == Status::ManualActionRequired && a.target.contains("break-glass"))
        .expect("the protected role is left to a person");
    assert!(!manual.commands.is_empty(), "{manual:?}");
    let f = follow_up(&report);
    assert_eq!(f["persistence"][0]["containment"], "listed");
    assert!(
        f["persistence"][0]["undo"][0]
            .as_str()
            .unwrap()
            .contains("update-access-key"),
        "{f}"
    );
}

#[tokio::test]
async fn an_unreachable_member_account_is_not_looked_in_and_its_session_is_manual() {
    let w = world();
    w.trail.add(&assume(
        1,
        "777788889999",
        "ops",
        "x-ops",
        "ASIACHAINKEY00000004",
    ));
    let r = w.responder(config(&[("ALLOWED_ACCOUNTS", "123456789012,444455556666")]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    let f = follow_up(&report);
    let far_key = f["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["access_key_id"] == "ASIACHAINKEY00000004")
        .expect("listed");
    assert_eq!(far_key["result"], "not_followed", "{f}");
    assert!(report.incidents[0]
        .actions
        .iter()
        .any(|a| a.status == Status::ManualActionRequired && a.target.contains("x-ops")));
}

#[tokio::test]
async fn chain_depth_zero_and_an_unavailable_history_follow_nothing_and_fail_nothing() {
    let w = world();
    w.trail.add(&assume(
        1,
        OWN,
        "deploy",
        "x-deploy",
        "ASIACHAINKEY00000001",
    ));
    let r = w.responder(config(&[("CHAIN_DEPTH", "0")]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert!(report.incidents[0].follow_up.is_none());
    assert!(w.trail.lookups.lock().unwrap().is_empty());

    *w.trail.fail.lock().unwrap() = Some(crate::error::AwsError::new(
        "LookupEvents",
        "AccessDeniedException",
        "no",
    ));
    let r = w.responder(config(&[]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    let f = follow_up(&report);
    assert_eq!(f["keys"][0]["result"], "unavailable");
    assert!(
        f["keys"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("AccessDeniedException"),
        "{f}"
    );
    assert!(w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .is_none());
}

#[tokio::test]
async fn the_next_look_is_scheduled_once_for_the_payload_and_again_finds_nothing_to_schedule() {
    let w = world();
    let mut c = config(&[(
        "FOLLOW_UP_SCHEDULER_ROLE_ARN",
        "arn:aws:iam::123456789012:role/session-revoker-FollowUpSchedulerRole",
    )]);
    c.lambda_function = Some(LambdaFunction {
        name: "session-revoker".into(),
        region: "us-east-1".into(),
    });
    let r = w.responder(c);
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    let f = follow_up(&report);
    assert_eq!(f["next_look"]["status"], "scheduled", "{f}");
    {
        let created = w.scheduler.created.lock().unwrap();
        assert_eq!(created.len(), 1);
        assert_eq!(
            created[0].target_arn,
            "arn:aws:lambda:us-east-1:123456789012:function:session-revoker"
        );
        // The same payload, marked as the scheduled look (issue 21: it follows even if the
        // finding is archived by then).
        let mut input = serde_json::from_str::<Value>(&created[0].input).unwrap();
        assert!(input
            .as_object_mut()
            .unwrap()
            .remove(crate::respond::next_look::NEXT_LOOK_KEY)
            .is_some());
        assert_eq!(input, event());
        assert_eq!(
            revoker_core::names::format_utc(created[0].at),
            f["next_look"]["at"].as_str().unwrap()
        );
    }
    // A re-delivery within the lag asks for the same instant: the same schedule, not a second.
    let again = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(follow_up(&again)["next_look"]["status"], "scheduled");
    assert_eq!(w.scheduler.created.lock().unwrap().len(), 1);

    // A dry run schedules nothing and gives the command.
    let mut dry = config(&[("DRY_RUN", "true")]);
    dry.lambda_function = r.config.lambda_function.clone();
    let w2 = world();
    let report = w2
        .responder(dry)
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let f = follow_up(&report);
    assert_eq!(f["next_look"]["status"], "not_scheduled");
    assert!(f["next_look"]["command"]
        .as_str()
        .unwrap()
        .contains("aws lambda invoke"));
    assert!(w2.scheduler.created.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_deny_is_not_followed() {
    let w = world();
    w.trail.add(&assume(
        1,
        OWN,
        "deploy",
        "x-deploy",
        "ASIACHAINKEY00000001",
    ));
    w.own.faults.fail_nth("PutRolePolicy", 1, "AccessDenied");
    let r = w.responder(config(&[]));
    let (report, fate) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert!(fate.is_err());
    assert!(report.incidents[0].follow_up.is_none());
    assert!(w.trail.lookups.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_session_in_an_account_without_a_way_in_is_not_contained_and_fails_the_invocation() {
    let w = world();
    w.trail.add(&assume(
        1,
        MEMBER,
        "audit",
        "x-audit",
        "ASIACHAINKEY00000002",
    ));
    // No MEMBER_ROLE_NAME: the member account cannot be reached at all.
    let vars: HashMap<String, String> = HashMap::from([
        ("CUTOFF_MARGIN_SECONDS".to_string(), "1".to_string()),
        ("MAX_FINDING_AGE_HOURS".to_string(), "0".to_string()),
    ]);
    let r = w.responder(Config::from_vars(&vars).unwrap());
    let (report, fate) = r
        .respond_with_fate(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let failed = report.incidents[0]
        .actions
        .iter()
        .find(|a| a.status == Status::Failed)
        .expect("the live session is reported not contained");
    assert!(
        failed.target.contains("x-audit") && failed.detail.starts_with("not contained"),
        "{failed:?}"
    );
    assert!(!failed.commands.is_empty());
    assert!(fate.is_err(), "a session left live fails the invocation");
    assert_eq!(report.outcome, Outcome::Failed);
    // The finding's own role was still denied.
    assert!(w
        .own
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_some());
}

mod truth;
