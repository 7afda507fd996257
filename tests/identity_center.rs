//! IAM Identity Center sessions against the emulator (issue 15): a finding on an
//! `AWSReservedSSO_` role, with `IDENTITY_CENTER_INSTANCE_ARN` set, adds the exact-session deny
//! to the permission set's inline policy (every other statement kept), provisions the permission
//! set to the finding's account, and denies nobody else: the policy judge (iam-simulate) checks
//! the written document for the stolen session, another user of the same permission set and the
//! same user through the permission set's role in another account. Without the variable the
//! finding is `manual_action_required` with the exact steps, and nothing is written.
//!
//! What moto serves and does not: sso-admin's `ListInstances` (one default instance),
//! `CreatePermissionSet`, `ListPermissionSets`, `DescribePermissionSet`,
//! `Get/PutInlinePolicy…`, `ProvisionPermissionSet` (answered `SUCCEEDED` at once) and
//! `ListAccountsForProvisionedPermissionSet`; it has no
//! `DescribePermissionSetProvisioningStatus` and does not rewrite the role in the account.
//! `IN_PROGRESS`, `FAILED` and `ConflictException` are covered by `tests/sso_admin_adapter.rs`.
//! moto's instance id is not the hex id real instances have, so the configuration's instance
//! ARN is set directly rather than through `Config::from_vars` (which validates it).
//!
//! Run: `tools/with-moto.sh cargo test --test identity_center` (the judge needs `make judge`).

mod common;
#[path = "common/judge.rs"]
mod judge;

use common::{actions, config, finding, fresh_emulator, sdk, Iam, ACCOUNT};
use serde_json::{json, Value};
use session_revoker::names::format_utc;
use time::{Duration, OffsetDateTime};

const ROLE: &str = "AWSReservedSSO_Power_User_0123456789abcdef";
const PATH: &str = "/aws-reserved/sso.amazonaws.com/";
/// The permission set's own statements, written by its administrators: kept as they are.
const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadBilling","Effect":"Allow","Action":["aws-portal:ViewBilling"],"Resource":"*"},{"Sid":"StayInEurope","Effect":"Deny","Action":"ec2:RunInstances","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#;

struct IdentityCenter {
    client: aws_sdk_ssoadmin::Client,
    instance_arn: String,
    permission_set_arn: String,
}

impl IdentityCenter {
    /// moto's default instance, a decoy permission set and `Power_User` with an inline policy.
    async fn seed() -> Self {
        let client = aws_sdk_ssoadmin::Client::new(&sdk().await);
        let instances = client.list_instances().send().await.unwrap();
        let instance_arn = instances.instances()[0].instance_arn().unwrap().to_string();
        for name in ["AdministratorAccess", "Power_User"] {
            client
                .create_permission_set()
                .instance_arn(&instance_arn)
                .name(name)
                // moto echoes its own default as a number, which the SDK cannot read as the
                // API's ISO 8601 duration string: give one.
                .session_duration("PT1H")
                .send()
                .await
                .unwrap();
        }
        let mut permission_set_arn = String::new();
        for arn in client
            .list_permission_sets()
            .instance_arn(&instance_arn)
            .send()
            .await
            .unwrap()
            .permission_sets()
        {
            let d = client
                .describe_permission_set()
                .instance_arn(&instance_arn)
                .permission_set_arn(arn)
                .send()
                .await
                .unwrap();
            if d.permission_set().and_then(|p| p.name()) == Some("Power_User") {
                permission_set_arn = arn.clone();
            }
        }
        assert!(!permission_set_arn.is_empty());
        client
            .put_inline_policy_to_permission_set()
            .instance_arn(&instance_arn)
            .permission_set_arn(&permission_set_arn)
            .inline_policy(ADMIN_POLICY)
            .send()
            .await
            .unwrap();
        Self {
            client,
            instance_arn,
            permission_set_arn,
        }
    }

    async fn inline_policy(&self) -> Value {
        let out = self
            .client
            .get_inline_policy_for_permission_set()
            .instance_arn(&self.instance_arn)
            .permission_set_arn(&self.permission_set_arn)
            .send()
            .await
            .unwrap();
        serde_json::from_str(out.inline_policy().unwrap()).unwrap()
    }

