//! `AWSRevokeOlderSessions` on an IAM user: denies the user's temporary sessions
//! (`GetSessionToken`, `GetFederationToken`) issued before the cutoff.

use super::{failed, Ctx};
use crate::aws::UserPolicies;
use crate::model::{ActionKind, ActionOutcome, Status};
use crate::names::format_utc;
use time::OffsetDateTime;

pub struct UserPolicyWrite<'a> {
    pub user: &'a str,
    pub policy_name: &'static str,
    pub document: &'a str,
    pub cutoff: OffsetDateTime,
    pub previous_cutoff: Option<OffsetDateTime>,
    pub note: Option<&'a str>,
}

pub async fn run(
    policies: &dyn UserPolicies,
    kind: ActionKind,
    target: &str,
    w: UserPolicyWrite<'_>,
    ctx: &Ctx,
) -> ActionOutcome {
    let mut o = ActionOutcome::new(kind, target, Status::Done, String::new());
    o.policy_name = Some(w.policy_name);
    o.cutoff = Some(format_utc(w.cutoff));
    o.previous_cutoff = w.previous_cutoff.map(format_utc);
    let what = format!(
        "{} on user {}: deny tokens issued before {}{}",
        w.policy_name,
        w.user,
        format_utc(w.cutoff),
        w.note.map(|n| format!("; {n}")).unwrap_or_default()
    );
    if ctx.dry_run {
        o.status = Status::WouldDo;
        o.detail = format!("would write {what}");
        return o;
    }
    match policies
        .put_user_policy(w.user, w.policy_name, w.document)
        .await
    {
        Ok(()) => {
            o.detail = format!("wrote {what}");
            o
        }
        Err(e) if e.is_code("LimitExceeded") => {
            let mut o = failed(o, e);
            o.detail = format!(
                "PutUserPolicy refused: a user's inline policies share {} characters and user {} has no room for the deny; remove or shorten one of its inline policies, then re-run",
                crate::policy::USER_INLINE_POLICY_BUDGET,
                w.user
            );
            o
        }
        Err(e) => failed(o, e),
    }
}
