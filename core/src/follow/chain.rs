//! The breadth-first walk over the attacker's credentials, and the decision for each thing found.

use super::event::{
    is_access_key_id, observe, AssumedSession, EventRef, MintedToken, Observed, Persistence,
    PersistenceEvent, RoleRef,
};
use super::{Lookup, Reach};
use crate::config::{Config, RevokeScope};
use crate::model::RoleInfo;
use crate::policy::{self, RevocationPolicy, SessionRevocations};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use time::OffsetDateTime;

/// Whether access keys the attacker created are deactivated (`CONTAIN_PERSISTENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainPersistence {
    /// List them with the command that deactivates each (the default).
    Report,
    /// Deactivate them (`UpdateAccessKey Status=Inactive`; never deleted).
    Contain,
}

/// The fixed inputs of a walk.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The finding's account (`detail.accountId`).
    pub finding_account: String,
    /// `CHAIN_DEPTH`: keys found this many hops from the finding's key are listed, not read.
    pub depth: u32,
    /// `REVOKE_SCOPE`. For sessions the attacker created, `auto` means session scope: every one
    /// of them is the attacker's, while the role's other sessions are not.
    pub scope: RevokeScope,
    pub contain: ContainPersistence,
    /// The cutoff written into the deny documents of by-hand commands.
    pub cutoff: OffsetDateTime,
}

/// A key to read the events of, in the account whose CloudTrail holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyToFollow {
    pub access_key_id: String,
    pub account: String,
    /// 0 for the finding's keys.
    pub depth: u32,
}

/// A principal the plan would write to, for the protection check.
#[derive(Debug, Clone, Copy)]
pub enum WriteTarget<'a> {
    Role(&'a RoleRef),
    User { account: &'a str, name: &'a str },
}

/// What happens to a session or a user found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the deny, in the finding's account or through the member role.
    Revoke { reach: Reach },
    /// Never written to (protected role, the responder's own role, service-linked…): a person
    /// decides, with `commands` when a deny can be written by hand at all (none for
    /// service-linked and Identity Center roles).
    Protected {
        reason: String,
        commands: Vec<String>,
    },
    /// The account cannot be acted in: `manual_action_required`, with the commands.
    ManualActionRequired {
        reason: String,
        commands: Vec<String>,
    },
}

/// A role session the attacker created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionStep {
    pub session: AssumedSession,
    /// The key that created it.
    pub via_key: String,
    /// Hops from the finding's key (1: the finding's key assumed it).
    pub depth: u32,
    /// `Session` (exact `aws:userid`, policy `SessionRevokerDenyStolenSessions`) or `Role`
    /// (`AWSRevokeOlderSessions`).
    pub scope: RevokeScope,
    /// Other account than the finding's.
    pub cross_account: bool,
    pub decision: Decision,
}

/// An IAM user's minted token: the user's `AWSRevokeOlderSessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStep {
    pub token: MintedToken,
    pub via_key: String,
    pub depth: u32,
    pub decision: Decision,
}

/// What is done about one persistence event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// An attacker-created access key, deactivated (`CONTAIN_PERSISTENCE=contain`).
    Deactivate { reach: Reach },
    /// Listed with its undo commands; nobody deletes anything automatically.
    ListOnly { reason: String },
}

/// A persistence event with the exact commands that undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceStep {
    pub event: PersistenceEvent,
    pub via_key: String,
    pub depth: u32,
    /// Commands built only from validated names.
    pub undo: Vec<String>,
    /// What the commands cannot restore, when something.
    pub caveat: Option<String>,
    pub containment: Containment,
}

/// What happened to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visit {
    /// Its events were read: how many, and how many mattered.
    Read { events: usize, relevant: usize },
    /// The look-up failed.
    Unavailable(String),
    /// Not read: depth limit, or an account the function may not look in.
    NotFollowed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVisit {
    pub key: KeyToFollow,
    pub visit: Visit,
}

/// Something a person must do, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualAction {
    pub target: String,
    pub reason: String,
    pub commands: Vec<String>,
}

/// The follow-up plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowPlan {
    /// Every key considered, in the order visited.
    pub keys: Vec<KeyVisit>,
    pub sessions: Vec<SessionStep>,
    pub tokens: Vec<TokenStep>,
    pub persistence: Vec<PersistenceStep>,
    /// Calls that failed (`errorCode`): attempts, nothing created.
    pub refused: Vec<(EventRef, String)>,
    /// Relevant events whose fields did not validate: a person looks.
    pub unreadable: Vec<(EventRef, String)>,
}

