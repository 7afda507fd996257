//! Which accounts a drill goes into (organization mode): the function's own, with the canary
//! `DRILL_ROLE_ARN`, and each member account of `ALLOWED_ACCOUNTS`, through the member role
//! (assumed with the external id, as for a finding there) with the canary `DRILL_ROLE_NAME`.
//! Each account is drilled on its own (a few at a time); one account failing does not stop the
//! others, and the report has one row per account.

use super::Run;
use crate::act::Ctx;
use crate::aws::drill::DrillCloud;
use crate::respond::Responder;
use futures::StreamExt;
use revoker_core::drill::{self, org, DrillAccount, StepName, StepResult};
use std::sync::Arc;

/// Accounts drilled at once: each waits up to `DRILL_MAX_WAIT_SECONDS` for a refusal and then
/// for its cutoff, so one after another would not fit many accounts in one invocation.
const AT_ONCE: usize = 4;

/// One account to drill, or the row saying why it cannot be.
enum Target {
    Ready {
        account: String,
        role: String,
        role_arn: String,
        via_role: Option<String>,
        caller_arn: Option<String>,
        cloud: Arc<dyn DrillCloud>,
    },
    Failed(DrillAccount),
}

fn failed_row(
    account: &str,
    role_arn: &str,
    step: StepName,
    detail: impl Into<String>,
    command: Option<String>,
    ctx: &Ctx,
) -> Target {
    let mut a = DrillAccount::new(account, role_arn);
    a.step(step, StepResult::Failed, detail, ctx.elapsed_ms());
    if let Some(last) = a.steps.last_mut() {
        last.command = command;
    }
    Target::Failed(a)
}

impl Responder {
    /// Drills every account the function would act in; one row per account, and what the
    /// drill did not cover (`org::coverage_note`).
    pub(super) async fn drill_accounts(&self, ctx: &Ctx) -> (Vec<DrillAccount>, Option<String>) {
        let mut targets = Vec::new();
        let own = self.accounts.identity().await;
        let allowed = &self.config.allowed_accounts;
        // Its own account left out of ALLOWED_ACCOUNTS, the function acts on no finding there.
        if !matches!(&own, Ok(id) if org::own_excluded(&id.account, allowed)) {
            targets.push(self.own_target(&own, ctx));
        }
        let note = org::coverage_note(
            own.as_ref().ok().map(|id| id.account.as_str()),
            self.config.member_role_name.as_deref(),
            allowed,
        );
        // Without its own account the function cannot tell which accounts are members: the
        // own row says so.
        if let Ok(id) = &own {
            for account in org::member_accounts(&id.account, &self.config.allowed_accounts) {
                targets.push(self.member_target(&account, ctx).await);
            }
        }
        let rows = futures::stream::iter(targets)
            .map(|t| self.drill_target(t, ctx))
            .buffered(AT_ONCE)
            .collect()
            .await;
        (rows, note)
    }

    fn own_target(
        &self,
        own: &Result<crate::accounts::Identity, crate::error::AwsError>,
        ctx: &Ctx,
    ) -> Target {
        let arn = self.config.drill_role_arn.clone().unwrap_or_default();
        let (account, role) = match drill::canary(self.config.drill_role_arn.as_deref()) {
            Ok(c) => c,
            Err(why) => return failed_row("-", &arn, StepName::CheckCanary, why, None, ctx),
        };
        let id = match own {
            Ok(id) => id,
            Err(e) => {
                return failed_row(
                    &account,
                    &arn,
                    StepName::CheckCanary,
                    format!("the function's own account could not be determined: {e}"),
                    Some(
                        "aws sts get-caller-identity (with the function's role credentials)".into(),
                    ),
                    ctx,
                )
            }
        };
        if id.account != account {
            let detail = format!(
                "DRILL_ROLE_ARN names account {account}, and the function runs in {}: DRILL_ROLE_ARN is the canary in the function's own account (member accounts are drilled through ALLOWED_ACCOUNTS and DRILL_ROLE_NAME)",
                id.account
            );
            return failed_row(&account, &arn, StepName::CheckCanary, detail, None, ctx);
        }
        let Some(cloud) = self.accounts.drill() else {
            let detail = "drills cannot run with these accounts (no drill capability)";
            return failed_row(&account, &arn, StepName::CheckCanary, detail, None, ctx);
        };
        let partition = arn.split(':').nth(1).unwrap_or("aws");
        Target::Ready {
            caller_arn: id
                .role_name
                .as_ref()
                .map(|r| format!("arn:{partition}:iam::{}:role/{r}", id.account)),
            account,
            role,
            role_arn: arn,
            via_role: None,
            cloud,
        }
    }

