//! One CloudTrail record, read into what the chain planner needs, every value validated.
//!
//! Field names, from AWS's documentation and public records (checked, not guessed):
//! - `LookupEvents` returns `Events[]` of `{EventId, EventName, ReadOnly, AccessKeyId, EventTime,
//!   EventSource, Username, Resources, CloudTrailEvent}`; `CloudTrailEvent` is "a JSON string that
//!   contains a representation of the event returned"
//!   (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_Event.html>).
//! - The record: `eventName`, `eventSource`, `eventID`, `eventTime`, `awsRegion`,
//!   `recipientAccountId`, `errorCode`, `requestParameters`, `responseElements`, and
//!   `userIdentity {type, principalId, arn, accountId, accessKeyId, userName, sessionContext}`
//!   (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>,
//!   <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html>).
//! - `AssumeRole*`: `requestParameters {roleArn, roleSessionName, durationSeconds}`,
//!   `responseElements {credentials {accessKeyId, sessionToken, expiration}, assumedRoleUser
//!   {assumedRoleId: "<RoleId>:<session>", arn: "arn:aws:sts::<acct>:assumed-role/<role>/<session>"}}`
//!   (IAM User Guide, "Logging IAM and AWS STS API calls with AWS CloudTrail", STS examples; the
//!   same shape in public exported trails, e.g. an `AWSServiceRoleForAutoScaling` record whose
//!   `expiration` is `"Aug 8, 2020 8:07:33 PM"`: not RFC 3339, so it is never parsed here).
//! - `GetSessionToken`: `responseElements.credentials.accessKeyId`; `GetFederationToken` adds
//!   `federatedUser {federatedUserId: "<acct>:<name>", arn}` (STS API reference).
//!   A `GetSessionToken` session's own calls show `userIdentity.type: "IAMUser"` with an `ASIA…` key.
//! - `CreateAccessKey`: `requestParameters.userName` (absent or null when a principal creates its
//!   own key), `responseElements.accessKey {userName, accessKeyId, status, createDate}` (root's
//!   own key: no `userName` at all).
//! - `CreateLoginProfile`/`UpdateLoginProfile`: `requestParameters {userName, passwordResetRequired}`
//!   (the password is never recorded); `CreateUser`: `requestParameters.userName`,
//!   `responseElements.user {userName, userId, arn, path}`; role events: `requestParameters.roleName`,
//!   `policyArn`, `policyName`, `instanceProfileName` (IAM API reference parameter names, which
//!   CloudTrail records in lower camel case).
//!
//! Every string in a record is attacker-influenced: the attacker chose session names, user
//! names, policy names. Nothing leaves this module unless it passed a `names` check; a
//! relevant event whose names do not pass becomes [`Observed::Unreadable`] (a person looks).

use super::LookedUpEvent;
use crate::names;
use crate::policy;
use serde_json::Value;
use time::OffsetDateTime;

/// Where an observation came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// `eventID` when it is a plain id (hex digits and dashes, up to 64 characters).
    pub event_id: Option<String>,
    /// One of the event names this planner knows (a constant, never the record's text).
    pub event_name: &'static str,
    pub event_time: Option<OffsetDateTime>,
    /// `awsRegion` when it looks like a region name.
    pub region: Option<String>,
}

/// Which STS call created a role session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AssumeApi {
    AssumeRole,
    AssumeRoleWithSAML,
    AssumeRoleWithWebIdentity,
}

/// A role, as far as CloudTrail tells it (IAM's `GetRole` stays the authority before a write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub account: String,
    pub path: String,
    pub name: String,
    pub arn: String,
    /// `AROA…`, the part of `assumedRoleId` before `:`.
    pub role_id: String,
}

/// A role session the followed key created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedSession {
    pub api: AssumeApi,
    pub role: RoleRef,
    /// `<RoleId>:<session>`, checked with [`policy::is_exact_userid`]: the session's `aws:userid`.
    pub assumed_role_id: String,
    pub session_name: String,
    /// `responseElements.credentials.accessKeyId` (`ASIA…`), the key to follow next.
    pub session_key: Option<String>,
    pub event: EventRef,
}