impl FollowPlan {
    /// Sessions to revoke now.
    pub fn sessions_to_revoke(&self) -> impl Iterator<Item = &SessionStep> {
        self.sessions
            .iter()
            .filter(|s| matches!(s.decision, Decision::Revoke { .. }))
    }

    /// Users whose minted tokens to revoke now, one step per user (several tokens of one user
    /// need one deny).
    pub fn users_to_revoke(&self) -> Vec<&TokenStep> {
        self.distinct_users(true)
    }

    fn distinct_users(&self, revoke: bool) -> Vec<&TokenStep> {
        let mut seen = BTreeSet::new();
        self.tokens
            .iter()
            .filter(|t| matches!(t.decision, Decision::Revoke { .. }) == revoke)
            .filter(|t| seen.insert((t.token.account.as_str(), t.token.user_name.as_str())))
            .collect()
    }

    /// Sessions to revoke now, grouped by role (account, role name): one policy write per role,
    /// whose session-scoped document holds every `aws:userid` of the group.
    pub fn revocations_by_role(&self) -> BTreeMap<(&str, &str), Vec<&SessionStep>> {
        let mut out: BTreeMap<(&str, &str), Vec<&SessionStep>> = BTreeMap::new();
        for s in self.sessions_to_revoke() {
            out.entry((
                s.session.role.account.as_str(),
                s.session.role.name.as_str(),
            ))
            .or_default()
            .push(s);
        }
        out
    }

