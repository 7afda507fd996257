//! What a fire drill calls besides the production path (issue 23): the canary's tags, the
//! drill's own sessions of the canary, and the canary's one allowed call made with a session.
//! One SDK call per method.

use super::{AwsResult, TemporaryCredentials};
use crate::error::{from_sdk, AwsError};
use futures::future::BoxFuture;
use futures::FutureExt;

/// A role's tags, as (key, value).
pub type Tags = Vec<(String, String)>;

/// A session the drill assumed: its credentials and its `aws:userid` (`<RoleId>:<session>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillSession {
    pub name: String,
    pub userid: String,
    pub credentials: TemporaryCredentials,
}

pub trait DrillCloud: Send + Sync {
    /// `iam:ListRoleTags` with the function's credentials; `Ok(None)` when the role does not
    /// exist.
    fn list_role_tags<'a>(&'a self, role: &'a str) -> BoxFuture<'a, AwsResult<Option<Tags>>>;
    /// `sts:AssumeRole` with the function's credentials, for the shortest duration (900 s).
    fn assume<'a>(
        &'a self,
        role_arn: &'a str,
        session: &'a str,
    ) -> BoxFuture<'a, AwsResult<DrillSession>>;
    /// `iam:GetRole` on `role` with the session's credentials: the canary's one allowed call.
    fn get_role_as<'a>(
        &'a self,
        session: &'a DrillSession,
        role: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
}

/// The SDK's clients: the function's own, and one per drill session, each built for its call.
pub struct SdkDrill {
    pub sdk: aws_config::SdkConfig,
}

impl DrillCloud for SdkDrill {
    fn list_role_tags<'a>(&'a self, role: &'a str) -> BoxFuture<'a, AwsResult<Option<Tags>>> {
        async move {
            let out = aws_sdk_iam::Client::new(&self.sdk)
                .list_role_tags()
                .role_name(role)
                .send()
                .await
                .map_err(|e| from_sdk("ListRoleTags", e));
            match out {
                Ok(o) => Ok(Some(
                    o.tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                )),
                Err(e) if e.is_code("NoSuchEntity") => Ok(None),
                Err(e) => Err(e),
            }
        }
        .boxed()
    }

    fn assume<'a>(
        &'a self,
        role_arn: &'a str,
        session: &'a str,
    ) -> BoxFuture<'a, AwsResult<DrillSession>> {
        async move {
            let out = aws_sdk_sts::Client::new(&self.sdk)
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(session)
                .duration_seconds(revoker_core::drill::SESSION_SECONDS as i32)
                .send()
                .await
                .map_err(|e| from_sdk("AssumeRole", e))?;
            let missing = |what: &str| {
                AwsError::new(
                    "AssumeRole",
                    "MissingCredentials",
                    format!("no {what} in the response"),
                )
            };
            let c = out.credentials().ok_or_else(|| missing("credentials"))?;
            let userid = out
                .assumed_role_user()
                .map(|u| u.assumed_role_id().to_string())
                .ok_or_else(|| missing("AssumedRoleUser"))?;
            let expiration = time::OffsetDateTime::from_unix_timestamp(c.expiration().secs())
                .map_err(|e| AwsError::new("AssumeRole", "InvalidExpiration", e.to_string()))?;
            Ok(DrillSession {
                name: session.to_string(),
                userid,
                credentials: TemporaryCredentials {
                    access_key_id: c.access_key_id().to_string(),
                    secret_access_key: c.secret_access_key().to_string(),
                    session_token: c.session_token().to_string(),
                    expiration,
                },
            })
        }
        .boxed()
    }

    fn get_role_as<'a>(
        &'a self,
        session: &'a DrillSession,
        role: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            let c = &session.credentials;
            let provider = aws_sdk_iam::config::Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                Some(c.session_token.clone()),
                None,
                "session-revoker-drill",
            );
            // No retries: each poll is one request, and a refusal is an answer, not a fault.
            let sdk = self
                .sdk
                .to_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build();
            aws_sdk_iam::Client::new(&sdk)
                .get_role()
                .role_name(role)
                .send()
                .await
                .map_err(|e| from_sdk("GetRole", e))?;
            Ok(())
        }
        .boxed()
    }
}
