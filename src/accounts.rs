//! Which clients act in which account: the responder's own, or a member account's through
//! the assumed member role (credentials cached per account while valid, across warm
//! invocations).

use crate::aws::cloudtrail::CloudTrailClient;
use crate::aws::ec2::Ec2Client;
use crate::aws::guardduty::{Findings as GuardDutyFindings, GuardDutyClient};
use crate::aws::iam::IamClient;
use crate::aws::scheduler::SchedulerClient;
use crate::aws::sts::StsClient;
use crate::aws::{CallerIdentity, Ec2, EnabledRegions, EventHistory, Iam, Schedules, Sts};
use crate::error::AwsError;
use crate::names;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// Builds (and caches) the GuardDuty client of an account for a region (VERIFY_FINDINGS).
pub type GuardDutyFactory = Arc<dyn Fn(&str) -> Arc<dyn GuardDutyFindings> + Send + Sync>;
/// Builds (and caches) the EC2 client of an account for a region.
pub type Ec2Factory = Arc<dyn Fn(&str) -> Arc<dyn Ec2> + Send + Sync>;
/// Builds (and caches) one client of an account per region.
pub type PerRegion<T> = Arc<dyn Fn(&str) -> Arc<T> + Send + Sync>;
/// Builds (and caches) the CloudTrail client of an account for a region.
pub type EventHistoryFactory = Arc<dyn Fn(&str) -> Arc<dyn EventHistory> + Send + Sync>;

/// Who the responder is: its account and, when it runs as a role, that role's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub role_name: Option<String>,
}

/// IAM and EC2 for one account.
#[derive(Clone)]
pub struct AccountAccess {
    pub account: String,
    pub iam: Arc<dyn Iam>,
    /// The member role used, when the account is not the responder's own.
    pub via_role: Option<String>,
    ec2: Ec2Factory,
    /// CloudTrail of this account per region, for following the attacker (`None`: this
    /// account's event history cannot be read).
    event_history: Option<EventHistoryFactory>,
    /// GuardDuty of this account per region, for reading its copy of a finding (`None`: not
    /// readable here).
    guardduty: Option<GuardDutyFactory>,
    /// The fire drill's own calls in this account, with the same credentials (`None`: drills
    /// cannot run here).
    drill: Option<Arc<dyn crate::aws::drill::DrillCloud>>,
}

impl AccountAccess {
    pub fn new(
        account: String,
        iam: Arc<dyn Iam>,
        via_role: Option<String>,
        ec2: Ec2Factory,
    ) -> Self {
        Self {
            account,
            iam,
            via_role,
            ec2,
            event_history: None,
            guardduty: None,
            drill: None,
        }
    }

    /// With the fire drill's calls (organization mode) made with this account's credentials.
    pub fn with_drill(mut self, drill: Arc<dyn crate::aws::drill::DrillCloud>) -> Self {
        self.drill = Some(drill);
        self
    }

    /// The fire drill's calls in this account, when drills can run here.
    pub fn drill(&self) -> Option<Arc<dyn crate::aws::drill::DrillCloud>> {
        self.drill.clone()
    }

    /// With GuardDuty's findings readable in this account.
    pub fn with_guardduty(mut self, factory: GuardDutyFactory) -> Self {
        self.guardduty = Some(factory);
        self
    }

    /// The GuardDuty client of this account in `region`, when its findings can be read.
    pub fn guardduty(&self, region: &str) -> Option<Arc<dyn GuardDutyFindings>> {
        self.guardduty.as_ref().map(|f| f(region))
    }

    /// With CloudTrail's event history readable in this account.
    pub fn with_event_history(mut self, factory: EventHistoryFactory) -> Self {
        self.event_history = Some(factory);
        self
    }

    /// The CloudTrail client of this account in `region`, when its history can be read.
    pub fn event_history(&self, region: &str) -> Option<Arc<dyn EventHistory>> {
        self.event_history.as_ref().map(|f| f(region))
    }

    /// The EC2 client of this account in `region`.
    pub fn ec2(&self, region: &str) -> Arc<dyn Ec2> {
        (self.ec2)(region)
    }
}

/// Why an account could not be reached, and what a person must do there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub account: String,
    pub reason: String,
    pub error: Option<AwsError>,
}

