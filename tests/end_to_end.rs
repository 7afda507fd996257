//! End to end: the real binary under `cargo lambda watch`, every sample in `events/` sent with
//! `cargo lambda invoke`, against a moto server seeded by `tools/seed.py`.
//!
//! Needs `MOTO_ENDPOINT` (set by `tools/with-moto.sh`; `make test` runs the tests through it):
//!
//! ```text
//! tools/with-moto.sh cargo test --test end_to_end -- --nocapture
//! ```
//!
//! First a payload the function must refuse (sent until the function answers, so its start-up
//! does not eat into a finding's time), then the files of `EXPECTATIONS` in that order (later
//! ones depend on the state the earlier ones left), then every other file of `events/` (each
//! must at least return a report with an `outcome`). After each invocation the report must have
//! reached the SNS topic (read back through the subscribed SQS queue). moto does not evaluate
//! IAM conditions: this test checks what was written, not that AWS would deny with it.

#[path = "support/cloudtrail_loopback.rs"]
mod cloudtrail_loopback;

use serde_json::Value;
use session_revoker::config::VARIABLES;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The role-wide deny policy (the IAM console's "Revoke active sessions" name).
const ROLE_POLICY: &str = "AWSRevokeOlderSessions";
/// The per-session deny policy.
const SESSION_POLICY: &str = "SessionRevokerDenyStolenSessions";
/// The fixtures carry fixed example ids that moto cannot reproduce (it picks access key ids and
/// instance ids at random): each invocation gets a copy of the file with these replaced by the
/// ids `tools/seed.py seed` printed.
const PLACEHOLDER_CI_BOT_KEY: &str = "AKIAQEXAMPLE7CIUSER1";
const PLACEHOLDER_WEB_APP_INSTANCE: &str = "i-0f1e2d3c4b5a69788";
/// First start of `cargo lambda watch` may compile the function.
const WATCH_START_LIMIT: Duration = Duration::from_secs(300);

/// The sample events with a known expected result, in the order they are sent.
const EXPECTATIONS: &[&str] = &[
    "assumed-role-event.json",
    "assumed-role-finding.json",
    "get-findings-output.json",
    "manual-revoke-dry-run.json",
    "manual-revoke.json",
    "manual-revoke-session.json",
    "sample-finding-event.json",
    "unsupported-finding-event.json",
    "instance-exfiltration-event.json",
    "iam-user-key-event.json",
    "root-credential-event.json",
    "member-account-event.json",
    "securityhub-imported-event.json",
    "securityhub-custom-action-event.json",
    "attack-sequence-event.json",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: this test needs a moto server. Run it through \
             tools/with-moto.sh, e.g. `tools/with-moto.sh cargo test --test end_to_end` \
             (`make test` does)"
        )
    })
}

