//! Orchestration unit tests on the in-memory account with injected failures: partial
//! failures, retries across invocations, a failure after the deny, time running out.
//! Fakes, not integration: the emulator tests and the drills cover the real APIs.

use super::*;
use crate::clock::SystemClock;
use crate::model::{KeyStatus, Outcome};
use crate::policy;
use crate::testing::{MemoryAccount, MemoryAccounts};
use serde_json::json;
use std::collections::HashMap;

const OWN: &str = "123456789012";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker";

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("SNS_TOPIC_ARN".to_string(), TOPIC.to_string()),
        ("CUTOFF_MARGIN_SECONDS".to_string(), "1".to_string()),
        // The sample events are dated 2026-11-22: not refused as replays here.
        ("MAX_FINDING_AGE_HOURS".to_string(), "0".to_string()),
        // No CloudTrail here: a look-up that cannot be read is an item left for a person
        // (partly contained); the follow-up has its own tests (follow/tests.rs).
        ("CHAIN_DEPTH".to_string(), "0".to_string()),
    ]);
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_vars(&vars).unwrap()
}

fn responder(account: &Arc<MemoryAccount>, accounts: MemoryAccounts, config: Config) -> Responder {
    Responder {
        config,
        clock: Arc::new(SystemClock),
        accounts: Arc::new(accounts),
        notifier: Some(account.clone()),
    }
}

fn own_account() -> Arc<MemoryAccount> {
    let a = MemoryAccount::new(OWN);
    a.add_role("app-deployer", "/");
    a.add_role("session-revoker", "/");
    a
}

/// The sample EventBridge event, the same file `cargo lambda invoke` sends.
fn event() -> Value {
    serde_json::from_str(include_str!("../../events/assumed-role-event.json")).unwrap()
}

fn user_event() -> Value {
    serde_json::from_str(include_str!("../../events/iam-user-key-event.json")).unwrap()
}

#[tokio::test]
async fn a_finding_is_contained_reported_and_published() {
    let a = own_account();
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    let doc = a
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .unwrap();
    assert!(policy::read_revocations(&doc).unwrap().is_exact());
    assert_eq!(a.published().len(), 1);
    assert_eq!(report.published.as_deref(), Some("message-1"));
    assert!(a
        .role_policy("session-revoker", policy::ROLE_POLICY_NAME)
        .is_none());
}

#[tokio::test]
async fn throttling_beyond_the_retries_fails_the_invocation_and_a_retry_finishes() {
    let a = own_account();
    a.faults.fail_nth("PutRolePolicy", 1, "Throttling");
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let err = r.respond(&event(), Budget::UNLIMITED).await.unwrap_err();
    assert!(err.to_string().contains("retryable"), "{err}");
    // The report still went out: the failure is visible in SNS, not only in Lambda's metrics.
    assert_eq!(a.published().len(), 1);
    assert!(a
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_none());
    // Lambda re-sends the event: the second invocation contains it.
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert!(a
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_some());
}

#[tokio::test]
async fn a_non_retryable_failure_is_not_contained_and_fails_the_invocation() {
    let a = own_account();
    a.faults.fail_always("PutRolePolicy", "AccessDenied");
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let err = r.respond(&event(), Budget::UNLIMITED).await.unwrap_err();
    assert_eq!(err.error_type(), "ActionsFailed");
    assert!(err.to_string().contains("not contained"), "{err}");
    assert_eq!(
        a.published().len(),
        1,
        "the report is published before failing"
    );
}

#[tokio::test]
async fn a_failed_publish_keeps_the_deny_already_written() {
    let a = own_account();
    a.faults.fail_always("Publish", "InternalError");
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let err = r.respond(&event(), Budget::UNLIMITED).await.unwrap_err();
    assert_eq!(err.error_type(), "ReportNotPublished");
    assert!(a
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_some());
    // The order on the critical path: read, deny, then everything else.
    let log = a.faults.log();
    let put = log.iter().position(|op| *op == "PutRolePolicy").unwrap();
    let publish = log.iter().position(|op| *op == "Publish").unwrap();
    assert!(put < publish, "{log:?}");
}

#[tokio::test]
async fn time_running_out_starts_nothing_and_fails_the_invocation() {
    let a = own_account();
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let budget = Budget {
        deadline: Some(Instant::now() + Duration::from_secs(3)),
    };
    let err = r.respond(&event(), budget).await.unwrap_err();
    assert!(err.to_string().contains("not started"), "{err}");
    assert!(a.faults.calls("PutRolePolicy") == 0);
}

