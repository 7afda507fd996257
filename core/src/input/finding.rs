//! One GuardDuty finding, camelCase (events) or PascalCase (`get-findings`), to an incident.

use super::describe;
use crate::model::{FindingError, Incident, Origin, Principal, StolenCredential, UserType};
use crate::names;
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub(super) struct Fallback {
    pub(super) account: Option<String>,
    pub(super) region: Option<String>,
}

/// Parses one finding, camelCase or PascalCase.
pub(super) fn parse_finding(
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
                .ok_or_else(|| bad(format!("the string {:?}", crate::text::safe_text(s, 40)))),
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
                        crate::text::safe_text(s, 40)
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
