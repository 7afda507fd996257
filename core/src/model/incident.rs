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
    /// The finding's ARN (`arn`; in ASFF, `Id`), where GuardDuty's own copy is read
    /// (VERIFY_FINDINGS). Only a valid GuardDuty finding ARN is kept (`FindingArn::parse`);
    /// anything else is absent and named in `ignored_fields`.
    pub finding_arn: Option<String>,
    pub finding_type: Option<String>,
    pub title: Option<String>,
    pub severity: Option<f64>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: Principal,
    pub sample: bool,
    pub archived: bool,
    pub event_first_seen: Option<OffsetDateTime>,
    pub event_last_seen: Option<OffsetDateTime>,
    pub created_at: Option<OffsetDateTime>,
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
    /// Optional fields (used only to decide or to report) that were present but could not be
    /// read: each is treated as absent, and the report names it and what was found.
    pub ignored_fields: Vec<UnreadableField>,
    /// A field that identifies the principal (the finding's type, its account, or
    /// `resource.accessKeyDetails`) could not be read. Nothing is decided from such an
    /// incident: triage fails it, naming the field; the rest (id, type, account when readable)
    /// is kept for the report. The principal is left empty so that nothing can act on half
    /// of it.
    pub unreadable: Option<FindingError>,
    /// The payload item is not a finding at all (an event from GuardDuty of another
    /// `detail-type`): skipped with this reason.
    pub not_a_finding: Option<String>,
    /// A person asked for this finding to be handled (a Security Hub custom action chosen in the
    /// console): how, for the report. The finding is still a finding: verified and triaged as one.
    pub requested_via: Option<String>,
    /// The incident is one credential (or the review) of a GuardDuty attack sequence: the rest
    /// of the incident is that credential, handled like a finding of its own.
    pub sequence: Option<SequenceLink>,
}

/// What ties an incident to the attack sequence that named its credential.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceLink {
    /// How many distinct credentials the sequence names (as read; see `more_may_exist`).
    pub credentials_found: usize,
    /// This incident's credential among them (1-based); `None` for the incident about the
    /// sequence itself (`review`).
    pub credential: Option<usize>,
    /// The signals that involved this credential's actor or access key (for the review: all).
    pub signals: Vec<SequenceSignal>,
    /// The copy read may not name every credential (Security Hub keeps at most 10 actors).
    pub more_may_exist: bool,
    /// Why the sequence itself needs a person (no credential named, more may exist, more than
    /// one invocation handles): set only on the review incident.
    pub review: Option<String>,
}

/// One signal of an attack sequence (`service.detection.sequence.signals[]`), as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSignal {
    pub name: Option<String>,
    /// `FINDING`, `CLOUD_TRAIL`, `S3_DATA_EVENTS`, ...
    pub kind: Option<String>,
    pub count: Option<u64>,
    pub first_seen: Option<OffsetDateTime>,
    pub last_seen: Option<OffsetDateTime>,
}

impl Incident {
    /// An incident with nothing known yet: no principal, no fields.
    pub fn empty(origin: Origin) -> Self {
        Self {
            origin,
            finding_id: None,
            finding_arn: None,
            finding_type: None,
            title: None,
            severity: None,
            account: None,
            region: None,
            principal: Principal {
                user_type: UserType::Other(String::new()),
                name: None,
                principal_id: None,
                access_key_id: None,
            },
            sample: false,
            archived: false,
            event_first_seen: None,
            event_last_seen: None,
            created_at: None,
            updated_at: None,
            count: None,
            instance_id: None,
            recent_credentials: Vec::new(),
            remote_ip: None,
            dry_run: false,
            reason: None,
            requested_session: None,
            ignored_fields: Vec::new(),
            unreadable: None,
            not_a_finding: None,
            requested_via: None,
            sequence: None,
        }
    }
}

/// An optional field that was present but unreadable, and what was found there (bounded,
/// never more than a short excerpt of a string).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadableField {
    /// The field's path in the finding (camelCase), e.g. `service.eventLastSeen`.
    pub field: String,
    pub expected: String,
    pub found: String,
}

impl std::fmt::Display for UnreadableField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, found {}",
            self.field, self.expected, self.found
        )
    }
}

/// What the payload held: incidents, and the items in it that could not be read at all
/// (not an object, an envelope from another source; the rest are still handled). An empty
/// `items` is a payload with no findings (`[]`, `{"Findings": []}`): the report says so.
#[derive(Debug)]
pub struct Parsed {
    pub shape: Shape,
    pub items: Vec<Result<Incident, FindingError>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    EventBridge,
    /// An EventBridge event from Security Hub (`detail.findings[]`, ASFF).
    SecurityHubEvent,
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
