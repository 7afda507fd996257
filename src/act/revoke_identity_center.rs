//! The deny in an IAM Identity Center permission set's inline policy, and its provisioning to
//! the finding's account: read the inline policy, merge our statement (pure, in the core), put
//! it, read it back (a concurrent writer may have put an older document in between), provision
//! the permission set to the account, and wait briefly for the provisioning to finish.
//!
//! A document that already holds the deny is provisioned again all the same: a run that wrote
//! it and then failed to provision (Lambda retries it) must still get it into the account.

use super::{failed, Ctx, REPORT_RESERVE};
use crate::aws::sso_admin::{PermissionSets, Provisioning, ProvisioningState};
use crate::error::AwsError;
use crate::model::{ActionKind, ActionOutcome, Status};
use crate::names::format_utc;
use crate::plan::identity_center::{
    merge_inline_policy, reconcile_inline_policy, InlineMerge, PermissionSetTarget, STATEMENT_SID,
};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

/// One revocation through a permission set, as the responder decided it.
pub struct Request<'a> {
    pub kind: ActionKind,
    pub target: &'a PermissionSetTarget,
    pub permission_set_arn: &'a str,
    pub cutoff: OffsetDateTime,
    /// The finding's last activity: a session denied past it is already covered.
    pub covered_until: Option<OffsetDateTime>,
    pub now: OffsetDateTime,
    /// What a person does when this cannot be written (the core's by-hand steps).
    pub by_hand: Vec<String>,
}

/// Rewrites after a concurrent update of the inline policy before giving up.
const MAX_REWRITES: u32 = 3;
/// `ProvisionPermissionSet` answers `ConflictException` while another provisioning of the same
/// permission set runs: tried this many times in all.
const PROVISION_ATTEMPTS: u32 = 4;
/// Longest wait for a provisioning to finish; it usually takes seconds.
const MAX_PROVISIONING_WAIT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(sets: &dyn PermissionSets, req: Request<'_>, ctx: &Ctx) -> ActionOutcome {
    run_keeping(sets, req, ctx).await.0
}

/// The cutoffs per session this run left in the permission set's inline policy: what the
/// settle pass must find there again once concurrent writers are done.
pub type Wanted = BTreeMap<String, OffsetDateTime>;

/// As [`run`], with what must still hold when the deny is in the permission set (`None`
/// when nothing is there to keep: a dry run, a refusal, a failure).
pub async fn run_keeping(
    sets: &dyn PermissionSets,
    req: Request<'_>,
    ctx: &Ctx,
) -> (ActionOutcome, Option<Wanted>) {
    let mut kept = None;
    let o = run_inner(sets, req, ctx, &mut kept).await;
    let in_place = matches!(
        o.status,
        Status::Done | Status::AlreadyCovered | Status::ManualActionRequired
    );
    (o, kept.filter(|_| in_place))
}

