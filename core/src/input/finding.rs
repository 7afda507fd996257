//! One GuardDuty finding, camelCase (events) or PascalCase (`get-findings`), to an incident.
//!
//! Two kinds of field:
//! - **identity**: the finding's `type`, its account (`accountId`, else the envelope's) and the
//!   principal (`resource.accessKeyDetails`). One of these unreadable makes the incident
//!   unreadable (`Incident::unreadable`): nothing is decided from it, and the report still
//!   carries what was readable (id, type, account).
//! - **optional**: everything else, used only to decide or to report (`severity`, `title`,
//!   timestamps, `count`, `archived`, `additionalInfo`, instance and network details). Present
//!   but unreadable, such a field is treated as absent and named in `Incident::ignored_fields`.
//!   Absent is always the safe side: no `eventLastSeen` never makes a finding "already
//!   covered", no `archived` or `sample` flag never skips it, no severity sends it to a person.

use super::describe;
use super::sequence;
use super::timestamp;
use crate::model::incident::UnreadableField;
use crate::model::{
    FindingArn, FindingError, Incident, Origin, Principal, StolenCredential, UserType,
};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Longest string any GuardDuty field holds (titles and descriptions are far shorter).
const MAX_STRING: usize = 4096;
/// Most `recentCredentials` entries read.
const MAX_RECENT_CREDENTIALS: usize = 50;

/// What the EventBridge envelope offers when the finding lacks it.
pub(super) struct Fallback {
    pub(super) account: Result<Option<String>, Unread>,
    pub(super) region: Result<Option<String>, Unread>,
}

/// Parses one finding, camelCase or PascalCase. Never fails: an unreadable identity field is
/// recorded in the incident (see the module documentation).
pub(super) fn parse_finding(obj: &Map<String, Value>, fallback: Option<Fallback>) -> Incident {
    with_camel_case(obj, |f| read(f, fallback))
}

/// As `parse_finding`, for a finding that may be an attack sequence: one incident per
/// credential it names (`sequence`), else the one incident.
pub(super) fn parse_findings(
    obj: &Map<String, Value>,
    fallback: Option<Fallback>,
    copy: sequence::Copy,
) -> Vec<Incident> {
    with_camel_case(obj, |f| {
        let incident = read(f, fallback);
        if sequence::is_sequence(f) {
            sequence::expand(incident, f, copy)
        } else {
            vec![incident]
        }
    })
}

/// `read` on the finding in camelCase (`get-findings` output is PascalCase).
fn with_camel_case<T>(obj: &Map<String, Value>, read: impl FnOnce(&Map<String, Value>) -> T) -> T {
    if obj.contains_key("Type") || obj.contains_key("Resource") {
        match camelize(&Value::Object(obj.clone()), 0) {
            Value::Object(o) => read(&o),
            _ => unreachable!("camelize keeps objects"),
        }
    } else {
        read(obj)
    }
}

fn read(f: &Map<String, Value>, fallback: Option<Fallback>) -> Incident {
    let mut r = Reader {
        f: Fields(f),
        ignored: Vec::new(),
        unreadable: None,
    };
    let mut incident = Incident::empty(Origin::Finding);

    // Identity: the type, the account, the principal.
    incident.finding_type = r.identity(r.f.string(&["type"]));
    let key = |k: &'static str| ["resource", "accessKeyDetails", k];
    let user_type = r.identity(r.f.string(&key("userType")));
    let principal = Principal {
        user_type: UserType::parse(user_type.as_deref().unwrap_or("")),
        name: r.identity(r.f.string(&key("userName"))),
        principal_id: r.identity(r.f.string(&key("principalId"))),
        access_key_id: r.identity(r.f.string(&key("accessKeyId"))),
    };
    let (fallback_account, fallback_region) = match fallback {
        Some(fb) => (Some(fb.account), Some(fb.region)),
        None => (None, None),
    };
    incident.account = match r.f.string(&["accountId"]) {
        Ok(Some(a)) => Some(a),
        Ok(None) => match fallback_account {
            None => None,
            Some(fb) => r.identity(fb.map_err(|u| u.at("account (EventBridge envelope)"))),
        },
        Err(u) => r.identity(Err(u)),
    };

    // Optional: read when readable, else absent and named.
    incident.finding_id = r.optional(r.f.string(&["id"]));
    incident.finding_arn =
        r.optional(r.f.string(&["arn"]))
            .and_then(|arn| match FindingArn::parse(&arn) {
                Ok(_) => Some(arn),
                Err(e) => {
                    r.ignore(Unread::new(e.to_string(), &Value::String(arn)).at("arn"));
                    None
                }
            });
    incident.title = r.optional(r.f.string(&["title"]));
    incident.severity = r.optional(r.f.number(&["severity"]));
    incident.region = match r.optional(r.f.string(&["region"])) {
        Some(region) => Some(region),
        None => fallback_region
            .and_then(|fb| r.optional(fb.map_err(|u| u.at("region (EventBridge envelope)")))),
    };
    incident.created_at = r.optional(r.f.timestamp(&["createdAt"]));
    incident.updated_at = r.optional(r.f.timestamp(&["updatedAt"]));
    incident.event_first_seen = r.optional(r.f.timestamp(&["service", "eventFirstSeen"]));
    incident.event_last_seen = r.optional(r.f.timestamp(&["service", "eventLastSeen"]));
    incident.count = r.optional(r.f.count(&["service", "count"]));
    incident.archived = r
        .optional(r.f.boolean(&["service", "archived"]))
        .unwrap_or(false);
    incident.instance_id = r.optional(r.f.string(&["resource", "instanceDetails", "instanceId"]));
    incident.remote_ip = r.optional(r.f.string(&[
        "service",
        "action",
        "awsApiCallAction",
        "remoteIpDetails",
        "ipAddressV4",
    ]));
    if let Some(additional) = additional_info(&mut r) {
        incident.sample = match additional.get("sample") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            Some(other) => {
                r.ignore(Unread::new("a boolean", other).at("service.additionalInfo.sample"));
                false
            }
        };
        incident.recent_credentials = recent_credentials(&mut r, &additional);
    }

    if r.unreadable.is_none() {
        incident.principal = principal;
    }
    // An unreadable identity leaves the principal empty: nothing can act on half of it.
    incident.unreadable = r.unreadable;
    incident.ignored_fields = r.ignored;
    incident
}

