//! The policy judge for the integration tests (DESIGN.md "Tests, in layers" 6; issue 12):
//! `@cloud-copilot/iam-simulate`, pinned in `tools/iam-judge`, run as one long-lived node
//! process per test binary (`node tools/iam-judge/judge.mjs`), one JSON request per line on its
//! stdin, one JSON verdict per line on its stdout, in order.
//!
//! Besides the process, this file holds what the judge tests share: a seeded generator of
//! request contexts, a model of "the stolen tokens" that the tests build from what they know
//! (the findings they sent and the cutoffs the reports claim, checked against the clock), and
//! a reader of the inline policies that are in place in the emulator.
#![allow(dead_code)]

use crate::common::{Iam, ACCOUNT};
use serde_json::{json, Value};
use session_revoker::names::format_utc;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use time::{Duration, OffsetDateTime};

/// Policy names this function writes: the only ones an explicit deny may come from.
pub const REVOCATION_POLICIES: [&str; 2] =
    ["AWSRevokeOlderSessions", "SessionRevokerDenyStolenSessions"];

/// Contexts judged by this process, over all tests (for the summary lines).
pub static JUDGED: AtomicUsize = AtomicUsize::new(0);

// ---------------------------------------------------------------------------------------------
// The judge process

pub struct Judge {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

static JUDGE: OnceLock<Mutex<Judge>> = OnceLock::new();

/// The one judge of this test process, started on first use. The process ends when the test
/// binary exits (its stdin closes, `judge.mjs` stops reading and returns).
pub fn judge() -> MutexGuard<'static, Judge> {
    JUDGE
        .get_or_init(|| Mutex::new(Judge::spawn()))
        .lock()
        // A test that panicked while holding the judge did so after its batch was read in full.
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn judge_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/iam-judge")
}

impl Judge {
    fn spawn() -> Self {
        let dir = judge_dir();
        let installed = dir.join("node_modules/@cloud-copilot/iam-simulate/package.json");
        let installed: Value = match std::fs::read_to_string(&installed) {
            Ok(text) => serde_json::from_str(&text).expect("iam-simulate's package.json"),
            Err(e) => panic!(
                "the policy judge is not installed ({} : {e}): run `make judge` \
                 (npm ci in tools/iam-judge)",
                installed.display()
            ),
        };
        let pinned: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("package.json"))
                .expect("tools/iam-judge/package.json"),
        )
        .unwrap();
        let pinned = &pinned["dependencies"]["@cloud-copilot/iam-simulate"];
        assert_eq!(
            &installed["version"], pinned,
            "tools/iam-judge/node_modules holds another iam-simulate than package.json pins: run `make judge`"
        );
        let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
        let mut child = Command::new(&node)
            .arg(dir.join("judge.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{node}` for the policy judge ({e}): install Node.js 18 or later, then run `make judge`"
                )
            });
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
            next_id: 0,
        }
    }

    /// Judges every request; the verdicts come back in the same order. Requests are written by
    /// a second thread while this one reads, so a large batch cannot fill both pipes and
    /// deadlock.
    pub fn ask(&mut self, mut requests: Vec<Value>) -> Vec<Value> {
        let n = requests.len();
        let first = self.next_id;
        self.next_id += n as u64;
        let mut payload = Vec::with_capacity(n * 1024);
        for (i, r) in requests.iter_mut().enumerate() {
            r["id"] = json!(first + i as u64);
            serde_json::to_writer(&mut payload, r).unwrap();
            payload.push(b'\n');
        }
        let (stdin, stdout) = (&mut self.stdin, &mut self.stdout);
        let verdicts = std::thread::scope(|s| {
            let writer = s.spawn(move || stdin.write_all(&payload).and_then(|()| stdin.flush()));
            let mut verdicts = Vec::with_capacity(n);
            let mut line = String::new();
            for i in 0..n {
                line.clear();
                let read = stdout
                    .read_line(&mut line)
                    .expect("read a verdict from the policy judge");
                assert!(
                    read > 0,
                    "the policy judge (node tools/iam-judge/judge.mjs) exited: see its stderr above"
                );
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("the policy judge wrote {line:?}: {e}"));
                assert_eq!(v["id"], json!(first + i as u64), "verdicts out of order");
                verdicts.push(v);
            }
            writer
                .join()
                .unwrap()
                .expect("write requests to the policy judge");
            verdicts
        });
        JUDGED.fetch_add(n, Ordering::Relaxed);
        verdicts
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Identity policy that allows everything: the judge then answers for the deny alone.
pub fn allow_all() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

