//! Drills (issue 12): containment proven against an IAM implementation this project did not
//! write.
//!
//! Each drill: the attacker's credentials make a real call that works; the function runs the
//! way Lambda runs it (the built binary polling a Lambda Runtime API, `drills/runtime.rs`) on a
//! GuardDuty event naming those credentials; then the same credentials are refused by
//! fakecloud (`--iam strict --verify-sigv4`, docs/emulators.md), and honest principals still
//! work. The verdicts are fakecloud's, from its own evaluation of the policies the function
//! wrote (`drills/fakecloud.rs` says what was checked in its sources).
//!
//! Needs `FAKECLOUD_ENDPOINT` (set by `tools/with-fakecloud.sh`; `make test` runs the tests
//! through it). Without it every drill fails, saying so:
//!
//! ```text
//! tools/with-fakecloud.sh cargo test --test drills -- --test-threads=2
//! ```
//!
//! The drills share one fakecloud and run in parallel: every drill makes its own principals,
//! named `d<N>-<nonce>-…`, and never resets the emulator. The function runs with
//! `CUTOFF_MARGIN_SECONDS=2` (fakecloud compares `aws:TokenIssueTime` at whole seconds, so the
//! margin must be at least 1 s; 2 s keeps each drill to a few seconds).
//!
//! What fakecloud cannot express, and what the drills do instead:
//! - GetFederationToken sessions can do nothing in fakecloud (no identity policies for
//!   federated users, `fakecloud-iam` `evaluator.rs`), so "works before, refused after" cannot
//!   be shown for them: drill 4 mints one anyway, and judges the user's policies as the function
//!   left them with iam-simulate (`tools/iam-judge`) for a federated session issued before the
//!   cutoff; if fakecloud ever serves federated sessions, the drill checks them for real.
//! - A member account the function cannot reach (drill 7) is an account fakecloud has no
//!   member role in: AssumeRole is refused, as it is when the member role is missing in AWS.
//! - No CloudTrail events, no GuardDuty: the findings are written here, shaped like the real
//!   ones (`events/`), naming exactly the ids fakecloud minted.

mod drills {
    pub mod approval;
    pub mod fakecloud;
    pub mod judge;
    pub mod restore;
    pub mod runtime;
}
#[path = "support/cloudtrail_loopback.rs"]
mod cloudtrail_loopback;
// GuardDuty read again by an approval (drills/approval.rs); not every helper is used here.
#[allow(dead_code)]
#[path = "common/guardduty_loopback.rs"]
mod guardduty_loopback;

use drills::fakecloud::{self, utc, Cloud, Creds, Role, Session, User, ACCOUNT, REGION};
use drills::judge::judge;
use drills::runtime::{all_actions, Invocation, Lambda};
use serde_json::{json, Value};
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

const ROLE_POLICY: &str = "AWSRevokeOlderSessions";
const SESSION_POLICY: &str = "SessionRevokerDenyStolenSessions";
const INSTANCE_EXFILTRATION: &str =
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS";
const MALICIOUS_IP: &str = "UnauthorizedAccess:IAMUser/MaliciousIPCaller";
const DETECTOR: &str = "6ec7b0a4c1f6d12b8e3a9c1f00drill0";
/// A cutoff no revocation would write: the decoys' "already covered" bait.
const FAR_FUTURE: &str = "2099-01-01T00:00:00Z";
/// A member account that fakecloud has no member role in.
const UNREACHABLE_ACCOUNT: &str = "111111111111";

// ---- findings -------------------------------------------------------------------------------

/// GuardDuty's timestamp form (milliseconds, `Z`).
fn gd_time(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .expect("formats")
}

static SERIAL: AtomicU64 = AtomicU64::new(0);

/// 32 hex characters, unique in this run (a GuardDuty finding id, or an EventBridge id's stuff).
fn unique_hex() -> String {
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() as u128;
    format!("{:020x}{:012x}", nanos, serial)
}

/// Whose credentials the finding names (`resource.accessKeyDetails`).
struct Stolen {
    user_type: &'static str,
    user_name: String,
    principal_id: String,
    access_key_id: String,
}

impl Stolen {
    /// A role session: `userName` is the role, `principalId` `<RoleId>:<session>`.
    fn role_session(role: &Role, s: &Session) -> Self {
        Stolen {
            user_type: "AssumedRole",
            user_name: role.name.clone(),
            principal_id: s.userid.clone(),
            access_key_id: s.creds.key.clone(),
        }
    }

    /// An IAM user's key (long-term or a GetSessionToken session): `principalId` is the
    /// user's id.
    fn user_key(user: &User, key: &Creds) -> Self {
        Stolen {
            user_type: "IAMUser",
            user_name: user.name.clone(),
            principal_id: user.id.clone(),
            access_key_id: key.key.clone(),
        }
    }
}

/// A finding (`detail`): `last_seen` is the attacker's last call GuardDuty saw.
fn finding(account: &str, kind: &str, who: &Stolen, last_seen: OffsetDateTime) -> Value {
    let id = unique_hex();
    let severity = if kind == INSTANCE_EXFILTRATION {
        8.0
    } else {
        5.0
    };
    json!({
        "schemaVersion": "2.0",
        "accountId": account,
        "region": REGION,
        "partition": "aws",
        "id": id,
        "arn": format!("arn:aws:guardduty:{REGION}:{account}:detector/{DETECTOR}/finding/{id}"),
        "type": kind,
        "resource": {
            "resourceType": "AccessKey",
            "accessKeyDetails": {
                "accessKeyId": who.access_key_id,
                "principalId": who.principal_id,
                "userType": who.user_type,
                "userName": who.user_name
            }
        },
        "service": {
            "serviceName": "guardduty",
            "detectorId": DETECTOR,
            "action": {
                "actionType": "AWS_API_CALL",
                "awsApiCallAction": {
                    "api": "ListRoles",
                    "serviceName": "iam.amazonaws.com",
                    "callerType": "Remote IP",
                    "remoteIpDetails": {
                        "ipAddressV4": "198.51.100.23",
                        "organization": {"asn": "64501", "asnOrg": "EXAMPLE-HOSTING", "isp": "Example Hosting", "org": "Example Hosting"},
                        "country": {"countryName": "Netherlands"},
                        "city": {"cityName": "Amsterdam"}
                    },
                    "affectedResources": {}
                }
            },
            "resourceRole": "TARGET",
            "additionalInfo": {},
            "eventFirstSeen": gd_time(last_seen - time::Duration::seconds(5)),
            "eventLastSeen": gd_time(last_seen),
            "archived": false,
            "count": 3
        },
        "severity": severity,
        "createdAt": gd_time(last_seen),
        "updatedAt": gd_time(last_seen),
        "title": format!("Credentials of {} used from an external IP address.", who.user_name),
        "description": "Written by session-revoker's drills for credentials fakecloud minted."
    })
}

/// The EventBridge envelope of one delivery (a new `id` on every delivery, as EventBridge does).
fn envelope(detail: &Value) -> Value {
    let id = unique_hex();
    json!({
        "version": "0",
        "id": format!("{}-{}-{}-{}-{}", &id[0..8], &id[8..12], &id[12..16], &id[16..20], &id[20..32]),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": ACCOUNT,
        "time": utc(OffsetDateTime::now_utc()),
        "region": REGION,
        "resources": [],
        "detail": detail
    })
}

// ---- reports --------------------------------------------------------------------------------

/// The action of `kind` on `target` (the test fails, showing the report, if there is none).
fn action<'a>(report: &'a Value, kind: &str, target: &str) -> &'a Value {
    all_actions(report)
        .into_iter()
        .find(|a| a["action"] == kind && a["target"] == target)
        .unwrap_or_else(|| {
            panic!(
                "no {kind} action on {target} in the report:\n{}",
                serde_json::to_string_pretty(report).unwrap_or_default()
            )
        })
}

fn status(a: &Value) -> &str {
    a["status"].as_str().unwrap_or("-")
}

fn brief(a: &Value) -> String {
    format!(
        "{} {} {}: {}",
        a["action"].as_str().unwrap_or("-"),
        a["target"].as_str().unwrap_or("-"),
        status(a),
        a["detail"].as_str().unwrap_or("-")
    )
}

// ---- checks ---------------------------------------------------------------------------------

