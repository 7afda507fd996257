//! Test support: an in-memory account (roles, users, keys, inline policies, instance-profile
//! associations, published reports) implementing every capability trait, with failure
//! injection, so the orchestration gets fast unit tests without an emulator.
//!
//! This is a fake for unit tests of decisions and failure paths. It evaluates no policy and
//! enforces no quota: the emulator tests and the drills do that.

mod faults;
mod queue;
mod restore;
mod trail;

pub use faults::Faults;
pub use queue::{MemoryQueue, OWN_SENDER};
pub use trail::{MemoryScheduler, MemoryTrail};

use crate::accounts::{AccountAccess, Accounts, Identity, Unreachable};
use crate::aws::{
    AccessKeys, AwsResult, Ec2, InstanceProfiles, Notifier, RolePolicies, Roles, UserPolicies,
    Users,
};
use crate::error::AwsError;
use crate::model::{
    AccessKeyInfo, AssociationState, InstanceProfileInfo, KeyStatus, ProfileAssociation,
    Publication, RoleInfo, UserInfo,
};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct State {
    roles: BTreeMap<String, RoleInfo>,
    role_policies: BTreeMap<(String, String), String>,
    role_tags: BTreeMap<(String, String), String>,
    users: BTreeMap<String, UserInfo>,
    keys: BTreeMap<String, Vec<AccessKeyInfo>>,
    user_policies: BTreeMap<(String, String), String>,
    profiles: BTreeMap<String, InstanceProfileInfo>,
    associations: Vec<ProfileAssociation>,
    published: Vec<Publication>,
    next_id: u32,
}

/// One AWS account in memory.
#[derive(Debug)]
pub struct MemoryAccount {
    pub account: String,
    state: Mutex<State>,
    pub faults: Faults,
}