#[tokio::test]
async fn a_member_account_that_cannot_be_reached_is_not_contained() {
    let a = own_account();
    let accounts = MemoryAccounts::new(&a, "session-revoker").with_unreachable("111111111111");
    let r = responder(&a, accounts, config(&[]));
    let mut e = event();
    e["detail"]["accountId"] = json!("111111111111");
    let result = r.respond(&e, Budget::UNLIMITED).await;
    let published = a.published();
    assert_eq!(published.len(), 1);
    assert!(
        result.is_err(),
        "an uncontained finding never looks like success"
    );
}

#[tokio::test]
async fn a_protected_role_needs_a_person_but_is_not_a_failure() {
    let a = own_account();
    let r = responder(
        &a,
        MemoryAccounts::new(&a, "session-revoker"),
        config(&[("PROTECTED_ROLES", "app-*")]),
    );
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::ManualActionRequired);
    let action = &report.incidents[0].actions[0];
    assert!(!action.commands.is_empty());
    assert_eq!(a.faults.calls("PutRolePolicy"), 0);
}

#[tokio::test]
async fn a_stolen_long_term_key_is_deactivated_and_its_sessions_denied() {
    let a = own_account();
    a.add_user(
        "ci-bot",
        &[
            ("AKIAQEXAMPLE7CIUSER1", KeyStatus::Active),
            ("AKIAQEXAMPLEOTHERKEY", KeyStatus::Active),
        ],
    );
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let report = r.respond(&user_event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert_eq!(
        a.key_status("ci-bot", "AKIAQEXAMPLE7CIUSER1"),
        Some(KeyStatus::Inactive)
    );
    assert_eq!(
        a.key_status("ci-bot", "AKIAQEXAMPLEOTHERKEY"),
        Some(KeyStatus::Active)
    );
    let doc = a.user_policy("ci-bot", policy::ROLE_POLICY_NAME).unwrap();
    assert!(policy::RevocationPolicy::latest_cutoff(&doc)
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_decoy_under_the_console_name_is_replaced_and_said_so() {
    let a = own_account();
    let decoy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:None","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2099-01-01T00:00:00Z"}}}]}"#;
    a.put_role_policy_now("app-deployer", policy::ROLE_POLICY_NAME, decoy);
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    let action = &report.incidents[0].actions[0];
    assert!(
        action.detail.contains("not the console's shape"),
        "{}",
        action.detail
    );
    let doc = a
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .unwrap();
    assert!(policy::read_revocations(&doc).unwrap().is_exact());
}

#[tokio::test]
async fn a_concurrent_writer_is_outlasted_by_read_back_and_rewrite() {
    let a = own_account();
    // A concurrent invocation's older write lands between our write and the read-back: the
    // first read-back sees an older document and we rewrite.
    a.put_role_policy_now("app-deployer", policy::SESSION_POLICY_NAME, "{}");
    a.faults.fail_nth("GetRolePolicy", 3, "Throttling");
    let r = responder(
        &a,
        MemoryAccounts::new(&a, "session-revoker"),
        config(&[("REVOKE_SCOPE", "session")]),
    );
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    let doc = a
        .role_policy("app-deployer", policy::SESSION_POLICY_NAME)
        .unwrap();
    let read = policy::read_revocations(&doc).unwrap();
    assert_eq!(read.statements.len(), 1);
    assert_eq!(
        read.statements[0].userid.as_deref(),
        Some("AROAQEXAMPLEDEPLOYER1:ci-pipeline-4821")
    );
}

#[tokio::test]
async fn a_full_user_policy_budget_is_named_as_the_users_2048_characters() {
    let a = own_account();
    a.add_user("ci-bot", &[("AKIAQEXAMPLE7CIUSER1", KeyStatus::Active)]);
    a.faults.fail_always("PutUserPolicy", "LimitExceeded");
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let err = r
        .respond(&user_event(), Budget::UNLIMITED)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("2048"), "{err}");
    // The key was still deactivated: a later failure never undoes what was done.
    assert_eq!(
        a.key_status("ci-bot", "AKIAQEXAMPLE7CIUSER1"),
        Some(KeyStatus::Inactive)
    );
}

const CHAT_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker-chat";

#[tokio::test]
async fn chat_gets_one_custom_notification_per_finding_after_the_report() {
    let a = own_account();
    let r = responder(
        &a,
        MemoryAccounts::new(&a, "session-revoker"),
        config(&[("CHAT_TOPIC_ARN", CHAT_TOPIC)]),
    );
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    let published = a.published();
    assert_eq!(published.len(), 2, "the report, then the chat message");
    assert_eq!(published[0].topic_arn, TOPIC);
    assert_eq!(
        report.published.as_deref(),
        Some("message-1"),
        "the report's id"
    );
    assert_eq!(published[1].topic_arn, CHAT_TOPIC);
    let outer: Value = serde_json::from_str(&published[1].message).unwrap();
    let chat: Value = serde_json::from_str(outer["default"].as_str().unwrap()).unwrap();
    assert_eq!(chat["version"], "1.0");
    assert_eq!(chat["source"], "custom");
    assert!(chat["content"]["title"]
        .as_str()
        .unwrap()
        .starts_with("REVOKED"));
}

#[tokio::test]
async fn a_failed_chat_message_loses_neither_the_report_nor_the_containment() {
    let a = own_account();
    // The report is publish call 1; the chat message is call 2.
    a.faults.fail_nth("Publish", 2, "AuthorizationError");
    let r = responder(
        &a,
        MemoryAccounts::new(&a, "session-revoker"),
        config(&[("CHAT_TOPIC_ARN", CHAT_TOPIC)]),
    );
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    assert_eq!(report.published.as_deref(), Some("message-1"));
    assert!(a
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_some());
}

#[tokio::test]
async fn a_key_deleted_before_its_deactivation_is_contained_not_failed_forever() {
    // The attacker made the key and deleted it (or a person did) between the finding and the
    // write: IAM answers NoSuchEntity. Nothing can sign with it, and a retry can never succeed.
    let a = own_account();
    a.add_user("ci-bot", &[("AKIAQEXAMPLE7CIUSER1", KeyStatus::Active)]);
    a.faults.fail_nth("UpdateAccessKey", 1, "NoSuchEntity");
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let report = r.respond(&user_event(), Budget::UNLIMITED).await.unwrap();
    let key = &report.incidents[0].actions[0];
    assert_eq!(key.action, ActionKind::DeactivateAccessKey);
    assert_eq!(key.status, Status::AlreadyCovered, "{key:?}");
    assert!(key.detail.contains("no longer exists"), "{}", key.detail);
    assert_ne!(report.outcome, Outcome::Failed);
}

#[tokio::test]
async fn a_user_that_no_longer_exists_is_contained() {
    let a = own_account();
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let report = r.respond(&user_event(), Budget::UNLIMITED).await.unwrap();
    let only = &report.incidents[0].actions;
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0].status, Status::AlreadyCovered);
    assert!(
        only[0].detail.contains("does not exist"),
        "{}",
        only[0].detail
    );
}

