//! IAM through `aws_sdk_iam`.

use super::{AccessKeys, AwsResult, InstanceProfiles, RolePolicies, Roles, UserPolicies, Users};
use crate::error::{from_sdk, AwsError};
use crate::model::{AccessKeyInfo, InstanceProfileInfo, KeyStatus, RoleInfo, UserInfo};
use aws_sdk_iam::types::{Role, StatusType};
use aws_sdk_iam::Client;
use futures::future::BoxFuture;
use futures::FutureExt;

pub struct IamClient(pub Client);

fn role_info(r: &Role) -> RoleInfo {
    RoleInfo {
        name: r.role_name().to_string(),
        arn: r.arn().to_string(),
        path: r.path().to_string(),
        role_id: r.role_id().to_string(),
        tags: r
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }
}

/// `GetRolePolicy`/`GetUserPolicy` return the document URL-encoded (RFC 3986).
pub fn decode_policy_document(encoded: &str, operation: &'static str) -> AwsResult<String> {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|e| AwsError::new(operation, "InvalidPolicyEncoding", e.to_string()))
}

/// Maps `NoSuchEntity` to `None`, keeping every other error.
fn absent_if_missing<T>(r: AwsResult<T>) -> AwsResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_code("NoSuchEntity") => Ok(None),
        Err(e) => Err(e),
    }
}

impl Roles for IamClient {
    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, AwsResult<Option<RoleInfo>>> {
        async move {
            let out = self.0.get_role().role_name(role).send().await;
            let out = absent_if_missing(out.map_err(|e| from_sdk("GetRole", e)))?;
            Ok(out.and_then(|o| o.role().map(role_info)))
        }
        .boxed()
    }

    fn list_roles(
        &self,
        marker: Option<String>,
    ) -> BoxFuture<'_, AwsResult<(Vec<RoleInfo>, Option<String>)>> {
        async move {
            let out = self
                .0
                .list_roles()
                .set_marker(marker)
                .max_items(1000)
                .send()
                .await
                .map_err(|e| from_sdk("ListRoles", e))?;
            let next = if out.is_truncated() {
                out.marker().map(str::to_string)
            } else {
                None
            };
            Ok((out.roles().iter().map(role_info).collect(), next))
        }
        .boxed()
    }
}

impl RolePolicies for IamClient {
    fn get_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        async move {
            let out = self
                .0
                .get_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
                .await;
            match absent_if_missing(out.map_err(|e| from_sdk("GetRolePolicy", e)))? {
                None => Ok(None),
                Some(o) => decode_policy_document(o.policy_document(), "GetRolePolicy").map(Some),
            }
        }
        .boxed()
    }

    fn put_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .put_role_policy()
                .role_name(role)
                .policy_name(policy)
                .policy_document(document)
                .send()
                .await
                .map_err(|e| from_sdk("PutRolePolicy", e))?;
            Ok(())
        }
        .boxed()
    }
}

impl Users for IamClient {
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, AwsResult<Option<UserInfo>>> {
        async move {
            let out = self.0.get_user().user_name(user).send().await;
            let out = absent_if_missing(out.map_err(|e| from_sdk("GetUser", e)))?;
            Ok(out.and_then(|o| {
                o.user().map(|u| UserInfo {
                    name: u.user_name().to_string(),
                    arn: u.arn().to_string(),
                    user_id: u.user_id().to_string(),
                })
            }))
        }
        .boxed()
    }
}

impl AccessKeys for IamClient {
    fn list_access_keys<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, AwsResult<Vec<AccessKeyInfo>>> {
        async move {
            let out = self
                .0
                .list_access_keys()
                .user_name(user)
                .send()
                .await
                .map_err(|e| from_sdk("ListAccessKeys", e))?;
            Ok(out
                .access_key_metadata()
                .iter()
                .map(|k| AccessKeyInfo {
                    access_key_id: k.access_key_id().unwrap_or_default().to_string(),
                    status: KeyStatus::parse(k.status().map_or("", |s| s.as_str())),
                })
                .collect())
        }
        .boxed()
    }

    fn deactivate_access_key<'a>(
        &'a self,
        user: &'a str,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .update_access_key()
                .user_name(user)
                .access_key_id(access_key_id)
                .status(StatusType::Inactive)
                .send()
                .await
                .map_err(|e| from_sdk("UpdateAccessKey", e))?;
            Ok(())
        }
        .boxed()
    }
}

impl UserPolicies for IamClient {
    fn get_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        async move {
            let out = self
                .0
                .get_user_policy()
                .user_name(user)
                .policy_name(policy)
                .send()
                .await;
            match absent_if_missing(out.map_err(|e| from_sdk("GetUserPolicy", e)))? {
                None => Ok(None),
                Some(o) => decode_policy_document(o.policy_document(), "GetUserPolicy").map(Some),
            }
        }
        .boxed()
    }

    fn put_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .put_user_policy()
                .user_name(user)
                .policy_name(policy)
                .policy_document(document)
                .send()
                .await
                .map_err(|e| from_sdk("PutUserPolicy", e))?;
            Ok(())
        }
        .boxed()
    }
}

impl InstanceProfiles for IamClient {
    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<InstanceProfileInfo>>> {
        async move {
            let out = self
                .0
                .get_instance_profile()
                .instance_profile_name(name)
                .send()
                .await;
            let out = absent_if_missing(out.map_err(|e| from_sdk("GetInstanceProfile", e)))?;
            Ok(out.and_then(|o| {
                o.instance_profile().map(|p| InstanceProfileInfo {
                    name: p.instance_profile_name().to_string(),
                    arn: p.arn().to_string(),
                    role_names: p
                        .roles()
                        .iter()
                        .map(|r| r.role_name().to_string())
                        .collect(),
                })
            }))
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_url_encoded_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_policy_document(encoded, "GetRolePolicy").unwrap(),
            r#"{"Version":"2012-10-17","Statement":[]}"#
        );
        // Already-decoded documents (some emulators) pass through unchanged.
        assert_eq!(
            decode_policy_document(r#"{"a":1}"#, "GetRolePolicy").unwrap(),
            r#"{"a":1}"#
        );
        let err = decode_policy_document("%FF%FE", "GetRolePolicy").unwrap_err();
        assert_eq!(err.code, "InvalidPolicyEncoding");
    }
}
