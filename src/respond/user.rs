//! An IAM user's finding: the user, its keys and its deny policy read at once, then the
//! planner's actions (deactivate exactly the named key, deny the sessions minted from it).

use super::Responder;
use crate::act::Ctx;
use crate::model::{ActionKind, ActionOutcome, Incident, PlannedAction, Status, Step, UserTarget};
use crate::plan::{self, UserFacts};
use crate::policy;

impl Responder {
    pub(super) async fn handle_user(
        &self,
        incident: &Incident,
        target: &UserTarget,
        ctx: &Ctx,
    ) -> Vec<ActionOutcome> {
        let (access, _) = match self.access(incident).await {
            Ok(a) => a,
            Err(u) => return self.unreachable(incident, u, ctx),
        };
        let iam = access.iam.as_ref();
        let (user, keys, user_policy) = futures::join!(
            iam.get_user(&target.name),
            iam.list_access_keys(&target.name),
            iam.get_user_policy(&target.name, policy::ROLE_POLICY_NAME)
        );
        let user = match user {
            Ok(Some(u)) => u,
            Ok(None) => {
                // Nothing signs as a user that does not exist: its keys and the sessions minted
                // from them are refused. Contained, never a failure retried forever (the
                // attacker may have made the user and deleted it).
                let mut gone = ActionOutcome::new(
                    ActionKind::DeactivateAccessKey,
                    &target.name,
                    Status::AlreadyCovered,
                    format!(
                        "user {} does not exist in account {} (NoSuchEntity): nothing can use its keys or sessions, so it is contained; CloudTrail DeleteUser shows who deleted it",
                        target.name, access.account
                    ),
                );
                gone.facts.insert("account", access.account.clone());
                gone.at_ms = ctx.elapsed_ms();
                return vec![gone];
            }
            Err(error) => {
                let action = PlannedAction {
                    kind: ActionKind::DeactivateAccessKey,
                    target: target.name.clone(),
                    step: Step::Fail { error },
                };
                return vec![self.execute(action, Some(&access), ctx).await];
            }
        };
        let facts = UserFacts {
            user,
            keys,
            user_policy,
        };
        let mut outcomes = Vec::new();
        for action in plan::decide_user(incident, target, &facts, &self.config, self.clock.now()) {
            let mut outcome = self.execute(action, Some(&access), ctx).await;
            outcome.facts.insert("account", access.account.clone());
            outcomes.push(outcome);
        }
        outcomes
    }
}
