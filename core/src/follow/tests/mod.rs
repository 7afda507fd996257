//! The chain planner on CloudTrail look-ups written for this project
//! (`core/tests/fixtures/cloudtrail/*.json`: `{"lookups": {<key>: <LookupEvents response>}}`).

use super::*;
use crate::config::{Config, RevokeScope};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use time::macros::datetime;
use time::OffsetDateTime;

mod records;
mod truth;
mod window;

const FIND: &str = "111122223333";
const MEMBER: &str = "444455556666";
const FAR: &str = "777788889999"; // outside ALLOWED_ACCOUNTS in org_config()
const K0: &str = "ASIAFINDINGKEY000001";
const NOW: OffsetDateTime = datetime!(2026-11-30 10:00:00 UTC);

fn fixture(text: &str) -> BTreeMap<String, Vec<LookedUpEvent>> {
    let v: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    v["lookups"]
        .as_object()
        .expect("lookups")
        .iter()
        .map(|(k, resp)| (k.clone(), LookedUpEvent::all_from_response(resp)))
        .collect()
}

const TWO_ROLES: &str = include_str!("../../../tests/fixtures/cloudtrail/two_roles_and_key.json");
const DEEP: &str = include_str!("../../../tests/fixtures/cloudtrail/deep_chain.json");
const CYCLE: &str = include_str!("../../../tests/fixtures/cloudtrail/cycle.json");
const GUARDED: &str = include_str!("../../../tests/fixtures/cloudtrail/guarded.json");
const USER_KEY: &str = include_str!("../../../tests/fixtures/cloudtrail/user_key.json");

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_vars(&vars).expect("valid config")
}

fn org_config() -> Config {
    config(&[
        ("ALLOWED_ACCOUNTS", "111122223333,444455556666"),
        ("MEMBER_ROLE_NAME", "session-revoker-member"),
        ("PROTECTED_ROLES", "break-glass*"),
    ])
}

fn options(depth: u32, scope: RevokeScope, contain: ContainPersistence) -> FollowOptions {
    FollowOptions {
        finding_account: FIND.into(),
        depth,
        scope,
        contain,
        cutoff: datetime!(2026-11-30 10:00:30 UTC),
    }
}

/// Runs the walk over a fixture; returns the plan and the keys looked up, in order.
fn run(text: &str, start: &str, opts: &FollowOptions, cfg: &Config) -> (FollowPlan, Vec<String>) {
    let lookups = fixture(text);
    let looked = RefCell::new(Vec::new());
    let responder: Result<Option<String>, String> = Ok(Some("session-revoker-fn".into()));
    let guard = guard_from_config(cfg, &responder);
    let reach = |account: &str| reach_from_config(cfg, FIND, account);
    let mut lookup = |k: &KeyToFollow| {
        looked.borrow_mut().push(k.access_key_id.clone());
        match lookups.get(&k.access_key_id) {
            Some(events) => Lookup::Events(events.clone()),
            None => Lookup::Unavailable("not in the fixture".into()),
        }
    };
    let plan = follow_chain(&[start.to_string()], opts, &reach, &guard, &mut lookup);
    (plan, looked.into_inner())
}

fn ids(plan: &FollowPlan) -> Vec<&str> {
    plan.sessions
        .iter()
        .map(|s| s.session.assumed_role_id.as_str())
        .collect()
}

