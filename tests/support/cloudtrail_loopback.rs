//! A loopback stand-in for CloudTrail's `LookupEvents`, on 127.0.0.1: neither emulator
//! (moto, fakecloud) records CloudTrail events for what is done through it, so a drill registers
//! here the events of what its attacker actually did (records built from the ids the emulator
//! returned) and points the function at it with `AWS_ENDPOINT_URL_CLOUDTRAIL`.
//!
//! It answers the JSON 1.1 protocol the SDK speaks (`X-Amz-Target:
//! com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`), filters by the one
//! `AccessKeyId` lookup attribute and by the region the request was signed for (the region is
//! in the SigV4 credential scope), pages with `NextToken`, and records every request so a test
//! can say what the function looked at. It does not check signatures or the time range.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

#[derive(Default)]
struct State {
    /// (region, access key id) → `Events[]` items, in registration order.
    events: HashMap<(String, String), Vec<Value>>,
    /// (region, access key id) of every `LookupEvents` request, in order.
    requests: Vec<(String, String)>,
}

pub struct CloudTrailLoopback {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    /// Events per page (a small page makes the function page).
    page_size: usize,
}

impl CloudTrailLoopback {
    pub fn start(page_size: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for CloudTrail");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        {
            let state = state.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming().flatten() {
                    let state = state.clone();
                    std::thread::spawn(move || serve(conn, state, page_size));
                }
            });
        }
        Self {
            endpoint,
            state,
            page_size,
        }
    }

    /// Registers one CloudTrail record (the `CloudTrailEvent` JSON) as made with `key`, in the
    /// record's `awsRegion`.
    pub fn record(&self, key: &str, record: &Value) {
        let region = record["awsRegion"].as_str().expect("awsRegion").to_string();
        let time = record["eventTime"]
            .as_str()
            .and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(0, |t| t.unix_timestamp());
        let item = json!({
            "EventId": record["eventID"],
            "EventName": record["eventName"],
            "ReadOnly": if record["readOnly"] == true { "true" } else { "false" },
            "AccessKeyId": key,
            "EventTime": time,
            "EventSource": record["eventSource"],
            "Resources": [],
            "CloudTrailEvent": record.to_string(),
        });
        let mut s = self.state.lock().unwrap();
        s.events
            .entry((region, key.to_string()))
            .or_default()
            .push(item);
    }

    /// (region, key) of every request so far.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn page_size(&self) -> usize {
        self.page_size
    }
}