/// Every check of a drill is made and printed; the drill fails at the end with all that failed
/// (so one report shows every gap, not the first).
struct Checks {
    drill: &'static str,
    failed: Vec<String>,
}

impl Checks {
    fn new(drill: &'static str) -> Self {
        Checks {
            drill,
            failed: Vec::new(),
        }
    }

    fn check(&mut self, what: impl Display, ok: bool, detail: impl Display) {
        let line = format!("{what}: {detail}");
        println!("{} {} {line}", self.drill, if ok { "ok  " } else { "FAIL" });
        if !ok {
            self.failed.push(line);
        }
    }

    async fn works(&mut self, cloud: &Cloud, who: &str, creds: &Creds) {
        let v = cloud.call(creds).await;
        self.check(format!("{who} works"), v.works(), &v);
    }

    async fn denied(&mut self, cloud: &Cloud, who: &str, creds: &Creds) {
        let v = cloud.call(creds).await;
        self.check(format!("{who} is denied"), v.denied(), &v);
    }

    fn done(self) {
        assert!(
            self.failed.is_empty(),
            "{}: {} check(s) failed:\n  {}",
            self.drill,
            self.failed.len(),
            self.failed.join("\n  ")
        );
    }
}

/// Preconditions: the attacker's (or an honest) call works before the response.
async fn must_work(cloud: &Cloud, who: &str, creds: &Creds) {
    let v = cloud.call(creds).await;
    assert!(
        v.works(),
        "{who} ({creds:?}) must work before the response, fakecloud says: {v}"
    );
}

/// The latest literal cutoff in a policy document.
fn latest_cutoff(doc: &str) -> Option<OffsetDateTime> {
    fakecloud::cutoffs(doc).into_iter().max()
}

/// The instant to wait for: the latest cutoff the function wrote (read back from IAM) or
/// reported, else (nothing written) the margin from now.
fn cutoff_of(written: Option<&str>, reported: &Value) -> OffsetDateTime {
    written
        .and_then(latest_cutoff)
        .into_iter()
        .chain(reported["cutoff"].as_str().and_then(fakecloud::parse_time))
        .max()
        .unwrap_or_else(|| OffsetDateTime::now_utc() + time::Duration::seconds(3))
}

/// Sleeps until fakecloud, which truncates issue times to the second, sees tokens minted now
/// as issued at or after `t`.
async fn wait_past(t: OffsetDateTime) {
    let left = t - OffsetDateTime::now_utc() + time::Duration::milliseconds(250);
    assert!(
        left < time::Duration::seconds(60),
        "the cutoff {} is far ahead: with CUTOFF_MARGIN_SECONDS=2 the function writes one \
         about 2 s ahead (a cutoff in the future denies every session issued before it)",
        utc(t)
    );
    if left.is_positive() {
        tokio::time::sleep(Duration::from_millis(left.whole_milliseconds() as u64)).await;
    }
}

/// Every statement is exactly a revocation: Deny, `*` on `*`, one literal
/// `DateLessThan aws:TokenIssueTime`, and (session scope) one `StringEquals aws:userid`.
fn only_revocations(doc: &str, session_scope: bool) -> Result<(), String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| format!("not JSON: {e}"))?;
    let statements = fakecloud::statements(&v);
    if statements.is_empty() {
        return Err("no statement".into());
    }
    let star = |x: &Value| x == "*" || *x == json!(["*"]);
    for s in &statements {
        let cond = s["Condition"].as_object().cloned().unwrap_or_default();
        let date = &cond.get("DateLessThan").cloned().unwrap_or_default();
        let mut expected_ops = vec!["DateLessThan"];
        if session_scope {
            expected_ops.push("StringEquals");
        }
        let ops: Vec<&str> = cond.keys().map(String::as_str).collect();
        let ok = s["Effect"] == "Deny"
            && star(&s["Action"])
            && star(&s["Resource"])
            && s.get("NotAction").is_none()
            && s.get("NotResource").is_none()
            && ops.len() == expected_ops.len()
            && expected_ops.iter().all(|o| ops.contains(o))
            && date.as_object().is_some_and(|d| d.len() == 1)
            && date["aws:TokenIssueTime"].is_string()
            && (!session_scope
                || cond["StringEquals"]
                    .as_object()
                    .is_some_and(|m| m.len() == 1 && m["aws:userid"].is_string()));
        if !ok {
            return Err(format!("statement is not a revocation: {s}"));
        }
    }
    Ok(())
}

// ---- drill 1 --------------------------------------------------------------------------------

