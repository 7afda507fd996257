//! Carrying out a restore's writes: each policy read again just before its write, and written
//! only if it is still the document the plan was made from (a revocation or a person may have
//! written in between: then nothing more is written and the report says so).

use crate::aws::Iam;
use crate::error::AwsError;
use revoker_core::plan::restore::report::{RestoreReport, RestoreStatus};
use revoker_core::plan::restore::{PolicyChange, RestorePrincipal};

/// The documents the plan was made from, by policy name.
pub type InPlace = [(&'static str, Option<String>)];

pub async fn apply(
    iam: &dyn Iam,
    principal: &RestorePrincipal,
    in_place: &InPlace,
    changes: &[PolicyChange],
    report: &mut RestoreReport,
) {
    for (i, change) in changes.iter().enumerate() {
        let policy = match change {
            PolicyChange::Put { policy_name, .. } | PolicyChange::Delete { policy_name } => {
                *policy_name
            }
        };
        let planned_from = in_place
            .iter()
            .find(|(name, _)| *name == policy)
            .and_then(|(_, doc)| doc.as_deref());
        let now = match read(iam, principal, policy).await {
            Ok(doc) => doc,
            Err(e) => return fail(report, e),
        };
        if now.as_deref() != planned_from {
            report.status = RestoreStatus::Drift;
            report.drift.push(format!(
                "{policy} changed between the read and the write: nothing more was written"
            ));
            report.detail = format!(
                "stopped: {policy} changed while restoring; {i} change(s) made before it (see changes[].done)"
            );
            return;
        }
        let written = match (change, principal) {
            (PolicyChange::Put { document, .. }, RestorePrincipal::Role(r)) => {
                iam.put_role_policy(r, policy, document).await
            }
            (PolicyChange::Put { document, .. }, RestorePrincipal::User(u)) => {
                iam.put_user_policy(u, policy, document).await
            }
            (PolicyChange::Delete { .. }, RestorePrincipal::Role(r)) => {
                iam.delete_role_policy(r, policy).await
            }
            (PolicyChange::Delete { .. }, RestorePrincipal::User(u)) => {
                iam.delete_user_policy(u, policy).await
            }
        };
        if let Err(e) = written {
            return fail(report, e);
        }
        tracing::info!(
            policy,
            change = report.changes[i].change,
            principal = principal.name(),
            "restore write"
        );
        report.changes[i].done = true;
    }
}

async fn read(
    iam: &dyn Iam,
    principal: &RestorePrincipal,
    policy: &'static str,
) -> Result<Option<String>, AwsError> {
    match principal {
        RestorePrincipal::Role(r) => iam.get_role_policy(r, policy).await,
        RestorePrincipal::User(u) => iam.get_user_policy(u, policy).await,
    }
}

fn fail(report: &mut RestoreReport, e: AwsError) {
    report.status = RestoreStatus::Failed;
    report.detail = format!(
        "{} failed: the changes marked done were made, the others not",
        e.operation
    );
    report.error = Some(e.to_string());
}
