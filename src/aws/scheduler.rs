//! EventBridge Scheduler (`CreateSchedule`) through `aws_sdk_scheduler`: the one-time schedule
//! that runs the function again for the look after CloudTrail's delivery lag.

use super::{AwsResult, OneTimeSchedule, ScheduleCreated, Schedules};
use crate::error::{from_sdk, AwsError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
    RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;
use futures::future::BoxFuture;
use futures::FutureExt;
use time::macros::format_description;

pub struct SchedulerClient(pub Client);

/// `at(yyyy-mm-ddThh:mm:ss)` (Scheduler's one-time expression; the time zone is given apart).
pub fn at_expression(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let f = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    format!("at({})", at.format(&f).unwrap_or_default())
}

/// The schedule's dead-letter queue, by the name `template.yaml` gives it
/// (`FollowUpDeadLetterQueue`: `<function name>-next-look-dlq`, in the function's account and
/// region): `arn:aws:lambda:r:a:function:NAME` -> `arn:aws:sqs:r:a:NAME-next-look-dlq`. Without
/// one, a look Scheduler cannot deliver (invoke refused, function gone) is dropped after its
/// retries while the report says `scheduled`. `None` for a target that is not a function ARN.
pub fn dead_letter_arn(target_arn: &str) -> Option<String> {
    let parts: Vec<&str> = target_arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "lambda", region, account, "function", name]
            if !name.is_empty() && name.len() <= 64 =>
        {
            Some(format!(
                "arn:{partition}:sqs:{region}:{account}:{name}-next-look-dlq"
            ))
        }
        _ => None,
    }
}

impl Schedules for SchedulerClient {
    fn create_one_time<'a>(
        &'a self,
        schedule: &'a OneTimeSchedule,
    ) -> BoxFuture<'a, AwsResult<ScheduleCreated>> {
        async move {
            let build = |e: aws_smithy_types::error::operation::BuildError| {
                AwsError::new("CreateSchedule", "InvalidParameter", e.to_string())
            };
            let target = Target::builder()
                .arn(&schedule.target_arn)
                .role_arn(&schedule.role_arn)
                .input(&schedule.input)
                // Lambda's own async retries apply after the invocation; the schedule retries
                // delivery a few times within an hour.
                .retry_policy(
                    RetryPolicy::builder()
                        .maximum_retry_attempts(3)
                        .maximum_event_age_in_seconds(3600)
                        .build(),
                )
                .set_dead_letter_config(
                    dead_letter_arn(&schedule.target_arn)
                        .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
                )
                .build()
                .map_err(build)?;
            let window = FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .map_err(build)?;
            let result = self
                .0
                .create_schedule()
                .name(&schedule.name)
                .schedule_expression(at_expression(schedule.at))
                .schedule_expression_timezone("UTC")
                .flexible_time_window(window)
                .target(target)
                .action_after_completion(ActionAfterCompletion::Delete)
                .description(&schedule.description)
                .send()
                .await;
            match result {
                Ok(out) => Ok(ScheduleCreated::Created(out.schedule_arn().to_string())),
                Err(e) => {
                    let e = from_sdk("CreateSchedule", e);
                    // The same look already scheduled (a re-delivered event, a Lambda retry).
                    if e.code == "ConflictException" {
                        Ok(ScheduleCreated::AlreadyExists)
                    } else {
                        Err(e)
                    }
                }
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::dead_letter_arn;

    #[test]
    fn the_dead_letter_queue_follows_the_function_name() {
        assert_eq!(
            dead_letter_arn("arn:aws:lambda:eu-west-1:123456789012:function:session-revoker")
                .as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:session-revoker-next-look-dlq")
        );
        assert_eq!(
            dead_letter_arn("arn:aws-cn:lambda:cn-north-1:123456789012:function:r").as_deref(),
            Some("arn:aws-cn:sqs:cn-north-1:123456789012:r-next-look-dlq")
        );
        // A qualified ARN or anything else: no guess.
        assert_eq!(
            dead_letter_arn("arn:aws:lambda:eu-west-1:123456789012:function:f:live"),
            None
        );
        assert_eq!(
            dead_letter_arn("arn:aws:states:eu-west-1:1:stateMachine:x"),
            None
        );
    }
}
