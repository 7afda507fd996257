//! Adapter tests: the exact requests the AWS traits send, and how AWS errors map, with
//! `aws-smithy-mocks` (the real SDK clients with stubbed responses; no network).

use aws_sdk_iam::operation::get_role::GetRoleOutput;
use aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput;
use aws_sdk_iam::operation::put_role_policy::PutRolePolicyOutput;
use aws_sdk_iam::types::Role;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use session_revoker::aws::ec2::Ec2Client;
use session_revoker::aws::iam::IamClient;
use session_revoker::aws::sns::SnsClient;
use session_revoker::aws::{AccessKeys, Ec2, Notifier, Publication, RolePolicies, Roles};
use session_revoker::lambda::{retry_config, MAX_ATTEMPTS};

fn iam_error(status: u16, code: &str, message: &str) -> Option<String> {
    let _ = status;
    Some(format!(
        r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4b8e8f1c</RequestId></ErrorResponse>"#
    ))
}

fn role(name: &str) -> Role {
    Role::builder()
        .role_name(name)
        .arn(format!("arn:aws:iam::111122223333:role/{name}"))
        .path("/")
        .role_id("AROAEXAMPLEROLEID0001")
        .create_date(aws_smithy_types::DateTime::from_secs(0))
        .build()
        .unwrap()
}

#[tokio::test]
async fn get_role_maps_no_such_entity_to_none() {
    let found = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("web-app"))
        .then_output(|| GetRoleOutput::builder().role(role("web-app")).build());
    let missing = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("ghost"))
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                404.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    iam_error(
                        404,
                        "NoSuchEntity",
                        "The role with name ghost cannot be found.",
                    )
                    .unwrap(),
                ),
            )
        });
    let iam = IamClient(mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&found, &missing]
    ));
    let info = iam.get_role("web-app").await.unwrap().unwrap();
    assert_eq!(info.role_id, "AROAEXAMPLEROLEID0001");
    assert_eq!(iam.get_role("ghost").await.unwrap(), None);
    assert_eq!(found.num_calls(), 1);
    assert_eq!(missing.num_calls(), 1);
}

#[tokio::test]
async fn get_role_policy_decodes_the_url_encoded_document() {
    let rule = mock!(aws_sdk_iam::Client::get_role_policy)
        .match_requests(|r| {
            r.role_name() == Some("web-app") && r.policy_name() == Some("AWSRevokeOlderSessions")
        })
        .then_output(|| {
            GetRolePolicyOutput::builder()
                .role_name("web-app")
                .policy_name("AWSRevokeOlderSessions")
                .policy_document("%7B%22Version%22%3A%222012-10-17%22%7D")
                .build()
                .unwrap()
        });
    let iam = IamClient(mock_client!(aws_sdk_iam, [&rule]));
    assert_eq!(
        iam.get_role_policy("web-app", "AWSRevokeOlderSessions")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"Version":"2012-10-17"}"#)
    );
}

#[tokio::test]
async fn put_role_policy_sends_exactly_the_document() {
    let doc = session_revoker::policy::RevocationPolicy {
        cutoff: time::macros::datetime!(2026-11-22 03:00:30 UTC),
    }
    .to_json();
    let expected = doc.clone();
    let rule = mock!(aws_sdk_iam::Client::put_role_policy)
        .match_requests(move |r| {
            r.role_name() == Some("web-app")
                && r.policy_name() == Some("AWSRevokeOlderSessions")
                && r.policy_document() == Some(expected.as_str())
        })
        .then_output(|| PutRolePolicyOutput::builder().build());
    let iam = IamClient(mock_client!(aws_sdk_iam, [&rule]));
    iam.put_role_policy("web-app", "AWSRevokeOlderSessions", &doc)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn error_codes_and_messages_are_kept() {
    for (status, code) in [
        (409, "UnmodifiableEntity"),
        (403, "AccessDenied"),
        (409, "LimitExceeded"),
        (400, "MalformedPolicyDocument"),
    ] {
        let rule = mock!(aws_sdk_iam::Client::put_role_policy).then_http_response(move || {
            aws_smithy_runtime_api::http::Response::new(
                status.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    iam_error(status, code, "refused by the test").unwrap(),
                ),
            )
        });
        let iam = IamClient(mock_client!(aws_sdk_iam, [&rule]));
        let err = iam.put_role_policy("web-app", "p", "{}").await.unwrap_err();
        assert_eq!(err.operation, "PutRolePolicy");
        assert_eq!(err.code, code);
        assert_eq!(err.message, "refused by the test");
        assert_eq!(rule.num_calls(), 1, "{code} is not retried");
    }
}