/// Which STS call minted an IAM user's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TokenApi {
    GetSessionToken,
    GetFederationToken,
}

/// A token an IAM user's key minted (`GetSessionToken`/`GetFederationToken`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    pub api: TokenApi,
    pub account: String,
    pub user_name: String,
    /// The minted credentials' key (`ASIA…`), followed next.
    pub minted_key: Option<String>,
    /// `federatedUser.federatedUserId` name part, for the report (GetFederationToken only).
    pub federated_name: Option<String>,
    pub event: EventRef,
}

pub use super::persistence::Persistence;

/// A persistence event with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceEvent {
    pub what: Persistence,
    /// `recipientAccountId` (else `userIdentity.accountId`), validated.
    pub account: Option<String>,
    pub event: EventRef,
}

/// What one record means to the chain planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    Session(AssumedSession),
    Token(MintedToken),
    Persistence(PersistenceEvent),
    /// A call this planner cares about that failed (`errorCode`): nothing was created.
    Refused {
        event: EventRef,
        error_code: String,
    },
    /// A call this planner cares about whose fields do not validate: a person looks.
    Unreadable {
        event: EventRef,
        why: String,
    },
    /// Anything else (reads, other services, same-named calls of other services).
    Other,
}

pub(super) fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn is_plain_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub use crate::names::is_region;

/// An access key id: `AKIA…` (long-term) or `ASIA…` (temporary).
///
/// The prefix is a hint, not the definition: IAM's `AccessKeyId` is 16 to 128 word characters
/// (IAM API reference), and emulators mint others (fakecloud: `FKIA…`/`FSIA…`). What matters here
/// is that the value is safe to pass on (`LookupEvents`, `update-access-key` commands): letters and
/// digits only, within IAM's length.
pub fn is_access_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `arn:<partition>:iam::<owner>:<resource>`: the owner and the resource of an IAM ARN whose
/// partition is in IAM's alphabet (`aws`, `aws-cn`, …) and whose region is empty; the caller
/// checks both parts.
pub(super) fn iam_arn_parts(s: &str) -> Option<(&str, &str)> {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(owner), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let partition_ok = partition.starts_with("aws")
        && partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-');
    partition_ok.then_some((owner, resource))
}

/// `arn:<partition>:iam::(aws|<account>):policy/<path/>name`, every part in IAM's alphabet.
pub fn is_policy_arn(s: &str) -> bool {
    let Some((owner, resource)) = iam_arn_parts(s) else {
        return false;
    };
    let owner_ok = owner == "aws" || names::is_account_id(owner);
    let Some(path_and_name) = resource.strip_prefix("policy/") else {
        return false;
    };
    let segments: Vec<&str> = path_and_name.split('/').collect();
    owner_ok
        && path_and_name.len() <= 512
        && segments.iter().all(|seg| names::is_valid_role_name(seg))
}

/// Instance profile names share the role-name alphabet and length (`[\w+=,.@-]{1,128}` in the
/// API reference; the 64-character role-name check is stricter, and a longer name goes to a person).
pub(super) fn is_profile_name(s: &str) -> bool {
    names::is_valid_role_name(s)
}

fn event_ref(record: &Value, name: &'static str, fallback_id: Option<&str>) -> EventRef {
    EventRef {
        event_id: text(record, &["eventID"])
            .or(fallback_id)
            .filter(|s| is_plain_id(s))
            .map(str::to_string),
        event_name: name,
        event_time: text(record, &["eventTime"]).and_then(names::parse_utc),
        region: text(record, &["awsRegion"])
            .filter(|s| is_region(s))
            .map(str::to_string),
    }
}

