//! Classify a payload by its shape and turn it into incidents.
//!
//! Every field of a finding is attacker-influenced (a session name, a user agent and more
//! are chosen by whoever holds the credentials), so nothing here trusts a type or a length:
//! a missing or null field is `None`; a field of the wrong type is named, and what it costs
//! depends on the field (see `finding`): an optional one is ignored, an identity one makes
//! the incident unreadable. Only a payload item with nothing readable at all (not an object,
//! an envelope from another source) is an `Err` item; only a payload of no known shape is an
//! `InputError`. GuardDuty findings as Security Hub delivers them (ASFF) are read by `asff` into
//! the same incidents; Security Hub findings of other products are skipped, naming the product.

mod asff;
mod finding;
mod manual;
mod sequence;
mod timestamp;

use finding::{parse_finding, parse_findings, Fallback, Unread};
use manual::parse_manual;
pub use manual::{is_restore, parse_restore};
use sequence::Copy;
pub use timestamp::parse_timestamp;

use crate::model::{FindingError, Incident, InputError, Origin, Parsed, Shape};
use serde::Deserialize;
use serde_json::{Map, Value};

const EXPECTED: &str = "an EventBridge GuardDuty event (`detail-type`, `detail`), a GuardDuty finding \
(`type`, `resource`, `service`), `aws guardduty get-findings` output (`{\"Findings\": [...]}`), a JSON array of \
findings, a Security Hub event (`source` \"aws.securityhub\", `detail.findings`), a Security Hub (ASFF) finding \
or `aws securityhub get-findings` output, or a manual request (`{\"action\": \"revoke\", \"role\": ...}`)";

/// Most findings one payload may hold; `get-findings` accepts at most 50 ids per call.
pub const MAX_FINDINGS_PER_PAYLOAD: usize = 100;

/// The `detail-type` of an EventBridge event that carries a GuardDuty finding.
pub const FINDING_DETAIL_TYPE: &str = "GuardDuty Finding";

/// The `detail-type`s of EventBridge events from Security Hub that carry findings
/// (`detail.findings[]`): every imported or updated finding, and a custom action a person chose
/// in the console for the findings selected.
pub const SECURITY_HUB_DETAIL_TYPES: [&str; 2] = [
    "Security Hub Findings - Imported",
    "Security Hub Findings - Custom Action",
];

/// Classifies the payload by shape and parses every finding in it. A payload with no
/// findings (`[]`, `{"Findings": []}`) gives no items: the report says so.
pub fn parse_payload(payload: &Value) -> Result<Parsed, InputError> {
    match payload {
        Value::Object(obj) => {
            if is_security_hub_event(obj) {
                Ok(Parsed {
                    shape: Shape::SecurityHubEvent,
                    items: parse_security_hub_envelope(obj)?,
                })
            } else if obj.contains_key("detail")
                && (obj.contains_key("detail-type") || obj.contains_key("source"))
            {
                let items = parse_envelope(obj);
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
            } else if asff::is_asff(payload) {
                Ok(Parsed {
                    shape: Shape::Finding,
                    items: asff::parse_asff(obj, None).into_iter().map(Ok).collect(),
                })
            } else if looks_like_finding(obj) {
                Ok(Parsed {
                    shape: Shape::Finding,
                    items: parse_findings(obj, None, Copy::GuardDuty)
                        .into_iter()
                        .map(Ok)
                        .collect(),
                })
            } else {
                Err(unrecognised(payload))
            }
        }
        Value::Array(list) => Ok(Parsed {
            shape: Shape::FindingArray,
            items: parse_list(list)?,
        }),
        other => Err(unrecognised(other)),
    }
}

/// One GuardDuty finding as GuardDuty itself returns it (`GetFindings`, camelCase or
/// PascalCase), read exactly like a finding in a payload: GuardDuty's copy of a finding passes
/// through the same validation as the finding the responder was handed.
pub fn parse_guardduty_finding(finding: &Value) -> Result<Incident, FindingError> {
    match finding {
        Value::Object(obj) => Ok(parse_finding(obj, None)),
        other => Err(FindingError::new(
            "finding",
            format!(
                "expected a GuardDuty finding object, found {}",
                describe(other)
            ),
        )),
    }
}

/// GuardDuty's copy of a finding, every incident in it: one per credential of an attack
/// sequence (see `sequence`), else the one (`parse_guardduty_finding`).
pub fn parse_guardduty_findings(finding: &Value) -> Result<Vec<Incident>, FindingError> {
    match finding {
        Value::Object(obj) => Ok(parse_findings(obj, None, Copy::GuardDuty)),
        other => parse_guardduty_finding(other).map(|i| vec![i]),
    }
}

