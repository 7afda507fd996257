//! Adapter tests for following the attacker: CloudTrail `LookupEvents` and EventBridge
//! Scheduler `CreateSchedule`, with `aws-smithy-mocks` (the real SDK clients with stubbed
//! responses; no network).

use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::types::{Event, LookupAttributeKey};
use aws_sdk_scheduler::operation::create_schedule::CreateScheduleOutput;
use aws_sdk_scheduler::types::{ActionAfterCompletion, FlexibleTimeWindowMode};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use revoker_core::follow::{observe, Observed};
use session_revoker::aws::cloudtrail::CloudTrailClient;
use session_revoker::aws::scheduler::SchedulerClient;
use session_revoker::aws::{EventHistory, OneTimeSchedule, ScheduleCreated, Schedules};
use session_revoker::lambda::{retry_config, MAX_ATTEMPTS};
use time::macros::datetime;

const KEY: &str = "ASIAFINDINGKEY000001";

/// A JSON-protocol error body (`__type` carries the code).
fn json_error(code: &str, message: &str) -> String {
    format!(r#"{{"__type":"{code}","message":"{message}"}}"#)
}

fn record(name: &str, source: &str, request: &str, response: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","principalId":"AROAWEBAPPROLE000001:i-0123456789abcdef0","arn":"arn:aws:sts::111122223333:assumed-role/web-app/i-0123456789abcdef0","accountId":"111122223333","accessKeyId":"{KEY}"}},"eventTime":"2026-11-30T08:51:10Z","eventSource":"{source}","eventName":"{name}","awsRegion":"us-east-1","requestParameters":{request},"responseElements":{response},"eventID":"00000000-0000-4000-8000-00000000000{}","recipientAccountId":"111122223333"}}"#,
        name.len() % 10
    )
}

fn event(name: &str, cloud_trail_event: String) -> Event {
    Event::builder()
        .event_id(format!("id-{name}"))
        .event_name(name)
        .access_key_id(KEY)
        .cloud_trail_event(cloud_trail_event)
        .build()
}

