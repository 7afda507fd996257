//! Drill 9 (issue 25): a one-shot restore, judged by fakecloud. Two incidents on one role, each
//! a stolen session denied by its own statement (`REVOKE_SCOPE=session`); a restore of the
//! first before the safe time, not forced, writes nothing; forced with a reason, it lets the
//! first session in again (fakecloud's verdict) and leaves the second incident's deny in force;
//! a second restore finds nothing.

use crate::drills::fakecloud::{self, Cloud, ACCOUNT};
use crate::drills::runtime::Lambda;
use crate::{envelope, finding, must_work, Checks, Stolen, MALICIOUS_IP, SESSION_POLICY};
use serde_json::{json, Value};
use time::OffsetDateTime;

fn restore(role: &str, finding_id: &Value, extra: Value) -> Value {
    let mut r = json!({"action": "restore", "role": role, "finding_id": finding_id});
    for (k, v) in extra.as_object().into_iter().flatten() {
        r[k] = v.clone();
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_9_a_forced_restore_lets_the_session_in_and_keeps_the_other_incident() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d9-{n}-operator")).await;
    let role = cloud.role(&format!("d9-{n}-deployer")).await;
    let first = cloud.assume(&operator, &role, "ci-pipeline-1").await;
    let second = cloud.assume(&operator, &role, "ci-pipeline-2").await;
    must_work(&cloud, "the first stolen session", &first.creds).await;
    must_work(&cloud, "the second stolen session", &second.creds).await;
    let seen = OffsetDateTime::now_utc();
    let lambda = Lambda::start("d9", 1, &[("REVOKE_SCOPE", "session")]);
    let f1 = finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::role_session(&role, &first),
        seen,
    );
    let f2 = finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::role_session(&role, &second),
        seen,
    );
    lambda
        .invoke(&envelope(&f1))
        .report("drill 9, first finding");
    lambda
        .invoke(&envelope(&f2))
        .report("drill 9, second finding");

    let mut c = Checks::new("drill 9");
    c.denied(&cloud, "the first stolen session", &first.creds)
        .await;
    c.denied(&cloud, "the second stolen session", &second.creds)
        .await;
    let written = cloud.role_policy(&role.name, SESSION_POLICY).await;

    // Not forced, before the safe time (cutoff + 12 h): refused, nothing written.
    let early = lambda.invoke(&restore(&role.name, &f1["id"], json!({"dry_run": false})));
    let early = early.report("drill 9, unforced restore");
    c.check(
        "an unforced restore before the safe time is refused",
        early["status"] == "too_early",
        &early["detail"],
    );
    let after_early = cloud.role_policy(&role.name, SESSION_POLICY).await;
    c.check(
        "and writes nothing",
        after_early == written,
        after_early.as_deref().unwrap_or("(none)"),
    );
    c.denied(&cloud, "the first stolen session, still", &first.creds)
        .await;

    // Forced, with a reason: the first session works again, the second incident's deny stays.
    let forced = lambda.invoke(&restore(
        &role.name,
        &f1["id"],
        json!({"dry_run": false, "force": true, "reason": "drill: our own pipeline"}),
    ));
    let forced = forced.report("drill 9, forced restore");
    c.check(
        "the forced restore is done",
        forced["status"] == "restored",
        &forced["detail"],
    );
    c.check(
        "and says the stolen tokens work again",
        forced["warnings"].to_string().contains("work again"),
        &forced["warnings"],
    );
    c.works(&cloud, "the first session, restored", &first.creds)
        .await;
    c.denied(
        &cloud,
        "the second stolen session (the other incident)",
        &second.creds,
    )
    .await;
    let left = cloud.role_policy(&role.name, SESSION_POLICY).await;
    c.check(
        "the other incident's statement is what is left",
        left.as_deref()
            .is_some_and(|d| d.contains(&second.userid) && !d.contains(&first.userid)),
        left.as_deref().unwrap_or("(none)"),
    );

    // Once: a second restore finds nothing.
    let again = lambda.invoke(&restore(
        &role.name,
        &f1["id"],
        json!({"dry_run": false, "force": true, "reason": "again"}),
    ));
    let again = again.report("drill 9, second restore");
    c.check(
        "a second restore finds nothing",
        again["status"] == "nothing_found",
        &again["detail"],
    );
    c.done();
}
