//! IAM Identity Center administration (sso-admin) through `aws_sdk_ssoadmin`: the permission
//! set's inline policy and its provisioning to an account.
//!
//! The client belongs to the responder's own account (the Identity Center management or
//! delegated administrator account) and to Identity Center's home region: sso-admin answers
//! only there.

use super::AwsResult;
use crate::error::{from_sdk, AwsError};
use aws_sdk_ssoadmin::types::{ProvisionTargetType, StatusValues};
use aws_sdk_ssoadmin::Client;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};

/// Where a provisioning request stands (`PermissionSetProvisioningStatus.Status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisioningState {
    InProgress,
    Succeeded,
    Failed,
    /// A value sso-admin may add later: neither done nor failed.
    Other(String),
}

impl ProvisioningState {
    pub fn as_str(&self) -> &str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Other(s) => s,
        }
    }
}

/// A provisioning request and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioning {
    pub request_id: String,
    pub state: ProvisioningState,
    pub failure_reason: Option<String>,
}

/// A permission set as `DescribePermissionSet` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSetInfo {
    pub arn: String,
    pub name: String,
}

/// The permission sets of an Identity Center instance: one SDK call per method.
pub trait PermissionSets: Send + Sync {
    /// One page of `ListPermissionSets`: ARNs and the next token.
    fn list_permission_sets<'a>(
        &'a self,
        instance_arn: &'a str,
        next_token: Option<String>,
    ) -> BoxFuture<'a, AwsResult<(Vec<String>, Option<String>)>>;
    /// `DescribePermissionSet`.
    fn describe_permission_set<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<PermissionSetInfo>>;
    /// `GetInlinePolicyForPermissionSet`; `None` when the permission set has none.
    fn get_inline_policy<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>>;
    /// `PutInlinePolicyToPermissionSet` (replaces the whole inline policy).
    fn put_inline_policy<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
    /// `ProvisionPermissionSet` to one account (`TargetType=AWS_ACCOUNT`).
    fn provision<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        account: &'a str,
    ) -> BoxFuture<'a, AwsResult<Provisioning>>;
    /// `DescribePermissionSetProvisioningStatus`.
    fn provisioning_status<'a>(
        &'a self,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Provisioning>>;
}

/// Most `ListPermissionSets` pages read (100 a page; Identity Center's default quota is 2000
/// permission sets per instance).
pub const MAX_PERMISSION_SET_PAGES: usize = 30;
/// `DescribePermissionSet` calls in flight at once while looking for a name.
const DESCRIBE_CONCURRENCY: usize = 8;

/// Finds a permission set by name: sso-admin has no lookup by name, so each listed ARN is
/// described (a few at once) until one has it. `Ok(None)`: no permission set of that name.
pub async fn find_by_name<P: PermissionSets + ?Sized>(
    sets: &P,
    instance_arn: &str,
    name: &str,
) -> AwsResult<Option<String>> {
    let mut token = None;
    for _ in 0..MAX_PERMISSION_SET_PAGES {
        let (arns, next) = sets.list_permission_sets(instance_arn, token).await?;
        // The calls are made into a list first: a stream that maps with a closure over borrowed
        // ARNs is not `Send` to rustc's higher-ranked inference.
        let calls: Vec<_> = arns
            .iter()
            .map(|arn| sets.describe_permission_set(instance_arn, arn))
            .collect();
        let mut described = futures::stream::iter(calls).buffer_unordered(DESCRIBE_CONCURRENCY);
        while let Some(info) = described.try_next().await? {
            if info.name == name {
                return Ok(Some(info.arn));
            }
        }
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(None),
        }
    }
    Err(AwsError::new(
        "ListPermissionSets",
        "TooManyPermissionSets",
        format!(
            "no permission set named {name} in the first {MAX_PERMISSION_SET_PAGES} pages of ListPermissionSets"
        ),
    ))
}

pub struct SsoAdminClient(pub Client);