#[tokio::test]
async fn throttling_is_retried_with_the_configured_attempts() {
    let throttled = || iam_error(400, "Throttling", "Rate exceeded");
    // Two throttles, then success: the caller sees success.
    let rule = mock!(aws_sdk_iam::Client::put_role_policy)
        .sequence()
        .http_status(400, throttled())
        .times(2)
        .output(|| PutRolePolicyOutput::builder().build())
        .build();
    let iam = IamClient(mock_client!(
        aws_sdk_iam,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    iam.put_role_policy("web-app", "p", "{}").await.unwrap();
    assert_eq!(rule.num_calls(), 3);

    // Throttled every time: gives up after MAX_ATTEMPTS with the AWS code.
    let rule = mock!(aws_sdk_iam::Client::put_role_policy)
        .sequence()
        .http_status(400, throttled())
        .repeatedly()
        .build();
    let iam = IamClient(mock_client!(
        aws_sdk_iam,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    let err = iam.put_role_policy("web-app", "p", "{}").await.unwrap_err();
    assert_eq!(err.code, "Throttling");
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);

    // 5xx too.
    let rule = mock!(aws_sdk_iam::Client::get_role)
        .sequence()
        .http_status(503, None)
        .output(|| GetRoleOutput::builder().role(role("web-app")).build())
        .build();
    let iam = IamClient(mock_client!(
        aws_sdk_iam,
        RuleMode::Sequential,
        [&rule],
        |c| c.retry_config(retry_config())
    ));
    assert!(iam.get_role("web-app").await.unwrap().is_some());
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn update_access_key_deactivates_exactly_the_named_key() {
    let rule = mock!(aws_sdk_iam::Client::update_access_key)
        .match_requests(|r| {
            r.user_name() == Some("ci-bot")
                && r.access_key_id() == Some("AKIAEXAMPLESTOLENKEY")
                && r.status() == Some(&aws_sdk_iam::types::StatusType::Inactive)
        })
        .then_output(|| {
            aws_sdk_iam::operation::update_access_key::UpdateAccessKeyOutput::builder().build()
        });
    let iam = IamClient(mock_client!(aws_sdk_iam, [&rule]));
    iam.deactivate_access_key("ci-bot", "AKIAEXAMPLESTOLENKEY")
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn publish_sends_json_structure_subject_and_attributes() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            let attrs = r.message_attributes().unwrap();
            r.topic_arn() == Some("arn:aws:sns:eu-west-1:111122223333:reports")
                && r.subject() == Some("[session-revoker] REVOKED")
                && r.message_structure() == Some("json")
                && attrs["outcome"].string_value() == Some("revoked")
                && attrs["outcome"].data_type() == "String"
        })
        .then_output(|| {
            aws_sdk_sns::operation::publish::PublishOutput::builder()
                .message_id("m-1")
                .build()
        });
    let sns = SnsClient(mock_client!(aws_sdk_sns, [&rule]));
    let id = sns
        .publish(&Publication {
            topic_arn: "arn:aws:sns:eu-west-1:111122223333:reports".into(),
            subject: "[session-revoker] REVOKED".into(),
            message: r#"{"default":"text"}"#.into(),
            attributes: vec![("outcome".into(), "revoked".into())],
        })
        .await
        .unwrap();
    assert_eq!(id, "m-1");
}

#[tokio::test]
async fn publish_errors_keep_the_sns_code() {
    let rule = mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            404.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error></ErrorResponse>"#,
            ),
        )
    });
    let sns = SnsClient(mock_client!(aws_sdk_sns, [&rule]));
    let p = Publication {
        topic_arn: "arn:aws:sns:eu-west-1:111122223333:gone".into(),
        subject: "s".into(),
        message: "{}".into(),
        attributes: vec![],
    };
    let err = sns.publish(&p).await.unwrap_err();
    assert_eq!((err.operation, err.code.as_str()), ("Publish", "NotFound"));
}