async fn run_inner(
    sets: &dyn PermissionSets,
    req: Request<'_>,
    ctx: &Ctx,
    kept: &mut Option<Wanted>,
) -> ActionOutcome {
    let t = req.target;
    let mut o = ActionOutcome::new(req.kind, &t.role, Status::Done, String::new());
    o.policy_name = Some(STATEMENT_SID);
    o.facts.insert("permission_set", t.permission_set.clone());
    o.facts
        .insert("permission_set_arn", req.permission_set_arn.to_string());
    o.facts
        .insert("identity_center_region", t.home_region.clone());
    o.facts.insert("account", t.account.clone());
    let existing = match sets
        .get_inline_policy(&t.instance_arn, req.permission_set_arn)
        .await
    {
        Ok(doc) => doc,
        Err(e) => return failed(o, e),
    };
    let merge = merge_inline_policy(
        existing.as_deref(),
        &t.sessions,
        req.cutoff,
        req.covered_until,
        req.now,
    );
    let sessions = t.sessions.join(", ");
    let (document, wanted, what) = match merge {
        InlineMerge::Unreadable(e) => {
            return manual(o, format!("{e}: nothing was written, so as not to lose what is in it; the stolen session is still live"), req.by_hand);
        }
        InlineMerge::TooLarge { note, .. } => {
            let mut steps = req.by_hand;
            steps.push("# or suspend the user's access to this account:".into());
            steps.extend(t.suspend_steps(req.permission_set_arn));
            return manual(o, format!("{note}; the stolen session is still live: make room in the permission set's inline policy, or suspend the user (below)"), steps);
        }
        InlineMerge::Covered {
            cutoff,
            wanted,
            reason,
        } => {
            o.status = Status::AlreadyCovered;
            o.cutoff = Some(format_utc(cutoff));
            let what = format!("{reason} (permission set {})", t.permission_set);
            if ctx.dry_run {
                o.detail = format!("{what}; would provision it to account {} again", t.account);
                return o;
            }
            (None, wanted, what)
        }
        InlineMerge::Write {
            document,
            cutoff,
            previous_cutoff,
            wanted,
            note,
        } => {
            o.cutoff = Some(format_utc(cutoff));
            o.previous_cutoff = previous_cutoff.map(format_utc);
            let mut what = format!(
                "{STATEMENT_SID} in permission set {}'s inline policy: deny sessions {sessions} tokens issued before {}",
                t.permission_set,
                format_utc(cutoff)
            );
            if let Some(n) = note {
                what.push_str("; ");
                what.push_str(&n);
            }
            if ctx.dry_run {
                o.status = Status::WouldDo;
                o.detail = format!(
                    "would write {what} and provision it to account {}",
                    t.account
                );
                return o;
            }
            (Some(document), wanted, what)
        }
    };
    *kept = Some(wanted.clone());
    if let Some(document) = document {
        match put_verified(sets, t, req.permission_set_arn, &document, &wanted, req.now).await {
            Ok(rewrites) if rewrites > 0 => {
                o.facts
                    .insert("rewrites_after_concurrent_update", rewrites.to_string());
            }
            Ok(_) => {}
            Err(e) => return failed(o, e),
        }
        tracing::info!(permission_set = %t.permission_set, account = %t.account, sessions = %sessions, ms = ctx.elapsed_ms(), "deny in the permission set");
    }
    let provisioning = match provision(sets, t, req.permission_set_arn, ctx).await {
        Ok(p) => p,
        Err(e) => {
            let mut f = failed(o, e);
            f.detail = format!("{}; {what}, but it is not provisioned to account {}: the stolen session is still live there", f.detail, t.account);
            f.commands = req.by_hand;
            return f;
        }
    };
    o.facts
        .insert("provisioning_request_id", provisioning.request_id.clone());
    o.facts
        .insert("provisioning", provisioning.state.as_str().to_string());
    let verb = if o.status == Status::AlreadyCovered {
        ""
    } else {
        "wrote "
    };
    match provisioning.state {
        ProvisioningState::Succeeded => {
            o.detail = format!("{verb}{what}; provisioned to account {}", t.account);
            o.commands = t.portal_session_steps();
            o.facts
                .insert("deny_in_place_ms", ctx.elapsed_ms().to_string());
        }
        ProvisioningState::Failed => {
            let reason = provisioning
                .failure_reason
                .unwrap_or_else(|| "no reason given".into());
            let mut f = failed(
                o,
                AwsError::new("ProvisionPermissionSet", "ProvisioningFailed", reason),
            );
            f.detail = format!("{}; {what}, but provisioning to account {} failed: the stolen session is still live there", f.detail, t.account);
            f.commands = req.by_hand;
            return f;
        }
        ProvisioningState::InProgress | ProvisioningState::Other(_) => {
            // Honest: the permission set holds the deny, the account's role may not yet, so
            // the stolen session may still work there: a person confirms the provisioning.
            let detail = format!(
                "{verb}{what}; provisioning to account {} is still {} after the wait (request {}): the stolen session is live there until it succeeds; confirm it",
                t.account,
                provisioning.state.as_str(),
                provisioning.request_id
            );
            let mut steps = vec![format!(
                "aws sso-admin describe-permission-set-provisioning-status --region {} --instance-arn {} --provisioning-request-id {}  # until SUCCEEDED",
                t.home_region,
                t.instance_arn,
                safe_request_id(&provisioning.request_id)
            )];
            steps.extend(t.portal_session_steps());
            o = manual(o, detail, steps);
        }
    }
    o
}

fn manual(mut o: ActionOutcome, reason: String, commands: Vec<String>) -> ActionOutcome {
    o.status = Status::ManualActionRequired;
    o.detail = reason;
    o.commands = commands;
    o
}

/// Request ids are UUIDs; anything else is not echoed into a command.
fn safe_request_id(id: &str) -> &str {
    if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        id
    } else {
        "<RequestId>"
    }
}

