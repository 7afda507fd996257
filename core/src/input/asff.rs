//! A GuardDuty finding as Security Hub delivers it (ASFF, the AWS Security Finding Format), to
//! the same incident as GuardDuty's own finding.
//!
//! Field names read from, and nothing guessed beyond:
//! - the ASFF reference (Security Hub User Guide, "AWS Security Finding Format (ASFF)" and
//!   "AwsIam resources in ASFF": `AwsIamAccessKey` has `AccessKeyId`, `AccountId`, `PrincipalId`,
//!   `PrincipalName`, `PrincipalType`, `SessionContext`, `Status`);
//! - the GuardDuty User Guide, "Integrating with AWS Security Hub": GuardDuty's type appears in
//!   `Types` as `<namespace>/<category>/<ThreatPurpose>:<ResourceType>-<ThreatFamily>...` (the `/`
//!   after the resource type becomes `-`);
//! - GuardDuty findings as Security Hub stored them, in public code (elastic/integrations test
//!   data, SIEM parsers): `ProductArn` `arn:aws:securityhub:<region>::product/aws/guardduty`,
//!   `Id` the GuardDuty finding ARN, `ProductFields` flattened from the finding with string values
//!   (`aws/guardduty/service/count` "8", `aws/guardduty/service/archived` "false",
//!   `aws/guardduty/service/eventFirstSeen`, `aws/guardduty/service/eventLastSeen`,
//!   `aws/guardduty/service/additionalInfo/value` (a JSON string), `aws/guardduty/service/action/
//!   awsApiCallAction/remoteIpDetails/ipAddressV4`), `Severity` with `Normalized` (severity × 10)
//!   and `Original`, `FindingProviderFields.Severity.Original` ("5.0"), and the principal in
//!   `Resources[]` of `Type` `AwsIamAccessKey` whose `Id` is `AWS::IAM::AccessKey:<key id>`.
//!
//! The ASFF finding is rewritten into GuardDuty's camelCase shape and read by `finding`, so every
//! field gets exactly the validation of the GuardDuty path (types, lengths, timestamps; identity
//! fields unreadable make the incident unreadable). Field names in reports are therefore the
//! GuardDuty ones (`resource.accessKeyDetails.principalId` for
//! `Resources[].Details.AwsIamAccessKey.PrincipalId`). Only what the rewrite itself decides is
//! checked here: that the product is GuardDuty, the type, and that exactly one access key is named.

use super::describe;
use super::finding::{camelize, parse_finding, parse_findings, Fallback};
use super::sequence::Copy;
use crate::model::incident::UnreadableField;
use crate::model::{FindingError, Incident, Origin};
use serde_json::{json, Map, Value};

/// Most `Resources[]` entries read (ASFF allows 32 per finding).
const MAX_RESOURCES: usize = 32;
/// Most `Types[]` entries read (ASFF allows 50).
const MAX_TYPES: usize = 50;

/// The `ProductArn` of GuardDuty in Security Hub ends with this (`arn:<partition>:securityhub:
/// <region>::product/aws/guardduty`).
const GUARDDUTY_PRODUCT: &str = "::product/aws/guardduty";

/// True for a Security Hub finding: `ProductArn`, or `AwsAccountId` with `SchemaVersion`
/// (ASFF's is "2018-10-08"). GuardDuty's own findings have `accountId`/`AccountId` instead.
pub(super) fn is_asff(v: &Value) -> bool {
    let Value::Object(obj) = v else { return false };
    obj.contains_key("ProductArn")
        || (obj.contains_key("AwsAccountId") && obj.contains_key("SchemaVersion"))
}