/// `host:port` of an `http://host:port` endpoint.
fn host_port(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// `POST /moto-api/reset`: a fresh account, whatever ran before.
fn reset_moto(endpoint: &str) {
    let addr = host_port(endpoint);
    let mut stream = TcpStream::connect(&addr)
        .unwrap_or_else(|e| panic!("cannot connect to moto at {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        stream,
        "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send reset");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read reset");
    let status = response.lines().next().unwrap_or_default();
    assert!(
        status.contains(" 200"),
        "moto reset failed: {status}\n{response}"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn path_with_venv() -> String {
    let venv_bin = repo().join(".venv/bin");
    match std::env::var("PATH") {
        Ok(p) if !p.is_empty() => format!("{}:{p}", venv_bin.display()),
        _ => venv_bin.display().to_string(),
    }
}

/// `tools/seed.py <mode>` with the virtualenv's python; its stdout is JSON.
fn seed_py(endpoint: &str, args: &[&str]) -> Value {
    let python = repo().join(".venv/bin/python");
    let out = Command::new(&python)
        .arg(repo().join("tools/seed.py"))
        .args(args)
        .env("MOTO_ENDPOINT", endpoint)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (run `make venv` first)",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "tools/seed.py {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tools/seed.py {args:?} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `cargo lambda watch` and everything it spawned (cargo, the function binary): one process
/// group, terminated when this guard drops, so a failing assertion does not leave it running.
struct Watch {
    child: Child,
    /// Stops the group if this test process dies without running `Drop` (Ctrl-C, a signal):
    /// in a process group of its own, the watcher would not see the terminal's signal.
    watchdog: Option<Child>,
    port: u16,
    /// The watcher's and the function's output; its end is printed when the test fails.
    log: PathBuf,
}

/// The loopback CloudTrail of this test run (no events registered).
fn empty_cloudtrail() -> &'static cloudtrail_loopback::CloudTrailLoopback {
    static TRAIL: std::sync::OnceLock<cloudtrail_loopback::CloudTrailLoopback> =
        std::sync::OnceLock::new();
    TRAIL.get_or_init(|| cloudtrail_loopback::CloudTrailLoopback::start(50))
}

impl Watch {
    fn start(endpoint: &str, topic_arn: &str, log: PathBuf) -> Self {
        // cargo lambda watch runs `cargo run --bin session-revoker` on the first invocation.
        // That build lacks the dev-dependency features `cargo build --all-targets` unifies in,
        // so on a fresh machine it compiles the SDKs again: do it here, without a time limit,
        // rather than inside an invocation.
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--bin", "session-revoker"])
            .current_dir(repo())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("cannot run cargo build");
        assert!(status.success(), "cargo build --bin session-revoker failed");
        let port = free_port();
        let out = std::fs::File::create(&log).expect("watch log");
        let err = out.try_clone().expect("watch log");
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // The function's settings come from this test only, never from the caller's shell.
        for (name, _) in VARIABLES {
            command.env_remove(name);
        }
        // --ignore-changes: edits made while the test runs must not rebuild the function mid-run.
        let child = command
            .args(["lambda", "watch", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .current_dir(repo())
            .env("PATH", path_with_venv())
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("SNS_TOPIC_ARN", topic_arn)
            .env("CUTOFF_MARGIN_SECONDS", "2")
            // The sample events are dated 2026-11-22: not refused as replays here.
            .env("MAX_FINDING_AGE_HOURS", "0")
            .env("REASSOCIATE_INSTANCE_PROFILE", "true")
            .env("MEMBER_ROLE_NAME", "session-revoker-member")
            // moto serves no CloudTrail: a loopback stand-in that knows no events, so every
            // finding runs the follow-up path (CHAIN_DEPTH's default 3) and finds nothing.
            .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &empty_cloudtrail().endpoint)
            .env("RUST_LOG", "info")
            .env_remove("LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("cannot start `cargo lambda watch` (is cargo-lambda in .venv/bin?)");
        let pgid = child.id();
        let watchdog = Command::new("sh")
            .args([
                "-c",
                r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -s TERM -- "-$2""#,
                "watchdog",
            ])
            .arg(std::process::id().to_string())
            .arg(pgid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(pgid as i32)
            .spawn()
            .ok();
        let mut watch = Watch {
            child,
            watchdog,
            port,
            log,
        };
        watch.wait_until_listening();
        watch
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("`cargo lambda watch` exited before listening: {status}");
            }
            assert!(
                started.elapsed() < WATCH_START_LIMIT,
                "`cargo lambda watch` did not listen on 127.0.0.1:{} within {:?}",
                self.port,
                WATCH_START_LIMIT
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `cargo lambda invoke` with the payload in `file`.
    fn invoke(&self, file: &Path) -> Output {
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["lambda", "invoke", "session-revoker"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .arg("--data-file")
            .arg(file)
            .current_dir(repo())
            .env("PATH", path_with_venv())
            .stdin(Stdio::null())
            .output()
            .expect("cannot run `cargo lambda invoke`")
    }

    /// Invokes and parses the report; a failed invocation fails the test with its output.
    fn report(&self, file: &Path, name: &str) -> Value {
        let out = self.invoke(file);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let hint = if stderr.contains("not started") {
            "\n(hint: \"not started\" means the function found no time left in the invocation. \
             cargo lambda watch 1.9 sends Lambda-Runtime-Deadline-Ms as the timeout (600000), not \
             as the epoch-millisecond deadline AWS sends: the function must not read it as a \
             deadline in 1970)"
        } else {
            ""
        };
        assert!(
            out.status.success(),
            "{name}: invocation failed ({}):\n{stdout}{stderr}{hint}",
            out.status
        );
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{name}: the response is not JSON ({e}):\n{stdout}"));
        println!(
            "{name}: {} — {}",
            report["outcome"].as_str().unwrap_or("?"),
            report["summary"].as_str().unwrap_or("?")
        );
        report
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "---- last lines of the cargo lambda watch output ----\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        // cargo lambda watch starts the function in a process group (and session) of its own:
        // remember its descendants so they go too if the watcher does not stop them itself.
        let descendants = descendants(self.child.id());
        // `--` matters: procps `kill -TERM -<pgid>` does not signal the group.
        signal("TERM", &format!("-{}", self.child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        signal("KILL", &format!("-{}", self.child.id()));
        for pid in descendants {
            if Path::new(&format!("/proc/{pid}")).exists() {
                signal("KILL", &pid.to_string());
            }
        }
        let _ = self.child.wait();
        if let Some(w) = &mut self.watchdog {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// `kill -s <sig> -- <target>` (a negative target is a process group); errors ignored.
fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args(["-s", sig, "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Every process below `pid`, from /proc (Linux).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// A private directory for the payload copies, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!(
            "session-revoker-e2e-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ids the seeding printed.
struct Seeded {
    topic_arn: String,
    instance_id: String,
    ci_bot_keys: Vec<String>,
    role_ids: BTreeMap<String, String>,
}

impl Seeded {
    fn from(v: &Value) -> Self {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("seed.py printed no {k}: {v}"))
                .to_string()
        };
        let ci_bot_keys: Vec<String> = v["ci_bot_keys"]
            .as_array()
            .expect("ci_bot_keys")
            .iter()
            .map(|k| k.as_str().expect("key id").to_string())
            .collect();
        assert_eq!(ci_bot_keys.len(), 2, "ci-bot has two keys: {v}");
        let role_ids = v["roles"]
            .as_object()
            .expect("roles")
            .iter()
            .map(|(k, id)| (k.clone(), id.as_str().expect("role id").to_string()))
            .collect();
        Seeded {
            topic_arn: s("topic_arn"),
            instance_id: s("instance_id"),
            ci_bot_keys,
            role_ids,
        }
    }
}

/// A copy of `events/<name>` with the fixture's example ids replaced by the seeded ones.
fn payload(dir: &TempDir, name: &str, seeded: &Seeded) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("events").join(name))
        .unwrap_or_else(|e| panic!("cannot read events/{name}: {e}"));
    let text = text
        .replace(PLACEHOLDER_CI_BOT_KEY, &seeded.ci_bot_keys[0])
        .replace(PLACEHOLDER_WEB_APP_INSTANCE, &seeded.instance_id);
    let path = dir.0.join(name);
    std::fs::write(&path, text).expect("write payload copy");
    path
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

fn all_actions(report: &Value) -> Vec<&Value> {
    report["incidents"]
        .as_array()
        .map(|incidents| {
            incidents
                .iter()
                .flat_map(|i| i["actions"].as_array().into_iter().flatten())
                .collect()
        })
        .unwrap_or_default()
}

/// The one action of kind `action` in the report (fails the test, with the report, otherwise).
fn action<'a>(report: &'a Value, name: &str, action: &str) -> &'a Value {
    let found: Vec<&Value> = all_actions(report)
        .into_iter()
        .filter(|a| str_of(a, "action") == action)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{name}: expected exactly one `{action}` action, got {}:\n{report:#}",
        found.len()
    );
    found[0]
}

fn assert_outcome(report: &Value, name: &str, expected: &str) {
    assert_eq!(
        str_of(report, "outcome"),
        expected,
        "{name}: outcome\n{report:#}"
    );
}

fn assert_action(a: &Value, name: &str, target: &str, status: &str) {
    assert_eq!(str_of(a, "target"), target, "{name}: target of {a:#}");
    assert_eq!(str_of(a, "status"), status, "{name}: status of {a:#}");
}

/// Statements of a policy document (an object or a list).
fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(list) => list.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// The `aws:TokenIssueTime` cutoff of the role-wide deny, checked for shape on the way.
fn role_policy_cutoff(doc: &Value, name: &str) -> String {
    let st = statements(doc);
    assert_eq!(
        st.len(),
        1,
        "{name}: {ROLE_POLICY} has one statement: {doc}"
    );
    let s = st[0];
    assert_eq!(s["Effect"], "Deny", "{name}: {doc}");
    assert!(
        s["Action"] == "*" || s["Action"] == serde_json::json!(["*"]),
        "{name}: Action * in {doc}"
    );
    assert!(
        s["Resource"] == "*" || s["Resource"] == serde_json::json!(["*"]),
        "{name}: Resource * in {doc}"
    );
    s["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no DateLessThan aws:TokenIssueTime in {doc}"))
        .to_string()
}

/// RFC 3339 UTC timestamps of the same format compare as strings.
fn assert_later(later: &str, earlier: &str, what: &str) {
    assert_eq!(
        later.len(),
        earlier.len(),
        "{what}: cutoffs in different formats: {later} / {earlier}"
    );
    assert!(
        later > earlier,
        "{what}: cutoff {later} is not later than {earlier}"
    );
}

/// The messages that reached the queue since the last call, one per invocation: the report as
/// JSON (the `sqs` member of a MessageStructure=json publish), with filterable attributes.
fn assert_published(endpoint: &str, report: &Value, name: &str) -> Value {
    let state = seed_py(endpoint, &["show", "--drain"]);
    let messages = state["messages"].as_array().expect("messages");
    assert_eq!(
        messages.len(),
        1,
        "{name}: one report published per invocation, got {}: {state:#}",
        messages.len()
    );
    let m = &messages[0];
    assert_eq!(
        m["message_is_json"], true,
        "{name}: the SQS message is not the JSON report: {m:#}"
    );
    assert_eq!(
        m["attributes"]["outcome"], report["outcome"],
        "{name}: attribute outcome: {m:#}"
    );
    assert_eq!(
        m["message"]["summary"], report["summary"],
        "{name}: published summary: {m:#}"
    );
    m.clone()
}

#[test]
fn every_sample_event_end_to_end() {
    let endpoint = moto_endpoint();
    reset_moto(&endpoint);
    let seeded = Seeded::from(&seed_py(&endpoint, &["seed"]));
    let initial = seed_py(&endpoint, &["show", "--drain"]);
    let deploy_artifacts = initial["policies"]["app-deployer"]["deploy-artifacts"].clone();
    assert!(deploy_artifacts.is_object(), "seeded: {initial:#}");
    let deployer_id = seeded.role_ids["app-deployer"].clone();

    let dir = TempDir::new();
    let watch = Watch::start(&endpoint, &seeded.topic_arn, dir.0.join("watch.log"));
    refuses_unreadable_payload(&watch, &dir);
    let refused = seed_py(&endpoint, &["show", "--drain"]);
    assert_eq!(
        refused["messages"],
        serde_json::json!([]),
        "a refused payload publishes nothing"
    );
    let mut first_cutoff = String::new();

    // Every file in events/: the table's files first, in its order, then any other.
    let mut files: Vec<String> = std::fs::read_dir(repo().join("events"))
        .expect("events/")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    for known in EXPECTATIONS {
        assert!(
            files.iter().any(|f| f == known),
            "events/{known} is in the expectations table but not in events/"
        );
    }
    let others: Vec<String> = files
        .iter()
        .filter(|f| !EXPECTATIONS.contains(&f.as_str()))
        .cloned()
        .collect();

    for name in EXPECTATIONS {
        let name = *name;
        let before = seed_py(&endpoint, &["show"]);
        let report = watch.report(&payload(&dir, name, &seeded), name);
        let published = assert_published(&endpoint, &report, name);
        let after = seed_py(&endpoint, &["show"]);
        let deployer = &after["policies"]["app-deployer"];
        assert_eq!(
            deployer["deploy-artifacts"], deploy_artifacts,
            "{name}: the unrelated inline policy deploy-artifacts changed"
        );
        assert_eq!(
            after["policies"]["billing-reader"], initial["policies"]["billing-reader"],
            "{name}: the bystander role billing-reader changed"
        );

        match name {
            "assumed-role-event.json" => {
                assert_outcome(&report, name, "revoked");
                let a = action(&report, name, "revoke_role_sessions");
                assert_action(a, name, "app-deployer", "done");
                assert_eq!(str_of(a, "policy_name"), ROLE_POLICY, "{name}: {a:#}");
                let doc = &deployer[ROLE_POLICY];
                assert!(
                    doc.is_object(),
                    "{name}: no {ROLE_POLICY} in moto: {after:#}"
                );
                first_cutoff = role_policy_cutoff(doc, name);
                assert_eq!(
                    str_of(a, "cutoff"),
                    first_cutoff,
                    "{name}: reported cutoff vs policy"
                );

                // The SNS report: the whole JSON report (the response adds only the message id).
                let mut returned = report.clone();
                let message_id = returned.as_object_mut().and_then(|o| o.remove("published"));
                assert_eq!(
                    message_id.as_ref().and_then(Value::as_str),
                    published["message_id"].as_str(),
                    "{name}: `published` is the SNS message id: {published:#}"
                );
                assert_eq!(
                    published["message"], returned,
                    "{name}: the SQS message body is not the report"
                );
                let attrs = &published["attributes"];
                assert_eq!(attrs["outcome"], "revoked", "{published:#}");
                assert_eq!(attrs["severity"], "Medium", "{published:#}");
                assert_eq!(
                    attrs["finding_type"], "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
                    "{published:#}"
                );
                assert!(
                    str_of(&published, "subject").starts_with("[session-revoker] REVOKED"),
                    "{name}: subject: {published:#}"
                );
            }
            "assumed-role-finding.json" => {
                assert_outcome(&report, name, "already_covered");
                let a = action(&report, name, "revoke_role_sessions");
                assert_action(a, name, "app-deployer", "already_covered");
                assert_eq!(
                    deployer, &before["policies"]["app-deployer"],
                    "{name}: nothing is written"
                );
            }
            "get-findings-output.json" => {
                let incidents = report["incidents"].as_array().expect("incidents");
                assert_eq!(incidents.len(), 2, "{name}: two incidents\n{report:#}");
                assert_eq!(
                    incidents[0]["outcome"], "already_covered",
                    "{name}: first incident\n{report:#}"
                );
                assert_eq!(
                    incidents[1]["outcome"], "skipped",
                    "{name}: second incident\n{report:#}"
                );
                let detail = incidents[1]["actions"][0]["detail"].as_str().unwrap_or("");
                assert!(
                    detail.contains("MIN_SEVERITY"),
                    "{name}: the skip says the severity is below MIN_SEVERITY: {detail}"
                );
                assert_eq!(
                    deployer, &before["policies"]["app-deployer"],
                    "{name}: nothing is written"
                );
            }
            "manual-revoke-dry-run.json" => {
                assert_outcome(&report, name, "would_revoke");
                assert_eq!(report["dry_run"], true, "{name}\n{report:#}");
                let a = action(&report, name, "revoke_role_sessions");
                assert_action(a, name, "app-deployer", "would_do");
                assert_eq!(
                    deployer, &before["policies"]["app-deployer"],
                    "{name}: a dry run writes nothing"
                );
            }
            "manual-revoke.json" => {
                assert_outcome(&report, name, "revoked");
                let a = action(&report, name, "revoke_role_sessions");
                assert_action(a, name, "app-deployer", "done");
                let cutoff = role_policy_cutoff(&deployer[ROLE_POLICY], name);
                assert_eq!(str_of(a, "cutoff"), cutoff, "{name}: reported vs policy");
                assert_later(&cutoff, &first_cutoff, name);
            }
            "manual-revoke-session.json" => {
                let a = action(&report, name, "revoke_sessions");
                assert_action(a, name, "app-deployer", "done");
                let doc = &deployer[SESSION_POLICY];
                assert!(
                    doc.is_object(),
                    "{name}: no {SESSION_POLICY} on app-deployer in moto: {after:#}"
                );
                let userid = format!("{deployer_id}:keith");
                let names_keith = statements(doc).iter().any(|s| {
                    s["Effect"] == "Deny"
                        && match &s["Condition"]["StringEquals"]["aws:userid"] {
                            Value::String(v) => *v == userid,
                            Value::Array(vs) => vs.iter().any(|v| *v == userid.as_str()),
                            _ => false,
                        }
                });
                assert!(
                    names_keith,
                    "{name}: no Deny statement with StringEquals aws:userid {userid}: {doc:#}"
                );
            }
            "sample-finding-event.json" => {
                assert_outcome(&report, name, "skipped");
                let detail = str_of(action(&report, name, "triage"), "detail").to_lowercase();
                assert!(
                    detail.contains("sample"),
                    "{name}: the reason mentions the sample: {detail}"
                );
            }
            "unsupported-finding-event.json" => {
                assert_outcome(&report, name, "skipped");
                let detail = str_of(action(&report, name, "triage"), "detail");
                assert!(
                    detail.contains("FINDING_TYPES"),
                    "{name}: the reason names FINDING_TYPES: {detail}"
                );
            }
            "instance-exfiltration-event.json" => {
                // REVOKE_SCOPE=auto (the default): an instance's stolen credentials are one
                // session; a role-wide deny would cut every instance sharing the role.
                assert_outcome(&report, name, "revoked");
                let a = action(&report, name, "revoke_sessions");
                assert_action(a, name, "web-app", "done");
                assert!(
                    after["policies"]["web-app"][ROLE_POLICY].is_null(),
                    "{name}: no role-wide deny for one instance's session: {after:#}"
                );
                let doc = &after["policies"]["web-app"][SESSION_POLICY];
                let st = statements(doc);
                assert_eq!(st.len(), 1, "{name}: one stolen session: {doc:#}");
                let userid = st[0]["Condition"]["StringEquals"]["aws:userid"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    userid.ends_with(&format!(":{}", seeded.instance_id)),
                    "{name}: the instance's own session is named: {doc:#}"
                );
                assert_eq!(
                    str_of(a, "cutoff"),
                    str_of(&st[0]["Condition"]["DateLessThan"], "aws:TokenIssueTime"),
                    "{name}: reported vs policy"
                );
                let r = action(&report, name, "reassociate_instance_profile");
                assert_action(r, name, &seeded.instance_id, "done");
                let old = str_of(&r["facts"], "old_association_id");
                let new = str_of(&r["facts"], "new_association_id");
                assert!(
                    !old.is_empty() && !new.is_empty() && old != new,
                    "{name}: a new association replaces the old one: {r:#}"
                );
                let inst = &after["web_app_instance"];
                let current: Vec<&Value> = inst["associations"]
                    .as_array()
                    .expect("associations")
                    .iter()
                    .filter(|a| a["state"] == "associated")
                    .collect();
                assert_eq!(
                    current.len(),
                    1,
                    "{name}: the instance has one profile: {inst:#}"
                );
                assert_eq!(current[0]["association_id"], new, "{name}: {inst:#}");
                assert!(
                    str_of(current[0], "instance_profile_arn")
                        .ends_with(":instance-profile/web-app"),
                    "{name}: associated with the web-app profile again: {inst:#}"
                );
            }
            "iam-user-key-event.json" => {
                let a = action(&report, name, "deactivate_access_key");
                assert_eq!(str_of(a, "status"), "done", "{name}: {a:#}");
                let keys = &after["ci_bot_keys"];
                let (stolen, other) = (&seeded.ci_bot_keys[0], &seeded.ci_bot_keys[1]);
                assert_eq!(keys[stolen], "Inactive", "{name}: the stolen key: {keys}");
                assert_eq!(keys[other], "Active", "{name}: ci-bot's other key: {keys}");
            }
            "root-credential-event.json" => {
                assert_outcome(&report, name, "manual_action_required");
            }
            "member-account-event.json" => {
                // Acted on in the member account through the assumed member role.
                assert_outcome(&report, name, "revoked");
                let a = action(&report, name, "revoke_role_sessions");
                assert_action(a, name, "data-pipeline", "done");
                assert_eq!(a["facts"]["account"], "111111111111", "{name}: {a:#}");
                assert_eq!(
                    a["facts"]["via_role"], "arn:aws:iam::111111111111:role/session-revoker-member",
                    "{name}: {a:#}"
                );
                assert!(
                    after["member_policies"]["data-pipeline"][ROLE_POLICY].is_object(),
                    "{name}: no {ROLE_POLICY} on data-pipeline in the member account: {after:#}"
                );
                assert_eq!(
                    after["admin_has_data_pipeline"], false,
                    "{name}: nothing created in the administrator account"
                );
            }
            "securityhub-imported-event.json" => {
                // GuardDuty's finding as Security Hub delivers it (ASFF): the same decision as
                // GuardDuty's own event. A laptop's session is not an instance's: role scope.
                assert_outcome(&report, name, "revoked");
                assert_eq!(report["input"], "security_hub_event", "{name}\n{report:#}");
                let a = action(&report, name, "revoke_role_sessions");
                assert_action(a, name, "web-app", "done");
                let doc = &after["policies"]["web-app"][ROLE_POLICY];
                let cutoff = role_policy_cutoff(doc, name);
                assert_eq!(str_of(a, "cutoff"), cutoff, "{name}: reported vs policy");
            }
            "securityhub-custom-action-event.json" => {
                // A person chose "Revoke sessions" for the same GuardDuty finding and an
                // Inspector finding: the first is already covered, the second is not GuardDuty's.
                let incidents = report["incidents"].as_array().expect("incidents");
                assert_eq!(incidents.len(), 2, "{name}: two incidents\n{report:#}");
                assert_eq!(
                    incidents[0]["outcome"], "already_covered",
                    "{name}\n{report:#}"
                );
                assert_eq!(incidents[1]["outcome"], "skipped", "{name}\n{report:#}");
                let detail = incidents[1]["actions"][0]["detail"].as_str().unwrap_or("");
                assert!(
                    detail.contains("product/aws/inspector"),
                    "{name}: the skip names the product: {detail}"
                );
                assert_eq!(
                    after["policies"]["web-app"], before["policies"]["web-app"],
                    "{name}: nothing is written"
                );
            }
            "attack-sequence-event.json" => {
                // One incident per credential the sequence names, each tied to it. Both were
                // contained by the events above (ci-bot's key, web-app's sessions): already
                // covered now, and counted as contained.
                let incidents = report["incidents"].as_array().expect("incidents");
                assert_eq!(incidents.len(), 2, "{name}: two credentials\n{report:#}");
                for i in incidents {
                    assert_eq!(
                        i["finding_type"],
                        "AttackSequence:IAM/CompromisedCredentials"
                    );
                    assert_eq!(i["sequence"]["credentials_found"], 2, "{name}: {i:#}");
                    assert!(
                        matches!(i["outcome"].as_str(), Some("revoked" | "already_covered")),
                        "{name}: {i:#}"
                    );
                }
                assert_eq!(
                    incidents[0]["principal"]["name"], "ci-bot",
                    "{name}\n{report:#}"
                );
                assert_eq!(
                    incidents[1]["principal"]["name"], "web-app",
                    "{name}\n{report:#}"
                );
                assert_eq!(
                    incidents[1]["sequence"]["signals"][1]["name"], "s3:GetObject",
                    "{name}: the role's own signals\n{report:#}"
                );
                assert!(
                    str_of(&report, "summary").contains(
                        "attack sequence 4ac9e2f07b1d48e3a6c05f9d8e7b2a10: 2 of 2 credentials contained"
                    ),
                    "{name}: {}",
                    report["summary"]
                );
                let keys = &after["ci_bot_keys"];
                assert_eq!(keys[&seeded.ci_bot_keys[0]], "Inactive", "{name}: {keys}");
                assert_eq!(keys[&seeded.ci_bot_keys[1]], "Active", "{name}: {keys}");
                assert!(
                    after["policies"]["web-app"][ROLE_POLICY].is_object(),
                    "{name}: {after:#}"
                );
            }
            _ => unreachable!("{name} is in EXPECTATIONS without a check"),
        }
    }

    // Files nobody wrote an expectation for: they must at least produce a report.
    for name in &others {
        let report = watch.report(&payload(&dir, name, &seeded), name);
        assert!(
            report["outcome"].is_string(),
            "events/{name}: no `outcome` in the response:\n{report:#}"
        );
        println!("events/{name} (no expectation yet):\n{report:#}");
        assert_published(&endpoint, &report, name);
    }
}

/// A payload the function cannot read is a failed invocation with a readable message, and
/// nothing is published.
///
/// Sent first: `cargo lambda watch` builds and starts the function on the first invocation,
/// and that build time counts against the invocation's deadline. A finding sent first could
/// find its time used up ("not started"), so this harmless payload is sent until the function
/// answers it.
fn refuses_unreadable_payload(watch: &Watch, dir: &TempDir) {
    let bad = dir.0.join("not-a-finding.json");
    std::fs::write(&bad, r#"{"hello": "world"}"#).expect("write bad payload");
    let started = Instant::now();
    loop {
        let out = watch.invoke(&bad);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("unrecognised payload") {
            assert!(
                !out.status.success(),
                "an unreadable payload must fail the invocation, got success:\n{text}"
            );
            println!("unreadable payload refused:\n{}", text.trim());
            return;
        }
        assert!(
            started.elapsed() < WATCH_START_LIMIT,
            "the function did not answer {{\"hello\": \"world\"}} with `unrecognised payload` \
             within {WATCH_START_LIMIT:?}; last output ({}):\n{text}",
            out.status
        );
        println!("waiting for the function to start: {}", text.trim());
        std::thread::sleep(Duration::from_secs(2));
    }
}
