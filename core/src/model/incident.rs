//! An incident: a finding or a manual request, reduced to the fields the responder uses.

use super::error::FindingError;
use crate::names;
use time::OffsetDateTime;

/// Where an incident came from (reported as `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Finding,
    #[serde(rename = "manual_request")]
    Manual,
}

impl Origin {
    /// How the report names it in text.
    pub fn describe(&self) -> &'static str {
        match self {
            Origin::Finding => "finding",
            Origin::Manual => "manual request",
        }
    }
}

/// GuardDuty's `resource.accessKeyDetails.userType`, with a catch-all for anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserType {
    AssumedRole,
    IamUser,
    Root,
    FederatedUser,
    Role,
    AwsService,
    Other(String),
}

impl UserType {
    pub fn parse(s: &str) -> Self {
        match s {
            "AssumedRole" => Self::AssumedRole,
            "IAMUser" => Self::IamUser,
            "Root" => Self::Root,
            "FederatedUser" => Self::FederatedUser,
            "Role" => Self::Role,
            "AWSService" => Self::AwsService,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::AssumedRole => "AssumedRole",
            Self::IamUser => "IAMUser",
            Self::Root => "Root",
            Self::FederatedUser => "FederatedUser",
            Self::Role => "Role",
            Self::AwsService => "AWSService",
            Self::Other(s) => s,
        }
    }
}

/// The principal whose credentials are in the wrong hands.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user_type: UserType,
    /// Role name for `AssumedRole` (GuardDuty's `userName`), user name for `IAMUser`.
    pub name: Option<String>,
    /// `AROA…:<session>` for role sessions, `AIDA…` for users.
    pub principal_id: Option<String>,
    pub access_key_id: Option<String>,
}

impl Principal {
    /// The RoleId part of an `AROA…:<session>` principal id.
    pub fn role_id(&self) -> Option<&str> {
        let id = self.principal_id.as_deref()?;
        let role_id = id.split_once(':').map_or(id, |(r, _)| r);
        names::is_unique_id(role_id, "AROA").then_some(role_id)
    }

    /// The session name part of an `AROA…:<session>` principal id.
    pub fn session_name(&self) -> Option<&str> {
        self.principal_id
            .as_deref()?
            .split_once(':')
            .map(|(_, s)| s)
    }
}

/// Another stolen credential GuardDuty lists (`service.additionalInfo.recentCredentials[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct StolenCredential {
    pub access_key_id: Option<String>,
    pub principal_id: Option<String>,
    pub ip_address_v4: Option<String>,
}

/// One thing to respond to: a finding or a manual request, with only the fields the
/// responder uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub origin: Origin,
    pub finding_id: Option<String>,
    pub finding_type: Option<String>,
    pub title: Option<String>,
    pub severity: Option<f64>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: Principal,
    pub sample: bool,
    pub archived: bool,
    pub event_last_seen: Option<OffsetDateTime>,
    pub updated_at: Option<OffsetDateTime>,
    pub count: Option<u64>,
    pub instance_id: Option<String>,
    pub recent_credentials: Vec<StolenCredential>,
    pub remote_ip: Option<String>,
    /// From a manual request: plan and report without writing.
    pub dry_run: bool,
    /// From a manual request: why a person asked for it.
    pub reason: Option<String>,
    /// From a manual request: the one session (name) to revoke, with `REVOKE_SCOPE=session`.
    pub requested_session: Option<String>,
}

/// What the payload held: incidents, and the findings in it that could not be read
/// (the rest are still handled).
#[derive(Debug)]
pub struct Parsed {
    pub shape: Shape,
    pub items: Vec<Result<Incident, FindingError>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    EventBridge,
    Finding,
    GetFindings,
    FindingArray,
    Manual,
}

/// GuardDuty's severity bands: Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0.
pub fn severity_label(severity: f64) -> &'static str {
    match severity {
        s if s >= 9.0 => "Critical",
        s if s >= 7.0 => "High",
        s if s >= 4.0 => "Medium",
        _ => "Low",
    }
}
