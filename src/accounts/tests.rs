//! Account access: credentials cached per account, renewed, and refused accounts reported.

use super::*;
use crate::aws::{AwsResult, TemporaryCredentials};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts `AssumeRole` calls; fails them for account 999999999999.
struct CountingSts {
    assumed: AtomicUsize,
    lifetime: time::Duration,
}

impl Sts for CountingSts {
    fn caller_identity(&self) -> BoxFuture<'_, AwsResult<CallerIdentity>> {
        let id = CallerIdentity {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/responder/fn".into(),
        };
        futures::future::ready(Ok(id)).boxed()
    }
    fn assume_role<'a>(
        &'a self,
        role_arn: &'a str,
        session: &'a str,
        external_id: Option<&'a str>,
    ) -> BoxFuture<'a, AwsResult<TemporaryCredentials>> {
        self.assumed.fetch_add(1, Ordering::SeqCst);
        assert!(session.starts_with("session-revoker-"));
        assert_eq!(external_id, Some("ext"));
        let result = if role_arn.contains("999999999999") {
            Err(AwsError::new(
                "AssumeRole",
                "AccessDenied",
                "not authorized to perform sts:AssumeRole",
            ))
        } else {
            Ok(TemporaryCredentials {
                access_key_id: "ASIAEXAMPLE".into(),
                secret_access_key: "secret".into(),
                session_token: "token".into(),
                expiration: OffsetDateTime::now_utc() + self.lifetime,
            })
        };
        futures::future::ready(result).boxed()
    }
}

fn accounts(
    lifetime: time::Duration,
    member_role: Option<&str>,
) -> (SdkAccounts, Arc<CountingSts>) {
    let sts = Arc::new(CountingSts {
        assumed: AtomicUsize::new(0),
        lifetime,
    });
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .build();
    let mut vars = std::collections::HashMap::new();
    vars.insert("MEMBER_ROLE_EXTERNAL_ID".to_string(), "ext".to_string());
    if let Some(r) = member_role {
        vars.insert("MEMBER_ROLE_NAME".to_string(), r.to_string());
    }
    let config = crate::config::Config::from_vars(&vars).unwrap();
    (SdkAccounts::with_sts(sdk, &config, sts.clone()), sts)
}

#[tokio::test]
async fn member_credentials_are_cached_while_valid() {
    let (a, sts) = accounts(time::Duration::minutes(15), Some("member"));
    assert_eq!(
        a.identity().await.unwrap().role_name.as_deref(),
        Some("responder")
    );
    assert!(
        a.access("123456789012", "f1")
            .await
            .unwrap()
            .via_role
            .is_none(),
        "own account: no assume"
    );
    let first = a.access("111111111111", "f1").await.unwrap();
    assert_eq!(
        first.via_role.as_deref(),
        Some("arn:aws:iam::111111111111:role/member")
    );
    a.access("111111111111", "f2").await.unwrap();
    assert_eq!(sts.assumed.load(Ordering::SeqCst), 1);
    a.access("222222222222", "f3").await.unwrap();
    assert_eq!(sts.assumed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn nearly_expired_credentials_are_renewed() {
    let (a, sts) = accounts(time::Duration::minutes(1), Some("member"));
    a.access("111111111111", "f1").await.unwrap();
    a.access("111111111111", "f2").await.unwrap();
    assert_eq!(sts.assumed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unreachable_accounts_say_why() {
    let (a, _) = accounts(time::Duration::minutes(15), Some("member"));
    let u = a.access("999999999999", "f1").await.err().unwrap();
    assert_eq!(u.error.unwrap().code, "AccessDenied");
    assert!(u.reason.contains("arn:aws:iam::999999999999:role/member"));
    let (a, _) = accounts(time::Duration::minutes(15), None);
    let u = a.access("111111111111", "f1").await.err().unwrap();
    assert!(u.reason.contains("MEMBER_ROLE_NAME is not set"));
}

#[test]
fn session_names_identify_the_finding_within_sts_limits() {
    assert_eq!(member_session_name("abc123"), "session-revoker-abc123");
    assert_eq!(member_session_name("a b\"c*"), "session-revoker-abc");
    assert!(member_session_name(&"f".repeat(200)).len() <= 64);
    assert_eq!(member_session_name("***"), "session-revoker");
}