fn parse_list(list: &[Value]) -> Result<Vec<Result<Incident, FindingError>>, InputError> {
    check_count("finding list", list.len())?;
    let mut items = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        match item {
            Value::Object(obj) if is_security_hub_event(obj) => {
                match parse_security_hub_envelope(obj) {
                    Ok(more) => items.extend(more),
                    Err(e) => items.push(Err(FindingError::new(format!("[{i}]"), e.to_string()))),
                }
            }
            Value::Object(obj) if asff::is_asff(item) => {
                items.extend(asff::parse_asff(obj, None).into_iter().map(Ok))
            }
            Value::Object(obj) if obj.contains_key("detail") => items.extend(parse_envelope(obj)),
            Value::Object(obj) if looks_like_finding(obj) => items.extend(
                parse_findings(obj, None, Copy::GuardDuty)
                    .into_iter()
                    .map(Ok),
            ),
            other => items.push(Err(FindingError::new(
                format!("[{i}]"),
                format!(
                    "expected a GuardDuty finding object, found {}",
                    describe(other)
                ),
            ))),
        }
    }
    check_count("finding list", items.len())?;
    Ok(items)
}

fn check_count(what: &'static str, n: usize) -> Result<(), InputError> {
    if n > MAX_FINDINGS_PER_PAYLOAD {
        return Err(InputError::Invalid {
            what,
            detail: format!("{n} findings; at most {MAX_FINDINGS_PER_PAYLOAD} per invocation"),
        });
    }
    Ok(())
}

fn is_security_hub_event(obj: &Map<String, Value>) -> bool {
    obj.get("source").and_then(Value::as_str) == Some("aws.securityhub")
}

/// An EventBridge event from Security Hub: `detail.findings[]`, each an ASFF finding (GuardDuty's
/// read like GuardDuty's own, other products' skipped naming the product). Another `detail-type`
/// (e.g. insight results) is one skipped item saying so.
fn parse_security_hub_envelope(
    obj: &Map<String, Value>,
) -> Result<Vec<Result<Incident, FindingError>>, InputError> {
    let account = envelope_text(obj.get("account").unwrap_or(&Value::Null));
    let region = envelope_text(obj.get("region").unwrap_or(&Value::Null));
    let detail_type = match obj.get("detail-type") {
        Some(Value::String(s)) => s.as_str(),
        other => {
            return Ok(vec![Err(FindingError::new(
                "detail-type",
                format!(
                    "expected a string, found {}",
                    other.map(describe).unwrap_or_else(|| "nothing".into())
                ),
            ))])
        }
    };
    if !SECURITY_HUB_DETAIL_TYPES.contains(&detail_type) {
        let mut skipped = Incident::empty(Origin::Finding);
        skipped.account = account.ok().flatten();
        skipped.region = region.ok().flatten();
        skipped.not_a_finding = Some(format!(
            "not a finding: an event from aws.securityhub with detail-type {:?} (findings come as {:?})",
            crate::text::safe_text(detail_type, 80),
            SECURITY_HUB_DETAIL_TYPES
        ));
        return Ok(vec![Ok(skipped)]);
    }
    let findings = match obj.get("detail").and_then(|d| d.get("findings")) {
        Some(Value::Array(list)) => list,
        other => {
            return Ok(vec![Err(FindingError::new(
                "detail.findings",
                format!(
                    "expected an array, found {}",
                    other.map(describe).unwrap_or_else(|| "nothing".into())
                ),
            ))])
        }
    };
    check_count("Security Hub event", findings.len())?;
    // A custom action is a person's choice in the console, for the findings they selected: the
    // report says so (the action's name, bounded; attacker-influenced like every field).
    let requested_via = (detail_type == SECURITY_HUB_DETAIL_TYPES[1]).then(|| {
        let name = obj
            .get("detail")
            .and_then(|d| d.get("actionName"))
            .and_then(Value::as_str)
            .map(|n| crate::text::safe_text(n, 64))
            .unwrap_or_else(|| "(unnamed)".into());
        format!("Security Hub custom action {name:?}: a person chose it in the console for this finding")
    });
    let mut items = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        match f {
            Value::Object(o) => {
                let incidents = asff::parse_asff(
                    o,
                    Some(Fallback {
                        account: envelope_text(obj.get("account").unwrap_or(&Value::Null)),
                        region: envelope_text(obj.get("region").unwrap_or(&Value::Null)),
                    }),
                );
                items.extend(incidents.into_iter().map(|mut incident| {
                    incident.requested_via = requested_via.clone();
                    Ok(incident)
                }));
            }
            other => items.push(Err(FindingError::new(
                format!("detail.findings[{i}]"),
                format!("expected an ASFF finding object, found {}", describe(other)),
            ))),
        }
    }
    Ok(items)
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
fn parse_envelope(obj: &Map<String, Value>) -> Vec<Result<Incident, FindingError>> {
    match read_envelope(obj) {
        Ok(incidents) => incidents.into_iter().map(Ok).collect(),
        Err(e) => vec![Err(e)],
    }
}

fn read_envelope(obj: &Map<String, Value>) -> Result<Vec<Incident>, FindingError> {
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
        return Ok(vec![skipped]);
    }
    match &envelope.detail {
        Value::Object(detail) => Ok(parse_findings(detail, Some(fallback), Copy::GuardDuty)),
        other => Err(FindingError::new(
            "detail",
            format!("expected an object, found {}", describe(other)),
        )),
    }
}

#[cfg(test)]
mod tests;