pub trait Accounts: Send + Sync {
    /// The responder's identity (from `RESPONDER_ROLE_ARN`, else `GetCallerIdentity`, cached).
    fn identity(&self) -> BoxFuture<'_, Result<Identity, AwsError>>;
    /// Clients for `account`; `finding` names the role session in the member account.
    fn access<'a>(
        &'a self,
        account: &'a str,
        finding: &'a str,
    ) -> BoxFuture<'a, Result<AccountAccess, Unreachable>>;
    /// EventBridge Scheduler in the responder's own account and region, for the next
    /// CloudTrail look (`None`: schedules cannot be created here).
    fn scheduler(&self) -> Option<Arc<dyn Schedules>> {
        None
    }
    /// EC2 of the responder's own account, for the regions enabled there (the follow-up reads
    /// CloudTrail in each); `None`: not listable here, `TRAIL_REGIONS` or the finding's region
    /// and the global-events region only.
    fn regions(&self) -> Option<Arc<dyn EnabledRegions>> {
        None
    }
    /// The re-check queue (`RECHECK_QUEUE_URL`; `None`: the delayed look runs in the
    /// invocation, see `respond/recheck.rs`).
    fn recheck_queue(&self) -> Option<Arc<dyn crate::aws::sqs::RecheckQueue>> {
        None
    }
    /// The fire drill's own calls in the responder's account (`None`: drills cannot run here).
    fn drill(&self) -> Option<Arc<dyn crate::aws::drill::DrillCloud>> {
        None
    }
    /// sso-admin of the responder's own account in `region`, Identity Center's home region
    /// (`IDENTITY_CENTER_INSTANCE_ARN`; `None`: Identity Center cannot be managed from here).
    fn permission_sets(
        &self,
        _region: &str,
    ) -> Option<Arc<dyn crate::aws::sso_admin::PermissionSets>> {
        None
    }
}

/// The real accounts: built from the SDK configuration once per container.
pub struct SdkAccounts {
    sdk: aws_config::SdkConfig,
    sts: Arc<dyn Sts>,
    own: Mutex<Option<AccountAccess>>,
    identity_from_config: Option<Identity>,
    identity: tokio::sync::OnceCell<Identity>,
    member_role_name: Option<String>,
    member_external_id: Option<String>,
    /// account → (expiry, access): assumed credentials reused while valid.
    members: Mutex<HashMap<String, (OffsetDateTime, AccountAccess)>>,
    /// EventBridge Scheduler of the responder's own account, built on first use.
    scheduler: std::sync::OnceLock<Arc<dyn Schedules>>,
    /// The re-check queue's URL, and its client built on first use.
    recheck_queue_url: Option<String>,
    recheck_queue: std::sync::OnceLock<Arc<dyn crate::aws::sqs::RecheckQueue>>,
}

/// One client per region, built on first use and cached: `build` makes it from the SDK
/// configuration with that region (the endpoint and credentials stay the account's).
fn regional<T: ?Sized + Send + Sync + 'static>(
    sdk: aws_config::SdkConfig,
    build: fn(&aws_config::SdkConfig) -> Arc<T>,
) -> PerRegion<T> {
    let cache: Mutex<HashMap<String, Arc<T>>> = Mutex::new(HashMap::new());
    Arc::new(move |region: &str| {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(region.to_string())
            .or_insert_with(|| {
                build(
                    &sdk.to_builder()
                        .region(aws_config::Region::new(region.to_string()))
                        .build(),
                )
            })
            .clone()
    })
}

fn event_history_factory(sdk: aws_config::SdkConfig) -> EventHistoryFactory {
    regional(sdk, |c| {
        Arc::new(CloudTrailClient(aws_sdk_cloudtrail::Client::new(c))) as Arc<dyn EventHistory>
    })
}

fn guardduty_factory(sdk: aws_config::SdkConfig) -> GuardDutyFactory {
    regional(sdk, |c| {
        Arc::new(GuardDutyClient(aws_sdk_guardduty::Client::new(c))) as Arc<dyn GuardDutyFindings>
    })
}