/// Stolen role session, role-wide (`REVOKE_SCOPE=role`, the console's shape): the stolen session
/// and every session issued before the cutoff are denied, a session assumed after it works, other
/// roles and users are untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_1_stolen_role_session_role_wide() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d1-{n}-operator")).await;
    let role = cloud.role(&format!("d1-{n}-deployer")).await;
    let other_role = cloud.role(&format!("d1-{n}-reporting")).await;
    let older = cloud.assume(&operator, &role, "nightly-batch").await;
    let stolen = cloud.assume(&operator, &role, "ci-pipeline-4821").await;
    let neighbour = cloud.assume(&operator, &other_role, "reporting-1").await;
    must_work(&cloud, "the older session", &older.creds).await;
    must_work(
        &cloud,
        "the stolen session (the attacker's call)",
        &stolen.creds,
    )
    .await;
    must_work(&cloud, "another role's session", &neighbour.creds).await;
    let seen = OffsetDateTime::now_utc();

    let lambda = Lambda::start("d1", 1, &[("REVOKE_SCOPE", "role")]);
    let event = envelope(&finding(
        ACCOUNT,
        INSTANCE_EXFILTRATION,
        &Stolen::role_session(&role, &stolen),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 1");
    let a = action(report, "revoke_role_sessions", &role.name);
    let written = cloud.role_policy(&role.name, ROLE_POLICY).await;

    let mut c = Checks::new("drill 1");
    c.check("the revocation is done", status(a) == "done", brief(a));
    c.check(
        format!("{ROLE_POLICY} on the role is the console's shape"),
        written
            .as_deref()
            .is_some_and(|d| only_revocations(d, false).is_ok()),
        written.as_deref().unwrap_or("(none)"),
    );
    c.check(
        "the reported cutoff is the one in place",
        written
            .as_deref()
            .and_then(latest_cutoff)
            .map(utc)
            .as_deref()
            == a["cutoff"].as_str(),
        format!("reported {}", a["cutoff"]),
    );
    c.denied(&cloud, "the stolen session", &stolen.creds).await;
    c.denied(&cloud, "the older session", &older.creds).await;
    c.works(&cloud, "another role's session", &neighbour.creds)
        .await;
    c.works(&cloud, "the operator (an IAM user)", &operator)
        .await;

    wait_past(cutoff_of(written.as_deref(), a)).await;
    let fresh = cloud.assume(&operator, &role, "ci-pipeline-4822").await;
    c.works(&cloud, "a session assumed after the cutoff", &fresh.creds)
        .await;
    c.denied(
        &cloud,
        "the stolen session, after the cutoff",
        &stolen.creds,
    )
    .await;
    c.denied(&cloud, "the older session, after the cutoff", &older.creds)
        .await;
    c.done();
}

// ---- drill 2 --------------------------------------------------------------------------------

/// Session scope (`REVOKE_SCOPE=session`), the Bob / Mary / Keith case: three people share a
/// role, Keith's session is stolen; only Keith's session is denied, and Keith can work again
/// with a session assumed after the cutoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_2_session_scope_only_the_stolen_session() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d2-{n}-operator")).await;
    let role = cloud.role(&format!("d2-{n}-support")).await;
    let bob = cloud.assume(&operator, &role, "bob").await;
    let mary = cloud.assume(&operator, &role, "mary").await;
    let keith = cloud.assume(&operator, &role, "keith").await;
    for s in [&bob, &mary, &keith] {
        must_work(&cloud, &s.name, &s.creds).await;
    }
    let seen = OffsetDateTime::now_utc();

    let lambda = Lambda::start("d2", 1, &[("REVOKE_SCOPE", "session")]);
    let event = envelope(&finding(
        ACCOUNT,
        INSTANCE_EXFILTRATION,
        &Stolen::role_session(&role, &keith),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 2");
    let a = action(report, "revoke_sessions", &role.name);
    let written = cloud.role_policy(&role.name, SESSION_POLICY).await;

    let mut c = Checks::new("drill 2");
    c.check(
        "the session revocation is done",
        status(a) == "done",
        brief(a),
    );
    c.check(
        format!("{SESSION_POLICY} names Keith's aws:userid, in revocation shape"),
        written.as_deref().is_some_and(|d| {
            d.contains(&format!("\"{}\"", keith.userid)) && only_revocations(d, true).is_ok()
        }),
        written.as_deref().unwrap_or("(none)"),
    );
    c.check(
        format!("no role-wide {ROLE_POLICY}"),
        cloud.role_policy(&role.name, ROLE_POLICY).await.is_none(),
        "",
    );
    c.denied(&cloud, "keith's stolen session", &keith.creds)
        .await;
    c.works(&cloud, "bob", &bob.creds).await;
    c.works(&cloud, "mary", &mary.creds).await;

    wait_past(cutoff_of(written.as_deref(), a)).await;
    let keith_again = cloud.assume(&operator, &role, "keith").await;
    c.works(
        &cloud,
        "keith's new session after the cutoff",
        &keith_again.creds,
    )
    .await;
    c.denied(
        &cloud,
        "keith's stolen session, after the cutoff",
        &keith.creds,
    )
    .await;
    c.works(&cloud, "bob, after the cutoff", &bob.creds).await;
    c.works(&cloud, "mary, after the cutoff", &mary.creds).await;
    c.done();
}

// ---- drill 3 --------------------------------------------------------------------------------

const PARALLEL: usize = 20;

/// Twenty findings for one role, each naming another session, in twenty parallel invocations
/// (twenty execution environments, released together), session scope: every one of the twenty
/// sessions is denied at the end, none lost between concurrent read-merge-writes. An invocation
/// that fails is retried, as Lambda retries an asynchronous invocation (twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_3_twenty_parallel_findings_one_role() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d3-{n}-operator")).await;
    let role = cloud.role(&format!("d3-{n}-fleet")).await;
    let honest = cloud.assume(&operator, &role, "honest-worker").await;
    let mut stolen = Vec::new();
    for i in 0..PARALLEL {
        stolen.push(
            cloud
                .assume(&operator, &role, &format!("worker-{i:02}"))
                .await,
        );
    }
    for s in &stolen {
        must_work(&cloud, &s.name, &s.creds).await;
    }
    let seen = OffsetDateTime::now_utc();
    let events: Vec<Value> = stolen
        .iter()
        .map(|s| {
            envelope(&finding(
                ACCOUNT,
                INSTANCE_EXFILTRATION,
                &Stolen::role_session(&role, s),
                seen,
            ))
        })
        .collect();

    let lambda = Lambda::start("d3", PARALLEL, &[("REVOKE_SCOPE", "session")]);
    let mut results = lambda.invoke_together(&events);
    let mut retries = 0;
    for _ in 0..2 {
        let failed: Vec<usize> = (0..PARALLEL).filter(|&i| results[i].is_error()).collect();
        if failed.is_empty() {
            break;
        }
        retries += failed.len();
        let again: Vec<Value> = failed.iter().map(|&i| events[i].clone()).collect();
        for (i, r) in failed.into_iter().zip(lambda.invoke_together(&again)) {
            results[i] = r;
        }
    }
    println!("drill 3: {retries} invocation(s) retried");

    let mut c = Checks::new("drill 3");
    for (s, r) in stolen.iter().zip(&results) {
        let ok = match r {
            Invocation::Response(report) => all_actions(report).iter().any(|a| {
                a["action"] == "revoke_sessions" && ["done", "already_covered"].contains(&status(a))
            }),
            Invocation::Error { .. } => false,
        };
        c.check(
            format!(
                "the invocation for {} (with Lambda's retries) reports the session denied",
                s.name
            ),
            ok,
            match r {
                Invocation::Response(report) => all_actions(report)
                    .iter()
                    .map(|a| brief(a))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.describe(),
            },
        );
    }
    let written = cloud.role_policy(&role.name, SESSION_POLICY).await;
    let doc = written.clone().unwrap_or_default();
    let missing: Vec<&str> = stolen
        .iter()
        .filter(|s| !doc.contains(&format!("\"{}\"", s.userid)))
        .map(|s| s.name.as_str())
        .collect();
    c.check(
        format!("{SESSION_POLICY} names all {PARALLEL} sessions"),
        written.is_some() && missing.is_empty(),
        format!("missing: {missing:?}"),
    );
    let mut survivors = Vec::new();
    for s in &stolen {
        let v = cloud.call(&s.creds).await;
        if !v.denied() {
            survivors.push(format!("{} {v}", s.name));
        }
    }
    c.check(
        format!("all {PARALLEL} stolen sessions are denied"),
        survivors.is_empty(),
        format!("{} survive: {survivors:?}", survivors.len()),
    );
    c.works(&cloud, "an honest session of the same role", &honest.creds)
        .await;
    c.done();
}

/// The same twenty findings in one payload (a JSON array of findings, as `aws guardduty
/// get-findings` gives them to a person replaying them): every session denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_3b_twenty_findings_one_payload() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d3b-{n}-operator")).await;
    let role = cloud.role(&format!("d3b-{n}-fleet")).await;
    let honest = cloud.assume(&operator, &role, "honest-worker").await;
    let mut stolen = Vec::new();
    for i in 0..PARALLEL {
        stolen.push(
            cloud
                .assume(&operator, &role, &format!("worker-{i:02}"))
                .await,
        );
    }
    for s in &stolen {
        must_work(&cloud, &s.name, &s.creds).await;
    }
    let seen = OffsetDateTime::now_utc();
    let payload = Value::Array(
        stolen
            .iter()
            .map(|s| {
                finding(
                    ACCOUNT,
                    INSTANCE_EXFILTRATION,
                    &Stolen::role_session(&role, s),
                    seen,
                )
            })
            .collect(),
    );
    let lambda = Lambda::start("d3b", 1, &[("REVOKE_SCOPE", "session")]);
    let invocation = lambda.invoke(&payload);

    let mut c = Checks::new("drill 3b");
    c.check(
        "the invocation succeeds",
        !invocation.is_error(),
        if invocation.is_error() {
            invocation.describe()
        } else {
            String::new()
        },
    );
    let mut survivors = Vec::new();
    for s in &stolen {
        let v = cloud.call(&s.creds).await;
        if !v.denied() {
            survivors.push(format!("{} {v}", s.name));
        }
    }
    c.check(
        format!("all {PARALLEL} stolen sessions are denied"),
        survivors.is_empty(),
        format!("{} survive: {survivors:?}", survivors.len()),
    );
    c.works(&cloud, "an honest session of the same role", &honest.creds)
        .await;
    c.done();
}

// ---- drill 4 --------------------------------------------------------------------------------

