//! The function the way Lambda runs it: the built `session-revoker` binary
//! (`CARGO_BIN_EXE_session-revoker`, which cargo builds for this test target) polling a Lambda
//! Runtime API served by this file.
//!
//! The Runtime API is the documented one (`GET /2018-06-01/runtime/invocation/next`, then
//! `POST .../invocation/{id}/response` or `.../error`; `POST .../runtime/init/error`), answered
//! with the headers `lambda_runtime` 1.x reads (`Lambda-Runtime-Aws-Request-Id`,
//! `Lambda-Runtime-Deadline-Ms` as epoch milliseconds as AWS sends it,
//! `Lambda-Runtime-Invoked-Function-Arn`, `Lambda-Runtime-Trace-Id`). It is written here rather
//! than borrowed from `cargo lambda watch` because drill 3 needs many function instances
//! running at the same moment, as Lambda scales out, and `cargo lambda watch` runs one.
//!
//! Each [`Lambda`] is one function configuration with `instances` processes (execution
//! environments), each with a clean environment (Lambda gives a function only its own
//! variables): the settings the drill passes, the emulator endpoint and the `test` credentials.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "/2018-06-01/runtime";
/// How long one invocation may take before the drill gives up on it.
const INVOCATION_LIMIT: Duration = Duration::from_secs(90);
/// How long the instances may take to start and poll for their first event.
const START_LIMIT: Duration = Duration::from_secs(60);
/// The deadline sent with each event (the function's configured timeout).
const FUNCTION_TIMEOUT_MS: u128 = 120_000;
/// Set by Lambda, not by the function's configuration: the execution role's credentials and the
/// function's name (which a deployed stack chooses).
const LAMBDA_SETS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_FUNCTION_NAME",
];

/// What an invocation returned: the function's response, or the error it reported (which is
/// what makes Lambda count an error, retry, and finally send the event to the failure queue).
#[derive(Debug, Clone)]
pub enum Invocation {
    Response(Value),
    Error {
        error_type: String,
        message: String,
        body: String,
    },
}

/// Every action of every incident of a report.
pub fn all_actions(report: &Value) -> Vec<&Value> {
    report["incidents"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["actions"].as_array().into_iter().flatten())
        .collect()
}

impl Invocation {
    pub fn is_error(&self) -> bool {
        matches!(self, Invocation::Error { .. })
    }