#[tokio::test]
async fn describe_associations_filters_by_instance_and_live_states() {
    let rule = mock!(aws_sdk_ec2::Client::describe_iam_instance_profile_associations)
        .match_requests(|r| {
            let f = r.filters();
            f.len() == 2
                && f[0].name() == Some("instance-id")
                && f[0].values() == ["i-0123456789abcdef0"]
                && f[1].name() == Some("state")
                && f[1].values() == ["associating", "associated", "disassociating"]
        })
        .then_output(|| {
            aws_sdk_ec2::operation::describe_iam_instance_profile_associations::DescribeIamInstanceProfileAssociationsOutput::builder()
                .iam_instance_profile_associations(
                    aws_sdk_ec2::types::IamInstanceProfileAssociation::builder()
                        .association_id("iip-assoc-1")
                        .instance_id("i-0123456789abcdef0")
                        .iam_instance_profile(
                            aws_sdk_ec2::types::IamInstanceProfile::builder().arn("arn:aws:iam::111122223333:instance-profile/web").build(),
                        )
                        .state(aws_sdk_ec2::types::IamInstanceProfileAssociationState::Associated)
                        .build(),
                )
                .build()
        });
    let ec2 = Ec2Client(mock_client!(aws_sdk_ec2, [&rule]));
    let list = ec2
        .describe_associations("i-0123456789abcdef0")
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].state,
        session_revoker::model::AssociationState::Associated
    );
    assert_eq!(
        list[0].profile_arn,
        "arn:aws:iam::111122223333:instance-profile/web"
    );
}

/// Accounts that hand out one mocked IAM client (the responder's own account).
struct MockedAccount(session_revoker::accounts::AccountAccess);

impl session_revoker::accounts::Accounts for MockedAccount {
    fn identity(
        &self,
    ) -> futures::future::BoxFuture<
        '_,
        Result<session_revoker::accounts::Identity, session_revoker::error::AwsError>,
    > {
        Box::pin(async {
            Ok(session_revoker::accounts::Identity {
                account: "111122223333".into(),
                role_name: Some("session-revoker".into()),
            })
        })
    }
    fn access<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> futures::future::BoxFuture<
        'a,
        Result<session_revoker::accounts::AccountAccess, session_revoker::accounts::Unreachable>,
    > {
        Box::pin(async { Ok(self.0.clone()) })
    }
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_fails_the_invocation_with_attempts_reported() {
    use std::sync::Arc;
    let get_role = mock!(aws_sdk_iam::Client::get_role)
        .then_output(|| GetRoleOutput::builder().role(role("web-app")).build());
    let no_policy = mock!(aws_sdk_iam::Client::get_role_policy).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            404.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                iam_error(404, "NoSuchEntity", "no policy").unwrap(),
            ),
        )
    });
    let throttled = mock!(aws_sdk_iam::Client::put_role_policy)
        .sequence()
        .http_status(400, iam_error(400, "Throttling", "Rate exceeded"))
        .repeatedly()
        .build();
    let client = mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&get_role, &no_policy, &throttled],
        |c| c.retry_config(retry_config())
    );
    let ec2: session_revoker::accounts::Ec2Factory =
        Arc::new(|_| unreachable!("no EC2 in this test"));
    let access = session_revoker::accounts::AccountAccess::new(
        "111122223333".into(),
        Arc::new(IamClient(client)),
        None,
        ec2,
    );
    let responder = session_revoker::respond::Responder {
        config: session_revoker::config::Config::default(),
        clock: Arc::new(session_revoker::clock::SystemClock),
        accounts: Arc::new(MockedAccount(access)),
        notifier: None,
    };
    let finding = serde_json::json!({
        "id": "f-throttle", "accountId": "111122223333", "region": "eu-west-1", "severity": 8,
        "type": "UnauthorizedAccess:IAMUser/TorIPCaller",
        "resource": {"accessKeyDetails": {"userType": "AssumedRole", "userName": "web-app", "principalId": "AROAEXAMPLEROLEID0001:s"}},
        "service": {"eventLastSeen": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()}
    });
    let err = responder
        .respond(&finding, session_revoker::respond::Budget::UNLIMITED)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ActionsFailed");
    let msg = err.to_string();
    assert!(
        msg.contains("retryable")
            && msg.contains("Throttling")
            && msg.contains(&format!("up to {MAX_ATTEMPTS} attempts")),
        "{msg}"
    );
    assert_eq!(throttled.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn get_role_answers_the_roles_tags_so_no_tag_read_of_its_own() {
    use aws_sdk_iam::types::Tag;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let tagged = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("web-app"))
        .then_output(move || {
            let mut r = role("web-app");
            r.tags = Some(vec![
                tag("team", "payments"),
                // IAM keeps one key per role whatever its case: a person's spelling counts.
                tag("Session-Revoker:Approval", "required"),
            ]);
            GetRoleOutput::builder().role(r).build()
        });
    let untagged = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|r| r.role_name() == Some("batch"))
        .then_output(|| GetRoleOutput::builder().role(role("batch")).build());
    let iam = IamClient(mock_client!(
        aws_sdk_iam,
        RuleMode::MatchAny,
        [&tagged, &untagged]
    ));
    let key = "session-revoker:approval";
    let web = iam.get_role("web-app").await.unwrap().unwrap();
    assert_eq!(web.tag(key), Some("required"));
    assert_eq!(web.tag("team"), Some("payments"));
    let batch = iam.get_role("batch").await.unwrap().unwrap();
    assert!(batch.tags.is_empty());
    assert_eq!(batch.tag(key), None);
}