    async fn provisioned_to(&self) -> Vec<String> {
        self.client
            .list_accounts_for_provisioned_permission_set()
            .instance_arn(&self.instance_arn)
            .permission_set_arn(&self.permission_set_arn)
            .send()
            .await
            .unwrap()
            .account_ids()
            .to_vec()
    }
}

fn ic_finding(id: &str, principal_id: &str, last_seen: OffsetDateTime) -> Value {
    let mut f = finding(id, ROLE, principal_id, &format_utc(last_seen));
    f["type"] = json!("UnauthorizedAccess:IAMUser/MaliciousIPCaller");
    f["severity"] = json!(5);
    f
}

async fn responder_for(instance_arn: Option<&str>) -> session_revoker::respond::Responder {
    let mut c = config(&[]);
    c.identity_center_instance_arn = instance_arn.map(str::to_string);
    session_revoker::lambda::responder_from_sdk(sdk().await, c)
}

/// The judge's verdict for a request by `userid` with a token issued at `issued`, under an
/// allow-all policy and the permission set's inline policy.
fn verdicts(inline: &Value, requests: &[(&str, OffsetDateTime)]) -> Vec<String> {
    let requests = requests
        .iter()
        .map(|(userid, issued)| {
            let session = userid.split_once(':').unwrap().1;
            json!({"identityPolicies": [judge::allow_all(), {"name": "AwsSSOInlinePolicy", "policy": inline}],
                "action": "s3:GetObject", "resource": "arn:aws:s3:::reports/2026.csv",
                "principal": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{ROLE}/{session}"),
                "context": {"aws:userid": userid, "aws:TokenIssueTime": format_utc(*issued)}})
        })
        .collect();
    judge::judge()
        .ask(requests)
        .into_iter()
        .map(|v| {
            assert!(v["error"].is_null(), "{v}");
            v["result"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_stolen_session_is_denied_through_the_permission_set_and_nobody_else() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = iam.role(ROLE, PATH).await;
    let ic = IdentityCenter::seed().await;
    let r = responder_for(Some(&ic.instance_arn)).await;
    let alice = format!("{role_id}:alice@example.com");
    let bob = format!("{role_id}:bob@example.com");

    let before = OffsetDateTime::now_utc();
    let report = common::respond(
        &r,
        &ic_finding("f-ic-1", &alice, before - Duration::seconds(60)),
    )
    .await;
    let a = &actions(&report)[0];
    assert_eq!(a["action"], "revoke_sessions", "{report:#}");
    assert_eq!(a["status"], "done", "{report:#}");
    assert_eq!(a["facts"]["permission_set"], "Power_User");
    assert_eq!(
        a["facts"]["permission_set_arn"],
        json!(ic.permission_set_arn)
    );
    assert_eq!(a["facts"]["provisioning"], "SUCCEEDED");
    assert_eq!(a["facts"]["identity_center_region"], "us-east-1");
    assert_eq!(
        ic.provisioned_to().await,
        [ACCOUNT],
        "provisioned to the finding's account"
    );

    // The administrators' statements are untouched; ours names exactly Alice's session.
    let inline = ic.inline_policy().await;
    let admin: Value = serde_json::from_str(ADMIN_POLICY).unwrap();
    let statements = inline["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3, "{inline:#}");
    assert_eq!(statements[..2], admin["Statement"].as_array().unwrap()[..]);
    let ours = &statements[2];
    let cutoff = session_revoker::names::parse_utc(
        ours["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        ours,
        &json!({"Sid": "SessionRevokerDenyStolenSessions", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": format_utc(cutoff)},
                          "StringEquals": {"aws:userid": [alice]}}})
    );
    assert!(
        cutoff > before && cutoff <= OffsetDateTime::now_utc() + Duration::seconds(31),
        "{cutoff}"
    );
    assert_eq!(a["cutoff"], json!(format_utc(cutoff)));
    // Nothing was written to the role through IAM (IAM cannot change it in AWS).
    assert!(iam.policy_names(ROLE).await.is_empty());

    // The judge: Alice's stolen token denied, her fresh sign-in after the cutoff allowed; Bob
    // (same permission set, same role) allowed; Alice through the role of the same permission set
    // in another account (another RoleId) allowed.
    let elsewhere = "AROAOTHERACCOUNTROLE1:alice@example.com";
    let got = verdicts(
        &inline,
        &[
            (alice.as_str(), before - Duration::minutes(30)),
            (alice.as_str(), cutoff - Duration::seconds(1)),
            (alice.as_str(), cutoff + Duration::seconds(1)),
            (bob.as_str(), before - Duration::minutes(30)),
            (elsewhere, before - Duration::minutes(30)),
        ],
    );
    assert_eq!(
        got,
        [
            "ExplicitlyDenied",
            "ExplicitlyDenied",
            "Allowed",
            "Allowed",
            "Allowed"
        ]
    );

    // A later finding for Bob: his id is added with his own cutoff, Alice keeps hers.
    let report = common::respond(
        &r,
        &ic_finding(
            "f-ic-2",
            &bob,
            OffsetDateTime::now_utc() - Duration::seconds(5),
        ),
    )
    .await;
    assert_eq!(actions(&report)[0]["status"], "done", "{report:#}");
    let inline = ic.inline_policy().await;
    let read = session_revoker::plan::identity_center::read_inline_policy(
        Some(&inline.to_string()),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    assert_eq!(read.revocations.sessions[&alice], cutoff);
    assert!(read.revocations.sessions.contains_key(&bob));
    assert!(read.foreign.is_empty());

    // The same finding again: covered, nothing rewritten, provisioned again all the same.
    let report = common::respond(
        &r,
        &ic_finding("f-ic-1", &alice, before - Duration::seconds(60)),
    )
    .await;
    let a = &actions(&report)[0];
    assert_eq!(a["status"], "already_covered", "{report:#}");
    assert_eq!(a["facts"]["provisioning"], "SUCCEEDED");
    assert_eq!(ic.inline_policy().await, inline);
}

#[tokio::test]
async fn without_the_instance_arn_the_steps_by_hand_and_no_write() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let role_id = iam.role(ROLE, PATH).await;
    let ic = IdentityCenter::seed().await;
    let r = responder_for(None).await;
    let alice = format!("{role_id}:alice@example.com");
    let report = common::respond(
        &r,
        &ic_finding(
            "f-ic-3",
            &alice,
            OffsetDateTime::now_utc() - Duration::seconds(60),
        ),
    )
    .await;
    assert_eq!(report["outcome"], "manual_action_required", "{report:#}");
    let a = &actions(&report)[0];
    assert_eq!(a["status"], "manual_action_required");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("IDENTITY_CENTER_INSTANCE_ARN"),
        "{a:#}"
    );
    let commands: Vec<&str> = a["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let text = commands.join("\n");
    for expected in [
        "INSTANCE_ARN=$(aws sso-admin list-instances --region us-east-1 --query 'Instances[0].InstanceArn' --output text)",
        "= Power_User ]",
        "aws sso-admin put-inline-policy-to-permission-set --region us-east-1 --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --inline-policy file://merged.json",
        "aws sso-admin provision-permission-set --region us-east-1 --instance-arn \"$INSTANCE_ARN\" --permission-set-arn \"$PS_ARN\" --target-type AWS_ACCOUNT --target-id 123456789012",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The statement the person writes names exactly the stolen session.
    let printf = commands
        .iter()
        .find(|c| c.starts_with("printf '"))
        .expect("a printf line");
    assert!(
        printf.contains(&format!("\"aws:userid\":[\"{alice}\"]")),
        "{printf}"
    );
    // Nothing was written anywhere.
    assert_eq!(
        ic.inline_policy().await,
        serde_json::from_str::<Value>(ADMIN_POLICY).unwrap()
    );
    assert!(ic.provisioned_to().await.is_empty());
    assert!(iam.policy_names(ROLE).await.is_empty());
}
