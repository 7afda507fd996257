//! Adapter tests of GuardDuty's `Findings` (VERIFY_FINDINGS) with `aws-smithy-mocks`: the real
//! SDK client with stubbed responses, no network. The exact request sent (detector, finding id),
//! GuardDuty's REST-JSON answer read back into the finding JSON the parser reads, and how its
//! errors map (the AWS code kept; throttling retried with the configured attempts).

mod common;

use aws_sdk_guardduty::operation::get_findings::GetFindingsOutput;
use aws_sdk_guardduty::operation::list_detectors::ListDetectorsOutput;
use aws_sdk_guardduty::types::{
    AccessKeyDetails, Finding, InstanceDetails, Resource, Service, ServiceAdditionalInfo,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use common::guardduty_loopback::wire_finding;
use serde_json::{json, Value};
use session_revoker::aws::guardduty::{finding_json, Findings, GuardDutyClient};
use session_revoker::input::parse_guardduty_finding;
use session_revoker::lambda::{retry_config, MAX_ATTEMPTS};

const DETECTOR: &str = "6ec7b0a4c1f6d12b8e3a9c1f00example";
const ID: &str = "c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10";

fn event_finding() -> Value {
    serde_json::from_str(include_str!("../events/assumed-role-finding.json")).unwrap()
}

/// An HTTP answer from GuardDuty (REST-JSON: the error code in `__type` and the header).
fn http(status: u16, body: Value) -> Response {
    let mut r = Response::new(status.try_into().unwrap(), SdkBody::from(body.to_string()));
    if let Some(code) = body["__type"].as_str() {
        r.headers_mut().insert("x-amzn-errortype", code.to_string());
    }
    r.headers_mut()
        .insert("content-type", "application/json".to_string());
    r
}

fn error(code: &str, message: &str) -> Value {
    json!({"__type": code, "message": message})
}

#[tokio::test]
async fn get_finding_asks_for_exactly_one_id_and_reads_guardduty_s_answer_like_an_event() {
    let wire = json!({ "findings": [wire_finding(&event_finding())] });
    let rule = mock!(aws_sdk_guardduty::Client::get_findings)
        .match_requests(|r| {
            r.detector_id() == Some(DETECTOR) && r.finding_ids() == [ID.to_string()].as_slice()
        })
        .then_http_response(move || http(200, wire.clone()));
    let gd = GuardDutyClient(mock_client!(aws_sdk_guardduty, [&rule]));
    let copy = gd.get_finding(DETECTOR, ID).await.unwrap().unwrap();
    assert_eq!(rule.num_calls(), 1);
    // Through the SDK's types and back, the parser reads the same incident as from the event.
    let from_guardduty = parse_guardduty_finding(&copy).unwrap();
    let from_event = parse_guardduty_finding(&event_finding()).unwrap();
    assert_eq!(from_guardduty.principal, from_event.principal);
    assert_eq!(from_guardduty.finding_arn, from_event.finding_arn);
    assert_eq!(from_guardduty.finding_type, from_event.finding_type);
    assert_eq!(from_guardduty.account, from_event.account);
    assert_eq!(from_guardduty.region, from_event.region);
    assert_eq!(from_guardduty.severity, from_event.severity);
    assert_eq!(from_guardduty.event_last_seen, from_event.event_last_seen);
    assert_eq!(from_guardduty.count, from_event.count);
    assert_eq!(from_guardduty.remote_ip, from_event.remote_ip);
    assert!(
        from_guardduty.ignored_fields.is_empty(),
        "{:?}",
        from_guardduty.ignored_fields
    );
}

#[tokio::test]
async fn typed_fields_become_the_finding_json_the_parser_reads() {
    let finding = Finding::builder()
        .account_id("123456789012")
        .region("eu-west-1")
        .id(ID)
        .arn(format!(
            "arn:aws:guardduty:eu-west-1:123456789012:detector/{DETECTOR}/finding/{ID}"
        ))
        .r#type("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
        .severity(8.0)
        .created_at("2026-11-30T10:00:00.000Z")
        .updated_at("2026-11-30T10:05:00.000Z")
        .resource(
            Resource::builder()
                .resource_type("AccessKey")
                .access_key_details(
                    AccessKeyDetails::builder()
                        .access_key_id("ASIAQEXAMPLE7WEBAPP1")
                        .principal_id("AROAQEXAMPLEWEBAPP01:i-0abc")
                        .user_name("web-app")
                        .user_type("AssumedRole")
                        .build(),
                )
                .instance_details(InstanceDetails::builder().instance_id("i-0abc").build())
                .build(),
        )
        .service(
            Service::builder()
                .count(3)
                .archived(false)
                .event_first_seen("2026-11-30T09:58:00.000Z")
                .event_last_seen("2026-11-30T10:04:00.000Z")
                .additional_info(
                    ServiceAdditionalInfo::builder()
                        .value(r#"{"sample":true}"#)
                        .r#type("default")
                        .build(),
                )
                .build(),
        )
        .build();
    let json = finding_json(&finding);
    let i = parse_guardduty_finding(&json).unwrap();
    assert_eq!(i.principal.name.as_deref(), Some("web-app"));
    assert_eq!(i.principal.session_name(), Some("i-0abc"));
    assert_eq!(i.instance_id.as_deref(), Some("i-0abc"));
    assert_eq!(i.region.as_deref(), Some("eu-west-1"));
    assert_eq!(i.count, Some(3));
    assert!(i.sample, "additionalInfo's value is read");
    assert!(i.finding_arn.is_some());
    assert!(i.ignored_fields.is_empty(), "{:?}", i.ignored_fields);
    // Nothing invented: what the SDK type lacks is absent, not null.
    let bare = finding_json(&Finding::builder().id("x").build());
    assert_eq!(bare, json!({"id": "x"}));
}

#[tokio::test]
async fn an_unknown_id_is_none() {
    let rule = mock!(aws_sdk_guardduty::Client::get_findings)
        .then_output(|| GetFindingsOutput::builder().build());
    // And a finding with another id in the answer is not the one asked for.
    let other = mock!(aws_sdk_guardduty::Client::get_findings).then_output(|| {
        GetFindingsOutput::builder()
            .findings(Finding::builder().id("someone-else").build())
            .build()
    });
    let gd = GuardDutyClient(mock_client!(
        aws_sdk_guardduty,
        RuleMode::Sequential,
        [&rule, &other]
    ));
    assert_eq!(gd.get_finding(DETECTOR, ID).await.unwrap(), None);
    assert_eq!(gd.get_finding(DETECTOR, ID).await.unwrap(), None);
}

#[tokio::test]
async fn access_denied_and_a_foreign_detector_keep_guardduty_s_code() {
    for (status, code, message) in [
        (
            403,
            "AccessDeniedException",
            "User is not authorized to perform: guardduty:GetFindings",
        ),
        (
            400,
            "BadRequestException",
            "The request is rejected because the input detectorId is not owned by the current account.",
        ),
    ] {
        let body = error(code, message);
        let rule = mock!(aws_sdk_guardduty::Client::get_findings)
            .then_http_response(move || http(status, body.clone()));
        let gd = GuardDutyClient(mock_client!(aws_sdk_guardduty, [&rule]));
        let e = gd.get_finding(DETECTOR, ID).await.unwrap_err();
        assert_eq!(e.operation, "GetFindings");
        assert_eq!(e.code, code);
        assert_eq!(e.message, message);
        assert_eq!(rule.num_calls(), 1, "{code} is not retried");
    }
}

#[tokio::test]
async fn throttling_is_retried_with_the_configured_attempts() {
    let throttled = || Some(error("ThrottlingException", "Rate exceeded").to_string());
    let wire = json!({ "findings": [wire_finding(&event_finding())] });
    let rule = mock!(aws_sdk_guardduty::Client::get_findings)
        .sequence()
        .http_status(429, throttled())
        .times(2)
        .http_response(move || http(200, wire.clone()))
        .build();
    let gd = GuardDutyClient(mock_client!(
        aws_sdk_guardduty,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    assert!(gd.get_finding(DETECTOR, ID).await.unwrap().is_some());
    assert_eq!(rule.num_calls(), 3);

    let rule = mock!(aws_sdk_guardduty::Client::get_findings)
        .sequence()
        .http_status(429, throttled())
        .repeatedly()
        .build();
    let gd = GuardDutyClient(mock_client!(
        aws_sdk_guardduty,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    let e = gd.get_finding(DETECTOR, ID).await.unwrap_err();
    assert_eq!(e.code, "ThrottlingException");
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn list_detectors_returns_this_account_s_detectors() {
    let rule = mock!(aws_sdk_guardduty::Client::list_detectors).then_output(|| {
        ListDetectorsOutput::builder()
            .detector_ids("admindetector")
            .build()
    });
    let gd = GuardDutyClient(mock_client!(aws_sdk_guardduty, [&rule]));
    assert_eq!(gd.list_detectors().await.unwrap(), vec!["admindetector"]);
    let denied = mock!(aws_sdk_guardduty::Client::list_detectors)
        .then_http_response(|| http(403, error("AccessDeniedException", "no")));
    let gd = GuardDutyClient(mock_client!(aws_sdk_guardduty, [&denied]));
    assert_eq!(
        gd.list_detectors().await.unwrap_err().code,
        "AccessDeniedException"
    );
}
