//! `DeleteRolePolicy` / `DeleteUserPolicy` through `aws_sdk_iam`, for a restore.

use super::iam::IamClient;
use super::{AwsResult, PolicyRemoval};
use crate::error::from_sdk;
use futures::future::BoxFuture;
use futures::FutureExt;

impl PolicyRemoval for IamClient {
    fn delete_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| from_sdk("DeleteRolePolicy", e))?;
            Ok(())
        }
        .boxed()
    }

    fn delete_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .delete_user_policy()
                .user_name(user)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| from_sdk("DeleteUserPolicy", e))?;
            Ok(())
        }
        .boxed()
    }
}
