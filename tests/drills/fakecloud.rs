//! fakecloud, the IAM-enforcing emulator (docs/emulators.md): the administrator's clients,
//! principals made for a drill, and "the real call" through any credentials with the verdict
//! fakecloud gives it.
//!
//! What was checked in the fakecloud 0.51.0 sources and live before relying on it
//! (docs/emulators.md, `tools/fakecloud-smoke.py`):
//! - started by `tools/with-fakecloud.sh` with `--iam strict --verify-sigv4`: every key except the
//!   reserved `test*` administrator is verified and judged (`fakecloud-core` `auth.rs`
//!   `is_root_bypass`, `dispatch.rs`); an explicit Deny wins (`fakecloud-iam` `evaluator.rs`);
//! - `DateLessThan` on `aws:TokenIssueTime` (`condition.rs` `date_cmp`), the token's issue time
//!   set when STS mints it and compared at whole seconds (`auth.rs`, `SecondsFormat::Secs`);
//!   absent for long-term keys, so a deny on it never touches them;
//! - `StringEquals` on `aws:userid` = `<RoleId>:<session>` for AssumeRole (`assume.rs`), the user's
//!   `AIDA…` id for a long-term key and for a GetSessionToken session (`session.rs`);
//! - IAM, STS, SQS, SNS, S3 are enforced; EC2 is not, and `sts:GetCallerIdentity` is (AWS never
//!   denies it): the real call here is `iam:ListRoles` plus `sqs:ListQueues`, never those two;
//! - denial is `AccessDeniedException` (HTTP 403; AWS says `AccessDenied` for query protocols):
//!   both count as denied; an inactive or unknown key is `InvalidClientTokenId`;
//! - ids are not AWS-shaped: role ids `AROA` + lower-case hex, key ids `FKIA…` (long-term) and
//!   `FSIA…` (temporary); the drills feed the function exactly what fakecloud minted;
//! - default account `123456789012`, region `us-east-1` (checked at start: the administrator's
//!   `GetCallerIdentity` is `arn:aws:iam::123456789012:root`).

use aws_config::BehaviorVersion;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_sdk_iam::error::ProvideErrorMetadata;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use time::OffsetDateTime;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The emulator's address; the drills cannot run without it, and must not pass without it.
pub fn endpoint() -> String {
    match std::env::var("FAKECLOUD_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "FAKECLOUD_ENDPOINT is not set: the drills need the IAM-enforcing emulator. Run them \
             through tools/with-fakecloud.sh, e.g. `tools/with-fakecloud.sh cargo test --test \
             drills` (`make test` does; tools/install-fakecloud.sh installs fakecloud 0.51.0 once \
             per machine)"
        ),
    }
}

/// A short run-unique tag for names: fakecloud's state is shared by every drill of the run.
pub fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:06x}", (nanos / 1000) as u64 & 0xff_ffff)
}

/// Credentials of someone other than the administrator.
#[derive(Clone)]
pub struct Creds {
    pub key: String,
    pub secret: String,
    pub token: Option<String>,
    /// For temporary credentials: an instant no earlier than the token's issue time (taken
    /// right after STS answered).
    pub minted_by: Option<OffsetDateTime>,
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key)
    }
}

impl Creds {
    fn provider(&self) -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(Credentials::new(
            self.key.clone(),
            self.secret.clone(),
            self.token.clone(),
            None,
            "drill",
        ))
    }

    fn from_sts(c: &aws_sdk_sts::types::Credentials) -> Self {
        Creds {
            key: c.access_key_id().to_string(),
            secret: c.secret_access_key().to_string(),
            token: Some(c.session_token().to_string()),
            minted_by: Some(OffsetDateTime::now_utc()),
        }
    }
}

/// What fakecloud said to a real call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Works,
    /// `AccessDenied` / `AccessDeniedException`: the policies refused it.
    Denied(String),
    /// Any other refusal (`InvalidClientTokenId` for an inactive key, `ExpiredToken`, …).
    Refused(String, String),
}

impl Verdict {
    pub fn works(&self) -> bool {
        *self == Verdict::Works
    }
    pub fn denied(&self) -> bool {
        matches!(self, Verdict::Denied(_))
    }
    pub fn refused(&self) -> bool {
        !self.works()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Works => write!(f, "works"),
            Verdict::Denied(m) => write!(f, "denied ({m})"),
            Verdict::Refused(c, m) => write!(f, "refused {c} ({m})"),
        }
    }
}

fn verdict<E: ProvideErrorMetadata + fmt::Debug, R: fmt::Debug>(
    what: &str,
    r: Result<impl Sized, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
) -> Verdict {
    match r {
        Ok(_) => Verdict::Works,
        Err(e) => {
            let code = e.code().unwrap_or("").to_string();
            let message: String = e.message().unwrap_or("").chars().take(160).collect();
            match code.as_str() {
                "AccessDenied" | "AccessDeniedException" => {
                    Verdict::Denied(format!("{what}: {code}: {message}"))
                }
                "" => Verdict::Refused(format!("{what}: no error code"), format!("{e:?}")),
                _ => Verdict::Refused(format!("{what}: {code}"), message),
            }
        }
    }
}

