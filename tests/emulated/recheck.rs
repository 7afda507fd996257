//! The re-check queue against moto's SQS, through the real SDK clients: the message the
//! function sends after a deny, as SQS delivers it (body and the attributes the function reads:
//! `SenderId`, `SentTimestamp`), read back by the function as Lambda would hand it over, and
//! merged back after a concurrent writer erased the deny. moto records a fixed placeholder as
//! every message's `SenderId`: the delivery below puts the function's own identity there, as
//! SQS does (the check itself has its unit tests in src/respond/recheck_tests.rs).

use crate::common::*;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::json;
use session_revoker::recheck::{PolicyKind, RecheckMessage};

#[tokio::test]
async fn the_deny_sends_a_delayed_look_that_sqs_delivers_and_the_function_reads() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = iam.role("web-app", "/").await;
    let sqs = aws_sdk_sqs::Client::new(&sdk().await);
    let url = sqs
        .create_queue()
        .queue_name("session-revoker-recheck")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let r = responder(&[("RECHECK_QUEUE_URL", url.as_str())]).await;
    let report = respond(
        &r,
        &finding(
            "recheck-1",
            "web-app",
            &format!("{role_id}:i-0abc123"),
            &now_rfc3339(-60),
        ),
    )
    .await;
    assert_eq!(
        actions(&report)[0]["facts"]["recheck"],
        "queued",
        "{report:#}"
    );
    let written = cutoff_of(
        &iam.policy("web-app", "AWSRevokeOlderSessions")
            .await
            .unwrap(),
    );

    // The quick look comes after a few seconds, the final one after RECHECK_DELAY_SECONDS (30 s):
    // long polls for up to twice that.
    let mut received = Vec::new();
    for _ in 0..12 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(5)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        received.extend(out.messages().iter().cloned());
        if received.len() >= 2 {
            break;
        }
    }
    let messages = &received;
    assert_eq!(
        messages.len(),
        2,
        "a quick and a final look per role policy written"
    );
    assert_eq!(
        messages[0].body(),
        messages[1].body(),
        "the same look, twice"
    );
    let m = &messages[0];
    let body: RecheckMessage = serde_json::from_str(m.body().unwrap()).unwrap();
    assert_eq!(body.role, "web-app");
    assert_eq!(body.account, ACCOUNT);
    assert_eq!(body.policy, PolicyKind::RoleWide);
    let utc = session_revoker::names::format_utc;
    assert_eq!(utc(body.cutoff), utc(written));
    let attributes = m.attributes().unwrap();
    let sent = &attributes[&MessageSystemAttributeName::SentTimestamp];
    assert!(
        sent.parse::<i64>().is_ok(),
        "SentTimestamp in epoch ms: {sent}"
    );
    assert!(attributes.contains_key(&MessageSystemAttributeName::SenderId));

    // A concurrent writer puts an older cutoff back; the delayed look merges ours back.
    iam.put_policy(
        "web-app",
        "AWSRevokeOlderSessions",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-01T00:00:00Z"}}}]}"#,
    )
    .await;
    let own = aws_sdk_sts::Client::new(&sdk().await)
        .get_caller_identity()
        .send()
        .await
        .unwrap()
        .user_id()
        .unwrap()
        .to_string();
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": m.message_id(),
        "receiptHandle": m.receipt_handle(),
        "body": m.body(),
        "attributes": {"SenderId": own, "SentTimestamp": sent, "ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:session-revoker-recheck"),
        "awsRegion": REGION,
    }]}))
    .unwrap();
    let response = r.recheck_batch(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let restored = cutoff_of(
        &iam.policy("web-app", "AWSRevokeOlderSessions")
            .await
            .unwrap(),
    );
    assert_eq!(utc(restored), utc(written));
}
