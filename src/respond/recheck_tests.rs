//! The re-check queue's round trip on the in-memory account: the message sent after the deny,
//! the delayed look that finds the deny erased by a concurrent writer and merges it back, one
//! that still does not hold (a batch item failure), a forged message, and a failed send.

use super::*;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::model::{Outcome, Status};
use crate::policy::{self, RevocationPolicy, SessionRevocations};
use crate::recheck::{PolicyKind, SessionCutoff};
use crate::respond::Budget;
use crate::testing::{role_id_of, MemoryAccount, MemoryAccounts, MemoryQueue, OWN_SENDER};
use serde_json::{json, Value};
use std::collections::HashMap;
use time::Duration;

const OWN: &str = "123456789012";
const ROLE: &str = "app-deployer";

fn setup() -> (Arc<MemoryAccount>, Arc<MemoryQueue>, Responder) {
    setup_with(&[])
}

/// As `setup`, with more variables (`SNS_TOPIC_ARN` also makes the account the notifier).
fn setup_with(more: &[(&str, &str)]) -> (Arc<MemoryAccount>, Arc<MemoryQueue>, Responder) {
    let a = MemoryAccount::new(OWN);
    a.add_role(ROLE, "/");
    a.add_role("session-revoker", "/");
    let queue = MemoryQueue::new();
    let vars: HashMap<String, String> = [
        ("CUTOFF_MARGIN_SECONDS", "1"),
        ("MAX_FINDING_AGE_HOURS", "0"),
        ("CHAIN_DEPTH", "0"),
        (
            "RECHECK_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/recheck",
        ),
    ]
    .iter()
    .chain(more)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let notifier: Option<Arc<dyn crate::aws::Notifier>> = vars
        .contains_key("SNS_TOPIC_ARN")
        .then(|| a.clone() as Arc<dyn crate::aws::Notifier>);
    let r = Responder {
        config: Config::from_vars(&vars).unwrap(),
        clock: Arc::new(SystemClock),
        accounts: Arc::new(MemoryAccounts::new(&a, "session-revoker").with_recheck_queue(&queue)),
        notifier,
    };
    (a, queue, r)
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../events/assumed-role-event.json")).unwrap()
}

/// The queue's delivery of `bodies` as Lambda hands it over, sent by `sender` now.
fn delivery(bodies: &[String], sender: &str) -> SqsEvent {
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).to_string();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("m-{i}"),
                "body": body,
                "attributes": {"SenderId": sender, "SentTimestamp": now_ms},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:recheck",
            })
        })
        .collect();
    let payload = json!({ "Records": records });
    assert!(is_sqs_event(&payload));
    serde_json::from_value(payload).unwrap()
}

fn failures(r: &SqsBatchResponse) -> Vec<&str> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

fn cutoff_in_place(a: &MemoryAccount) -> Option<OffsetDateTime> {
    let doc = a.role_policy(ROLE, policy::ROLE_POLICY_NAME)?;
    RevocationPolicy::latest_cutoff(&doc).unwrap()
}

#[tokio::test]
async fn the_deny_is_queued_for_a_later_look_that_restores_it_after_a_concurrent_writer() {
    let (a, queue, r) = setup();
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    assert_eq!(report.outcome, Outcome::Revoked);
    let deny = &report.incidents[0].actions[0];
    assert_eq!(
        deny.facts.get("recheck").map(String::as_str),
        Some("queued")
    );
    let written = cutoff_in_place(&a).expect("the deny is written before the invocation ends");
    let sent = queue.take();
    assert_eq!(
        sent.len(),
        2,
        "a quick and a final look per role policy written"
    );
    let mut delays = queue.delays();
    delays.sort();
    assert_eq!(
        delays.last().copied().flatten(),
        Some(super::RECHECK_DELAY_SECONDS),
        "the final look outlasts any writer's gap: {delays:?}"
    );
    assert!(
        delays[0].is_some_and(|d| d < super::RECHECK_DELAY_SECONDS),
        "the quick look comes sooner: {delays:?}"
    );

    // A concurrent responder that read the policy before our write writes an older cutoff.
    let older = RevocationPolicy {
        cutoff: written - Duration::hours(1),
    };
    a.put_role_policy_now(ROLE, policy::ROLE_POLICY_NAME, &older.to_json());
    let response = r.recheck_batch(delivery(&sent, OWN_SENDER)).await;
    assert!(failures(&response).is_empty(), "{response:?}");
    assert_eq!(
        cutoff_in_place(&a),
        Some(written),
        "merged back, never earlier"
    );
    // It had to rewrite: writers may still be racing, so another look follows.
    let next: Vec<RecheckMessage> = queue
        .take()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].look, 1);

    // That look finds the deny in place: nothing written, nothing more queued.
    let puts = a.faults.calls("PutRolePolicy");
    let bodies = vec![next[0].to_json()];
    let response = r.recheck_batch(delivery(&bodies, OWN_SENDER)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(a.faults.calls("PutRolePolicy"), puts);
    assert!(queue.is_empty());
}