/// Puts the document, then reads it back until it holds the wanted cutoffs (merging them into
/// whatever a concurrent writer put). Returns the number of rewrites.
async fn put_verified(
    sets: &dyn PermissionSets,
    t: &PermissionSetTarget,
    permission_set_arn: &str,
    document: &str,
    wanted: &BTreeMap<String, OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<u32, AwsError> {
    sets.put_inline_policy(&t.instance_arn, permission_set_arn, document)
        .await?;
    let mut rewrites = 0;
    loop {
        let current = match sets
            .get_inline_policy(&t.instance_arn, permission_set_arn)
            .await
        {
            Ok(c) => c,
            // The write succeeded; a failed read-back is no reason to report failure.
            Err(_) => return Ok(rewrites),
        };
        let next = match reconcile_inline_policy(current.as_deref(), wanted, now) {
            Ok(None) => return Ok(rewrites),
            Ok(Some(next)) => next,
            Err(e) => {
                return Err(AwsError::new(
                    "GetInlinePolicyForPermissionSet",
                    "UnreadableInlinePolicy",
                    format!("after our write: {e}"),
                ))
            }
        };
        if rewrites == MAX_REWRITES {
            return Err(AwsError::new(
                "PutInlinePolicyToPermissionSet",
                "ConcurrentModification",
                format!(
                    "the inline policy of permission set {} still did not hold this deny after {MAX_REWRITES} rewrites",
                    t.permission_set
                ),
            ));
        }
        tracing::warn!(permission_set = %t.permission_set, rewrites, "inline policy changed under us: rewriting");
        tokio::time::sleep(Duration::from_millis(200 * u64::from(rewrites + 1))).await;
        sets.put_inline_policy(&t.instance_arn, permission_set_arn, &next)
            .await?;
        rewrites += 1;
    }
}

/// The settle pass's look at a permission set this invocation wrote: read the inline policy
/// again and, if a concurrent writer (another account's finding of the same user) dropped our
/// cutoffs, merge them back, put it and provision it to the account again. `Ok(0)` when it
/// still held them, `Ok(1)` after a rewrite.
pub async fn reconcile_once(
    sets: &dyn PermissionSets,
    t: &PermissionSetTarget,
    permission_set_arn: &str,
    wanted: &Wanted,
    now: OffsetDateTime,
) -> Result<u32, AwsError> {
    let current = sets
        .get_inline_policy(&t.instance_arn, permission_set_arn)
        .await?;
    let next = match reconcile_inline_policy(current.as_deref(), wanted, now) {
        Ok(None) => return Ok(0),
        Ok(Some(next)) => next,
        Err(e) => {
            return Err(AwsError::new(
                "GetInlinePolicyForPermissionSet",
                "UnreadableInlinePolicy",
                format!("in the settle pass: {e}"),
            ))
        }
    };
    tracing::warn!(permission_set = %t.permission_set, "inline policy changed after our write: rewriting in the settle pass");
    sets.put_inline_policy(&t.instance_arn, permission_set_arn, &next)
        .await?;
    sets.provision(&t.instance_arn, permission_set_arn, &t.account)
        .await?;
    Ok(1)
}

/// Provisions the permission set to the account and polls its status while it is in progress,
/// as long as the invocation's time allows (keeping the report's reserve).
async fn provision(
    sets: &dyn PermissionSets,
    t: &PermissionSetTarget,
    permission_set_arn: &str,
    ctx: &Ctx,
) -> Result<Provisioning, AwsError> {
    let mut attempt = 1;
    let mut status = loop {
        match sets
            .provision(&t.instance_arn, permission_set_arn, &t.account)
            .await
        {
            Err(e)
                if e.is_code("ConflictException")
                    && attempt < PROVISION_ATTEMPTS
                    && time_for(ctx, POLL_INTERVAL * 2) =>
            {
                tracing::warn!(permission_set = %t.permission_set, attempt, "another provisioning is running: trying again");
                tokio::time::sleep(POLL_INTERVAL * attempt).await;
                attempt += 1;
            }
            other => break other?,
        }
    };
    let started = std::time::Instant::now();
    while status.state == ProvisioningState::InProgress
        && started.elapsed() < MAX_PROVISIONING_WAIT
        && time_for(ctx, POLL_INTERVAL)
    {
        tokio::time::sleep(POLL_INTERVAL).await;
        status = match sets
            .provisioning_status(&t.instance_arn, &status.request_id)
            .await
        {
            Ok(s) => s,
            // The request was accepted; a failed status read leaves it reported in progress.
            Err(e) => {
                tracing::warn!(code = %e.code, "provisioning status not readable");
                break;
            }
        };
    }
    Ok(status)
}

fn time_for(ctx: &Ctx, needs: Duration) -> bool {
    ctx.budget
        .remaining()
        .is_none_or(|r| r > needs + REPORT_RESERVE)
}