/// The emulator, as the administrator sees it, plus clients for anyone's credentials.
pub struct Cloud {
    base: aws_config::SdkConfig,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// A role made for a drill (trust: the account root; inline allow-all).
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub id: String,
}

/// A user made for a drill (inline allow-all).
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub id: String,
}

/// A role session: its credentials and its `aws:userid` (`<RoleId>:<session>`).
#[derive(Debug, Clone)]
pub struct Session {
    pub name: String,
    pub creds: Creds,
    pub userid: String,
}

impl Cloud {
    pub async fn connect() -> Cloud {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "admin"))
            .load()
            .await;
        let cloud = Cloud {
            iam: aws_sdk_iam::Client::new(&base),
            sts: aws_sdk_sts::Client::new(&base),
            sns: aws_sdk_sns::Client::new(&base),
            sqs: aws_sdk_sqs::Client::new(&base),
            base,
        };
        let me = cloud
            .sts
            .get_caller_identity()
            .send()
            .await
            .unwrap_or_else(|e| panic!("fakecloud at {} does not answer: {e:?}", endpoint()));
        assert_eq!(
            me.arn(),
            Some(format!("arn:aws:iam::{ACCOUNT}:root").as_str()),
            "fakecloud's administrator is not the root of account {ACCOUNT}: the findings would \
             name the wrong account"
        );
        cloud
    }

    /// An SDK configuration for `creds`: no retries, so each verdict is one request.
    pub fn as_(&self, creds: &Creds) -> aws_config::SdkConfig {
        self.base
            .to_builder()
            .credentials_provider(creds.provider())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build()
    }

    /// The attacker's (or anyone's) real call: `iam:ListRoles` and `sqs:ListQueues`, both
    /// enforced by fakecloud. Works only if both work; denied if both are denied.
    pub async fn call(&self, creds: &Creds) -> Verdict {
        let sdk = self.as_(creds);
        let iam = verdict(
            "iam:ListRoles",
            aws_sdk_iam::Client::new(&sdk)
                .list_roles()
                .max_items(1)
                .send()
                .await,
        );
        let sqs = verdict(
            "sqs:ListQueues",
            aws_sdk_sqs::Client::new(&sdk).list_queues().send().await,
        );
        match (&iam, &sqs) {
            (Verdict::Works, Verdict::Works) => Verdict::Works,
            (Verdict::Denied(a), Verdict::Denied(b)) => Verdict::Denied(format!("{a}; {b}")),
            (Verdict::Works, other) | (other, Verdict::Works) => Verdict::Refused(
                "only partly refused".into(),
                format!("iam:ListRoles {iam}; sqs:ListQueues {sqs} ({other})"),
            ),
            (a, b) => Verdict::Refused("refused".into(), format!("{a}; {b}")),
        }
    }

    pub async fn role(&self, name: &str) -> Role {
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]
        });
        let out = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"));
        let r = out.role().expect("role");
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name("AllowAll")
            .policy_document(ALLOW_ALL)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRolePolicy {name}: {e:?}"));
        Role {
            name: name.to_string(),
            arn: r.arn().to_string(),
            id: r.role_id().to_string(),
        }
    }

    pub async fn user(&self, name: &str) -> User {
        let out = self
            .iam
            .create_user()
            .user_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateUser {name}: {e:?}"));
        self.iam
            .put_user_policy()
            .user_name(name)
            .policy_name("AllowAll")
            .policy_document(ALLOW_ALL)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutUserPolicy {name}: {e:?}"));
        User {
            name: name.to_string(),
            id: out.user().expect("user").user_id().to_string(),
        }
    }

    pub async fn key(&self, user: &str) -> Creds {
        create_key(&self.iam, user).await
    }

    /// `CreateAccessKey` for `user`, made with `by` (the attacker leaving a key behind).
    pub async fn key_as(&self, by: &Creds, user: &str) -> Creds {
        create_key(&aws_sdk_iam::Client::new(&self.as_(by)), user).await
    }

    /// A user with allow-all and one key: the honest operator who assumes the drill's roles.
    pub async fn operator(&self, name: &str) -> Creds {
        self.user(name).await;
        self.key(name).await
    }

    /// `by` assumes `role` as `session`.
    pub async fn assume(&self, by: &Creds, role: &Role, session: &str) -> Session {
        let sts = aws_sdk_sts::Client::new(&self.as_(by));
        let out = sts
            .assume_role()
            .role_arn(&role.arn)
            .role_session_name(session)
            .duration_seconds(3600)
            .send()
            .await
            .unwrap_or_else(|e| panic!("AssumeRole {} as {session}: {e:?}", role.name));
        let userid = out
            .assumed_role_user()
            .expect("AssumedRoleUser")
            .assumed_role_id()
            .to_string();
        assert_eq!(
            userid,
            format!("{}:{session}", role.id),
            "fakecloud's aws:userid for a role session is <RoleId>:<session>"
        );
        Session {
            name: session.to_string(),
            creds: Creds::from_sts(out.credentials().expect("credentials")),
            userid,
        }
    }

    pub async fn session_token(&self, by: &Creds) -> Creds {
        let out = aws_sdk_sts::Client::new(&self.as_(by))
            .get_session_token()
            .duration_seconds(900)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetSessionToken by {by:?}: {e:?}"));
        Creds::from_sts(out.credentials().expect("credentials"))
    }

    pub async fn federation_token(&self, by: &Creds, name: &str, policy: &str) -> Creds {
        let out = aws_sdk_sts::Client::new(&self.as_(by))
            .get_federation_token()
            .name(name)
            .policy(policy)
            .duration_seconds(900)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetFederationToken {name} by {by:?}: {e:?}"));
        Creds::from_sts(out.credentials().expect("credentials"))
    }

    /// `PutRolePolicy` made with `creds` (the attacker writing to the role they hold).
    pub async fn put_role_policy_as(
        &self,
        creds: &Creds,
        role: &str,
        name: &str,
        document: &str,
    ) -> Verdict {
        verdict(
            "iam:PutRolePolicy",
            aws_sdk_iam::Client::new(&self.as_(creds))
                .put_role_policy()
                .role_name(role)
                .policy_name(name)
                .policy_document(document)
                .send()
                .await,
        )
    }

    /// A role's inline policy, decoded (GetRolePolicy answers URL-encoded, as AWS does).
    pub async fn role_policy(&self, role: &str, name: &str) -> Option<String> {
        match self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
        {
            Ok(out) => Some(decode(out.policy_document())),
            Err(e) if e.code() == Some("NoSuchEntity") => None,
            Err(e) => panic!("GetRolePolicy {role} {name}: {e:?}"),
        }
    }

    pub async fn user_policy(&self, user: &str, name: &str) -> Option<String> {
        match self
            .iam
            .get_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
        {
            Ok(out) => Some(decode(out.policy_document())),
            Err(e) if e.code() == Some("NoSuchEntity") => None,
            Err(e) => panic!("GetUserPolicy {user} {name}: {e:?}"),
        }
    }

    /// Every inline policy of a user, by name (what IAM evaluates for the user's sessions).
    pub async fn user_policies(&self, user: &str) -> BTreeMap<String, String> {
        let names = self
            .iam
            .list_user_policies()
            .user_name(user)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListUserPolicies {user}: {e:?}"))
            .policy_names()
            .to_vec();
        let mut out = BTreeMap::new();
        for n in names {
            if let Some(doc) = self.user_policy(user, &n).await {
                out.insert(n, doc);
            }
        }
        out
    }

    /// Key id → status.
    pub async fn key_statuses(&self, user: &str) -> BTreeMap<String, String> {
        self.iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListAccessKeys {user}: {e:?}"))
            .access_key_metadata()
            .iter()
            .map(|k| {
                (
                    k.access_key_id().unwrap_or_default().to_string(),
                    k.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    /// An SNS topic with an SQS queue subscribed (raw delivery): where the reports land.
    pub async fn report_topic(&self, name: &str) -> (String, String) {
        let topic = self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .expect("topic arn")
            .to_string();
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("queue url")
            .to_string();
        self.subscribe(&topic, &queue_url).await;
        (topic, queue_url)
    }

    /// Subscribes the queue at `queue_url` to `topic` (raw delivery).
    pub async fn subscribe(&self, topic: &str, queue_url: &str) {
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        self.sns
            .subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .unwrap_or_else(|e| panic!("Subscribe {queue_url} to {topic}: {e:?}"));
    }

    /// The messages waiting in a queue (up to 10, waiting up to 2 s for the first).
    pub async fn messages(&self, queue_url: &str) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("ReceiveMessage");
        out.messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_string))
            .collect()
    }
}

pub fn decode(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .expect("policy document is UTF-8")
        .into_owned()
}

/// The literal cutoffs (`DateLessThan aws:TokenIssueTime`) of a policy document, per statement.
pub fn cutoffs(doc: &str) -> Vec<OffsetDateTime> {
    let v: Value = serde_json::from_str(doc).expect("policy document is JSON");
    statements(&v)
        .iter()
        .filter_map(|s| s["Condition"]["DateLessThan"]["aws:TokenIssueTime"].as_str())
        .filter_map(parse_time)
        .collect()
}

pub fn statements(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// `…T…Z` with whole seconds, as a policy literal.
pub fn utc(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// `CreateAccessKey` for `user` with `iam`'s credentials.
async fn create_key(iam: &aws_sdk_iam::Client, user: &str) -> Creds {
    let out = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateAccessKey {user}: {e:?}"));
    let k = out.access_key().expect("access key");
    Creds {
        key: k.access_key_id().to_string(),
        secret: k.secret_access_key().to_string(),
        token: None,
        minted_by: None,
    }
}
