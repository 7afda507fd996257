//! AWS behind small traits: one SDK call per method, no SDK type in a signature.
//!
//! The planner never sees these; `act` and the fact gathering in `respond` call them.
//! The real implementations (`iam.rs`, `sns.rs`, `sts.rs`, `ec2.rs`) hold a client and
//! nothing else. The methods return boxed futures so the traits stay object-safe and a
//! responder can mix clients per account.

pub mod cloudtrail;
pub mod drill;
pub mod ec2;
pub mod guardduty;
pub mod iam;
mod iam_restore;
pub mod scheduler;
pub mod sns;
pub mod sqs;
pub mod sso_admin;
pub mod sts;

use crate::error::AwsError;
pub use crate::model::{
    AccessKeyInfo, AssociationState, InstanceProfileInfo, KeyStatus, ProfileAssociation,
    Publication, RoleInfo, UserInfo,
};
use futures::future::BoxFuture;

pub type AwsResult<T> = Result<T, AwsError>;

/// Attempts per AWS call (the first and seven retries) for throttling, 5xx and timeouts. Five
/// were too few when a burst meets IAM's per-account write limit: `make bench`'s burst at 1
/// write/s per account sent 10 of 1,000 findings to the failure queue once the settle pass no
/// longer slept inside the invocation (its sleeps had spaced the writes out).
pub const MAX_ATTEMPTS: u32 = 8;

/// The SDK retry behaviour, chosen rather than left to defaults: standard mode (exponential
/// backoff with jitter; throttling, 5xx and timeouts retried), [`MAX_ATTEMPTS`] attempts, 200 ms
/// first backoff, 5 s cap: at most about 16 s of backoff per call, well inside the invocation
/// time, and below the re-check's delay (`respond::recheck::RECHECK_DELAY_SECONDS`), which must
/// outlast any writer's read-to-write gap.
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(std::time::Duration::from_millis(200))
        .with_max_backoff(std::time::Duration::from_secs(5))
}

/// Reading roles (`GetRole`, `ListRoles`).
pub trait Roles: Send + Sync {
    /// `GetRole`; `Ok(None)` when the role does not exist.
    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, AwsResult<Option<RoleInfo>>>;
    /// One page of `ListRoles` (to find a role by its RoleId: IAM has no lookup by id).
    fn list_roles(
        &self,
        marker: Option<String>,
    ) -> BoxFuture<'_, AwsResult<(Vec<RoleInfo>, Option<String>)>>;
}

/// A role's inline policies.
pub trait RolePolicies: Send + Sync {
    /// `GetRolePolicy`, URL-decoded; `Ok(None)` when the role has no such inline policy.
    fn get_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>>;
    fn put_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
}

/// Reading users (`GetUser`).
pub trait Users: Send + Sync {
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, AwsResult<Option<UserInfo>>>;
}

/// A user's long-term access keys.
pub trait AccessKeys: Send + Sync {
    fn list_access_keys<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, AwsResult<Vec<AccessKeyInfo>>>;
    /// `UpdateAccessKey Status=Inactive` for exactly this key.
    fn deactivate_access_key<'a>(
        &'a self,
        user: &'a str,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
}

/// A user's inline policies.
pub trait UserPolicies: Send + Sync {
    fn get_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>>;
    fn put_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
        document: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
}

/// Removing an inline policy this function wrote (a restore, when nothing else is left in it).
pub trait PolicyRemoval: Send + Sync {
    /// `DeleteRolePolicy`.
    fn delete_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
    /// `DeleteUserPolicy`.
    fn delete_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>>;
}

/// Reading instance profiles.
pub trait InstanceProfiles: Send + Sync {
    /// `GetInstanceProfile` by name; `Ok(None)` when it does not exist.
    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<InstanceProfileInfo>>>;
}

/// Everything the responder does in IAM, for the account handle that carries one client:
/// functions take the narrowest capability they use.
pub trait Iam:
    Roles + RolePolicies + Users + AccessKeys + UserPolicies + InstanceProfiles + PolicyRemoval
{
}

impl<T> Iam for T where
    T: Roles + RolePolicies + Users + AccessKeys + UserPolicies + InstanceProfiles + PolicyRemoval
{
}

pub trait Notifier: Send + Sync {
    /// `Publish`; returns the message id.
    fn publish<'a>(&'a self, publication: &'a Publication) -> BoxFuture<'a, AwsResult<String>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: time::OffsetDateTime,
}

pub trait Sts: Send + Sync {
    fn caller_identity(&self) -> BoxFuture<'_, AwsResult<CallerIdentity>>;
    fn assume_role<'a>(
        &'a self,
        role_arn: &'a str,
        session_name: &'a str,
        external_id: Option<&'a str>,
    ) -> BoxFuture<'a, AwsResult<TemporaryCredentials>>;
}

pub trait Ec2: Send + Sync {
    /// Current associations of an instance (states `associating`, `associated` and
    /// `disassociating`: one on its way out is not gone yet).
    fn describe_associations<'a>(
        &'a self,
        instance_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Vec<ProfileAssociation>>>;
    fn disassociate<'a>(&'a self, association_id: &'a str) -> BoxFuture<'a, AwsResult<()>>;
    /// Returns the new association id.
    fn associate<'a>(
        &'a self,
        instance_id: &'a str,
        profile_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<String>>;
    /// Returns the new association id.
    fn replace<'a>(
        &'a self,
        association_id: &'a str,
        profile_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<String>>;
}

/// The regions enabled for the account (`ec2:DescribeRegions`): the follow-up reads the stolen
/// key's CloudTrail events in each, since STS calls to a regional endpoint are recorded in that
/// region and the caller picks the endpoint.
pub trait EnabledRegions: Send + Sync {
    /// Region names, the account's enabled ones only (opt-in regions not opted into are left
    /// out: nothing can be called there).
    fn enabled_regions(&self) -> BoxFuture<'_, AwsResult<Vec<String>>>;
}

/// One page of `LookupEvents` for one access key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsPage {
    pub events: Vec<revoker_core::follow::LookedUpEvent>,
    pub next_token: Option<String>,
}

/// CloudTrail's event history of one account and region.
pub trait EventHistory: Send + Sync {
    /// One page of `LookupEvents` filtered by `AccessKeyId`, between `start` and `end`.
    fn lookup_events_by_key<'a>(
        &'a self,
        access_key_id: &'a str,
        start: time::OffsetDateTime,
        end: time::OffsetDateTime,
        next_token: Option<String>,
    ) -> BoxFuture<'a, AwsResult<EventsPage>>;
}

/// A one-time EventBridge Scheduler schedule that invokes the function with `input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeSchedule {
    /// Unique per look: a second `CreateSchedule` of the same name is `ConflictException`.
    pub name: String,
    pub at: time::OffsetDateTime,
    pub target_arn: String,
    pub role_arn: String,
    pub input: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleCreated {
    Created(String),
    /// A schedule of that name exists: the look is already scheduled.
    AlreadyExists,
}

/// EventBridge Scheduler in the responder's account and region.
pub trait Schedules: Send + Sync {
    fn create_one_time<'a>(
        &'a self,
        schedule: &'a OneTimeSchedule,
    ) -> BoxFuture<'a, AwsResult<ScheduleCreated>>;
}