/// An IAM user's long-term key is stolen, and the attacker minted sessions from it before the
/// response (GetSessionToken, GetFederationToken). The key is deactivated (exactly that key: the
/// user's other key stays active and working), and the sessions minted from it are denied too.
///
/// fakecloud refuses every GetFederationToken session (no identity policies for federated
/// users, docs/emulators.md quirk 3), so that half is judged with iam-simulate on the user's
/// policies as the function left them (read back from fakecloud): a federated session of this
/// user issued before the cutoff must be explicitly denied, one issued at the cutoff allowed.
/// Should fakecloud start serving federated sessions, the drill checks it for real as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_4_long_term_key_and_sessions_minted_from_it() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let user = cloud.user(&format!("d4-{n}-ci-bot")).await;
    let stolen_key = cloud.key(&user.name).await;
    let other_key = cloud.key(&user.name).await;
    must_work(
        &cloud,
        "the stolen long-term key (the attacker's call)",
        &stolen_key,
    )
    .await;
    must_work(&cloud, "the user's other key", &other_key).await;
    let minted = cloud.session_token(&stolen_key).await;
    must_work(
        &cloud,
        "a GetSessionToken session minted from the stolen key",
        &minted,
    )
    .await;
    let fed_name = "d4-fed";
    let federated = cloud
        .federation_token(&stolen_key, fed_name, fakecloud::ALLOW_ALL)
        .await;
    let federated_before = cloud.call(&federated).await;
    println!(
        "drill 4: a GetFederationToken session before the response: {federated_before}{}",
        if federated_before.works() {
            ""
        } else {
            " (fakecloud refuses federated sessions whatever the policies: judged with iam-simulate below)"
        }
    );
    let seen = OffsetDateTime::now_utc();

    let lambda = Lambda::start("d4", 1, &[]);
    let event = envelope(&finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::user_key(&user, &stolen_key),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 4");
    let keys = cloud.key_statuses(&user.name).await;
    let written = cloud.user_policy(&user.name, ROLE_POLICY).await;

    let mut c = Checks::new("drill 4");
    c.check(
        "the report deactivates the stolen key",
        all_actions(report)
            .iter()
            .any(|a| a["action"] == "deactivate_access_key" && status(a) == "done"),
        all_actions(report)
            .iter()
            .map(|a| brief(a))
            .collect::<Vec<_>>()
            .join("; "),
    );
    c.check(
        "ListAccessKeys: the stolen key is Inactive",
        keys.get(&stolen_key.key).map(String::as_str) == Some("Inactive"),
        format!("{keys:?}"),
    );
    c.check(
        "ListAccessKeys: the user's other key is still Active",
        keys.get(&other_key.key).map(String::as_str) == Some("Active"),
        format!("{keys:?}"),
    );
    let v = cloud.call(&stolen_key).await;
    c.check("the stolen key is refused", v.refused(), &v);
    c.check(
        format!("the user has an {ROLE_POLICY} in revocation shape"),
        written
            .as_deref()
            .is_some_and(|d| only_revocations(d, false).is_ok()),
        written.as_deref().unwrap_or("(none)"),
    );
    c.denied(
        &cloud,
        "the GetSessionToken session minted from the stolen key before the response",
        &minted,
    )
    .await;
    c.works(&cloud, "the user's other key", &other_key).await;

    // The federated session, judged by iam-simulate on the user's policies in place.
    let policies = cloud.user_policies(&user.name).await;
    let cutoff = cutoff_of(written.as_deref(), &Value::Null);
    let issued = federated.minted_by.expect("minted");
    let request = |issued: OffsetDateTime| {
        json!({
            "identityPolicies": policies.iter().map(|(name, doc)| json!({"name": name, "policy": doc})).collect::<Vec<_>>(),
            "sessionPolicy": fakecloud::ALLOW_ALL,
            "action": "iam:ListRoles",
            "resource": "*",
            "principal": format!("arn:aws:sts::{ACCOUNT}:federated-user/{fed_name}"),
            "accountId": ACCOUNT,
            "context": {
                "aws:TokenIssueTime": utc(issued),
                "aws:userid": format!("{ACCOUNT}:{fed_name}"),
                "aws:CurrentTime": utc(OffsetDateTime::now_utc()),
            }
        })
    };
    let verdicts = judge(&[request(issued), request(cutoff)]);
    c.check(
        "iam-simulate: the GetFederationToken session minted before the response is explicitly denied",
        verdicts[0]["result"] == "ExplicitlyDenied",
        format!("{} (issued {}, policies {:?})", verdicts[0], utc(issued), policies.keys().collect::<Vec<_>>()),
    );
    c.check(
        "iam-simulate: a federated session issued at the cutoff is allowed",
        verdicts[1]["result"] == "Allowed",
        &verdicts[1],
    );
    if federated_before.works() {
        c.denied(&cloud, "the GetFederationToken session", &federated)
            .await;
    }

    wait_past(cutoff).await;
    let later = cloud.session_token(&other_key).await;
    c.works(
        &cloud,
        "a GetSessionToken session from the other key after the cutoff",
        &later,
    )
    .await;
    c.denied(
        &cloud,
        "the session minted from the stolen key, after the cutoff",
        &minted,
    )
    .await;
    c.done();
}

/// A user's GetSessionToken session is stolen (the finding names the temporary key): the user's
/// sessions issued before the cutoff are denied, the long-term key is left alone (it was not
/// named), and a session minted after the cutoff works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_4b_stolen_user_session() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let user = cloud.user(&format!("d4b-{n}-analyst")).await;
    let key = cloud.key(&user.name).await;
    let stolen = cloud.session_token(&key).await;
    must_work(
        &cloud,
        "the stolen GetSessionToken session (the attacker's call)",
        &stolen,
    )
    .await;
    let seen = OffsetDateTime::now_utc();

    let lambda = Lambda::start("d4b", 1, &[]);
    let event = envelope(&finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::user_key(&user, &stolen),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 4b");
    let written = cloud.user_policy(&user.name, ROLE_POLICY).await;
    let keys = cloud.key_statuses(&user.name).await;

    let mut c = Checks::new("drill 4b");
    c.check(
        "the report revokes the user's sessions",
        all_actions(report)
            .iter()
            .any(|a| a["action"] == "revoke_user_sessions" && status(a) == "done"),
        all_actions(report)
            .iter()
            .map(|a| brief(a))
            .collect::<Vec<_>>()
            .join("; "),
    );
    c.check(
        format!("the user has an {ROLE_POLICY} in revocation shape"),
        written
            .as_deref()
            .is_some_and(|d| only_revocations(d, false).is_ok()),
        written.as_deref().unwrap_or("(none)"),
    );
    c.check(
        "the long-term key (not named) is still Active",
        keys.get(&key.key).map(String::as_str) == Some("Active"),
        format!("{keys:?}"),
    );
    c.denied(&cloud, "the stolen session", &stolen).await;
    c.works(&cloud, "the user's long-term key", &key).await;
    wait_past(cutoff_of(written.as_deref(), &Value::Null)).await;
    let fresh = cloud.session_token(&key).await;
    c.works(&cloud, "a session minted after the cutoff", &fresh)
        .await;
    c.denied(&cloud, "the stolen session, after the cutoff", &stolen)
        .await;
    c.done();
}

// ---- drill 5 --------------------------------------------------------------------------------

struct Decoy {
    label: &'static str,
    scope: &'static str,
    policy_name: &'static str,
    /// The decoy document, given the stolen session's `aws:userid`.
    document: fn(&str) -> Value,
}

const DECOYS: &[Decoy] = &[
    Decoy {
        label: "narrow Action",
        scope: "role",
        policy_name: ROLE_POLICY,
        document: |_| {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ec2:None", "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": FAR_FUTURE}}}]})
        },
    },
    Decoy {
        label: "extra condition",
        scope: "role",
        policy_name: ROLE_POLICY,
        document: |_| {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": FAR_FUTURE},
                              "StringEquals": {"aws:userid": "AROANOBODY0000000000:nobody"}}}]})
        },
    },
    Decoy {
        label: "narrow Resource",
        scope: "role",
        policy_name: ROLE_POLICY,
        document: |_| {
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["arn:aws:s3:::decoy-bucket/*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": FAR_FUTURE}}}]})
        },
    },
    Decoy {
        label: "narrow Action",
        scope: "session",
        policy_name: SESSION_POLICY,
        document: |userid| {
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "StolenSession1", "Effect": "Deny", "Action": ["ec2:None"], "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": FAR_FUTURE}, "StringEquals": {"aws:userid": userid}}}]})
        },
    },
    Decoy {
        label: "extra condition",
        scope: "session",
        policy_name: SESSION_POLICY,
        document: |userid| {
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "StolenSession1", "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": FAR_FUTURE}, "StringEquals": {"aws:userid": userid},
                              "IpAddress": {"aws:SourceIp": "192.0.2.1/32"}}}]})
        },
    },
];

