//! A revocation and its restore on the in-memory account (a fake for orchestration and failure
//! paths; the fakecloud drill in tests/drills/restore.rs checks that IAM lets the session in again).

use super::*;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::model::KeyStatus;
use crate::policy::{self, ROLE_POLICY_NAME, SESSION_POLICY_NAME};
use crate::respond::Budget;
use crate::testing::{MemoryAccount, MemoryAccounts};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use time::macros::datetime;

const OWN: &str = "123456789012";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker";
/// Just after the sample finding's last activity.
const T0: time::OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);
const FINDING: &str = "c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10";

fn setup(scope: &str) -> (Arc<MemoryAccount>, Arc<ManualClock>, Responder) {
    let a = MemoryAccount::new(OWN);
    a.add_role("app-deployer", "/");
    a.add_role("session-revoker", "/");
    a.add_user("ci-bot", &[("AKIAQEXAMPLE7CIUSER1", KeyStatus::Active)]);
    let clock = Arc::new(ManualClock::new(T0));
    let config = Config::from_vars(&HashMap::from([
        ("SNS_TOPIC_ARN".to_string(), TOPIC.to_string()),
        ("REVOKE_SCOPE".to_string(), scope.to_string()),
    ]))
    .unwrap();
    let r = Responder {
        config,
        clock: clock.clone(),
        accounts: Arc::new(MemoryAccounts::new(&a, "session-revoker")),
        notifier: Some(a.clone()),
    };
    (a, clock, r)
}

fn event(finding_id: &str, session: &str) -> Value {
    let mut e: Value =
        serde_json::from_str(include_str!("../../events/assumed-role-event.json")).unwrap();
    e["detail"]["id"] = json!(finding_id);
    e["detail"]["resource"]["accessKeyDetails"]["principalId"] =
        json!(format!("AROAQEXAMPLEDEPLOYER1:{session}"));
    e
}

