//! Classify a payload by its shape and turn it into incidents.
//!
//! Every field of a finding is attacker-influenced (a session name, a user agent and more
//! are chosen by whoever holds the credentials), so nothing here trusts a type or a length:
//! a missing or null field is `None`, a field of the wrong type is an error naming it.

mod finding;
mod manual;

use finding::{parse_finding, Fallback};
use manual::parse_manual;

use crate::model::{FindingError, Incident, InputError, Parsed, Shape};
use serde::Deserialize;
use serde_json::{Map, Value};

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

/// The fields of an EventBridge event the responder reads (`version`, `id`, `time` and
/// `resources` are not used, and an odd one must not cost the finding).
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    #[allow(dead_code)]
    detail_type: String,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    detail: Value,
}

/// The EventBridge envelope: `source` must be GuardDuty, `detail` is the finding; the
/// envelope's account and region fill in what the finding lacks.
fn parse_envelope(obj: &Map<String, Value>) -> Result<Incident, FindingError> {
    let envelope = match obj.get("source") {
        Some(Value::String(s)) if s == "aws.guardduty" => {
            let fields: Map<String, Value> = ["detail-type", "account", "region", "detail"]
                .iter()
                .filter_map(|k| obj.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            Envelope::deserialize(&Value::Object(fields)).map_err(|e| {
                FindingError::new(
                    "EventBridge envelope",
                    crate::text::safe_text(&e.to_string(), 200),
                )
            })?
        }
        Some(Value::String(s)) => {
            return Err(FindingError::new(
                "source",
                format!(
                    "expected \"aws.guardduty\", found {:?}",
                    crate::text::safe_text(s, 60)
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

#[cfg(test)]
mod tests;
