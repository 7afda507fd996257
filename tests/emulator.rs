//! Integration tests against a real AWS API emulator (moto server), through the real SDK
//! clients. moto does not evaluate IAM policy conditions: these tests check what is written
//! and read back; that the cutoff denies the right tokens is proven by the policy evaluator
//! in the unit tests (`src/policy.rs`).

mod common;
/// The re-check queue against moto's SQS (issue 26).
#[path = "emulated/recheck.rs"]
mod recheck;

use common::*;
use serde_json::{json, Value};
use session_revoker::respond::Budget;

const UNRELATED: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::artifacts/*"}]}"#;

async fn seed_web_app(iam: &Iam) -> String {
    let id = iam.role("web-app", "/apps/").await;
    iam.put_policy("web-app", "read-artifacts", UNRELATED).await;
    iam.role("billing-reader", "/").await;
    id
}

#[tokio::test]
async fn revocation_writes_the_console_policy_and_keeps_other_inline_policies() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let r = responder(&[]).await;
    let before = time::OffsetDateTime::now_utc();
    let report = respond(
        &r,
        &finding(
            "f-1",
            "web-app",
            &format!("{role_id}:i-0123456789abcdef0"),
            &now_rfc3339(-60),
        ),
    )
    .await;
    let after = time::OffsetDateTime::now_utc();

    assert_eq!(report["outcome"], "revoked", "{report:#}");
    let a = &actions(&report)[0];
    assert_eq!(
        (a["action"].as_str(), a["status"].as_str()),
        (Some("revoke_role_sessions"), Some("done"))
    );
    let policy = iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .expect("policy written");
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    assert_eq!(policy["Statement"][0]["Action"], json!(["*"]));
    assert_eq!(policy["Statement"][0]["Resource"], json!(["*"]));
    let cutoff = cutoff_of(&policy);
    let margin = time::Duration::seconds(30);
    assert!(
        cutoff >= (before + margin).replace_nanosecond(0).unwrap() && cutoff <= after + margin,
        "{cutoff}"
    );
    assert_eq!(a["cutoff"], session_revoker::names::format_utc(cutoff));
    // The unrelated inline policy is exactly as it was; the bystander has nothing.
    assert_eq!(
        iam.policy("web-app", "read-artifacts").await.unwrap(),
        serde_json::from_str::<Value>(UNRELATED).unwrap()
    );
    assert_eq!(
        iam.policy_names("web-app").await,
        vec!["AWSRevokeOlderSessions", "read-artifacts"]
    );
    assert!(iam.policy_names("billing-reader").await.is_empty());
}

#[tokio::test]
async fn a_second_delivery_is_already_covered_and_later_activity_moves_the_cutoff_forward() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let r = responder(&[("CUTOFF_MARGIN_SECONDS", "5")]).await;
    let principal = format!("{role_id}:i-0123456789abcdef0");
    let first = finding("f-1", "web-app", &principal, &now_rfc3339(-60));
    respond(&r, &first).await;
    let cutoff1 = cutoff_of(
        &iam.policy("web-app", "AWSRevokeOlderSessions")
            .await
            .unwrap(),
    );

    // EventBridge re-delivers the same finding: nothing is written.
    let again = respond(&r, &first).await;
    assert_eq!(again["outcome"], "already_covered", "{again:#}");
    assert_eq!(actions(&again)[0]["status"], "already_covered");
    assert_eq!(
        cutoff_of(
            &iam.policy("web-app", "AWSRevokeOlderSessions")
                .await
                .unwrap()
        ),
        cutoff1
    );

    // GuardDuty aggregates new activity seen after the cutoff: the cutoff moves forward.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = finding(
        "f-1",
        "web-app",
        &principal,
        &session_revoker::names::format_utc(cutoff1 + time::Duration::seconds(1)),
    );
    let moved = respond(&r, &later).await;
    assert_eq!(moved["outcome"], "revoked", "{moved:#}");
    let cutoff2 = cutoff_of(
        &iam.policy("web-app", "AWSRevokeOlderSessions")
            .await
            .unwrap(),
    );
    assert!(cutoff2 > cutoff1);
    assert_eq!(
        actions(&moved)[0]["previous_cutoff"],
        session_revoker::names::format_utc(cutoff1)
    );
}

#[tokio::test]
async fn an_existing_later_cutoff_is_never_moved_back() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    // Written by the console (or another responder) with a cutoff further ahead.
    let ahead = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let doc = session_revoker::policy::RevocationPolicy {
        cutoff: ahead.replace_nanosecond(0).unwrap(),
    }
    .to_json();
    iam.put_policy("web-app", "AWSRevokeOlderSessions", &doc)
        .await;
    let r = responder(&[]).await;
    let report = respond(
        &r,
        &finding("f-2", "web-app", &format!("{role_id}:s"), &now_rfc3339(0)),
    )
    .await;
    assert_eq!(report["outcome"], "already_covered", "{report:#}");
    assert_eq!(
        cutoff_of(
            &iam.policy("web-app", "AWSRevokeOlderSessions")
                .await
                .unwrap()
        ),
        ahead.replace_nanosecond(0).unwrap()
    );
}

#[tokio::test]
async fn the_role_is_resolved_from_the_role_id_when_user_name_is_missing() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    for n in 0..5 {
        iam.role(&format!("other-{n}"), "/").await;
    }
    let role_id = seed_web_app(&iam).await;
    let mut f = finding(
        "f-3",
        "web-app",
        &format!("{role_id}:i-0123456789abcdef0"),
        &now_rfc3339(-10),
    );
    f["resource"]["accessKeyDetails"]["userName"] = Value::Null;
    let report = respond(&responder(&[]).await, &f).await;
    assert_eq!(actions(&report)[0]["target"], "web-app", "{report:#}");
    assert_eq!(report["outcome"], "revoked");
    assert!(iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_some());
}

#[tokio::test]
async fn a_missing_role_is_a_reported_failure_not_a_crash() {
    let _emulator = fresh_emulator().await;
    let (report, error) = respond_failing(
        &responder(&[]).await,
        &finding("f-4", "ghost", "AROAQEXAMPLEGHOSTROLE1:s1", &now_rfc3339(0)),
    )
    .await;
    assert!(error.contains("not contained"), "{error}");
    assert_eq!(report["outcome"], "failed");
    let a = &actions(&report)[0];
    assert_eq!(a["status"], "failed");
    assert_eq!(a["error"]["code"], "NoSuchEntity");
    assert!(a["detail"].as_str().unwrap().contains("ghost"));
}

#[tokio::test]
async fn protected_service_linked_and_own_roles_are_never_written_and_need_a_person() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let slr = iam
        .role(
            "AWSServiceRoleForSupport",
            "/aws-service-role/support.amazonaws.com/",
        )
        .await;
    let brk = iam.role("BreakGlass", "/").await;
    let own = iam.role("session-revoker", "/").await;
    let r = responder(&[
        ("PROTECTED_ROLES", "Break*"),
        (
            "RESPONDER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/session-revoker",
        ),
    ])
    .await;
    for (role, id, reason) in [
        ("AWSServiceRoleForSupport", slr, "service-linked"),
        ("BreakGlass", brk, "PROTECTED_ROLES"),
        ("session-revoker", own, "own role"),
    ] {
        let report = respond(
            &r,
            &finding("f-5", role, &format!("{id}:s1"), &now_rfc3339(0)),
        )
        .await;
        let a = &actions(&report)[0];
        // The stolen session is still live: a person must act (never "skipped").
        assert_eq!(a["status"], "manual_action_required", "{report:#}");
        assert!(!a["commands"].as_array().unwrap().is_empty(), "{a:#}");
        assert!(a["detail"].as_str().unwrap().contains(reason), "{a:#}");
        assert!(iam.policy_names(role).await.is_empty());
    }
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let report = respond(
        &responder(&[("DRY_RUN", "true")]).await,
        &finding("f-6", "web-app", &format!("{role_id}:s"), &now_rfc3339(0)),
    )
    .await;
    assert_eq!(report["outcome"], "would_revoke");
    assert_eq!(report["dry_run"], true);
    assert!(actions(&report)[0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("would write AWSRevokeOlderSessions"));
    assert_eq!(iam.policy_names("web-app").await, vec!["read-artifacts"]);
    // The manual request's own flag does the same.
    let manual = json!({"action": "revoke", "role": "web-app", "dry_run": true});
    let report = respond(&responder(&[]).await, &manual).await;
    assert_eq!(report["outcome"], "would_revoke");
    assert_eq!(iam.policy_names("web-app").await, vec!["read-artifacts"]);
}

#[tokio::test]
async fn the_report_arrives_on_the_topic_with_subject_and_attributes() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let topic = Topic::new("session-revoker-reports").await;
    let r = responder(&[("SNS_TOPIC_ARN", &topic.arn)]).await;
    let report = respond(
        &r,
        &finding(
            "f-7",
            "web-app",
            &format!("{role_id}:i-0123456789abcdef0"),
            &now_rfc3339(0),
        ),
    )
    .await;
    assert!(report["published"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    let messages = topic.drain().await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let subject = m["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[session-revoker] REVOKED: role web-app"),
        "{subject}"
    );
    assert!(subject.len() < 100 && subject.is_ascii() && !subject.contains('\n'));
    assert_eq!(m["MessageAttributes"]["outcome"]["Value"], "revoked");
    assert_eq!(m["MessageAttributes"]["severity"]["Value"], "High");
    assert_eq!(
        m["MessageAttributes"]["finding_type"]["Value"],
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
    );
    // The SQS protocol receives the JSON report, field by field the handler's response.
    let body: Value = serde_json::from_str(m["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["summary"], report["summary"]);
    assert_eq!(body["incidents"][0]["finding_id"], "f-7");
    assert_eq!(
        body["incidents"][0]["actions"][0]["cutoff"],
        report["incidents"][0]["actions"][0]["cutoff"]
    );
    assert!(body["incidents"][0]["next_steps"][0]
        .as_str()
        .unwrap()
        .contains("aws cloudtrail lookup-events"));
}

#[tokio::test]
async fn sns_unavailable_keeps_the_revocation_and_a_retry_delivers_without_revoking_again() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let f = finding("f-8", "web-app", &format!("{role_id}:s"), &now_rfc3339(-5));
    let gone = responder(&[(
        "SNS_TOPIC_ARN",
        "arn:aws:sns:us-east-1:123456789012:deleted-topic",
    )])
    .await;
    let err = gone.respond(&f, Budget::UNLIMITED).await.unwrap_err();
    assert_eq!(err.error_type(), "ReportNotPublished");
    assert!(err.to_string().contains("NotFound"), "{err}");
    let cutoff = cutoff_of(
        &iam.policy("web-app", "AWSRevokeOlderSessions")
            .await
            .expect("the revocation stays"),
    );

    // Lambda retries the event once the topic is back.
    let topic = Topic::new("session-revoker-reports").await;
    let retried = respond(&responder(&[("SNS_TOPIC_ARN", &topic.arn)]).await, &f).await;
    assert_eq!(retried["outcome"], "already_covered");
    assert_eq!(
        cutoff_of(
            &iam.policy("web-app", "AWSRevokeOlderSessions")
                .await
                .unwrap()
        ),
        cutoff
    );
    assert_eq!(topic.drain().await.len(), 1);
}

#[tokio::test]
async fn one_bad_finding_does_not_stop_the_others() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let other = iam.role("api", "/").await;
    let payload = json!([
        finding("f-9", "ghost", "AROAQEXAMPLEGHOSTROLE1:s", &now_rfc3339(0)),
        {"type": "Recon:IAMUser/TorIPCaller", "resource": {"accessKeyDetails": "not an object"}},
        finding("f-10", "web-app", &format!("{role_id}:s"), &now_rfc3339(0)),
        finding("f-11", "api", &format!("{other}:s"), &now_rfc3339(0)),
    ]);
    let (report, error) = respond_failing(&responder(&[]).await, &payload).await;
    assert!(error.contains("not contained"), "{error}");
    let outcomes: Vec<&str> = report["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["failed", "failed", "revoked", "revoked"]);
    assert!(report["incidents"][1]["actions"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("resource.accessKeyDetails"));
    assert!(iam.policy("api", "AWSRevokeOlderSessions").await.is_some());
}

#[tokio::test]
async fn time_running_out_stops_new_work_and_reports_it() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let almost_out = Budget {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(3)),
    };
    let err = responder(&[])
        .await
        .respond(
            &finding("f-12", "web-app", &format!("{role_id}:s"), &now_rfc3339(0)),
            almost_out,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not started: finding f-12"),
        "{err}"
    );
    assert!(iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_none());
}

#[tokio::test]
async fn session_scope_keeps_one_policy_with_a_statement_per_stolen_session() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let r = responder(&[("REVOKE_SCOPE", "session")]).await;
    let keith = format!("{role_id}:keith");
    let mary = format!("{role_id}:mary");
    respond(&r, &finding("f-13", "web-app", &keith, &now_rfc3339(0))).await;
    let report = respond(&r, &finding("f-14", "web-app", &mary, &now_rfc3339(0))).await;
    assert_eq!(actions(&report)[0]["action"], "revoke_sessions");
    let policy = iam
        .policy("web-app", "SessionRevokerDenyStolenSessions")
        .await
        .unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{policy:#}");
    let userids: Vec<&str> = statements
        .iter()
        .map(|s| {
            s["Condition"]["StringEquals"]["aws:userid"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(userids, vec![keith.as_str(), mary.as_str()]);
    assert!(statements
        .iter()
        .all(|s| s["Condition"]["DateLessThan"]["aws:TokenIssueTime"].is_string()));
    // The console's role-wide policy is not written: Bob keeps working.
    assert!(iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_none());

    // A manual request naming a session does the same, whatever REVOKE_SCOPE says.
    let manual = json!({"action": "revoke", "role": "web-app", "session": "bob", "reason": "test"});
    respond(&responder(&[]).await, &manual).await;
    let policy = iam
        .policy("web-app", "SessionRevokerDenyStolenSessions")
        .await
        .unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_iam_user_key_finding_deactivates_exactly_the_named_key() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let keys = iam.user_with_keys("ci-bot", 2).await;
    let mut f = finding("f-15", "ci-bot", "AIDAQEXAMPLECIUSER001", &now_rfc3339(0));
    f["type"] = json!("UnauthorizedAccess:IAMUser/TorIPCaller");
    f["resource"]["accessKeyDetails"] = json!({"userType": "IAMUser", "userName": "ci-bot", "accessKeyId": keys[1], "principalId": "AIDAQEXAMPLECIUSER001"});
    let r = responder(&[]).await;
    let report = respond(&r, &f).await;
    let a = &actions(&report)[0];
    assert_eq!(
        (a["action"].as_str(), a["status"].as_str()),
        (Some("deactivate_access_key"), Some("done")),
        "{report:#}"
    );
    let statuses = iam.key_statuses("ci-bot").await;
    assert_eq!(statuses[&keys[1]], "Inactive");
    assert_eq!(
        statuses[&keys[0]], "Active",
        "the user's other key is untouched"
    );
    // Sessions minted from the key before it was deactivated die with it: the user's deny.
    let b = &actions(&report)[1];
    assert_eq!(
        (b["action"].as_str(), b["status"].as_str()),
        (Some("revoke_user_sessions"), Some("done")),
        "{report:#}"
    );
    assert!(report["incidents"][0]["next_steps"]
        .to_string()
        .contains("aws iam list-access-keys --user-name ci-bot"));

    // Already inactive: reported, nothing written.
    let again = respond(&r, &f).await;
    assert_eq!(actions(&again)[0]["status"], "already_covered");

    // A user that does not exist (deleted, perhaps by the attacker) is contained: nothing can
    // sign as it, and a failure would be retried and alarm forever.
    let mut ghost = f.clone();
    ghost["resource"]["accessKeyDetails"]["userName"] = json!("ghost-user");
    let report = respond(&r, &ghost).await;
    assert_eq!(
        actions(&report)[0]["status"],
        "already_covered",
        "{report:#}"
    );
    assert!(actions(&report)[0]["detail"]
        .as_str()
        .unwrap()
        .contains("does not exist"));

    // Temporary credentials of the user: a user deny policy.
    f["resource"]["accessKeyDetails"]["accessKeyId"] = json!("ASIAQEXAMPLE7CIUSER9");
    let report = respond(&r, &f).await;
    assert_eq!(actions(&report)[0]["action"], "revoke_user_sessions");
    let doc = iam
        .0
        .get_user_policy()
        .user_name("ci-bot")
        .policy_name("AWSRevokeOlderSessions")
        .send()
        .await
        .unwrap();
    assert!(percent_encoding::percent_decode_str(doc.policy_document())
        .decode_utf8()
        .unwrap()
        .contains("aws:TokenIssueTime"));
}

#[tokio::test]
async fn concurrent_invocations_for_one_role_end_with_the_later_cutoff() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    let early = responder(&[("CUTOFF_MARGIN_SECONDS", "10")]).await;
    let late = responder(&[("CUTOFF_MARGIN_SECONDS", "60")]).await;
    for round in 0..5 {
        let f = finding(
            &format!("f-c{round}"),
            "web-app",
            &format!("{role_id}:s{round}"),
            &now_rfc3339(3600),
        );
        let (a, b) = tokio::join!(respond(&late, &f), respond(&early, &f));
        let latest = [a, b]
            .iter()
            .filter_map(|r| {
                r["incidents"][0]["actions"][0]["cutoff"]
                    .as_str()
                    .map(str::to_string)
            })
            .max()
            .unwrap();
        let policy = iam
            .policy("web-app", "AWSRevokeOlderSessions")
            .await
            .unwrap();
        assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            session_revoker::names::format_utc(cutoff_of(&policy)),
            latest,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_burst_of_200_findings_over_20_roles_ends_with_20_policies_and_200_reports() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(iam.role(&format!("burst-{n:02}"), "/").await);
    }
    let topic = Topic::new("burst-reports").await;
    let r = std::sync::Arc::new(responder(&[("SNS_TOPIC_ARN", &topic.arn)]).await);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        let r = r.clone();
        let f = finding(
            &format!("burst-{n}"),
            &format!("burst-{:02}", n % 20),
            &format!("{}:s{n}", ids[n % 20]),
            &now_rfc3339(3600),
        );
        tasks.spawn(async move {
            r.respond(&f, Budget::UNLIMITED)
                .await
                .map(|rep| rep.outcome)
        });
    }
    let mut failed = 0;
    while let Some(done) = tasks.join_next().await {
        if !matches!(
            done.unwrap(),
            Ok(session_revoker::model::Outcome::Revoked
                | session_revoker::model::Outcome::AlreadyCovered)
        ) {
            failed += 1;
        }
    }
    eprintln!(
        "200 findings over 20 roles, 16 at a time per process, in {:?}",
        started.elapsed()
    );
    assert_eq!(failed, 0);
    let mut with_policy = 0;
    for n in 0..20 {
        let names = iam.policy_names(&format!("burst-{n:02}")).await;
        assert!(names.len() <= 1);
        with_policy += names.len();
    }
    assert_eq!(with_policy, 20);
    assert_eq!(topic.drain().await.len(), 200);
}

#[tokio::test]
async fn a_member_account_finding_revokes_in_that_account_through_the_member_role() {
    let _emulator = fresh_emulator().await;
    let member = "111111111111";
    let member_iam = Iam::in_account(member).await;
    let role_id = member_iam.role("web-app", "/").await;
    let admin_iam = Iam::new().await;
    admin_iam.role("web-app", "/").await; // same name in the administrator account
    let mut f = finding("f-m1", "web-app", &format!("{role_id}:s"), &now_rfc3339(0));
    f["accountId"] = json!(member);

    let r = responder(&[
        ("MEMBER_ROLE_NAME", "session-revoker-member"),
        ("MEMBER_ROLE_EXTERNAL_ID", "ext-1"),
    ])
    .await;
    let report = respond(&r, &f).await;
    let a = &actions(&report)[0];
    assert_eq!(a["status"], "done", "{report:#}");
    assert_eq!(a["facts"]["account"], member);
    assert_eq!(
        a["facts"]["via_role"],
        "arn:aws:iam::111111111111:role/session-revoker-member"
    );
    assert!(member_iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_some());
    assert!(
        admin_iam.policy_names("web-app").await.is_empty(),
        "the administrator's role of the same name is untouched"
    );

    // Without a member role the account is reported unreachable, with what to do there, and
    // the invocation fails: the finding is not contained.
    let (report, error) = respond_failing(&responder(&[]).await, &f).await;
    assert!(error.contains("not contained"), "{error}");
    let a = &actions(&report)[0];
    assert_eq!(a["status"], "failed");
    assert!(!a["commands"].as_array().unwrap().is_empty(), "{a:#}");
    assert!(
        a["detail"].as_str().unwrap().contains("111111111111")
            && a["detail"].as_str().unwrap().contains("MEMBER_ROLE_NAME")
    );

    // The allow-list refuses other accounts.
    let report = respond(
        &responder(&[
            ("MEMBER_ROLE_NAME", "m"),
            ("ALLOWED_ACCOUNTS", "222222222222"),
        ])
        .await,
        &f,
    )
    .await;
    assert!(actions(&report)[0]["detail"]
        .as_str()
        .unwrap()
        .contains("ALLOWED_ACCOUNTS"));
}

#[tokio::test]
async fn by_default_an_instance_session_is_revoked_alone_and_other_instances_keep_working() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = seed_web_app(&iam).await;
    // REVOKE_SCOPE=auto is the default: one instance's stolen session, not the whole role
    // (which every instance sharing the instance profile uses).
    let report = respond(
        &responder(&[("REVOKE_SCOPE", "auto")]).await,
        &finding(
            "f-auto",
            "web-app",
            &format!("{role_id}:i-0123456789abcdef0"),
            &now_rfc3339(-60),
        ),
    )
    .await;
    assert_eq!(report["outcome"], "revoked", "{report:#}");
    assert_eq!(actions(&report)[0]["action"], "revoke_sessions");
    assert!(iam
        .policy("web-app", "AWSRevokeOlderSessions")
        .await
        .is_none());
    let policy = iam
        .policy("web-app", "SessionRevokerDenyStolenSessions")
        .await
        .expect("session policy");
    let userids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["Condition"]["StringEquals"]["aws:userid"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(userids, vec![format!("{role_id}:i-0123456789abcdef0")]);
}
