//! Drill 10 (issue 25): approval where the cut is wide, judged by fakecloud. With
//! `APPROVAL_REQUIRED=role-wide` a finding about a stolen role session denies that session at
//! once (fakecloud refuses it) while a bystander session of the same role still works; a forged
//! approval and an expired one write nothing (the bystander still works); the approval the
//! report offered, sent as it is, writes the role-wide deny and fakecloud refuses the bystander
//! too. GuardDuty (read again by the approval) is the loopback stand-in.

use crate::drills::fakecloud::{self, Cloud, ACCOUNT};
use crate::drills::runtime::Lambda;
use crate::guardduty_loopback::GuardDutyLoopback;
use crate::{
    envelope, finding, must_work, Checks, Stolen, MALICIOUS_IP, ROLE_POLICY, SESSION_POLICY,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

fn statuses(report: &Value) -> Vec<String> {
    crate::drills::runtime::all_actions(report)
        .iter()
        .map(|a| format!("{} {}", a["action"], a["status"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_10_role_wide_approval_cuts_the_stolen_session_now_and_the_rest_after_approve() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d10-{n}-operator")).await;
    let role = cloud.role(&format!("d10-{n}-web")).await;
    let stolen = cloud.assume(&operator, &role, "ci-pipeline-1").await;
    let bystander = cloud.assume(&operator, &role, "honest-web-1").await;
    must_work(&cloud, "the stolen session", &stolen.creds).await;
    must_work(&cloud, "the bystander session", &bystander.creds).await;
    let f = finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::role_session(&role, &stolen),
        OffsetDateTime::now_utc(),
    );
    let guardduty = GuardDutyLoopback::start();
    guardduty.register(&f);
    let lambda = Lambda::start(
        "d10",
        1,
        &[
            ("APPROVAL_REQUIRED", "role-wide"),
            ("REVOKE_SCOPE", "role"),
            ("VERIFY_FINDINGS", "true"),
            ("AWS_ENDPOINT_URL_GUARDDUTY", &guardduty.endpoint),
        ],
    );
    let mut c = Checks::new("drill 10");

    // The finding: the stolen session at once, the role-wide deny proposed.
    let proposal = lambda.invoke(&envelope(&f));
    let proposal = proposal.report("drill 10, the finding");
    c.check(
        "the outcome is approval_needed",
        proposal["outcome"] == "approval_needed",
        format!("{} {:?}", proposal["summary"], statuses(proposal)),
    );
    c.check(
        "the headline leads with APPROVAL NEEDED",
        proposal["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("APPROVAL NEEDED")),
        &proposal["summary"],
    );
    let request = proposal["incidents"][0]["approval"]["request"].clone();
    c.check(
        "the report offers the approve request",
        request["action"] == "approve" && request["role"] == role.name.as_str(),
        &request,
    );
    c.denied(&cloud, "the stolen session", &stolen.creds).await;
    c.works(
        &cloud,
        "the bystander session, before approval",
        &bystander.creds,
    )
    .await;
    c.check(
        format!("no role-wide {ROLE_POLICY} yet"),
        cloud.role_policy(&role.name, ROLE_POLICY).await.is_none(),
        "",
    );
    let session_policy = cloud.role_policy(&role.name, SESSION_POLICY).await;

    // A forged approval (another digest) and an expired one write nothing.
    let mut forged = request.clone();
    forged["digest"] = json!("0".repeat(64));
    let mut expired = request.clone();
    expired["expires_at"] = json!(fakecloud::utc(
        OffsetDateTime::now_utc() - time::Duration::minutes(1)
    ));
    for (what, payload, code) in [
        ("a forged approval", forged, "plan_changed"),
        ("an expired approval", expired, "expired"),
    ] {
        let refused = lambda.invoke(&payload);
        let refused = refused.report(&format!("drill 10, {what}"));
        let first = &refused["incidents"][0]["actions"][0];
        c.check(
            format!("{what} is refused ({code})"),
            first["facts"]["approval"] == code && first["status"] == "manual_action_required",
            &first["detail"],
        );
        c.check(
            format!("{what} writes nothing"),
            cloud.role_policy(&role.name, ROLE_POLICY).await.is_none()
                && cloud.role_policy(&role.name, SESSION_POLICY).await == session_policy,
            "",
        );
        c.works(
            &cloud,
            &format!("the bystander session, after {what}"),
            &bystander.creds,
        )
        .await;
    }

    // The approval as the report gave it, with who and why.
    let mut approve = request.clone();
    approve["reason"] = json!("drill 10: the app owner agreed");
    approve["requested_by"] = json!("drill-operator");
    let approved = lambda.invoke(&approve);
    let approved = approved.report("drill 10, the approval");
    c.check(
        "the approval revokes role-wide",
        approved["outcome"] == "revoked",
        format!("{} {:?}", approved["summary"], statuses(approved)),
    );
    let written = cloud.role_policy(&role.name, ROLE_POLICY).await;
    c.check(
        format!("{ROLE_POLICY} is written, in revocation shape"),
        written
            .as_deref()
            .is_some_and(|d| crate::only_revocations(d, false).is_ok()),
        written.as_deref().unwrap_or("(none)"),
    );
    c.denied(
        &cloud,
        "the bystander session, after approval",
        &bystander.creds,
    )
    .await;
    c.denied(&cloud, "the stolen session, still", &stolen.creds)
        .await;
    crate::wait_past(crate::cutoff_of(written.as_deref(), &Value::Null)).await;
    let fresh = cloud.assume(&operator, &role, "honest-web-2").await;
    c.works(&cloud, "a session assumed after the cutoff", &fresh.creds)
        .await;
    c.check(
        "the approval read the finding again from GuardDuty",
        guardduty
            .requests()
            .iter()
            .filter(|r| {
                r.finding_ids
                    .iter()
                    .any(|id| Some(id.as_str()) == f["id"].as_str())
            })
            .count()
            >= 4,
        format!("{:?}", guardduty.requests()),
    );
    c.done();
}
