//! Merged writes on the in-memory account: a burst at one role joins one write, a throttled
//! write is handed over, a throttled merged write comes back in seconds, a forged merge
//! message is refused.

use super::*;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker";

/// The instance credential exfiltration sample at `ROLE`, naming the stolen session of
/// instance `instance` (a session-scoped deny).
fn instance_event(instance: &str) -> Value {
    let mut e: Value = serde_json::from_str(include_str!(
        "../../events/instance-exfiltration-event.json"
    ))
    .unwrap();
    let d = &mut e["detail"];
    d["id"] = json!(format!("finding{}", instance.replace('-', "")));
    d["resource"]["accessKeyDetails"]["principalId"] =
        json!(format!("{}:{instance}", role_id_of(ROLE)));
    d["resource"]["accessKeyDetails"]["userName"] = json!(ROLE);
    d["resource"]["instanceDetails"]["instanceId"] = json!(instance);
    d["resource"]["instanceDetails"]["iamInstanceProfile"]["arn"] =
        json!(format!("arn:aws:iam::{OWN}:instance-profile/{ROLE}"));
    e
}

fn sessions_in_place(a: &MemoryAccount) -> Vec<String> {
    a.role_policy(ROLE, policy::SESSION_POLICY_NAME)
        .map(|d| {
            SessionRevocations::from_document(&d)
                .unwrap()
                .sessions
                .into_keys()
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn in_a_burst_session_denies_join_the_roles_merged_write_which_writes_once_and_reports() {
    let (a, queue, r) = setup_with(&[("SNS_TOPIC_ARN", TOPIC)]);
    let userid = |i: &str| format!("{}:{i}", role_id_of(ROLE));
    // The first finding at the role is written here, as without a burst.
    let first = r
        .respond(&instance_event("i-00000000000000001"), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Revoked, "{}", first.to_text());
    assert_eq!(a.faults.calls("PutRolePolicy"), 1);
    assert_eq!(queue.take().len(), 2, "its quick and final looks");
    // Two more moments later: a burst at the role. Each joins the merged write, writes
    // nothing, and says so: QUEUED, never revoked.
    for instance in ["i-00000000000000002", "i-00000000000000003"] {
        let report = r
            .respond(&instance_event(instance), Budget::UNLIMITED)
            .await
            .unwrap();
        assert_eq!(report.outcome, Outcome::Queued, "{}", report.to_text());
        assert!(report.summary.starts_with("QUEUED"), "{}", report.summary);
        let action = &report.incidents[0].actions[0];
        assert_eq!(action.status, Status::Queued);
        assert_eq!(action.facts["merged_write"], "queued");
        assert!(
            action.detail.contains(&userid(instance)),
            "{}",
            action.detail
        );
    }
    assert_eq!(
        a.faults.calls("PutRolePolicy"),
        1,
        "the findings that joined wrote nothing"
    );
    assert!(!sessions_in_place(&a).contains(&userid("i-00000000000000002")));
    let delays = queue.delays();
    assert_eq!(
        delays[delays.len() - 2..],
        [Some(0), Some(0)],
        "no delay to join"
    );
    let joined = queue.take();
    // The queue's next batch: both sessions in one write, beside the first.
    let response = r.recheck_batch(delivery(&joined, OWN_SENDER)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(
        a.faults.calls("PutRolePolicy"),
        2,
        "one merged write for both"
    );
    let in_place = sessions_in_place(&a);
    for instance in [
        "i-00000000000000001",
        "i-00000000000000002",
        "i-00000000000000003",
    ] {
        assert!(
            in_place.contains(&userid(instance)),
            "{instance}: {in_place:?}"
        );
    }
    // Its own report, naming the findings that were reported queued.
    let notice = a.published().pop().expect("the merged write's report");
    assert!(notice.subject.contains("REVOKED"), "{}", notice.subject);
    assert!(
        notice.subject.contains("2 session(s)"),
        "{}",
        notice.subject
    );
    assert!(notice.message.contains("findingi00000000000000002"));
    assert!(notice
        .attributes
        .contains(&("outcome".to_string(), "revoked".to_string())));
    // And its quick and final looks, as after any first write.
    let next = queue.take();
    assert_eq!(next.len(), 2);
    let delays = queue.delays();
    assert_eq!(
        delays[delays.len() - 2..],
        [Some(3), Some(RECHECK_DELAY_SECONDS)]
    );
    assert!(
        !next[0].contains("\"merge\""),
        "a later look writes nothing new: {}",
        next[0]
    );
}

#[tokio::test]
async fn a_merged_write_that_cannot_be_joined_is_written_in_the_invocation() {
    let (a, queue, r) = setup();
    r.respond(&instance_event("i-00000000000000001"), Budget::UNLIMITED)
        .await
        .unwrap();
    queue.take();
    queue.faults.fail_always("SendMessage", "AccessDenied");
    let report = r
        .respond(&instance_event("i-00000000000000002"), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Revoked, "{}", report.to_text());
    assert_eq!(a.faults.calls("PutRolePolicy"), 2);
    assert!(sessions_in_place(&a).contains(&format!("{}:i-00000000000000002", role_id_of(ROLE))));
}

/// A merged write's message for the session of `instance` at `ROLE`, joined by `finding`.
fn merge_message(instance: &str, finding: &str) -> RecheckMessage {
    let now = OffsetDateTime::now_utc();
    RecheckMessage {
        version: crate::recheck::VERSION,
        account: OWN.into(),
        role: ROLE.into(),
        policy: PolicyKind::Sessions,
        cutoff: now,
        sessions: vec![SessionCutoff {
            userid: format!("{}:{instance}", role_id_of(ROLE)),
            cutoff: now,
        }],
        look: 0,
        finding_id: Some(finding.into()),
        merge: true,
        retry: 0,
        findings: Vec::new(),
    }
}

#[tokio::test]
async fn a_forged_merge_message_is_held_to_every_check_of_a_look() {
    let (a, _queue, r) = setup_with(&[("PROTECTED_ROLES", "break-glass")]);
    let forged = merge_message("i-00000000000000009", "f1");
    // Not sent by the function: refused, nothing written.
    let response = r
        .recheck_batch(delivery(&[forged.to_json()], "AIDAATTACKEREXAMPLE1"))
        .await;
    assert_eq!(failures(&response), vec!["m-0"]);
    // A protected role, even from the function's own sender: refused.
    a.add_role("break-glass", "/");
    let protected = RecheckMessage {
        role: "break-glass".into(),
        ..forged
    };
    let response = r
        .recheck_batch(delivery(&[protected.to_json()], OWN_SENDER))
        .await;
    assert_eq!(failures(&response), vec!["m-0"]);
    assert_eq!(a.faults.calls("PutRolePolicy"), 0);
}

#[tokio::test]
async fn a_throttled_merged_write_comes_back_in_seconds_not_after_the_visibility_timeout() {
    let (a, queue, r) = setup();
    let merge = merge_message("i-00000000000000004", "f4");
    // The first two writes are throttled (past the SDK's own retries).
    a.faults.fail_calls("PutRolePolicy", 1, 2, "Throttling");
    // Throttled: the batch item succeeds, the same merged write is queued again in 2 s,
    // still naming its finding.
    let response = r
        .recheck_batch(delivery(&[merge.to_json()], OWN_SENDER))
        .await;
    assert!(failures(&response).is_empty());
    let again = queue.take();
    assert_eq!(again.len(), 1);
    assert_eq!(queue.delays().last(), Some(&Some(2)));
    let resent: RecheckMessage = serde_json::from_str(&again[0]).unwrap();
    assert!(resent.merge);
    assert_eq!((resent.retry, resent.look), (1, 0));
    assert_eq!(resent.findings, ["f4"]);
    // After the last retry the batch item fails: SQS's redelivery and the dead-letter queue.
    let last = RecheckMessage {
        retry: crate::recheck::MAX_RETRIES,
        ..resent
    };
    let response = r
        .recheck_batch(delivery(&[last.to_json()], OWN_SENDER))
        .await;
    assert_eq!(failures(&response), vec!["m-0"]);
    assert!(queue.take().is_empty());
    // A message claiming more retries than that is refused outright.
    let forged = RecheckMessage {
        retry: crate::recheck::MAX_RETRIES + 1,
        ..last
    };
    let response = r
        .recheck_batch(delivery(&[forged.to_json()], OWN_SENDER))
        .await;
    assert_eq!(failures(&response), vec!["m-0"]);
    // Once IAM answers, the retry writes it.
    let response = r.recheck_batch(delivery(&again, OWN_SENDER)).await;
    assert!(failures(&response).is_empty());
    assert!(sessions_in_place(&a).contains(&format!("{}:i-00000000000000004", role_id_of(ROLE))));
}

#[tokio::test]
async fn a_write_iam_throttles_past_the_retries_is_handed_to_the_merged_write_not_failed() {
    let (a, queue, r) = setup_with(&[("SNS_TOPIC_ARN", TOPIC)]);
    a.faults.fail_nth("PutRolePolicy", 1, "Throttling");
    let report = r.respond(&event(), Budget::UNLIMITED).await.unwrap();
    // Not written, not failed (no Lambda retry a minute later): queued, and says why.
    assert_eq!(report.outcome, Outcome::Queued, "{}", report.to_text());
    let action = &report.incidents[0].actions[0];
    assert_eq!(action.status, Status::Queued);
    assert!(
        action.detail.starts_with("IAM throttled the write"),
        "{}",
        action.detail
    );
    assert!(cutoff_in_place(&a).is_none());
    let handed = queue.take();
    assert_eq!(handed.len(), 1);
    assert_eq!(queue.delays(), [Some(0)]);
    // The next batch writes the role-wide deny and reports it.
    let response = r.recheck_batch(delivery(&handed, OWN_SENDER)).await;
    assert!(failures(&response).is_empty());
    assert!(cutoff_in_place(&a).is_some());
    let notice = a.published().pop().expect("the merged write's report");
    assert!(
        notice.subject.contains("every session of role"),
        "{}",
        notice.subject
    );
}
