//! Classify a payload by its shape and turn it into incidents.
//!
//! Every field of a finding is attacker-influenced (a session name, a user agent and more
//! are chosen by whoever holds the credentials), so nothing here trusts a type or a length:
//! a missing or null field is `None`, a field of the wrong type is an error naming it.

use crate::error::{FindingError, InputError};
use crate::names;
use serde::Deserialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Where an incident came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Finding,
    Manual,
}

/// GuardDuty's `resource.accessKeyDetails.userType`, with a catch-all for anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserType {
    AssumedRole,
    IamUser,
    Root,
    FederatedUser,
    Role,
    AwsService,
    Other(String),
}

impl UserType {
    fn parse(s: &str) -> Self {
        match s {
            "AssumedRole" => Self::AssumedRole,
            "IAMUser" => Self::IamUser,
            "Root" => Self::Root,
            "FederatedUser" => Self::FederatedUser,
            "Role" => Self::Role,
            "AWSService" => Self::AwsService,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::AssumedRole => "AssumedRole",
            Self::IamUser => "IAMUser",
            Self::Root => "Root",
            Self::FederatedUser => "FederatedUser",
            Self::Role => "Role",
            Self::AwsService => "AWSService",
            Self::Other(s) => s,
        }
    }
}

/// The principal whose credentials are in the wrong hands.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_type: UserType,
    /// Role name for `AssumedRole` (GuardDuty's `userName`), user name for `IAMUser`.
    pub name: Option<String>,
    /// `AROA…:<session>` for role sessions, `AIDA…` for users.
    pub principal_id: Option<String>,
    pub access_key_id: Option<String>,
}

impl Principal {
    /// The RoleId part of an `AROA…:<session>` principal id.
    pub fn role_id(&self) -> Option<&str> {
        let id = self.principal_id.as_deref()?;
        let role_id = id.split_once(':').map_or(id, |(r, _)| r);
        names::is_unique_id(role_id, "AROA").then_some(role_id)
    }

    /// The session name part of an `AROA…:<session>` principal id.
    pub fn session_name(&self) -> Option<&str> {
        self.principal_id
            .as_deref()?
            .split_once(':')
            .map(|(_, s)| s)
    }
}

/// Another stolen credential GuardDuty lists (`service.additionalInfo.recentCredentials[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct StolenCredential {
    pub access_key_id: Option<String>,
    pub principal_id: Option<String>,
    pub ip_address_v4: Option<String>,
}

/// One thing to respond to: a finding or a manual request, with only the fields the
/// responder uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub origin: Origin,
    pub finding_id: Option<String>,
    pub finding_type: Option<String>,
    pub title: Option<String>,
    pub severity: Option<f64>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: Principal,
    pub sample: bool,
    pub archived: bool,
    pub event_last_seen: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
    pub count: Option<u64>,
    pub instance_id: Option<String>,
    pub recent_credentials: Vec<StolenCredential>,
    pub remote_ip: Option<String>,
    /// From a manual request: plan and report without writing.
    pub dry_run: bool,
    /// From a manual request: why a person asked for it.
    pub reason: Option<String>,
    /// From a manual request: the one session (name) to revoke, with `REVOKE_SCOPE=session`.
    pub requested_session: Option<String>,
}

/// What the payload held: incidents, and the findings in it that could not be read
/// (the rest are still handled).
#[derive(Debug)]
pub struct Parsed {
    pub shape: Shape,
    pub items: Vec<Result<Incident, FindingError>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    EventBridge,
    Finding,
    GetFindings,
    FindingArray,
    Manual,
}

const EXPECTED: &str = "an EventBridge GuardDuty event (`detail-type`, `detail`), a GuardDuty finding \
(`type`, `resource`, `service`), `aws guardduty get-findings` output (`{\"Findings\": [...]}`), a JSON array of \
findings, or a manual request (`{\"action\": \"revoke\", \"role\": ...}`)";

/// Most findings one payload may hold; `get-findings` accepts at most 50 ids per call.
pub const MAX_FINDINGS_PER_PAYLOAD: usize = 100;