/// `service.additionalInfo`: an object in events, `{"Value": "<json>", "Type": "default"}` in
/// `get-findings` output (camelized to `value`/`type` by then).
fn additional_info(r: &mut Reader) -> Option<Map<String, Value>> {
    const PATH: [&str; 2] = ["service", "additionalInfo"];
    if let Err(u) = r.f.check_sections(&PATH) {
        r.ignore(u);
        return None;
    }
    match r.f.get(&PATH) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => match o.get("value") {
            Some(Value::String(s)) if o.len() <= 2 => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(inner)) => Some(inner),
                _ => Some(o.clone()),
            },
            _ => Some(o.clone()),
        },
        Some(other) => {
            r.ignore(Unread::new("an object", other).at(&PATH.join(".")));
            None
        }
    }
}

/// `service.additionalInfo.recentCredentials[]`: more stolen sessions. An unreadable entry or
/// field is left out and named.
fn recent_credentials(r: &mut Reader, additional: &Map<String, Value>) -> Vec<StolenCredential> {
    const PATH: &str = "service.additionalInfo.recentCredentials";
    let list = match additional.get("recentCredentials") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(list)) => list,
        Some(other) => {
            r.ignore(Unread::new("an array", other).at(PATH));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, entry) in list.iter().take(MAX_RECENT_CREDENTIALS).enumerate() {
        let Value::Object(c) = entry else {
            if !entry.is_null() {
                r.ignore(Unread::new("an object", entry).at(&format!("{PATH}[{i}]")));
            }
            continue;
        };
        let c = Fields(c);
        let mut field = |name: &str| match c.string(&[name]) {
            Ok(v) => v,
            Err(u) => {
                r.ignore(u.at(&format!("{PATH}[{i}].{name}")));
                None
            }
        };
        out.push(StolenCredential {
            access_key_id: field("accessKeyId"),
            principal_id: field("principalId"),
            ip_address_v4: field("ipAddressV4"),
        });
    }
    out
}

/// A value that could not be read: where, what was expected, and what was found (bounded).
#[derive(Debug)]
pub(super) struct Unread {
    field: String,
    expected: String,
    found: String,
}

impl Unread {
    pub(super) fn new(expected: impl Into<String>, found: &Value) -> Self {
        let found = match found {
            Value::String(s) => format!("the string {:?}", crate::text::safe_text(s, 40)),
            Value::Number(n) => {
                format!("the number {}", crate::text::safe_text(&n.to_string(), 40))
            }
            other => describe(other),
        };
        Self {
            field: String::new(),
            expected: expected.into(),
            found,
        }
    }

    /// The same problem, at this field.
    pub(super) fn at(mut self, field: &str) -> Self {
        self.field = field.to_string();
        self
    }

    pub(super) fn into_error(self) -> FindingError {
        FindingError::new(
            self.field,
            format!("expected {}, found {}", self.expected, self.found),
        )
    }

    pub(super) fn into_ignored(self) -> UnreadableField {
        UnreadableField {
            field: self.field,
            expected: self.expected,
            found: self.found,
        }
    }
}

