//! `ListRoleTags` through `aws_sdk_iam`: the role's approval tag (issue 25).

use super::iam::IamClient;
use super::{AwsResult, RoleTags};
use crate::error::from_sdk;
use futures::future::BoxFuture;
use futures::FutureExt;

impl RoleTags for IamClient {
    fn role_tag<'a>(
        &'a self,
        role: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        async move {
            let out = self
                .0
                .list_role_tags()
                .role_name(role)
                .max_items(100)
                .send()
                .await
                .map_err(|e| from_sdk("ListRoleTags", e));
            match out {
                // IAM refuses two keys of one role that differ only in case: whatever case a
                // person wrote the key in, it is the one tag.
                Ok(o) => Ok(o
                    .tags()
                    .iter()
                    .find(|t| t.key().eq_ignore_ascii_case(key))
                    .map(|t| t.value().to_string())),
                Err(e) if e.is_code("NoSuchEntity") => Ok(None),
                Err(e) => Err(e),
            }
        }
        .boxed()
    }
}
