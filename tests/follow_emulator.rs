//! Following the attacker in-process against moto: IAM and EventBridge Scheduler are moto's
//! (`CreateSchedule` is implemented there), CloudTrail is the loopback stand-in
//! (`support/cloudtrail_loopback.rs`: moto answers `LookupEvents` with HTTP 500).
//!
//! The SDK configuration is read from the environment here, as in Lambda, so that the
//! service-specific `AWS_ENDPOINT_URL_CLOUDTRAIL` takes precedence over `AWS_ENDPOINT_URL`
//! (an endpoint set in code would win over both). This binary holds one test, so setting the
//! process environment races with nothing.

#[path = "support/cloudtrail_loopback.rs"]
mod cloudtrail_loopback;
mod common;

use aws_config::BehaviorVersion;
use common::{fresh_emulator, Iam, ACCOUNT, REGION};
use session_revoker::config::LambdaFunction;
use session_revoker::respond::Budget;
use time::OffsetDateTime;

const STOLEN_KEY: &str = "ASIAQEXAMPLE7WEBAPP1";

#[tokio::test]
async fn a_session_the_stolen_key_assumed_is_revoked_and_the_next_look_scheduled_in_moto() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let web_id = iam.role("web-app", "/").await;
    let deploy_id = iam.role("deploy", "/").await;

    let trail = cloudtrail_loopback::CloudTrailLoopback::start(50);
    let caller = cloudtrail_loopback::Caller::Session {
        account: ACCOUNT,
        role: "web-app",
        role_id: &web_id,
        session: "i-0123456789abcdef0",
        key: STOLEN_KEY,
    };
    let deploy_session = format!("{deploy_id}:x-deploy");
    trail.record(
        STOLEN_KEY,
        &cloudtrail_loopback::assume_role(
            &caller,
            OffsetDateTime::now_utc(),
            &format!("arn:aws:iam::{ACCOUNT}:role/deploy"),
            "x-deploy",
            &deploy_session,
            "ASIACHAINKEY00000001",
        ),
    );

    std::env::set_var("AWS_ENDPOINT_URL", common::endpoint());
    std::env::set_var("AWS_ENDPOINT_URL_CLOUDTRAIL", &trail.endpoint);
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", REGION);
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(session_revoker::lambda::retry_config())
        .load()
        .await;
    let scheduler_role =
        format!("arn:aws:iam::{ACCOUNT}:role/session-revoker-FollowUpSchedulerRole");
    let mut config = common::config(&[
        ("CHAIN_DEPTH", "3"),
        ("REVOKE_SCOPE", "auto"),
        ("CUTOFF_MARGIN_SECONDS", "2"),
        ("FOLLOW_UP_SCHEDULER_ROLE_ARN", &scheduler_role),
    ]);
    config.lambda_function = Some(LambdaFunction {
        name: "session-revoker".into(),
        region: REGION.into(),
    });
    let responder = session_revoker::lambda::responder_from_sdk(sdk.clone(), config);

    let seen = common::now_rfc3339(-60);
    let finding = common::finding(
        "f0110000000000000000000000000001",
        "web-app",
        &format!("{web_id}:i-0123456789abcdef0"),
        &seen,
    );
    let report = responder
        .respond(&finding, Budget::UNLIMITED)
        .await
        .expect("contained");
    let report = serde_json::to_value(report).unwrap();
    let follow_up = &report["incidents"][0]["follow_up"];

    // The finding's own session and the one it assumed, each session-scoped in moto.
    let written = |role: &'static str| {
        let iam = iam.0.clone();
        async move {
            iam.get_role_policy()
                .role_name(role)
                .policy_name("SessionRevokerDenyStolenSessions")
                .send()
                .await
                .ok()
                .map(|o| o.policy_document().to_string())
                .map(|d| percent_decode(&d))
        }
    };
    let deploy = written("deploy").await.expect("deploy's session denied");
    assert!(deploy.contains(&deploy_session), "{deploy}");
    assert!(
        written("web-app").await.is_some(),
        "the finding's own session"
    );
    assert_eq!(
        follow_up["sessions"][0]["session"],
        deploy_session.as_str(),
        "{follow_up}"
    );
    assert!(
        trail
            .requests()
            .iter()
            .any(|(r, k)| r == REGION && k == STOLEN_KEY),
        "{:?}",
        trail.requests()
    );

    // The next look, as moto holds it.
    assert_eq!(follow_up["next_look"]["status"], "scheduled", "{follow_up}");
    let name = follow_up["next_look"]["detail"]
        .as_str()
        .and_then(|d| d.rsplit(' ').next())
        .expect("schedule name")
        .to_string();
    let schedule = aws_sdk_scheduler::Client::new(&sdk)
        .get_schedule()
        .name(&name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetSchedule {name}: {e:?}"));
    let at = follow_up["next_look"]["at"]
        .as_str()
        .unwrap()
        .trim_end_matches('Z');
    assert_eq!(
        schedule.schedule_expression(),
        Some(format!("at({at})").as_str())
    );
    assert_eq!(schedule.schedule_expression_timezone(), Some("UTC"));
    let target = schedule.target().expect("target");
    assert_eq!(
        target.arn(),
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:session-revoker")
    );
    assert_eq!(target.role_arn(), scheduler_role);
    // The same finding, carried as `{"Findings": [...]}` (which reads the same) and marked as
    // the scheduled look: that run follows the key even if the finding is archived by then.
    let mut input: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert!(input
        .as_object_mut()
        .and_then(|o| o.remove("sessionRevokerNextLook"))
        .is_some_and(|at| at.is_string()));
    assert_eq!(
        input,
        serde_json::json!({ "Findings": [finding] }),
        "the next look runs the same finding"
    );
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