/// Decoys: before the finding, the stolen session (allowed `iam:PutRolePolicy` on its own role,
/// as roles often are) writes its own `AWSRevokeOlderSessions` / `SessionRevokerDenyStolenSessions`
/// that looks like a revocation with a far-future cutoff but denies nothing (a narrow Action, a
/// narrow Resource, an extra condition). The function is not fooled: the stolen session ends up
/// denied, the report says the policy was replaced, the document in place is a revocation and
/// nothing else, and the decoy's far-future cutoff is not inherited (a session assumed after the
/// real cutoff works). Five decoys, one role each, invoked together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_5_decoy_policies_do_not_fool_the_function() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d5-{n}-operator")).await;
    struct Case<'a> {
        decoy: &'a Decoy,
        role: Role,
        stolen: Session,
        colleague: Session,
    }
    let mut cases = Vec::new();
    for (i, decoy) in DECOYS.iter().enumerate() {
        let role = cloud.role(&format!("d5-{n}-decoy{i}")).await;
        let stolen = cloud.assume(&operator, &role, "build-runner").await;
        let colleague = cloud.assume(&operator, &role, "colleague").await;
        let doc = (decoy.document)(&stolen.userid).to_string();
        let v = cloud
            .put_role_policy_as(&stolen.creds, &role.name, decoy.policy_name, &doc)
            .await;
        assert!(
            v.works(),
            "decoy {i} ({} {}): the stolen session writes the decoy itself: {v}",
            decoy.scope,
            decoy.label
        );
        must_work(
            &cloud,
            &format!("decoy {i}: the stolen session under its decoy"),
            &stolen.creds,
        )
        .await;
        cases.push(Case {
            decoy,
            role,
            stolen,
            colleague,
        });
    }
    let seen = OffsetDateTime::now_utc();
    let role_lambda = Lambda::start(
        "d5-role",
        cases.iter().filter(|c| c.decoy.scope == "role").count(),
        &[("REVOKE_SCOPE", "role")],
    );
    let session_lambda = Lambda::start(
        "d5-session",
        cases.iter().filter(|c| c.decoy.scope == "session").count(),
        &[("REVOKE_SCOPE", "session")],
    );
    let event = |case: &Case| {
        envelope(&finding(
            ACCOUNT,
            INSTANCE_EXFILTRATION,
            &Stolen::role_session(&case.role, &case.stolen),
            seen,
        ))
    };
    let role_cases: Vec<&Case> = cases.iter().filter(|c| c.decoy.scope == "role").collect();
    let session_cases: Vec<&Case> = cases
        .iter()
        .filter(|c| c.decoy.scope == "session")
        .collect();
    let mut results: Vec<(&Case, Invocation)> = role_cases
        .iter()
        .copied()
        .zip(role_lambda.invoke_together(&role_cases.iter().map(|c| event(c)).collect::<Vec<_>>()))
        .collect();
    results.extend(session_cases.iter().copied().zip(
        session_lambda.invoke_together(&session_cases.iter().map(|c| event(c)).collect::<Vec<_>>()),
    ));

    let mut c = Checks::new("drill 5");
    let mut latest = OffsetDateTime::now_utc();
    let soon = latest + time::Duration::seconds(30);
    for (case, result) in &results {
        let label = format!(
            "{} scope, {} decoy {}",
            case.decoy.scope, case.decoy.policy_name, case.decoy.label
        );
        let kind = if case.decoy.scope == "role" {
            "revoke_role_sessions"
        } else {
            "revoke_sessions"
        };
        let written = cloud
            .role_policy(&case.role.name, case.decoy.policy_name)
            .await;
        match result {
            Invocation::Response(report) => {
                let a = all_actions(report)
                    .into_iter()
                    .find(|a| a["action"] == kind && a["target"] == case.role.name.as_str());
                c.check(
                    format!("{label}: the revocation is done (not \"already covered\")"),
                    a.is_some_and(|a| status(a) == "done"),
                    a.map(brief)
                        .unwrap_or_else(|| format!("no {kind} action: {report}")),
                );
                c.check(
                    format!("{label}: the report says the decoy was replaced"),
                    a.is_some_and(|a| {
                        a["detail"]
                            .as_str()
                            .unwrap_or("")
                            .to_ascii_lowercase()
                            .contains("replace")
                    }),
                    a.map(|a| a["detail"].to_string()).unwrap_or_default(),
                );
                // Only a cutoff the function wrote now counts (not a decoy's, reported as
                // "already covered").
                if let Some(t) = a
                    .filter(|a| status(a) == "done")
                    .and_then(|a| a["cutoff"].as_str())
                    .and_then(fakecloud::parse_time)
                    .filter(|t| *t < soon)
                {
                    latest = latest.max(t);
                }
            }
            Invocation::Error { .. } => c.check(
                format!("{label}: the invocation succeeds"),
                false,
                result.describe(),
            ),
        }
        c.check(
            format!("{label}: the policy in place is a revocation and nothing else, no {FAR_FUTURE} cutoff"),
            written.as_deref().is_some_and(|d| {
                only_revocations(d, case.decoy.scope == "session").is_ok() && !d.contains(FAR_FUTURE)
            }),
            written.as_deref().unwrap_or("(none)"),
        );
        if let Some(t) = written
            .as_deref()
            .and_then(latest_cutoff)
            .filter(|t| *t < soon)
        {
            latest = latest.max(t);
        }
        c.denied(
            &cloud,
            &format!("{label}: the stolen session"),
            &case.stolen.creds,
        )
        .await;
        if case.decoy.scope == "session" {
            c.works(
                &cloud,
                &format!("{label}: a colleague's session"),
                &case.colleague.creds,
            )
            .await;
        }
    }

    wait_past(latest).await;
    for case in &cases {
        let label = format!(
            "{} scope, {} decoy {}",
            case.decoy.scope, case.decoy.policy_name, case.decoy.label
        );
        let fresh = cloud.assume(&operator, &case.role, "build-runner").await;
        c.works(
            &cloud,
            &format!(
                "{label}: a session assumed after the cutoff (the decoy's cutoff is not inherited)"
            ),
            &fresh.creds,
        )
        .await;
        c.denied(
            &cloud,
            &format!("{label}: the stolen session, after the cutoff"),
            &case.stolen.creds,
        )
        .await;
    }
    c.done();
}

// ---- drill 6 --------------------------------------------------------------------------------

/// Re-delivery: the same finding again (EventBridge retries, or GuardDuty re-sends it) after the
/// role's honest user took a fresh session: nothing new is written and the fresh session keeps
/// working. Role scope and session scope (where the fresh session has the stolen session's very
/// name, as an instance's refreshed credentials do), one role each, invoked together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_6_redelivery_writes_nothing_new() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d6-{n}-operator")).await;
    let role_r = cloud.role(&format!("d6-{n}-rolescope")).await;
    let role_s = cloud.role(&format!("d6-{n}-sessionscope")).await;
    let stolen_r = cloud.assume(&operator, &role_r, "etl-batch-77").await;
    let stolen_s = cloud.assume(&operator, &role_s, "etl-batch-77").await;
    must_work(&cloud, "the stolen session (role scope)", &stolen_r.creds).await;
    must_work(
        &cloud,
        "the stolen session (session scope)",
        &stolen_s.creds,
    )
    .await;
    let seen = OffsetDateTime::now_utc();
    let finding_r = finding(
        ACCOUNT,
        INSTANCE_EXFILTRATION,
        &Stolen::role_session(&role_r, &stolen_r),
        seen,
    );
    let finding_s = finding(
        ACCOUNT,
        INSTANCE_EXFILTRATION,
        &Stolen::role_session(&role_s, &stolen_s),
        seen,
    );
    let lambda_r = Lambda::start("d6-role", 1, &[("REVOKE_SCOPE", "role")]);
    let lambda_s = Lambda::start("d6-session", 1, &[("REVOKE_SCOPE", "session")]);

    let first_r = lambda_r.invoke(&envelope(&finding_r));
    let first_s = lambda_s.invoke(&envelope(&finding_s));
    let a_r = action(
        first_r.report("drill 6, first delivery (role)"),
        "revoke_role_sessions",
        &role_r.name,
    )
    .clone();
    let a_s = action(
        first_s.report("drill 6, first delivery (session)"),
        "revoke_sessions",
        &role_s.name,
    )
    .clone();
    let doc_r = cloud.role_policy(&role_r.name, ROLE_POLICY).await;
    let doc_s = cloud.role_policy(&role_s.name, SESSION_POLICY).await;

    let mut c = Checks::new("drill 6");
    c.check(
        "role scope: first delivery revokes",
        status(&a_r) == "done",
        brief(&a_r),
    );
    c.check(
        "session scope: first delivery revokes",
        status(&a_s) == "done",
        brief(&a_s),
    );
    c.denied(&cloud, "role scope: the stolen session", &stolen_r.creds)
        .await;
    c.denied(&cloud, "session scope: the stolen session", &stolen_s.creds)
        .await;

    wait_past(cutoff_of(doc_r.as_deref(), &a_r).max(cutoff_of(doc_s.as_deref(), &a_s))).await;
    let fresh_r = cloud.assume(&operator, &role_r, "etl-batch-78").await;
    let fresh_s = cloud.assume(&operator, &role_s, "etl-batch-77").await;
    c.works(
        &cloud,
        "role scope: the honest user's fresh session",
        &fresh_r.creds,
    )
    .await;
    c.works(
        &cloud,
        "session scope: the fresh session of the same name",
        &fresh_s.creds,
    )
    .await;

    // The same finding, delivered again (a new EventBridge id, the same detail).
    let again_r = lambda_r.invoke(&envelope(&finding_r));
    let again_s = lambda_s.invoke(&envelope(&finding_s));
    for (label, again, kind, role, before, policy) in [
        (
            "role scope",
            &again_r,
            "revoke_role_sessions",
            &role_r,
            &doc_r,
            ROLE_POLICY,
        ),
        (
            "session scope",
            &again_s,
            "revoke_sessions",
            &role_s,
            &doc_s,
            SESSION_POLICY,
        ),
    ] {
        match again {
            Invocation::Response(report) => {
                let a = all_actions(report)
                    .into_iter()
                    .find(|a| a["action"] == kind && a["target"] == role.name.as_str());
                c.check(
                    format!("{label}: the re-delivery is already covered"),
                    a.is_some_and(|a| status(a) == "already_covered"),
                    a.map(brief).unwrap_or_else(|| report.to_string()),
                );
            }
            Invocation::Error { .. } => c.check(
                format!("{label}: the re-delivery succeeds"),
                false,
                again.describe(),
            ),
        }
        let after = cloud.role_policy(&role.name, policy).await;
        c.check(
            format!("{label}: {policy} is unchanged"),
            &after == before,
            format!("before {before:?}, after {after:?}"),
        );
    }
    c.works(
        &cloud,
        "role scope: the fresh session, after the re-delivery",
        &fresh_r.creds,
    )
    .await;
    c.works(
        &cloud,
        "session scope: the fresh session, after the re-delivery",
        &fresh_s.creds,
    )
    .await;
    c.denied(
        &cloud,
        "role scope: the stolen session, after the re-delivery",
        &stolen_r.creds,
    )
    .await;
    c.denied(
        &cloud,
        "session scope: the stolen session, after the re-delivery",
        &stolen_s.creds,
    )
    .await;
    c.done();
}