#[tokio::test]
async fn a_deny_a_writer_keeps_erasing_fails_its_batch_item_for_the_dead_letter_queue() {
    let (a, queue, r) = setup();
    r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    let sent = queue.take();
    let older = RevocationPolicy {
        cutoff: OffsetDateTime::now_utc() - Duration::hours(1),
    }
    .to_json();
    // A writer that keeps putting the older cutoff back while the look runs (it has already
    // once when the look starts).
    a.put_role_policy_now(ROLE, policy::ROLE_POLICY_NAME, &older);
    let eraser = {
        let a = a.clone();
        tokio::spawn(async move {
            loop {
                a.put_role_policy_now(ROLE, policy::ROLE_POLICY_NAME, &older);
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        })
    };
    let response = r.recheck_batch(delivery(&sent, OWN_SENDER)).await;
    // Still erased after the look's rewrites (ConcurrentModification, transient): the look
    // comes back by a message of its own in 2 s, the two looks of the write merged into one.
    assert!(failures(&response).is_empty());
    let again = queue.take();
    assert_eq!(again.len(), 1);
    assert_eq!(queue.delays().last(), Some(&Some(2)));
    // Its last retry still erased: both batch items fail, SQS delivers them again after the
    // visibility timeout, then the dead-letter queue.
    let mut last: RecheckMessage = serde_json::from_str(&again[0]).unwrap();
    last.retry = crate::recheck::MAX_RETRIES;
    let response = r
        .recheck_batch(delivery(&[last.to_json(), last.to_json()], OWN_SENDER))
        .await;
    eraser.abort();
    assert_eq!(
        failures(&response),
        vec!["m-0", "m-1"],
        "SQS delivers both looks again, then the DLQ"
    );
    assert!(queue.take().is_empty());
}

#[tokio::test]
async fn a_forged_message_writes_nothing_and_fails_to_the_dead_letter_queue() {
    let (a, queue, r) = setup();
    let cutoff = OffsetDateTime::now_utc();
    let genuine = RecheckMessage {
        version: crate::recheck::VERSION,
        account: OWN.into(),
        role: ROLE.into(),
        policy: PolicyKind::RoleWide,
        cutoff,
        sessions: Vec::new(),
        look: 0,
        finding_id: None,
        merge: false,
        retry: 0,
        findings: Vec::new(),
    };
    // Sent by someone else: refused whatever it says.
    let response = r
        .recheck_batch(delivery(&[genuine.to_json()], "AIDAATTACKEREXAMPLE1"))
        .await;
    assert_eq!(failures(&response), vec!["m-0"]);
    // Sent as the function, but asking for a cutoff in the future (every fresh session of the
    // role refused for a day), or for a policy of another shape: refused.
    let future = RecheckMessage {
        cutoff: cutoff + Duration::days(1),
        ..genuine.clone()
    };
    let mut other_shape = serde_json::to_value(&genuine).unwrap();
    other_shape["policy"] = "AdministratorAccess".into();
    let response = r
        .recheck_batch(delivery(
            &[future.to_json(), other_shape.to_string()],
            OWN_SENDER,
        ))
        .await;
    assert_eq!(failures(&response), vec!["m-0", "m-1"]);
    assert_eq!(a.faults.calls("PutRolePolicy"), 0);
    assert!(a.role_policy(ROLE, policy::ROLE_POLICY_NAME).is_none());
    assert!(queue.is_empty());
}

#[tokio::test]
async fn the_looks_of_one_batch_at_the_same_role_are_one_write() {
    let (a, _queue, r) = setup();
    let now = OffsetDateTime::now_utc();
    let session = |s: &str| SessionCutoff {
        userid: format!("{}:{s}", role_id_of(ROLE)),
        cutoff: now,
    };
    let bodies: Vec<String> = ["etl-01", "etl-02", "etl-03"]
        .iter()
        .map(|s| {
            RecheckMessage {
                version: crate::recheck::VERSION,
                account: OWN.into(),
                role: ROLE.into(),
                policy: PolicyKind::Sessions,
                cutoff: now,
                sessions: vec![session(s)],
                look: 0,
                finding_id: None,
                merge: false,
                retry: 0,
                findings: Vec::new(),
            }
            .to_json()
        })
        .collect();
    // Each invocation wrote one session and a concurrent one erased the others: none in place.
    let response = r.recheck_batch(delivery(&bodies, OWN_SENDER)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(a.faults.calls("PutRolePolicy"), 1, "one merged write");
    let doc = a.role_policy(ROLE, policy::SESSION_POLICY_NAME).unwrap();
    assert_eq!(
        SessionRevocations::from_document(&doc)
            .unwrap()
            .sessions
            .len(),
        3
    );
}

#[tokio::test]
async fn a_message_that_cannot_be_sent_is_settled_in_the_invocation_never_silently() {
    let (a, queue, r) = setup();
    queue.faults.fail_always("SendMessage", "AccessDenied");
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    let deny = &report.incidents[0].actions[0];
    assert_eq!(deny.status, Status::Done);
    assert_eq!(
        deny.facts.get("recheck").map(String::as_str),
        Some("in the invocation (SendMessage failed: AccessDenied)")
    );
    assert!(queue.is_empty());
    // The settle pass read it again (GetRolePolicy after the write's own read-back).
    // The settle pass read it again: the plan's read, the write's read-back, and its own.
    assert!(a.faults.calls("GetRolePolicy") >= 3);
}

#[tokio::test]
async fn findings_of_one_payload_at_the_same_role_make_one_write_and_one_look() {
    let (a, queue, r) = setup();
    // IAM's latency: without taking turns, the second finding reads the role before the first one's write lands.
    a.faults
        .delay("PutRolePolicy", std::time::Duration::from_millis(20));
    let detail = event()["detail"].clone();
    let mut second = detail.clone();
    second["id"] = "a-second-finding-of-the-same-role".into();
    second["resource"]["accessKeyDetails"]["principalId"] =
        format!("{}:another-session", role_id_of(ROLE)).into();
    let report = r
        .respond(&json!([detail, second]), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.incidents.len(), 2);
    assert_eq!(a.faults.calls("PutRolePolicy"), 1, "{report:#?}");
    assert_eq!(
        queue.len(),
        2,
        "one quick and one final look for the one write"
    );
}

/// Merged writes (a burst at one role) and what the queue does with them.
#[path = "merge_tests.rs"]
mod merge;