fn restore_request(finding_id: &str, extra: Value) -> Value {
    let mut r = json!({"action": "restore", "role": "app-deployer", "finding_id": finding_id});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

#[tokio::test]
async fn a_restore_is_a_dry_run_then_waits_for_the_safe_time_then_runs_once() {
    let (a, clock, r) = setup("role");
    r.respond(&event(FINDING, "ci-pipeline-4821"), Budget::UNLIMITED)
        .await
        .unwrap();
    let written = a.role_policy("app-deployer", ROLE_POLICY_NAME).unwrap();
    // Dry run by default: before the safe time it says it would refuse, and what it would do.
    let (report, fate) = r
        .restore(&restore_request(FINDING, json!({})))
        .await
        .unwrap();
    assert!(fate.is_ok());
    assert_eq!(report.status, RestoreStatus::TooEarly, "{report:?}");
    assert_eq!(report.changes[0].change, "delete");
    assert!(!report.changes[0].done);
    // Asked for, but before the safe time: refused, nothing written.
    let go = json!({"dry_run": false});
    let (report, _) = r
        .restore(&restore_request(FINDING, go.clone()))
        .await
        .unwrap();
    assert_eq!(report.status, RestoreStatus::TooEarly, "{report:?}");
    assert_eq!(report.safe_at.as_deref(), Some("2026-11-22T15:00:30Z"));
    assert_eq!(
        a.role_policy("app-deployer", ROLE_POLICY_NAME),
        Some(written)
    );
    // After it: a dry run writes nothing; then restored, and published.
    clock.advance(13 * HOUR);
    let (report, _) = r
        .restore(&restore_request(FINDING, json!({})))
        .await
        .unwrap();
    assert_eq!(report.status, RestoreStatus::WouldRestore, "{report:?}");
    assert!(a.role_policy("app-deployer", ROLE_POLICY_NAME).is_some());
    let published = a.published().len();
    let (report, fate) = r
        .restore(&restore_request(FINDING, go.clone()))
        .await
        .unwrap();
    assert!(fate.is_ok());
    assert_eq!(report.status, RestoreStatus::Restored, "{report:?}");
    assert!(report.changes[0].done);
    assert_eq!(a.role_policy("app-deployer", ROLE_POLICY_NAME), None);
    assert_eq!(a.published().len(), published + 1);
    assert!(a.published().last().unwrap().subject.contains("restored"));
    assert_eq!(report.outcome, RestoreStatus::Restored);
    assert!(
        report
            .summary
            .starts_with("restore restored: role app-deployer"),
        "{}",
        report.summary
    );
    // Once: the second finds nothing and writes nothing.
    let (report, _) = r.restore(&restore_request(FINDING, go)).await.unwrap();
    assert_eq!(report.status, RestoreStatus::NothingFound, "{report:?}");
}

#[tokio::test]
async fn a_forced_restore_keeps_another_incidents_deny_on_the_same_role() {
    let (a, _clock, r) = setup("session");
    r.respond(&event(FINDING, "stolen-one"), Budget::UNLIMITED)
        .await
        .unwrap();
    r.respond(
        &event("d00000000000000000000000000000ff", "stolen-two"),
        Budget::UNLIMITED,
    )
    .await
    .unwrap();
    let before =
        policy::read_revocations(&a.role_policy("app-deployer", SESSION_POLICY_NAME).unwrap())
            .unwrap();
    assert_eq!(before.statements.len(), 2);
    // Force without a reason is refused as a bad request.
    let err = r
        .restore(&restore_request(
            FINDING,
            json!({"dry_run": false, "force": true}),
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reason"), "{err}");
    let (report, _) = r
        .restore(&restore_request(
            FINDING,
            json!({"dry_run": false, "force": true, "reason": "our own pipeline, not an attacker"}),
        ))
        .await
        .unwrap();
    assert_eq!(report.status, RestoreStatus::Restored, "{report:?}");
    assert!(report.warnings[0].contains("work again"), "{report:?}");
    let after =
        policy::read_revocations(&a.role_policy("app-deployer", SESSION_POLICY_NAME).unwrap())
            .unwrap();
    assert!(after.is_exact());
    assert_eq!(after.statements.len(), 1);
    assert_eq!(
        after.statements[0].userid.as_deref(),
        Some("AROAQEXAMPLEDEPLOYER1:stolen-two")
    );
    assert_eq!(
        after.statements[0], before.statements[1],
        "the other incident's statement is kept as written"
    );
}

#[tokio::test]
async fn drift_and_failures_write_nothing_more_and_say_so() {
    let (a, clock, r) = setup("role");
    r.respond(&event(FINDING, "ci-pipeline-4821"), Budget::UNLIMITED)
        .await
        .unwrap();
    clock.advance(13 * HOUR);
    // IAM refuses the delete: failed, the invocation fails, the deny is still there.
    a.faults.fail_nth("DeleteRolePolicy", 1, "AccessDenied");
    let go = json!({"dry_run": false});
    let (report, fate) = r
        .restore(&restore_request(FINDING, go.clone()))
        .await
        .unwrap();
    assert_eq!(report.status, RestoreStatus::Failed, "{report:?}");
    assert!(report.error.as_deref().unwrap().contains("AccessDenied"));
    assert!(fate.is_err());
    let written = a.role_policy("app-deployer", ROLE_POLICY_NAME).unwrap();
    // A person moved the cutoff: drift, nothing written.
    let moved = written.replace("2026-11-22T03:00:30Z", "2026-11-22T09:00:00Z");
    assert_ne!(moved, written);
    a.put_role_policy_now("app-deployer", ROLE_POLICY_NAME, &moved);
    let (report, _) = r.restore(&restore_request(FINDING, go)).await.unwrap();
    assert_eq!(report.status, RestoreStatus::Drift, "{report:?}");
    assert!(
        report.drift[0].contains("2026-11-22T09:00:00Z"),
        "{report:?}"
    );
    assert_eq!(a.role_policy("app-deployer", ROLE_POLICY_NAME), Some(moved));
}

#[tokio::test]
async fn a_users_keys_stay_inactive_and_the_report_says_how_to_rotate() {
    let (a, _clock, r) = setup("role");
    let user_event: Value =
        serde_json::from_str(include_str!("../../events/iam-user-key-event.json")).unwrap();
    r.respond(&user_event, Budget::UNLIMITED).await.unwrap();
    assert_eq!(
        a.key_status("ci-bot", "AKIAQEXAMPLE7CIUSER1"),
        Some(KeyStatus::Inactive)
    );
    assert!(a.user_policy("ci-bot", ROLE_POLICY_NAME).is_some());
    let (report, _) = r
        .restore(&json!({"action": "restore", "user": "ci-bot", "finding_id": "b3a2c1d0e9f84a7b6c5d4e3f2a1b0c9d",
            "dry_run": false, "force": true, "reason": "drill", "reactivate_keys": true}))
        .await
        .unwrap();
    assert_eq!(report.status, RestoreStatus::Restored, "{report:?}");
    assert_eq!(a.user_policy("ci-bot", ROLE_POLICY_NAME), None);
    assert_eq!(
        a.key_status("ci-bot", "AKIAQEXAMPLE7CIUSER1"),
        Some(KeyStatus::Inactive)
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("rotated")),
        "{report:?}"
    );
    assert!(report
        .commands
        .iter()
        .any(|c| c.contains("update-access-key")));
}