// ---------------------------------------------------------------------------------------------
// A small seeded generator (splitmix64): no extra crates; the seed is printed with every failure.

pub struct Rng(u64);

impl Rng {
    /// `POLICY_JUDGE_SEED` when set (to replay a failure), else a fresh seed; mixed with `salt`
    /// so each test draws its own sequence.
    pub fn for_test(salt: &str) -> (Self, u64) {
        let seed = std::env::var("POLICY_JUDGE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        let mut mixed = seed;
        for b in salt.bytes() {
            mixed = (mixed ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        (Self(mixed), seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How many contexts each judgement draws: `POLICY_JUDGE_CASES`, default 2000.
pub fn cases() -> usize {
    std::env::var("POLICY_JUDGE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

// ---------------------------------------------------------------------------------------------
// Who makes a request, and which tokens are stolen

/// The IAM principal whose inline policies apply to a request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Role(String),
    User(String),
}

/// The caller of a generated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A role session: `arn:aws:sts::<acct>:assumed-role/<role>/<session>`, `aws:userid` =
    /// `<RoleId>:<session>`, always with `aws:TokenIssueTime`.
    RoleSession {
        role: String,
        role_id: String,
        session: String,
    },
    /// A `GetSessionToken` session of an IAM user: the user's ARN, `aws:userid` = its UserId.
    UserSession { user: String, user_id: String },
    /// A `GetFederationToken` session minted from a user's key: the user's policies apply,
    /// intersected with the session policy (allow-all here).
    Federated { user: String, name: String },
    /// A request signed with the user's long-term access key: no `aws:TokenIssueTime` at all.
    LongTermKey { user: String, user_id: String },
}

impl Who {
    pub fn session(role: &str, role_id: &str, session: &str) -> Self {
        Who::RoleSession {
            role: role.into(),
            role_id: role_id.into(),
            session: session.into(),
        }
    }

    pub fn owner(&self) -> Owner {
        match self {
            Who::RoleSession { role, .. } => Owner::Role(role.clone()),
            Who::UserSession { user, .. }
            | Who::Federated { user, .. }
            | Who::LongTermKey { user, .. } => Owner::User(user.clone()),
        }
    }

    pub fn userid(&self) -> String {
        match self {
            Who::RoleSession {
                role_id, session, ..
            } => format!("{role_id}:{session}"),
            Who::UserSession { user_id, .. } | Who::LongTermKey { user_id, .. } => user_id.clone(),
            Who::Federated { name, .. } => format!("{ACCOUNT}:{name}"),
        }
    }

    fn principal_arn(&self) -> String {
        match self {
            Who::RoleSession { role, session, .. } => {
                format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}")
            }
            Who::UserSession { user, .. } | Who::LongTermKey { user, .. } => {
                format!("arn:aws:iam::{ACCOUNT}:user/{user}")
            }
            Who::Federated { name, .. } => format!("arn:aws:sts::{ACCOUNT}:federated-user/{name}"),
        }
    }

    fn temporary(&self) -> bool {
        !matches!(self, Who::LongTermKey { .. })
    }
}

/// What the test knows is stolen, with the cutoff each deny must hold. Built from the findings
/// the test sent and the cutoffs the reports claim (each checked against the clock around the
/// invocation), never from the policy documents under judgement.
#[derive(Debug, Clone, Default)]
pub struct Stolen {
    /// Every temporary token of this role or user issued before the cutoff (the console's
    /// role-wide `AWSRevokeOlderSessions`, on a role or on a user).
    pub everything_of: BTreeMap<Owner, OffsetDateTime>,
    /// These `aws:userid`s, each issued before its own cutoff (`SessionRevokerDenyStolenSessions`).
    pub sessions: BTreeMap<String, OffsetDateTime>,
}

impl Stolen {
    /// The property: explicitly denied exactly when the token is a stolen one issued before its
    /// cutoff. A request without `aws:TokenIssueTime` (a long-term key) is never denied by a
    /// `DateLessThan aws:TokenIssueTime` statement: IAM does not match a condition on a key the
    /// request lacks. Long-term keys are contained by deactivating them, not by this deny.
    pub fn denies(&self, who: &Who, issued: Option<OffsetDateTime>) -> bool {
        let Some(t) = issued else { return false };
        self.everything_of.get(&who.owner()).is_some_and(|c| t < *c)
            || self.sessions.get(&who.userid()).is_some_and(|c| t < *c)
    }

    /// Role-wide or user-wide revocation at `cutoff`, never moving an earlier model cutoff back.
    pub fn everything(&mut self, owner: Owner, cutoff: OffsetDateTime) {
        let c = self.everything_of.entry(owner).or_insert(cutoff);
        *c = (*c).max(cutoff);
    }

    /// A session-scoped write at `cutoff` for a finding whose last activity is `last_seen`
    /// (DESIGN.md: a revocation only moves a cutoff forward; a session whose cutoff in place is
    /// later than the finding's last activity is already covered and keeps its cutoff).
    pub fn sessions_written(
        &mut self,
        userids: &[String],
        cutoff: OffsetDateTime,
        last_seen: OffsetDateTime,
    ) {
        for u in userids {
            match self.sessions.get_mut(u) {
                Some(c) if *c > last_seen || *c >= cutoff => {}
                Some(c) => *c = cutoff,
                None => {
                    self.sessions.insert(u.clone(), cutoff);
                }
            }
        }
    }

    /// Every cutoff in the model: the anchors generated issue times cluster around.
    pub fn cutoffs(&self) -> Vec<OffsetDateTime> {
        let mut all: Vec<_> = self
            .everything_of
            .values()
            .chain(self.sessions.values())
            .copied()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

// ---------------------------------------------------------------------------------------------
// Policies in place, read back from the emulator

fn decode(document: &str) -> Value {
    let text = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .expect("policy documents are UTF-8");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("inline policy is not JSON ({e}): {text}"))
}

/// Every inline policy of the role or user, by name, URL-decoded (GetRolePolicy/GetUserPolicy).
pub async fn inline_policies(iam: &Iam, owner: &Owner) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    match owner {
        Owner::Role(role) => {
            let names = iam
                .0
                .list_role_policies()
                .role_name(role)
                .send()
                .await
                .unwrap();
            for name in names.policy_names() {
                let doc = iam
                    .0
                    .get_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .send()
                    .await
                    .unwrap();
                out.insert(name.clone(), decode(doc.policy_document()));
            }
        }
        Owner::User(user) => {
            let names = iam
                .0
                .list_user_policies()
                .user_name(user)
                .send()
                .await
                .unwrap();
            for name in names.policy_names() {
                let doc = iam
                    .0
                    .get_user_policy()
                    .user_name(user)
                    .policy_name(name)
                    .send()
                    .await
                    .unwrap();
                out.insert(name.clone(), decode(doc.policy_document()));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Generated requests

/// Actions a holder of stolen credentials would try; `{self}` is the caller's own role or user
/// (taking the deny off, or adding to it). `sts:GetCallerIdentity` is left out on purpose: IAM
/// answers it even under an explicit deny, the judge does not model that exception.
const ACTIONS: &[(&str, &str)] = &[
    ("s3:GetObject", "arn:aws:s3:::artifacts/build.zip"),
    ("s3:PutObject", "arn:aws:s3:::exfil-bucket/dump.tar"),
    ("iam:ListRoles", "*"),
    ("ec2:DescribeInstances", "*"),
    (
        "dynamodb:GetItem",
        "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
    ),
    (
        "secretsmanager:GetSecretValue",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
    ),
    (
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:123456789012:function:payments",
    ),
    (
        "iam:CreateAccessKey",
        "arn:aws:iam::123456789012:user/backdoor",
    ),
    ("sts:AssumeRole", "arn:aws:iam::123456789012:role/admin"),
    ("delete-own-policy", "{self}"),
    ("put-own-policy", "{self}"),
];

#[derive(Debug, Clone)]
pub struct Probe {
    pub who: Who,
    pub issued: Option<OffsetDateTime>,
    pub issued_text: Option<String>,
    pub action: String,
    pub resource: String,
}

/// `2026-11-22T03:00:30Z`, or with milliseconds (`…:29.999Z`, and sometimes `.000Z`).
fn issue_time_text(t: OffsetDateTime, with_millis: bool) -> String {
    let whole = format_utc(t);
    let ms = t.millisecond();
    if ms != 0 || with_millis {
        format!("{}.{ms:03}Z", whole.trim_end_matches('Z'))
    } else {
        whole
    }
}

/// An issue time near `anchor`: exactly on it, ±1 ms, ±999 ms, ±1 s, ±seconds, ±hours (up to
/// 36 h, a user session's longest life).
fn near(rng: &mut Rng, anchor: OffsetDateTime) -> OffsetDateTime {
    let sign = if rng.below(2) == 0 { -1 } else { 1 };
    let ms = match rng.below(12) {
        0 | 1 => 0,
        2 | 3 => 1000,
        4 => 1,
        5 => 999,
        6 | 7 => rng.range(1, 5_000),
        8 | 9 => rng.range(1, 3_600_000),
        _ => rng.range(1, 36 * 3_600_000),
    };
    anchor + Duration::milliseconds(sign * ms)
}

fn probe(rng: &mut Rng, who: &Who, anchors: &[OffsetDateTime]) -> Probe {
    let (issued, issued_text) = if who.temporary() {
        let anchor = *rng.pick(anchors);
        let t = near(rng, anchor);
        (Some(t), Some(issue_time_text(t, rng.below(8) == 0)))
    } else {
        (None, None)
    };
    let (action, resource) = *rng.pick(ACTIONS);
    let owner_arn = match who.owner() {
        Owner::Role(r) => format!("arn:aws:iam::{ACCOUNT}:role/{r}"),
        Owner::User(u) => format!("arn:aws:iam::{ACCOUNT}:user/{u}"),
    };
    let action = match (action, who.owner()) {
        ("delete-own-policy", Owner::Role(_)) => "iam:DeleteRolePolicy",
        ("delete-own-policy", Owner::User(_)) => "iam:DeleteUserPolicy",
        ("put-own-policy", Owner::Role(_)) => "iam:PutRolePolicy",
        ("put-own-policy", Owner::User(_)) => "iam:PutUserPolicy",
        (a, _) => a,
    };
    Probe {
        who: who.clone(),
        issued,
        issued_text,
        action: action.to_string(),
        resource: resource.replace("{self}", &owner_arn),
    }
}

fn request(p: &Probe, policies: &BTreeMap<String, Value>) -> Value {
    let mut identity = vec![json!({"name": "allow-all", "policy": allow_all()})];
    identity.extend(
        policies
            .iter()
            .map(|(name, doc)| json!({"name": name, "policy": doc})),
    );
    let mut context = json!({"aws:userid": p.who.userid()});
    if let (Some(t), Some(text)) = (p.issued, &p.issued_text) {
        context["aws:TokenIssueTime"] = json!(text);
        context["aws:CurrentTime"] = json!(format_utc(t + Duration::minutes(1)));
    }
    let mut r = json!({
        "identityPolicies": identity,
        "action": p.action,
        "resource": p.resource,
        "principal": p.who.principal_arn(),
        "accountId": ACCOUNT,
        "context": context,
    });
    if matches!(p.who, Who::Federated { .. }) {
        r["sessionPolicy"] = allow_all();
    }
    r
}

/// The outcome of judging one batch against the model.
#[derive(Debug, Default)]
pub struct Judgement {
    pub judged: usize,
    pub denied: usize,
    pub allowed: usize,
    pub failures: Vec<String>,
    pub elapsed: std::time::Duration,
}

impl Judgement {
    /// Panics with the first mismatches (and the seed to replay them) unless all agreed, or
    /// when the batch did not see both an explicit deny and an allow.
    pub fn assert_clean(&self, label: &str, seed: u64) {
        self.assert_agrees(label, seed);
        assert!(
            self.denied > 0 && self.allowed > 0,
            "{label}: a judgement that never saw both verdicts proves nothing \
             ({} ExplicitlyDenied, {} Allowed)",
            self.denied,
            self.allowed
        );
    }

    /// Panics with the first mismatches (and the seed to replay them) unless all agreed.
    pub fn assert_agrees(&self, label: &str, seed: u64) {
        eprintln!(
            "policy_judge: {label}: {} contexts judged ({} ExplicitlyDenied, {} Allowed) in {:?}",
            self.judged, self.denied, self.allowed, self.elapsed
        );
        assert!(
            self.failures.is_empty(),
            "{label}: {} of {} verdicts disagree with \"explicitly denied exactly when the token is \
             stolen and issued before its cutoff\" (replay: POLICY_JUDGE_SEED={seed}):\n{}",
            self.failures.len(),
            self.judged,
            self.failures
                .iter()
                .take(15)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Draws `n` request contexts (half from `focus`, half from `others`, issue times around the
/// model's cutoffs and `extra_anchors`), reads the policies in place for every caller from the
/// emulator, judges them beside an allow-all identity policy in one batch, and compares each
/// verdict with the model: `ExplicitlyDenied` exactly when [`Stolen::denies`], `Allowed`
/// otherwise, no judge error, no ignored context key, and a deny only ever from the policies
/// this function writes.
pub async fn judge_against(
    iam: &Iam,
    stolen: &Stolen,
    focus: &[Who],
    others: &[Who],
    extra_anchors: &[OffsetDateTime],
    n: usize,
    rng: &mut Rng,
) -> Judgement {
    let owners: BTreeSet<Owner> = focus.iter().chain(others).map(Who::owner).collect();
    let mut in_place = BTreeMap::new();
    for owner in owners {
        let policies = inline_policies(iam, &owner).await;
        in_place.insert(owner, policies);
    }
    let mut anchors = stolen.cutoffs();
    anchors.extend_from_slice(extra_anchors);
    assert!(!anchors.is_empty(), "no cutoff to draw issue times around");
    let probes: Vec<Probe> = (0..n)
        .map(|i| {
            let pool = if (i % 2 == 0 && !focus.is_empty()) || others.is_empty() {
                focus
            } else {
                others
            };
            let who = rng.pick(pool).clone();
            probe(rng, &who, &anchors)
        })
        .collect();
    let requests = probes
        .iter()
        .map(|p| request(p, &in_place[&p.who.owner()]))
        .collect();
    let started = std::time::Instant::now();
    let verdicts = judge().ask(requests);
    let elapsed = started.elapsed();
    let mut j = Judgement {
        judged: n,
        elapsed,
        ..Judgement::default()
    };
    for (p, v) in probes.iter().zip(&verdicts) {
        let want = if stolen.denies(&p.who, p.issued) {
            "ExplicitlyDenied"
        } else {
            "Allowed"
        };
        let got = v["result"].as_str().unwrap_or("?");
        match got {
            "ExplicitlyDenied" => j.denied += 1,
            "Allowed" => j.allowed += 1,
            _ => {}
        }
        let ignored = v["ignoredContextKeys"]
            .as_array()
            .is_some_and(|a| !a.is_empty());
        let foreign_deny = v["deniedBy"].as_array().is_some_and(|list| {
            list.iter()
                .any(|d| !REVOCATION_POLICIES.contains(&d["policy"].as_str().unwrap_or("")))
        });
        if got != want || !v["error"].is_null() || ignored || foreign_deny {
            j.failures.push(format!(
                "  {} (aws:userid {:?}) issued {} {} on {}: judge {got} (deniedBy {}, error {}, ignored {}), expected {want}; policies in place: {}",
                p.who.principal_arn(),
                p.who.userid(),
                p.issued_text.as_deref().unwrap_or("- (long-term key: no aws:TokenIssueTime)"),
                p.action,
                p.resource,
                v["deniedBy"],
                v["error"],
                v["ignoredContextKeys"],
                serde_json::to_string(&in_place[&p.who.owner()]).unwrap(),
            ));
        }
    }
    j
}

// ---------------------------------------------------------------------------------------------
// Findings and invocations

/// A GuardDuty finding about a role session, with more stolen sessions in `recentCredentials`
/// (as `InstanceCredentialExfiltration` findings carry them).
pub fn role_finding(
    id: &str,
    finding_type: &str,
    role: &str,
    principal_id: &str,
    last_seen: OffsetDateTime,
    recent: &[String],
) -> Value {
    let mut f = crate::common::finding(id, role, principal_id, &format_utc(last_seen));
    f["type"] = json!(finding_type);
    if !recent.is_empty() {
        f["service"]["additionalInfo"]["recentCredentials"] = recent
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({"accessKeyId": format!("ASIAQEXAMPLERECENT{i:02}"), "principalId": p,
                       "ipAddressV4": format!("198.51.100.{}", 10 + i)})
            })
            .collect();
    }
    f
}

/// A GuardDuty finding about an IAM user's key (`ASIA…`: a session of the user; `AKIA…`: the
/// long-term key itself).
pub fn user_finding(
    id: &str,
    user: &str,
    user_id: &str,
    key: &str,
    last_seen: OffsetDateTime,
) -> Value {
    let mut f = crate::common::finding(id, user, user_id, &format_utc(last_seen));
    f["type"] = json!("UnauthorizedAccess:IAMUser/TorIPCaller");
    f["severity"] = json!(5);
    f["resource"]["accessKeyDetails"] = json!({"userType": "IAMUser", "userName": user,
        "accessKeyId": key, "principalId": user_id});
    f
}

/// The result of one invocation and the clock around it.
pub struct Invocation {
    pub result: Result<Value, String>,
    pub before: OffsetDateTime,
    pub after: OffsetDateTime,
}

impl Invocation {
    pub fn report(&self) -> &Value {
        self.result
            .as_ref()
            .unwrap_or_else(|e| panic!("invocation failed: {e}"))
    }

    /// The first action of `kind` in the report.
    pub fn action(&self, kind: &str) -> &Value {
        let report = self.report();
        report["incidents"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|i| i["actions"].as_array().into_iter().flatten())
            .find(|a| a["action"] == kind)
            .unwrap_or_else(|| panic!("no {kind} action in {report:#}"))
    }

    /// The cutoff an action wrote, checked against the clock: `CUTOFF_MARGIN_SECONDS` after a
    /// moment inside the invocation, in whole seconds.
    pub fn written_cutoff(&self, kind: &str, margin_seconds: i64) -> OffsetDateTime {
        let a = self.action(kind);
        assert_eq!(a["status"], "done", "{kind} not done: {a:#}");
        self.done_cutoff(kind, margin_seconds).unwrap()
    }

    /// Like [`Self::written_cutoff`], `None` when the invocation failed or no `kind` action
    /// is `done`.
    pub fn done_cutoff(&self, kind: &str, margin_seconds: i64) -> Option<OffsetDateTime> {
        let report = self.result.as_ref().ok()?;
        let a = report["incidents"]
            .as_array()?
            .iter()
            .flat_map(|i| i["actions"].as_array().into_iter().flatten())
            .find(|a| a["action"] == kind && a["status"] == "done")?;
        let c = session_revoker::names::parse_utc(a["cutoff"].as_str().expect("cutoff"))
            .expect("RFC 3339 cutoff");
        let margin = Duration::seconds(margin_seconds);
        let lo = (self.before + margin).replace_nanosecond(0).unwrap();
        assert!(
            c >= lo && c <= self.after + margin && c.nanosecond() == 0,
            "{kind} cutoff {c} outside [{lo}, {}]",
            self.after + margin
        );
        Some(c)
    }
}

/// Runs the responder (the library, against the emulator) on one payload, keeping an error
/// as a value.
pub async fn invoke(r: &session_revoker::respond::Responder, payload: &Value) -> Invocation {
    let before = OffsetDateTime::now_utc();
    let result = r
        .respond(payload, session_revoker::respond::Budget::UNLIMITED)
        .await
        .map(|report| serde_json::to_value(report).unwrap())
        .map_err(|e| format!("{} ({e})", e.error_type()));
    let after = OffsetDateTime::now_utc();
    Invocation {
        result,
        before,
        after,
    }
}
