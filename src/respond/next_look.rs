//! The next CloudTrail look (issue 13): one EventBridge Scheduler one-time schedule per payload
//! that runs the function again after CloudTrail's delivery lag, or, when none can be created,
//! the time and the command for a person. Why a schedule and not an SQS delay queue: README
//! "Following the attacker".

use super::Responder;
use crate::config::Config;
use revoker_core::names::{format_utc, parse_utc};
use revoker_core::report::{NextLookLine, NextLookStatus};
use time::OffsetDateTime;

/// EventBridge Scheduler's limit for a target's input (the payload of the re-run).
const MAX_SCHEDULE_INPUT: usize = 256 * 1024;

/// The key the schedule adds to the payload it runs again: the re-run is the scheduled look, so
/// it follows the stolen key even if the finding was archived in between (by an analyst, or by
/// the attacker with `guardduty:ArchiveFindings`). It grants nothing a caller of the function
/// could not ask for anyway (a manual request revokes by name); it decides nothing about
/// scheduling (the cutoffs IAM holds do).
pub const NEXT_LOOK_KEY: &str = "sessionRevokerNextLook";

tokio::task_local! {
    /// Set while a payload carrying [`NEXT_LOOK_KEY`] is handled.
    static RERUN: bool;
}

/// Whether the payload being handled is a scheduled next look.
pub(super) fn is_rerun() -> bool {
    RERUN.try_with(|r| *r).unwrap_or(false)
}

/// Runs `f` knowing whether `payload` is a scheduled next look.
pub(super) async fn scoped<F: std::future::Future>(payload: &serde_json::Value, f: F) -> F::Output {
    let rerun = payload.get(NEXT_LOOK_KEY).is_some();
    RERUN.scope(rerun, f).await
}

/// The payload without the marker (what a re-delivery of the original would hash to).
fn without_marker(payload: &serde_json::Value) -> serde_json::Value {
    let mut p = payload.clone();
    if let Some(obj) = p.as_object_mut() {
        obj.remove(NEXT_LOOK_KEY);
    }
    p
}

/// The schedule's input: the payload with the marker. A findings array or a bare finding is
/// carried as `{"Findings": [...]}`, which reads the same; a manual request is left as it is
/// (never archived: it needs no marker).
fn with_marker(payload: &serde_json::Value, at: OffsetDateTime) -> serde_json::Value {
    use serde_json::{json, Value};
    let marked = |mut obj: serde_json::Map<String, Value>| {
        obj.insert(NEXT_LOOK_KEY.into(), Value::String(format_utc(at)));
        Value::Object(obj)
    };
    match payload {
        Value::Array(list) => marked(
            json!({"Findings": list})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        Value::Object(obj) if obj.contains_key("action") => payload.clone(),
        Value::Object(obj)
            if obj.contains_key("detail")
                || obj.contains_key("Findings")
                || obj.contains_key("findings") =>
        {
            marked(obj.clone())
        }
        Value::Object(_) => marked(
            json!({"Findings": [payload]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        other => other.clone(),
    }
}

/// A schedule name per payload and look: `session-revoker-<hash>-<unix time>`, within
/// Scheduler's 64 characters of `[0-9a-zA-Z-_.]`. FNV-1a: stable across builds and processes,
/// so a re-delivered event finds the schedule its first delivery created (`ConflictException`).
fn schedule_name(input: &str, at: OffsetDateTime) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("session-revoker-{h:016x}-{}", at.unix_timestamp())
}

/// The function's own ARN, for the schedule's target (`None` outside Lambda).
fn function_arn(config: &Config, account: &str) -> Option<String> {
    let f = config.lambda_function.as_ref()?;
    let partition = config
        .responder_role_arn
        .as_deref()
        .and_then(|a| a.strip_prefix("arn:"))
        .and_then(|a| a.split(':').next())
        .unwrap_or("aws");
    Some(format!(
        "arn:{partition}:lambda:{}:{account}:function:{}",
        f.region, f.name
    ))
}

impl Responder {
    /// One schedule for every incident of the payload that asked for a next look: the same
    /// payload again, at the latest time asked. Dry runs, a missing scheduler role or a failed
    /// `CreateSchedule` leave the look to a person, with the command: the containment is done
    /// either way, so none of these fails the invocation.
    pub(super) async fn schedule_next_looks(
        &self,
        payload: &serde_json::Value,
        incidents: &mut [revoker_core::report::IncidentReport],
        dry_run: bool,
    ) {
        let pending: Vec<&mut NextLookLine> = incidents
            .iter_mut()
            .filter_map(|i| i.follow_up.as_mut())
            .map(|f| &mut f.next_look)
            .filter(|n| n.status == NextLookStatus::Pending)
            .collect();
        let Some(at) = pending
            .iter()
            .filter_map(|n| n.at.as_deref().and_then(parse_utc))
            .max()
        else {
            return;
        };
        let original = without_marker(payload);
        let name_from = original.to_string();
        let input = with_marker(&original, at).to_string();
        let identity = self.accounts.identity().await;
        let target = identity
            .as_ref()
            .ok()
            .and_then(|id| function_arn(&self.config, &id.account));
        let by_hand = format!(
            "aws lambda invoke --function-name {} --cli-binary-format raw-in-base64-out --payload file://payload.json report.json  # payload.json: this invocation's event",
            self.config
                .lambda_function
                .as_ref()
                .map_or("<function>", |f| f.name.as_str())
        );
        let (status, detail) = match (&self.config.follow_up_scheduler_role_arn, target, self.accounts.scheduler()) {
            _ if dry_run => (NextLookStatus::NotScheduled, "dry run: nothing is scheduled".to_string()),
            (None, _, _) => (
                NextLookStatus::NotScheduled,
                "FOLLOW_UP_SCHEDULER_ROLE_ARN is not set: run the look by hand after this time".to_string(),
            ),
            (_, None, _) => (
                NextLookStatus::NotScheduled,
                "not running in Lambda (no AWS_LAMBDA_FUNCTION_NAME): run the look by hand after this time".to_string(),
            ),
            (_, _, None) => (NextLookStatus::NotScheduled, "EventBridge Scheduler is not available here".to_string()),
            _ if input.len() > MAX_SCHEDULE_INPUT => (
                NextLookStatus::NotScheduled,
                format!("the payload is larger than Scheduler's {MAX_SCHEDULE_INPUT} bytes of input"),
            ),
            (Some(role_arn), Some(target_arn), Some(scheduler)) => {
                let schedule = crate::aws::OneTimeSchedule {
                    name: schedule_name(&name_from, at),
                    at,
                    target_arn,
                    role_arn: role_arn.clone(),
                    input: input.clone(),
                    description: "session-revoker: one more CloudTrail look after the delivery lag".into(),
                };
                match scheduler.create_one_time(&schedule).await {
                    Ok(created) => {
                        tracing::info!(schedule = %schedule.name, at = %format_utc(at), created = ?created, "next look scheduled");
                        (NextLookStatus::Scheduled, schedule.name)
                    }
                    Err(e) => {
                        tracing::error!(code = %e.code, message = %e.message, "next look not scheduled");
                        (NextLookStatus::Failed, format!("CreateSchedule failed ({}: {}): run the look by hand after this time", e.code, e.message))
                    }
                }
            }
        };
        for n in pending {
            n.status = status;
            n.at = Some(format_utc(at));
            if status == NextLookStatus::Scheduled {
                n.detail = format!(
                    "{}: EventBridge Scheduler one-time schedule {detail}",
                    n.detail
                );
            } else {
                n.detail = detail.clone();
                n.command = Some(by_hand.clone());
            }
        }
    }
}
