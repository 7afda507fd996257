//! The stack as deployed, judged (issue 22).
//!
//! `template.yaml`, `member-role.yaml` and `region-forwarder.yaml` go through AWS's SAM transform
//! (`samtranslator`) and fakecloud's CloudFormation (`tools/deployed/deploy.py`); then every edge
//! a deployment depends on is judged by IAM implementations this project did not write, against
//! the policies as CloudFormation created them:
//! - the function: the built binary (behind `drills/runtime.rs`'s Runtime API) runs with the
//!   credentials of the deployed function role and the environment the deployed function has;
//!   fakecloud (`--iam strict --verify-sigv4`) judges its IAM, STS, SNS and Scheduler calls
//!   (resources and conditions included), iam-simulate judges the calls served by loopback
//!   stand-ins (GuardDuty, CloudTrail: no emulator serves them) against the role's deployed
//!   policies; a stolen role session here, a user's stolen key and a forced restore in
//!   `deployed/other_paths.rs`;
//! - the scheduler role: its trust (iam-simulate: Scheduler, for this function's schedules only)
//!   and its `lambda:InvokeFunction` on the function's real ARN (fakecloud, `DryRun` invoke);
//! - the rule's permission on the function (iam-simulate on the deployed resource policy);
//! - the topic policy (fakecloud: the function publishes, another principal may not);
//! - the member role's trust (fakecloud: the function role's session with the external id can
//!   assume it; without it, or from a role of a similar name, not);
//! - the forwarder role (fakecloud: `events:PutEvents` on the home bus);
//! - the events: every file in `events/` and every finding type the README names through the
//!   deployed rules' patterns with fakecloud's `TestEventPattern`.
//!
//! Planted mistakes (`planted_*`) show the judge fails naming the call.
//!
//! Not judged here: Lambda running the function (fakecloud needs Docker for that; the binary runs
//! beside it, as the drills run it), EventBridge and Scheduler delivering to Lambda and KMS key
//! policies (fakecloud does not enforce them), EC2 (not enforced by fakecloud: its grants are
//! judged by iam-simulate only). Needs `FAKECLOUD_ENDPOINT` (`tools/with-fakecloud.sh`).

// Shared with tests/drills.rs; this file uses part of them.
#[allow(dead_code)]
mod drills {
    pub mod fakecloud;
    pub mod judge;
    pub mod members;
    pub mod runtime;
}
mod deployed {
    pub mod drill;
    pub mod other_paths;
    pub mod stack;
}
#[path = "support/cloudtrail_loopback.rs"]
mod cloudtrail_loopback;
#[allow(dead_code)]
#[path = "common/guardduty_loopback.rs"]
mod guardduty_loopback;

use deployed::stack::{self, Deployed};
use drills::fakecloud::{self, utc, Cloud, Creds, Role, Session, ACCOUNT, REGION};
use drills::judge::judge;
use drills::runtime::{all_actions, Lambda};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use time::OffsetDateTime;

const SCHEDULE_OF_THIS_FUNCTION: &str = "session-revoker-0123456789abcdef-1796040000";

fn template(name: &str) -> PathBuf {
    stack::root().join(name)
}

/// Deploys `path` as a fresh stack, or fails the test with CloudFormation's reasons.
fn deploy_or_fail(path: &std::path::Path, prefix: &str, params: &[(&str, &str)]) -> Deployed {
    let name = format!("{prefix}-{}", fakecloud::nonce());
    tokio::task::block_in_place(|| stack::deploy(path, &name, params, None))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The default stack (every parameter at its default), deployed once per test run.
fn default_stack() -> &'static Deployed {
    static DEFAULT: OnceLock<Deployed> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        let d = deploy_or_fail(&template("template.yaml"), "srd", &[]);
        println!(
            "deployed {} with {}: {} resources",
            d.stack,
            d.transform.as_deref().unwrap_or("no transform"),
            d.resources.len()
        );
        d
    })
}

/// An operator (an IAM user with allow-all) and its ARN.
async fn operator(cloud: &Cloud, name: &str) -> (Creds, String) {
    let creds = cloud.operator(name).await;
    let arn = stack::caller_arn(cloud, &creds).await;
    (creds, arn)
}

/// A session of a deployed role, for the test's operator (its trust opened to it, see
/// `deployed/stack.rs`).
async fn session_of(cloud: &Cloud, role: &Role, operator: &(Creds, String), name: &str) -> Session {
    stack::open_trust(cloud, &role.name, &operator.1).await;
    cloud.assume(&operator.0, role, name).await
}

fn allowed(v: &Value) -> bool {
    v["result"] == "Allowed"
}

/// `(what, request, allowed?)` to iam-simulate: one line for each it judges otherwise.
fn misjudged(cases: &[(&str, Value, bool)]) -> Vec<String> {
    let requests: Vec<Value> = cases.iter().map(|(_, r, _)| r.clone()).collect();
    cases
        .iter()
        .zip(judge(&requests))
        .filter(|((_, _, expected), v)| allowed(v) != *expected)
        .map(|((what, _, expected), v)| {
            format!(
                "{what}: expected {}, iam-simulate says {}",
                if *expected { "Allowed" } else { "refused" },
                v["result"]
            )
        })
        .collect()
}

// ---- the scheduler role -> the function -------------------------------------------------------

