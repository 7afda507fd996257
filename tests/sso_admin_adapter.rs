//! Identity Center (sso-admin): the exact requests `SsoAdminClient` sends and how its errors map,
//! with `aws-smithy-mocks` (the real SDK client, stubbed responses, no network); then the write
//! itself (`act::revoke_identity_center`) over an in-memory permission set, for what the
//! emulator does not serve: moto answers `ProvisionPermissionSet` with `SUCCEEDED` at once and
//! has no `DescribePermissionSetProvisioningStatus`, so `IN_PROGRESS`, `FAILED` and
//! `ConflictException` are covered here.

use aws_sdk_ssoadmin::operation::describe_permission_set::DescribePermissionSetOutput;
use aws_sdk_ssoadmin::operation::describe_permission_set_provisioning_status::DescribePermissionSetProvisioningStatusOutput;
use aws_sdk_ssoadmin::operation::get_inline_policy_for_permission_set::GetInlinePolicyForPermissionSetOutput;
use aws_sdk_ssoadmin::operation::list_permission_sets::ListPermissionSetsOutput;
use aws_sdk_ssoadmin::operation::provision_permission_set::ProvisionPermissionSetOutput;
use aws_sdk_ssoadmin::operation::put_inline_policy_to_permission_set::PutInlinePolicyToPermissionSetOutput;
use aws_sdk_ssoadmin::types::{
    PermissionSet, PermissionSetProvisioningStatus, ProvisionTargetType, StatusValues,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use session_revoker::act::revoke_identity_center::{run, Request};
use session_revoker::act::{Budget, Ctx};
use session_revoker::aws::sso_admin::{
    find_by_name, PermissionSetInfo, PermissionSets, Provisioning, ProvisioningState,
    SsoAdminClient,
};
use session_revoker::aws::AwsResult;
use session_revoker::error::AwsError;
use session_revoker::model::{ActionKind, Status};
use session_revoker::plan::identity_center::PermissionSetTarget;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::macros::datetime;

const INSTANCE: &str = "arn:aws:sso:::instance/ssoins-0123456789abcdef";
const PS_ADMIN: &str = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-aaaaaaaaaaaaaaaa";
const PS_POWER: &str = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-bbbbbbbbbbbbbbbb";
const ALICE: &str = "AROAEXAMPLESSOROLE001:alice@example.com";

fn json_error(status: u16, code: &str, message: &str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        status.try_into().unwrap(),
        aws_smithy_types::body::SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"{message}"}}"#
        )),
    )
}

fn status(state: StatusValues, id: &str) -> PermissionSetProvisioningStatus {
    PermissionSetProvisioningStatus::builder()
        .status(state)
        .request_id(id)
        .account_id("111122223333")
        .permission_set_arn(PS_POWER)
        .build()
}

#[tokio::test]
async fn finds_a_permission_set_by_name_over_pages() {
    let page1 = mock!(aws_sdk_ssoadmin::Client::list_permission_sets)
        .match_requests(|r| {
            r.instance_arn() == Some(INSTANCE)
                && r.next_token().is_none()
                && r.max_results() == Some(100)
        })
        .then_output(|| {
            ListPermissionSetsOutput::builder()
                .permission_sets(PS_ADMIN)
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(aws_sdk_ssoadmin::Client::list_permission_sets)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListPermissionSetsOutput::builder()
                .permission_sets(PS_POWER)
                .build()
        });
    let describe = mock!(aws_sdk_ssoadmin::Client::describe_permission_set)
        .match_requests(|r| r.instance_arn() == Some(INSTANCE))
        .then_compute_output(|r| {
            let arn = r.permission_set_arn().unwrap_or_default();
            let name = if arn == PS_POWER {
                "Power_User"
            } else {
                "AdministratorAccess"
            };
            DescribePermissionSetOutput::builder()
                .permission_set(
                    PermissionSet::builder()
                        .name(name)
                        .permission_set_arn(arn)
                        .build(),
                )
                .build()
        });
    let client = SsoAdminClient(mock_client!(
        aws_sdk_ssoadmin,
        RuleMode::MatchAny,
        [&page1, &page2, &describe]
    ));
    assert_eq!(
        find_by_name(&client, INSTANCE, "Power_User")
            .await
            .unwrap()
            .as_deref(),
        Some(PS_POWER)
    );
    assert_eq!(
        find_by_name(&client, INSTANCE, "Nobody").await.unwrap(),
        None
    );
    assert_eq!(page1.num_calls(), 2);
    assert_eq!(page2.num_calls(), 2);
    assert_eq!(describe.num_calls(), 4);
}