#[tokio::test]
async fn the_recheck_is_sent_to_the_queue_as_is_and_the_sender_read_once() {
    use aws_sdk_sqs::operation::send_message::SendMessageOutput;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
    use session_revoker::aws::sqs::{RecheckQueue, SqsRecheckQueue};
    const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/recheck";
    let body = r#"{"version":1,"account":"123456789012","role":"web-app","policy":"role_wide","cutoff":"2026-11-22T03:00:30Z","look":0}"#;
    let send = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(move |r| {
            r.queue_url() == Some(URL)
                && r.message_body() == Some(body)
                // The look's own delay (the settle interval), not the queue's default.
                && r.delay_seconds() == Some(3)
        })
        .then_output(|| SendMessageOutput::builder().message_id("m-1").build());
    let identity = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        GetCallerIdentityOutput::builder()
            .user_id("AROAEXAMPLEEXAMPLE01:session-revoker")
            .build()
    });
    let queue = SqsRecheckQueue {
        sqs: mock_client!(aws_sdk_sqs, [&send]),
        sts: mock_client!(aws_sdk_sts, [&identity]),
        url: URL.into(),
        own: tokio::sync::OnceCell::new(),
    };
    assert_eq!(queue.send(body, Some(3)).await.unwrap(), "m-1");
    assert_eq!(send.num_calls(), 1);
    for _ in 0..2 {
        assert_eq!(
            queue.own_sender_id().await.unwrap(),
            "AROAEXAMPLEEXAMPLE01:session-revoker"
        );
    }
    assert_eq!(identity.num_calls(), 1, "read once per container");
}

#[tokio::test]
async fn a_refused_recheck_send_keeps_the_aws_code() {
    use session_revoker::aws::sqs::{RecheckQueue, SqsRecheckQueue};
    let send = mock!(aws_sdk_sqs::Client::send_message).then_http_response(|| {
        let mut response = aws_smithy_runtime_api::http::Response::new(
            400.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"refused by the test"}"#,
            ),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        response
    });
    let queue = SqsRecheckQueue {
        sqs: mock_client!(aws_sdk_sqs, [&send]),
        sts: mock_client!(aws_sdk_sts, []),
        url: "https://sqs.us-east-1.amazonaws.com/123456789012/recheck".into(),
        own: tokio::sync::OnceCell::new(),
    };
    let err = queue.send("{}", None).await.unwrap_err();
    assert_eq!(err.operation, "SendMessage");
    assert_eq!(err.code, "AccessDeniedException");
    assert_eq!(err.message, "refused by the test");
}