impl MemoryAccount {
    pub fn new(account: &str) -> Arc<Self> {
        Arc::new(Self {
            account: account.to_string(),
            state: Mutex::new(State::default()),
            faults: Faults::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a role at `path` (`/` for most) with a RoleId made from its name.
    pub fn add_role(&self, name: &str, path: &str) -> RoleInfo {
        let role = RoleInfo {
            name: name.to_string(),
            arn: format!("arn:aws:iam::{}:role{path}{name}", self.account),
            path: path.to_string(),
            role_id: role_id_of(name),
            tags: Vec::new(),
        };
        self.state().roles.insert(name.to_string(), role.clone());
        role
    }

    pub fn add_user(&self, name: &str, keys: &[(&str, KeyStatus)]) {
        let mut s = self.state();
        s.users.insert(
            name.to_string(),
            UserInfo {
                name: name.to_string(),
                arn: format!("arn:aws:iam::{}:user/{name}", self.account),
                user_id: format!("AIDA{:0>17}", name.to_uppercase().replace('-', "")),
            },
        );
        s.keys.insert(
            name.to_string(),
            keys.iter()
                .map(|(id, status)| AccessKeyInfo {
                    access_key_id: id.to_string(),
                    status: status.clone(),
                })
                .collect(),
        );
    }

    /// An instance profile holding `role`, associated with `instance_id`.
    pub fn add_instance_profile(&self, name: &str, role: &str, instance_id: &str) {
        let arn = format!("arn:aws:iam::{}:instance-profile/{name}", self.account);
        let mut s = self.state();
        s.profiles.insert(
            name.to_string(),
            InstanceProfileInfo {
                name: name.to_string(),
                arn: arn.clone(),
                role_names: vec![role.to_string()],
            },
        );
        s.associations.push(ProfileAssociation {
            association_id: "iip-assoc-0".into(),
            instance_id: instance_id.to_string(),
            profile_arn: arn,
            state: AssociationState::Associated,
        });
    }

    /// Tags a role (`TagRole`): `key` = `value`.
    pub fn tag_role(&self, role: &str, key: &str, value: &str) {
        self.state()
            .role_tags
            .insert((role.into(), key.into()), value.into());
    }

    pub fn put_role_policy_now(&self, role: &str, policy: &str, document: &str) {
        self.state()
            .role_policies
            .insert((role.into(), policy.into()), document.into());
    }

    pub fn role_policy(&self, role: &str, policy: &str) -> Option<String> {
        self.state()
            .role_policies
            .get(&(role.to_string(), policy.to_string()))
            .cloned()
    }

    pub fn user_policy(&self, user: &str, policy: &str) -> Option<String> {
        self.state()
            .user_policies
            .get(&(user.to_string(), policy.to_string()))
            .cloned()
    }

    pub fn key_status(&self, user: &str, key: &str) -> Option<KeyStatus> {
        self.state()
            .keys
            .get(user)?
            .iter()
            .find(|k| k.access_key_id == key)
            .map(|k| k.status.clone())
    }

    pub fn associations(&self) -> Vec<ProfileAssociation> {
        self.state().associations.clone()
    }

    pub fn published(&self) -> Vec<Publication> {
        self.state().published.clone()
    }
}

/// A RoleId of IAM's shape derived from the name, stable across calls.
pub fn role_id_of(name: &str) -> String {
    let digits: String = name
        .bytes()
        .map(|b| (b'A' + b % 26) as char)
        .chain(std::iter::repeat('X'))
        .take(17)
        .collect();
    format!("AROA{digits}")
}

fn no_such_entity(operation: &'static str, what: String) -> AwsError {
    AwsError::new(operation, "NoSuchEntity", format!("{what} cannot be found"))
}

impl Roles for MemoryAccount {
    fn get_role<'a>(&'a self, role: &'a str) -> BoxFuture<'a, AwsResult<Option<RoleInfo>>> {
        async move {
            self.faults.enter("GetRole").await?;
            let state = self.state();
            // GetRole answers the role's tags with it.
            Ok(state.roles.get(role).cloned().map(|mut r| {
                r.tags = state
                    .role_tags
                    .iter()
                    .filter(|((name, _), _)| name == role)
                    .map(|((_, k), v)| (k.clone(), v.clone()))
                    .collect();
                r
            }))
        }
        .boxed()
    }

    fn list_roles(
        &self,
        _marker: Option<String>,
    ) -> BoxFuture<'_, AwsResult<(Vec<RoleInfo>, Option<String>)>> {
        async move {
            self.faults.enter("ListRoles").await?;
            Ok((self.state().roles.values().cloned().collect(), None))
        }
        .boxed()
    }
}

impl RolePolicies for MemoryAccount {
    fn get_role_policy<'a>(
        &'a self,
        role: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        async move {
            self.faults.enter("GetRolePolicy").await?;
            Ok(self.role_policy(role, policy))
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
            self.faults.enter("PutRolePolicy").await?;
            if !self.state().roles.contains_key(role) {
                return Err(no_such_entity("PutRolePolicy", format!("role {role}")));
            }
            self.put_role_policy_now(role, policy, document);
            Ok(())
        }
        .boxed()
    }
}

impl Users for MemoryAccount {
    fn get_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, AwsResult<Option<UserInfo>>> {
        async move {
            self.faults.enter("GetUser").await?;
            Ok(self.state().users.get(user).cloned())
        }
        .boxed()
    }
}

impl AccessKeys for MemoryAccount {
    fn list_access_keys<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, AwsResult<Vec<AccessKeyInfo>>> {
        async move {
            self.faults.enter("ListAccessKeys").await?;
            self.state()
                .keys
                .get(user)
                .cloned()
                .ok_or_else(|| no_such_entity("ListAccessKeys", format!("user {user}")))
        }
        .boxed()
    }

    fn deactivate_access_key<'a>(
        &'a self,
        user: &'a str,
        access_key_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.faults.enter("UpdateAccessKey").await?;
            let mut s = self.state();
            let key = s
                .keys
                .get_mut(user)
                .and_then(|keys| keys.iter_mut().find(|k| k.access_key_id == access_key_id))
                .ok_or_else(|| no_such_entity("UpdateAccessKey", format!("key {access_key_id}")))?;
            key.status = KeyStatus::Inactive;
            Ok(())
        }
        .boxed()
    }
}

