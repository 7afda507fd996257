//! The fire drill (issue 23) when the deny does not take, against fakecloud (`--iam strict
//! --verify-sigv4`): the failure chosen is one fakecloud really shows. The function's clock is
//! behind IAM's, so the cutoff it writes is older than the canary session's token; the deny is
//! written and read back, and fakecloud, evaluating `aws:TokenIssueTime` as IAM does, keeps
//! serving the session. The drill must fail at the polling step, naming why, within
//! `DRILL_MAX_WAIT_SECONDS`.
//!
//! ```text
//! tools/with-fakecloud.sh cargo test --test fire_drill deny_not_taken
//! ```
//!
//! The responder runs in this process (the built binary has no way to move its clock), built
//! as `main` builds it (`lambda::responder_from_sdk`) against fakecloud, with its clock set
//! back.

use crate::drills::fakecloud::{nonce, Cloud, Creds, ACCOUNT};
use serde_json::json;

/// The function's clock, behind the emulator's (which reads this machine's clock) by `.0`.
struct Behind(time::Duration);

impl session_revoker::clock::Clock for Behind {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() - self.0
    }
    fn sleep(&self, d: std::time::Duration) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// The function's clock ten minutes behind IAM's: the drill fails at `session_refused` after
/// `DRILL_MAX_WAIT_SECONDS` (2 here), naming the token newer than the cutoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_fails_at_the_refusal_when_the_deny_does_not_cover_the_session() {
    let cloud = Cloud::connect().await;
    let name = format!("fd7-{}-canary", nonce());
    let arn = crate::drills::members::canary(&cloud.iam, ACCOUNT, &name).await;
    let responder_arn = format!("arn:aws:iam::{ACCOUNT}:role/session-revoker");
    let vars: std::collections::HashMap<String, String> = [
        ("DRILL_ROLE_ARN", arn.as_str()),
        ("DRILL_MAX_WAIT_SECONDS", "2"),
        ("CUTOFF_MARGIN_SECONDS", "2"),
        ("RESPONDER_ROLE_ARN", responder_arn.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = session_revoker::config::Config::from_vars(&vars).expect("config");
    let admin = Creds {
        key: "test".into(),
        secret: "test".into(),
        token: None,
        minted_by: None,
    };
    let mut responder = session_revoker::lambda::responder_from_sdk(cloud.as_(&admin), config);
    responder.clock = std::sync::Arc::new(Behind(time::Duration::minutes(10)));
    let (report, fate) = responder
        .respond_with_fate(
            &json!({"action": "drill"}),
            session_revoker::act::Budget::UNLIMITED,
        )
        .await
        .expect("a drill request");
    assert!(
        fate.is_err(),
        "a drill whose deny did not take fails the invocation"
    );
    let report = serde_json::to_value(&report).unwrap();
    assert_eq!(report["outcome"], "drill_failed");
    let account = &report["drill"]["accounts"][0];
    let steps: Vec<(&str, &str)> = account["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("check_canary", "passed"),
            ("sessions_work", "passed"),
            ("contain_session", "passed"),
            ("session_refused", "failed"),
        ],
        "{account}"
    );
    let failed = &account["steps"][3];
    let detail = failed["detail"].as_str().unwrap();
    assert!(detail.contains("the deny did not take"), "{detail}");
    assert!(detail.contains("clock is behind IAM's"), "{detail}");
    assert!(failed["command"]
        .as_str()
        .unwrap()
        .contains("--policy-name SessionRevokerDenyStolenSessions"));
    // Written, and still the session works: fakecloud's verdict on every poll.
    assert!(cloud
        .role_policy(&name, "SessionRevokerDenyStolenSessions")
        .await
        .is_some());
    let polls = account["calls"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(polls["result"], "works", "{polls}");
    assert!(polls["attempts"].as_u64().unwrap() >= 2, "{polls}");
}
