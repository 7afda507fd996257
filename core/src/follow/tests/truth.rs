//! Issue 21: the follow-up tells the whole truth. Everything it leaves live is a person's
//! action; a session name used twice is followed through both keys; persistence the reader did
//! not know used to pass as `Other`.

use super::*;
use crate::model::ActionKind;
use serde_json::{json, Value};

/// A record made with `key`, `n` its event id's last digits.
fn rec(
    n: u32,
    key: &str,
    name: &str,
    source: &str,
    request: Value,
    response: Value,
) -> LookedUpEvent {
    let record = json!({
        "eventName": name, "eventSource": source,
        "eventID": format!("00000000-0000-4000-8000-{n:012}"), "eventTime": "2026-11-30T09:00:00Z",
        "awsRegion": "eu-west-1", "recipientAccountId": FIND,
        "userIdentity": {"type": "IAMUser", "accessKeyId": key, "accountId": FIND, "userName": "ci-user"},
        "requestParameters": request, "responseElements": response
    });
    LookedUpEvent {
        event_id: Some(format!("00000000-0000-4000-8000-{n:012}")),
        event_name: Some(name.into()),
        access_key_id: Some(key.into()),
        cloud_trail_event: Some(record.to_string()),
    }
}

fn assume(n: u32, key: &str, role: &str, session: &str, new_key: &str) -> LookedUpEvent {
    rec(
        n,
        key,
        "AssumeRole",
        "sts.amazonaws.com",
        json!({"roleArn": format!("arn:aws:iam::{FIND}:role/{role}"), "roleSessionName": session}),
        json!({"credentials": {"accessKeyId": new_key},
               "assumedRoleUser": {"assumedRoleId": format!("AROATARGETROLE000001:{session}"),
                                   "arn": format!("arn:aws:sts::{FIND}:assumed-role/{role}/{session}")}}),
    )
}

/// Walks from K0 with the look-ups given per key (absent: no events).
fn walk(
    lookups: &[(&str, Lookup)],
    opts: &FollowOptions,
    cfg: &Config,
) -> (FollowPlan, Vec<String>) {
    let looked = RefCell::new(Vec::new());
    let responder: Result<Option<String>, String> = Ok(Some("session-revoker-fn".into()));
    let guard = guard_from_config(cfg, &responder);
    let reach = |account: &str| reach_from_config(cfg, FIND, account);
    let mut lookup = |k: &KeyToFollow| {
        looked.borrow_mut().push(k.access_key_id.clone());
        lookups
            .iter()
            .find(|(key, _)| *key == k.access_key_id)
            .map(|(_, l)| l.clone())
            .unwrap_or(Lookup::Events(Vec::new()))
    };
    let plan = follow_chain(&[K0.to_string()], opts, &reach, &guard, &mut lookup);
    (plan, looked.into_inner())
}

fn window() -> LookupWindow {
    lookup_window(
        Some(datetime!(2026-11-30 08:50:00 UTC)),
        Some("eu-west-1"),
        &["ap-southeast-2".to_string()],
        Lookback::days(7),
        NOW,
    )
}

#[test]
fn a_session_name_used_twice_is_followed_through_both_keys_and_revoked_once() {
    let cfg = org_config();
    let opts = options(3, RevokeScope::Auto, ContainPersistence::Report);
    let k0 = Lookup::Events(vec![
        assume(1, K0, "deploy", "same", "ASIASAMENAMEKEY00001"),
        assume(2, K0, "deploy", "same", "ASIASAMENAMEKEY00002"),
    ]);
    let second = Lookup::Events(vec![rec(
        3,
        "ASIASAMENAMEKEY00002",
        "CreateUser",
        "iam.amazonaws.com",
        json!({"userName": "backdoor"}),
        json!({"user": {"userName": "backdoor"}}),
    )]);
    let (plan, looked) = walk(&[(K0, k0), ("ASIASAMENAMEKEY00002", second)], &opts, &cfg);
    // Both keys are read: the second session's key created a user.
    assert_eq!(
        looked,
        vec![K0, "ASIASAMENAMEKEY00001", "ASIASAMENAMEKEY00002"]
    );
    assert_eq!(plan.persistence.len(), 1);
    assert_eq!(
        plan.persistence[0].event.what,
        Persistence::User {
            user: "backdoor".into()
        }
    );
    // One role to write, for one `aws:userid`.
    let by_role = plan.revocations_by_role();
    assert_eq!(by_role.len(), 1);
    assert!(by_role[&(FIND, "deploy")]
        .iter()
        .all(|s| s.session.assumed_role_id == "AROATARGETROLE000001:same"));
}