#[test]
fn two_roles_and_a_key_give_two_sessions_and_the_key_to_deactivate() {
    let cfg = org_config();
    let opts = options(3, RevokeScope::Auto, ContainPersistence::Contain);
    let (plan, looked) = run(TWO_ROLES, K0, &opts, &cfg);

    let revoke: Vec<_> = plan.sessions_to_revoke().collect();
    assert_eq!(revoke.len(), 2);
    let deploy = &revoke[0];
    assert_eq!(
        deploy.session.assumed_role_id,
        "AROADEPLOYROLE000001:x-deploy"
    );
    assert_eq!(deploy.session.role.name, "deploy");
    assert_eq!(deploy.session.role.account, FIND);
    assert_eq!(deploy.session.session_name, "x-deploy");
    assert_eq!(
        deploy.session.session_key.as_deref(),
        Some("ASIACHAINKEY00000001")
    );
    assert_eq!(deploy.scope, RevokeScope::Session);
    assert!(!deploy.cross_account);
    assert_eq!(
        deploy.decision,
        Decision::Revoke {
            reach: Reach::FindingAccount
        }
    );
    assert_eq!(deploy.depth, 1);
    assert_eq!(deploy.via_key, K0);

    let audit = &revoke[1];
    assert_eq!(
        audit.session.assumed_role_id,
        "AROAAUDITROLE0000001:audit-sess"
    );
    assert_eq!(audit.session.role.account, MEMBER);
    assert!(audit.cross_account);
    assert_eq!(
        audit.decision,
        Decision::Revoke {
            reach: Reach::MemberRole
        }
    );

    let by_role = plan.revocations_by_role();
    assert_eq!(
        by_role.keys().copied().collect::<Vec<_>>(),
        vec![(FIND, "deploy"), (MEMBER, "audit")]
    );
    assert_eq!(
        plan.keys_to_deactivate(),
        vec![(Some(FIND), "backup-svc", "AKIAATTACKERKEY00001")]
    );
    assert_eq!(
        plan.persistence[0].undo,
        vec!["aws iam update-access-key --user-name backup-svc --access-key-id AKIAATTACKERKEY00001 --status Inactive"]
    );
    // The refused AssumeRole created nothing; reads and other services are not counted.
    assert_eq!(plan.refused.len(), 1);
    assert_eq!(plan.refused[0].0.event_name, "AssumeRole");
    assert_eq!(plan.refused[0].1, "AccessDenied");
    assert!(plan.unreadable.is_empty());
    assert!(plan.manual_actions().is_empty());
    // Every credential the attacker obtained is followed: both session keys and the new key.
    assert_eq!(
        looked,
        vec![
            K0,
            "ASIACHAINKEY00000001",
            "ASIACHAINKEY00000002",
            "AKIAATTACKERKEY00001"
        ]
    );
    assert_eq!(
        plan.keys[0].visit,
        Visit::Read {
            events: 5,
            relevant: 4
        }
    );
}

#[test]
fn report_mode_lists_the_key_and_role_scope_is_honoured() {
    let cfg = org_config();
    let opts = options(3, RevokeScope::Role, ContainPersistence::Report);
    let (plan, _) = run(TWO_ROLES, K0, &opts, &cfg);
    assert!(plan.keys_to_deactivate().is_empty());
    assert!(matches!(
        &plan.persistence[0].containment,
        Containment::ListOnly { reason } if reason.contains("CONTAIN_PERSISTENCE=report")
    ));
    assert!(plan.sessions.iter().all(|s| s.scope == RevokeScope::Role));
}

#[test]
fn depth_limit_stops_reading_but_plans_what_was_found() {
    let cfg = org_config();
    let (plan, looked) = run(
        DEEP,
        K0,
        &options(3, RevokeScope::Auto, ContainPersistence::Report),
        &cfg,
    );
    assert_eq!(
        ids(&plan),
        vec![
            "AROADEPTHROLE0000001:hop1-s",
            "AROADEPTHROLE0000002:hop2-s",
            "AROADEPTHROLE0000003:hop3-s"
        ]
    );
    assert_eq!(
        plan.sessions.iter().map(|s| s.depth).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        looked,
        vec![K0, "ASIADEPTHKEY00000001", "ASIADEPTHKEY00000002"]
    );
    let last = plan.keys.last().expect("a visit");
    assert_eq!(last.key.access_key_id, "ASIADEPTHKEY00000003");
    assert_eq!(last.key.depth, 3);
    assert!(matches!(&last.visit, Visit::NotFollowed(w) if w.contains("CHAIN_DEPTH 3")));

    let (deeper, _) = run(
        DEEP,
        K0,
        &options(5, RevokeScope::Auto, ContainPersistence::Report),
        &cfg,
    );
    assert_eq!(deeper.sessions.len(), 5);

    let (none, looked) = run(
        DEEP,
        K0,
        &options(0, RevokeScope::Auto, ContainPersistence::Report),
        &cfg,
    );
    assert!(none.sessions.is_empty());
    assert!(looked.is_empty());
}

