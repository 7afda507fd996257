//! AWS behind small traits: one SDK call per method, no SDK type in a signature.
//!
//! The planner never sees these; `act` and the fact gathering in `respond` call them.
//! The real implementations (`iam.rs`, `sns.rs`, `sts.rs`, `ec2.rs`) hold a client and
//! nothing else. The methods return boxed futures so the traits stay object-safe and a
//! responder can mix clients per account.

pub mod ec2;
pub mod iam;
pub mod sns;
pub mod sts;

use crate::error::AwsError;
use futures::future::BoxFuture;

pub type AwsResult<T> = Result<T, AwsError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub role_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub arn: String,
    pub user_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfileInfo {
    pub name: String,
    pub arn: String,
    pub role_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileAssociation {
    pub association_id: String,
    pub instance_id: String,
    pub profile_arn: String,
    /// `associating`, `associated`, `disassociating`, `disassociated`.
    pub state: String,
}

pub trait Iam: Send + Sync {
    /// `GetRole`; `Ok(None)` when the role does not exist.
    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, AwsResult<Option<RoleInfo>>>;
    /// One page of `ListRoles` (to find a role by its RoleId: IAM has no lookup by id).
    fn list_roles(
        &self,
        marker: Option<String>,
    ) -> BoxFuture<'_, AwsResult<(Vec<RoleInfo>, Option<String>)>>;
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
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, AwsResult<Option<UserInfo>>>;
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
    /// `GetInstanceProfile` by name; `Ok(None)` when it does not exist.
    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<InstanceProfileInfo>>>;
}

/// A report ready for SNS.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    pub topic_arn: String,
    pub subject: String,
    /// `MessageStructure=json` body: `default` (text) plus per-protocol bodies.
    pub message: String,
    pub attributes: Vec<(String, String)>,
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
    /// Current associations of an instance (states `associating` and `associated`).
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
