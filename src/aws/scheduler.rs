//! EventBridge Scheduler (`CreateSchedule`) through `aws_sdk_scheduler`: the one-time schedule
//! that runs the function again for the look after CloudTrail's delivery lag.

use super::{AwsResult, OneTimeSchedule, ScheduleCreated, Schedules};
use crate::error::{from_sdk, AwsError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
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