#[test]
fn cycles_and_repeated_records_are_read_once() {
    let cfg = org_config();
    let (plan, looked) = run(
        CYCLE,
        K0,
        &options(10, RevokeScope::Auto, ContainPersistence::Report),
        &cfg,
    );
    assert_eq!(
        looked,
        vec![K0, "ASIACYCLEKEY0000000A", "ASIACYCLEKEY0000000B"]
    );
    assert_eq!(
        ids(&plan),
        vec!["AROACYCLEROLE00000A1:sess-a", "AROACYCLEROLE00000B1:sess-b"]
    );
    assert_eq!(plan.keys.len(), 3);
    // K0's record came twice (two regions' answers): counted once.
    assert_eq!(
        plan.keys[0].visit,
        Visit::Read {
            events: 2,
            relevant: 1
        }
    );
}

#[test]
fn protected_own_service_linked_and_far_roles_are_never_written() {
    let cfg = org_config();
    let (plan, looked) = run(
        GUARDED,
        K0,
        &options(3, RevokeScope::Auto, ContainPersistence::Contain),
        &cfg,
    );
    let by_role: BTreeMap<&str, &SessionStep> = plan
        .sessions
        .iter()
        .map(|s| (s.session.session_name.as_str(), s))
        .collect();
    assert!(
        matches!(&by_role["bg"].decision, Decision::Protected { reason, commands }
            if reason.contains("PROTECTED_ROLES")
            && commands[1].contains("--role-name break-glass-admin --policy-name SessionRevokerDenyStolenSessions"))
    );
    assert!(
        matches!(&by_role["rs"].decision, Decision::Protected { reason, .. } if reason.contains("responder's own role"))
    );
    assert!(
        matches!(&by_role["sl"].decision, Decision::Protected { reason, commands }
            if reason.contains("service-linked") && commands.is_empty())
    );
    // One hop down the chain, the protected role is still protected.
    assert_eq!(by_role["bg2"].depth, 2);
    assert!(matches!(
        &by_role["bg2"].decision,
        Decision::Protected { .. }
    ));
    assert_eq!(
        by_role["ok-sess"].decision,
        Decision::Revoke {
            reach: Reach::FindingAccount
        }
    );
    // The account outside ALLOWED_ACCOUNTS: by hand, with the exact session, never looked up.
    let far = by_role["far"];
    assert!(far.cross_account);
    assert_eq!(far.session.role.account, FAR);
    let Decision::ManualActionRequired { reason, commands } = &far.decision else {
        panic!("far account: {:?}", far.decision)
    };
    assert!(reason.contains("ALLOWED_ACCOUNTS"));
    assert_eq!(
        commands[1],
        "aws iam put-role-policy --role-name partner --policy-name SessionRevokerDenyStolenSessions --policy-document file://deny.json"
    );
    assert!(commands[2].contains("\"aws:userid\":\"AROAPARTNERROLE00001:far\""));
    assert!(commands[2].contains("2026-11-30T10:00:30Z"));
    assert!(!looked.contains(&"ASIAGUARDKEY00000003".to_string()));
    let far_visit = plan
        .keys
        .iter()
        .find(|k| k.key.access_key_id == "ASIAGUARDKEY00000003")
        .expect("listed");
    assert!(matches!(&far_visit.visit, Visit::NotFollowed(w) if w.contains("ALLOWED_ACCOUNTS")));
    assert_eq!(plan.sessions_to_revoke().count(), 1);
    // A person hears of every one not revoked: far, bg, rs, sl, bg2.
    let manual = plan.manual_actions();
    assert_eq!(manual.len(), 5);
    assert!(manual.iter().any(|m| m
        .target
        .starts_with("session AROAPARTNERROLE00001:far of role ")
        && m.target.ends_with(FAR)));
}