    async fn member_target(&self, account: &str, ctx: &Ctx) -> Target {
        let c = &self.config;
        if let Some(why) =
            org::member_refusal(c.member_role_name.as_deref(), c.drill_role_name.as_deref())
        {
            return failed_row(account, "-", StepName::AssumeMemberRole, why, None, ctx);
        }
        let canary = c.drill_role_name.clone().unwrap_or_default();
        match self.accounts.access(account, "drill").await {
            Err(u) => {
                // The member role's ARN as the accounts module builds it (partition included).
                let member_role = format!(
                    "arn:{}:iam::{account}:role/{}",
                    self.config
                        .drill_role_arn
                        .as_deref()
                        .and_then(|a| a.split(':').nth(1))
                        .unwrap_or("aws"),
                    c.member_role_name.as_deref().unwrap_or_default()
                );
                let w = org::Where {
                    account,
                    canary: &canary,
                    canary_arn: "-",
                    caller_arn: Some(&member_role),
                    external_id: c.member_role_external_id.is_some(),
                };
                let detail = match &u.error {
                    Some(e) => format!("{}: {e}", u.reason),
                    None => u.reason.clone(),
                };
                let mut row = DrillAccount::new(account, "-");
                row.via_role = Some(member_role.clone());
                row.step(
                    StepName::AssumeMemberRole,
                    StepResult::Failed,
                    format!("the member role could not be assumed: {detail}"),
                    ctx.elapsed_ms(),
                );
                if let Some(last) = row.steps.last_mut() {
                    last.error = u.error.as_ref().map(crate::model::ErrorReport::from);
                    last.command = Some(org::command(StepName::AssumeMemberRole, &w));
                }
                tracing::error!(account, detail = %detail, "drill: member role not assumed");
                Target::Failed(row)
            }
            Ok(access) => {
                let via = access.via_role.clone().unwrap_or_default();
                let role_arn = org::member_canary_arn(&via, &canary).unwrap_or_default();
                let Some(cloud) = access.drill() else {
                    let detail = "drills cannot run in this account (no drill capability)";
                    return failed_row(
                        account,
                        &role_arn,
                        StepName::CheckCanary,
                        detail,
                        None,
                        ctx,
                    );
                };
                Target::Ready {
                    account: account.to_string(),
                    role: canary,
                    role_arn,
                    via_role: Some(via.clone()),
                    caller_arn: Some(via),
                    cloud,
                }
            }
        }
    }

    async fn drill_target(&self, target: Target, ctx: &Ctx) -> DrillAccount {
        let (account, role, role_arn, via_role, caller_arn, cloud) = match target {
            Target::Failed(row) => return row,
            Target::Ready {
                account,
                role,
                role_arn,
                via_role,
                caller_arn,
                cloud,
            } => (account, role, role_arn, via_role, caller_arn, cloud),
        };
        let mut out = DrillAccount::new(&account, &role_arn);
        if let Some(via) = &via_role {
            out.via_role = Some(via.clone());
            out.step(
                StepName::AssumeMemberRole,
                StepResult::Passed,
                format!("assumed {via}"),
                ctx.elapsed_ms(),
            );
        }
        let mut run = Run {
            responder: self,
            cloud: cloud.as_ref(),
            ctx,
            role,
            caller_arn,
            out,
        };
        let _ = run.drill().await;
        run.out
    }
}