/// One ASFF finding to an incident. Another product's finding is an incident that is not a
/// finding (skipped with the product named); a GuardDuty one is read like GuardDuty's own.
pub(super) fn parse_asff(obj: &Map<String, Value>, fallback: Option<Fallback>) -> Vec<Incident> {
    let product = match obj.get("ProductArn") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let is_guardduty = product.is_some_and(|p| p.len() <= 256 && p.ends_with(GUARDDUTY_PRODUCT));
    if !is_guardduty {
        let mut skipped = Incident::empty(Origin::Finding);
        skipped.account = short(obj.get("AwsAccountId"));
        skipped.region = short(obj.get("Region"));
        skipped.finding_id = obj
            .get("Id")
            .and_then(Value::as_str)
            .map(|s| crate::text::safe_text(s, 200));
        skipped.not_a_finding = Some(match product {
            Some(p) => format!(
                "not a GuardDuty finding: a Security Hub finding from product {:?} (only ProductArn \
                 …{GUARDDUTY_PRODUCT} is acted on)",
                crate::text::safe_text(p, 120)
            ),
            None => format!(
                "not a GuardDuty finding: a Security Hub finding without a readable ProductArn ({})",
                obj.get("ProductArn")
                    .map(describe)
                    .unwrap_or_else(|| "missing".into())
            ),
        });
        return vec![skipped];
    }

    let mut unreadable: Option<FindingError> = None;
    let type_read = match guardduty_type(obj) {
        Ok(t) => t,
        Err(e) => {
            unreadable.get_or_insert(e);
            TypeRead::default()
        }
    };
    let finding_type = type_read.finding_type;
    // An attack sequence names its credentials in `Detection.Sequence` and its key resources
    // (several): read by `sequence`, not as the one key of a credential finding.
    let sequence = obj
        .get("Detection")
        .and_then(|d| d.get("Sequence"))
        .filter(|s| !s.is_null());
    let (key, instance_id) = match sequence {
        Some(_) => (Value::Null, Value::Null),
        None => match resources(obj) {
            Ok(r) => r,
            Err(e) => {
                unreadable.get_or_insert(e);
                (Value::Null, Value::Null)
            }
        },
    };
    let pf = |k: &str| -> Value {
        match obj.get("ProductFields") {
            Some(Value::Object(p)) => p.get(&format!("aws/guardduty/{k}")).cloned(),
            _ => None,
        }
        .unwrap_or(Value::Null)
    };
    let top = |k: &str| obj.get(k).cloned().unwrap_or(Value::Null);
    let mut additional_info = match pf("service/additionalInfo/value") {
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(o)) => Value::Object(o),
            _ => Value::Null,
        },
        _ => Value::Null,
    };
    if additional_info.is_null() {
        let sample = pf("service/additionalInfo/sample");
        if !sample.is_null() {
            additional_info = json!({ "sample": sample });
        }
    }
    let remote_ip = match pf("service/action/awsApiCallAction/remoteIpDetails/ipAddressV4") {
        Value::Null => obj
            .get("Action")
            .and_then(|a| a.get("AwsApiCallAction"))
            .and_then(|a| a.get("RemoteIpDetails"))
            .and_then(|a| a.get("IpAddressV4"))
            .cloned()
            .unwrap_or(Value::Null),
        v => v,
    };
    // Security Hub archives a finding (RecordState ARCHIVED) when GuardDuty archives it.
    let archived = match (pf("service/archived"), obj.get("RecordState")) {
        (Value::Null, Some(Value::String(s))) if s == "ARCHIVED" => Value::Bool(true),
        (v, _) => v,
    };
    let first_seen = match pf("service/eventFirstSeen") {
        Value::Null => top("FirstObservedAt"),
        v => v,
    };
    let last_seen = match pf("service/eventLastSeen") {
        Value::Null => top("LastObservedAt"),
        v => v,
    };

    let finding = json!({
        "type": finding_type,
        "accountId": top("AwsAccountId"),
        "region": top("Region"),
        "id": finding_id(obj),
        // GuardDuty's finding ARN: where its own copy is read (VERIFY_FINDINGS).
        "arn": top("Id"),
        "title": top("Title"),
        "severity": severity(obj),
        "createdAt": top("CreatedAt"),
        "updatedAt": top("UpdatedAt"),
        "resource": {
            "accessKeyDetails": key,
            "instanceDetails": {"instanceId": instance_id},
        },
        "service": {
            "eventFirstSeen": first_seen,
            "eventLastSeen": last_seen,
            "count": pf("service/count"),
            "archived": archived,
            "additionalInfo": additional_info,
            "action": {"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": remote_ip}}},
        },
    });
    let Value::Object(mut finding) = finding else {
        unreachable!("json! object")
    };
    let mut incidents = match (sequence, &unreadable) {
        (Some(seq), None) => {
            finding.insert("resource".into(), json!({"resourceType": "AttackSequence"}));
            if let Some(Value::Object(service)) = finding.get_mut("service") {
                service.insert(
                    "detection".into(),
                    json!({"sequence": sequence_copy(seq, obj)}),
                );
            }
            parse_findings(&finding, fallback, Copy::SecurityHub)
        }
        _ => vec![parse_finding(&finding, fallback)],
    };
    for incident in &mut incidents {
        if type_read.from_types {
            incident.ignored_fields.push(UnreadableField {
                field: "FindingProviderFields.Types".into(),
                expected: "GuardDuty's own types (what BatchUpdateFindings cannot change)".into(),
                found: "nothing: the type was read from `Types`, which anyone allowed securityhub:BatchUpdateFindings can change".into(),
            });
        }
        if let Some(e) = &unreadable {
            // Same rule as an unreadable identity field: nothing can act on half of a principal.
            incident.principal = Incident::empty(Origin::Finding).principal;
            incident.unreadable.get_or_insert(e.clone());
        }
    }
    incidents
}