// ---- drill 7 --------------------------------------------------------------------------------

/// Not contained, not green. A finding in a member account the function cannot reach (fakecloud
/// has no member role there: AssumeRole is refused, as when the member role is missing or does
/// not trust the responder; and with no MEMBER_ROLE_NAME at all) fails the invocation, after the
/// report is published to SNS and logged, so Lambda's Errors alarm fires and the event is retried
/// and lands in the failure queue. A payload with nothing readable in it fails too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_7_not_contained_is_not_green() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let (topic, queue) = cloud.report_topic(&format!("d7-{n}-reports")).await;
    let member_lambda = Lambda::start(
        "d7-member",
        1,
        &[
            ("MEMBER_ROLE_NAME", "session-revoker-member"),
            ("SNS_TOPIC_ARN", &topic),
        ],
    );
    let no_member_role = Lambda::start("d7-no-member-role", 1, &[]);
    // The member account's ids cannot be minted here: these are the shapes AWS uses.
    let member_session = Stolen {
        user_type: "AssumedRole",
        user_name: "data-pipeline".into(),
        principal_id: "AROAQEXAMPLEMEMBERAPP1:etl-batch-77".into(),
        access_key_id: "ASIAQEXAMPLE7MEMBER1".into(),
    };
    let detail = finding(
        UNREACHABLE_ACCOUNT,
        INSTANCE_EXFILTRATION,
        &member_session,
        OffsetDateTime::now_utc(),
    );
    let finding_id = detail["id"].as_str().expect("id").to_string();

    let mut c = Checks::new("drill 7");
    let r = member_lambda.invoke(&envelope(&detail));
    c.check(
        format!("member account {UNREACHABLE_ACCOUNT} unreachable (member role refused): the invocation fails"),
        r.is_error(),
        r.describe(),
    );
    let published = cloud.messages(&queue).await;
    c.check(
        "the report of the uncontained finding is published to SNS",
        published.iter().any(|m| m.contains(&finding_id)),
        format!("{} message(s) in the subscribed queue", published.len()),
    );
    let logs = member_lambda.logs();
    c.check(
        "the report is in the function's log",
        logs.lines()
            .any(|l| l.contains("\"report\"") && l.contains(&finding_id)),
        "",
    );
    let r = no_member_role.invoke(&envelope(&detail));
    c.check(
        format!(
            "member account {UNREACHABLE_ACCOUNT} and no MEMBER_ROLE_NAME: the invocation fails"
        ),
        r.is_error(),
        r.describe(),
    );

    let unreadable = [
        ("an object that is no finding", json!({"hello": "world"})),
        (
            "get-findings output whose items are no findings",
            json!({"Findings": [42, "not a finding", {"foo": 1}]}),
        ),
        (
            "an EventBridge envelope whose detail is not a finding",
            json!({"version": "0", "id": "00000000-0000-0000-0000-000000000000", "detail-type": "GuardDuty Finding",
                   "source": "aws.guardduty", "account": ACCOUNT, "region": REGION, "detail": "not a finding"}),
        ),
        ("an array of non-findings", json!([{"foo": 1}, null])),
    ];
    for (label, payload) in unreadable {
        let r = member_lambda.invoke(&payload);
        c.check(
            format!("nothing readable ({label}): the invocation fails"),
            r.is_error(),
            r.describe(),
        );
    }
    c.done();
}

// ---- drill 8: following the attacker (issue 13) ------------------------------------------------

fn follow_up(report: &Value) -> &Value {
    &report["incidents"][0]["follow_up"]
}

