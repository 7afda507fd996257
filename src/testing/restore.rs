//! The in-memory account's `DeleteRolePolicy` / `DeleteUserPolicy` (a restore).

use super::{no_such_entity, MemoryAccount};
use crate::aws::{AwsResult, PolicyRemoval};
use futures::future::BoxFuture;
use futures::FutureExt;

impl PolicyRemoval for MemoryAccount {
    fn delete_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.faults.enter("DeleteRolePolicy").await?;
            self.state()
                .role_policies
                .remove(&(role.to_string(), policy.to_string()))
                .map(|_| ())
                .ok_or_else(|| {
                    no_such_entity(
                        "DeleteRolePolicy",
                        format!("policy {policy} of role {role}"),
                    )
                })
        }
        .boxed()
    }

    fn delete_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.faults.enter("DeleteUserPolicy").await?;
            self.state()
                .user_policies
                .remove(&(user.to_string(), policy.to_string()))
                .map(|_| ())
                .ok_or_else(|| {
                    no_such_entity(
                        "DeleteUserPolicy",
                        format!("policy {policy} of user {user}"),
                    )
                })
        }
        .boxed()
    }
}