impl UserPolicies for MemoryAccount {
    fn get_user_policy<'a>(
        &'a self,
        user: &'a str,
        policy: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<String>>> {
        async move {
            self.faults.enter("GetUserPolicy").await?;
            Ok(self.user_policy(user, policy))
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
            self.faults.enter("PutUserPolicy").await?;
            let mut s = self.state();
            if !s.users.contains_key(user) {
                return Err(no_such_entity("PutUserPolicy", format!("user {user}")));
            }
            s.user_policies
                .insert((user.into(), policy.into()), document.into());
            Ok(())
        }
        .boxed()
    }
}

impl InstanceProfiles for MemoryAccount {
    fn get_instance_profile<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, AwsResult<Option<InstanceProfileInfo>>> {
        async move {
            self.faults.enter("GetInstanceProfile").await?;
            Ok(self.state().profiles.get(name).cloned())
        }
        .boxed()
    }
}

impl Ec2 for MemoryAccount {
    fn describe_associations<'a>(
        &'a self,
        instance_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Vec<ProfileAssociation>>> {
        async move {
            self.faults
                .enter("DescribeIamInstanceProfileAssociations")
                .await?;
            Ok(self
                .state()
                .associations
                .iter()
                .filter(|a| a.instance_id == instance_id)
                .cloned()
                .collect())
        }
        .boxed()
    }

    fn disassociate<'a>(&'a self, association_id: &'a str) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.faults.enter("DisassociateIamInstanceProfile").await?;
            self.state()
                .associations
                .retain(|a| a.association_id != association_id);
            Ok(())
        }
        .boxed()
    }

    fn associate<'a>(
        &'a self,
        instance_id: &'a str,
        profile_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            self.faults.enter("AssociateIamInstanceProfile").await?;
            let mut s = self.state();
            s.next_id += 1;
            let id = format!("iip-assoc-{}", s.next_id);
            s.associations.push(ProfileAssociation {
                association_id: id.clone(),
                instance_id: instance_id.into(),
                profile_arn: profile_arn.into(),
                state: AssociationState::Associated,
            });
            Ok(id)
        }
        .boxed()
    }

    fn replace<'a>(
        &'a self,
        association_id: &'a str,
        profile_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            self.faults
                .enter("ReplaceIamInstanceProfileAssociation")
                .await?;
            let mut s = self.state();
            s.next_id += 1;
            let id = format!("iip-assoc-{}", s.next_id);
            let a = s
                .associations
                .iter_mut()
                .find(|a| a.association_id == association_id)
                .ok_or_else(|| {
                    AwsError::new(
                        "ReplaceIamInstanceProfileAssociation",
                        "InvalidAssociationID.NotFound",
                        "no such association",
                    )
                })?;
            a.association_id = id.clone();
            a.profile_arn = profile_arn.into();
            Ok(id)
        }
        .boxed()
    }
}

impl Notifier for MemoryAccount {
    fn publish<'a>(&'a self, publication: &'a Publication) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            self.faults.enter("Publish").await?;
            let mut s = self.state();
            s.published.push(publication.clone());
            Ok(format!("message-{}", s.published.len()))
        }
        .boxed()
    }
}

/// The accounts a responder can reach: its own and members, each in memory; accounts listed
/// as unreachable answer as a member account whose role cannot be assumed.
pub struct MemoryAccounts {
    pub identity: Identity,
    accounts: BTreeMap<String, Arc<MemoryAccount>>,
    unreachable: BTreeSet<String>,
    trails: BTreeMap<String, Arc<MemoryTrail>>,
    scheduler: Option<Arc<MemoryScheduler>>,
    regions: Option<Arc<MemoryRegions>>,
    queue: Option<Arc<MemoryQueue>>,
}

/// The regions enabled for the account, or the error `DescribeRegions` answers.
#[derive(Debug)]
pub struct MemoryRegions(pub Result<Vec<String>, AwsError>);

