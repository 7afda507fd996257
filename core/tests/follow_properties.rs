//! Property tests for following the attacker: CloudTrail records are AWS's, but every name in
//! them (session names, user names, role paths, policy names) was chosen by whoever held the
//! stolen key. Whatever a record holds, reading it never panics, and whatever reaches a deny
//! or a command passed the same checks as a finding's names.

use proptest::prelude::*;
use revoker_core::config::{Config, RevokeScope};
use revoker_core::follow::{
    follow_chain, guard_from_config, observe, reach_from_config, undo_commands, ContainPersistence,
    FollowOptions, LookedUpEvent, Lookup, Observed, Persistence,
};
use revoker_core::names;
use revoker_core::policy;
use serde_json::{json, Value};
use time::macros::datetime;

const KEY: &str = "ASIAFINDINGKEY000001";

/// A string from an attacker: shell and JSON metacharacters, policy variables, wildcards,
/// control characters, unicode, long runs.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,70}",
        "[a-zA-Z0-9+=,.@_-]{1,64}",
        Just("${aws:username}".to_string()),
        Just("*".to_string()),
        Just("a\"; rm -rf / #".to_string()),
        Just("x$(id)`id`".to_string()),
        Just("i-0123456789abcdef0".to_string()),
        Just("line\nbreak".to_string()),
    ]
}

fn record(
    name: &str,
    session: String,
    role: String,
    path: String,
    user: String,
    new_key: String,
    policy_name: String,
) -> Value {
    let role_arn = format!("arn:aws:iam::111122223333:role{path}{role}");
    let source = if name.starts_with("Assume") || name.ends_with("Token") {
        "sts.amazonaws.com"
    } else if name == "RunInstances" {
        "ec2.amazonaws.com"
    } else if name.contains("Function") {
        "lambda.amazonaws.com"
    } else {
        "iam.amazonaws.com"
    };
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "AssumedRole", "accountId": "111122223333", "accessKeyId": KEY,
            "principalId": "AROAWEBAPPROLE000001:i-0123456789abcdef0"},
        "eventTime": "2026-11-30T08:51:10Z", "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "eventID": "00000000-0000-4000-8000-000000000001",
        "requestParameters": {"roleArn": role_arn, "roleSessionName": session, "userName": user,
            "roleName": role, "policyName": policy_name, "name": session,
            // Issue 21's kinds: every name they carry is the attacker's too.
            "groupName": role, "accessKeyId": new_key, "status": "Active", "versionId": policy_name,
            "policyArn": format!("arn:aws:iam::111122223333:policy/{policy_name}"),
            "sAMLProviderArn": format!("arn:aws:iam::111122223333:saml-provider/{session}"),
            "openIDConnectProviderArn": format!("arn:aws:iam::111122223333:oidc-provider/{path}"),
            "serialNumber": format!("arn:aws:iam::111122223333:mfa/{session}"),
            "targetPrincipal": user, "functionName": session, "role": role_arn,
            "iamInstanceProfile": {"name": policy_name}},
        "responseElements": {
            "credentials": {"accessKeyId": new_key},
            "assumedRoleUser": {"assumedRoleId": format!("AROADEPLOYROLE000001:{session}"),
                "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/{session}")},
            "accessKey": {"userName": user, "accessKeyId": new_key},
            "federatedUser": {"federatedUserId": format!("111122223333:{session}")},
            "user": {"userName": user},
            "policyVersion": {"versionId": policy_name},
            "sAMLProviderArn": format!("arn:aws:iam::111122223333:saml-provider/{role}"),
            "openIDConnectProviderArn": format!("arn:aws:iam::111122223333:oidc-provider/{role}"),
            "sSHPublicKey": {"sSHPublicKeyId": new_key},
            "serviceSpecificCredential": {"serviceSpecificCredentialId": new_key},
            "certificate": {"certificateId": new_key},
            "virtualMFADevice": {"serialNumber": format!("arn:aws:iam::111122223333:mfa/{path}")},
            "instancesSet": {"items": [{"instanceId": session}]}
        }
    })
}