/// A stolen long-term key assumes role B and mints a federation token before the finding. The
/// function follows the key through CloudTrail (the loopback stand-in serves the events of what
/// this drill's attacker did, with the ids fakecloud returned): after the response the session
/// of B is refused, the federation token's user is denied, and an honest session of B works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_8_follow_the_stolen_key_into_role_b_and_a_federation_token() {
    /// A region neither the finding's nor the global-events region (issue 21).
    const FAR_REGION: &str = "ap-southeast-2";
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let user = cloud.user(&format!("d8-{n}-ci-bot")).await;
    let stolen = cloud.key(&user.name).await;
    let role_b = cloud.role(&format!("d8-{n}-deploy")).await;
    let role_c = cloud.role(&format!("d8-{n}-reports")).await;
    let operator = cloud.operator(&format!("d8-{n}-operator")).await;
    must_work(&cloud, "the stolen long-term key", &stolen).await;

    // What the attacker does with the key before GuardDuty's finding arrives.
    let pivot = cloud.assume(&stolen, &role_b, "d8-pivot").await;
    must_work(&cloud, "the attacker's session of role B", &pivot.creds).await;
    // Issue 21: an AssumeRole through a regional STS endpoint is recorded in that region only.
    let far = cloud.assume(&stolen, &role_c, "d8-far-region").await;
    must_work(&cloud, "the attacker's session of role C", &far.creds).await;
    let federated = cloud
        .federation_token(&stolen, "d8-fed", fakecloud::ALLOW_ALL)
        .await;
    let honest_before = cloud.assume(&operator, &role_b, "d8-honest").await;
    let seen = OffsetDateTime::now_utc();

    let trail = cloudtrail_loopback::CloudTrailLoopback::start(50);
    let caller = cloudtrail_loopback::Caller::User {
        account: ACCOUNT,
        name: &user.name,
        user_id: &user.id,
        key: &stolen.key,
    };
    trail.record(
        &stolen.key,
        &cloudtrail_loopback::assume_role(
            &caller,
            seen,
            &role_b.arn,
            "d8-pivot",
            &pivot.userid,
            &pivot.creds.key,
        ),
    );
    trail.record(
        &stolen.key,
        &cloudtrail_loopback::federation_token(&caller, seen, "d8-fed", &federated.key),
    );
    let mut far_record = cloudtrail_loopback::assume_role(
        &caller,
        seen,
        &role_c.arn,
        "d8-far-region",
        &far.userid,
        &far.creds.key,
    );
    far_record["awsRegion"] = serde_json::json!(FAR_REGION);
    trail.record(&stolen.key, &far_record);

    let lambda = Lambda::start(
        "d8",
        1,
        &[
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.endpoint.as_str()),
            ("TRAIL_REGIONS", FAR_REGION),
        ],
    );
    let event = envelope(&finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::user_key(&user, &stolen),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 8");
    let mut c = Checks::new("drill 8");
    let actions: Vec<String> = all_actions(report).iter().map(|a| brief(a)).collect();
    let followed = follow_up(report);
    c.check(
        "the report follows the key: a session of role B, one of role C (in a third region), one federation token",
        followed["sessions"].as_array().map(Vec::len) == Some(2)
            && followed["sessions"][0]["session"] == pivot.userid.as_str()
            && followed["sessions"][1]["session"] == far.userid.as_str()
            && followed["regions"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == FAR_REGION))
            && followed["tokens"].as_array().map(Vec::len) == Some(1)
            && followed["tokens"][0]["api"] == "GetFederationToken",
        serde_json::to_string(followed).unwrap_or_default(),
    );
    c.check(
        "role B's session is revoked (session scope) as an action of the incident",
        all_actions(report).iter().any(|a| {
            a["action"] == "revoke_sessions"
                && a["target"] == role_b.name.as_str()
                && status(a) == "done"
        }),
        actions.join("; "),
    );
    c.check(
        "CloudTrail was read for the stolen key and for the keys it obtained",
        trail
            .requests()
            .iter()
            .any(|(r, k)| r == REGION && k == &stolen.key)
            && trail.requests().iter().any(|(_, k)| k == &pivot.creds.key),
        format!("{:?}", trail.requests()),
    );
    c.check(
        "the next look is in the report with its time",
        followed["next_look"]["at"].is_string() && followed["next_look"]["status"] != "pending",
        &followed["next_look"],
    );
    let v = cloud.call(&stolen).await;
    c.check("the stolen key is refused", v.refused(), &v);
    c.denied(&cloud, "the attacker's session of role B", &pivot.creds)
        .await;
    c.denied(
        &cloud,
        "the attacker's session of role C, assumed through a third region's STS endpoint",
        &far.creds,
    )
    .await;
    c.check(
        "CloudTrail was read in the third region for the stolen key",
        trail
            .requests()
            .iter()
            .any(|(r, k)| r == FAR_REGION && k == &stolen.key),
        format!("{:?}", trail.requests()),
    );
    let fed = cloud.call(&federated).await;
    c.check(
        "the federation token minted by the stolen key does not work (fakecloud refuses federated sessions whatever the policies; drill 4 judges the user's deny for them with iam-simulate)",
        !fed.works(),
        &fed,
    );
    c.works(
        &cloud,
        "an honest session of role B issued before the response (session scope)",
        &honest_before.creds,
    )
    .await;
    c.check(
        "the user's deny covers the federation token (already in place: written for the stolen key)",
        all_actions(report).iter().any(|a| {
            a["action"] == "revoke_user_sessions"
                && a["facts"]["found_by"].is_string()
                && matches!(status(a), "already_covered" | "done")
        }),
        actions.join("; "),
    );
    c.done();
}

/// Issue 21's headline, judged by fakecloud: the stolen key pivots into a protected role
/// (`PROTECTED_ROLES`, as the template's default protects `OrganizationAccountAccessRole`). The
/// function revokes the key's user and must not touch the protected role, so the attacker's
/// session there keeps working in fakecloud, and the report says so: `partly_contained`, a
/// headline that starts with what is left, and a `manual_action_required` action with the
/// commands, never `revoked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_8c_a_pivot_into_a_protected_role_is_partly_contained() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let user = cloud.user(&format!("d8c-{n}-ci-bot")).await;
    let stolen = cloud.key(&user.name).await;
    let protected = cloud.role(&format!("d8c-{n}-OrgAccess")).await;
    must_work(&cloud, "the stolen long-term key", &stolen).await;
    let pivot = cloud.assume(&stolen, &protected, "d8c-pivot").await;
    must_work(
        &cloud,
        "the attacker's session of the protected role",
        &pivot.creds,
    )
    .await;
    let seen = OffsetDateTime::now_utc();

    let trail = cloudtrail_loopback::CloudTrailLoopback::start(50);
    let caller = cloudtrail_loopback::Caller::User {
        account: ACCOUNT,
        name: &user.name,
        user_id: &user.id,
        key: &stolen.key,
    };
    trail.record(
        &stolen.key,
        &cloudtrail_loopback::assume_role(
            &caller,
            seen,
            &protected.arn,
            "d8c-pivot",
            &pivot.userid,
            &pivot.creds.key,
        ),
    );
    let protected_glob = format!("d8c-{n}-Org*");
    let lambda = Lambda::start(
        "d8c",
        1,
        &[
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.endpoint.as_str()),
            ("PROTECTED_ROLES", protected_glob.as_str()),
        ],
    );
    let event = envelope(&finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::user_key(&user, &stolen),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 8c");
    let mut c = Checks::new("drill 8c");
    let actions: Vec<String> = all_actions(report).iter().map(|a| brief(a)).collect();
    let v = cloud.call(&stolen).await;
    c.check("the stolen key is refused", v.refused(), &v);
    c.works(
        &cloud,
        "the attacker's session of the protected role (never touched by the function)",
        &pivot.creds,
    )
    .await;
    c.check(
        "the incident is partly_contained, not revoked",
        report["incidents"][0]["outcome"] == "partly_contained"
            && report["outcome"] == "partly_contained",
        &report["outcome"],
    );
    let summary = report["summary"].as_str().unwrap_or_default();
    c.check(
        "the headline starts with PARTLY CONTAINED and names the protected role",
        summary.starts_with("PARTLY CONTAINED:") && summary.contains(&protected.name),
        summary,
    );
    c.check(
        "the protected role's live session is a manual_action_required action with commands",
        all_actions(report).iter().any(|a| {
            a["target"]
                .as_str()
                .is_some_and(|t| t.contains(protected.name.as_str()))
                && status(a) == "manual_action_required"
                && a["commands"].as_array().is_some_and(|c| !c.is_empty())
        }),
        actions.join("; "),
    );
    c.check(
        "the invocation does not fail (a person, not a retry, must act)",
        !invocation.is_error(),
        invocation.describe(),
    );
    c.done();
}