/// Classifies the payload by shape and parses every finding in it.
pub fn parse_payload(payload: &Value) -> Result<Parsed, InputError> {
    match payload {
        Value::Object(obj) => {
            if obj.contains_key("detail")
                && (obj.contains_key("detail-type") || obj.contains_key("source"))
            {
                let items = vec![parse_envelope(obj)];
                Ok(Parsed {
                    shape: Shape::EventBridge,
                    items,
                })
            } else if let Some(findings) = obj.get("Findings").or_else(|| obj.get("findings")) {
                let Value::Array(list) = findings else {
                    return Err(InputError::Invalid {
                        what: "get-findings output",
                        detail: format!(
                            "`Findings` must be an array, found {}",
                            describe(findings)
                        ),
                    });
                };
                Ok(Parsed {
                    shape: Shape::GetFindings,
                    items: parse_list(list)?,
                })
            } else if obj.contains_key("action") {
                Ok(Parsed {
                    shape: Shape::Manual,
                    items: vec![Ok(parse_manual(payload)?)],
                })
            } else if looks_like_finding(obj) {
                Ok(Parsed {
                    shape: Shape::Finding,
                    items: vec![parse_finding(obj, None)],
                })
            } else {
                Err(unrecognised(payload))
            }
        }
        Value::Array(list) => {
            if list.is_empty() {
                return Err(InputError::Invalid {
                    what: "finding array",
                    detail: "the array is empty".into(),
                });
            }
            Ok(Parsed {
                shape: Shape::FindingArray,
                items: parse_list(list)?,
            })
        }
        other => Err(unrecognised(other)),
    }
}

fn parse_list(list: &[Value]) -> Result<Vec<Result<Incident, FindingError>>, InputError> {
    if list.len() > MAX_FINDINGS_PER_PAYLOAD {
        return Err(InputError::Invalid {
            what: "finding list",
            detail: format!(
                "{} findings; at most {MAX_FINDINGS_PER_PAYLOAD} per invocation",
                list.len()
            ),
        });
    }
    Ok(list
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(obj) if obj.contains_key("detail") => parse_envelope(obj),
            Value::Object(obj) if looks_like_finding(obj) => parse_finding(obj, None),
            other => Err(FindingError::new(
                format!("[{i}]"),
                format!(
                    "expected a GuardDuty finding object, found {}",
                    describe(other)
                ),
            )),
        })
        .collect())
}

fn looks_like_finding(obj: &Map<String, Value>) -> bool {
    let has = |camel: &str, pascal: &str| obj.contains_key(camel) || obj.contains_key(pascal);
    has("type", "Type") && (has("resource", "Resource") || has("service", "Service"))
}

fn unrecognised(v: &Value) -> InputError {
    InputError::UnrecognisedShape {
        expected: EXPECTED,
        found: describe(v),
    }
}

/// A short, bounded description of a JSON value for error messages (never its content).
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().take(8).map(|k| safe_key(k)).collect();
            let more = if o.len() > 8 { ", …" } else { "" };
            format!("an object with keys [{}{more}]", keys.join(", "))
        }
    }
}

fn safe_key(k: &str) -> String {
    let clean: String = k.chars().filter(|c| !c.is_control()).take(40).collect();
    format!("{clean:?}")
}

/// The EventBridge envelope, read with `aws_lambda_events`' type: `source` must be GuardDuty,
/// `detail` is the finding; the envelope's account and region fill in what the finding lacks.
fn parse_envelope(obj: &Map<String, Value>) -> Result<Incident, FindingError> {
    use aws_lambda_events::event::eventbridge::EventBridgeEvent;
    let envelope = match obj.get("source") {
        Some(Value::String(s)) if s == "aws.guardduty" => {
            // `time` is not used, and an odd one must not cost the finding: left out.
            let mut fields = obj.clone();
            fields.remove("time");
            EventBridgeEvent::<Value>::deserialize(&Value::Object(fields)).map_err(|e| {
                FindingError::new(
                    "EventBridge envelope",
                    crate::report::safe_text(&e.to_string(), 200),
                )
            })?
        }
        Some(Value::String(s)) => {
            return Err(FindingError::new(
                "source",
                format!(
                    "expected \"aws.guardduty\", found {:?}",
                    crate::report::safe_text(s, 60)
                ),
            ))
        }
        Some(other) => {
            return Err(FindingError::new(
                "source",
                format!("expected a string, found {}", describe(other)),
            ))
        }
        None => {
            return Err(FindingError::new(
                "source",
                "missing (expected \"aws.guardduty\")",
            ))
        }
    };
    match &envelope.detail {
        Value::Object(detail) => {
            let fallback = Fallback {
                account: envelope.account.clone(),
                region: envelope.region.clone(),
            };
            parse_finding(detail, Some(fallback))
        }
        other => Err(FindingError::new(
            "detail",
            format!("expected an object, found {}", describe(other)),
        )),
    }
}

