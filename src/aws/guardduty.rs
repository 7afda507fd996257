//! GuardDuty's own copy of a finding (VERIFY_FINDINGS), through `aws_sdk_guardduty`.
//!
//! The SDK's typed `Finding` is turned back into GuardDuty's finding JSON (camelCase, the fields
//! `revoker_core::input` reads) so that GuardDuty's copy goes through exactly the parser and
//! validation of the finding the responder was handed (`revoker_core::verify`).

use super::AwsResult;
use crate::error::from_sdk;
use aws_sdk_guardduty::types::Finding;
use aws_sdk_guardduty::Client;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

/// Reading findings from GuardDuty, in one account and region (the client's).
pub trait Findings: Send + Sync {
    /// `ListDetectors`: this account's detector ids in the region (at most one in practice). An
    /// administrator reads its members' findings through its own detector, whose id the
    /// member's finding ARN does not carry.
    fn list_detectors(&self) -> BoxFuture<'_, AwsResult<Vec<String>>>;
    /// `GetFindings` for one finding id: the finding as GuardDuty's JSON, `Ok(None)` when
    /// GuardDuty returns no finding with that id.
    fn get_finding<'a>(
        &'a self,
        detector_id: &'a str,
        finding_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<Value>>>;
}

pub struct GuardDutyClient(pub Client);

impl Findings for GuardDutyClient {
    fn list_detectors(&self) -> BoxFuture<'_, AwsResult<Vec<String>>> {
        async move {
            // One page: an account has one detector per region; 50 is the API's page limit.
            let out = self
                .0
                .list_detectors()
                .max_results(50)
                .send()
                .await
                .map_err(|e| from_sdk("ListDetectors", e))?;
            Ok(out.detector_ids().to_vec())
        }
        .boxed()
    }

    fn get_finding<'a>(
        &'a self,
        detector_id: &'a str,
        finding_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<Value>>> {
        async move {
            let out = self
                .0
                .get_findings()
                .detector_id(detector_id)
                .finding_ids(finding_id)
                .send()
                .await
                .map_err(|e| from_sdk("GetFindings", e))?;
            // Only the finding asked for: anything else in the answer is not it.
            Ok(out
                .findings()
                .iter()
                .find(|f| f.id() == Some(finding_id))
                .map(finding_json))
        }
        .boxed()
    }
}

/// GuardDuty's finding JSON (as in its EventBridge events) for the SDK's `Finding`: the fields
/// the parser reads, absent ones left out. `service.additionalInfo` keeps the API's shape
/// (`{"value": "<json>", "type": ...}`), which the parser reads as well.
pub fn finding_json(f: &Finding) -> Value {
    let mut out = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.to_string(), v);
        }
    };
    let s = |v: Option<&str>| v.map(|s| Value::String(s.to_string()));
    put("schemaVersion", s(f.schema_version()));
    put("accountId", s(f.account_id()));
    put("region", s(f.region()));
    put("partition", s(f.partition()));
    put("id", s(f.id()));
    put("arn", s(f.arn()));
    put("type", s(f.r#type()));
    put("title", s(f.title()));
    put("severity", f.severity().map(|x| json!(x)));
    put("createdAt", s(f.created_at()));
    put("updatedAt", s(f.updated_at()));
    if let Some(r) = f.resource() {
        let mut resource = Map::new();
        if let Some(t) = r.resource_type() {
            resource.insert("resourceType".into(), json!(t));
        }
        if let Some(k) = r.access_key_details() {
            resource.insert(
                "accessKeyDetails".into(),
                strip_nulls(json!({
                    "accessKeyId": k.access_key_id(),
                    "principalId": k.principal_id(),
                    "userName": k.user_name(),
                    "userType": k.user_type(),
                })),
            );
        }
        if let Some(i) = r.instance_details() {
            resource.insert(
                "instanceDetails".into(),
                strip_nulls(json!({"instanceId": i.instance_id()})),
            );
        }
        put("resource", Some(Value::Object(resource)));
    }
    if let Some(sv) = f.service() {
        let remote_ip = sv
            .action()
            .and_then(|a| a.aws_api_call_action())
            .and_then(|a| a.remote_ip_details())
            .and_then(|r| r.ip_address_v4());
        let mut service = strip_nulls(json!({
            "eventFirstSeen": sv.event_first_seen(),
            "eventLastSeen": sv.event_last_seen(),
            "count": sv.count(),
            "archived": sv.archived(),
            "detectorId": sv.detector_id(),
        }));
        if let (Value::Object(o), Some(ip)) = (&mut service, remote_ip) {
            o.insert(
                "action".into(),
                json!({"awsApiCallAction": {"remoteIpDetails": {"ipAddressV4": ip}}}),
            );
        }
        if let (Value::Object(o), Some(info)) = (&mut service, sv.additional_info()) {
            o.insert(
                "additionalInfo".into(),
                strip_nulls(json!({"value": info.value(), "type": info.r#type()})),
            );
        }
        put("service", Some(service));
    }
    Value::Object(out)
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}