/// The follow-up scheduler role: Scheduler may assume it for this function's schedules only, and
/// with it invoke the deployed function (its real ARN) and dead-letter to the deployed queue.
async fn scheduler_edge(cloud: &Cloud, d: &Deployed, op: &(Creds, String)) -> Result<(), String> {
    let role = d.role(&cloud.iam, "FollowUpSchedulerRole").await;
    let trust = stack::trust_policy(cloud, &role.name).await;
    let schedule = |name: &str| {
        format!(
            "arn:aws:scheduler:{REGION}:{}:schedule/default/{name}",
            d.account
        )
    };
    let ask = |source_arn: String| {
        json!({
            "principal": "scheduler.amazonaws.com",
            "action": "sts:AssumeRole",
            "resource": role.arn,
            "resourcePolicy": trust,
            "identityPolicies": [],
            "context": {"aws:SourceAccount": d.account, "aws:SourceArn": source_arn}
        })
    };
    let v = judge(&[
        ask(schedule(SCHEDULE_OF_THIS_FUNCTION)),
        ask(schedule("someone-elses-schedule")),
    ]);
    if !allowed(&v[0]) {
        return Err(format!(
            "sts:AssumeRole on {} by scheduler.amazonaws.com for this function's schedule: {} \
             (trust policy as deployed: {trust})",
            role.arn, v[0]["result"]
        ));
    }
    if allowed(&v[1]) {
        return Err(format!(
            "sts:AssumeRole on {} by scheduler.amazonaws.com for another schedule is allowed: \
             the trust needs aws:SourceArn (trust policy as deployed: {trust})",
            role.arn
        ));
    }

    let s = session_of(cloud, &role, op, "scheduler-edge").await;
    let arn = d.function_arn();
    let verdict = stack::call(&["invoke-dry-run", &arn], Some(&s.creds));
    if verdict["verdict"] != "works" {
        return Err(format!(
            "lambda:InvokeFunction on {arn} as {} (the role Scheduler runs the next look with): \
             {verdict}; its policies as deployed: {}",
            role.arn,
            json!(stack::identity_policies(cloud, &role.name).await)
        ));
    }
    let dlq = d.physical("FollowUpDeadLetterQueue");
    let sent = aws_sdk_sqs::Client::new(&cloud.as_(&s.creds))
        .send_message()
        .queue_url(dlq)
        .message_body("deployed-stack test: a next look Scheduler could not deliver")
        .send()
        .await;
    if let Err(e) = sent {
        return Err(format!(
            "sqs:SendMessage on the follow-up dead-letter queue {dlq} as {}: {e:?}",
            role.arn
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_role_invokes_exactly_the_deployed_function() {
    let cloud = Cloud::connect().await;
    let d = default_stack();
    let op = operator(&cloud, &format!("ds-{}-sched-op", fakecloud::nonce())).await;
    scheduler_edge(&cloud, d, &op)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

// ---- the rule -> the function ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_stacks_rule_may_invoke_the_function() {
    let d = default_stack();
    let policy = stack::call(&["function-policy", d.physical("Function")], None);
    let rule = stack::call(&["rule", &rule_name(d, "FindingRule")], None);
    let rule_arn = rule["Arn"].as_str().expect("the rule's ARN").to_string();
    let ask = |source: &str, account: &str| {
        json!({
            "principal": "events.amazonaws.com",
            "action": "lambda:InvokeFunction",
            "resource": d.function_arn(),
            "resourcePolicy": policy,
            "identityPolicies": [],
            "context": {"aws:SourceArn": source, "aws:SourceAccount": account}
        })
    };
    let other_rule = format!(
        "arn:aws:events:{REGION}:{}:rule/someone-elses-rule",
        d.account
    );
    let v = judge(&[ask(&rule_arn, &d.account), ask(&other_rule, &d.account)]);
    assert!(
        allowed(&v[0]),
        "lambda:InvokeFunction on {} by events.amazonaws.com from the stack's rule {rule_arn}: {} \
         (resource policy as deployed: {policy})",
        d.function_arn(),
        v[0]
    );
    assert!(
        !allowed(&v[1]),
        "another rule may invoke the function: {} (resource policy as deployed: {policy})",
        v[1]
    );
}

/// A rule's name: its physical id (fakecloud gives the name; AWS gives the name too).
fn rule_name(d: &Deployed, logical: &str) -> String {
    let p = d.physical(logical);
    p.rsplit('/').next().unwrap_or(p).to_string()
}

// ---- the function, as the deployed role -------------------------------------------------------

/// A GuardDuty event (`events/assumed-role-event.json`'s shape) naming `stolen`, a session of
/// `role`, in `account`, as GuardDuty would see it now.
fn event_for(account: &str, role: &Role, stolen: &Session) -> Value {
    let text = std::fs::read_to_string(template("events/assumed-role-event.json")).expect("event");
    let mut e: Value = serde_json::from_str(&text).expect("event JSON");
    let now = OffsetDateTime::now_utc();
    let id = format!("{:032x}", now.unix_timestamp_nanos() as u128);
    let detector = "6ec7b0a4c1f6d12b8e3a9c1f0deploy0";
    e["account"] = json!(account);
    e["time"] = json!(utc(now));
    let f = &mut e["detail"];
    f["accountId"] = json!(account);
    f["id"] = json!(id);
    f["arn"] = json!(format!(
        "arn:aws:guardduty:{REGION}:{account}:detector/{detector}/finding/{id}"
    ));
    f["service"]["detectorId"] = json!(detector);
    f["resource"]["accessKeyDetails"] = json!({
        "accessKeyId": stolen.creds.key,
        "principalId": stolen.userid,
        "userType": "AssumedRole",
        "userName": role.name
    });
    let seen = now
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    f["service"]["eventLastSeen"] = json!(seen);
    f["updatedAt"] = json!(seen);
    e
}

/// Runs the built function as `d`'s function role on a finding for `stolen` (a session of
/// `victim`), with the environment CloudFormation gave the deployed function; returns the report,
/// or what the deployed role could not do, naming the call.
async fn run_as_function_role(
    cloud: &Cloud,
    d: &Deployed,
    op: &(Creds, String),
    (account, victim, stolen): (&str, &Role, &Session),
) -> Result<Value, String> {
    let event = event_for(account, victim, stolen);
    run_payload_as_function_role(cloud, d, op, account, &event).await
}

/// Runs the built function as `d`'s function role on `payload` (a GuardDuty event, whose finding
/// the GuardDuty stand-in then serves, or a manual request) acting in `account`; returns the
/// report, or what the deployed role could not do, naming the call.
async fn run_payload_as_function_role(
    cloud: &Cloud,
    d: &Deployed,
    op: &(Creds, String),
    account: &str,
    payload: &Value,
) -> Result<Value, String> {
    let role = d.role(&cloud.iam, "FunctionRole").await;
    let me = session_of(cloud, &role, op, "deployed-function").await;
    let configuration = stack::call(&["function-configuration", d.physical("Function")], None);
    let env: BTreeMap<String, String> = configuration["Environment"]["Variables"]
        .as_object()
        .expect("the deployed function's environment")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let guardduty = guardduty_loopback::GuardDutyLoopback::start();
    let cloudtrail = cloudtrail_loopback::CloudTrailLoopback::start(50);
    if payload["detail"].is_object() {
        guardduty.register(&payload["detail"]);
    }

    let mut settings: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| {
            session_revoker::config::VARIABLES
                .iter()
                .any(|(n, _)| n == k)
        })
        .filter(|(k, _)| k.as_str() != "CUTOFF_MARGIN_SECONDS")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let token = me.creds.token.clone().unwrap_or_default();
    settings.extend([
        // The drills' margin (fakecloud compares issue times at whole seconds).
        ("CUTOFF_MARGIN_SECONDS", "2"),
        ("AWS_ENDPOINT_URL_GUARDDUTY", guardduty.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", cloudtrail.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", me.creds.key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", me.creds.secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", d.physical("Function")),
    ]);
    let lambda = Lambda::start(&d.stack, 1, &settings);
    let invocation = lambda.invoke(payload);
    let report = match &invocation {
        drills::runtime::Invocation::Response(v) => v.clone(),
        other => {
            return Err(format!(
                "the function failed as {}: {}",
                role.arn,
                other.describe()
            ))
        }
    };
    let failed: Vec<String> = all_actions(&report)
        .into_iter()
        .filter(|a| a["status"] == "failed")
        .map(|a| format!("{} {}: {}", a["action"], a["target"], a["detail"]))
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "as the deployed role {}, these calls were refused:\n  {}\nits policies as deployed: {}",
            role.arn,
            failed.join("\n  "),
            json!(stack::identity_policies(cloud, &role.name).await)
        ));
    }

    // The calls no emulator serves, judged against the deployed policies (iam-simulate). Only
    // in the function's own account: the stand-ins do not tell which role's credentials asked.
    if account != d.account {
        return Ok(report);
    }
    let policies = stack::identity_policies(cloud, &role.name).await;
    let mut calls: Vec<(&str, String)> = guardduty
        .requests()
        .iter()
        .map(
            |r| match (r.method.as_str(), r.path.ends_with("/findings/get")) {
                ("POST", true) => ("guardduty:GetFindings", "*".to_string()),
                _ => ("guardduty:ListDetectors", "*".to_string()),
            },
        )
        .collect();
    calls.extend(
        cloudtrail
            .requests()
            .iter()
            .map(|_| ("cloudtrail:LookupEvents", "*".to_string())),
    );
    calls.sort();
    calls.dedup();
    if env.get("VERIFY_FINDINGS").map(String::as_str) == Some("true")
        && payload["detail"].is_object()
        && !calls.iter().any(|(a, _)| *a == "guardduty:GetFindings")
    {
        return Err("VERIFY_FINDINGS is on but the function never asked GuardDuty".into());
    }
    let principal = format!(
        "arn:aws:sts::{}:assumed-role/{}/deployed-function",
        d.account, role.name
    );
    let requests: Vec<Value> = calls
        .iter()
        .map(|(action, resource)| {
            json!({
                "principal": principal,
                "action": action,
                "resource": resource,
                "accountId": d.account,
                "identityPolicies": policies.iter().map(|(n, p)| json!({"name": n, "policy": p})).collect::<Vec<_>>(),
                "context": {}
            })
        })
        .collect();
    for ((action, resource), v) in calls.iter().zip(judge(&requests)) {
        if !allowed(&v) {
            return Err(format!(
                "{action} on {resource} (served by a loopback stand-in) as the deployed role {}: \
                 iam-simulate says {}; its policies as deployed: {}",
                role.arn,
                v["result"],
                json!(policies)
            ));
        }
    }
    Ok(report)
}