const NAMES: [&str; 33] = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "GetSessionToken",
    "GetFederationToken",
    "CreateAccessKey",
    "CreateUser",
    "CreateLoginProfile",
    "PutUserPolicy",
    "CreateRole",
    "UpdateAssumeRolePolicy",
    "PutRolePolicy",
    "AddRoleToInstanceProfile",
    "UpdateAccessKey",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "AddUserToGroup",
    "PutGroupPolicy",
    "AttachGroupPolicy",
    "CreateSAMLProvider",
    "UpdateSAMLProvider",
    "CreateOpenIDConnectProvider",
    "AddClientIDToOpenIDConnectProvider",
    "UploadSSHPublicKey",
    "CreateServiceSpecificCredential",
    "UploadSigningCertificate",
    "CreateVirtualMFADevice",
    "EnableMFADevice",
    "AssumeRoot",
    "RunInstances",
    "CreateFunction20150331",
    "UpdateFunctionConfiguration20150331v2",
    "AttachUserPolicy",
    "UpdateLoginProfile",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn a_hostile_record_is_read_or_refused_never_trusted(
        which in 0..NAMES.len(),
        session in hostile(), role in hostile(), path in hostile(), user in hostile(),
        new_key in hostile(), policy_name in hostile(),
    ) {
        let r = record(NAMES[which], session, role, path, user, new_key, policy_name);
        let looked = LookedUpEvent {
            event_id: Some("00000000-0000-4000-8000-000000000001".into()),
            event_name: Some(NAMES[which].into()),
            access_key_id: Some(KEY.into()),
            cloud_trail_event: Some(r.to_string()),
        };
        match observe(&looked, KEY) {
            Observed::Session(s) => {
                prop_assert!(policy::is_exact_userid(&s.assumed_role_id), "{s:?}");
                prop_assert!(names::is_valid_role_name(&s.role.name), "{s:?}");
                prop_assert!(names::is_valid_session_name(&s.session_name), "{s:?}");
            }
            Observed::Token(t) => {
                prop_assert!(names::is_valid_user_name(&t.user_name), "{t:?}");
            }
            Observed::Persistence(p) => {
                let (undo, _) = undo_commands(&p.what);
                for c in &undo {
                    // Commands are built only from validated names: nothing a shell would
                    // read as more than one word or a substitution.
                    prop_assert!(!c.contains('$') && !c.contains('`') && !c.contains(';') && !c.contains('\n'), "{c}");
                    prop_assert!(!c.contains('"') && !c.contains('\'') && !c.contains('|') && !c.contains('&'), "{c}");
                    prop_assert!(!c.contains(" -rf") && !c.contains("(id)"), "{c}");
                }
                prop_assert!(!p.what.describe().contains('\n'));
                if let Persistence::AccessKey { access_key_id, .. } = &p.what {
                    prop_assert!(access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()));
                }
            }
            Observed::Refused { .. } | Observed::Unreadable { .. } | Observed::Other => {}
        }
    }

    #[test]
    fn any_json_in_a_record_never_breaks_the_walk(text in ".{0,200}", raw in any::<bool>()) {
        let body = if raw { text.clone() } else { json!({"eventName": "AssumeRole", "userIdentity": {"accessKeyId": KEY}, "requestParameters": text, "responseElements": {"assumedRoleUser": text}}).to_string() };
        let looked = LookedUpEvent {
            event_id: Some(text.clone()),
            event_name: Some("AssumeRole".into()),
            access_key_id: Some(KEY.into()),
            cloud_trail_event: Some(body),
        };
        let config = Config::default();
        let responder: Result<Option<String>, String> = Ok(None);
        let guard = guard_from_config(&config, &responder);
        let reach = |a: &str| reach_from_config(&config, "111122223333", a);
        let options = FollowOptions {
            finding_account: "111122223333".into(),
            depth: 3,
            scope: RevokeScope::Auto,
            contain: ContainPersistence::Contain,
            cutoff: datetime!(2026-11-30 10:00:30 UTC),
        };
        let mut lookup = |_: &revoker_core::follow::KeyToFollow| Lookup::Events(vec![looked.clone()]);
        let plan = follow_chain(&[KEY.to_string()], &options, &reach, &guard, &mut lookup);
        prop_assert!(plan.keys.len() <= 64);
    }
}

/// The property above is not vacuous: the same record with plain names is read as what it is.
#[test]
fn the_same_records_with_plain_names_are_read() {
    let plain = |name: &str| {
        let r = record(
            name,
            "x-deploy".into(),
            "deploy".into(),
            "/".into(),
            "backup-svc".into(),
            "ASIACHAINKEY00000001".into(),
            "inline".into(),
        );
        observe(
            &LookedUpEvent {
                event_id: Some("00000000-0000-4000-8000-000000000001".into()),
                event_name: Some(name.into()),
                access_key_id: Some(KEY.into()),
                cloud_trail_event: Some(r.to_string()),
            },
            KEY,
        )
    };
    assert!(matches!(plain("AssumeRole"), Observed::Session(_)));
    assert!(matches!(plain("CreateAccessKey"), Observed::Persistence(_)));
    assert!(matches!(plain("PutUserPolicy"), Observed::Persistence(_)));
    // Issue 21's kinds, with plain names, are read too (the property is not vacuous for them).
    for name in [
        "UpdateAccessKey",
        "AddUserToGroup",
        "PutGroupPolicy",
        "CreateSAMLProvider",
        "EnableMFADevice",
        "UploadSSHPublicKey",
        "CreateFunction20150331",
    ] {
        assert!(matches!(plain(name), Observed::Persistence(_)), "{name}");
    }
}
