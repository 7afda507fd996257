//! The fire drill (issue 23) against fakecloud (`--iam strict --verify-sigv4`): the built
//! function, run the way Lambda runs it (`drills/runtime.rs`), gets `{"action": "drill"}` and
//! contains a canary role made here; fakecloud's own policy evaluation decides whether the
//! drill's session is refused and whether a fresh one works.
//!
//! ```text
//! tools/with-fakecloud.sh cargo test --test fire_drill
//! ```
//!
//! fakecloud quirks that shape the canaries here: a trust policy naming a role ARN does not
//! match that role's sessions in fakecloud 0.51 (probed: AssumeRole is refused), so the canary
//! trusts the account (the template's DrillRole trusts only the function's role); and a deny
//! applies at once, so the measured propagation is the emulator's, a few milliseconds, never a
//! figure for AWS.

// Shared with tests/drills.rs, which uses more of them.
#[allow(dead_code)]
mod drills {
    /// The drill when the deny does not take (the function's clock behind IAM's).
    pub mod deny_not_taken;
    pub mod fakecloud;
    pub mod members;
    pub mod runtime;
}

use drills::fakecloud::{nonce, Cloud, Creds, ACCOUNT};
use drills::runtime::{Invocation, Lambda};
use serde_json::{json, Value};

const TAG: &str = "session-revoker:drill";

/// A canary: trusted by the account, allowed only `iam:GetRole` on itself, tagged unless
/// `tag` is `None`.
async fn canary(cloud: &Cloud, name: &str, tag: Option<&str>) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
    let mut create = cloud
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string());
    if let Some(v) = tag {
        create = create.tags(
            aws_sdk_iam::types::Tag::builder()
                .key(TAG)
                .value(v)
                .build()
                .expect("tag"),
        );
    }
    let arn = create
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"))
        .role()
        .expect("role")
        .arn()
        .to_string();
    let read_itself = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "iam:GetRole", "Resource": arn}]});
    cloud
        .iam
        .put_role_policy()
        .role_name(name)
        .policy_name("read-itself")
        .policy_document(read_itself.to_string())
        .send()
        .await
        .expect("PutRolePolicy read-itself");
    arn
}

fn drill(lambda: &Lambda) -> Invocation {
    lambda.invoke(&json!({"action": "drill"}))
}

fn error_message(inv: &Invocation) -> String {
    match inv {
        Invocation::Error { message, .. } => message.clone(),
        other => panic!(
            "the failed drill must fail the invocation: {}",
            other.describe()
        ),
    }
}

