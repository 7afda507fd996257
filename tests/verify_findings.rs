//! Only genuine findings (VERIFY_FINDINGS=true), end to end through the real SDK clients: IAM,
//! STS and SNS against moto, and GuardDuty's GetFindings against a loopback stand-in for GuardDuty
//! (no emulator serves it; tests/common/guardduty_loopback.rs) that serves only the findings each
//! test registered. The SDK finds the stand-in through `AWS_ENDPOINT_URL_GUARDDUTY`, the variable a
//! deployment would use, and moto through `AWS_ENDPOINT_URL`.
//!
//! Run with `tools/with-moto.sh cargo test --test verify_findings` (or `make test`).

mod common;

use common::guardduty_loopback::GuardDutyLoopback;
use common::*;
use serde_json::{json, Value};
use session_revoker::respond::Responder;
use std::sync::OnceLock;

const DETECTOR: &str = "6ec7b0a4c1f6d12b8e3a9c1f00example";

/// The stand-in, started once per test binary, with both endpoint variables set before any SDK
/// configuration is loaded: every test calls this first, so no other thread reads the
/// environment while it is written.
fn loopback() -> &'static GuardDutyLoopback {
    static LOOPBACK: OnceLock<GuardDutyLoopback> = OnceLock::new();
    LOOPBACK.get_or_init(|| {
        let gd = GuardDutyLoopback::start();
        std::env::set_var("AWS_ENDPOINT_URL", endpoint());
        std::env::set_var("AWS_ENDPOINT_URL_GUARDDUTY", &gd.endpoint);
        gd
    })
}

/// The responder as deployed: endpoints from the environment (a code-set endpoint would win
/// over the service-specific variable), verification on.
async fn verifying_responder() -> Responder {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "emulator",
        ))
        .retry_config(session_revoker::lambda::retry_config())
        .load()
        .await;
    // CHAIN_DEPTH=0: following the attacker through CloudTrail is not what these tests are about.
    session_revoker::lambda::responder_from_sdk(
        sdk,
        config(&[("VERIFY_FINDINGS", "true"), ("CHAIN_DEPTH", "0")]),
    )
}

/// A credential finding with its ARN, as GuardDuty raised it.
fn guardduty_finding(id: &str, role: &str, role_id: &str) -> Value {
    let mut f = finding(
        id,
        role,
        &format!("{role_id}:i-0123456789abcdef0"),
        &now_rfc3339(-60),
    );
    f["arn"] = json!(format!(
        "arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{DETECTOR}/finding/{id}"
    ));
    f
}

async fn fresh() -> (
    tokio::sync::MutexGuard<'static, ()>,
    &'static GuardDutyLoopback,
) {
    let gd = loopback();
    let guard = fresh_emulator().await;
    gd.reset();
    (guard, gd)
}

#[tokio::test]
async fn a_genuine_finding_is_read_from_guardduty_and_revoked() {
    let (_emulator, gd) = fresh().await;
    let iam = Iam::new().await;
    let role_id = iam.role("web-app", "/").await;
    let f = guardduty_finding("f0genuine", "web-app", &role_id);
    gd.register(&f);

    let report = respond(&verifying_responder().await, &f).await;

    assert_eq!(report["outcome"], "revoked", "{report:#}");
    assert!(iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_some());
    let verified = actions(&report)[0]["facts"]["verified"].as_str().unwrap();
    assert!(
        verified.contains(&format!("account {ACCOUNT}, detector {DETECTOR}")),
        "{verified}"
    );
    // Exactly one GetFindings, in the finding's region, for its id, with the ARN's detector.
    let asked = gd.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].method, "POST");
    assert_eq!(asked[0].path, format!("/detector/{DETECTOR}/findings/get"));
    assert_eq!(asked[0].region.as_deref(), Some(REGION));
    assert_eq!(asked[0].finding_ids, vec!["f0genuine"]);
}

#[tokio::test]
async fn an_unknown_finding_id_is_refused_as_possibly_forged_and_nothing_is_written() {
    let (_emulator, gd) = fresh().await;
    let iam = Iam::new().await;
    let role_id = iam.role("web-app", "/").await;
    // Made up: GuardDuty (the stand-in) has no such finding.
    let forged = guardduty_finding("f0madeup", "web-app", &role_id);

    let (report, error) = respond_failing(&verifying_responder().await, &forged).await;

    assert_eq!(report["outcome"], "failed", "{report:#}");
    let a = &actions(&report)[0];
    assert_eq!(a["action"], "triage");
    assert_eq!(a["status"], "failed");
    let detail = a["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "refused: possibly forged: GuardDuty does not know finding f0madeup in {REGION}"
        )),
        "{detail}"
    );
    assert!(error.contains("possibly forged"), "{error}");
    assert_eq!(actions(&report).len(), 1, "nothing but the refusal");
    assert_eq!(gd.requests().len(), 1, "GuardDuty was asked");
    assert_eq!(iam.policy("web-app", "AWSRevokeOlderSessions").await, None);
    assert!(iam.policy_names("web-app").await.is_empty());
}

#[tokio::test]
async fn a_finding_naming_another_role_than_guardduty_s_copy_is_refused_and_that_role_untouched() {
    let (_emulator, gd) = fresh().await;
    let iam = Iam::new().await;
    let role_id = iam.role("web-app", "/").await;
    iam.role("prod-admin", "/").await;
    let genuine = guardduty_finding("f0swapped", "web-app", &role_id);
    gd.register(&genuine);
    // The attacker replays the genuine finding with the role name swapped.
    let mut forged = genuine.clone();
    forged["resource"]["accessKeyDetails"]["userName"] = json!("prod-admin");

    let (report, _) = respond_failing(&verifying_responder().await, &forged).await;

    let detail = actions(&report)[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "resource.accessKeyDetails.userName (given \"prod-admin\", GuardDuty \"web-app\")"
        ),
        "{detail}"
    );
    assert!(detail.starts_with("refused: possibly forged"), "{detail}");
    assert!(iam.policy_names("prod-admin").await.is_empty());
    assert!(iam.policy_names("web-app").await.is_empty());
}

#[tokio::test]
async fn a_manual_request_still_works_and_is_marked_manual() {
    let (_emulator, gd) = fresh().await;
    let iam = Iam::new().await;
    iam.role("web-app", "/").await;
    let manual = json!({"action": "revoke", "role": "web-app", "reason": "verify drill"});

    let report = respond(&verifying_responder().await, &manual).await;

    assert_eq!(report["outcome"], "revoked", "{report:#}");
    assert_eq!(report["incidents"][0]["source"], "manual_request");
    // Called in-process, as a direct invoke: Lambda's context names no caller.
    let by = actions(&report)[0]["facts"]["requested_by"]
        .as_str()
        .unwrap();
    assert!(by.starts_with("not given"), "{by}");
    assert!(iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_some());
    assert!(
        gd.requests().is_empty(),
        "a manual request is not looked up"
    );
}