#[test]
fn every_key_not_fully_read_is_left_to_a_person_with_the_lookup_commands() {
    let cfg = org_config();
    let opts = options(1, RevokeScope::Auto, ContainPersistence::Contain);
    let k0 = Lookup::Partial {
        events: vec![assume(1, K0, "deploy", "s-1", "ASIADEPTHLIMITKEY001")],
        unread: vec![Unread {
            region: "ap-southeast-2".into(),
            why: "more than 1000 events, only the first 20 pages read".into(),
        }],
    };
    let (plan, _) = walk(&[(K0, k0)], &opts, &cfg);
    assert!(matches!(&plan.keys[0].visit, Visit::Partial { unread, .. } if unread.len() == 1));
    // What was read is still acted on.
    assert_eq!(plan.sessions_to_revoke().count(), 1);
    let w = window();
    let left = plan.leftovers(&w);
    assert_eq!(left.len(), 2, "{left:#?}");
    let partial = &left[0];
    assert_eq!(partial.kind, ActionKind::Triage);
    assert!(partial.target.starts_with(&format!("key {K0} in {FIND}")));
    assert!(
        partial
            .reason
            .contains("ap-southeast-2 (more than 1000 events"),
        "{}",
        partial.reason
    );
    assert_eq!(
        partial.commands,
        vec![
            format!("# in account {FIND}, with credentials of that account:"),
            format!("aws cloudtrail lookup-events --region ap-southeast-2 --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={K0} --start-time 2026-11-23T08:50:00Z --end-time 2026-11-30T10:00:00Z"),
        ]
    );
    // The session's key is past CHAIN_DEPTH 1: not read, every region's command.
    let depth = &left[1];
    assert!(depth.target.contains("ASIADEPTHLIMITKEY001"));
    assert!(depth.reason.contains("CHAIN_DEPTH 1"), "{}", depth.reason);
    assert_eq!(depth.commands.len(), 1 + w.regions.len());
    assert!(depth.commands[3].contains("--region ap-southeast-2"));

    // A look-up that failed outright.
    let (plan, _) = walk(
        &[(
            K0,
            Lookup::Unavailable("us-east-1: LookupEvents AccessDeniedException: no".into()),
        )],
        &opts,
        &cfg,
    );
    let left = plan.leftovers(&w);
    assert_eq!(left.len(), 1);
    assert!(left[0]
        .reason
        .contains("could not be read (us-east-1: LookupEvents AccessDeniedException"));
    // A key fully read leaves nothing.
    let (plan, _) = walk(
        &[],
        &options(3, RevokeScope::Auto, ContainPersistence::Contain),
        &cfg,
    );
    assert!(plan.leftovers(&w).is_empty());
}