struct Fallback {
    account: Option<String>,
    region: Option<String>,
}

/// Parses one finding, camelCase or PascalCase.
fn parse_finding(
    obj: &Map<String, Value>,
    fallback: Option<Fallback>,
) -> Result<Incident, FindingError> {
    let normalized;
    let f = if obj.contains_key("Type") || obj.contains_key("Resource") {
        normalized = camelize(&Value::Object(obj.clone()), 0);
        match &normalized {
            Value::Object(o) => o,
            _ => unreachable!("camelize keeps objects"),
        }
    } else {
        obj
    };
    let f = Fields(f);

    let finding_type = f.string(&["type"])?;
    let user_type = f.string(&["resource", "accessKeyDetails", "userType"])?;
    let principal = Principal {
        user_type: UserType::parse(user_type.as_deref().unwrap_or("")),
        name: f.string(&["resource", "accessKeyDetails", "userName"])?,
        principal_id: f.string(&["resource", "accessKeyDetails", "principalId"])?,
        access_key_id: f.string(&["resource", "accessKeyDetails", "accessKeyId"])?,
    };
    let additional = additional_info(&f)?;
    let sample = match additional.as_ref().and_then(|a| a.get("sample")) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(other) => {
            return Err(FindingError::new(
                "service.additionalInfo.sample",
                format!("expected a boolean, found {}", describe(other)),
            ))
        }
    };
    let recent_credentials = match additional.as_ref().and_then(|a| a.get("recentCredentials")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .take(50)
            .filter_map(Value::as_object)
            .map(|c| {
                let c = Fields(c);
                Ok(StolenCredential {
                    access_key_id: c.string(&["accessKeyId"])?,
                    principal_id: c.string(&["principalId"])?,
                    ip_address_v4: c.string(&["ipAddressV4"])?,
                })
            })
            .collect::<Result<_, FindingError>>()?,
        Some(other) => {
            return Err(FindingError::new(
                "service.additionalInfo.recentCredentials",
                format!("expected an array, found {}", describe(other)),
            ))
        }
    };
    let fallback = fallback.unwrap_or(Fallback {
        account: None,
        region: None,
    });

    Ok(Incident {
        origin: Origin::Finding,
        finding_id: f.string(&["id"])?,
        finding_type,
        title: f.string(&["title"])?,
        severity: f.number(&["severity"])?,
        account: f.string(&["accountId"])?.or(fallback.account),
        region: f.string(&["region"])?.or(fallback.region),
        principal,
        sample,
        archived: f.boolean(&["service", "archived"])?.unwrap_or(false),
        event_last_seen: f.timestamp(&["service", "eventLastSeen"])?,
        updated_at: f.timestamp(&["updatedAt"])?,
        count: f.number(&["service", "count"])?.map(|n| n as u64),
        instance_id: f.string(&["resource", "instanceDetails", "instanceId"])?,
        recent_credentials,
        remote_ip: f.string(&[
            "service",
            "action",
            "awsApiCallAction",
            "remoteIpDetails",
            "ipAddressV4",
        ])?,
        dry_run: false,
        reason: None,
        requested_session: None,
    })
}

/// `service.additionalInfo`: an object in events, `{"Value": "<json>", "Type": "default"}` in
/// `get-findings` output (camelized to `value`/`type` by then).
fn additional_info(f: &Fields) -> Result<Option<Map<String, Value>>, FindingError> {
    match f.get(&["service", "additionalInfo"]) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => match o.get("value") {
            Some(Value::String(s)) if o.len() <= 2 => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(inner)) => Ok(Some(inner)),
                _ => Ok(Some(o.clone())),
            },
            _ => Ok(Some(o.clone())),
        },
        Some(other) => Err(FindingError::new(
            "service.additionalInfo",
            format!("expected an object, found {}", describe(other)),
        )),
    }
}

