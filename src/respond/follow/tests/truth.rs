//! Issue 21 on the in-memory accounts and CloudTrail: what the follow-up leaves live is an
//! action a person sees; other regions are read; a session name used twice is followed through
//! both keys; the next look follows the follow-up's own revocations, an archived finding's
//! scheduled look, and a protected role's key.

use super::*;
use crate::model::{ActionKind, ActionOutcome};

/// The same record in another region.
fn in_region(mut record: Value, region: &str) -> Value {
    record["awsRegion"] = json!(region);
    record
}

fn manual<'a>(report: &'a Report, target_has: &str) -> &'a ActionOutcome {
    report.incidents[0]
        .actions
        .iter()
        .find(|a| a.status == Status::ManualActionRequired && a.target.contains(target_has))
        .unwrap_or_else(|| {
            panic!(
                "no manual action for {target_has}: {:#?}",
                report.incidents[0].actions
            )
        })
}

#[tokio::test]
async fn a_listed_key_is_an_action_with_its_command_not_a_silent_line() {
    let w = world();
    w.trail
        .add(&create_key(1, "backup-svc", "AKIAATTACKERKEY00001"));
    let report = w
        .responder(config(&[("TRAIL_REGIONS", "us-east-1")]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let key = manual(&report, "AKIAATTACKERKEY00001");
    assert_eq!(key.action, ActionKind::DeactivateAccessKey);
    assert!(key.detail.contains("CONTAIN_PERSISTENCE=report"), "{key:?}");
    assert_eq!(
        key.commands[0],
        "aws iam update-access-key --user-name backup-svc --access-key-id AKIAATTACKERKEY00001 --status Inactive"
    );
    assert_eq!(
        key.facts.get("found_by").map(String::as_str),
        Some("following the stolen key")
    );
    assert_eq!(
        w.own.key_status("backup-svc", "AKIAATTACKERKEY00001"),
        Some(KeyStatus::Active)
    );
}

#[tokio::test]
async fn an_assume_role_in_a_third_region_is_read_and_revoked() {
    let w = world();
    w.trail.add(&in_region(
        assume(1, OWN, "deploy", "x-far-region", "ASIACHAINKEY00000009"),
        "ap-southeast-2",
    ));
    let regions = Ok(vec![
        "us-east-1".to_string(),
        "eu-west-1".to_string(),
        "ap-southeast-2".to_string(),
    ]);
    let report = w
        .responder_with(config(&[]), |a| a.with_regions(regions))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let deny = w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .expect("the session assumed through ap-southeast-2's STS endpoint is revoked");
    assert!(deny.contains(":x-far-region"), "{deny}");
    let f = follow_up(&report);
    assert_eq!(
        f["regions"],
        json!(["us-east-1", "eu-west-1", "ap-southeast-2"]),
        "{f}"
    );
    let read: Vec<(String, String)> = w.trail.lookups.lock().unwrap().clone();
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
        assert!(
            read.iter().any(|(r, k)| r == region && k == STOLEN_KEY),
            "{region}: {read:?}"
        );
    }
}

#[tokio::test]
async fn a_region_that_could_not_be_read_is_not_nothing_found() {
    let w = world();
    w.trail.fail_in.lock().unwrap().insert(
        "eu-west-1".into(),
        crate::error::AwsError::new(
            "LookupEvents",
            "AccessDeniedException",
            "SCP denies eu-west-1",
        ),
    );
    let report = w
        .responder(config(&[("TRAIL_REGIONS", "eu-west-1")]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let f = follow_up(&report);
    assert_eq!(f["keys"][0]["result"], "partial", "{f}");
    assert!(
        f["regions_not_read"][0]
            .as_str()
            .unwrap()
            .starts_with("eu-west-1: LookupEvents AccessDeniedException"),
        "{f}"
    );
    let gap = manual(&report, STOLEN_KEY);
    assert!(
        gap.detail
            .contains("eu-west-1 (LookupEvents AccessDeniedException"),
        "{gap:?}"
    );
    assert!(gap
        .commands
        .iter()
        .any(|c| c.starts_with("aws cloudtrail lookup-events --region eu-west-1 --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=ASIAQEXAMPLE7DEPLOY1")));
    // us-east-1 was read: nothing missing there, so no command for it.
    assert!(!gap
        .commands
        .iter()
        .any(|c| c.contains("--region us-east-1")));
}

#[tokio::test]
async fn regions_that_could_not_be_listed_are_a_persons() {
    let w = world();
    let report = w
        .responder_with(config(&[]), |a| {
            a.with_regions(Err(crate::error::AwsError::new(
                "DescribeRegions",
                "UnauthorizedOperation",
                "no",
            )))
        })
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let gap = manual(&report, "CloudTrail of the other regions");
    assert!(gap.detail.contains("UnauthorizedOperation"), "{gap:?}");
    assert!(gap.commands.iter().any(|c| c.contains("describe-regions")));
    let f = follow_up(&report);
    assert!(
        f["note"]
            .as_str()
            .unwrap()
            .contains("other regions were not read"),
        "{f}"
    );
}

#[tokio::test]
async fn the_page_cap_leaves_the_rest_to_a_person() {
    let w = world();
    // 21 one-event pages in a region of its own (the pacer is per account and region: this
    // test's 20 paced pages, about 10 s, do not slow the others).
    *w.trail.page_size.lock().unwrap() = Some(1);
    for n in 0..21 {
        w.trail.add(&in_region(
            create_key(100 + n, "backup-svc", "AKIAATTACKERKEY00001"),
            "ap-south-1",
        ));
    }
    let report = w
        .responder(config(&[("TRAIL_REGIONS", "ap-south-1")]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let gap = manual(&report, &format!("key {STOLEN_KEY}"));
    assert!(
        gap.detail
            .contains("ap-south-1 (more than 1000 events, only the first 20 pages read)"),
        "{gap:?}"
    );
    let pages = w
        .trail
        .lookups
        .lock()
        .unwrap()
        .iter()
        .filter(|(r, k)| r == "ap-south-1" && k == STOLEN_KEY)
        .count();
    assert_eq!(pages, 20);
}

#[tokio::test]
async fn a_session_name_used_twice_is_followed_through_its_second_key() {
    let w = world();
    w.trail
        .add(&assume(1, OWN, "deploy", "same", "ASIACHAINKEY00000011"));
    w.trail
        .add(&assume(2, OWN, "deploy", "same", "ASIACHAINKEY00000012"));
    // Only the second session's key created a user.
    let mut user = record(
        3,
        "CreateUser",
        "iam.amazonaws.com",
        json!({"userName": "backdoor"}),
        json!({"user": {"userName": "backdoor"}}),
    );
    user["userIdentity"]["accessKeyId"] = json!("ASIACHAINKEY00000012");
    w.trail.add(&user);
    let report = w
        .responder(config(&[("TRAIL_REGIONS", "us-east-1")]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let f = follow_up(&report);
    assert!(
        f["persistence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["what"] == "user backdoor created"),
        "{f}"
    );
    let deny = w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .unwrap();
    assert_eq!(deny.matches(":same\"").count(), 1, "{deny}");
    let denied = report.incidents[0]
        .actions
        .iter()
        .find(|a| a.target == "deploy")
        .expect("deploy revoked");
    assert_eq!(
        denied.facts.get("sessions").map(String::as_str),
        Some(format!("{}:same", role_id_of("deploy")).as_str())
    );
}

#[tokio::test]
async fn a_session_revoked_by_the_follow_up_gets_its_own_next_look() {
    let w = world();
    // The finding's own deny has been in place for an hour (a re-delivery): on its own, no look.
    let old = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    w.own.put_role_policy_now(
        "app-deployer",
        policy::ROLE_POLICY_NAME,
        &policy::RevocationPolicy { cutoff: old }.to_json(),
    );
    let quiet = w
        .responder(config(&[("TRAIL_REGIONS", "us-east-1")]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert_eq!(follow_up(&quiet)["next_look"]["status"], "none");
    // Now the key's AssumeRole arrives: the session revoked now needs a look after its lag.
    w.trail
        .add(&assume(1, OWN, "deploy", "x-late", "ASIACHAINKEY00000021"));
    let report = w
        .responder(config(&[("TRAIL_REGIONS", "us-east-1")]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert!(w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .is_some());
    let next = &follow_up(&report)["next_look"];
    assert_eq!(next["status"], "not_scheduled", "{next}");
    let at = revoker_core::names::parse_utc(next["at"].as_str().unwrap()).unwrap();
    assert!(at > time::OffsetDateTime::now_utc() + time::Duration::minutes(16));
}

#[tokio::test]
async fn the_scheduled_look_follows_a_finding_archived_since() {
    let w = world();
    w.trail
        .add(&assume(1, OWN, "deploy", "x-arch", "ASIACHAINKEY00000031"));
    let mut archived = event();
    archived["detail"]["service"]["archived"] = json!(true);
    // Delivered archived: skipped, nothing followed.
    let r = w.responder(config(&[("TRAIL_REGIONS", "us-east-1")]));
    let skipped = r.respond(&archived, Budget::UNLIMITED).await.unwrap();
    assert!(skipped.incidents[0].follow_up.is_none());
    assert!(w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .is_none());
    // The scheduled look of the same finding, archived in between: still follows.
    archived[crate::respond::next_look::NEXT_LOOK_KEY] = json!("2026-11-22T03:16:00Z");
    let rerun = r.respond(&archived, Budget::UNLIMITED).await.unwrap();
    assert!(rerun.incidents[0].follow_up.is_some());
    assert!(w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .is_some_and(|d| d.contains(":x-arch")));
    // The finding's own role is left as it is (archived: not written).
    assert!(w
        .own
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_none());
}

#[tokio::test]
async fn a_protected_finding_role_is_still_followed() {
    let w = world();
    w.trail.add(&assume(
        1,
        OWN,
        "deploy",
        "x-from-protected",
        "ASIACHAINKEY00000041",
    ));
    let report = w
        .responder(config(&[
            ("PROTECTED_ROLES", "app-deployer"),
            ("TRAIL_REGIONS", "us-east-1"),
        ]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    assert!(w
        .own
        .role_policy("app-deployer", policy::ROLE_POLICY_NAME)
        .is_none());
    assert!(report.incidents[0].follow_up.is_some());
    assert!(w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .is_some_and(|d| d.contains(":x-from-protected")));
}

#[tokio::test]
async fn a_pivot_into_a_protected_role_or_outside_the_accounts_is_a_persons_with_commands() {
    let w = world();
    w.own.add_role("OrganizationAccountAccessRole", "/");
    w.trail.add(&assume(
        1,
        OWN,
        "OrganizationAccountAccessRole",
        "x-org",
        "ASIACHAINKEY00000051",
    ));
    w.trail.add(&assume(
        2,
        "777788889999",
        "ops",
        "x-far",
        "ASIACHAINKEY00000052",
    ));
    // A record whose session name is a policy variable: never written, a person looks.
    w.trail.add(&assume(
        3,
        OWN,
        "deploy",
        "${aws:username}",
        "ASIACHAINKEY00000053",
    ));
    let report = w
        .responder(config(&[
            ("PROTECTED_ROLES", "OrganizationAccountAccessRole"),
            ("ALLOWED_ACCOUNTS", "123456789012,444455556666"),
            ("TRAIL_REGIONS", "us-east-1"),
        ]))
        .respond(&event(), Budget::UNLIMITED)
        .await
        .unwrap();
    let org = manual(&report, "x-org");
    assert!(org
        .commands
        .iter()
        .any(|c| c.contains("aws iam put-role-policy --role-name OrganizationAccountAccessRole")));
    let far = manual(&report, "x-far");
    assert!(far.detail.contains("ALLOWED_ACCOUNTS"));
    // The far session's key was not read: a person reads it, in its account.
    let unread = manual(&report, "key ASIACHAINKEY00000052");
    assert!(unread.commands[0].contains("in account 777788889999"));
    let odd = manual(
        &report,
        "AssumeRole event 00000000-0000-4000-8000-000000000003",
    );
    assert_eq!(
        odd.commands,
        vec!["aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=EventId,AttributeValue=00000000-0000-4000-8000-000000000003"]
    );
    assert!(w
        .own
        .role_policy("deploy", policy::SESSION_POLICY_NAME)
        .is_none());
}
