//! The restore planner over documents the real planners wrote (`decide_role`, `decide_user`),
//! so what a restore finds is what a revocation actually writes.

use super::*;
use crate::config::Config;
use crate::input::parse_payload;
use crate::model::{Incident, RoleInfo, Step, Write};
use crate::plan::{decide_role, RoleFacts};
use crate::policy::{read_revocations, ROLE_POLICY_NAME, SESSION_POLICY_NAME};
use serde_json::json;
use std::collections::HashMap;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);
const ROLE_ID: &str = "AROAEXAMPLEROLEID0001";

fn config(scope: &str) -> Config {
    Config::from_vars(&HashMap::from([("REVOKE_SCOPE".into(), scope.into())])).unwrap()
}

fn finding(id: &str, session: &str) -> Incident {
    parse_payload(&json!({
        "id": id, "accountId": "111122223333", "region": "eu-west-1",
        "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 5.0,
        "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": "web-app",
            "principalId": format!("{ROLE_ID}:{session}"), "accessKeyId": "ASIAEXAMPLEEXAMPLE01"}},
        "service": {}
    }))
    .unwrap()
    .items
    .remove(0)
    .unwrap()
}

/// The role's two policies, as after each write of `decide_role` for these incidents in turn.
#[derive(Default, Clone)]
struct Role {
    role_wide: Option<String>,
    session: Option<String>,
}

impl Role {
    fn revoke(&mut self, incident: &Incident, scope: &str, now: OffsetDateTime) {
        let facts = RoleFacts {
            role: RoleInfo {
                name: "web-app".into(),
                arn: "arn:aws:iam::111122223333:role/web-app".into(),
                path: "/".into(),
                role_id: ROLE_ID.into(),
                tags: Vec::new(),
            },
            role_policy: Ok(self.role_wide.clone()),
            session_policy: Ok(self.session.clone()),
            responder_role: Ok(Some("session-revoker".into())),
            note: None,
        };
        let actions = decide_role(incident, &facts, &config(scope), now);
        match &actions[0].step {
            Step::Write(Write::PutRolePolicy {
                policy_name,
                document,
                ..
            }) if *policy_name == ROLE_POLICY_NAME => self.role_wide = Some(document.clone()),
            Step::Write(Write::PutRolePolicy { document, .. }) => {
                self.session = Some(document.clone())
            }
            other => panic!("{other:?}"),
        }
    }

    fn in_place(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            (ROLE_POLICY_NAME, self.role_wide.clone()),
            (SESSION_POLICY_NAME, self.session.clone()),
        ]
    }

    fn apply(&mut self, changes: &[PolicyChange]) {
        for c in changes {
            let (name, doc) = match c {
                PolicyChange::Put {
                    policy_name,
                    document,
                } => (*policy_name, Some(document.clone())),
                PolicyChange::Delete { policy_name } => (*policy_name, None),
            };
            if name == ROLE_POLICY_NAME {
                self.role_wide = doc;
            } else {
                self.session = doc;
            }
        }
    }
}

fn request(finding_id: &str) -> RestoreRequest {
    RestoreRequest {
        account: None,
        principal: RestorePrincipal::Role("web-app".into()),
        key: IncidentKey::Finding {
            finding_id: finding_id.into(),
            cutoff: None,
        },
        dry_run: false,
        force: false,
        reason: None,
        reactivate_keys: false,
    }
}

fn cutoffs(doc: &str) -> Vec<(Option<String>, OffsetDateTime)> {
    read_revocations(doc)
        .unwrap()
        .statements
        .into_iter()
        .map(|s| (s.userid, s.cutoff))
        .collect()
}

fn changes(plan: &RestorePlan) -> &[PolicyChange] {
    match &plan.verdict {
        Verdict::Restore(c) => c,
        other => panic!("{other:?}"),
    }
}

const LATER: OffsetDateTime = datetime!(2026-11-23 06:00:00 UTC);

#[test]
fn one_incident_alone_is_removed_with_its_policy_and_a_second_restore_finds_nothing() {
    let mut role = Role::default();
    role.revoke(&finding("f-1", "alice"), "role", T0);
    let plan = plan_restore(&request("f-1"), &role.in_place(), LATER);
    assert_eq!(
        changes(&plan),
        [PolicyChange::Delete {
            policy_name: ROLE_POLICY_NAME
        }]
    );
    assert_eq!(plan.cutoff, Some(T0 + time::Duration::seconds(30)));
    assert_eq!(plan.reopened.len(), 1, "{:?}", plan.reopened);
    role.apply(changes(&plan));
    let again = plan_restore(&request("f-1"), &role.in_place(), LATER);
    assert_eq!(again.verdict, Verdict::NothingFound);
    // Another finding never names it.
    let mut role = Role::default();
    role.revoke(&finding("f-1", "alice"), "role", T0);
    assert_eq!(
        plan_restore(&request("f-2"), &role.in_place(), LATER).verdict,
        Verdict::NothingFound
    );
}