/// Read access to a finding's fields that names the field in every error.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.0.get(*first)?;
        for key in rest {
            v = v.as_object()?.get(*key)?;
        }
        Some(v)
    }

    /// Fails when an intermediate section is present but not an object.
    fn check_sections(&self, path: &[&str]) -> Result<(), FindingError> {
        let mut current = self.0;
        for (i, key) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
            match current.get(*key) {
                None | Some(Value::Null) => return Ok(()),
                Some(Value::Object(o)) => current = o,
                Some(other) => {
                    return Err(FindingError::new(
                        path[..=i].join("."),
                        format!("expected an object, found {}", describe(other)),
                    ))
                }
            }
        }
        Ok(())
    }

    /// A string; numbers are accepted (old findings carry numbers where new ones carry strings).
    fn string(&self, path: &[&str]) -> Result<Option<String>, FindingError> {
        self.check_sections(path)?;
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() > 4096 => Err(FindingError::new(
                path.join("."),
                format!(
                    "string of {} bytes is longer than any GuardDuty field",
                    s.len()
                ),
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(FindingError::new(
                path.join("."),
                format!("expected a string, found {}", describe(other)),
            )),
        }
    }

    /// A number; numeric strings are accepted.
    fn number(&self, path: &[&str]) -> Result<Option<f64>, FindingError> {
        self.check_sections(path)?;
        let bad = |found: String| {
            FindingError::new(path.join("."), format!("expected a number, found {found}"))
        };
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| bad("a non-finite number".into())),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| bad(format!("the string {:?}", crate::report::safe_text(s, 40)))),
            Some(other) => Err(bad(describe(other))),
        }
    }

    fn boolean(&self, path: &[&str]) -> Result<Option<bool>, FindingError> {
        self.check_sections(path)?;
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(FindingError::new(
                path.join("."),
                format!("expected a boolean, found {}", describe(other)),
            )),
        }
    }

    /// RFC 3339 with or without milliseconds, or epoch milliseconds (old findings).
    fn timestamp(&self, path: &[&str]) -> Result<Option<OffsetDateTime>, FindingError> {
        self.check_sections(path)?;
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => names::parse_utc(s).map(Some).ok_or_else(|| {
                FindingError::new(
                    path.join("."),
                    format!(
                        "expected an RFC 3339 timestamp, found {:?}",
                        crate::report::safe_text(s, 40)
                    ),
                )
            }),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|ms| {
                    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok()
                })
                .map(Some)
                .ok_or_else(|| FindingError::new(path.join("."), "expected epoch milliseconds")),
            Some(other) => Err(FindingError::new(
                path.join("."),
                format!("expected a timestamp, found {}", describe(other)),
            )),
        }
    }
}

/// Converts PascalCase keys (`get-findings` output) to the camelCase of events.
fn camelize(v: &Value, depth: usize) -> Value {
    // serde_json's own recursion limit (128) bounds inputs; this bound keeps the copy cheap too.
    if depth > 64 {
        return Value::Null;
    }
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let mut chars = k.chars();
                    let key = match chars.next() {
                        Some(c) => c.to_lowercase().chain(chars).collect(),
                        None => String::new(),
                    };
                    (key, camelize(v, depth + 1))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| camelize(v, depth + 1)).collect()),
        other => other.clone(),
    }
}

/// `{"action": "revoke", "role": "<name or ARN>", "reason": "...", "dry_run": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRequest {
    action: String,
    role: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// Revoke only this session of the role (its role session name).
    #[serde(default)]
    session: Option<String>,
}