fn ec2_factory(sdk: aws_config::SdkConfig) -> Ec2Factory {
    regional(sdk, |c| {
        Arc::new(Ec2Client(aws_sdk_ec2::Client::new(c))) as Arc<dyn Ec2>
    })
}

/// The STS client, created on its first call: with `RESPONDER_ROLE_ARN` set, a finding in the
/// responder's own account never needs STS, and no finding needs it before the first `next`.
struct LazySts {
    sdk: aws_config::SdkConfig,
    client: std::sync::OnceLock<StsClient>,
}

impl LazySts {
    fn client(&self) -> &StsClient {
        self.client
            .get_or_init(|| StsClient(aws_sdk_sts::Client::new(&self.sdk)))
    }
}

impl Sts for LazySts {
    fn caller_identity(&self) -> BoxFuture<'_, crate::aws::AwsResult<CallerIdentity>> {
        self.client().caller_identity()
    }

    fn assume_role<'a>(
        &'a self,
        role_arn: &'a str,
        session_name: &'a str,
        external_id: Option<&'a str>,
    ) -> BoxFuture<'a, crate::aws::AwsResult<crate::aws::TemporaryCredentials>> {
        self.client()
            .assume_role(role_arn, session_name, external_id)
    }
}

impl SdkAccounts {
    /// No client is created here: STS, and the IAM and EC2 clients of each account, are built
    /// on first use (keeps them off the cold-start path).
    pub fn new(sdk: aws_config::SdkConfig, config: &crate::config::Config) -> Self {
        let sts: Arc<dyn Sts> = Arc::new(LazySts {
            sdk: sdk.clone(),
            client: std::sync::OnceLock::new(),
        });
        Self::with_sts(sdk, config, sts)
    }

    /// As `new`, with the STS implementation given (tests count and fail its calls).
    pub fn with_sts(
        sdk: aws_config::SdkConfig,
        config: &crate::config::Config,
        sts: Arc<dyn Sts>,
    ) -> Self {
        let identity_from_config = config
            .responder_role_arn
            .as_deref()
            .and_then(names::parse_role_arn)
            .map(|(account, _, name)| Identity {
                account,
                role_name: Some(name),
            });
        Self {
            sts,
            sdk,
            own: Mutex::new(None),
            identity_from_config,
            identity: tokio::sync::OnceCell::new(),
            member_role_name: config.member_role_name.clone(),
            member_external_id: config.member_role_external_id.clone(),
            members: Mutex::new(HashMap::new()),
            scheduler: std::sync::OnceLock::new(),
            recheck_queue_url: config.recheck_queue_url.clone(),
            recheck_queue: std::sync::OnceLock::new(),
        }
    }

    /// Own-account clients, built on first use (keeps them off the cold-start path).
    fn own(&self, account: &str) -> AccountAccess {
        let mut own = self.own.lock().unwrap_or_else(|e| e.into_inner());
        own.get_or_insert_with(|| {
            AccountAccess::new(
                account.to_string(),
                Arc::new(IamClient(aws_sdk_iam::Client::new(&self.sdk))),
                None,
                ec2_factory(self.sdk.clone()),
            )
            .with_event_history(event_history_factory(self.sdk.clone()))
            .with_guardduty(guardduty_factory(self.sdk.clone()))
        })
        .clone()
    }