#[test]
fn a_shared_role_wide_cutoff_drops_to_the_other_incidents_and_keeps_it() {
    let mut role = Role::default();
    role.revoke(&finding("f-early", "alice"), "role", T0);
    let t1 = T0 + time::Duration::hours(1);
    role.revoke(&finding("f-late", "bob"), "role", t1);
    assert_eq!(
        cutoffs(role.role_wide.as_deref().unwrap()),
        [(None, t1 + time::Duration::seconds(30))]
    );
    // Restoring the later incident: the statement now carries the earlier one's cutoff.
    let plan = plan_restore(&request("f-late"), &role.in_place(), LATER);
    let mut after = role.clone();
    after.apply(changes(&plan));
    assert_eq!(
        cutoffs(after.role_wide.as_deref().unwrap()),
        [(None, T0 + time::Duration::seconds(30))]
    );
    assert!(plan.reopened[0].contains("cutoff lowered"), "{plan:?}");
    let early = plan_restore(&request("f-early"), &after.in_place(), LATER);
    assert_eq!(
        changes(&early),
        [PolicyChange::Delete {
            policy_name: ROLE_POLICY_NAME
        }]
    );
    // Restoring the earlier one first: the later cutoff stays in force, unchanged.
    let plan = plan_restore(&request("f-early"), &role.in_place(), LATER);
    let mut after = role.clone();
    after.apply(changes(&plan));
    assert_eq!(
        cutoffs(after.role_wide.as_deref().unwrap()),
        [(None, t1 + time::Duration::seconds(30))]
    );
    assert!(plan.reopened.is_empty(), "{plan:?}");
    assert_eq!(
        plan_restore(&request("f-early"), &after.in_place(), LATER).verdict,
        Verdict::NothingFound
    );
}