/// Drill 1 as deployed: a stolen session of a role, role-wide revocation, every call made with
/// the deployed function role's credentials; the report reaches the deployed topic; the next
/// look is scheduled on the deployed function with the deployed scheduler role and dead-letter
/// queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_contains_a_stolen_session_as_the_deployed_role() {
    let cloud = Cloud::connect().await;
    let d = default_stack();
    let n = fakecloud::nonce();
    let op = operator(&cloud, &format!("ds-{n}-fn-op")).await;
    let victim = cloud.role(&format!("ds-{n}-app")).await;
    let stolen = cloud.assume(&op.0, &victim, "ci-pipeline-9").await;
    assert!(
        cloud.call(&stolen.creds).await.works(),
        "the attacker's call works before"
    );
    // A tag the function reads with the deployed role (from iam:GetRole's answer): `never`
    // changes nothing under the default APPROVAL_REQUIRED=never, so the response below is
    // unchanged.
    cloud
        .iam
        .tag_role()
        .role_name(&victim.name)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("session-revoker:approval")
                .value("never")
                .build()
                .expect("a tag"),
        )
        .send()
        .await
        .expect("TagRole as the administrator");

    let topic = d.physical("ReportTopic").to_string();
    let (_, inbox) = cloud.report_topic(&format!("ds-{n}-inbox")).await;
    cloud.subscribe(&topic, &inbox).await;

    let report = run_as_function_role(&cloud, d, &op, (ACCOUNT, &victim, &stolen))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let revoked = all_actions(&report).into_iter().any(|a| {
        a["action"] == "revoke_role_sessions" && a["target"] == victim.name && a["status"] == "done"
    });
    assert!(revoked, "no role-wide revocation done: {report:#}");
    let v = cloud.call(&stolen.creds).await;
    assert!(v.denied(), "the stolen session after the response: {v}");

    // The later look left the invocation: sent, as the deployed role, to the deployed re-check
    // queue (a refused send would have been settled in the invocation and said so).
    let deny = all_actions(&report)
        .into_iter()
        .find(|a| a["action"] == "revoke_role_sessions" && a["target"] == victim.name)
        .expect("the deny");
    assert_eq!(
        deny["facts"]["recheck"], "queued",
        "the re-check message as the deployed role: {deny}"
    );
    let recheck_url = d.physical("RecheckQueue").to_string();
    let mut sent = Vec::new();
    // The message's delivery delay (30 s, recheck::RECHECK_DELAY_SECONDS) passes before it can
    // be read: up to 50 s of 2 s long polls.
    for _ in 0..25 {
        sent = cloud.messages(&recheck_url).await;
        if !sent.is_empty() {
            break;
        }
    }
    let message: session_revoker::recheck::RecheckMessage = serde_json::from_str(
        sent.first()
            .unwrap_or_else(|| panic!("nothing on the deployed re-check queue {recheck_url}")),
    )
    .expect("a re-check message");
    assert_eq!(
        (message.account.as_str(), message.role.as_str()),
        (ACCOUNT, victim.name.as_str())
    );

    let published = cloud.messages(&inbox).await;
    assert!(
        published.iter().any(|m| m.contains(&victim.name)),
        "no report on the deployed topic {topic}: {published:?}"
    );
    let next = &report["incidents"][0]["follow_up"]["next_look"];
    assert_eq!(
        next["status"], "scheduled",
        "the next look as the deployed role: {next}"
    );
    let schedule = aws_sdk_scheduler::Client::new(&cloud.as_(&Creds {
        key: "test".into(),
        secret: "test".into(),
        token: None,
        minted_by: None,
    }))
    .get_schedule()
    .name(
        next["detail"]
            .as_str()
            .and_then(|d| {
                d.split_whitespace()
                    .find(|w| w.starts_with("session-revoker-"))
            })
            .unwrap_or_else(|| panic!("no schedule named in the next look: {next}")),
    )
    .send()
    .await
    .expect("the schedule the function created");
    let target = schedule.target().expect("target");
    let scheduler_role = d.role(&cloud.iam, "FollowUpSchedulerRole").await;
    assert_eq!(target.arn(), d.function_arn(), "the schedule's target");
    assert_eq!(target.role_arn(), scheduler_role.arn, "the schedule's role");
    let dlq_url = d.physical("FollowUpDeadLetterQueue");
    let dlq_arn = format!(
        "arn:aws:sqs:{REGION}:{}:{}",
        d.account,
        dlq_url.rsplit('/').next().unwrap_or(dlq_url)
    );
    assert_eq!(
        target.dead_letter_config().and_then(|c| c.arn()),
        Some(dlq_arn.as_str()),
        "the schedule's dead-letter queue is the deployed one"
    );
}