impl crate::aws::EnabledRegions for MemoryRegions {
    fn enabled_regions(&self) -> BoxFuture<'_, AwsResult<Vec<String>>> {
        futures::future::ready(self.0.clone()).boxed()
    }
}

impl MemoryAccounts {
    /// The responder runs as `responder_role` in `own`.
    pub fn new(own: &Arc<MemoryAccount>, responder_role: &str) -> Self {
        let mut accounts = BTreeMap::new();
        accounts.insert(own.account.clone(), own.clone());
        Self {
            identity: Identity {
                account: own.account.clone(),
                role_name: Some(responder_role.to_string()),
            },
            accounts,
            unreachable: BTreeSet::new(),
            trails: BTreeMap::new(),
            scheduler: None,
            regions: None,
            queue: None,
        }
    }

    pub fn with_member(mut self, member: &Arc<MemoryAccount>) -> Self {
        self.accounts.insert(member.account.clone(), member.clone());
        self
    }

    /// CloudTrail's history of `account`.
    pub fn with_trail(mut self, account: &str, trail: &Arc<MemoryTrail>) -> Self {
        self.trails.insert(account.to_string(), trail.clone());
        self
    }

    pub fn with_scheduler(mut self, scheduler: &Arc<MemoryScheduler>) -> Self {
        self.scheduler = Some(scheduler.clone());
        self
    }

    /// What `DescribeRegions` answers in the responder's account.
    pub fn with_regions(mut self, regions: Result<Vec<String>, AwsError>) -> Self {
        self.regions = Some(Arc::new(MemoryRegions(regions)));
        self
    }

    /// The re-check queue (`RECHECK_QUEUE_URL` set).
    pub fn with_recheck_queue(mut self, queue: &Arc<MemoryQueue>) -> Self {
        self.queue = Some(queue.clone());
        self
    }

    pub fn with_unreachable(mut self, account: &str) -> Self {
        self.unreachable.insert(account.to_string());
        self
    }
}

impl Accounts for MemoryAccounts {
    fn recheck_queue(&self) -> Option<Arc<dyn crate::aws::sqs::RecheckQueue>> {
        self.queue
            .clone()
            .map(|q| q as Arc<dyn crate::aws::sqs::RecheckQueue>)
    }

    fn regions(&self) -> Option<Arc<dyn crate::aws::EnabledRegions>> {
        self.regions
            .clone()
            .map(|r| r as Arc<dyn crate::aws::EnabledRegions>)
    }

    fn scheduler(&self) -> Option<Arc<dyn crate::aws::Schedules>> {
        self.scheduler
            .clone()
            .map(|s| s as Arc<dyn crate::aws::Schedules>)
    }

    fn identity(&self) -> BoxFuture<'_, Result<Identity, AwsError>> {
        futures::future::ready(Ok(self.identity.clone())).boxed()
    }

    fn access<'a>(
        &'a self,
        account: &'a str,
        _finding: &'a str,
    ) -> BoxFuture<'a, Result<AccountAccess, Unreachable>> {
        let result = match self.accounts.get(account) {
            Some(a) if !self.unreachable.contains(account) => {
                let ec2: Arc<dyn Ec2> = a.clone();
                let via_role =
                    (account != self.identity.account).then(|| "SessionRevokerMember".to_string());
                let access = AccountAccess::new(
                    account.to_string(),
                    a.clone(),
                    via_role,
                    Arc::new(move |_region: &str| ec2.clone()),
                );
                Ok(match self.trails.get(account) {
                    Some(trail) => {
                        let trail = trail.clone();
                        access.with_event_history(Arc::new(move |region: &str| {
                            trail.in_region(region)
                        }))
                    }
                    None => access,
                })
            }
            _ => Err(Unreachable {
                account: account.to_string(),
                reason: "the member role could not be assumed".into(),
                error: Some(AwsError::new(
                    "AssumeRole",
                    "AccessDenied",
                    "not authorized to perform sts:AssumeRole",
                )),
            }),
        };
        futures::future::ready(result).boxed()
    }
}
