//! `UpdateAccessKey Status=Inactive` on exactly the key a finding names: never another key
//! of the user, never a deletion (the key is evidence).

use super::{failed, Ctx};
use crate::aws::AccessKeys;
use crate::model::{ActionKind, ActionOutcome, Status};

pub async fn run(
    keys: &dyn AccessKeys,
    kind: ActionKind,
    target: &str,
    user: &str,
    access_key_id: &str,
    ctx: &Ctx,
) -> ActionOutcome {
    let mut o = ActionOutcome::new(kind, target, Status::Done, String::new());
    let what = format!(
        "access key {access_key_id} of user {user} set Inactive (not deleted: it is evidence)"
    );
    if ctx.dry_run {
        o.status = Status::WouldDo;
        o.detail = format!("would have {what}");
        return o;
    }
    match keys.deactivate_access_key(user, access_key_id).await {
        Ok(()) => {
            o.detail = what;
            o
        }
        // The key (or its user) no longer exists: nothing can sign with it any more, so it is
        // contained, and retrying can never succeed. Said plainly: the attacker may have made
        // the key and deleted it; CloudTrail's DeleteAccessKey / DeleteUser show who.
        Err(e) if e.is_code("NoSuchEntity") => {
            o.status = Status::AlreadyCovered;
            o.detail = format!(
                "access key {access_key_id} of user {user} no longer exists ({}): nothing can use it, so it is contained; CloudTrail DeleteAccessKey/DeleteUser events show who deleted it",
                e.code
            );
            o.facts.insert("no_such_entity", e.message.clone());
            o
        }
        Err(e) => failed(o, e),
    }
}