// ---- the topic policy ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_function_role_publishes_to_the_report_topic() {
    let cloud = Cloud::connect().await;
    let d = default_stack();
    let n = fakecloud::nonce();
    let op = operator(&cloud, &format!("ds-{n}-pub-op")).await;
    let topic = d.physical("ReportTopic");
    let cloud = &cloud;
    let publish = |creds: Creds| async move {
        aws_sdk_sns::Client::new(&cloud.as_(&creds))
            .publish()
            .topic_arn(topic)
            .message("deployed-stack test")
            .send()
            .await
    };
    let role = d.role(&cloud.iam, "FunctionRole").await;
    let me = session_of(cloud, &role, &op, "publisher").await;
    publish(me.creds.clone()).await.unwrap_or_else(|e| {
        panic!(
            "sns:Publish on {topic} as the function role {}: {e:?}",
            role.arn
        )
    });
    // Everyone else is refused by the topic policy's Deny. fakecloud 0.51 cannot show it: it sets
    // no aws:PrincipalIsAWSService for an IAM caller (AWS sets it on every signed request), so
    // its Deny never matches there. iam-simulate judges the deployed policy instead.
    let other = publish(op.0.clone()).await;
    println!("fakecloud on sns:Publish by another principal (not judged): {other:?}");
    let policy: Value = serde_json::from_str(
        cloud
            .sns
            .get_topic_attributes()
            .topic_arn(topic)
            .send()
            .await
            .expect("GetTopicAttributes")
            .attributes()
            .and_then(|a| a.get("Policy"))
            .expect("the topic policy"),
    )
    .expect("policy JSON");
    let function_policies = stack::identity_policies(cloud, &role.name).await;
    let alarm = |name: &str| format!("arn:aws:cloudwatch:{REGION}:{}:alarm:{name}", d.account);
    let ask = |principal: &str, identity: Value, context: Value| {
        json!({"principal": principal, "action": "sns:Publish", "resource": topic,
               "resourcePolicy": policy, "identityPolicies": identity, "context": context})
    };
    let session = format!(
        "arn:aws:sts::{}:assumed-role/{}/publisher",
        d.account, role.name
    );
    let cases = [
        (
            "the function role",
            ask(
                &session,
                json!(function_policies.values().collect::<Vec<_>>()),
                json!({"aws:PrincipalArn": role.arn, "aws:PrincipalIsAWSService": "false"}),
            ),
            true,
        ),
        (
            "an allow-all user of the account",
            ask(
                &op.1,
                json!([fakecloud::ALLOW_ALL]),
                json!({"aws:PrincipalArn": op.1, "aws:PrincipalIsAWSService": "false"}),
            ),
            false,
        ),
        (
            "this stack's alarm",
            ask(
                "cloudwatch.amazonaws.com",
                json!([]),
                json!({"aws:SourceArn": alarm(&format!("{}-failed-events", d.stack)),
                       "aws:SourceAccount": d.account, "aws:PrincipalIsAWSService": "true"}),
            ),
            true,
        ),
        (
            "another stack's alarm",
            ask(
                "cloudwatch.amazonaws.com",
                json!([]),
                json!({"aws:SourceArn": alarm("other-stack-failed-events"),
                       "aws:SourceAccount": d.account, "aws:PrincipalIsAWSService": "true"}),
            ),
            false,
        ),
    ];
    let wrong = misjudged(&cases);
    assert!(
        wrong.is_empty(),
        "sns:Publish on {topic}, the topic policy as deployed ({policy}):\n  {}",
        wrong.join("\n  ")
    );
}

// ---- the events through the deployed rules ----------------------------------------------------

/// Every EventBridge event in `events/`, and whether the function's rule must pass it on.
const EVENT_FILES: &[(&str, bool)] = &[
    ("assumed-role-event.json", true),
    ("iam-user-key-event.json", true),
    ("instance-exfiltration-event.json", true),
    ("member-account-event.json", true),
    ("other-region-finding-event.json", true),
    ("sample-finding-event.json", true),
    // GuardDuty's attack sequence (resourceType AttackSequence): its credentials are contained.
    ("attack-sequence-event.json", true),
    // Root: manual steps only (and Low).
    ("root-credential-event.json", false),
    // Not a credential finding.
    ("unsupported-finding-event.json", false),
    // Security Hub's events reach the function only through the custom action rule.
    ("securityhub-custom-action-event.json", false),
    ("securityhub-imported-event.json", false),
];

/// Finding types the README and DESIGN.md name, with GuardDuty's severity and the resource type
/// their findings carry, and whether the function's rule must pass them on.
const FINDING_TYPES: &[(&str, f64, &str, bool)] = &[
    (
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        8.0,
        "AccessKey",
        true,
    ),
    (
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
        8.0,
        "AccessKey",
        true,
    ),
    (
        "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS",
        8.0,
        "AccessKey",
        true,
    ),
    (
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "UnauthorizedAccess:IAMUser/TorIPCaller",
        5.0,
        "AccessKey",
        true,
    ),
    ("Recon:IAMUser/MaliciousIPCaller", 5.0, "AccessKey", true),
    (
        "Recon:IAMUser/MaliciousIPCaller.Custom",
        5.0,
        "AccessKey",
        true,
    ),
    ("Recon:IAMUser/TorIPCaller", 5.0, "AccessKey", true),
    (
        "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "Exfiltration:IAMUser/AnomalousBehavior",
        8.0,
        "AccessKey",
        true,
    ),
    ("Impact:IAMUser/AnomalousBehavior", 8.0, "AccessKey", true),
    (
        "CredentialAccess:IAMUser/AnomalousBehavior",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "DefenseEvasion:IAMUser/AnomalousBehavior",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "InitialAccess:IAMUser/AnomalousBehavior",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "Persistence:IAMUser/AnomalousBehavior",
        5.0,
        "AccessKey",
        true,
    ),
    (
        "PrivilegeEscalation:IAMUser/AnomalousBehavior",
        5.0,
        "AccessKey",
        true,
    ),
    ("PenTest:IAMUser/KaliLinux", 5.0, "AccessKey", true),
    ("PenTest:IAMUser/ParrotLinux", 5.0, "AccessKey", true),
    ("PenTest:IAMUser/PentooLinux", 5.0, "AccessKey", true),
    // Discovery is Low: below the default minimum severity.
    (
        "Discovery:IAMUser/AnomalousBehavior",
        2.0,
        "AccessKey",
        false,
    ),
    // Attack sequences of stolen credentials (issue 24): resourceType AttackSequence.
    (
        "AttackSequence:IAM/CompromisedCredentials",
        9.0,
        "AttackSequence",
        true,
    ),
    (
        "AttackSequence:S3/CompromisedData",
        9.0,
        "AttackSequence",
        true,
    ),
    // Known, not revocable this way.
    (
        "AttackSequence:EKS/CompromisedCluster",
        9.0,
        "AttackSequence",
        false,
    ),
    (
        "Policy:IAMUser/RootCredentialUsage",
        2.0,
        "AccessKey",
        false,
    ),
    (
        "Stealth:IAMUser/CloudTrailLoggingDisabled",
        2.0,
        "AccessKey",
        false,
    ),
    ("Recon:EC2/PortProbeUnprotectedPort", 2.0, "Instance", false),
];

fn synthetic(kind: &str, severity: f64, resource_type: &str) -> Value {
    json!({
        "version": "0", "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": ACCOUNT, "time": "2026-12-01T00:00:00Z", "region": REGION, "resources": [],
        "detail": {"type": kind, "severity": severity, "accountId": ACCOUNT,
                   "resource": {"resourceType": resource_type}}
    })
}

/// `(label, event, expected)` for every file of `events/` (each must be in `files`) and every
/// finding type of `types`.
fn cases(files: &[(&str, bool)], types: &[(&str, f64, &str, bool)]) -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(template("events")).expect("events/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read"))
            .expect("events/ holds JSON");
        if event.get("detail-type").is_none() {
            continue; // not an EventBridge event (a bare finding, a manual request)
        }
        let expected = files
            .iter()
            .find(|(f, _)| *f == name)
            .unwrap_or_else(|| panic!("events/{name} is not classified in EVENT_FILES"))
            .1;
        out.push((format!("events/{name}"), event, expected));
    }
    for (kind, severity, resource_type, expected) in types {
        out.push((
            format!("{kind} ({severity})"),
            synthetic(kind, *severity, resource_type),
            *expected,
        ));
    }
    out
}