#[tokio::test]
async fn a_deny_the_settle_pass_had_no_time_to_read_again_is_unverified_and_retried() {
    // Enough time to write the deny (2 s + the report's reserve), not enough for the settle
    // pass (its interval, up to three passes): never silently skipped.
    let a = own_account();
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let budget = Budget {
        deadline: Some(Instant::now() + Duration::from_secs(9)),
    };
    let (report, fate) = r.respond_with_fate(&event(), budget).await.unwrap();
    assert!(
        a.role_policy("app-deployer", policy::ROLE_POLICY_NAME)
            .is_some(),
        "the deny itself is written: the path to it is unchanged"
    );
    let deny = &report.incidents[0].actions[0];
    assert_eq!(deny.status, Status::Failed, "{deny:?}");
    assert_eq!(
        deny.facts.get("unverified").map(String::as_str),
        Some("true")
    );
    assert_ne!(report.outcome, Outcome::Revoked);
    let err = fate.unwrap_err().to_string();
    assert!(err.contains("retryable"), "Lambda retries it: {err}");
    // The retry, with time: the deny is found in place and settled.
    let again = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert!(matches!(
        again.outcome,
        Outcome::AlreadyCovered | Outcome::Revoked
    ));
}

#[tokio::test]
async fn a_revocation_beside_a_pivot_into_a_protected_role_is_partly_contained() {
    // The report's headline must name what is left: never REVOKED while a session the
    // function found stays live in a protected role.
    let a = own_account();
    let r = responder(&a, MemoryAccounts::new(&a, "session-revoker"), config(&[]));
    let mut report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    let mut incident = report.incidents.remove(0);
    incident.actions.push(ActionOutcome::new(
        ActionKind::RevokeSessions,
        "OrganizationAccountAccessRole",
        Status::ManualActionRequired,
        "protected role: the session the stolen key assumed is still live",
    ));
    incident.refresh_outcome();
    assert_eq!(incident.outcome, Outcome::PartlyContained);
    let report = Report::new(
        None,
        false,
        vec![incident],
        time::OffsetDateTime::now_utc(),
        1,
    );
    assert!(
        report
            .summary
            .starts_with("PARTLY CONTAINED: role app-deployer revoked; 1 item(s) left live need a person: session(s) of role OrganizationAccountAccessRole"),
        "{}",
        report.summary
    );
    assert!(report.subject().contains("PARTLY CONTAINED"));
    assert!(
        fate::invocation_result(&report).is_ok(),
        "a person, not a retry"
    );
}
