//! A plan: what the responder will do about an incident, each step with its reason.

use super::error::AwsError;
use serde::Serialize;
use time::OffsetDateTime;

/// What kind of response an action is (reported as `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Decide whether the incident is acted on at all.
    Triage,
    /// `AWSRevokeOlderSessions` on a role.
    RevokeRoleSessions,
    /// Per-session deny statements on a role.
    RevokeSessions,
    /// `UpdateAccessKey Status=Inactive` on the key named in the finding.
    DeactivateAccessKey,
    /// A deny policy on an IAM user's temporary sessions.
    RevokeUserSessions,
    /// Give the instance credentials issued after the cutoff.
    ReassociateInstanceProfile,
}

/// A write the executor performs (or, in a dry run, reports it would).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    PutRolePolicy {
        role: String,
        policy_name: &'static str,
        document: String,
        cutoff: OffsetDateTime,
        previous_cutoff: Option<OffsetDateTime>,
        note: Option<String>,
        /// Session-scoped: the `aws:userid`s this write must leave denied (checked on read-back).
        sessions: Vec<String>,
        /// Session-scoped: the role-wide write to make if IAM refuses the size (`LimitExceeded`).
        fallback: Option<Box<Write>>,
    },
    PutUserPolicy {
        user: String,
        policy_name: &'static str,
        document: String,
        cutoff: OffsetDateTime,
        previous_cutoff: Option<OffsetDateTime>,
        note: Option<String>,
    },
    DeactivateAccessKey {
        user: String,
        access_key_id: String,
    },
    ReassociateInstanceProfile {
        instance_id: String,
        region: Option<String>,
        role: String,
        /// Not before this instant: credentials issued earlier are denied.
        not_before: OffsetDateTime,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Write(Write),
    Skip {
        reason: String,
    },
    AlreadyCovered {
        cutoff: OffsetDateTime,
        reason: String,
    },
    Manual {
        reason: String,
        commands: Vec<String>,
    },
    Fail {
        error: AwsError,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAction {
    pub kind: ActionKind,
    pub target: String,
    pub step: Step,
}

impl PlannedAction {
    pub fn new(kind: ActionKind, target: impl Into<String>, step: Step) -> Self {
        Self {
            kind,
            target: target.into(),
            step,
        }
    }
}

/// Where the first look at an incident leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage {
    /// Nothing to do; the action says why.
    Done(PlannedAction),
    /// Revoke sessions of a role, identified by name or by RoleId.
    Role(RoleTarget),
    /// An IAM user's key or sessions.
    User(UserTarget),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleTarget {
    pub name: Option<String>,
    pub role_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserTarget {
    pub name: String,
    pub access_key_id: Option<String>,
}

pub fn severity_label(severity: f64) -> &'static str {
    match severity {
        s if s >= 9.0 => "Critical",
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    }
}