/// The deployed rule `logical` of `d` against `cases`, with fakecloud's `TestEventPattern`.
fn route(d: &Deployed, logical: &str, cases: &[(String, Value, bool)]) -> Vec<String> {
    route_pattern(d, logical, &deployed_pattern(d, logical), cases)
}

fn deployed_pattern(d: &Deployed, logical: &str) -> String {
    let rule = stack::call(&["rule", &rule_name(d, logical)], None);
    rule["EventPattern"]
        .as_str()
        .expect("the rule's pattern")
        .to_string()
}

fn route_pattern(
    d: &Deployed,
    logical: &str,
    pattern: &str,
    cases: &[(String, Value, bool)],
) -> Vec<String> {
    let dir = std::env::temp_dir();
    let n = fakecloud::nonce();
    let pattern_file = dir.join(format!("deployed-{n}-{logical}-pattern.json"));
    let events_file = dir.join(format!("deployed-{n}-{logical}-events.json"));
    std::fs::write(&pattern_file, pattern).expect("write");
    let events: Vec<&Value> = cases.iter().map(|(_, e, _)| e).collect();
    std::fs::write(&events_file, serde_json::to_string(&events).expect("json")).expect("write");
    let results = stack::call(
        &[
            "test-event-pattern",
            pattern_file.to_str().expect("path"),
            events_file.to_str().expect("path"),
        ],
        None,
    );
    let _ = std::fs::remove_file(&pattern_file);
    let _ = std::fs::remove_file(&events_file);
    cases
        .iter()
        .zip(results["results"].as_array().expect("results"))
        .filter(|((_, _, expected), got)| got.as_bool() != Some(*expected))
        .map(|((label, _, expected), got)| {
            format!(
                "{} {label}: expected {expected}, the deployed pattern says {got}",
                d.stack
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deployed_rules_pass_on_credential_findings_only() {
    let d = default_stack();
    // FindingTypes empty: the built-in pattern (every AccessKey finding, the credential attack
    // sequences).
    let builtin = deploy_or_fail(&template("template.yaml"), "srb", &[("FindingTypes", "")]);
    // The pattern as CloudFormation resolved it: the severity floor is MinSeverity's default and
    // the type list FindingTypes' default (read from the template, not evaluated here).
    let parameters: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(template("template.yaml")).expect("read"))
            .expect("template.yaml");
    let default = |p: &str| -> String {
        match &parameters["Parameters"][p]["Default"] {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            other => panic!("{p}: default {other:?}"),
        }
    };
    let types: Vec<String> = default("FindingTypes")
        .split(',')
        .map(|t| t.trim().to_string())
        .collect();
    let floor: f64 = default("MinSeverity").parse().expect("MinSeverity");
    let rule = stack::call(&["rule", &rule_name(d, "FindingRule")], None);
    let pattern: Value = serde_json::from_str(rule["EventPattern"].as_str().expect("pattern"))
        .expect("JSON pattern");
    assert_eq!(pattern["source"], json!(["aws.guardduty"]), "{pattern}");
    assert_eq!(
        pattern["detail-type"],
        json!(["GuardDuty Finding"]),
        "{pattern}"
    );
    assert_eq!(
        pattern["detail"]["severity"],
        json!([{"numeric": [">=", floor]}]),
        "{pattern}"
    );
    assert_eq!(
        pattern["detail"]["type"],
        json!(types),
        "the deployed rule's types: {pattern}"
    );

    let all = cases(EVENT_FILES, FINDING_TYPES);
    let mut wrong = route(d, "FindingRule", &all);
    wrong.extend(route(&builtin, "FindingRule", &all));
    assert!(wrong.is_empty(), "misrouted:\n  {}", wrong.join("\n  "));
}

/// Security Hub's custom action reaches the function only from its own action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_action_rule_passes_on_its_own_action_only() {
    let d = deploy_or_fail(
        &template("template.yaml"),
        "srh",
        &[("SecurityHubCustomAction", "true")],
    );
    let action = format!(
        "arn:aws:securityhub:{REGION}:{}:action/custom/RevokeSessions",
        d.account
    );
    let text = std::fs::read_to_string(template("events/securityhub-custom-action-event.json"))
        .expect("event");
    let own: Value = serde_json::from_str(&text.replace(ACCOUNT, &d.account)).expect("json");
    let mut other = own.clone();
    other["resources"] = json!([format!(
        "arn:aws:securityhub:{REGION}:{}:action/custom/Other",
        d.account
    )]);
    let imported: Value = serde_json::from_str(
        &std::fs::read_to_string(template("events/securityhub-imported-event.json"))
            .expect("event"),
    )
    .expect("json");
    let guardduty = synthetic(
        "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        5.0,
        "AccessKey",
    );
    let all = vec![
        ("its own action".to_string(), own, true),
        ("another custom action".to_string(), other, false),
        ("a Security Hub import".to_string(), imported, false),
        ("a GuardDuty event".to_string(), guardduty, false),
    ];
    // fakecloud records AWS::SecurityHub::ActionTarget without creating it, so its
    // ActionTargetArn reaches the pattern as a placeholder: it is replaced by the ARN Security
    // Hub gives an action of that Id (what `cfn-lint` checks the resource's schema against),
    // and nothing else in the deployed pattern is touched.
    let mut pattern: Value =
        serde_json::from_str(&deployed_pattern(&d, "CustomActionRule")).expect("pattern JSON");
    let resources = pattern["resources"].as_array().expect("resources").clone();
    assert_eq!(resources.len(), 1, "one custom action in {pattern}");
    if resources[0] != json!(action) {
        println!(
            "fakecloud's ActionTargetArn: {} (replaced by {action})",
            resources[0]
        );
        pattern["resources"] = json!([action]);
    }
    let wrong = route_pattern(&d, "CustomActionRule", &pattern.to_string(), &all);
    assert!(
        wrong.is_empty(),
        "misrouted (the action's ARN should be {action}):\n  {}",
        wrong.join("\n  ")
    );
}

// ---- the region forwarder ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forwarder_puts_credential_findings_on_the_home_bus_only() {
    let cloud = Cloud::connect().await;
    let home = "eu-west-1";
    let d = deploy_or_fail(
        &template("region-forwarder.yaml"),
        "srf",
        &[("HomeRegion", home)],
    );
    let role = d.role(&cloud.iam, "ForwarderRole").await;
    let trust = stack::trust_policy(&cloud, &role.name).await;
    let policies = stack::identity_policies(&cloud, &role.name).await;
    let bus = |region: &str, name: &str| {
        format!("arn:aws:events:{region}:{}:event-bus/{name}", d.account)
    };
    let put = |resource: String| {
        json!({
            "principal": format!("arn:aws:sts::{}:assumed-role/{}/forwarder", d.account, role.name),
            "action": "events:PutEvents",
            "resource": resource,
            "identityPolicies": policies.values().collect::<Vec<_>>(),
            "context": {}
        })
    };
    let assume = |account: &str| {
        json!({
            "principal": "events.amazonaws.com",
            "action": "sts:AssumeRole",
            "resource": role.arn,
            "resourcePolicy": trust,
            "identityPolicies": [],
            "context": {"aws:SourceAccount": account,
                        "aws:SourceArn": format!("arn:aws:events:{REGION}:{account}:rule/x")}
        })
    };
    let edges = [
        (
            "events:PutEvents on the home bus",
            put(bus(home, "default")),
            true,
        ),
        (
            "events:PutEvents on another bus of the home region",
            put(bus(home, "other")),
            false,
        ),
        (
            "events:PutEvents on this region's bus",
            put(bus(REGION, "default")),
            false,
        ),
        (
            "EventBridge of this account assumes the forwarder role",
            assume(&d.account),
            true,
        ),
        (
            "EventBridge of another account assumes the forwarder role",
            assume("111122223333"),
            false,
        ),
    ];
    let wrong = misjudged(&edges);
    assert!(
        wrong.is_empty(),
        "the forwarder role as deployed ({}; policies {}; trust {trust}):\n  {}",
        role.arn,
        json!(policies),
        wrong.join("\n  ")
    );

    // Its rule: every credential finding (any severity: the home rule filters), nothing else.
    let forwarded = |e: &Value| {
        e["source"] == "aws.guardduty"
            && (e["detail"]["resource"]["resourceType"] == "AccessKey"
                || [
                    "AttackSequence:IAM/CompromisedCredentials",
                    "AttackSequence:S3/CompromisedData",
                ]
                .contains(&e["detail"]["type"].as_str().unwrap_or_default()))
    };
    let all: Vec<(String, Value, bool)> = cases(EVENT_FILES, FINDING_TYPES)
        .into_iter()
        .map(|(l, e, _)| {
            let f = forwarded(&e);
            (l, e, f)
        })
        .collect();
    let wrong = route(&d, "FindingForwardRule", &all);
    assert!(wrong.is_empty(), "misforwarded:\n  {}", wrong.join("\n  "));
}

// ---- organization mode: the member role in another account --------------------------------------

const MEMBER_ACCOUNT: &str = "210987654321";
const OUTSIDE_ACCOUNT: &str = "310987654321";
/// A member account whose member role is deployed from a planted mistake.
const PLANTED_ACCOUNT: &str = "410987654321";

/// An administrator of another fakecloud account (fakecloud's `create-admin`).
fn admin_of(account: &str) -> Creds {
    let v = stack::call(
        &[
            "create-admin",
            account,
            &format!("admin-{}", fakecloud::nonce()),
        ],
        None,
    );
    Creds {
        key: v["accessKeyId"].as_str().expect("key").to_string(),
        secret: v["secretAccessKey"].as_str().expect("secret").to_string(),
        token: None,
        minted_by: None,
    }
}

/// `AssumeRole` on `role_arn` with `creds`, with or without an external id.
async fn assume_with(
    cloud: &Cloud,
    creds: &Creds,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<Creds, String> {
    aws_sdk_sts::Client::new(&cloud.as_(creds))
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("session-revoker")
        .set_external_id(external_id.map(str::to_string))
        .send()
        .await
        .map(|o| {
            let c = o.credentials().expect("credentials");
            Creds {
                key: c.access_key_id().to_string(),
                secret: c.secret_access_key().to_string(),
                token: Some(c.session_token().to_string()),
                minted_by: Some(OffsetDateTime::now_utc()),
            }
        })
        .map_err(|e| format!("{:?}", aws_sdk_sts::error::ProvideErrorMetadata::code(&e)))
}

/// The member role's trust as deployed, judged by iam-simulate: the function role's session with
/// the external id may assume it; without it, with another id, or as a role of a similar name,
/// not. (fakecloud 0.51 cannot judge these conditions: it gives a role session's
/// aws:PrincipalArn as the session's ARN where AWS gives the role's, and puts no sts:ExternalId
/// in the context of a cross-account AssumeRole.)
fn member_trust(
    trust: &Value,
    member_role: &str,
    function_role: &Role,
    similar_role: &Role,
    external_id: &str,
) -> Result<(), String> {
    let ask = |role: &Role, id: Option<&str>| {
        let mut context = json!({"aws:PrincipalArn": role.arn, "aws:PrincipalAccount": ACCOUNT});
        if let Some(id) = id {
            context["sts:ExternalId"] = json!(id);
        }
        json!({
            "principal": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{}/session-revoker", role.name),
            "action": "sts:AssumeRole",
            "resource": member_role,
            "resourcePolicy": trust,
            "identityPolicies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}],
            "context": context
        })
    };
    let cases = [
        (
            "by the function role with the external id",
            ask(function_role, Some(external_id)),
            true,
        ),
        (
            "by the function role without the external id",
            ask(function_role, None),
            false,
        ),
        (
            "by the function role with another external id",
            ask(function_role, Some("not-the-id")),
            false,
        ),
        (
            "by a role of a similar name with the external id",
            ask(similar_role, Some(external_id)),
            false,
        ),
    ];
    let wrong = misjudged(&cases);
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "sts:AssumeRole on {member_role}:\n  {}\n  trust policy as deployed: {trust}",
            wrong.join("\n  ")
        ))
    }
}

