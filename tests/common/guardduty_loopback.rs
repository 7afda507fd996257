//! A loopback stand-in for GuardDuty GetFindings (no emulator serves it): a tiny HTTP/1.1 server
//! on 127.0.0.1 that answers GuardDuty's REST-JSON `POST /detector/{detectorId}/findings/get`
//! with the findings the test itself registered (an empty `findings` list for any other id), and
//! `GET /detector` (ListDetectors) with the detectors of those findings. The SDK is pointed at it
//! with `AWS_ENDPOINT_URL_GUARDDUTY`, exactly as a deployment would be pointed at another
//! GuardDuty endpoint.
//!
//! It is not GuardDuty: it checks no signature, knows no accounts, filters nothing but the
//! detector and the id, and serves exactly what the test registered. Every request is recorded
//! (method, path, the region from the SigV4 credential scope, the finding ids asked for) so that
//! a test can assert what the responder asked.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// From the SigV4 `Authorization` header's credential scope (`.../<region>/guardduty/...`).
    pub region: Option<String>,
    /// `findingIds` of a GetFindings body.
    pub finding_ids: Vec<String>,
}

#[derive(Default)]
struct State {
    /// (detector id, finding id) → the finding as GetFindings returns it.
    findings: BTreeMap<(String, String), Value>,
    requests: Vec<Request>,
}

/// The running stand-in; the server thread lives as long as the test process.
#[derive(Clone)]
pub struct GuardDutyLoopback {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl GuardDutyLoopback {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { endpoint, state }
    }

    /// Registers a finding (GuardDuty's event shape, as in `events/`): served under the detector
    /// and id of its `arn`.
    pub fn register(&self, finding: &Value) {
        let arn = finding["arn"]
            .as_str()
            .expect("a registered finding has an arn");
        let (detector, id) = arn
            .split_once(":detector/")
            .and_then(|(_, rest)| rest.split_once("/finding/"))
            .expect("a GuardDuty finding ARN");
        self.state.lock().unwrap().findings.insert(
            (detector.to_string(), id.to_string()),
            wire_finding(finding),
        );
    }

    /// Forgets every finding and request (between tests).
    pub fn reset(&self) {
        *self.state.lock().unwrap() = State::default();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// A finding in GetFindings' wire shape: the event's camelCase, except that
/// `service.additionalInfo` is `{"value": "<json>", "type": "default"}` as the API returns it.
pub fn wire_finding(finding: &Value) -> Value {
    let mut f = finding.clone();
    if let Some(info) = f.pointer_mut("/service/additionalInfo") {
        if info.is_object() && info.get("value").is_none() {
            *info = json!({"value": info.to_string(), "type": "default"});
        }
    }
    f
}

/// Serves one connection: requests in turn until the client closes it (the SDK keeps
/// connections alive).
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut length = 0usize;
        let mut region = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                // Credential=<key>/<date>/<region>/guardduty/aws4_request
                "authorization" => {
                    region = value
                        .split("Credential=")
                        .nth(1)
                        .and_then(|c| c.split('/').nth(2))
                        .map(str::to_string)
                }
                _ => {}
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, response) = answer(&method, &target, &body, region, state);
        let text = response.to_string();
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(
    method: &str,
    target: &str,
    body: &[u8],
    region: Option<String>,
    state: &Mutex<State>,
) -> (&'static str, Value) {
    let path = target.split('?').next().unwrap_or_default().to_string();
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let finding_ids: Vec<String> = request["findingIds"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut state = state.lock().unwrap();
    state.requests.push(Request {
        method: method.to_string(),
        path: path.clone(),
        region,
        finding_ids: finding_ids.clone(),
    });
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["detector", detector, "findings", "get"]) => {
            let findings: Vec<Value> = finding_ids
                .iter()
                .filter_map(|id| {
                    state
                        .findings
                        .get(&(detector.to_string(), id.clone()))
                        .cloned()
                })
                .collect();
            ("200 OK", json!({ "findings": findings }))
        }
        ("GET", ["detector"]) => {
            let mut detectors: Vec<&String> = state.findings.keys().map(|(d, _)| d).collect();
            detectors.dedup();
            ("200 OK", json!({ "detectorIds": detectors }))
        }
        _ => (
            "404 Not Found",
            json!({"__type": "BadRequestException", "message": format!("the GuardDuty stand-in does not serve {method} {path}")}),
        ),
    }
}