/// The event names this planner knows, with the service that records each: a same-named call
/// of another service (Transfer Family's `CreateUser`, MQ's…) is not IAM persistence.
const KNOWN: &[(&str, &str)] = &[
    ("AssumeRole", "sts.amazonaws.com"),
    ("AssumeRoleWithSAML", "sts.amazonaws.com"),
    ("AssumeRoleWithWebIdentity", "sts.amazonaws.com"),
    ("GetSessionToken", "sts.amazonaws.com"),
    ("GetFederationToken", "sts.amazonaws.com"),
    ("CreateAccessKey", "iam.amazonaws.com"),
    ("CreateUser", "iam.amazonaws.com"),
    ("CreateLoginProfile", "iam.amazonaws.com"),
    ("UpdateLoginProfile", "iam.amazonaws.com"),
    ("AttachUserPolicy", "iam.amazonaws.com"),
    ("PutUserPolicy", "iam.amazonaws.com"),
    ("CreateRole", "iam.amazonaws.com"),
    ("UpdateAssumeRolePolicy", "iam.amazonaws.com"),
    ("AttachRolePolicy", "iam.amazonaws.com"),
    ("PutRolePolicy", "iam.amazonaws.com"),
    ("CreateInstanceProfile", "iam.amazonaws.com"),
    ("AddRoleToInstanceProfile", "iam.amazonaws.com"),
    // Issue 21: persistence that used to pass as `Other`.
    ("UpdateAccessKey", "iam.amazonaws.com"),
    ("CreatePolicyVersion", "iam.amazonaws.com"),
    ("SetDefaultPolicyVersion", "iam.amazonaws.com"),
    ("AddUserToGroup", "iam.amazonaws.com"),
    ("PutGroupPolicy", "iam.amazonaws.com"),
    ("AttachGroupPolicy", "iam.amazonaws.com"),
    ("CreateSAMLProvider", "iam.amazonaws.com"),
    ("UpdateSAMLProvider", "iam.amazonaws.com"),
    ("CreateOpenIDConnectProvider", "iam.amazonaws.com"),
    ("UpdateOpenIDConnectProviderThumbprint", "iam.amazonaws.com"),
    ("AddClientIDToOpenIDConnectProvider", "iam.amazonaws.com"),
    ("UploadSSHPublicKey", "iam.amazonaws.com"),
    ("CreateServiceSpecificCredential", "iam.amazonaws.com"),
    ("UploadSigningCertificate", "iam.amazonaws.com"),
    ("CreateVirtualMFADevice", "iam.amazonaws.com"),
    ("EnableMFADevice", "iam.amazonaws.com"),
    ("AssumeRoot", "sts.amazonaws.com"),
    // Footholds through iam:PassRole. Lambda records its API versions in the event name.
    ("RunInstances", "ec2.amazonaws.com"),
    ("CreateFunction20150331", "lambda.amazonaws.com"),
    ("CreateFunction", "lambda.amazonaws.com"),
    (
        "UpdateFunctionConfiguration20150331v2",
        "lambda.amazonaws.com",
    ),
    ("UpdateFunctionConfiguration", "lambda.amazonaws.com"),
];

/// Reads one looked-up event. `followed_key` is the key whose events these are: a record that
/// names another key (`userIdentity.accessKeyId`) is not counted against this one.
pub fn observe(event: &LookedUpEvent, followed_key: &str) -> Observed {
    let Some(raw) = event.cloud_trail_event.as_deref() else {
        return Observed::Other;
    };
    let Ok(record) = serde_json::from_str::<Value>(raw) else {
        return match event
            .event_name
            .as_deref()
            .and_then(|n| KNOWN.iter().find(|(k, _)| *k == n))
        {
            Some((name, _)) => Observed::Unreadable {
                event: EventRef {
                    event_id: event.event_id.clone().filter(|s| is_plain_id(s)),
                    event_name: name,
                    event_time: None,
                    region: None,
                },
                why: "CloudTrailEvent is not JSON".into(),
            },
            None => Observed::Other,
        };
    };
    let (Some(name), Some(source)) = (
        text(&record, &["eventName"]),
        text(&record, &["eventSource"]),
    ) else {
        return Observed::Other;
    };
    let Some(&(name, _)) = KNOWN.iter().find(|(n, s)| *n == name && *s == source) else {
        return Observed::Other;
    };
    if let Some(key) = text(&record, &["userIdentity", "accessKeyId"]) {
        if key != followed_key {
            return Observed::Other;
        }
    }
    let ev = event_ref(&record, name, event.event_id.as_deref());
    if let Some(code) = text(&record, &["errorCode"]) {
        return Observed::Refused {
            event: ev,
            error_code: crate::text::safe_text(code, 64),
        };
    }
    let read = match name {
        "AssumeRole" => session(&record, AssumeApi::AssumeRole, ev.clone()),
        "AssumeRoleWithSAML" => session(&record, AssumeApi::AssumeRoleWithSAML, ev.clone()),
        "AssumeRoleWithWebIdentity" => {
            session(&record, AssumeApi::AssumeRoleWithWebIdentity, ev.clone())
        }
        "GetSessionToken" => token(&record, TokenApi::GetSessionToken, ev.clone()),
        "GetFederationToken" => token(&record, TokenApi::GetFederationToken, ev.clone()),
        _ => super::left_behind::persistence(&record, name, ev.region.as_deref()).map(|what| {
            what.map_or(Observed::Other, |what| {
                Observed::Persistence(PersistenceEvent {
                    what,
                    account: text(&record, &["recipientAccountId"])
                        .or(text(&record, &["userIdentity", "accountId"]))
                        .filter(|a| names::is_account_id(a))
                        .map(str::to_string),
                    event: ev.clone(),
                })
            })
        }),
    };
    read.unwrap_or_else(|why| Observed::Unreadable { event: ev, why })
}

