//! The fire drill as deployed (issues 22 and 23): `template.yaml` in the function's account and
//! `member-role.yaml` in a member account go through the SAM transform and fakecloud's
//! CloudFormation (`tools/deployed/deploy.py`), then the built binary runs a drill with the
//! deployed function role's credentials and the deployed function's environment. Every call the
//! drill makes (the canaries' tags, their sessions, the canary sessions' `iam:GetRole`, the
//! production path's reads and writes of both deny shapes, the member role's session) is judged
//! by fakecloud (`--iam strict --verify-sigv4`) against the policies as CloudFormation created
//! them.
//!
//! fakecloud 0.51 matches a role ARN named as a trust principal only against that exact ARN, not
//! against the role's sessions (AWS matches the sessions), and does not judge the member role's
//! `aws:PrincipalArn`/`sts:ExternalId` conditions on a role session (tests/deployed_stack.rs).
//! So the three trusts a drill crosses are judged as deployed by iam-simulate, and then each is
//! opened for fakecloud by one added statement naming the exact session (the deployed
//! statements stay); everything else is fakecloud's verdict. fakecloud's CloudFormation gives
//! roles `FKIA…` ids (IAM gives `AROA…`), which stops the drill at `other_session_works` here
//! (see the test); the steps after it are shown on IAM-made canaries (tests/fire_drill.rs).
//! Needs `FAKECLOUD_ENDPOINT`.
//!
//! ```text
//! tools/with-fakecloud.sh cargo test --test deployed_stack deployed::drill::
//! ```

use crate::deployed::stack;
use crate::drills::fakecloud::{self, Cloud, ACCOUNT};
use crate::drills::judge::judge;
use crate::drills::members;
use crate::drills::runtime::{Invocation, Lambda};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// This file's member account (other tests use others: stacks of the same names must not meet).
const MEMBER: &str = "710987654321";