#[tokio::test]
async fn lookup_events_asks_for_the_key_in_the_window_and_passes_the_page_token_on() {
    let start = datetime!(2026-11-30 08:00:00 UTC);
    let end = datetime!(2026-11-30 10:00:00 UTC);
    let first = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .match_requests(move |r| {
            let attr = &r.lookup_attributes()[0];
            attr.attribute_key() == &LookupAttributeKey::AccessKeyId
                && attr.attribute_value() == KEY
                && r.start_time().map(|t| t.secs()) == Some(start.unix_timestamp())
                && r.end_time().map(|t| t.secs()) == Some(end.unix_timestamp())
                && r.next_token().is_none()
                && r.max_results() == Some(50)
        })
        .then_output(|| {
            LookupEventsOutput::builder()
                .events(event(
                    "AssumeRole",
                    record(
                        "AssumeRole",
                        "sts.amazonaws.com",
                        r#"{"roleArn":"arn:aws:iam::111122223333:role/deploy","roleSessionName":"x-deploy"}"#,
                        r#"{"credentials":{"accessKeyId":"ASIACHAINKEY00000001"},"assumedRoleUser":{"assumedRoleId":"AROADEPLOYROLE000001:x-deploy","arn":"arn:aws:sts::111122223333:assumed-role/deploy/x-deploy"}}"#,
                    ),
                ))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            LookupEventsOutput::builder()
                .events(event(
                    "CreateAccessKey",
                    record(
                        "CreateAccessKey",
                        "iam.amazonaws.com",
                        r#"{"userName":"backup-svc"}"#,
                        r#"{"accessKey":{"userName":"backup-svc","accessKeyId":"AKIAATTACKERKEY00001","status":"Active"}}"#,
                    ),
                ))
                .events(event(
                    "GetFederationToken",
                    record(
                        "GetFederationToken",
                        "sts.amazonaws.com",
                        r#"{"name":"fed-x"}"#,
                        r#"{"credentials":{"accessKeyId":"ASIAMINTEDFEDERAT001"},"federatedUser":{"federatedUserId":"111122223333:fed-x","arn":"arn:aws:sts::111122223333:federated-user/fed-x"}}"#,
                    ),
                ))
                .build()
        });
    let trail = CloudTrailClient(mock_client!(
        aws_sdk_cloudtrail,
        RuleMode::MatchAny,
        [&first, &second]
    ));

    let page = trail
        .lookup_events_by_key(KEY, start, end, None)
        .await
        .unwrap();
    assert_eq!(page.next_token.as_deref(), Some("page-2"));
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event_name.as_deref(), Some("AssumeRole"));
    assert_eq!(page.events[0].access_key_id.as_deref(), Some(KEY));
    assert!(
        matches!(observe(&page.events[0], KEY), Observed::Session(s) if s.assumed_role_id == "AROADEPLOYROLE000001:x-deploy")
    );

    let page = trail
        .lookup_events_by_key(KEY, start, end, page.next_token)
        .await
        .unwrap();
    assert_eq!(page.next_token, None);
    // The adapter hands every field the planner reads through unchanged: one event of each
    // kind is read as that kind.
    assert!(matches!(
        observe(&page.events[0], KEY),
        Observed::Persistence(_)
    ));
    // This record names an AssumedRole caller, so GetFederationToken is not a user's token:
    // whatever the planner makes of it, it is not mistaken for a session.
    assert!(!matches!(
        observe(&page.events[1], KEY),
        Observed::Session(_)
    ));
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn lookup_events_throttling_is_retried_then_reported_with_its_code() {
    let start = datetime!(2026-11-30 08:00:00 UTC);
    let end = datetime!(2026-11-30 10:00:00 UTC);
    let throttled = || json_error("ThrottlingException", "Rate exceeded");
    let rule = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .sequence()
        .http_status(400, Some(throttled()))
        .times(2)
        .output(|| LookupEventsOutput::builder().build())
        .build();
    let trail = CloudTrailClient(mock_client!(
        aws_sdk_cloudtrail,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    let page = trail
        .lookup_events_by_key(KEY, start, end, None)
        .await
        .unwrap();
    assert!(page.events.is_empty());
    assert_eq!(rule.num_calls(), 3);

    let rule = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .sequence()
        .http_status(400, Some(throttled()))
        .repeatedly()
        .build();
    let trail = CloudTrailClient(mock_client!(
        aws_sdk_cloudtrail,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    let err = trail
        .lookup_events_by_key(KEY, start, end, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, "ThrottlingException");
    assert_eq!(err.operation, "LookupEvents");
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
}

fn schedule() -> OneTimeSchedule {
    OneTimeSchedule {
        name: "session-revoker-0123456789abcdef-1796040000".into(),
        at: datetime!(2026-11-30 10:17:30 UTC),
        target_arn: "arn:aws:lambda:us-east-1:111122223333:function:session-revoker".into(),
        role_arn: "arn:aws:iam::111122223333:role/session-revoker-FollowUpSchedulerRole".into(),
        input: r#"{"detail-type":"GuardDuty Finding"}"#.into(),
        description: "one more look".into(),
    }
}

#[tokio::test]
async fn create_schedule_is_one_time_in_utc_deleted_after_it_ran() {
    let rule = mock!(aws_sdk_scheduler::Client::create_schedule)
        .match_requests(|r| {
            let target = r.target().expect("target");
            r.name() == Some("session-revoker-0123456789abcdef-1796040000")
                && r.schedule_expression() == Some("at(2026-11-30T10:17:30)")
                && r.schedule_expression_timezone() == Some("UTC")
                && r.flexible_time_window().map(|w| w.mode()) == Some(&FlexibleTimeWindowMode::Off)
                && r.action_after_completion() == Some(&ActionAfterCompletion::Delete)
                && target.arn() == "arn:aws:lambda:us-east-1:111122223333:function:session-revoker"
                && target.role_arn()
                    == "arn:aws:iam::111122223333:role/session-revoker-FollowUpSchedulerRole"
                && target.input() == Some(r#"{"detail-type":"GuardDuty Finding"}"#)
                // template.yaml's FollowUpDeadLetterQueue, by the function's name.
                && target.dead_letter_config().and_then(|d| d.arn())
                    == Some("arn:aws:sqs:us-east-1:111122223333:session-revoker-next-look-dlq")
        })
        .then_output(|| {
            CreateScheduleOutput::builder()
                .schedule_arn("arn:aws:scheduler:us-east-1:111122223333:schedule/default/x")
                .build()
                .unwrap()
        });
    let scheduler = SchedulerClient(mock_client!(aws_sdk_scheduler, [&rule]));
    assert_eq!(
        scheduler.create_one_time(&schedule()).await.unwrap(),
        ScheduleCreated::Created(
            "arn:aws:scheduler:us-east-1:111122223333:schedule/default/x".into()
        )
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn create_schedule_conflict_means_already_scheduled_and_other_errors_keep_their_code() {
    let conflict = mock!(aws_sdk_scheduler::Client::create_schedule).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            409.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(json_error(
                "ConflictException",
                "Schedule session-revoker-0123456789abcdef-1796040000 already exists.",
            )),
        )
    });
    let scheduler = SchedulerClient(mock_client!(aws_sdk_scheduler, [&conflict]));
    assert_eq!(
        scheduler.create_one_time(&schedule()).await.unwrap(),
        ScheduleCreated::AlreadyExists
    );

    let denied = mock!(aws_sdk_scheduler::Client::create_schedule).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            403.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(json_error(
                "AccessDeniedException",
                "not authorized to perform: iam:PassRole",
            )),
        )
    });
    let scheduler = SchedulerClient(mock_client!(aws_sdk_scheduler, [&denied]));
    let err = scheduler.create_one_time(&schedule()).await.unwrap_err();
    assert_eq!(err.code, "AccessDeniedException");
    assert_eq!(err.operation, "CreateSchedule");
}

#[tokio::test]
async fn describe_regions_lists_the_enabled_regions_and_keeps_the_aws_code() {
    use aws_sdk_ec2::operation::describe_regions::DescribeRegionsOutput;
    use aws_sdk_ec2::types::Region;
    use session_revoker::aws::ec2::Ec2Client;
    use session_revoker::aws::EnabledRegions;
    let region = |name: &str, opt_in: &str| {
        Region::builder()
            .region_name(name)
            .opt_in_status(opt_in)
            .build()
    };
    // Only the account's enabled regions are asked for (AllRegions unset); one that is listed
    // anyway as not opted in is left out: nothing can be called there.
    let rule = mock!(aws_sdk_ec2::Client::describe_regions)
        .match_requests(|r| r.all_regions().is_none() && r.region_names().is_empty())
        .then_output(move || {
            DescribeRegionsOutput::builder()
                .regions(region("us-east-1", "opt-in-not-required"))
                .regions(region("ap-southeast-2", "opt-in-not-required"))
                .regions(region("af-south-1", "opted-in"))
                .regions(region("me-south-1", "not-opted-in"))
                .build()
        });
    let ec2 = Ec2Client(mock_client!(aws_sdk_ec2, [&rule]));
    assert_eq!(
        ec2.enabled_regions().await.unwrap(),
        vec!["us-east-1", "ap-southeast-2", "af-south-1"]
    );
    assert_eq!(rule.num_calls(), 1);

    let denied = mock!(aws_sdk_ec2::Client::describe_regions).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            403.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>1</RequestID></Response>",
            ),
        )
    });
    let ec2 = Ec2Client(mock_client!(aws_sdk_ec2, [&denied]));
    let err = ec2.enabled_regions().await.unwrap_err();
    assert_eq!(err.operation, "DescribeRegions");
    assert_eq!(err.code, "UnauthorizedOperation");
}
