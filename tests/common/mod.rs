//! The emulator harness shared by the integration tests: a moto server started by
//! `tools/with-moto.sh` (free port on 127.0.0.1, stopped when the test run ends, also on
//! failure), reset between tests, and SDK clients pointed at it.
#![allow(dead_code)]

pub mod guardduty_loopback;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use serde_json::Value;
use session_revoker::config::Config;
use session_revoker::respond::{Budget, Responder};
use std::collections::HashMap;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// Tests in one binary share one emulator: they take turns.
static EMULATOR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the emulator tests through `make test` \
         (or `tools/with-moto.sh cargo test`), which starts a private moto server",
    )
}

/// Exclusive use of a freshly reset emulator for the rest of the test.
pub async fn fresh_emulator() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = EMULATOR.lock().await;
    post(&format!("{}/moto-api/reset", endpoint()));
    guard
}

/// A bare HTTP POST with the standard library (the harness needs no HTTP client crate).
fn post(url: &str) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http endpoint");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = std::net::TcpStream::connect(host).expect("moto answers");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
        "{response}"
    );
}

pub async fn sdk_with(credentials: Credentials) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(credentials)
        .retry_config(session_revoker::lambda::retry_config())
        .load()
        .await
}

/// The administrator account (moto's default account for these credentials).
pub async fn sdk() -> aws_config::SdkConfig {
    sdk_with(Credentials::new(
        "testing", "testing", None, None, "emulator",
    ))
    .await
}

/// Clients acting in another account: moto keeps accounts apart by the assumed role's
/// credentials (AssumeRole into `arn:aws:iam::<account>:role/...` yields keys that moto
/// maps to that account).
pub async fn sdk_in_account(account: &str) -> aws_config::SdkConfig {
    let sts = aws_sdk_sts::Client::new(&sdk().await);
    let c = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/emulator-seeder"))
        .role_session_name("seeder")
        .send()
        .await
        .unwrap();
    let c = c.credentials().unwrap();
    sdk_with(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "seeder",
    ))
    .await
}

/// The configuration for a test. The findings here are mostly an instance's stolen session, and
/// most tests are about role-wide revocation: `REVOKE_SCOPE=role` unless the test sets it (the
/// default, `auto`, which scopes instance sessions to the session, has tests of its own).
pub fn config(pairs: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.entry("REVOKE_SCOPE".into())
        .or_insert_with(|| "role".into());
    // moto serves no CloudTrail (`LookupEvents` answers 500): following the attacker is tested
    // by the drills with a loopback CloudTrail, and here only where a test asks for it.
    vars.entry("CHAIN_DEPTH".into())
        .or_insert_with(|| "0".into());
    // Findings built from the sample events keep their 2026-11-22 dates.
    vars.entry("MAX_FINDING_AGE_HOURS".into())
        .or_insert_with(|| "0".into());
    Config::from_vars(&vars).unwrap()
}

pub async fn responder(pairs: &[(&str, &str)]) -> Responder {
    session_revoker::lambda::responder_from_sdk(sdk().await, config(pairs))
}

pub async fn respond(r: &Responder, payload: &Value) -> Value {
    let report = r
        .respond(payload, Budget::UNLIMITED)
        .await
        .expect("invocation succeeds");
    serde_json::to_value(report).unwrap()
}

/// For a payload whose finding is not contained: the invocation must fail (so Lambda retries
/// and the event reaches the failure queue), and the report is still produced and published.
pub async fn respond_failing(r: &Responder, payload: &Value) -> (Value, String) {
    let (report, fate) = r
        .respond_with_fate(payload, Budget::UNLIMITED)
        .await
        .expect("the payload is readable");
    let error = fate.expect_err("a finding that is not contained fails the invocation");
    (serde_json::to_value(report).unwrap(), error.to_string())
}

pub struct Iam(pub aws_sdk_iam::Client);

impl Iam {
    pub async fn new() -> Self {
        Self(aws_sdk_iam::Client::new(&sdk().await))
    }

    pub async fn in_account(account: &str) -> Self {
        Self(aws_sdk_iam::Client::new(&sdk_in_account(account).await))
    }

    /// Creates a role and returns its RoleId.
    pub async fn role(&self, name: &str, path: &str) -> String {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let out = self
            .0
            .create_role()
            .role_name(name)
            .path(path)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
        out.role().unwrap().role_id().to_string()
    }

    pub async fn put_policy(&self, role: &str, name: &str, doc: &str) {
        self.0
            .put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(doc)
            .send()
            .await
            .unwrap();
    }

    /// The decoded inline policy, or None.
    pub async fn policy(&self, role: &str, name: &str) -> Option<Value> {
        let out = self
            .0
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .ok()?;
        let doc = percent_encoding::percent_decode_str(out.policy_document())
            .decode_utf8()
            .unwrap();
        Some(serde_json::from_str(&doc).unwrap())
    }

    pub async fn policy_names(&self, role: &str) -> Vec<String> {
        let mut names = self
            .0
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap()
            .policy_names()
            .to_vec();
        names.sort();
        names
    }

    pub async fn user_with_keys(&self, name: &str, keys: usize) -> Vec<String> {
        self.0.create_user().user_name(name).send().await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..keys {
            let k = self
                .0
                .create_access_key()
                .user_name(name)
                .send()
                .await
                .unwrap();
            ids.push(k.access_key().unwrap().access_key_id().to_string());
        }
        ids
    }

    pub async fn key_statuses(&self, user: &str) -> HashMap<String, String> {
        let out = self
            .0
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap();
        out.access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.access_key_id().unwrap().to_string(),
                    k.status().unwrap().as_str().to_string(),
                )
            })
            .collect()
    }
}

/// The single role-wide cutoff in a revocation policy document.
pub fn cutoff_of(policy: &Value) -> time::OffsetDateTime {
    let s = policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

/// An SNS topic with an SQS queue subscribed, so published reports can be read back.
pub struct Topic {
    pub arn: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Topic {
    pub async fn new(name: &str) -> Self {
        let sdk = sdk().await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let arn = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .unwrap()
            .topic_arn()
            .unwrap()
            .to_string();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-inbox"))
            .send()
            .await
            .unwrap()
            .queue_url()
            .unwrap()
            .to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn =
            attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        sns.subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Self {
            arn,
            queue_url,
            sqs,
        }
    }

    /// Every SNS envelope waiting in the queue (parsed), removing them.
    pub async fn drain(&self) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = out.messages();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

/// A realistic AssumedRole credential finding as a bare finding.
pub fn finding(id: &str, role: &str, principal_id: &str, last_seen: &str) -> Value {
    serde_json::json!({
        "schemaVersion": "2.0", "accountId": ACCOUNT, "region": REGION, "partition": "aws", "id": id,
        "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "severity": 8,
        "title": "Credentials for instance role used from external IP address.",
        "resource": {"resourceType": "AccessKey", "accessKeyDetails": {
            "accessKeyId": "ASIAQEXAMPLE7WEBAPP1", "principalId": principal_id, "userType": "AssumedRole", "userName": role}},
        "service": {"archived": false, "count": 1, "eventFirstSeen": last_seen, "eventLastSeen": last_seen,
            "action": {"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": "203.0.113.77"}}}, "additionalInfo": {}},
        "updatedAt": last_seen
    })
}

pub fn now_rfc3339(offset_seconds: i64) -> String {
    session_revoker::names::format_utc(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_seconds),
    )
}

/// The actions of the first incident of a report.
pub fn actions(report: &Value) -> &Vec<Value> {
    report["incidents"][0]["actions"].as_array().unwrap()
}