fn session(record: &Value, api: AssumeApi, event: EventRef) -> Result<Observed, String> {
    let role_arn =
        text(record, &["requestParameters", "roleArn"]).ok_or("no requestParameters.roleArn")?;
    let (account, path, name) =
        names::parse_role_arn(role_arn).ok_or("requestParameters.roleArn is not a role ARN")?;
    let assumed_role_id = text(
        record,
        &["responseElements", "assumedRoleUser", "assumedRoleId"],
    )
    .ok_or("no responseElements.assumedRoleUser.assumedRoleId")?;
    let (role_id, session_name) = assumed_role_id
        .split_once(':')
        .filter(|_| policy::is_exact_userid(assumed_role_id))
        .ok_or("assumedRoleId is not <RoleId>:<session name>")?;
    if let Some(asked) = text(record, &["requestParameters", "roleSessionName"]) {
        if asked != session_name {
            return Err("roleSessionName differs from the session in assumedRoleId".into());
        }
    }
    if let Some(arn) = text(record, &["responseElements", "assumedRoleUser", "arn"]) {
        if names::role_name_from_assumed_role_arn(arn) != Some(name.as_str()) {
            return Err("assumedRoleUser.arn names another role than roleArn".into());
        }
    }
    let session_key = text(record, &["responseElements", "credentials", "accessKeyId"])
        .filter(|k| is_access_key_id(k))
        .map(str::to_string);
    Ok(Observed::Session(AssumedSession {
        api,
        role: RoleRef {
            arn: role_arn.to_string(),
            account,
            path,
            name,
            role_id: role_id.to_string(),
        },
        assumed_role_id: assumed_role_id.to_string(),
        session_name: session_name.to_string(),
        session_key,
        event,
    }))
}

fn token(record: &Value, api: TokenApi, event: EventRef) -> Result<Observed, String> {
    match text(record, &["userIdentity", "type"]) {
        Some("IAMUser") => {}
        Some("Root") => {
            return Err(
                "minted by the root user: root's session tokens cannot be restricted by a policy"
                    .into(),
            )
        }
        _ => return Err("minted by a principal that is not an IAM user".into()),
    }
    let user_name = text(record, &["userIdentity", "userName"])
        .filter(|u| names::is_valid_user_name(u))
        .ok_or("userIdentity.userName is not an IAM user name")?;
    let account = text(record, &["userIdentity", "accountId"])
        .filter(|a| names::is_account_id(a))
        .ok_or("userIdentity.accountId is not an account id")?;
    let minted_key = text(record, &["responseElements", "credentials", "accessKeyId"])
        .filter(|k| is_access_key_id(k))
        .map(str::to_string);
    let federated_name = text(
        record,
        &["responseElements", "federatedUser", "federatedUserId"],
    )
    .and_then(|id| id.split_once(':'))
    .map(|(_, n)| n)
    .filter(|n| names::is_valid_session_name(n))
    .map(str::to_string);
    Ok(Observed::Token(MintedToken {
        api,
        account: account.to_string(),
        user_name: user_name.to_string(),
        minted_key,
        federated_name,
        event,
    }))
}