#[tokio::test]
async fn inline_policy_read_and_written_as_it_is() {
    let doc = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let get = mock!(aws_sdk_ssoadmin::Client::get_inline_policy_for_permission_set)
        .match_requests(|r| {
            r.instance_arn() == Some(INSTANCE) && r.permission_set_arn() == Some(PS_POWER)
        })
        .then_output(move || {
            GetInlinePolicyForPermissionSetOutput::builder()
                .inline_policy(doc)
                .build()
        });
    let empty = mock!(aws_sdk_ssoadmin::Client::get_inline_policy_for_permission_set)
        .match_requests(|r| r.permission_set_arn() == Some(PS_ADMIN))
        .then_output(|| {
            GetInlinePolicyForPermissionSetOutput::builder()
                .inline_policy("")
                .build()
        });
    let put = mock!(aws_sdk_ssoadmin::Client::put_inline_policy_to_permission_set)
        .match_requests(move |r| {
            r.instance_arn() == Some(INSTANCE)
                && r.permission_set_arn() == Some(PS_POWER)
                && r.inline_policy() == Some(doc)
        })
        .then_output(|| PutInlinePolicyToPermissionSetOutput::builder().build());
    let client = SsoAdminClient(mock_client!(
        aws_sdk_ssoadmin,
        RuleMode::MatchAny,
        [&get, &empty, &put]
    ));
    assert_eq!(
        client
            .get_inline_policy(INSTANCE, PS_POWER)
            .await
            .unwrap()
            .as_deref(),
        Some(doc)
    );
    assert_eq!(
        client.get_inline_policy(INSTANCE, PS_ADMIN).await.unwrap(),
        None,
        "empty means none"
    );
    client
        .put_inline_policy(INSTANCE, PS_POWER, doc)
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn provisions_to_exactly_the_finding_account_and_reads_the_status() {
    let provision = mock!(aws_sdk_ssoadmin::Client::provision_permission_set)
        .match_requests(|r| {
            r.instance_arn() == Some(INSTANCE)
                && r.permission_set_arn() == Some(PS_POWER)
                && r.target_type() == Some(&ProvisionTargetType::AwsAccount)
                && r.target_id() == Some("111122223333")
        })
        .then_output(|| {
            ProvisionPermissionSetOutput::builder()
                .permission_set_provisioning_status(status(StatusValues::InProgress, "req-1"))
                .build()
        });
    let describe = mock!(aws_sdk_ssoadmin::Client::describe_permission_set_provisioning_status)
        .match_requests(|r| r.instance_arn() == Some(INSTANCE) && r.provision_permission_set_request_id() == Some("req-1"))
        .then_output(|| {
            DescribePermissionSetProvisioningStatusOutput::builder()
                .permission_set_provisioning_status(
                    PermissionSetProvisioningStatus::builder()
                        .status(StatusValues::Failed)
                        .request_id("req-1")
                        .failure_reason("Received a 404 status error: Not supported policy arn:aws:iam::aws:policy/Nope.")
                        .build(),
                )
                .build()
        });
    let client = SsoAdminClient(mock_client!(
        aws_sdk_ssoadmin,
        RuleMode::MatchAny,
        [&provision, &describe]
    ));
    let started = client
        .provision(INSTANCE, PS_POWER, "111122223333")
        .await
        .unwrap();
    assert_eq!(
        started,
        Provisioning {
            request_id: "req-1".into(),
            state: ProvisioningState::InProgress,
            failure_reason: None
        }
    );
    let later = client.provisioning_status(INSTANCE, "req-1").await.unwrap();
    assert_eq!(later.state, ProvisioningState::Failed);
    assert!(later
        .failure_reason
        .unwrap()
        .contains("Not supported policy"));
}

#[tokio::test]
async fn errors_keep_the_aws_code() {
    let conflict =
        mock!(aws_sdk_ssoadmin::Client::provision_permission_set).then_http_response(|| {
            json_error(
                400,
                "ConflictException",
                "A provisioning of this permission set is in progress",
            )
        });
    let denied = mock!(aws_sdk_ssoadmin::Client::put_inline_policy_to_permission_set)
        .then_http_response(|| json_error(400, "AccessDeniedException", "not authorized"));
    let missing = mock!(aws_sdk_ssoadmin::Client::get_inline_policy_for_permission_set)
        .then_http_response(|| {
            json_error(400, "ResourceNotFoundException", "no such permission set")
        });
    let no_status = mock!(aws_sdk_ssoadmin::Client::describe_permission_set_provisioning_status)
        .then_output(|| DescribePermissionSetProvisioningStatusOutput::builder().build());
    let client = SsoAdminClient(mock_client!(
        aws_sdk_ssoadmin,
        RuleMode::MatchAny,
        [&conflict, &denied, &missing, &no_status]
    ));
    let e = client
        .provision(INSTANCE, PS_POWER, "111122223333")
        .await
        .unwrap_err();
    assert_eq!(
        (e.operation, e.code.as_str()),
        ("ProvisionPermissionSet", "ConflictException")
    );
    let e = client
        .put_inline_policy(INSTANCE, PS_POWER, "{}")
        .await
        .unwrap_err();
    assert_eq!(
        (e.operation, e.code.as_str()),
        ("PutInlinePolicyToPermissionSet", "AccessDeniedException")
    );
    let e = client
        .get_inline_policy(INSTANCE, PS_POWER)
        .await
        .unwrap_err();
    assert_eq!(e.code, "ResourceNotFoundException");
    assert!(e.message.contains("no such permission set"), "{e}");
    let e = client
        .provisioning_status(INSTANCE, "req-1")
        .await
        .unwrap_err();
    assert_eq!(e.code, "MissingProvisioningStatus");
}

// ---------------------------------------------------------------------------------------------
// The write over an in-memory permission set

/// One permission set's inline policy and a scripted provisioning.
struct Fake {
    policy: Mutex<Option<String>>,
    /// Answers of `ProvisionPermissionSet`, in order (the last one repeats).
    provision: Mutex<Vec<AwsResult<ProvisioningState>>>,
    /// Answers of `DescribePermissionSetProvisioningStatus`, in order (the last one repeats).
    status: Mutex<Vec<ProvisioningState>>,
    calls: Mutex<Vec<String>>,
    /// A concurrent writer that puts this document right after our first put.
    overwrite_once: Mutex<Option<String>>,
}

impl Fake {
    fn new(policy: Option<&str>, provision: Vec<AwsResult<ProvisioningState>>) -> Self {
        Self {
            policy: Mutex::new(policy.map(str::to_string)),
            provision: Mutex::new(provision),
            status: Mutex::new(vec![ProvisioningState::Succeeded]),
            calls: Mutex::new(Vec::new()),
            overwrite_once: Mutex::new(None),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn policy(&self) -> Value {
        serde_json::from_str(self.policy.lock().unwrap().as_deref().unwrap()).unwrap()
    }
}

fn next<T: Clone>(list: &Mutex<Vec<T>>) -> T {
    let mut l = list.lock().unwrap();
    if l.len() > 1 {
        l.remove(0)
    } else {
        l[0].clone()
    }
}

fn state(s: ProvisioningState) -> Provisioning {
    Provisioning {
        request_id: "3a8e1b52-0c55-4c1e-9b1f-0d0b6c7f0a11".into(),
        state: s,
        failure_reason: Some("the role in the account could not be updated".into()),
    }
}

impl PermissionSets for Fake {
    fn list_permission_sets<'a>(
        &'a self,
        _instance_arn: &'a str,
        _next_token: Option<String>,
    ) -> BoxFuture<'a, AwsResult<(Vec<String>, Option<String>)>> {
        async { Ok((vec![PS_POWER.to_string()], None)) }.boxed()
    }

    fn describe_permission_set<'a>(
        &'a self,
        _instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<PermissionSetInfo>> {
        async move {
            Ok(PermissionSetInfo {
                arn: permission_set_arn.into(),
                name: "Power_User".into(),
            })
        }
        .boxed()
    }

    fn get_inline_policy<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        self.calls.lock().unwrap().push("get".into());
        let p = self.policy.lock().unwrap().clone();
        async move { Ok(p) }.boxed()
    }

    fn put_inline_policy<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        self.calls.lock().unwrap().push("put".into());
        let racing = self.overwrite_once.lock().unwrap().take();
        *self.policy.lock().unwrap() = Some(racing.unwrap_or_else(|| document.to_string()));
        async { Ok(()) }.boxed()
    }

    fn provision<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        account: &'a str,
    ) -> BoxFuture<'a, AwsResult<Provisioning>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("provision {account}"));
        let answer = next(&self.provision).map(state);
        async move { answer }.boxed()
    }

    fn provisioning_status<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, AwsResult<Provisioning>> {
        self.calls.lock().unwrap().push("status".into());
        let answer = state(next(&self.status));
        async move { Ok(answer) }.boxed()
    }
}

