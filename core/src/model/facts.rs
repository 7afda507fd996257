//! Facts read from the account (IAM, EC2), in the project's own types: the planner sees
//! these, never an SDK type.

/// An IAM role as `GetRole`/`ListRoles` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub role_id: String,
    /// The role's tags as `GetRole` answers them (all of them: a role has at most 50). Empty
    /// from `ListRoles`, which answers none; the responder always reads the role with
    /// `GetRole` before deciding.
    pub tags: Vec<(String, String)>,
}

impl RoleInfo {
    /// The value of tag `key`: IAM refuses two keys of one role that differ only in case, so
    /// whatever case a person wrote the key in, it is the one tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// An IAM user as `GetUser` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub arn: String,
    pub user_id: String,
}

/// An access key's status in IAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
    /// A value IAM may add later; treated as neither.
    Other(String),
}

impl KeyStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "Active" => Self::Active,
            "Inactive" => Self::Inactive,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
            Self::Other(s) => s,
        }
    }
}

/// One of a user's long-term access keys (`ListAccessKeys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub status: KeyStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfileInfo {
    pub name: String,
    pub arn: String,
    pub role_names: Vec<String>,
}

/// The state of an instance-profile association (EC2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationState {
    Associating,
    Associated,
    Disassociating,
    Disassociated,
    Other(String),
}

impl AssociationState {
    pub fn parse(s: &str) -> Self {
        match s {
            "associating" => Self::Associating,
            "associated" => Self::Associated,
            "disassociating" => Self::Disassociating,
            "disassociated" => Self::Disassociated,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Associating => "associating",
            Self::Associated => "associated",
            Self::Disassociating => "disassociating",
            Self::Disassociated => "disassociated",
            Self::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileAssociation {
    pub association_id: String,
    pub instance_id: String,
    pub profile_arn: String,
    pub state: AssociationState,
}

/// What IAM says about a role before the decision.
#[derive(Debug, Clone)]
pub struct RoleFacts {
    pub role: RoleInfo,
    /// The existing `AWSRevokeOlderSessions` document (`None`: there is none).
    pub role_policy: Result<Option<String>, super::AwsError>,
    /// The existing per-session policy; read only when `REVOKE_SCOPE=session`.
    pub session_policy: Result<Option<String>, super::AwsError>,
    /// The responder's own role name (`None`: it does not run as a role).
    pub responder_role: Result<Option<String>, String>,
    /// Something the report should say about the facts (e.g. a RoleId mismatch).
    pub note: Option<String>,
}