/// An organization deployment: member-role.yaml in a second account, the administrator stack
/// with its name, external id and allowed account. Judged by fakecloud: the trust, the grant, and
/// the function (as the deployed role) containing a stolen session in the member account through
/// the member role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_mode_reaches_the_member_role_and_nothing_else() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let member_name = format!("srm-{n}-member");
    let external_id = format!("ext-{n}-id");
    let allowed = format!("{ACCOUNT},{MEMBER_ACCOUNT},{PLANTED_ACCOUNT}");
    let admin_stack = deploy_or_fail(
        &template("template.yaml"),
        "sro",
        &[
            ("MemberRoleName", member_name.as_str()),
            ("MemberRoleExternalId", external_id.as_str()),
            ("AllowedAccounts", allowed.as_str()),
        ],
    );
    let function_role = admin_stack.role(&cloud.iam, "FunctionRole").await;
    let member_admin = admin_of(MEMBER_ACCOUNT);
    let member = tokio::task::block_in_place(|| {
        stack::deploy(
            &template("member-role.yaml"),
            &format!("srm-{n}"),
            &[
                ("AdministratorAccountId", ACCOUNT),
                ("ResponderRoleName", function_role.name.as_str()),
                ("RoleName", member_name.as_str()),
                ("ExternalId", external_id.as_str()),
            ],
            Some(&member_admin),
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(member.account, MEMBER_ACCOUNT, "the member stack's account");

    // A role of the same name in an account that is not allowed, trusting the administrator
    // account without conditions (what an outsider would set up).
    let outsider = aws_sdk_iam::Client::new(&cloud.as_(&admin_of(OUTSIDE_ACCOUNT)));
    let outside_role = outsider
        .create_role()
        .role_name(&member_name)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .expect("the outsider's role")
        .role()
        .expect("role")
        .arn()
        .to_string();

    let op = operator(&cloud, &format!("ds-{n}-org-op")).await;
    let function = session_of(&cloud, &function_role, &op, "org-function").await;
    let similar_role = cloud.role(&format!("{}x", function_role.name)).await;
    let member_iam = aws_sdk_iam::Client::new(&cloud.as_(&member_admin));
    let member_role = member.role(&member_iam, "MemberRole").await;
    let trust = member_trust_policy(&member_iam, &member_role.name).await;
    member_trust(
        &trust,
        &member_role.arn,
        &function_role,
        &similar_role,
        &external_id,
    )
    .unwrap_or_else(|e| panic!("the member role's trust as deployed:\n  {e}"));
    // Its permissions (iam-simulate): GuardDuty's copy of a finding on "*"; with
    // ReassociateInstanceProfile at its default, no iam:PassRole and no re-association.
    let instance = format!("arn:aws:ec2:{REGION}:{MEMBER_ACCOUNT}:instance/i-0123456789abcdef0");
    let passed = format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/app-instance-role");
    let may = role_may(
        &member_iam,
        &member,
        "MemberRole",
        &[
            ("guardduty:GetFindings", "*", json!({})),
            (
                "iam:PassRole",
                &passed,
                json!({"iam:PassedToService": "ec2.amazonaws.com"}),
            ),
            ("ec2:AssociateIamInstanceProfile", &instance, json!({})),
        ],
    )
    .await;
    assert_eq!(
        may,
        [true, false, false],
        "the member role as deployed: guardduty:GetFindings on * (expected allowed), \
         iam:PassRole to EC2 and ec2:AssociateIamInstanceProfile with \
         ReassociateInstanceProfile=false (expected refused)"
    );

    // The function role's own grant, judged by fakecloud: with the member role's trust opened to
    // the administrator account for the test (its conditions are judged above), the function
    // role assumes the member role, and not a role of that name outside AllowedAccounts.
    let mut opened = trust.clone();
    opened["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(json!({
            "Sid": "DeployedStackTestOnly", "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"
        }));
    member_iam
        .update_assume_role_policy()
        .role_name(&member_role.name)
        .policy_document(opened.to_string())
        .send()
        .await
        .expect("open the member role's trust for the test");
    if let Err(e) = assume_with(
        &cloud,
        &function.creds,
        &member_role.arn,
        Some(&external_id),
    )
    .await
    {
        panic!(
            "sts:AssumeRole on {} by the deployed function role: {e}",
            member_role.arn
        );
    }
    let outside = assume_with(&cloud, &function.creds, &outside_role, Some(&external_id)).await;
    assert!(
        outside.is_err(),
        "sts:AssumeRole on {outside_role} (a role of the member role's name outside \
         AllowedAccounts) by the deployed function role is allowed"
    );

    // Planted: member-role.yaml without its external id condition. The judge must say so.
    let planted = stack::planted(
        "member-role.yaml",
        "                StringEquals:\n                  sts:ExternalId: !Ref ExternalId\n",
        "",
    );
    let planted_admin = admin_of(PLANTED_ACCOUNT);
    let planted_stack = tokio::task::block_in_place(|| {
        stack::deploy(
            &planted,
            &format!("srp-{n}"),
            &[
                ("AdministratorAccountId", ACCOUNT),
                ("ResponderRoleName", function_role.name.as_str()),
                ("RoleName", member_name.as_str()),
                ("ExternalId", external_id.as_str()),
            ],
            Some(&planted_admin),
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let planted_iam = aws_sdk_iam::Client::new(&cloud.as_(&planted_admin));
    let planted_role = planted_stack.role(&planted_iam, "MemberRole").await;
    let planted_trust = member_trust_policy(&planted_iam, &planted_role.name).await;
    let caught = member_trust(
        &planted_trust,
        &planted_role.arn,
        &function_role,
        &similar_role,
        &external_id,
    );
    let expected = "by the function role without the external id: expected refused";
    assert!(
        caught
            .as_ref()
            .is_err_and(|e| e.contains(expected) && e.contains(&planted_role.arn)),
        "the planted member role without the external id condition was not caught as \
         {expected:?}: {caught:?}"
    );
    println!(
        "planted (member role without the external id) caught:\n  {}",
        caught.unwrap_err()
    );

    // The function, as the deployed role, in the member account: a stolen session of a role
    // there is contained through the member role (every call judged by fakecloud in that
    // account, against member-role.yaml's policies as deployed).
    let victim_name = format!("srm-{n}-app");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{MEMBER_ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
    member_iam
        .create_role()
        .role_name(&victim_name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("victim role");
    member_iam
        .put_role_policy()
        .role_name(&victim_name)
        .policy_name("AllowAll")
        .policy_document(fakecloud::ALLOW_ALL)
        .send()
        .await
        .expect("victim policy");
    let victim = admin_stack_role(&member_iam, &victim_name).await;
    let stolen_creds = assume_with(&cloud, &member_admin, &victim.arn, None)
        .await
        .expect("the victim's session");
    let stolen = Session {
        name: "session-revoker".into(),
        userid: format!("{}:session-revoker", victim.id),
        creds: stolen_creds,
    };
    assert!(
        cloud.call(&stolen.creds).await.works(),
        "the attacker's call works before"
    );
    let report = run_as_function_role(
        &cloud,
        &admin_stack,
        &op,
        (MEMBER_ACCOUNT, &victim, &stolen),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let revoked = all_actions(&report)
        .into_iter()
        .any(|a| a["target"] == victim.name && a["status"] == "done");
    assert!(
        revoked,
        "no revocation done in the member account: {report:#}"
    );
    let v = cloud.call(&stolen.creds).await;
    assert!(
        v.denied(),
        "the stolen session in the member account after the response: {v}"
    );
}

async fn admin_stack_role(iam: &aws_sdk_iam::Client, name: &str) -> Role {
    let out = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .expect("GetRole");
    let r = out.role().expect("role");
    Role {
        name: r.role_name().to_string(),
        arn: r.arn().to_string(),
        id: r.role_id().to_string(),
    }
}

// ---- grants that depend on parameters ---------------------------------------------------------

/// `(action, resource, context)` a function role may be asked for, judged by iam-simulate against
/// `d`'s function role policies as deployed: true where Allowed.
async fn function_role_may(cloud: &Cloud, d: &Deployed, asks: &[(&str, &str, Value)]) -> Vec<bool> {
    role_may(&cloud.iam, d, "FunctionRole", asks).await
}

/// The same for the role `logical` of `d`, read through `iam` (the stack's account).
async fn role_may(
    iam: &aws_sdk_iam::Client,
    d: &Deployed,
    logical: &str,
    asks: &[(&str, &str, Value)],
) -> Vec<bool> {
    let role = d.role(iam, logical).await;
    let policies = stack::identity_policies_with(iam, &role.name).await;
    let requests: Vec<Value> = asks
        .iter()
        .map(|(action, resource, context)| {
            json!({
                "principal": format!("arn:aws:sts::{}:assumed-role/{}/f", d.account, role.name),
                "action": action,
                "resource": resource,
                "accountId": d.account,
                "identityPolicies": policies.values().collect::<Vec<_>>(),
                "context": context
            })
        })
        .collect();
    judge(&requests).iter().map(allowed).collect()
}

/// The calls `ReassociateInstanceProfile=true` grants in `account` (template and member role):
/// `(action, resource, context)` for [`role_may`], with owned resources.
fn reassociation_asks(account: &str) -> Vec<(&'static str, String, Value)> {
    let instance = format!("arn:aws:ec2:{REGION}:{account}:instance/i-0123456789abcdef0");
    vec![
        (
            "iam:PassRole",
            format!("arn:aws:iam::{account}:role/app-instance-role"),
            json!({"iam:PassedToService": "ec2.amazonaws.com"}),
        ),
        (
            "ec2:AssociateIamInstanceProfile",
            instance.clone(),
            json!({}),
        ),
        (
            "ec2:ReplaceIamInstanceProfileAssociation",
            instance.clone(),
            json!({}),
        ),
        ("ec2:DisassociateIamInstanceProfile", instance, json!({})),
    ]
}

/// `asks` borrowed the way [`role_may`] takes them.
fn as_asks<'a>(asks: &'a [(&'static str, String, Value)]) -> Vec<(&'static str, &'a str, Value)> {
    asks.iter()
        .map(|(action, resource, context)| (*action, resource.as_str(), context.clone()))
        .collect()
}

/// ReassociateInstanceProfile, Identity Center, the chat topic, organization mode: each grant is
/// there exactly when its parameter asks for it (EC2 and Identity Center are not enforced by
/// fakecloud: iam-simulate judges the deployed policies; the chat topic is published to for real).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_grants_follow_their_parameters() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let (_, chat_inbox) = cloud.report_topic(&format!("ds-{n}-chat")).await;
    let chat_topic = format!("arn:aws:sns:{REGION}:{ACCOUNT}:ds-{n}-chat");
    let _ = chat_inbox;
    let sso = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
    let on = deploy_or_fail(
        &template("template.yaml"),
        "sra",
        &[
            ("ReassociateInstanceProfile", "true"),
            ("IdentityCenterInstanceArn", sso),
            ("ChatTopicArn", chat_topic.as_str()),
        ],
    );
    let off = default_stack();
    let permission_set = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef";
    let reassociation = reassociation_asks(ACCOUNT);
    let mut asks = as_asks(&reassociation);
    asks.extend([
        (
            "sso:PutInlinePolicyToPermissionSet",
            permission_set,
            json!({}),
        ),
        ("sso:ProvisionPermissionSet", permission_set, json!({})),
    ]);
    let with = function_role_may(&cloud, &on, &asks).await;
    let without = function_role_may(&cloud, off, &asks).await;
    let mut wrong = Vec::new();
    for (((action, resource, _), w), wo) in asks.iter().zip(&with).zip(&without) {
        if !w {
            wrong.push(format!(
                "{action} on {resource}: refused although its parameter is on"
            ));
        }
        if *wo {
            wrong.push(format!(
                "{action} on {resource}: allowed with every parameter at its default"
            ));
        }
    }
    // The chat topic: published to for real (fakecloud), only by the stack that names it.
    let op = operator(&cloud, &format!("ds-{n}-chat-op")).await;
    for (d, expected) in [(&on, true), (off, false)] {
        let role = d.role(&cloud.iam, "FunctionRole").await;
        let s = session_of(&cloud, &role, &op, "chat").await;
        let sent = aws_sdk_sns::Client::new(&cloud.as_(&s.creds))
            .publish()
            .topic_arn(&chat_topic)
            .message("deployed-stack test")
            .send()
            .await;
        if sent.is_ok() != expected {
            wrong.push(format!(
                "sns:Publish on the chat topic as {}: {sent:?}",
                role.arn
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "conditional grants as deployed:\n  {}",
        wrong.join("\n  ")
    );
}

/// GuardDuty's GetFindings has no resource type (the Service Authorization Reference, as
/// iam-simulate's data has it): the deployed grants must allow it on "*", which is what IAM
/// evaluates such a request against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_findings_is_granted_as_iam_evaluates_it() {
    let cloud = Cloud::connect().await;
    let d = default_stack();
    let may = function_role_may(&cloud, d, &[("guardduty:GetFindings", "*", json!({}))]).await;
    assert!(
        may[0],
        "guardduty:GetFindings on * is refused to the deployed function role"
    );
}

/// Organization mode without AllowedAccounts: member roles of this organization only
/// (aws:ResourceOrgID, which fakecloud does not set: judged by iam-simulate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_roles_outside_the_organization_are_never_assumed() {
    let cloud = Cloud::connect().await;
    let d = deploy_or_fail(
        &template("template.yaml"),
        "srg",
        &[("MemberRoleName", "srg-member")],
    );
    let role = format!("arn:aws:iam::{MEMBER_ACCOUNT}:role/srg-member");
    let ctx = |org: &str| json!({"aws:ResourceOrgID": org, "aws:PrincipalOrgID": "o-aaaaaaaaaa"});
    let may = function_role_may(
        &cloud,
        &d,
        &[
            ("sts:AssumeRole", &role, ctx("o-aaaaaaaaaa")),
            ("sts:AssumeRole", &role, ctx("o-bbbbbbbbbb")),
        ],
    )
    .await;
    assert_eq!(
        may,
        [true, false],
        "sts:AssumeRole on {role}: a member role in the organization (expected allowed), in \
         another organization (expected refused)"
    );
}

// ---- planted mistakes -------------------------------------------------------------------------

/// The function renamed (FunctionName no longer the stack name): the scheduler role's grant no
/// longer matches, and the judge says which call on which resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_renamed_function_is_caught_at_the_scheduler_invoke() {
    let cloud = Cloud::connect().await;
    let path = stack::planted(
        "template.yaml",
        "      FunctionName: !Ref AWS::StackName\n",
        "      FunctionName: !Sub '${AWS::StackName}-renamed'\n",
    );
    let d = deploy_or_fail(&path, "srr", &[]);
    let op = operator(&cloud, &format!("ds-{}-ren-op", fakecloud::nonce())).await;
    let caught = scheduler_edge(&cloud, &d, &op).await;
    let expected = format!("lambda:InvokeFunction on {}", d.function_arn());
    assert!(
        caught.as_ref().is_err_and(|e| e.contains(&expected)),
        "the renamed function was not caught as {expected:?}: {caught:?}"
    );
    println!(
        "planted (renamed function) caught:\n  {}",
        caught.unwrap_err()
    );
}

/// One resource ARN removed from a policy (the function role may no longer read roles), and
/// GetFindings granted on detectors again: running the function as the deployed role fails,
/// naming the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_missing_grants_are_caught_when_the_function_runs() {
    let cloud = Cloud::connect().await;
    let plants = [
        (
            "srx",
            "                  - !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*'\n                  - !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*'\n",
            "                  - !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*'\n",
            "iam:GetRole",
        ),
        (
            "sry",
            "                Action: guardduty:GetFindings\n                Resource: '*'\n",
            "                Action: guardduty:GetFindings\n                Resource: !Sub 'arn:${AWS::Partition}:guardduty:*:${AWS::AccountId}:detector/*'\n",
            "guardduty:GetFindings on *",
        ),
    ];
    for (prefix, from, to, call) in plants {
        let d = deploy_or_fail(&stack::planted("template.yaml", from, to), prefix, &[]);
        let n = fakecloud::nonce();
        let op = operator(&cloud, &format!("ds-{n}-{prefix}-op")).await;
        let victim = cloud.role(&format!("ds-{n}-{prefix}-app")).await;
        let stolen = cloud.assume(&op.0, &victim, "ci-pipeline-9").await;
        let caught = run_as_function_role(&cloud, &d, &op, (ACCOUNT, &victim, &stolen)).await;
        assert!(
            caught.as_ref().is_err_and(|e| e.contains(call)),
            "{prefix}: the planted mistake was not caught naming {call:?}: {caught:?}"
        );
        println!("planted ({prefix}) caught:\n  {}", caught.unwrap_err());
    }
}

async fn member_trust_policy(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let out = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("GetRole");
    let doc = out
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("a trust policy");
    serde_json::from_str(&fakecloud::decode(doc)).expect("trust JSON")
}