fn parse_manual(payload: &Value) -> Result<Incident, InputError> {
    let req = ManualRequest::deserialize(payload).map_err(|e| InputError::Invalid {
        what: "manual request",
        detail: format!("{e} (accepted fields: action, role, reason, dry_run, session)"),
    })?;
    if req.action != "revoke" {
        return Err(InputError::Invalid {
            what: "manual request",
            detail: format!(
                "action {:?} is not supported; the only action is \"revoke\"",
                crate::report::safe_text(&req.action, 40)
            ),
        });
    }
    if let Some(session) = req
        .session
        .as_deref()
        .filter(|s| !names::is_valid_session_name(s))
    {
        return Err(InputError::Invalid {
            what: "manual request",
            detail: format!(
                "session {:?} is not a valid role session name",
                crate::report::safe_text(session, 80)
            ),
        });
    }
    let (account, name) = if req.role.starts_with("arn:") {
        let (account, _path, name) =
            names::parse_role_arn(&req.role).ok_or_else(|| InputError::Invalid {
                what: "manual request",
                detail: format!(
                    "role {:?} is not an IAM role ARN",
                    crate::report::safe_text(&req.role, 120)
                ),
            })?;
        (Some(account), name)
    } else if names::is_valid_role_name(&req.role) {
        (None, req.role.clone())
    } else {
        return Err(InputError::Invalid {
            what: "manual request",
            detail: format!(
                "role {:?} is not a valid IAM role name or ARN",
                crate::report::safe_text(&req.role, 120)
            ),
        });
    };
    Ok(Incident {
        origin: Origin::Manual,
        finding_id: None,
        finding_type: None,
        title: None,
        severity: None,
        account,
        region: None,
        principal: Principal {
            user_type: UserType::AssumedRole,
            name: Some(name),
            principal_id: None,
            access_key_id: None,
        },
        sample: false,
        archived: false,
        event_last_seen: None,
        updated_at: None,
        count: None,
        instance_id: None,
        recent_credentials: Vec::new(),
        remote_ip: None,
        dry_run: req.dry_run,
        reason: req.reason.map(|r| crate::report::safe_text(&r, 500)),
        requested_session: req.session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding() -> Value {
        json!({
            "schemaVersion": "2.0",
            "accountId": "111122223333",
            "region": "eu-west-1",
            "id": "f1",
            "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "severity": 8,
            "resource": {
                "resourceType": "AccessKey",
                "accessKeyDetails": {
                    "accessKeyId": "ASIAEXAMPLEEXAMPLE01",
                    "principalId": "AROAEXAMPLEROLEID0001:i-0123456789abcdef0",
                    "userType": "AssumedRole",
                    "userName": "web-app"
                },
                "instanceDetails": {"instanceId": "i-0123456789abcdef0"}
            },
            "service": {
                "archived": false,
                "count": 3,
                "eventLastSeen": "2026-11-22T02:59:00.000Z",
                "additionalInfo": {"recentCredentials": [
                    {"accessKeyId": "ASIAEXAMPLEEXAMPLE02", "principalId": "AROAEXAMPLEROLEID0001:i-0fedcba9876543210", "ipAddressV4": "198.51.100.7"}
                ]}
            },
            "updatedAt": "2026-11-22T03:00:00Z"
        })
    }

    #[test]
    fn bare_finding() {
        let p = parse_payload(&finding()).unwrap();
        assert_eq!(p.shape, Shape::Finding);
        let i = p.items[0].as_ref().unwrap();
        assert_eq!(i.principal.user_type, UserType::AssumedRole);
        assert_eq!(i.principal.name.as_deref(), Some("web-app"));
        assert_eq!(i.principal.role_id(), Some("AROAEXAMPLEROLEID0001"));
        assert_eq!(i.principal.session_name(), Some("i-0123456789abcdef0"));
        assert_eq!(i.severity, Some(8.0));
        assert_eq!(i.count, Some(3));
        assert_eq!(i.recent_credentials.len(), 1);
        assert_eq!(
            names::format_utc(i.event_last_seen.unwrap()),
            "2026-11-22T02:59:00Z"
        );
    }

    #[test]
    fn envelope_falls_back_to_envelope_account_and_region() {
        let mut detail = finding();
        detail.as_object_mut().unwrap().remove("accountId");
        detail.as_object_mut().unwrap().remove("region");
        let env = json!({"version": "0", "id": "e", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": "444455556666", "region": "us-east-1", "time": "2026-11-22T03:00:00Z", "resources": [], "detail": detail});
        let p = parse_payload(&env).unwrap();
        assert_eq!(p.shape, Shape::EventBridge);
        let i = p.items[0].as_ref().unwrap();
        assert_eq!(i.account.as_deref(), Some("444455556666"));
        assert_eq!(i.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn envelope_from_another_source_is_refused() {
        let env = json!({"detail-type": "x", "source": "aws.ec2", "detail": finding()});
        let err = parse_payload(&env).unwrap().items.remove(0).unwrap_err();
        assert_eq!(err.field, "source");
        let env = json!({"source": "aws.guardduty", "time": "not a time", "detail": finding()});
        let err = parse_payload(&env).unwrap().items.remove(0).unwrap_err();
        assert_eq!(err.field, "EventBridge envelope");
        assert!(err.problem.contains("missing field `detail-type`"), "{err}");
        let env = json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "time": "not a time", "detail": finding()});
        assert!(
            parse_payload(&env).unwrap().items[0].is_ok(),
            "an odd `time` does not cost the finding"
        );
    }

    #[test]
    fn pascal_case_get_findings_with_string_additional_info() {
        let out = json!({"Findings": [{
            "AccountId": "111122223333", "Id": "f2", "Region": "us-east-1",
            "Type": "Recon:IAMUser/MaliciousIPCaller", "Severity": "5",
            "Resource": {"AccessKeyDetails": {"UserType": "IAMUser", "UserName": "alice", "AccessKeyId": "AKIAEXAMPLEEXAMPLE01", "PrincipalId": "AIDAEXAMPLEEXAMPLE01"}},
            "Service": {"Archived": false, "EventLastSeen": "2026-11-22T02:59:00Z", "AdditionalInfo": {"Value": "{\"sample\":true}", "Type": "default"}}
        }]});
        let p = parse_payload(&out).unwrap();
        assert_eq!(p.shape, Shape::GetFindings);
        let i = p.items[0].as_ref().unwrap();
        assert_eq!(i.principal.user_type, UserType::IamUser);
        assert_eq!(i.severity, Some(5.0));
        assert!(i.sample);
    }

    #[test]
    fn array_of_findings_keeps_good_ones_when_one_is_bad() {
        let p = parse_payload(&json!([finding(), 42, finding()])).unwrap();
        assert_eq!(p.shape, Shape::FindingArray);
        assert!(p.items[0].is_ok() && p.items[2].is_ok());
        assert_eq!(p.items[1].as_ref().unwrap_err().field, "[1]");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let mut f = finding();
        f["resource"]["accessKeyDetails"]["userName"] = json!({"nested": true});
        let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
        assert_eq!(err.field, "resource.accessKeyDetails.userName");
        let mut f = finding();
        f["resource"] = json!("AccessKey");
        let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
        assert_eq!(err.field, "resource");
        let mut f = finding();
        f["severity"] = json!("high");
        let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
        assert_eq!(err.field, "severity");
        let mut f = finding();
        f["service"]["eventLastSeen"] = json!("last tuesday");
        let err = parse_payload(&f).unwrap().items.remove(0).unwrap_err();
        assert_eq!(err.field, "service.eventLastSeen");
    }

    #[test]
    fn nulls_and_missing_sections_are_none() {
        let f = json!({"type": "Recon:IAMUser/TorIPCaller", "resource": null, "service": {"additionalInfo": null}});
        let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
        assert_eq!(i.principal.user_type, UserType::Other(String::new()));
        assert_eq!(i.principal.name, None);
        assert!(!i.sample);
    }

    #[test]
    fn old_findings_with_numbers_and_epoch_millis() {
        let mut f = finding();
        f["accountId"] = json!(111122223333u64);
        f["service"]["eventLastSeen"] = json!(1_500_000_000_000i64);
        let i = parse_payload(&f).unwrap().items.remove(0).unwrap();
        assert_eq!(i.account.as_deref(), Some("111122223333"));
        assert_eq!(i.event_last_seen.unwrap().unix_timestamp(), 1_500_000_000);
    }

    #[test]
    fn manual_request() {
        let p = parse_payload(&json!({"action": "revoke", "role": "arn:aws:iam::111122223333:role/ops/web-app", "reason": "ticket 42", "dry_run": true})).unwrap();
        let i = p.items[0].as_ref().unwrap();
        assert_eq!(i.origin, Origin::Manual);
        assert_eq!(i.principal.name.as_deref(), Some("web-app"));
        assert_eq!(i.account.as_deref(), Some("111122223333"));
        assert!(i.dry_run);
    }

    #[test]
    fn manual_request_typos_are_errors() {
        let err =
            parse_payload(&json!({"action": "revoke", "role": "web", "dryrun": true})).unwrap_err();
        assert!(err.to_string().contains("dryrun"), "{err}");
        let err = parse_payload(&json!({"action": "delete", "role": "web"})).unwrap_err();
        assert!(err.to_string().contains("only action"), "{err}");
        let err = parse_payload(&json!({"action": "revoke", "role": "web\"app"})).unwrap_err();
        assert!(
            err.to_string().contains("not a valid IAM role name"),
            "{err}"
        );
    }

    #[test]
    fn unrecognised_shapes_say_what_was_expected_and_found() {
        for (v, found) in [
            (json!("hello"), "a string"),
            (json!(null), "null"),
            (json!({"foo": 1}), "\"foo\""),
            (json!([]), "empty"),
        ] {
            let err = parse_payload(&v).unwrap_err().to_string();
            assert!(err.contains(found), "{err}");
        }
        let err = parse_payload(&json!({"hello": 1})).unwrap_err().to_string();
        assert!(
            err.contains("expected an EventBridge GuardDuty event"),
            "{err}"
        );
    }
}