fn target() -> PermissionSetTarget {
    PermissionSetTarget {
        instance_arn: INSTANCE.into(),
        permission_set: "Power_User".into(),
        home_region: "eu-west-2".into(),
        account: "111122223333".into(),
        role: "AWSReservedSSO_Power_User_0123456789abcdef".into(),
        sessions: vec![ALICE.into()],
    }
}

fn ctx(dry_run: bool, time_left: Option<Duration>) -> Ctx {
    Ctx {
        started: Instant::now(),
        dry_run,
        budget: Budget {
            deadline: time_left.map(|t| Instant::now() + t),
        },
    }
}

async fn revoke(fake: &Fake, c: &Ctx) -> session_revoker::model::ActionOutcome {
    let t = target();
    let now = datetime!(2026-11-30 12:00:00 UTC);
    run(
        fake,
        Request {
            kind: ActionKind::RevokeSessions,
            target: &t,
            permission_set_arn: PS_POWER,
            cutoff: now + time::Duration::seconds(30),
            covered_until: Some(now - time::Duration::minutes(1)),
            now,
            by_hand: vec!["the steps by hand".into()],
        },
        c,
    )
    .await
}

const ADMIN_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadBilling","Effect":"Allow","Action":"aws-portal:View*","Resource":"*"}]}"#;