#[test]
fn session_statements_of_other_incidents_and_foreign_statements_are_kept_as_they_are() {
    let mut role = Role::default();
    role.revoke(&finding("f-a", "alice"), "session", T0);
    role.revoke(
        &finding("f-b", "bob"),
        "session",
        T0 + time::Duration::minutes(5),
    );
    // A person's statement in the same policy: not ours, kept verbatim.
    let mut doc: Value = serde_json::from_str(role.session.as_deref().unwrap()).unwrap();
    let theirs =
        json!({"Sid": "Theirs", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"});
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .push(theirs.clone());
    role.session = Some(doc.to_string());
    let plan = plan_restore(&request("f-a"), &role.in_place(), LATER);
    role.apply(changes(&plan));
    let doc: Value = serde_json::from_str(role.session.as_deref().unwrap()).unwrap();
    let list = doc["Statement"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{doc}");
    assert_eq!(list[1], theirs);
    assert_eq!(
        list[0]["Condition"]["StringEquals"]["aws:userid"],
        format!("{ROLE_ID}:bob")
    );
    // Bob's statement is byte for byte what was written for f-b.
    let read = read_revocations(&doc.to_string()).unwrap();
    assert_eq!(read.statements.len(), 1);
    assert_eq!(
        read.statements[0].cutoff,
        T0 + time::Duration::minutes(5) + time::Duration::seconds(30)
    );
    // Last one out: the policy keeps the person's statement, so it is rewritten, not deleted.
    let plan = plan_restore(&request("f-b"), &role.in_place(), LATER);
    role.apply(changes(&plan));
    let doc: Value = serde_json::from_str(role.session.as_deref().unwrap()).unwrap();
    assert_eq!(doc["Statement"], json!([theirs]));
}

#[test]
fn before_the_safe_time_it_refuses_unless_forced() {
    let mut role = Role::default();
    role.revoke(&finding("f-1", "alice"), "role", T0);
    let cutoff = T0 + time::Duration::seconds(30);
    let just_before = cutoff + time::Duration::hours(12) - time::Duration::seconds(1);
    let plan = plan_restore(&request("f-1"), &role.in_place(), just_before);
    assert!(matches!(plan.verdict, Verdict::TooEarly(_)), "{plan:?}");
    assert_eq!(plan.safe_at, Some(cutoff + time::Duration::hours(12)));
    let at = plan_restore(
        &request("f-1"),
        &role.in_place(),
        cutoff + time::Duration::hours(12),
    );
    assert!(matches!(at.verdict, Verdict::Restore(_)));
    let mut forced = request("f-1");
    forced.force = true;
    forced.reason = Some("false positive: our own VPN egress".into());
    let plan = plan_restore(&forced, &role.in_place(), T0 + time::Duration::minutes(1));
    assert!(matches!(plan.verdict, Verdict::Restore(_)));
    let report = report::RestoreReport::new(&forced, &plan, T0 + time::Duration::minutes(1));
    assert!(
        report.warnings[0].contains("work again"),
        "{:?}",
        report.warnings
    );
}

#[test]
fn a_user_waits_36_hours() {
    let user_doc = crate::policy::RevocationPolicy { cutoff: T0 }.to_json_served(&[
        Served::incident(Some("f-u"), T0),
        Served::incident(Some("other"), T0 - time::Duration::minutes(1)),
    ]);
    let mut r = request("f-u");
    r.principal = RestorePrincipal::User("ci-bot".into());
    let in_place = vec![(ROLE_POLICY_NAME, Some(user_doc))];
    let plan = plan_restore(&r, &in_place, T0 + time::Duration::hours(35));
    assert!(matches!(plan.verdict, Verdict::TooEarly(_)), "{plan:?}");
    let plan = plan_restore(&r, &in_place, T0 + time::Duration::hours(36));
    assert!(matches!(plan.verdict, Verdict::Restore(_)));
}

#[test]
fn drift_writes_nothing_and_names_the_difference() {
    let mut role = Role::default();
    role.revoke(&finding("f-1", "alice"), "role", T0);
    let original = role.role_wide.clone().unwrap();
    // A person moved the cutoff.
    let moved = original.replace("2026-11-22T03:00:30Z", "2026-11-22T04:00:00Z");
    let plan = plan_restore(&request("f-1"), &[(ROLE_POLICY_NAME, Some(moved))], LATER);
    match &plan.verdict {
        Verdict::Drift(d) => assert!(d[0].contains("2026-11-22T04:00:00Z"), "{d:?}"),
        other => panic!("{other:?}"),
    }
    // The shape was narrowed under the same Sid (a decoy).
    let narrowed = original.replace("\"Action\":[\"*\"]", "\"Action\":[\"ec2:None\"]");
    let plan = plan_restore(
        &request("f-1"),
        &[(ROLE_POLICY_NAME, Some(narrowed))],
        LATER,
    );
    assert!(
        matches!(&plan.verdict, Verdict::Drift(d) if d[0].contains("no longer the deny written")),
        "{plan:?}"
    );
    // The request's cutoff is not the one written for this finding.
    let mut r = request("f-1");
    r.key = IncidentKey::Finding {
        finding_id: "f-1".into(),
        cutoff: Some(T0),
    };
    let plan = plan_restore(&r, &role.in_place(), LATER);
    assert!(
        matches!(&plan.verdict, Verdict::Drift(d) if d[0].contains("request names cutoff")),
        "{plan:?}"
    );
    // Even forced: drift is never overridden.
    let mut forced = request("f-1");
    forced.force = true;
    forced.reason = Some("x".into());
    let moved = original.replace("2026-11-22T03:00:30Z", "2026-11-22T04:00:00Z");
    assert!(matches!(
        plan_restore(&forced, &[(ROLE_POLICY_NAME, Some(moved))], LATER).verdict,
        Verdict::Drift(_)
    ));
}

#[test]
fn a_cutoff_names_the_consoles_statement_and_a_manual_revoke() {
    let console = crate::policy::RevocationPolicy { cutoff: T0 }.to_json();
    let mut r = request("-");
    r.key = IncidentKey::Cutoff(T0);
    let plan = plan_restore(&r, &[(ROLE_POLICY_NAME, Some(console.clone()))], LATER);
    assert_eq!(
        changes(&plan),
        [PolicyChange::Delete {
            policy_name: ROLE_POLICY_NAME
        }]
    );
    r.key = IncidentKey::Cutoff(T0 + time::Duration::seconds(1));
    assert_eq!(
        plan_restore(&r, &[(ROLE_POLICY_NAME, Some(console))], LATER).verdict,
        Verdict::NothingFound
    );
    // The console's cutoff, then a finding's on top: restoring the finding goes back to the
    // console's cutoff, written as the console writes it (no Sid).
    let mut role = Role {
        role_wide: Some(crate::policy::RevocationPolicy { cutoff: T0 }.to_json()),
        session: None,
    };
    role.revoke(
        &finding("f-1", "alice"),
        "role",
        T0 + time::Duration::hours(1),
    );
    let plan = plan_restore(&request("f-1"), &role.in_place(), LATER);
    role.apply(changes(&plan));
    let back: Value = serde_json::from_str(role.role_wide.as_deref().unwrap()).unwrap();
    let console: Value =
        serde_json::from_str(&crate::policy::RevocationPolicy { cutoff: T0 }.to_json()).unwrap();
    assert_eq!(back, console);
}

#[test]
fn unreadable_or_absent_documents_find_nothing() {
    let plan = plan_restore(
        &request("f-1"),
        &[
            (ROLE_POLICY_NAME, Some("not json".into())),
            (SESSION_POLICY_NAME, None),
        ],
        LATER,
    );
    assert_eq!(plan.verdict, Verdict::NothingFound);
    assert_eq!(plan.notes.len(), 1);
}