fn serve(conn: TcpStream, state: Arc<Mutex<State>>, page_size: usize) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut writer = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers: HashMap<String, String> = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let target = headers.get("x-amz-target").cloned().unwrap_or_default();
        let (status, answer) = if target.ends_with(".LookupEvents") {
            lookup(&state, &headers, &body, page_size)
        } else {
            (
                "400 Bad Request",
                json!({"__type": "UnknownOperationException", "message": format!("the loopback CloudTrail serves LookupEvents only, not {target}")}),
            )
        };
        let answer = answer.to_string();
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nx-amzn-RequestId: loopback\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(answer.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn lookup(
    state: &Mutex<State>,
    headers: &HashMap<String, String>,
    body: &[u8],
    page_size: usize,
) -> (&'static str, Value) {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // `Credential=<key>/<date>/<region>/cloudtrail/aws4_request`
    let region = headers
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("")
        .to_string();
    let key = request["LookupAttributes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["AttributeKey"] == "AccessKeyId"))
        .and_then(|x| x["AttributeValue"].as_str())
        .unwrap_or("")
        .to_string();
    let offset: usize = request["NextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let mut s = state.lock().unwrap();
    s.requests.push((region.clone(), key.clone()));
    let all = s.events.get(&(region, key)).cloned().unwrap_or_default();
    let page: Vec<Value> = all.iter().skip(offset).take(page_size).cloned().collect();
    let mut answer = json!({ "Events": page });
    if offset + page_size < all.len() {
        answer["NextToken"] = json!((offset + page_size).to_string());
    }
    ("200 OK", answer)
}

// ---- records ----------------------------------------------------------------------------------

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn event_id() -> String {
    let n = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    format!("{pid:08x}-0000-4000-8000-{n:012x}")
}

/// Who made a call, as CloudTrail's `userIdentity` says.
pub enum Caller<'a> {
    /// An IAM user's key.
    User {
        account: &'a str,
        name: &'a str,
        user_id: &'a str,
        key: &'a str,
    },
    /// A role session's key.
    Session {
        account: &'a str,
        role: &'a str,
        role_id: &'a str,
        session: &'a str,
        key: &'a str,
    },
}

impl Caller<'_> {
    fn identity(&self) -> Value {
        match self {
            Caller::User {
                account,
                name,
                user_id,
                key,
            } => json!({
                "type": "IAMUser", "principalId": user_id,
                "arn": format!("arn:aws:iam::{account}:user/{name}"),
                "accountId": account, "accessKeyId": key, "userName": name
            }),
            Caller::Session {
                account,
                role,
                role_id,
                session,
                key,
            } => json!({
                "type": "AssumedRole", "principalId": format!("{role_id}:{session}"),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                "accountId": account, "accessKeyId": key,
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": role_id,
                    "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role}}
            }),
        }
    }

    fn account(&self) -> &str {
        match self {
            Caller::User { account, .. } | Caller::Session { account, .. } => account,
        }
    }
}

fn record(
    caller: &Caller,
    source: &str,
    name: &str,
    at: OffsetDateTime,
    request: Value,
    response: Value,
) -> Value {
    let id = event_id();
    json!({
        "eventVersion": "1.09",
        "userIdentity": caller.identity(),
        "eventTime": rfc3339(at),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.23",
        "userAgent": "aws-cli/2.17.0",
        "requestParameters": request,
        "responseElements": response,
        "requestID": id,
        "eventID": id,
        "readOnly": source == "sts.amazonaws.com",
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": caller.account(),
        "eventCategory": "Management"
    })
}

/// `AssumeRole` of `role_arn` as `session`, answered with `assumed_role_id` and `new_key`.
pub fn assume_role(
    caller: &Caller,
    at: OffsetDateTime,
    role_arn: &str,
    session: &str,
    assumed_role_id: &str,
    new_key: &str,
) -> Value {
    let (account, role) = role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .expect("a role ARN");
    let role_name = role.rsplit('/').next().unwrap_or(role);
    record(
        caller,
        "sts.amazonaws.com",
        "AssumeRole",
        at,
        json!({"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600}),
        json!({
            "credentials": {"accessKeyId": new_key, "sessionToken": "IQoJEXAMPLE", "expiration": "Dec 1, 2026, 9:55:00 AM"},
            "assumedRoleUser": {"assumedRoleId": assumed_role_id,
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session}")}
        }),
    )
}

/// `GetFederationToken` named `name`, answered with `new_key`.
pub fn federation_token(caller: &Caller, at: OffsetDateTime, name: &str, new_key: &str) -> Value {
    let account = caller.account().to_string();
    record(
        caller,
        "sts.amazonaws.com",
        "GetFederationToken",
        at,
        json!({"name": name, "durationSeconds": 900}),
        json!({
            "credentials": {"accessKeyId": new_key, "sessionToken": "IQoJEXAMPLE", "expiration": "Dec 1, 2026, 9:55:00 AM"},
            "federatedUser": {"federatedUserId": format!("{account}:{name}"),
                "arn": format!("arn:aws:sts::{account}:federated-user/{name}")},
            "packedPolicySize": 1
        }),
    )
}

/// `CreateAccessKey` for `user`, answered with `new_key`.
pub fn create_access_key(caller: &Caller, at: OffsetDateTime, user: &str, new_key: &str) -> Value {
    record(
        caller,
        "iam.amazonaws.com",
        "CreateAccessKey",
        at,
        json!({"userName": user}),
        json!({"accessKey": {"userName": user, "accessKeyId": new_key, "status": "Active", "createDate": "Nov 30, 2026, 8:53:30 AM"}}),
    )
}