/// Security Hub's `Detection.Sequence` in GuardDuty's camelCase shape (`Actors[].User.Name` to
/// `actors[].user.name`, ...), with the finding's `AwsIamAccessKey` resources as the sequence's
/// `ACCESS_KEY` resources (`uid`: the resource's `Id`, which signals' `ResourceIds` name;
/// `name`: the key id).
fn sequence_copy(sequence: &Value, obj: &Map<String, Value>) -> Value {
    let mut copy = camelize(sequence, 0);
    let resources: Vec<Value> = match obj.get("Resources") {
        Some(Value::Array(list)) => list
            .iter()
            .take(MAX_RESOURCES)
            .filter_map(Value::as_object)
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AwsIamAccessKey"))
            .map(|r| {
                let details = r.get("Details").and_then(|d| d.get("AwsIamAccessKey"));
                let field = |k: &str| {
                    details
                        .and_then(|d| d.get(k))
                        .cloned()
                        .unwrap_or(Value::Null)
                };
                let id = r.get("Id").cloned().unwrap_or(Value::Null);
                let key = match field("AccessKeyId") {
                    Value::Null => id
                        .as_str()
                        .and_then(|i| i.strip_prefix("AWS::IAM::AccessKey:"))
                        .map(|k| Value::String(k.to_string()))
                        .unwrap_or(Value::Null),
                    v => v,
                };
                json!({
                    "uid": id, "name": key, "resourceType": "ACCESS_KEY",
                    "accountId": field("AccountId"),
                    "data": {"accessKey": {
                        "principalId": field("PrincipalId"),
                        "userName": field("PrincipalName"),
                        "userType": field("PrincipalType"),
                    }},
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    if let (Value::Object(seq), false) = (&mut copy, resources.is_empty()) {
        seq.insert("resources".into(), Value::Array(resources));
    }
    copy
}

/// The finding's type and where it was read.
#[derive(Default)]
struct TypeRead {
    finding_type: Option<String>,
    /// From the top-level `Types`, for want of `FindingProviderFields`.
    from_types: bool,
}

fn short(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if s.len() <= 64 => Some(s.clone()),
        _ => None,
    }
}

/// GuardDuty's finding id: the last part of the finding ARN in `Id`
/// (`arn:aws:guardduty:<region>:<account>:detector/<detector>/finding/<id>`), so that a finding
/// re-delivered through Security Hub is the same finding as GuardDuty's own event.
fn finding_id(obj: &Map<String, Value>) -> Value {
    match obj.get("Id") {
        Some(Value::String(s)) => match s.rsplit_once("/finding/") {
            Some((_, id)) if !id.is_empty() => Value::String(id.to_string()),
            _ => Value::String(s.clone()),
        },
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

/// GuardDuty's numeric severity: `FindingProviderFields.Severity.Original`, `Severity.Original`
/// or `Severity.Product` when numeric and within GuardDuty's 0–10, else `Severity.Normalized` / 10.
/// Anything else is absent (a finding without severity goes to a person, see `plan`).
fn severity(obj: &Map<String, Value>) -> Value {
    let num = |v: Option<&Value>| -> Option<f64> {
        match v? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if s.len() <= 16 => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|x| x.is_finite())
    };
    let at = |path: &[&str]| -> Option<&Value> {
        let mut v = obj.get(path[0])?;
        for k in &path[1..] {
            v = v.as_object()?.get(*k)?;
        }
        Some(v)
    };
    let original = [
        &["FindingProviderFields", "Severity", "Original"][..],
        &["Severity", "Original"][..],
        &["Severity", "Product"][..],
    ]
    .iter()
    .find_map(|p| num(at(p)).filter(|x| (0.0..=10.0).contains(x)));
    let normalized = num(at(&["Severity", "Normalized"]))
        .filter(|x| (0.0..=100.0).contains(x))
        .map(|x| x / 10.0);
    match original.or(normalized) {
        Some(x) => json!(x),
        None => Value::Null,
    }
}

/// GuardDuty's type from `FindingProviderFields.Types`: what GuardDuty wrote. The top-level
/// `Types` can be changed by anyone allowed `securityhub:BatchUpdateFindings` (an attacker can
/// turn a credential finding into a harmless one, or the reverse); `FindingProviderFields` only
/// by the provider. `Types` is read only when `FindingProviderFields` is absent (an older or
/// hand-written ASFF finding), and the report names that. Each entry is
/// `<namespace>/<category>/<classifier>`; the last part, with the first `-` after the `:` turned
/// back into `/`, is the type (`UnauthorizedAccess:IAMUser-InstanceCredentialExfiltration.OutsideAWS`).
/// Several entries must agree; none readable is an unreadable identity.
fn guardduty_type(obj: &Map<String, Value>) -> Result<TypeRead, FindingError> {
    let (field, list) = match obj.get("FindingProviderFields") {
        None | Some(Value::Null) => match obj.get("Types") {
            Some(Value::Array(a)) if !a.is_empty() => ("Types", a),
            _ => return Ok(TypeRead::default()),
        },
        Some(Value::Object(fpf)) => match fpf.get("Types") {
            Some(Value::Array(a)) => ("FindingProviderFields.Types", a),
            other => {
                return Err(FindingError::new(
                    "FindingProviderFields.Types",
                    format!(
                        "expected GuardDuty's types (an array), found {}",
                        other.map(describe).unwrap_or_else(|| "nothing".into())
                    ),
                ))
            }
        },
        Some(other) => {
            return Err(FindingError::new(
                "FindingProviderFields",
                format!("expected an object, found {}", describe(other)),
            ))
        }
    };
    let from_types = field == "Types";
    let mut found: Option<String> = None;
    for t in list.iter().take(MAX_TYPES) {
        let Some(t) = t.as_str().filter(|t| t.len() <= 256) else {
            continue;
        };
        let classifier = t.rsplit('/').next().unwrap_or(t);
        let Some((purpose, rest)) = classifier.split_once(':') else {
            continue;
        };
        let Some((resource, family)) = rest.split_once('-') else {
            continue;
        };
        if purpose.is_empty() || resource.is_empty() || family.is_empty() {
            continue;
        }
        let candidate = format!("{purpose}:{resource}/{family}");
        match &found {
            Some(f) if *f != candidate => {
                return Err(FindingError::new(
                    field,
                    format!(
                        "two different GuardDuty types ({:?}, {:?})",
                        crate::text::safe_text(f, 80),
                        crate::text::safe_text(&candidate, 80)
                    ),
                ))
            }
            _ => found = Some(candidate),
        }
    }
    match found {
        Some(t) => Ok(TypeRead {
            finding_type: Some(t),
            from_types,
        }),
        None => Err(FindingError::new(
            field,
            "no GuardDuty finding type (`<namespace>/<category>/<ThreatPurpose>:<ResourceType>-<ThreatFamily>`)",
        )),
    }
}

/// The one `AwsIamAccessKey` resource, as GuardDuty's `accessKeyDetails`, and the instance id
/// of the one `AwsEc2Instance` resource (if any). Two access keys in one finding: unreadable
/// (which one was stolen is not for this tool to guess).
fn resources(obj: &Map<String, Value>) -> Result<(Value, Value), FindingError> {
    let list = match obj.get("Resources") {
        None | Some(Value::Null) => return Ok((Value::Null, Value::Null)),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(FindingError::new(
                "Resources",
                format!("expected an array, found {}", describe(other)),
            ))
        }
    };
    let of_type = |t: &str| -> Vec<&Map<String, Value>> {
        list.iter()
            .take(MAX_RESOURCES)
            .filter_map(Value::as_object)
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some(t))
            .collect()
    };
    let keys = of_type("AwsIamAccessKey");
    let key = match keys.as_slice() {
        [] => Value::Null,
        [one] => {
            let details = one.get("Details").and_then(|d| d.get("AwsIamAccessKey"));
            let field = |k: &str| {
                details
                    .and_then(|d| d.get(k))
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            // GuardDuty names the key in the resource id; newer findings also in AccessKeyId.
            let key_id = match field("AccessKeyId") {
                Value::Null => match one.get("Id") {
                    Some(Value::String(id)) => id
                        .strip_prefix("AWS::IAM::AccessKey:")
                        .map(|k| Value::String(k.to_string()))
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                },
                v => v,
            };
            json!({
                "accessKeyId": key_id,
                "principalId": field("PrincipalId"),
                "userType": field("PrincipalType"),
                "userName": field("PrincipalName"),
            })
        }
        many => {
            return Err(FindingError::new(
                "Resources",
                format!(
                    "{} AwsIamAccessKey resources; a credential finding names one",
                    many.len()
                ),
            ))
        }
    };
    let instances = of_type("AwsEc2Instance");
    let instance = match instances.as_slice() {
        [one] => match one.get("Id") {
            Some(Value::String(arn)) => arn
                .rsplit_once(":instance/")
                .map(|(_, id)| Value::String(id.to_string()))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        _ => Value::Null,
    };
    Ok((key, instance))
}