fn provisioning(
    operation: &'static str,
    status: Option<&aws_sdk_ssoadmin::types::PermissionSetProvisioningStatus>,
) -> AwsResult<Provisioning> {
    let status = status.ok_or_else(|| {
        AwsError::new(
            operation,
            "MissingProvisioningStatus",
            "no PermissionSetProvisioningStatus in the response",
        )
    })?;
    let request_id = status
        .request_id()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            AwsError::new(
                operation,
                "MissingRequestId",
                "the provisioning status carries no RequestId",
            )
        })?
        .to_string();
    let state = match status.status() {
        Some(StatusValues::InProgress) => ProvisioningState::InProgress,
        Some(StatusValues::Succeeded) => ProvisioningState::Succeeded,
        Some(StatusValues::Failed) => ProvisioningState::Failed,
        Some(other) => ProvisioningState::Other(other.as_str().to_string()),
        None => ProvisioningState::Other("(none)".into()),
    };
    Ok(Provisioning {
        request_id,
        state,
        failure_reason: status
            .failure_reason()
            .map(|r| crate::error::bounded(r, 500)),
    })
}

impl PermissionSets for SsoAdminClient {
    fn list_permission_sets<'a>(
        &'a self,
        instance_arn: &'a str,
        next_token: Option<String>,
    ) -> BoxFuture<'a, AwsResult<(Vec<String>, Option<String>)>> {
        async move {
            let out = self
                .0
                .list_permission_sets()
                .instance_arn(instance_arn)
                .set_next_token(next_token)
                .max_results(100)
                .send()
                .await
                .map_err(|e| from_sdk("ListPermissionSets", e))?;
            Ok((
                out.permission_sets().to_vec(),
                out.next_token().map(str::to_string),
            ))
        }
        .boxed()
    }

    fn describe_permission_set<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<PermissionSetInfo>> {
        async move {
            let out = self
                .0
                .describe_permission_set()
                .instance_arn(instance_arn)
                .permission_set_arn(permission_set_arn)
                .send()
                .await
                .map_err(|e| from_sdk("DescribePermissionSet", e))?;
            let set = out.permission_set();
            Ok(PermissionSetInfo {
                arn: set
                    .and_then(|s| s.permission_set_arn())
                    .unwrap_or(permission_set_arn)
                    .to_string(),
                name: set.and_then(|s| s.name()).unwrap_or_default().to_string(),
            })
        }
        .boxed()
    }

    fn get_inline_policy<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        async move {
            let out = self
                .0
                .get_inline_policy_for_permission_set()
                .instance_arn(instance_arn)
                .permission_set_arn(permission_set_arn)
                .send()
                .await
                .map_err(|e| from_sdk("GetInlinePolicyForPermissionSet", e))?;
            let Some(policy) = out.inline_policy().filter(|p| !p.trim().is_empty()) else {
                return Ok(None);
            };
            // sso-admin returns the document as written; should it ever arrive URL-encoded as
            // IAM's GetRolePolicy does, decode it rather than misread it.
            if policy.trim_start().starts_with('{') {
                Ok(Some(policy.to_string()))
            } else {
                super::iam::decode_policy_document(policy, "GetInlinePolicyForPermissionSet")
                    .map(Some)
            }
        }
        .boxed()
    }

    fn put_inline_policy<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .put_inline_policy_to_permission_set()
                .instance_arn(instance_arn)
                .permission_set_arn(permission_set_arn)
                .inline_policy(document)
                .send()
                .await
                .map_err(|e| from_sdk("PutInlinePolicyToPermissionSet", e))?;
            Ok(())
        }
        .boxed()
    }

    fn provision<'a>(
        &'a self,
        instance_arn: &'a str,
        permission_set_arn: &'a str,
        account: &'a str,
    ) -> BoxFuture<'a, AwsResult<Provisioning>> {
        async move {
            let out = self
                .0
                .provision_permission_set()
                .instance_arn(instance_arn)
                .permission_set_arn(permission_set_arn)
                .target_type(ProvisionTargetType::AwsAccount)
                .target_id(account)
                .send()
                .await
                .map_err(|e| from_sdk("ProvisionPermissionSet", e))?;
            provisioning(
                "ProvisionPermissionSet",
                out.permission_set_provisioning_status(),
            )
        }
        .boxed()
    }

    fn provisioning_status<'a>(
        &'a self,
        instance_arn: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Provisioning>> {
        async move {
            let out = self
                .0
                .describe_permission_set_provisioning_status()
                .instance_arn(instance_arn)
                .provision_permission_set_request_id(request_id)
                .send()
                .await
                .map_err(|e| from_sdk("DescribePermissionSetProvisioningStatus", e))?;
            provisioning(
                "DescribePermissionSetProvisioningStatus",
                out.permission_set_provisioning_status(),
            )
        }
        .boxed()
    }
}