    /// The report, or the test fails with the error the function reported.
    pub fn report(&self, what: &str) -> &Value {
        match self {
            Invocation::Response(v) => v,
            Invocation::Error { body, .. } => {
                panic!("{what}: the invocation failed, a report was expected:\n{body}")
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Invocation::Response(v) => format!(
                "response: {}",
                serde_json::to_string_pretty(v).unwrap_or_default()
            ),
            Invocation::Error {
                error_type,
                message,
                body,
            } => format!("error {error_type}: {message} (body: {body})"),
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    results: HashMap<String, Invocation>,
    /// Requests blocked in `GET .../invocation/next` right now: instances ready for an event.
    polling: usize,
    init_errors: Vec<String>,
    shutdown: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until an event is queued (`None`: the server is shutting down).
    fn next(&self) -> Option<(String, Vec<u8>)> {
        let mut s = self.lock();
        s.polling += 1;
        self.changed.notify_all();
        loop {
            if s.shutdown {
                s.polling -= 1;
                return None;
            }
            if let Some(event) = s.queue.pop_front() {
                s.polling -= 1;
                self.changed.notify_all();
                return Some(event);
            }
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn complete(&self, id: &str, result: Invocation) {
        let mut s = self.lock();
        s.results.insert(id.to_string(), result);
        self.changed.notify_all();
    }
}

/// One function configuration with its execution environments.
pub struct Lambda {
    name: String,
    shared: Arc<Shared>,
    children: Mutex<Vec<Child>>,
    logs: Vec<PathBuf>,
    dir: PathBuf,
    next_id: Mutex<u64>,
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl Lambda {
    /// Starts the Runtime API and `instances` processes of the function with `settings` (the
    /// function's variables, `core/src/config.rs` `VARIABLES`) on top of the drill defaults.
    pub fn start(name: &str, instances: usize, settings: &[(&str, &str)]) -> Lambda {
        let endpoint = super::fakecloud::endpoint();
        let dir =
            std::env::temp_dir().join(format!("session-revoker-drill-{name}-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir for the function logs");
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("a loopback port for the Runtime API");
        let addr = listener.local_addr().expect("Runtime API address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let shared = Arc::new(Shared::default());
        {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, shared));
        }
        let mut defaults: Vec<(&str, String)> = vec![
            ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "session-revoker".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/session-revoker".into(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", super::fakecloud::REGION.into()),
            ("AWS_DEFAULT_REGION", super::fakecloud::REGION.into()),
            ("AWS_ENDPOINT_URL", endpoint),
            // fakecloud's administrator key (any key id starting `test` bypasses enforcement):
            // the function is judged by what it writes, not by its own permissions.
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            // Whole seconds are compared (docs/emulators.md quirk 5): 2 s keeps a token issued
            // in the second of the response older than the cutoff, and the drills fast.
            ("CUTOFF_MARGIN_SECONDS", "2".into()),
            // Findings built from the sample events keep their 2026-11-22 dates.
            ("MAX_FINDING_AGE_HOURS", "0".into()),
            (
                "RESPONDER_ROLE_ARN",
                format!(
                    "arn:aws:iam::{}:role/session-revoker",
                    super::fakecloud::ACCOUNT
                ),
            ),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ];
        for (k, v) in settings {
            // The function's variables, or a service endpoint (a loopback stand-in for a
            // service no emulator serves, e.g. `AWS_ENDPOINT_URL_CLOUDTRAIL`), or what Lambda
            // itself sets when the function runs as a deployed stack's role under its own name
            // (tests/deployed_stack.rs, and the function's own credentials in tests/fire_drill.rs).
            assert!(
                k.starts_with("AWS_ENDPOINT_URL_")
                    || LAMBDA_SETS.contains(k)
                    || session_revoker::config::VARIABLES
                        .iter()
                        .any(|(name, _)| name == k),
                "{k} is not one of the function's variables (core/src/config.rs VARIABLES)"
            );
            defaults.retain(|(d, _)| d != k);
            defaults.push((k, v.to_string()));
        }
        let exe = env!("CARGO_BIN_EXE_session-revoker");
        let mut children = Vec::new();
        let mut logs = Vec::new();
        for i in 0..instances {
            let log = dir.join(format!("instance-{i}.log"));
            let out = std::fs::File::create(&log).expect("function log");
            let err = out.try_clone().expect("function log");
            let mut command = Command::new(exe);
            command.env_clear();
            for (k, v) in &defaults {
                command.env(k, v);
            }
            let child = command
                .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("drill-{name}-{i}"))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
            children.push(child);
            logs.push(log);
        }
        let lambda = Lambda {
            name: name.to_string(),
            shared,
            children: Mutex::new(children),
            logs,
            dir,
            next_id: Mutex::new(0),
        };
        tokio::task::block_in_place(|| lambda.wait_for_pollers(instances));
        lambda
    }

    fn check_alive(&self) {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        let init_errors = self.shared.lock().init_errors.clone();
        for (i, c) in children.iter_mut().enumerate() {
            if let Ok(Some(status)) = c.try_wait() {
                panic!(
                    "{}: function instance {i} exited ({status}); init errors: {init_errors:?}\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
        }
    }

    /// Waits until `n` instances are blocked in `invocation/next`, so that the next events
    /// start at the same moment, one per instance.
    fn wait_for_pollers(&self, n: usize) {
        let started = Instant::now();
        loop {
            if self.shared.lock().polling >= n {
                return;
            }
            self.check_alive();
            assert!(
                started.elapsed() < START_LIMIT,
                "{}: only {} of {n} function instances polled for an event within {START_LIMIT:?}\n{}",
                self.name,
                self.shared.lock().polling,
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn enqueue(&self, payload: &Value) -> String {
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            format!("{}-{:04}-{}", self.name, *n, unique_suffix())
        };
        let body = serde_json::to_vec(payload).expect("payload serializes");
        let mut s = self.shared.lock();
        s.queue.push_back((id.clone(), body));
        self.shared.changed.notify_all();
        id
    }

    fn wait_for(&self, ids: &[String]) -> Vec<Invocation> {
        let started = Instant::now();
        loop {
            {
                let s = self.shared.lock();
                if ids.iter().all(|id| s.results.contains_key(id)) {
                    return ids.iter().map(|id| s.results[id].clone()).collect();
                }
            }
            self.check_alive();
            assert!(
                started.elapsed() < INVOCATION_LIMIT,
                "{}: no answer to {} invocation(s) within {INVOCATION_LIMIT:?}\n{}",
                self.name,
                ids.len(),
                self.log_tail(60)
            );
            let s = self.shared.lock();
            let _ = self
                .shared
                .changed
                .wait_timeout(s, Duration::from_millis(100));
        }
    }

    /// One invocation, as `lambda invoke` would make it; blocks until the function answers.
    pub fn invoke(&self, payload: &Value) -> Invocation {
        let id = self.enqueue(payload);
        tokio::task::block_in_place(|| self.wait_for(&[id]))
            .pop()
            .expect("one result")
    }

    /// One event per instance, released together once every instance is waiting for one:
    /// parallel invocations in separate execution environments, as Lambda runs a burst.
    pub fn invoke_together(&self, payloads: &[Value]) -> Vec<Invocation> {
        tokio::task::block_in_place(|| {
            self.wait_for_pollers(payloads.len());
            let ids: Vec<String> = {
                // Queued under one lock: no instance starts before all are queued.
                let bodies: Vec<Vec<u8>> = payloads
                    .iter()
                    .map(|p| serde_json::to_vec(p).expect("payload serializes"))
                    .collect();
                let mut n = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
                let mut s = self.shared.lock();
                let mut ids = Vec::new();
                for body in bodies {
                    *n += 1;
                    let id = format!("{}-{:04}-{}", self.name, *n, unique_suffix());
                    s.queue.push_back((id.clone(), body));
                    ids.push(id);
                }
                self.shared.changed.notify_all();
                ids
            };
            self.wait_for(&ids)
        })
    }

    /// Everything the instances wrote (their logs: what CloudWatch Logs would hold).
    pub fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn log_tail(&self, lines: usize) -> String {
        self.log_tail_of(lines, usize::MAX)
    }

    /// The last `lines` of the first `instances` non-empty logs.
    fn log_tail_of(&self, lines: usize, instances: usize) -> String {
        let mut out = String::new();
        let mut shown = 0;
        for (i, p) in self.logs.iter().enumerate() {
            if shown == instances {
                break;
            }
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            if all.is_empty() {
                continue;
            }
            shown += 1;
            out.push_str(&format!(
                "---- {} instance {i}: last lines of its log ----\n{}\n",
                self.name,
                all[all.len().saturating_sub(lines)..].join("\n")
            ));
        }
        out
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let keep = std::thread::panicking();
        if keep {
            // The first instances' last lines here; every instance's whole log stays on disk.
            let shown = self.log_tail_of(20, 2);
            eprintln!(
                "{shown}---- {}: the function's logs are kept in {} ----",
                self.name,
                self.dir.display()
            );
        }
        {
            let mut s = self.shared.lock();
            s.shutdown = true;
            self.shared.changed.notify_all();
        }
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        for c in children.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        if shared.lock().shutdown {
            return;
        }
        match listener.accept() {
            Ok((conn, _)) => {
                let shared = shared.clone();
                let _ = conn.set_nonblocking(false);
                std::thread::spawn(move || serve(conn, shared));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_line(r: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn read_request(r: &mut impl BufRead) -> Option<Request> {
    let first = read_line(r)?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(r)?;
            let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers, then the blank line.
                while !read_line(r)?.is_empty() {}
                break;
            }
            let mut chunk = vec![0; size];
            r.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            read_line(r)?;
        }
    } else if let Some(len) = headers.get("content-length").and_then(|l| l.parse().ok()) {
        body = vec![0; len];
        r.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn respond(w: &mut impl Write, status: &str, headers: &[(&str, String)], body: &[u8]) -> bool {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).is_ok() && w.write_all(body).is_ok() && w.flush().is_ok()
}

/// One connection of the function's runtime client (kept alive across requests).
fn serve(conn: TcpStream, shared: Arc<Shared>) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = conn;
    let accepted = br#"{"status":"OK"}"#;
    while let Some(req) = read_request(&mut reader) {
        let path = req.path.split('?').next().unwrap_or_default().to_string();
        let ok = match (req.method.as_str(), path.strip_prefix(PREFIX)) {
            ("GET", Some("/invocation/next")) => {
                let Some((id, body)) = shared.next() else {
                    return;
                };
                let headers = [
                    ("content-type", "application/json".to_string()),
                    ("lambda-runtime-aws-request-id", id),
                    (
                        "lambda-runtime-deadline-ms",
                        (epoch_ms() + FUNCTION_TIMEOUT_MS).to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn",
                        format!(
                            "arn:aws:lambda:{}:{}:function:session-revoker",
                            super::fakecloud::REGION,
                            super::fakecloud::ACCOUNT
                        ),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0".to_string(),
                    ),
                ];
                respond(&mut writer, "200 OK", &headers, &body)
            }
            ("POST", Some(rest)) if rest.starts_with("/invocation/") => {
                let rest = &rest["/invocation/".len()..];
                if let Some(id) = rest.strip_suffix("/response") {
                    let result = match serde_json::from_slice(&req.body) {
                        Ok(v) => Invocation::Response(v),
                        Err(e) => Invocation::Error {
                            error_type: "Drill.ResponseNotJson".into(),
                            message: e.to_string(),
                            body: String::from_utf8_lossy(&req.body).into_owned(),
                        },
                    };
                    shared.complete(id, result);
                    respond(&mut writer, "202 Accepted", &[], accepted)
                } else if let Some(id) = rest.strip_suffix("/error") {
                    let body = String::from_utf8_lossy(&req.body).into_owned();
                    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let error_type = parsed["errorType"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| {
                            req.headers
                                .get("lambda-runtime-function-error-type")
                                .cloned()
                        })
                        .unwrap_or_default();
                    let message = parsed["errorMessage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    shared.complete(
                        id,
                        Invocation::Error {
                            error_type,
                            message,
                            body,
                        },
                    );
                    respond(&mut writer, "202 Accepted", &[], accepted)
                } else {
                    respond(&mut writer, "404 Not Found", &[], b"{}")
                }
            }
            ("POST", Some("/init/error")) => {
                let mut s = shared.lock();
                s.init_errors
                    .push(String::from_utf8_lossy(&req.body).into_owned());
                shared.changed.notify_all();
                drop(s);
                respond(&mut writer, "202 Accepted", &[], accepted)
            }
            _ => respond(&mut writer, "404 Not Found", &[], b"{}"),
        };
        if !ok {
            return;
        }
    }
}
