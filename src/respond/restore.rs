//! `{"action": "restore", ...}`: one incident's denies taken out of the account, found there
//! by their `Sid`s (no state kept anywhere else), planned in the core (`plan::restore`).

use super::Responder;
use crate::act::restore::apply;
use crate::aws::{Iam, Publication};
use crate::error::{AwsError, HandlerError};
use revoker_core::input::parse_restore;
use revoker_core::plan::restore::report::{RestoreReport, RestoreStatus};
use revoker_core::plan::restore::{plan_restore, RestorePrincipal, Verdict};
use serde_json::Value;

impl Responder {
    /// Handles a restore request end to end: read, plan, write (unless a dry run or refused),
    /// publish and return the report. An unreadable request is an `Err`; an AWS failure is a
    /// report with status `failed` and an `Err` fate (the invocation fails).
    pub async fn restore(
        &self,
        payload: &Value,
    ) -> Result<(RestoreReport, Result<(), HandlerError>), HandlerError> {
        let request = parse_restore(payload)
            .inspect_err(|e| tracing::error!(error = %e, "invalid restore request"))?;
        let account = match &request.account {
            Some(a) => Ok(a.clone()),
            None => self.accounts.identity().await.map(|id| id.account),
        };
        let access =
            match account {
                Ok(a) => self.accounts.access(&a, "restore").await.map_err(|u| {
                    format!("account {} could not be reached: {}", u.account, u.reason)
                }),
                Err(e) => Err(format!(
                    "the responder's own account could not be determined: {e}"
                )),
            };
        let now = self.clock.now();
        let access = match access {
            Ok(a) => a,
            Err(why) => {
                return Ok(self
                    .publish_restore(failed_before(&request, now, why))
                    .await)
            }
        };
        let in_place = match read_all(access.iam.as_ref(), &request.principal).await {
            Ok(docs) => docs,
            Err(e) => {
                return Ok(self
                    .publish_restore(failed_before(&request, now, e.to_string()))
                    .await)
            }
        };
        let plan = plan_restore(&request, &in_place, now);
        let mut report = RestoreReport::new(&request, &plan, now);
        if let (Verdict::Restore(changes), false) = (&plan.verdict, request.dry_run) {
            apply(
                access.iam.as_ref(),
                &request.principal,
                &in_place,
                changes,
                &mut report,
            )
            .await;
        }
        tracing::info!(status = ?report.status, principal = %report.principal, forced = report.forced, reason = report.reason.as_deref().unwrap_or("-"), "restore");
        Ok(self.publish_restore(report).await)
    }

    async fn publish_restore(
        &self,
        mut report: RestoreReport,
    ) -> (RestoreReport, Result<(), HandlerError>) {
        report.finish();
        let json = serde_json::to_string(&report).unwrap_or_default();
        tracing::info!(report = %json, "restore report");
        if let (Some(notifier), Some(topic)) = (&self.notifier, &self.config.sns_topic_arn) {
            let publication = Publication {
                topic_arn: topic.clone(),
                subject: report.subject(),
                message: serde_json::json!({"default": json}).to_string(),
                attributes: vec![
                    ("outcome".into(), report.outcome.as_str().into()),
                    ("action".into(), "restore".into()),
                ],
            };
            if let Err(e) = notifier.publish(&publication).await {
                tracing::error!(code = %e.code, message = %e.message, "restore report not published");
                return (report, Err(HandlerError::Publish(e)));
            }
        }
        let fate = match report.status {
            RestoreStatus::Failed => Err(HandlerError::ActionsFailed(report.detail.clone())),
            _ => Ok(()),
        };
        (report, fate)
    }
}

async fn read_all(
    iam: &dyn Iam,
    principal: &RestorePrincipal,
) -> Result<Vec<(&'static str, Option<String>)>, AwsError> {
    let mut out = Vec::new();
    for name in principal.policy_names() {
        let doc = match principal {
            RestorePrincipal::Role(r) => iam.get_role_policy(r, name).await?,
            RestorePrincipal::User(u) => iam.get_user_policy(u, name).await?,
        };
        out.push((*name, doc));
    }
    Ok(out)
}

/// A restore that failed before its plan (the account or its policies could not be read).
fn failed_before(
    request: &revoker_core::plan::restore::RestoreRequest,
    now: time::OffsetDateTime,
    why: String,
) -> RestoreReport {
    let empty = revoker_core::plan::restore::RestorePlan {
        verdict: Verdict::NothingFound,
        cutoff: None,
        safe_at: None,
        reopened: Vec::new(),
        notes: Vec::new(),
    };
    let mut report = RestoreReport::new(request, &empty, now);
    report.status = RestoreStatus::Failed;
    report.detail = "nothing was written: the policies could not be read".into();
    report.error = Some(why);
    report
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
