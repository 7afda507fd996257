//! IAM Identity Center roles (`/aws-reserved/sso.amazonaws.com/`), with
//! `IDENTITY_CENTER_INSTANCE_ARN` set: the stolen session is denied through the permission set's
//! inline policy and the permission set is provisioned to the finding's account again, with the
//! responder's own sso-admin client in Identity Center's home region (the role's path names it).
//! Without the variable, or for a role protected otherwise, the ordinary decision applies
//! (`manual_action_required` with the same steps by hand).

use super::settle::{Pending, WrittenPermissionSet};
use super::Responder;
use crate::accounts::AccountAccess;
use crate::act::revoke_identity_center::{self, Request};
use crate::act::Ctx;
use crate::aws::sso_admin::find_by_name;
use crate::error::AwsError;
use crate::model::{ActionKind, ActionOutcome, Incident, Status};
use crate::plan::identity_center::{by_hand_steps, route, Route};
use crate::plan::{self, RoleFacts};
use futures::future::BoxFuture;
use futures::FutureExt;

/// `Some(outcomes)` when the incident was answered through Identity Center (or refused on the
/// way); `None` when the ordinary decision applies.
///
/// Boxed: the future stays `Send` for the responder's stream of incidents (rustc's
/// higher-ranked lifetime inference does not see through it otherwise).
#[allow(clippy::too_many_arguments)]
pub(super) fn respond<'a>(
    r: &'a Responder,
    incident: &'a Incident,
    facts: &'a RoleFacts,
    access: &'a AccountAccess,
    ctx: &'a Ctx,
    item: usize,
    first_action: usize,
    pending: &'a Pending,
) -> BoxFuture<'a, Option<Vec<ActionOutcome>>> {
    respond_inner(r, incident, facts, access, ctx, item, first_action, pending).boxed()
}

#[allow(clippy::too_many_arguments)]
async fn respond_inner(
    r: &Responder,
    incident: &Incident,
    facts: &RoleFacts,
    access: &AccountAccess,
    ctx: &Ctx,
    item: usize,
    first_action: usize,
    pending: &Pending,
) -> Option<Vec<ActionOutcome>> {
    let target = match route(incident, facts, &r.config) {
        Route::Ordinary => return None,
        Route::Done(action) => {
            let mut o = r.execute(action, Some(access), ctx).await;
            o.facts.insert("account", access.account.clone());
            return Some(vec![o]);
        }
        Route::Revoke(target) => target,
    };
    let kind = ActionKind::RevokeSessions;
    let by_hand = by_hand_steps(&facts.role, incident, &r.config);
    let not_contained = |error: AwsError, detail: String| {
        let mut o = ActionOutcome::new(kind, &target.role, Status::Failed, detail);
        o.error = Some((&error).into());
        o.commands = by_hand.clone();
        o.facts
            .insert("permission_set", target.permission_set.clone());
        o.facts.insert("account", access.account.clone());
        o.at_ms = ctx.elapsed_ms();
        vec![o]
    };
    let Some(sets) = r.accounts.permission_sets(&target.home_region) else {
        return Some(not_contained(
            AwsError::new(
                "ProvisionPermissionSet",
                "NoIdentityCenterClient",
                "no sso-admin client",
            ),
            "not contained: this responder has no sso-admin client; do the steps below".into(),
        ));
    };
    let permission_set_arn =
        match find_by_name(sets.as_ref(), &target.instance_arn, &target.permission_set).await {
            Ok(Some(arn)) => arn,
            Ok(None) => {
                return Some(not_contained(
                    AwsError::new(
                        "ListPermissionSets",
                        "NoSuchPermissionSet",
                        format!(
                            "no permission set named {} in instance {} (region {})",
                            target.permission_set, target.instance_arn, target.home_region
                        ),
                    ),
                    format!(
                        "not contained: permission set {} of role {} was not found in IDENTITY_CENTER_INSTANCE_ARN's instance in {}; do the steps below",
                        target.permission_set, target.role, target.home_region
                    ),
                ))
            }
            Err(e) => {
                let detail = format!(
                    "not contained: finding permission set {} failed ({}); do the steps below",
                    target.permission_set, e.code
                );
                return Some(not_contained(e, detail));
            }
        };
    tracing::info!(role = %target.role, permission_set = %target.permission_set, region = %target.home_region, "revoking through Identity Center");
    let now = r.clock.now();
    let request = Request {
        kind,
        target: &target,
        permission_set_arn: &permission_set_arn,
        cutoff: plan::new_cutoff(now, &r.config),
        covered_until: incident.event_last_seen,
        now,
        by_hand,
    };
    let (mut o, wanted) = revoke_identity_center::run_keeping(sets.as_ref(), request, ctx).await;
    if let Some(wanted) = wanted.filter(|_| !ctx.dry_run) {
        // Another account's finding of the same user may write this permission set at the
        // same time: the settle pass reads it again.
        pending.push_permission_set(WrittenPermissionSet {
            item,
            action: first_action,
            sets: sets.clone(),
            target: target.clone(),
            permission_set_arn: permission_set_arn.clone(),
            wanted,
            now,
        });
    }
    if let Some(via) = &access.via_role {
        o.facts.insert("via_role", via.clone());
    }
    if let Some(note) = &facts.note {
        o.detail = format!("{}; {note}", o.detail);
    }
    o.at_ms = ctx.elapsed_ms();
    Some(vec![o])
}