/// A stolen role session assumes two roles and leaves an access key behind. With
/// `CONTAIN_PERSISTENCE=contain` the report lists three sessions revoked (the finding's and the
/// two it assumed), the created key deactivated, and when the next look is; each of them is
/// refused by fakecloud afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_8b_two_roles_and_a_key_left_behind() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d8b-{n}-operator")).await;
    let role_a = cloud.role(&format!("d8b-{n}-web")).await;
    let role_b = cloud.role(&format!("d8b-{n}-deploy")).await;
    let role_c = cloud.role(&format!("d8b-{n}-audit")).await;
    let backdoor_user = cloud.user(&format!("d8b-{n}-backup-svc")).await;
    let stolen = cloud.assume(&operator, &role_a, "d8b-stolen").await;
    must_work(&cloud, "the stolen session of role A", &stolen.creds).await;
    let into_b = cloud.assume(&stolen.creds, &role_b, "d8b-b").await;
    let into_c = cloud.assume(&stolen.creds, &role_c, "d8b-c").await;
    let left_key = cloud.key_as(&stolen.creds, &backdoor_user.name).await;
    must_work(&cloud, "the session of B", &into_b.creds).await;
    must_work(&cloud, "the session of C", &into_c.creds).await;
    must_work(&cloud, "the key left behind", &left_key).await;
    let seen = OffsetDateTime::now_utc();

    // A page of 2 events: the function must page through LookupEvents.
    let trail = cloudtrail_loopback::CloudTrailLoopback::start(2);
    let caller = cloudtrail_loopback::Caller::Session {
        account: ACCOUNT,
        role: &role_a.name,
        role_id: &role_a.id,
        session: "d8b-stolen",
        key: &stolen.creds.key,
    };
    trail.record(
        &stolen.creds.key,
        &cloudtrail_loopback::assume_role(
            &caller,
            seen,
            &role_b.arn,
            "d8b-b",
            &into_b.userid,
            &into_b.creds.key,
        ),
    );
    trail.record(
        &stolen.creds.key,
        &cloudtrail_loopback::assume_role(
            &caller,
            seen,
            &role_c.arn,
            "d8b-c",
            &into_c.userid,
            &into_c.creds.key,
        ),
    );
    trail.record(
        &stolen.creds.key,
        &cloudtrail_loopback::create_access_key(&caller, seen, &backdoor_user.name, &left_key.key),
    );

    let lambda = Lambda::start(
        "d8b",
        1,
        &[
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.endpoint.as_str()),
            ("CONTAIN_PERSISTENCE", "contain"),
        ],
    );
    let event = envelope(&finding(
        ACCOUNT,
        MALICIOUS_IP,
        &Stolen::role_session(&role_a, &stolen),
        seen,
    ));
    let invocation = lambda.invoke(&event);
    let report = invocation.report("drill 8b");
    let text = lambda.logs();
    let mut c = Checks::new("drill 8b");
    let actions: Vec<String> = all_actions(report).iter().map(|a| brief(a)).collect();
    let revoked: Vec<&str> = all_actions(report)
        .iter()
        .filter(|a| {
            matches!(
                a["action"].as_str(),
                Some("revoke_sessions" | "revoke_role_sessions")
            ) && status(a) == "done"
        })
        .filter_map(|a| a["target"].as_str())
        .collect();
    c.check(
        "three sessions revoked: role A (the finding), B and C (followed)",
        [&role_a.name, &role_b.name, &role_c.name]
            .iter()
            .all(|r| revoked.contains(&r.as_str())),
        actions.join("; "),
    );
    let followed = follow_up(report);
    c.check(
        "the key left behind is deactivated and listed with its undo command",
        all_actions(report).iter().any(|a| {
            a["action"] == "deactivate_access_key"
                && a["target"] == left_key.key.as_str()
                && status(a) == "done"
        }) && followed["persistence"][0]["containment"] == "deactivated"
            && followed["persistence"][0]["undo"]
                .as_array()
                .is_some_and(|u| !u.is_empty()),
        serde_json::to_string(&followed["persistence"]).unwrap_or_default(),
    );
    c.check(
        "the report says when the next look is",
        followed["next_look"]["at"].is_string(),
        &followed["next_look"],
    );
    c.check(
        "LookupEvents was paged (page size 2, three events)",
        trail
            .requests()
            .iter()
            .filter(|(_, k)| k == &stolen.creds.key)
            .count()
            >= 2,
        format!("{:?}", trail.requests()),
    );
    c.denied(&cloud, "the stolen session of A", &stolen.creds)
        .await;
    c.denied(&cloud, "the session of B", &into_b.creds).await;
    c.denied(&cloud, "the session of C", &into_c.creds).await;
    let v = cloud.call(&left_key).await;
    c.check("the key left behind is refused", v.refused(), &v);
    let honest = cloud.assume(&operator, &role_b, "d8b-honest-after").await;
    c.works(&cloud, "a fresh honest session of B", &honest.creds)
        .await;
    if !c.failed.is_empty() {
        println!("{text}");
    }
    c.done();
}

// ---- drill 9 --------------------------------------------------------------------------------

/// An attack sequence (`AttackSequence:IAM/CompromisedCredentials`, issue 24): one finding names
/// an IAM user's long-term key and a role session, as GuardDuty does (`actors[]`, an
/// `ACCESS_KEY` resource, `signals[]`), and no `accessKeyDetails`. Every credential it names is
/// refused afterwards; a bystander user and a session of another role still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_9_attack_sequence_every_credential_named() {
    let cloud = Cloud::connect().await;
    let n = fakecloud::nonce();
    let operator = cloud.operator(&format!("d9-{n}-operator")).await;
    let user = cloud.user(&format!("d9-{n}-ci-bot")).await;
    let stolen_key = cloud.key(&user.name).await;
    let role = cloud.role(&format!("d9-{n}-web")).await;
    let other_role = cloud.role(&format!("d9-{n}-reporting")).await;
    let stolen = cloud.assume(&operator, &role, "d9-attacker").await;
    let neighbour = cloud.assume(&operator, &other_role, "d9-reporting").await;
    let bystander = cloud.user(&format!("d9-{n}-bystander")).await;
    let bystander_key = cloud.key(&bystander.name).await;
    must_work(&cloud, "the stolen user key", &stolen_key).await;
    must_work(&cloud, "the stolen role session", &stolen.creds).await;
    must_work(&cloud, "another role's session", &neighbour.creds).await;
    must_work(&cloud, "a bystander user's key", &bystander_key).await;
    let seen = OffsetDateTime::now_utc();

    // A finding shaped like GuardDuty's sequence: the role named only through the session's
    // issuer (its ARN), the session name in `user.name` as an attacker would choose it.
    let mut detail = finding(
        ACCOUNT,
        "AttackSequence:IAM/CompromisedCredentials",
        &Stolen::user_key(&user, &stolen_key),
        seen,
    );
    detail["severity"] = json!(9.2);
    detail["resource"] = json!({"resourceType": "AttackSequence"});
    detail["service"]["detection"] = json!({"sequence": {
        "uid": unique_hex(),
        "actors": [
            {"id": "actor-user", "user": {"name": user.name, "uid": user.id, "type": "IAMUser",
                "credentialUid": stolen_key.key, "account": {"uid": ACCOUNT}}},
            {"id": "actor-role", "user": {"name": stolen.name, "uid": stolen.userid, "type": "AssumedRole",
                "credentialUid": stolen.creds.key, "account": {"uid": ACCOUNT}},
             "session": {"uid": stolen.userid, "issuer": role.arn}}
        ],
        "resources": [{"uid": stolen_key.key, "resourceType": "ACCESS_KEY", "accountId": ACCOUNT,
            "data": {"accessKey": {"principalId": user.id, "userName": user.name, "userType": "IAMUser"}}}],
        "signals": [
            {"uid": "s1", "type": "CLOUD_TRAIL", "name": "iam:ListRoles", "count": 3,
             "firstSeenAt": gd_time(seen - time::Duration::seconds(5)), "lastSeenAt": gd_time(seen),
             "actorIds": ["actor-user", "actor-role"]}
        ]
    }});
    let lambda = Lambda::start("d9", 1, &[]);
    let invocation = lambda.invoke(&envelope(&detail));
    let report = invocation.report("drill 9");
    let keys = cloud.key_statuses(&user.name).await;
    let role_policy = cloud.role_policy(&role.name, ROLE_POLICY).await;
    let user_policy = cloud.user_policy(&user.name, ROLE_POLICY).await;

    let mut c = Checks::new("drill 9");
    c.check(
        "one incident per credential, each tied to the sequence",
        report["incidents"].as_array().is_some_and(|l| {
            l.len() == 2 && l.iter().all(|i| i["sequence"]["credentials_found"] == 2)
        }),
        &report["incidents"],
    );
    c.check(
        "the headline counts the credentials contained",
        report["summary"]
            .as_str()
            .is_some_and(|s| s.contains("2 of 2 credentials contained")),
        &report["summary"],
    );
    c.check(
        "ListAccessKeys: the stolen key is Inactive",
        keys.get(&stolen_key.key).map(String::as_str) == Some("Inactive"),
        format!("{keys:?}"),
    );
    c.check(
        format!("{ROLE_POLICY} on the role named by the session's issuer"),
        role_policy
            .as_deref()
            .is_some_and(|d| only_revocations(d, false).is_ok()),
        role_policy.as_deref().unwrap_or("(none)"),
    );
    c.check(
        format!("{ROLE_POLICY} on the user (sessions minted from the key)"),
        user_policy
            .as_deref()
            .is_some_and(|d| only_revocations(d, false).is_ok()),
        user_policy.as_deref().unwrap_or("(none)"),
    );
    let v = cloud.call(&stolen_key).await;
    c.check("the stolen user key is refused", v.refused(), &v);
    c.denied(&cloud, "the stolen role session", &stolen.creds)
        .await;
    c.works(&cloud, "another role's session", &neighbour.creds)
        .await;
    c.works(&cloud, "the bystander user's key", &bystander_key)
        .await;
    c.works(&cloud, "the operator (an IAM user)", &operator)
        .await;
    c.done();
}
