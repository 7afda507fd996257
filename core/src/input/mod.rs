//! Classify a payload by its shape and turn it into incidents.
//!
//! Every field of a finding is attacker-influenced (a session name, a user agent and more
//! are chosen by whoever holds the credentials), so nothing here trusts a type or a length:
//! a missing or null field is `None`; a field of the wrong type is named, and what it costs
//! depends on the field (see `finding`): an optional one is ignored, an identity one makes
//! the incident unreadable. Only a payload item with nothing readable at all (not an object,
//! an envelope from another source) is an `Err` item; only a payload of no known shape (or of
//! Security Hub's format, not supported yet) is an `InputError`.

mod finding;
mod manual;
mod timestamp;

use finding::{parse_finding, Fallback, Unread};
use manual::parse_manual;
pub use timestamp::parse_timestamp;

use crate::model::{FindingError, Incident, InputError, Origin, Parsed, Shape};
use serde::Deserialize;
use serde_json::{Map, Value};

const EXPECTED: &str = "an EventBridge GuardDuty event (`detail-type`, `detail`), a GuardDuty finding \
(`type`, `resource`, `service`), `aws guardduty get-findings` output (`{\"Findings\": [...]}`), a JSON array of \
findings, or a manual request (`{\"action\": \"revoke\", \"role\": ...}`)";

/// Most findings one payload may hold; `get-findings` accepts at most 50 ids per call.
pub const MAX_FINDINGS_PER_PAYLOAD: usize = 100;

/// The `detail-type` of an EventBridge event that carries a GuardDuty finding.
pub const FINDING_DETAIL_TYPE: &str = "GuardDuty Finding";

/// Classifies the payload by shape and parses every finding in it. A payload with no
/// findings (`[]`, `{"Findings": []}`) gives no items: the report says so.
pub fn parse_payload(payload: &Value) -> Result<Parsed, InputError> {
    if is_security_hub(payload) {
        return Err(security_hub());
    }
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
                if !list.is_empty() && list.iter().all(is_security_hub) {
                    return Err(security_hub());
                }
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
                    items: vec![Ok(parse_finding(obj, None))],
                })
            } else {
                Err(unrecognised(payload))
            }
        }
        Value::Array(list) => {
            if !list.is_empty() && list.iter().all(is_security_hub) {
                return Err(security_hub());
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
            item if is_security_hub(item) => Err(FindingError::new(
                format!("[{i}]"),
                SECURITY_HUB_NOT_SUPPORTED,
            )),
            Value::Object(obj) if obj.contains_key("detail") => parse_envelope(obj),
            Value::Object(obj) if looks_like_finding(obj) => Ok(parse_finding(obj, None)),
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

const SECURITY_HUB_NOT_SUPPORTED: &str = "Security Hub's finding format (ASFF, the AWS Security \
Finding Format) is not supported yet: send GuardDuty's own finding (the EventBridge event with source \
\"aws.guardduty\", or `aws guardduty get-findings` output)";

fn security_hub() -> InputError {
    InputError::Invalid {
        what: "input",
        detail: SECURITY_HUB_NOT_SUPPORTED.into(),
    }
}

/// A Security Hub finding (ASFF: `ProductArn`, or `AwsAccountId` with `SchemaVersion`
/// "2018-10-08") or an EventBridge event from Security Hub (`source` "aws.securityhub",
/// `detail.findings[]`). GuardDuty's own findings, in either case, have `accountId` and
/// never `ProductArn` or `AwsAccountId`.
fn is_security_hub(v: &Value) -> bool {
    let Value::Object(obj) = v else { return false };
    obj.get("source").and_then(Value::as_str) == Some("aws.securityhub")
        || obj.contains_key("ProductArn")
        || (obj.contains_key("AwsAccountId") && obj.contains_key("SchemaVersion"))
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
    detail_type: String,
    #[serde(default)]
    account: Value,
    #[serde(default)]
    region: Value,
    #[serde(default)]
    detail: Value,
}

/// The envelope's account or region: a string (or a number), else unreadable.
fn envelope_text(v: &Value) -> Result<Option<String>, Unread> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.len() <= 64 => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(Unread::new("a short string", other)),
    }
}

/// The EventBridge envelope: `source` must be GuardDuty and `detail-type` "GuardDuty
/// Finding" (another detail-type from GuardDuty is not a finding: skipped, saying so);
/// `detail` is the finding; the envelope's account and region fill in what the finding lacks.
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
        Some(Value::String(s)) if s == "aws.securityhub" => {
            return Err(FindingError::new("source", SECURITY_HUB_NOT_SUPPORTED))
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
    let fallback = Fallback {
        account: envelope_text(&envelope.account),
        region: envelope_text(&envelope.region),
    };
    if envelope.detail_type != FINDING_DETAIL_TYPE {
        let mut skipped = Incident::empty(Origin::Finding);
        skipped.account = fallback.account.ok().flatten();
        skipped.region = fallback.region.ok().flatten();
        skipped.not_a_finding = Some(format!(
            "not a GuardDuty finding: an event from aws.guardduty with detail-type {:?} (findings have {FINDING_DETAIL_TYPE:?})",
            crate::text::safe_text(&envelope.detail_type, 80)
        ));
        return Ok(skipped);
    }
    match &envelope.detail {
        Value::Object(detail) => Ok(parse_finding(detail, Some(fallback))),
        other => Err(FindingError::new(
            "detail",
            format!("expected an object, found {}", describe(other)),
        )),
    }
}

#[cfg(test)]
mod tests;