/// The report the function logged (a failed invocation returns only its error).
fn logged_report(lambda: &Lambda) -> Value {
    lambda
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|l| l.get("report").and_then(Value::as_str).map(str::to_string))
        .filter_map(|r| serde_json::from_str::<Value>(&r).ok())
        .next_back()
        .expect("the function logged its report")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_passes_on_a_correct_setup_with_a_measured_refusal() {
    let cloud = Cloud::connect().await;
    let name = format!("fd1-{}-canary", nonce());
    let arn = canary(&cloud, &name, Some("true")).await;
    let lambda = Lambda::start(
        "fire-drill-pass",
        1,
        &[("DRILL_ROLE_ARN", &arn), ("DRILL_MAX_WAIT_SECONDS", "20")],
    );
    let inv = drill(&lambda);
    let report = inv.report("a drill on a correct setup");
    assert_eq!(report["outcome"], "drill_passed", "{}", inv.describe());
    let account = &report["drill"]["accounts"][0];
    assert_eq!(account["ready"], true);
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
            ("session_refused", "passed"),
            ("other_session_works", "passed"),
            ("contain_role", "passed"),
            ("role_refused", "passed"),
            ("fresh_session_works", "passed"),
        ],
        "{}",
        inv.describe()
    );
    // Both shapes the function writes, each refused by fakecloud, with a measured figure.
    let scopes = account["scopes"].as_array().unwrap();
    assert_eq!(scopes[0]["scope"], "session");
    assert_eq!(scopes[1]["scope"], "role");
    for s in scopes {
        assert_eq!(s["actions"][0]["status"], "done", "{s}");
        let ms = s["propagation_ms"].as_u64().expect("a measured refusal");
        assert!(ms < 20_000, "{s}");
    }
    assert_eq!(
        scopes[0]["actions"][0]["policy_name"],
        "SessionRevokerDenyStolenSessions"
    );
    assert_eq!(
        scopes[1]["actions"][0]["policy_name"],
        "AWSRevokeOlderSessions"
    );
    let refusals = account["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"].as_str().unwrap().starts_with("refused"))
        .count();
    assert_eq!(refusals, 2, "{}", account["calls"]);
    assert!(report["drill"]["propagation_ms"].as_u64().is_some());
    assert_eq!(report["drill"]["cutoff_margin_seconds"], 2);
    // The deny stays on the canary.
    assert!(cloud
        .role_policy(&name, "AWSRevokeOlderSessions")
        .await
        .is_some());
    // The metrics Lambda's log pipeline reads.
    let logs = lambda.logs();
    assert!(logs.contains("\"DrillPassed\":1"), "{logs}");
    assert!(logs.contains("\"DrillPropagationSeconds\":"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_fails_at_the_write_when_the_function_may_not_write_the_canarys_policy() {
    let cloud = Cloud::connect().await;
    let n = nonce();
    let name = format!("fd2-{n}-canary");
    let arn = canary(&cloud, &name, Some("true")).await;
    // The function runs with a real key of a user who may do anything but write the canary's
    // policies (fakecloud's `test` key would bypass enforcement).
    let user = format!("fd2-{n}-function");
    cloud.user(&user).await;
    let deny = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
        "Action": "iam:PutRolePolicy", "Resource": arn}]});
    cloud
        .iam
        .put_user_policy()
        .user_name(&user)
        .policy_name("no-canary-writes")
        .policy_document(deny.to_string())
        .send()
        .await
        .expect("PutUserPolicy");
    let Creds { key, secret, .. } = cloud.key(&user).await;
    let lambda = Lambda::start(
        "fire-drill-no-write",
        1,
        &[
            ("DRILL_ROLE_ARN", &arn),
            ("DRILL_MAX_WAIT_SECONDS", "20"),
            ("AWS_ACCESS_KEY_ID", &key),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
    );
    let inv = drill(&lambda);
    let message = error_message(&inv);
    assert!(
        message.starts_with("DRILL FAILED at step contain_session"),
        "{message}"
    );
    assert!(message.contains("AccessDenied"), "{message}");
    let report = logged_report(&lambda);
    assert_eq!(report["outcome"], "drill_failed");
    let account = &report["drill"]["accounts"][0];
    assert_eq!(account["ready"], false);
    // The steps before the write passed: the failure is the write, and nothing after it ran.
    assert_eq!(account["steps"][0]["result"], "passed");
    assert_eq!(account["steps"][1]["result"], "passed");
    assert_eq!(account["steps"][2]["step"], "contain_session");
    assert_eq!(account["steps"][2]["result"], "failed");
    assert_eq!(account["steps"].as_array().unwrap().len(), 3);
    assert!(cloud
        .role_policy(&name, "SessionRevokerDenyStolenSessions")
        .await
        .is_none());
    assert!(lambda.logs().contains("\"DrillPassed\":0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_fails_at_the_canary_check_when_it_is_missing_untagged_or_unset() {
    let cloud = Cloud::connect().await;
    let n = nonce();
    let missing = format!("arn:aws:iam::{ACCOUNT}:role/fd3-{n}-no-such-canary");
    let untagged = format!("fd3-{n}-untagged");
    let untagged_arn = canary(&cloud, &untagged, None).await;
    let wrong = format!("fd3-{n}-wrong-tag");
    let wrong_arn = canary(&cloud, &wrong, Some("false")).await;
    let cases = [
        (Some(missing.as_str()), "does not exist"),
        (
            Some(untagged_arn.as_str()),
            "lacks the tag session-revoker:drill=true",
        ),
        (Some(wrong_arn.as_str()), "not \"true\""),
        (None, "DRILL_ROLE_ARN is not set"),
    ];
    for (i, (arn, why)) in cases.into_iter().enumerate() {
        let settings: Vec<(&str, &str)> = arn.map(|a| ("DRILL_ROLE_ARN", a)).into_iter().collect();
        let lambda = Lambda::start(&format!("fire-drill-canary-{i}"), 1, &settings);
        let message = error_message(&drill(&lambda));
        assert!(
            message.starts_with("DRILL FAILED at step check_canary"),
            "{message}"
        );
        assert!(message.contains(why), "{why}: {message}");
    }
    // Nothing was written to a role without the tag.
    for role in [&untagged, &wrong] {
        assert!(cloud
            .role_policy(role, "AWSRevokeOlderSessions")
            .await
            .is_none());
        assert!(cloud
            .role_policy(role, "SessionRevokerDenyStolenSessions")
            .await
            .is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_drill_checks_and_plans_but_writes_nothing() {
    let cloud = Cloud::connect().await;
    let name = format!("fd4-{}-canary", nonce());
    let arn = canary(&cloud, &name, Some("true")).await;
    let lambda = Lambda::start("fire-drill-dry-run", 1, &[("DRILL_ROLE_ARN", &arn)]);
    let inv = lambda.invoke(&json!({"action": "drill", "dry_run": true, "reason": "try it"}));
    let report = inv.report("a dry-run drill");
    assert_eq!(report["outcome"], "would_revoke", "{}", inv.describe());
    assert_eq!(report["drill"]["reason"], "try it");
    let scopes = report["drill"]["accounts"][0]["scopes"].as_array().unwrap();
    assert_eq!(scopes.len(), 2);
    for s in scopes {
        assert_eq!(s["actions"][0]["status"], "would_do", "{s}");
        assert!(s.get("propagation_ms").is_none());
    }
    for policy in ["AWSRevokeOlderSessions", "SessionRevokerDenyStolenSessions"] {
        assert!(cloud.role_policy(&name, policy).await.is_none());
    }
    assert!(!lambda.logs().contains("\"DrillPassed\""));
    // A drill request with a field it does not take is refused, naming it.
    let refused = lambda.invoke(&json!({"action": "drill", "role": name}));
    let message = error_message(&refused);
    assert!(message.contains("unknown field `role`"), "{message}");
}

/// A canary the configuration protects (`PROTECTED_ROLES`): the production path will not write
/// to it, so the drill fails at the write, saying why; a real finding there would need a person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_fails_at_the_write_when_the_canary_is_protected() {
    let cloud = Cloud::connect().await;
    let name = format!("fd5-{}-canary", nonce());
    let arn = canary(&cloud, &name, Some("true")).await;
    let lambda = Lambda::start(
        "fire-drill-protected",
        1,
        &[("DRILL_ROLE_ARN", &arn), ("PROTECTED_ROLES", "fd5-*")],
    );
    let message = error_message(&drill(&lambda));
    assert!(
        message.starts_with("DRILL FAILED at step contain_session"),
        "{message}"
    );
    assert!(message.contains("manual_action_required"), "{message}");
    assert!(message.contains("PROTECTED_ROLES"), "{message}");
    assert!(cloud
        .role_policy(&name, "SessionRevokerDenyStolenSessions")
        .await
        .is_none());
}

/// Member accounts of this file's organization test: one ready, one whose member role cannot
/// be assumed (it trusts another external id).
const READY_MEMBER: &str = "520987654321";
const UNREACHABLE_MEMBER: &str = "620987654321";

/// Organization mode: the drill goes into each account of `ALLOWED_ACCOUNTS` through the member
/// role (external id), and contains the canary `DRILL_ROLE_NAME` there through the production
/// path; fakecloud judges every call by the member role's and the canary's policies. One row per
/// account: the unreachable one failed at the assume step with the command, the others ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_mode_reports_one_row_per_account_and_an_unreachable_member_fails_only_its_own(
) {
    use drills::members;
    let cloud = Cloud::connect().await;
    let n = nonce();
    let own_arn = canary(&cloud, &format!("fd6-{n}-canary"), Some("true")).await;
    let (member, drill_role, external_id) = (
        format!("fd6-{n}-member"),
        format!("fd6-{n}-drill"),
        format!("fd6-{n}-external"),
    );
    let ready = members::iam_of(
        &cloud,
        &members::admin_of(READY_MEMBER, &format!("fd6-{n}-admin")),
    );
    let member_arn =
        members::member_role(&ready, READY_MEMBER, &member, &drill_role, &external_id).await;
    members::canary(&ready, READY_MEMBER, &drill_role).await;
    let unreachable = members::iam_of(
        &cloud,
        &members::admin_of(UNREACHABLE_MEMBER, &format!("fd6-{n}-admin")),
    );
    members::member_role(
        &unreachable,
        UNREACHABLE_MEMBER,
        &member,
        &drill_role,
        "another-id",
    )
    .await;
    members::canary(&unreachable, UNREACHABLE_MEMBER, &drill_role).await;

    let allowed = format!("{ACCOUNT},{READY_MEMBER},{UNREACHABLE_MEMBER}");
    let lambda = Lambda::start(
        "fire-drill-org",
        1,
        &[
            ("DRILL_ROLE_ARN", &own_arn),
            ("DRILL_ROLE_NAME", &drill_role),
            ("MEMBER_ROLE_NAME", &member),
            ("MEMBER_ROLE_EXTERNAL_ID", &external_id),
            ("ALLOWED_ACCOUNTS", &allowed),
            ("DRILL_MAX_WAIT_SECONDS", "20"),
            // A deployment that revokes role-wide still drills both shapes (the session step
            // writes the session-scoped deny, and the other session keeps working).
            ("REVOKE_SCOPE", "role"),
        ],
    );
    let message = error_message(&drill(&lambda));
    assert!(
        message.starts_with("DRILL FAILED at step assume_member_role"),
        "{message}"
    );
    assert!(message.contains(UNREACHABLE_MEMBER), "{message}");
    assert!(message.contains("2 of 3 accounts ready"), "{message}");
    let report = logged_report(&lambda);
    assert_eq!(report["outcome"], "drill_failed");
    let rows = report["drill"]["accounts"].as_array().unwrap();
    let accounts: Vec<(&str, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap(),
                r["ready"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        accounts,
        [
            (ACCOUNT, true),
            (READY_MEMBER, true),
            (UNREACHABLE_MEMBER, false)
        ],
        "{}",
        report["drill"]
    );

    // The ready member: every step through the member role, both shapes written there and
    // refused by fakecloud, a fresh session works.
    let row = &rows[1];
    assert_eq!(row["via_role"], member_arn.as_str());
    assert_eq!(
        row["role_arn"],
        format!("arn:aws:iam::{READY_MEMBER}:role/{drill_role}")
    );
    let steps: Vec<(&str, &str)> = row["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(steps[0], ("assume_member_role", "passed"), "{row}");
    assert_eq!(steps.len(), 9, "{row}");
    assert!(steps.iter().all(|(_, r)| *r == "passed"), "{row}");
    for s in row["scopes"].as_array().unwrap() {
        assert_eq!(s["actions"][0]["status"], "done", "{s}");
        assert!(s["propagation_ms"].as_u64().is_some(), "{s}");
    }
    assert!(row["calls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["call"] == "sts:AssumeRole" && c["by"] == "member role"));
    assert!(
        members::role_policy(&ready, &drill_role, "AWSRevokeOlderSessions")
            .await
            .is_some(),
        "the deny stays on the member account's canary"
    );

    // The unreachable member: one failed step, the command that shows why, nothing written.
    let row = &rows[2];
    assert_eq!(row["steps"].as_array().unwrap().len(), 1, "{row}");
    let step = &row["steps"][0];
    assert_eq!(step["step"], "assume_member_role");
    assert_eq!(step["result"], "failed");
    assert!(
        step["detail"].as_str().unwrap().contains("AccessDenied"),
        "{step}"
    );
    let command = step["command"].as_str().unwrap();
    assert!(
        command.starts_with(&format!(
            "aws sts assume-role --role-arn arn:aws:iam::{UNREACHABLE_MEMBER}:role/{member} --role-session-name drill-check --external-id \"$MEMBER_ROLE_EXTERNAL_ID\""
        )),
        "{command}"
    );
    assert!(
        !command.contains(&external_id),
        "the external id is never printed"
    );
    for policy in ["AWSRevokeOlderSessions", "SessionRevokerDenyStolenSessions"] {
        assert!(members::role_policy(&unreachable, &drill_role, policy)
            .await
            .is_none());
    }

    // Per-account metrics beside DrillPassed (which the alarms read).
    let logs = lambda.logs();
    assert!(logs.contains("\"DrillPassed\":0"), "{logs}");
    let per_account: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("DrillAccountReady").is_some())
        .collect();
    let ready_by_account: Vec<(String, u64)> = per_account
        .iter()
        .map(|v| {
            (
                v["Account"].as_str().unwrap().to_string(),
                v["DrillAccountReady"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ready_by_account,
        [
            (ACCOUNT.to_string(), 1),
            (READY_MEMBER.to_string(), 1),
            (UNREACHABLE_MEMBER.to_string(), 0)
        ]
    );
}