/// iam-simulate's verdict: may the session `session` of role `role_arn` assume `target` under
/// its `trust` as deployed (with an identity policy allowing it)?
fn may_assume(
    trust: &Value,
    target: &str,
    role_arn: &str,
    session: &str,
    external_id: Option<&str>,
) -> bool {
    let (prefix, name) = role_arn.split_once(":role/").expect("a role ARN");
    let account = prefix.rsplit(':').next().unwrap_or_default();
    let mut context = json!({"aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account});
    if let Some(id) = external_id {
        context["sts:ExternalId"] = json!(id);
    }
    let request = json!({
        "principal": format!("arn:aws:sts::{account}:assumed-role/{name}/{session}"),
        "action": "sts:AssumeRole",
        "resource": target,
        "resourcePolicy": trust,
        "identityPolicies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}],
        "context": context
    });
    judge(&[request])[0]["result"] == "Allowed"
}

/// Adds one statement to `role`'s trust letting exactly `principal` (a session ARN) assume it.
async fn open_trust_for(iam: &aws_sdk_iam::Client, role: &str, principal: &str) {
    let doc = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetRole {role}: {e:?}"))
        .role()
        .and_then(|r| r.assume_role_policy_document().map(str::to_string))
        .expect("a trust policy");
    let mut trust: Value = serde_json::from_str(&fakecloud::decode(&doc)).expect("trust JSON");
    trust["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(json!({"Sid": "DeployedStackTestOnly", "Effect": "Allow",
            "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}));
    iam.update_assume_role_policy()
        .role_name(role)
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateAssumeRolePolicy {role}: {e:?}"));
}

async fn trust_of(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let doc = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetRole {role}: {e:?}"))
        .role()
        .and_then(|r| r.assume_role_policy_document().map(str::to_string))
        .expect("a trust policy");
    serde_json::from_str(&fakecloud::decode(&doc)).expect("trust JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_runs_as_the_deployed_roles_in_the_own_and_a_member_account() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let (member_name, canary_name, external_id) = (
        format!("sdd-{n}-member"),
        format!("sdd-{n}-drill"),
        format!("ext-{n}-id"),
    );
    let allowed = format!("{ACCOUNT},{MEMBER}");
    let admin_stack = tokio::task::block_in_place(|| {
        stack::deploy(
            &stack::root().join("template.yaml"),
            &format!("sdd-{n}"),
            &[
                ("MemberRoleName", member_name.as_str()),
                ("MemberRoleExternalId", external_id.as_str()),
                ("AllowedAccounts", allowed.as_str()),
                ("DrillRoleName", canary_name.as_str()),
            ],
            None,
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let function_role = admin_stack.role(&cloud.iam, "FunctionRole").await;
    let own_canary = admin_stack.role(&cloud.iam, "DrillRole").await;
    let member_admin = members::admin_of(MEMBER, &format!("sdd-{n}-admin"));
    let member_iam = members::iam_of(&cloud, &member_admin);
    let member = tokio::task::block_in_place(|| {
        stack::deploy(
            &stack::root().join("member-role.yaml"),
            &format!("sddm-{n}"),
            &[
                ("AdministratorAccountId", ACCOUNT),
                ("ResponderRoleName", function_role.name.as_str()),
                ("RoleName", member_name.as_str()),
                ("ExternalId", external_id.as_str()),
                ("DrillRoleName", canary_name.as_str()),
            ],
            Some(&member_admin),
        )
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let member_role = member.role(&member_iam, "MemberRole").await;
    let member_canary = member.role(&member_iam, "DrillRole").await;
    assert_eq!(
        member_canary.name, canary_name,
        "the canary's name is DrillRoleName"
    );

    // The trusts as deployed (iam-simulate): each canary trusts its caller's role only; the
    // member role, the function role with the external id only.
    let function_session = "deployed-function";
    // The member role's session name for a drill (accounts::member_session_name("drill")).
    let member_session = "session-revoker-drill";
    let other = cloud.role(&format!("sdd-{n}-other")).await;
    let own_trust = trust_of(&cloud.iam, &own_canary.name).await;
    let member_trust = trust_of(&member_iam, &member_role.name).await;
    let canary_trust = trust_of(&member_iam, &member_canary.name).await;
    let verdicts = [
        may_assume(
            &own_trust,
            &own_canary.arn,
            &function_role.arn,
            function_session,
            None,
        ),
        may_assume(
            &own_trust,
            &own_canary.arn,
            &other.arn,
            function_session,
            None,
        ),
        may_assume(
            &member_trust,
            &member_role.arn,
            &function_role.arn,
            member_session,
            Some(&external_id),
        ),
        may_assume(
            &member_trust,
            &member_role.arn,
            &function_role.arn,
            member_session,
            None,
        ),
        may_assume(
            &canary_trust,
            &member_canary.arn,
            &member_role.arn,
            "drill-x",
            None,
        ),
        may_assume(
            &canary_trust,
            &member_canary.arn,
            &function_role.arn,
            "drill-x",
            None,
        ),
    ];
    assert_eq!(
        verdicts,
        [true, false, true, false, true, false],
        "as deployed: DrillRole by the function role / by another role; the member role by the \
         function role with / without the external id; the member canary by the member role / by \
         the function role directly.\n  DrillRole: {own_trust}\n  member role: {member_trust}\n  \
         member canary: {canary_trust}"
    );

    // Opened for fakecloud, one exact session each (see the module comment).
    let function_arn = format!(
        "arn:aws:sts::{ACCOUNT}:assumed-role/{}/{function_session}",
        function_role.name
    );
    open_trust_for(&cloud.iam, &own_canary.name, &function_arn).await;
    open_trust_for(
        &member_iam,
        &member_role.name,
        &format!("arn:aws:iam::{ACCOUNT}:root"),
    )
    .await;
    let member_arn = format!("arn:aws:sts::{MEMBER}:assumed-role/{member_name}/{member_session}");
    open_trust_for(&member_iam, &member_canary.name, &member_arn).await;

    // The function, as the deployed role with the deployed environment.
    let operator = cloud.operator(&format!("sdd-{n}-op")).await;
    let operator_arn = stack::caller_arn(&cloud, &operator).await;
    stack::open_trust(&cloud, &function_role.name, &operator_arn).await;
    let me = cloud
        .assume(&operator, &function_role, function_session)
        .await;
    let configuration = stack::call(
        &["function-configuration", admin_stack.physical("Function")],
        None,
    );
    let env: BTreeMap<String, String> = configuration["Environment"]["Variables"]
        .as_object()
        .expect("the deployed function's environment")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(env.get("DRILL_ROLE_NAME"), Some(&canary_name), "{env:?}");
    let mut settings: Vec<(&str, &str)> = env
        .iter()
        .filter(|(k, _)| {
            session_revoker::config::VARIABLES
                .iter()
                .any(|(v, _)| v == k)
        })
        .filter(|(k, _)| !["CUTOFF_MARGIN_SECONDS", "DRILL_MAX_WAIT_SECONDS"].contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let token = me.creds.token.clone().unwrap_or_default();
    settings.extend([
        // The drills' margin (fakecloud compares issue times at whole seconds).
        ("CUTOFF_MARGIN_SECONDS", "2"),
        ("DRILL_MAX_WAIT_SECONDS", "20"),
        ("AWS_ACCESS_KEY_ID", me.creds.key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", me.creds.secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", admin_stack.physical("Function")),
    ]);
    let lambda = Lambda::start(&admin_stack.stack, 1, &settings);
    let invocation = lambda.invoke(&json!({"action": "drill"}));
    // fakecloud's CloudFormation gives roles ids `FKIA…` where IAM (and fakecloud's own
    // CreateRole) gives `AROA…`: the production path will not put `FKIA…:<session>` in a
    // session-scoped deny (only `<RoleId>:<session>` with an `AROA` id is a role session), so
    // on these canaries the session step writes role-wide, the other session is refused with
    // it, and the drill stops at `other_session_works`. Everything before (every call as the
    // deployed roles, both canaries' writes and the refusal) is judged here; the session-scoped
    // shape and the steps after it are shown on IAM-created canaries in tests/fire_drill.rs.
    assert!(own_canary.id.starts_with("FKIA") && member_canary.id.starts_with("FKIA"), "if fakecloud's CloudFormation gives AROA ids now, expect drill_passed here: {own_canary:?} {member_canary:?}");
    let report = match &invocation {
        Invocation::Error { .. } => logged_report(&lambda),
        other => panic!(
            "expected the FKIA quirk to stop the drill: {}",
            other.describe()
        ),
    };
    let rows = report["drill"]["accounts"].as_array().unwrap();
    let accounts: Vec<&str> = rows
        .iter()
        .map(|r| r["account"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, [ACCOUNT, MEMBER], "{report:#}");
    assert_eq!(rows[1]["via_role"], member_role.arn.as_str());
    for row in rows {
        let steps: Vec<(&str, &str)> = row["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["step"].as_str().unwrap(), s["result"].as_str().unwrap()))
            .filter(|(s, _)| *s != "assume_member_role")
            .collect();
        assert_eq!(
            steps,
            [
                ("check_canary", "passed"),
                ("sessions_work", "passed"),
                ("contain_session", "passed"),
                ("session_refused", "passed"),
                ("other_session_works", "failed"),
            ],
            "as the deployed roles: {row:#}"
        );
        let written = &row["scopes"][0]["actions"][0];
        assert_eq!(written["status"], "done", "{written}");
        assert!(
            written["detail"]
                .as_str()
                .unwrap()
                .contains("no session of this role is named"),
            "{written}"
        );
    }
    assert_eq!(
        rows[1]["steps"][0]["step"], "assume_member_role",
        "the member row begins with the member role"
    );
    for (iam, canary) in [
        (&cloud.iam, &own_canary.name),
        (&member_iam, &member_canary.name),
    ] {
        assert!(
            members::role_policy(iam, canary, "AWSRevokeOlderSessions")
                .await
                .is_some(),
            "the deny stays on {canary}"
        );
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
