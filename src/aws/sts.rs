//! STS through `aws_sdk_sts`.

use super::{AwsResult, CallerIdentity, Sts, TemporaryCredentials};
use crate::error::{from_sdk, AwsError};
use aws_sdk_sts::Client;
use futures::future::BoxFuture;
use futures::FutureExt;

pub struct StsClient(pub Client);

impl Sts for StsClient {
    fn caller_identity(&self) -> BoxFuture<'_, AwsResult<CallerIdentity>> {
        async move {
            let out = self
                .0
                .get_caller_identity()
                .send()
                .await
                .map_err(|e| from_sdk("GetCallerIdentity", e))?;
            Ok(CallerIdentity {
                account: out.account().unwrap_or_default().to_string(),
                arn: out.arn().unwrap_or_default().to_string(),
            })
        }
        .boxed()
    }

    fn assume_role<'a>(
        &'a self,
        role_arn: &'a str,
        session_name: &'a str,
        external_id: Option<&'a str>,
    ) -> BoxFuture<'a, AwsResult<TemporaryCredentials>> {
        async move {
            let out = self
                .0
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(session_name)
                .set_external_id(external_id.map(str::to_string))
                .duration_seconds(900)
                .send()
                .await
                .map_err(|e| from_sdk("AssumeRole", e))?;
            let c = out.credentials().ok_or_else(|| {
                AwsError::new(
                    "AssumeRole",
                    "MissingCredentials",
                    "no credentials in the response",
                )
            })?;
            let expiration = time::OffsetDateTime::from_unix_timestamp(c.expiration().secs())
                .map_err(|e| AwsError::new("AssumeRole", "InvalidExpiration", e.to_string()))?;
            Ok(TemporaryCredentials {
                access_key_id: c.access_key_id().to_string(),
                secret_access_key: c.secret_access_key().to_string(),
                session_token: c.session_token().to_string(),
                expiration,
            })
        }
        .boxed()
    }
}