#[tokio::test]
async fn writes_merges_reads_back_and_provisions_to_the_account() {
    let fake = Fake::new(Some(ADMIN_POLICY), vec![Ok(ProvisioningState::InProgress)]);
    let o = revoke(&fake, &ctx(false, None)).await;
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(
        fake.calls(),
        ["get", "put", "get", "provision 111122223333", "status"]
    );
    assert_eq!(o.facts["provisioning"], "SUCCEEDED");
    assert_eq!(o.cutoff.as_deref(), Some("2026-11-30T12:00:30Z"));
    let policy = fake.policy();
    assert_eq!(
        policy["Statement"][0],
        serde_json::from_str::<Value>(ADMIN_POLICY).unwrap()["Statement"][0]
    );
    assert_eq!(
        policy["Statement"][1]["Condition"]["StringEquals"]["aws:userid"],
        serde_json::json!([ALICE])
    );
    assert!(
        o.commands
            .iter()
            .any(|c| c.starts_with("End ") && c.contains("access portal session")),
        "the deny stops today's tokens, not the portal session that mints tomorrow's: {:?}",
        o.commands
    );
    assert!(
        o.detail.contains("provisioned to account 111122223333"),
        "{}",
        o.detail
    );
}

#[tokio::test]
async fn a_concurrent_writer_is_merged_with_not_overwritten() {
    let fake = Fake::new(Some(ADMIN_POLICY), vec![Ok(ProvisioningState::Succeeded)]);
    // Someone else's write lands right after ours, without our statement but with theirs.
    let theirs = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadBilling","Effect":"Allow","Action":"aws-portal:View*","Resource":"*"},{"Sid":"Theirs","Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#;
    *fake.overwrite_once.lock().unwrap() = Some(theirs.into());
    let o = revoke(&fake, &ctx(false, None)).await;
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(o.facts["rewrites_after_concurrent_update"], "1");
    let policy = fake.policy();
    let sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(
        sids,
        ["ReadBilling", "Theirs", "SessionRevokerDenyStolenSessions"]
    );
}