    async fn member(&self, account: &str, finding: &str) -> Result<AccountAccess, Unreachable> {
        let now = OffsetDateTime::now_utc();
        if let Some((expiry, access)) = self
            .members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
        {
            // Keep a margin so a cached session does not expire in the middle of a response.
            if *expiry > now + time::Duration::minutes(2) {
                return Ok(access.clone());
            }
        }
        let Some(role_name) = &self.member_role_name else {
            return Err(Unreachable {
                account: account.to_string(),
                reason: "the finding belongs to another account and MEMBER_ROLE_NAME is not set"
                    .into(),
                error: None,
            });
        };
        let partition = self.identity_partition();
        let role_arn = format!("arn:{partition}:iam::{account}:role/{role_name}");
        let session = member_session_name(finding);
        let creds = self
            .sts
            .assume_role(&role_arn, &session, self.member_external_id.as_deref())
            .await
            .map_err(|e| Unreachable {
                account: account.to_string(),
                reason: format!("assuming {role_arn} failed"),
                error: Some(e),
            })?;
        let provider = aws_sdk_iam::config::Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            Some(
                std::time::SystemTime::UNIX_EPOCH
                    + std::time::Duration::from_secs(
                        creds.expiration.unix_timestamp().max(0) as u64
                    ),
            ),
            "session-revoker-member-role",
        );
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        let access = AccountAccess::new(
            account.to_string(),
            Arc::new(IamClient(aws_sdk_iam::Client::new(&sdk))),
            Some(role_arn),
            ec2_factory(sdk.clone()),
        )
        .with_event_history(event_history_factory(sdk.clone()))
        .with_guardduty(guardduty_factory(sdk.clone()))
        .with_drill(Arc::new(crate::aws::drill::SdkDrill { sdk }));
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_string(), (creds.expiration, access.clone()));
        Ok(access)
    }

    fn identity_partition(&self) -> &'static str {
        match self.sdk.region().map(|r| r.as_ref()) {
            Some(r) if r.starts_with("cn-") => "aws-cn",
            Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
            _ => "aws",
        }
    }
}

/// A role session name that identifies the finding: `session-revoker-<finding id>`, cut to
/// STS's 64 characters and its alphabet.
pub fn member_session_name(finding: &str) -> String {
    let clean: String = finding
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@-".contains(*c))
        .take(48)
        .collect();
    if clean.is_empty() {
        "session-revoker".into()
    } else {
        format!("session-revoker-{clean}")
    }
}

impl Accounts for SdkAccounts {
    fn drill(&self) -> Option<Arc<dyn crate::aws::drill::DrillCloud>> {
        Some(Arc::new(crate::aws::drill::SdkDrill {
            sdk: self.sdk.clone(),
        }))
    }

    /// A client per call (findings on Identity Center roles are rare; the HTTP client and its
    /// connections are the SDK configuration's, shared), in Identity Center's home region.
    fn permission_sets(
        &self,
        region: &str,
    ) -> Option<Arc<dyn crate::aws::sso_admin::PermissionSets>> {
        let conf = aws_sdk_ssoadmin::config::Builder::from(&self.sdk)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Some(Arc::new(crate::aws::sso_admin::SsoAdminClient(
            aws_sdk_ssoadmin::Client::from_conf(conf),
        )))
    }

    fn regions(&self) -> Option<Arc<dyn EnabledRegions>> {
        Some(Arc::new(Ec2Client(aws_sdk_ec2::Client::new(&self.sdk))))
    }

    fn scheduler(&self) -> Option<Arc<dyn Schedules>> {
        Some(
            self.scheduler
                .get_or_init(|| {
                    Arc::new(SchedulerClient(aws_sdk_scheduler::Client::new(&self.sdk)))
                })
                .clone(),
        )
    }

    fn recheck_queue(&self) -> Option<Arc<dyn crate::aws::sqs::RecheckQueue>> {
        let url = self.recheck_queue_url.as_deref()?;
        Some(
            self.recheck_queue
                .get_or_init(|| Arc::new(crate::aws::sqs::SqsRecheckQueue::new(&self.sdk, url)))
                .clone(),
        )
    }

    fn identity(&self) -> BoxFuture<'_, Result<Identity, AwsError>> {
        async move {
            if let Some(id) = &self.identity_from_config {
                return Ok(id.clone());
            }
            self.identity
                .get_or_try_init(|| async {
                    let CallerIdentity { account, arn } = self.sts.caller_identity().await?;
                    Ok(Identity {
                        account,
                        role_name: names::role_name_from_assumed_role_arn(&arn).map(str::to_string),
                    })
                })
                .await
                .cloned()
        }
        .boxed()
    }

    fn access<'a>(
        &'a self,
        account: &'a str,
        finding: &'a str,
    ) -> BoxFuture<'a, Result<AccountAccess, Unreachable>> {
        async move {
            let own = self.identity().await.map_err(|e| Unreachable {
                account: account.to_string(),
                reason: "the responder's own account could not be determined".into(),
                error: Some(e),
            })?;
            if own.account == account {
                Ok(self.own(account))
            } else {
                self.member(account, finding).await
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