/// Reads fields, recording what it could not read.
struct Reader<'a> {
    f: Fields<'a>,
    ignored: Vec<UnreadableField>,
    unreadable: Option<FindingError>,
}

impl Reader<'_> {
    /// An identity field: unreadable makes the incident unreadable (the first one is named).
    fn identity<T>(&mut self, read: Result<Option<T>, Unread>) -> Option<T> {
        match read {
            Ok(v) => v,
            Err(u) => {
                if self.unreadable.is_none() {
                    self.unreadable = Some(u.into_error());
                }
                None
            }
        }
    }

    /// An optional field: unreadable is absent, and named once.
    fn optional<T>(&mut self, read: Result<Option<T>, Unread>) -> Option<T> {
        match read {
            Ok(v) => v,
            Err(u) => {
                self.ignore(u);
                None
            }
        }
    }

    fn ignore(&mut self, u: Unread) {
        if !self.ignored.iter().any(|i| i.field == u.field) {
            self.ignored.push(u.into_ignored());
        }
    }
}

/// Read access to a finding's fields that names the field in every error.
pub(super) struct Fields<'a>(pub(super) &'a Map<String, Value>);

impl Fields<'_> {
    pub(super) fn get(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.0.get(*first)?;
        for key in rest {
            v = v.as_object()?.get(*key)?;
        }
        Some(v)
    }

    /// Fails when an intermediate section is present but not an object (naming the section).
    pub(super) fn check_sections(&self, path: &[&str]) -> Result<(), Unread> {
        let mut current = self.0;
        for (i, key) in path.iter().enumerate().take(path.len().saturating_sub(1)) {
            match current.get(*key) {
                None | Some(Value::Null) => return Ok(()),
                Some(Value::Object(o)) => current = o,
                Some(other) => {
                    return Err(Unread::new("an object", other).at(&path[..=i].join(".")))
                }
            }
        }
        Ok(())
    }

    /// The value at `path`, `None` when it (or a section above it) is missing or null.
    pub(super) fn value(&self, path: &[&str]) -> Result<Option<&Value>, Unread> {
        self.check_sections(path)?;
        Ok(self.get(path).filter(|v| !v.is_null()))
    }

    /// A string; numbers are accepted (old findings carry numbers where new ones carry strings).
    pub(super) fn string(&self, path: &[&str]) -> Result<Option<String>, Unread> {
        let bad = |expected: &str, v: &Value| Unread::new(expected, v).at(&path.join("."));
        match self.value(path)? {
            None => Ok(None),
            Some(Value::String(s)) if s.len() > MAX_STRING => Err(Unread {
                field: path.join("."),
                expected: format!("a string of at most {MAX_STRING} bytes"),
                found: format!("a string of {} bytes", s.len()),
            }),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(bad("a string", other)),
        }
    }

    /// A finite number; numeric strings are accepted.
    pub(super) fn number(&self, path: &[&str]) -> Result<Option<f64>, Unread> {
        let v = self.value(path)?;
        let n = match v {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        match (n.filter(|x| x.is_finite()), v) {
            (Some(x), _) => Ok(Some(x)),
            (None, Some(v)) => Err(Unread::new("a number", v).at(&path.join("."))),
            (None, None) => Ok(None),
        }
    }

    /// A whole number of occurrences (`service.count`).
    pub(super) fn count(&self, path: &[&str]) -> Result<Option<u64>, Unread> {
        match self.number(path)? {
            None => Ok(None),
            Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 => Ok(Some(x as u64)),
            Some(_) => Err(Unread::new(
                "a whole number of at least 0",
                self.get(path).unwrap_or(&Value::Null),
            )
            .at(&path.join("."))),
        }
    }

    pub(super) fn boolean(&self, path: &[&str]) -> Result<Option<bool>, Unread> {
        match self.value(path)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(Unread::new("a boolean", other).at(&path.join("."))),
        }
    }

    /// A timestamp in any form GuardDuty has emitted (see `timestamp`), or epoch milliseconds.
    pub(super) fn timestamp(&self, path: &[&str]) -> Result<Option<OffsetDateTime>, Unread> {
        let v = self.value(path)?;
        let t = match v {
            None => return Ok(None),
            Some(Value::String(s)) => timestamp::parse_timestamp(s),
            Some(Value::Number(n)) => n.as_f64().and_then(timestamp::from_epoch_millis),
            Some(_) => None,
        };
        match (t, v) {
            (Some(t), _) => Ok(Some(t)),
            (None, Some(v)) => Err(Unread::new(timestamp::EXPECTED, v).at(&path.join("."))),
            (None, None) => Ok(None),
        }
    }
}

/// Converts PascalCase keys (`get-findings` output) to the camelCase of events.
pub(super) fn camelize(v: &Value, depth: usize) -> Value {
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