#[tokio::test]
async fn a_conflicting_provisioning_is_tried_again() {
    let conflict = AwsError::new("ProvisionPermissionSet", "ConflictException", "in progress");
    let fake = Fake::new(None, vec![Err(conflict), Ok(ProvisioningState::Succeeded)]);
    let o = revoke(&fake, &ctx(false, None)).await;
    assert_eq!(o.status, Status::Done, "{o:?}");
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("provision"))
            .count(),
        2
    );
}

#[tokio::test]
async fn failed_provisioning_is_not_contained_and_says_what_to_do() {
    let fake = Fake::new(None, vec![Ok(ProvisioningState::Failed)]);
    let o = revoke(&fake, &ctx(false, None)).await;
    assert_eq!(o.status, Status::Failed);
    assert_eq!(o.error.as_ref().unwrap().code, "ProvisioningFailed");
    assert!(
        o.detail.contains("stolen session is still live"),
        "{}",
        o.detail
    );
    assert_eq!(o.commands, ["the steps by hand"]);
}

#[tokio::test]
async fn provisioning_still_in_progress_needs_a_person_not_reported_done() {
    let fake = Fake::new(None, vec![Ok(ProvisioningState::InProgress)]);
    *fake.status.lock().unwrap() = vec![ProvisioningState::InProgress];
    // Little time left: at most a poll or two, then the report.
    let o = revoke(&fake, &ctx(false, Some(Duration::from_millis(7500)))).await;
    // The account's role may not hold the deny yet: the stolen session may still work there.
    assert_eq!(o.status, Status::ManualActionRequired, "{o:?}");
    assert!(
        o.detail.contains("live there until it succeeds"),
        "{}",
        o.detail
    );
    assert!(
        o.commands
            .iter()
            .any(|c| c.contains("access portal session")),
        "the portal session that mints tomorrow's tokens: {:?}",
        o.commands
    );
    assert_eq!(o.facts["provisioning"], "IN_PROGRESS");
    assert!(o.detail.contains("still IN_PROGRESS"), "{}", o.detail);
    assert!(
        o.commands[0].starts_with(
            "aws sso-admin describe-permission-set-provisioning-status --region eu-west-2"
        ),
        "{:?}",
        o.commands
    );
}

#[tokio::test]
async fn a_redelivery_is_covered_and_provisioned_again_and_a_dry_run_writes_nothing() {
    let fake = Fake::new(None, vec![Ok(ProvisioningState::Succeeded)]);
    let dry = revoke(&fake, &ctx(true, None)).await;
    assert_eq!(dry.status, Status::WouldDo);
    assert_eq!(fake.calls(), ["get"]);
    assert!(fake.policy.lock().unwrap().is_none());
    revoke(&fake, &ctx(false, None)).await;
    let written = fake.policy();
    let again = revoke(&fake, &ctx(false, None)).await;
    assert_eq!(again.status, Status::AlreadyCovered, "{again:?}");
    assert_eq!(fake.policy(), written, "nothing rewritten");
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("provision"))
            .count(),
        2,
        "provisioned again"
    );
}
