//! The paths beside drill 1, run as the deployed function role: an IAM user's stolen key (its
//! deactivation and the user's deny: `iam:GetUser`, `ListAccessKeys`, `UpdateAccessKey`,
//! `PutUserPolicy` on the user as deployed) and a forced restore of a role-wide deny
//! (`GetRolePolicy` and `DeleteRolePolicy`/`PutRolePolicy` on the role as deployed). fakecloud
//! judges each call against the deployed role's policies, and then judges the outcome: the key
//! refused, the restored session let in again.

use crate::deployed::stack::Deployed;
use crate::drills::fakecloud::{self, utc, Cloud, Creds, User, ACCOUNT, REGION};
use crate::drills::runtime::all_actions;
use crate::{default_stack, event_for, operator, run_payload_as_function_role};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// `events/iam-user-key-event.json`'s finding, naming `key` of `user` in `account`, seen now.
fn user_key_event(account: &str, user: &User, key: &Creds) -> Value {
    let path = crate::template("events/iam-user-key-event.json");
    let text = std::fs::read_to_string(path).expect("events/iam-user-key-event.json");
    let mut e: Value = serde_json::from_str(&text).expect("event JSON");
    let now = OffsetDateTime::now_utc();
    let id = format!("{:032x}", now.unix_timestamp_nanos() as u128);
    let detector = "6ec7b0a4c1f6d12b8e3a9c1f0deploy1";
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
        "accessKeyId": key.key,
        "principalId": user.id,
        "userType": "IAMUser",
        "userName": user.name
    });
    let seen = utc(now);
    f["service"]["eventLastSeen"] = json!(seen);
    f["updatedAt"] = json!(seen);
    e
}

fn done(report: &Value, action: &str, target: &str) -> bool {
    all_actions(report)
        .into_iter()
        .any(|a| a["action"] == action && a["target"] == target && a["status"] == "done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_user_key_is_contained_as_the_deployed_role() {
    let cloud = Cloud::connect().await;
    let d: &Deployed = default_stack();
    let n = fakecloud::nonce();
    let op = operator(&cloud, &format!("ds-{n}-uk-op")).await;
    let user = cloud.user(&format!("ds-{n}-ci-bot")).await;
    let key = cloud.key(&user.name).await;
    assert!(
        cloud.call(&key).await.works(),
        "the stolen key works before"
    );

    let event = user_key_event(ACCOUNT, &user, &key);
    let report = run_payload_as_function_role(&cloud, d, &op, ACCOUNT, &event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        all_actions(&report)
            .iter()
            .any(|a| a["action"] == "deactivate_access_key" && a["status"] == "done"),
        "the key was not deactivated as the deployed role: {report:#}"
    );
    assert!(
        all_actions(&report)
            .iter()
            .any(|a| a["action"] == "revoke_user_sessions" && a["status"] == "done"),
        "the user's sessions were not denied as the deployed role: {report:#}"
    );
    let statuses = cloud.key_statuses(&user.name).await;
    assert_eq!(
        statuses.get(&key.key).map(String::as_str),
        Some("Inactive"),
        "the stolen key's status after the response: {statuses:?}"
    );
    let v = cloud.call(&key).await;
    assert!(v.refused(), "the stolen key after the response: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_restore_runs_as_the_deployed_role() {
    let cloud = Cloud::connect().await;
    let d: &Deployed = default_stack();
    let n = fakecloud::nonce();
    let op = operator(&cloud, &format!("ds-{n}-rs-op")).await;
    let victim = cloud.role(&format!("ds-{n}-restored")).await;
    let stolen = cloud.assume(&op.0, &victim, "ci-pipeline-7").await;
    assert!(
        cloud.call(&stolen.creds).await.works(),
        "the session works before"
    );

    let event = event_for(ACCOUNT, &victim, &stolen);
    let report = run_payload_as_function_role(&cloud, d, &op, ACCOUNT, &event)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        done(&report, "revoke_role_sessions", &victim.name),
        "no role-wide revocation done: {report:#}"
    );
    let v = cloud.call(&stolen.creds).await;
    assert!(v.denied(), "the session after the response: {v}");

    // A false positive: the operator restores at once (forced, with a reason), as the deployed role.
    let restore = json!({
        "action": "restore",
        "role": victim.name,
        "finding_id": event["detail"]["id"],
        "dry_run": false,
        "force": true,
        "reason": "deployed-stack test: a false positive"
    });
    let restored = run_payload_as_function_role(&cloud, d, &op, ACCOUNT, &restore)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        restored["status"], "restored",
        "the forced restore as the deployed role: {restored:#}"
    );
    let v = cloud.call(&stolen.creds).await;
    assert!(
        v.works(),
        "the restored session is let in again (fakecloud): {v}"
    );
}

/// member-role.yaml's `ReassociateInstanceProfile`: the member role gets the EC2 re-association
/// (`iam:PassRole` to EC2, associate/replace/disassociate instance profiles) exactly when it is
/// `true`. Judged by iam-simulate against the member role's policies as deployed (fakecloud does
/// not enforce EC2), each stack in an account of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_roles_ec2_grants_follow_its_parameter() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let mut wrong = Vec::new();
    for (account, on) in [("520000000052", true), ("530000000053", false)] {
        let admin = crate::admin_of(account);
        let member = tokio::task::block_in_place(|| {
            crate::stack::deploy(
                &crate::template("member-role.yaml"),
                &format!("sre-{n}-{on}"),
                &[
                    ("AdministratorAccountId", ACCOUNT),
                    ("ResponderRoleName", "session-revoker-us-east-1"),
                    ("RoleName", &format!("sre-{n}-member")),
                    (
                        "ReassociateInstanceProfile",
                        if on { "true" } else { "false" },
                    ),
                ],
                Some(&admin),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let reassociation = crate::reassociation_asks(account);
        let asks = crate::as_asks(&reassociation);
        let iam = aws_sdk_iam::Client::new(&cloud.as_(&admin));
        let may = crate::role_may(&iam, &member, "MemberRole", &asks).await;
        for ((action, resource, _), allowed) in asks.iter().zip(may) {
            if allowed != on {
                wrong.push(format!(
                    "{action} on {resource}: allowed={allowed} with ReassociateInstanceProfile={on}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the member role's EC2 grants as deployed:\n  {}",
        wrong.join("\n  ")
    );
}