    /// Attacker-created access keys to deactivate now: (account, user, key).
    pub fn keys_to_deactivate(&self) -> Vec<(Option<&str>, &str, &str)> {
        self.persistence
            .iter()
            .filter(|p| matches!(p.containment, Containment::Deactivate { .. }))
            .filter_map(|p| match &p.event.what {
                Persistence::AccessKey {
                    user,
                    access_key_id,
                } => Some((
                    p.event.account.as_deref(),
                    user.as_str(),
                    access_key_id.as_str(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Everything a person must do: sessions and users in accounts the function cannot act in,
    /// protected roles the attacker reached, and relevant events that did not validate.
    pub fn manual_actions(&self) -> Vec<ManualAction> {
        let mut out = Vec::new();
        for s in &self.sessions {
            if let Decision::ManualActionRequired { reason, commands }
            | Decision::Protected { reason, commands } = &s.decision
            {
                out.push(ManualAction {
                    target: format!("session {}", s.session.assumed_role_id),
                    reason: reason.clone(),
                    commands: commands.clone(),
                });
            }
        }
        for t in self.distinct_users(false) {
            if let Decision::ManualActionRequired { reason, commands }
            | Decision::Protected { reason, commands } = &t.decision
            {
                out.push(ManualAction {
                    target: format!("IAM user {} in {}", t.token.user_name, t.token.account),
                    reason: reason.clone(),
                    commands: commands.clone(),
                });
            }
        }
        for (event, why) in &self.unreadable {
            out.push(ManualAction {
                target: format!(
                    "{} event {}",
                    event.event_name,
                    event.event_id.as_deref().unwrap_or("(no id)")
                ),
                reason: why.clone(),
                commands: vec![event_lookup_command(event)],
            });
        }
        out
    }
}

fn event_lookup_command(event: &EventRef) -> String {
    let region = event.region.as_deref().unwrap_or("us-east-1");
    match &event.event_id {
        Some(id) => format!(
            "aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=EventId,AttributeValue={id}"
        ),
        None => format!(
            "aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=EventName,AttributeValue={}",
            event.event_name
        ),
    }
}

/// How the function reaches `target` from a finding in `finding_account`, per the config:
/// outside a non-empty `ALLOWED_ACCOUNTS`: not allowed; the finding's account: as for the
/// finding; another account: through `MEMBER_ROLE_NAME`, else unreachable.
pub fn reach_from_config(config: &Config, finding_account: &str, target: &str) -> Reach {
    if !config.allowed_accounts.is_empty() && !config.allowed_accounts.iter().any(|a| a == target) {
        return Reach::NotAllowed(format!("account {target} is not in ALLOWED_ACCOUNTS"));
    }
    if target == finding_account {
        Reach::FindingAccount
    } else if config.member_role_name.is_some() {
        Reach::MemberRole
    } else {
        Reach::Unreachable(format!(
            "account {target} is not the finding's account and MEMBER_ROLE_NAME is not set"
        ))
    }
}

/// The finding's protection rules, applied to a role found on the way: service-linked and
/// Identity Center paths, `PROTECTED_ROLES`, the responder's own role ([`crate::plan::protection`]).
/// Users are not protected by role patterns.
pub fn guard_from_config<'a>(
    config: &'a Config,
    responder_role: &'a Result<Option<String>, String>,
) -> impl Fn(&WriteTarget) -> Option<String> + 'a {
    move |target| match target {
        WriteTarget::Role(role) => crate::plan::protection(
            &RoleInfo {
                name: role.name.clone(),
                arn: role.arn.clone(),
                path: role.path.clone(),
                role_id: role.role_id.clone(),
            },
            responder_role,
            config,
        ),
        WriteTarget::User { .. } => None,
    }
}

/// Walks the credentials breadth-first from `start` (the finding's access key, and any other
/// key the finding lists), reading each key's events through `lookup` once at most.
///
/// - A key at depth `d` is read when `d < options.depth`; what it created is at `d + 1`.
///   Everything found is planned (a session found at the last hop is still revoked); only
///   reading stops.
/// - A key in an account `reach` says is not allowed or unreachable is not looked up.
/// - `guard` returns why a principal must never be written to.
pub fn follow_chain(
    start: &[String],
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
    lookup: &mut dyn FnMut(&KeyToFollow) -> Lookup,
) -> FollowPlan {
    let mut plan = FollowPlan::default();
    let mut queued: BTreeSet<String> = BTreeSet::new();
    let mut seen_events: BTreeSet<String> = BTreeSet::new();
    let mut seen_sessions: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<KeyToFollow> = VecDeque::new();
    let finding_account = options.finding_account.as_str();

    for key in start {
        if is_access_key_id(key) && queued.insert(key.clone()) {
            queue.push_back(KeyToFollow {
                access_key_id: key.clone(),
                account: finding_account.to_string(),
                depth: 0,
            });
        }
    }

    while let Some(key) = queue.pop_front() {
        if key.depth >= options.depth {
            plan.keys.push(KeyVisit {
                visit: Visit::NotFollowed(format!(
                    "CHAIN_DEPTH {} reached: its events were not read",
                    options.depth
                )),
                key,
            });
            continue;
        }
        match reach(&key.account) {
            Reach::NotAllowed(why) | Reach::Unreachable(why) => {
                plan.keys.push(KeyVisit {
                    visit: Visit::NotFollowed(why),
                    key,
                });
                continue;
            }
            Reach::FindingAccount | Reach::MemberRole => {}
        }
        let events = match lookup(&key) {
            Lookup::Events(events) => events,
            Lookup::Unavailable(why) => {
                plan.keys.push(KeyVisit {
                    visit: Visit::Unavailable(why),
                    key,
                });
                continue;
            }
        };
        let mut relevant = 0;
        let mut next: Vec<KeyToFollow> = Vec::new();
        for looked in &events {
            let observed = observe(looked, &key.access_key_id);
            if matches!(observed, Observed::Other) {
                continue;
            }
            if let Some(id) = observed_event(&observed).and_then(|e| e.event_id.clone()) {
                if !seen_events.insert(id) {
                    continue;
                }
            }
            relevant += 1;
            let depth = key.depth + 1;
            match observed {
                Observed::Session(session) => {
                    if !seen_sessions.insert(session.assumed_role_id.clone()) {
                        continue;
                    }
                    if let Some(k) = &session.session_key {
                        next.push(KeyToFollow {
                            access_key_id: k.clone(),
                            account: session.role.account.clone(),
                            depth,
                        });
                    }
                    plan.sessions
                        .push(session_step(session, &key, depth, options, reach, guard));
                }
                Observed::Token(token) => {
                    if let Some(k) = &token.minted_key {
                        next.push(KeyToFollow {
                            access_key_id: k.clone(),
                            account: token.account.clone(),
                            depth,
                        });
                    }
                    plan.tokens
                        .push(token_step(token, &key, depth, options, reach, guard));
                }
                Observed::Persistence(event) => {
                    if let Persistence::AccessKey { access_key_id, .. } = &event.what {
                        next.push(KeyToFollow {
                            access_key_id: access_key_id.clone(),
                            account: event.account.clone().unwrap_or_else(|| key.account.clone()),
                            depth,
                        });
                    }
                    plan.persistence
                        .push(persistence_step(event, &key, depth, options, reach, guard));
                }
                Observed::Refused { event, error_code } => plan.refused.push((event, error_code)),
                Observed::Unreadable { event, why } => plan.unreadable.push((event, why)),
                Observed::Other => {}
            }
        }
        plan.keys.push(KeyVisit {
            visit: Visit::Read {
                events: events.len(),
                relevant,
            },
            key,
        });
        for k in next {
            if queued.insert(k.access_key_id.clone()) {
                queue.push_back(k);
            }
        }
    }
    plan
}

fn observed_event(o: &Observed) -> Option<&EventRef> {
    match o {
        Observed::Session(s) => Some(&s.event),
        Observed::Token(t) => Some(&t.event),
        Observed::Persistence(p) => Some(&p.event),
        Observed::Refused { event, .. } | Observed::Unreadable { event, .. } => Some(event),
        Observed::Other => None,
    }
}

fn session_step(
    session: AssumedSession,
    via: &KeyToFollow,
    depth: u32,
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
) -> SessionStep {
    let scope = match options.scope {
        RevokeScope::Role => RevokeScope::Role,
        RevokeScope::Session | RevokeScope::Auto => RevokeScope::Session,
    };
    let account = session.role.account.clone();
    let decision = if let Some(reason) = guard(&WriteTarget::Role(&session.role)) {
        let by_hand = !session.role.path.starts_with("/aws-service-role/")
            && !session.role.path.starts_with("/aws-reserved/");
        Decision::Protected {
            reason,
            commands: if by_hand {
                session_commands(&session, scope, options.cutoff)
            } else {
                Vec::new()
            },
        }
    } else {
        match reach(&account) {
            r @ (Reach::FindingAccount | Reach::MemberRole) => Decision::Revoke { reach: r },
            Reach::NotAllowed(why) | Reach::Unreachable(why) => Decision::ManualActionRequired {
                reason: why,
                commands: session_commands(&session, scope, options.cutoff),
            },
        }
    };
    SessionStep {
        cross_account: account != options.finding_account,
        session,
        via_key: via.access_key_id.clone(),
        depth,
        scope,
        decision,
    }
}

/// The by-hand revocation of one session, every value validated upstream.
fn session_commands(s: &AssumedSession, scope: RevokeScope, cutoff: OffsetDateTime) -> Vec<String> {
    let (policy_name, document) = match scope {
        RevokeScope::Role => (
            policy::ROLE_POLICY_NAME,
            RevocationPolicy { cutoff }.to_json(),
        ),
        RevokeScope::Session | RevokeScope::Auto => (
            policy::SESSION_POLICY_NAME,
            SessionRevocations {
                sessions: BTreeMap::from([(s.assumed_role_id.clone(), cutoff)]),
            }
            .to_json(),
        ),
    };
    vec![
        format!(
            "# in account {}, with credentials of that account (merge with any existing {policy_name} statements):",
            s.role.account
        ),
        format!(
            "aws iam put-role-policy --role-name {} --policy-name {policy_name} --policy-document file://deny.json",
            s.role.name
        ),
        format!("deny.json: {document}"),
    ]
}

/// The by-hand revocation of an IAM user's minted tokens.
fn user_commands(token: &MintedToken, cutoff: OffsetDateTime) -> Vec<String> {
    vec![
        format!(
            "# in account {}, with credentials of that account:",
            token.account
        ),
        format!(
            "aws iam put-user-policy --user-name {} --policy-name {} --policy-document file://deny.json",
            token.user_name,
            policy::ROLE_POLICY_NAME
        ),
        format!("deny.json: {}", RevocationPolicy { cutoff }.to_json()),
    ]
}

fn token_step(
    token: MintedToken,
    via: &KeyToFollow,
    depth: u32,
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
) -> TokenStep {
    let decision = if let Some(reason) = guard(&WriteTarget::User {
        account: &token.account,
        name: &token.user_name,
    }) {
        Decision::Protected {
            reason,
            commands: user_commands(&token, options.cutoff),
        }
    } else {
        match reach(&token.account) {
            r @ (Reach::FindingAccount | Reach::MemberRole) => Decision::Revoke { reach: r },
            Reach::NotAllowed(why) | Reach::Unreachable(why) => Decision::ManualActionRequired {
                reason: why,
                commands: user_commands(&token, options.cutoff),
            },
        }
    };
    TokenStep {
        token,
        via_key: via.access_key_id.clone(),
        depth,
        decision,
    }
}

/// The exact commands that undo one persistence event (names validated in [`super::event`]).
pub fn undo_commands(what: &Persistence) -> (Vec<String>, Option<String>) {
    match what {
        Persistence::AccessKey { user, access_key_id } => (
            vec![format!(
                "aws iam update-access-key --user-name {user} --access-key-id {access_key_id} --status Inactive"
            )],
            Some("deactivated, not deleted: keep it as evidence, delete it (aws iam delete-access-key) after the investigation".into()),
        ),
        Persistence::User { user } => (
            vec![
                format!("aws iam list-access-keys --user-name {user}"),
                format!("aws iam delete-login-profile --user-name {user}"),
                format!("aws iam list-attached-user-policies --user-name {user}"),
                format!("aws iam list-user-policies --user-name {user}"),
                format!("aws iam delete-user --user-name {user}"),
            ],
            Some("delete-user fails until the user's keys, login profile, policies, group memberships and MFA devices are removed".into()),
        ),
        Persistence::LoginProfile { user } => (
            vec![format!("aws iam delete-login-profile --user-name {user}")],
            None,
        ),
        Persistence::LoginProfileUpdated { user } => (
            vec![format!("aws iam delete-login-profile --user-name {user}")],
            Some("the previous password cannot be restored: remove console access, then let the owner set a new password".into()),
        ),
        Persistence::UserPolicyAttached { user, policy_arn } => (
            vec![format!(
                "aws iam detach-user-policy --user-name {user} --policy-arn {policy_arn}"
            )],
            None,
        ),
        Persistence::UserInlinePolicy { user, policy_name } => (
            vec![format!(
                "aws iam delete-user-policy --user-name {user} --policy-name {policy_name}"
            )],
            Some("if a policy of that name existed before, the attacker replaced it: restore its earlier document from AWS Config or IaC".into()),
        ),
        Persistence::Role { role } => (
            vec![
                format!("aws iam list-attached-role-policies --role-name {role}"),
                format!("aws iam list-role-policies --role-name {role}"),
                format!("aws iam list-instance-profiles-for-role --role-name {role}"),
                format!("aws iam delete-role --role-name {role}"),
            ],
            Some("delete-role fails until the role's policies and instance profiles are removed".into()),
        ),
        Persistence::TrustPolicyUpdated { role } => (
            vec![format!(
                "aws iam update-assume-role-policy --role-name {role} --policy-document file://trust-before.json"
            )],
            Some("the earlier trust policy is not in the event: take it from AWS Config or IaC".into()),
        ),
        Persistence::RolePolicyAttached { role, policy_arn } => (
            vec![format!(
                "aws iam detach-role-policy --role-name {role} --policy-arn {policy_arn}"
            )],
            None,
        ),
        Persistence::RoleInlinePolicy { role, policy_name } => (
            vec![format!(
                "aws iam delete-role-policy --role-name {role} --policy-name {policy_name}"
            )],
            Some("if a policy of that name existed before, the attacker replaced it: restore its earlier document from AWS Config or IaC".into()),
        ),
        Persistence::InstanceProfile { profile } => (
            vec![format!(
                "aws iam delete-instance-profile --instance-profile-name {profile}"
            )],
            Some("delete-instance-profile fails while a role is in the profile".into()),
        ),
        Persistence::RoleAddedToProfile { profile, role } => (
            vec![format!(
                "aws iam remove-role-from-instance-profile --instance-profile-name {profile} --role-name {role}"
            )],
            Some("instances already associated with the profile keep their current credentials until revoked".into()),
        ),
    }
}

fn persistence_step(
    event: PersistenceEvent,
    via: &KeyToFollow,
    depth: u32,
    options: &FollowOptions,
    reach: &dyn Fn(&str) -> Reach,
    guard: &dyn Fn(&WriteTarget) -> Option<String>,
) -> PersistenceStep {
    let (mut undo, caveat) = undo_commands(&event.what);
    let account = event.account.as_deref().unwrap_or(&via.account);
    let reached = reach(account);
    if !reached.can_act() || account != options.finding_account {
        undo.insert(
            0,
            format!("# in account {account}, with credentials of that account:"),
        );
    }
    let containment = match (&event.what, options.contain) {
        (Persistence::AccessKey { user, .. }, ContainPersistence::Contain) => {
            if let Some(reason) = guard(&WriteTarget::User {
                account,
                name: user,
            }) {
                Containment::ListOnly { reason }
            } else {
                match reached {
                    r @ (Reach::FindingAccount | Reach::MemberRole) => {
                        Containment::Deactivate { reach: r }
                    }
                    Reach::NotAllowed(why) | Reach::Unreachable(why) => {
                        Containment::ListOnly { reason: why }
                    }
                }
            }
        }
        (Persistence::AccessKey { .. }, ContainPersistence::Report) => Containment::ListOnly {
            reason: "CONTAIN_PERSISTENCE=report: listed, not deactivated".into(),
        },
        _ => Containment::ListOnly {
            reason: "nothing but attacker-created access keys is changed automatically".into(),
        },
    };
    PersistenceStep {
        event,
        via_key: via.access_key_id.clone(),
        depth,
        undo,
        caveat,
        containment,
    }
}