#[test]
fn persistence_only_listed_is_left_to_a_person_with_its_undo_commands() {
    let cfg = org_config();
    let k0 = Lookup::Events(vec![
        rec(
            1,
            K0,
            "CreateAccessKey",
            "iam.amazonaws.com",
            json!({"userName": "backup-svc"}),
            json!({"accessKey": {"userName": "backup-svc", "accessKeyId": "AKIAATTACKERKEY00001"}}),
        ),
        rec(
            2,
            K0,
            "AttachGroupPolicy",
            "iam.amazonaws.com",
            json!({"groupName": "ops", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
            Value::Null,
        ),
    ]);
    let report = options(3, RevokeScope::Auto, ContainPersistence::Report);
    let (plan, _) = walk(&[(K0, k0.clone())], &report, &cfg);
    let left = plan.leftovers(&window());
    assert_eq!(left.len(), 2, "{left:#?}");
    assert_eq!(left[0].kind, ActionKind::DeactivateAccessKey);
    assert_eq!(
        left[0].target,
        "access key AKIAATTACKERKEY00001 created for user backup-svc"
    );
    assert!(left[0].reason.contains("CONTAIN_PERSISTENCE=report"));
    assert_eq!(
        left[0].commands[0],
        "aws iam update-access-key --user-name backup-svc --access-key-id AKIAATTACKERKEY00001 --status Inactive"
    );
    assert_eq!(left[1].kind, ActionKind::Triage);
    assert_eq!(
        left[1].commands[0],
        "aws iam detach-group-policy --group-name ops --policy-arn arn:aws:iam::aws:policy/AdministratorAccess"
    );
    // Contained: the key is an action of its own (deactivated), the group policy still a person's.
    let contain = options(3, RevokeScope::Auto, ContainPersistence::Contain);
    let (plan, _) = walk(&[(K0, k0)], &contain, &cfg);
    let left = plan.leftovers(&window());
    assert_eq!(left.len(), 1);
    assert!(left[0].target.contains("group ops"));
}

/// One record per new kind, with plain names: (event, source, request, response, undo command
/// expected among the commands).
fn new_kinds() -> Vec<(&'static str, &'static str, Value, Value, &'static str)> {
    vec![
        ("UpdateAccessKey", "iam.amazonaws.com", json!({"userName": "old-svc", "accessKeyId": "AKIAOLDKEYREVIVED001", "status": "Active"}), Value::Null,
         "aws iam update-access-key --user-name old-svc --access-key-id AKIAOLDKEYREVIVED001 --status Inactive"),
        ("CreatePolicyVersion", "iam.amazonaws.com", json!({"policyArn": "arn:aws:iam::111122223333:policy/app", "setAsDefault": true}), json!({"policyVersion": {"versionId": "v3", "isDefaultVersion": true}}),
         "aws iam delete-policy-version --policy-arn arn:aws:iam::111122223333:policy/app --version-id v3"),
        ("SetDefaultPolicyVersion", "iam.amazonaws.com", json!({"policyArn": "arn:aws:iam::111122223333:policy/app", "versionId": "v2"}), Value::Null,
         "aws iam get-policy-version --policy-arn arn:aws:iam::111122223333:policy/app --version-id v2"),
        ("AddUserToGroup", "iam.amazonaws.com", json!({"userName": "backdoor", "groupName": "admins"}), Value::Null,
         "aws iam remove-user-from-group --user-name backdoor --group-name admins"),
        ("PutGroupPolicy", "iam.amazonaws.com", json!({"groupName": "admins", "policyName": "extra"}), Value::Null,
         "aws iam delete-group-policy --group-name admins --policy-name extra"),
        ("AttachGroupPolicy", "iam.amazonaws.com", json!({"groupName": "admins", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}), Value::Null,
         "aws iam detach-group-policy --group-name admins --policy-arn arn:aws:iam::aws:policy/AdministratorAccess"),
        ("UpdateAssumeRolePolicy", "iam.amazonaws.com", json!({"roleName": "deploy"}), Value::Null,
         "aws iam update-assume-role-policy --role-name deploy --policy-document file://trust-before.json"),
        ("CreateRole", "iam.amazonaws.com", json!({"roleName": "backdoor-role"}), Value::Null,
         "aws iam delete-role --role-name backdoor-role"),
        ("CreateSAMLProvider", "iam.amazonaws.com", json!({"name": "evil-idp"}), json!({"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/evil-idp"}),
         "aws iam delete-saml-provider --saml-provider-arn arn:aws:iam::111122223333:saml-provider/evil-idp"),
        ("UpdateSAMLProvider", "iam.amazonaws.com", json!({"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/corp"}), Value::Null,
         "aws iam get-saml-provider --saml-provider-arn arn:aws:iam::111122223333:saml-provider/corp"),
        ("CreateOpenIDConnectProvider", "iam.amazonaws.com", json!({"url": "https://token.example.net"}), json!({"openIDConnectProviderArn": "arn:aws:iam::111122223333:oidc-provider/token.example.net"}),
         "aws iam delete-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::111122223333:oidc-provider/token.example.net"),
        ("AddClientIDToOpenIDConnectProvider", "iam.amazonaws.com", json!({"openIDConnectProviderArn": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com", "clientID": "x"}), Value::Null,
         "aws iam get-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"),
        ("UpdateOpenIDConnectProviderThumbprint", "iam.amazonaws.com", json!({"openIDConnectProviderArn": "arn:aws:iam::111122223333:oidc-provider/token.example.org"}), Value::Null,
         "aws iam get-open-id-connect-provider --open-id-connect-provider-arn arn:aws:iam::111122223333:oidc-provider/token.example.org"),
        ("UploadSSHPublicKey", "iam.amazonaws.com", json!({"userName": "dev"}), json!({"sSHPublicKey": {"sSHPublicKeyId": "APKAEIBAERJR2EXAMPLE"}}),
         "aws iam update-ssh-public-key --user-name dev --ssh-public-key-id APKAEIBAERJR2EXAMPLE --status Inactive"),
        ("CreateServiceSpecificCredential", "iam.amazonaws.com", json!({"userName": "dev", "serviceName": "codecommit.amazonaws.com"}), json!({"serviceSpecificCredential": {"serviceSpecificCredentialId": "ACCAEXAMPLE123EXAMPLE"}}),
         "aws iam update-service-specific-credential --user-name dev --service-specific-credential-id ACCAEXAMPLE123EXAMPLE --status Inactive"),
        ("UploadSigningCertificate", "iam.amazonaws.com", json!({"userName": "dev"}), json!({"certificate": {"certificateId": "TA7SMP42TDN5Z26OBPJE7EXAMPLE"}}),
         "aws iam update-signing-certificate --user-name dev --certificate-id TA7SMP42TDN5Z26OBPJE7EXAMPLE --status Inactive"),
        ("CreateVirtualMFADevice", "iam.amazonaws.com", json!({"virtualMFADeviceName": "x"}), json!({"virtualMFADevice": {"serialNumber": "arn:aws:iam::111122223333:mfa/x"}}),
         "aws iam delete-virtual-mfa-device --serial-number arn:aws:iam::111122223333:mfa/x"),
        ("EnableMFADevice", "iam.amazonaws.com", json!({"userName": "alice", "serialNumber": "arn:aws:iam::111122223333:mfa/x"}), Value::Null,
         "aws iam deactivate-mfa-device --user-name alice --serial-number arn:aws:iam::111122223333:mfa/x"),
        ("AssumeRoot", "sts.amazonaws.com", json!({"targetPrincipal": "444455556666", "taskPolicyArn": {"arn": "arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"}}), json!({"credentials": {"accessKeyId": "ASIAROOTSESSION00001"}}),
         "# in account 444455556666: aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=ASIAROOTSESSION00001"),
        ("RunInstances", "ec2.amazonaws.com", json!({"iamInstanceProfile": {"arn": "arn:aws:iam::111122223333:instance-profile/admin-profile"}}), json!({"instancesSet": {"items": [{"instanceId": "i-0123456789abcdef0"}]}}),
         "aws ec2 stop-instances --region eu-west-1 --instance-ids i-0123456789abcdef0"),
        ("CreateFunction20150331", "lambda.amazonaws.com", json!({"functionName": "miner", "role": "arn:aws:iam::111122223333:role/admin"}), Value::Null,
         "aws lambda put-function-concurrency --region eu-west-1 --function-name miner --reserved-concurrent-executions 0"),
        ("UpdateFunctionConfiguration20150331v2", "lambda.amazonaws.com", json!({"functionName": "arn:aws:lambda:eu-west-1:111122223333:function:billing", "role": "arn:aws:iam::111122223333:role/admin"}), Value::Null,
         "aws lambda update-function-configuration --region eu-west-1 --function-name billing --role <the role it had before>"),
    ]
}

#[test]
fn persistence_the_reader_did_not_know_is_read_with_what_to_inspect_and_undo() {
    for (i, (name, source, request, response, expected)) in new_kinds().into_iter().enumerate() {
        let got = observe(&rec(i as u32, K0, name, source, request, response), K0);
        let Observed::Persistence(p) = got else {
            panic!("{name}: {got:?}")
        };
        let (undo, _) = undo_commands(&p.what);
        assert!(undo.iter().any(|c| c == expected), "{name}: {undo:#?}");
        assert!(!p.what.describe().is_empty());
    }
}

#[test]
fn calls_that_leave_nothing_behind_and_hostile_names_are_not_persistence() {
    let other = [
        (
            "UpdateAccessKey",
            "iam.amazonaws.com",
            json!({"userName": "u", "accessKeyId": "AKIAOLDKEYREVIVED001", "status": "Inactive"}),
        ),
        (
            "RunInstances",
            "ec2.amazonaws.com",
            json!({"instanceType": "t3.micro"}),
        ),
        (
            "UpdateFunctionConfiguration20150331v2",
            "lambda.amazonaws.com",
            json!({"functionName": "f", "timeout": 30}),
        ),
        // Same name, another service: not IAM persistence.
        (
            "CreateRole",
            "rolesanywhere.amazonaws.com",
            json!({"roleName": "x"}),
        ),
    ];
    for (name, source, request) in other {
        let got = observe(&rec(1, K0, name, source, request, json!({})), K0);
        assert_eq!(got, Observed::Other, "{name}");
    }
    let hostile = [
        (
            "AddUserToGroup",
            json!({"userName": "u", "groupName": "a;b"}),
            Value::Null,
        ),
        (
            "CreateSAMLProvider",
            json!({}),
            json!({"sAMLProviderArn": "arn:aws:iam::111122223333:saml-provider/$(id)"}),
        ),
        (
            "EnableMFADevice",
            json!({"userName": "u", "serialNumber": "x y"}),
            Value::Null,
        ),
        (
            "SetDefaultPolicyVersion",
            json!({"policyArn": "arn:aws:iam::aws:policy/x", "versionId": "v1;"}),
            Value::Null,
        ),
        (
            "CreateFunction20150331",
            json!({"functionName": "f`id`", "role": "arn:aws:iam::111122223333:role/r"}),
            Value::Null,
        ),
        (
            "RunInstances",
            json!({"iamInstanceProfile": {"name": "p"}}),
            json!({"instancesSet": {"items": [{"instanceId": "i-$(id)"}]}}),
        ),
    ];
    for (name, request, response) in hostile {
        let source = match name {
            "CreateFunction20150331" => "lambda.amazonaws.com",
            "RunInstances" => "ec2.amazonaws.com",
            _ => "iam.amazonaws.com",
        };
        let got = observe(&rec(1, K0, name, source, request, response), K0);
        assert!(
            matches!(got, Observed::Unreadable { .. }),
            "{name}: {got:?}"
        );
    }
}

#[test]
fn a_revived_key_is_deactivated_under_contain_and_a_root_session_is_followed() {
    let cfg = org_config();
    let k0 = Lookup::Events(vec![
        rec(
            1,
            K0,
            "UpdateAccessKey",
            "iam.amazonaws.com",
            json!({"userName": "old-svc", "accessKeyId": "AKIAOLDKEYREVIVED001", "status": "Active"}),
            Value::Null,
        ),
        rec(
            2,
            K0,
            "AssumeRoot",
            "sts.amazonaws.com",
            json!({"targetPrincipal": MEMBER}),
            json!({"credentials": {"accessKeyId": "ASIAROOTSESSION00001"}}),
        ),
    ]);
    let contain = options(3, RevokeScope::Auto, ContainPersistence::Contain);
    let (plan, looked) = walk(&[(K0, k0)], &contain, &cfg);
    assert_eq!(
        plan.keys_to_deactivate(),
        vec![(Some(FIND), "old-svc", "AKIAOLDKEYREVIVED001")]
    );
    // The root session's key is read in the account it is root of.
    assert!(looked.contains(&"ASIAROOTSESSION00001".to_string()));
    let root_key = plan
        .keys
        .iter()
        .find(|k| k.key.access_key_id == "ASIAROOTSESSION00001")
        .expect("visited");
    assert_eq!(root_key.key.account, MEMBER);
    // Root sessions cannot be restricted: a person's.
    assert!(plan
        .leftovers(&window())
        .iter()
        .any(|m| m.target == format!("root session (AssumeRoot) in account {MEMBER}")));
}