#[test]
fn an_unreachable_account_is_not_contained() {
    // No allow-list, no member role: another account cannot be reached.
    let cfg = config(&[("PROTECTED_ROLES", "break-glass*")]);
    let (plan, looked) = run(
        TWO_ROLES,
        K0,
        &options(3, RevokeScope::Auto, ContainPersistence::Contain),
        &cfg,
    );
    let audit = plan
        .sessions
        .iter()
        .find(|s| s.session.role.name == "audit")
        .expect("audit");
    assert!(
        matches!(&audit.decision, Decision::NotContained { reason, commands }
            if reason.contains("MEMBER_ROLE_NAME is not set")
            && commands[0].contains("in account 444455556666"))
    );
    assert!(!looked.contains(&"ASIACHAINKEY00000002".to_string()));
    assert!(plan
        .manual_actions()
        .iter()
        .any(|m| m.not_contained && m.target.contains("audit-sess")));
    assert_eq!(plan.sessions_to_revoke().count(), 1);
    assert_eq!(plan.keys_to_deactivate().len(), 1);
}

#[test]
fn a_user_key_mints_tokens_and_leaves_persistence() {
    let cfg = org_config();
    let (plan, looked) = run(
        USER_KEY,
        "AKIASTOLENUSERKEY001",
        &options(3, RevokeScope::Auto, ContainPersistence::Contain),
        &cfg,
    );
    assert_eq!(plan.tokens.len(), 2);
    assert!(plan
        .tokens
        .iter()
        .all(|t| t.token.user_name == "ci-user" && t.token.account == FIND));
    assert_eq!(plan.tokens[0].token.api, TokenApi::GetSessionToken);
    assert_eq!(plan.tokens[1].token.api, TokenApi::GetFederationToken);
    assert_eq!(
        plan.tokens[1].token.federated_name.as_deref(),
        Some("fed-x")
    );
    // Two tokens of one user: one deny on the user.
    let users = plan.users_to_revoke();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].token.user_name, "ci-user");
    for minted in ["ASIAMINTEDSESSION001", "ASIAMINTEDFEDERAT001"] {
        assert!(looked.contains(&minted.to_string()));
    }

    let commands: Vec<&str> = plan
        .persistence
        .iter()
        .flat_map(|p| p.undo.iter().map(String::as_str))
        .collect();
    for expected in [
        "aws iam update-access-key --user-name support-helper --access-key-id AKIASUPPORTHELPERK01 --status Inactive",
        "aws iam update-access-key --user-name ci-user --access-key-id AKIACIUSERSECONDKEY1 --status Inactive",
        "aws iam delete-user --user-name support-helper",
        "aws iam delete-login-profile --user-name support-helper",
        "aws iam delete-login-profile --user-name alice",
        "aws iam detach-user-policy --user-name support-helper --policy-arn arn:aws:iam::aws:policy/AdministratorAccess",
        "aws iam delete-user-policy --user-name support-helper --policy-name inline-admin",
        "aws iam delete-role --role-name backdoor",
        "aws iam update-assume-role-policy --role-name deploy --policy-document file://trust-before.json",
        "aws iam detach-role-policy --role-name backdoor --policy-arn arn:aws:iam::111122223333:policy/ops/wide-open",
        "aws iam delete-role-policy --role-name backdoor --policy-name inline",
        "aws iam delete-instance-profile --instance-profile-name backdoor-profile",
        "aws iam remove-role-from-instance-profile --instance-profile-name backdoor-profile --role-name backdoor",
    ] {
        assert!(commands.contains(&expected), "missing: {expected}");
    }
    assert_eq!(plan.persistence.len(), 13);
    assert_eq!(
        plan.keys_to_deactivate(),
        vec![
            (Some(FIND), "support-helper", "AKIASUPPORTHELPERK01"),
            (Some(FIND), "ci-user", "AKIACIUSERSECONDKEY1"),
        ]
    );
    // Hostile names never reach a command; they go to a person.
    assert!(commands
        .iter()
        .all(|c| !c.contains('$') && !c.contains(';') && !c.contains("sftp-user")));
    assert_eq!(plan.unreadable.len(), 2);
    assert!(plan
        .unreadable
        .iter()
        .all(|(_, why)| why.contains("not an IAM")));
    assert_eq!(plan.manual_actions().len(), 2);
    assert!(plan.manual_actions()[0].commands[0]
        .starts_with("aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventId,AttributeValue="));
    // The refused CreateUser; Transfer Family's CreateUser is not IAM's.
    assert_eq!(plan.refused.len(), 1);
}
