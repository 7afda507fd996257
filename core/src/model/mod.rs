//! The data that flows through the stages, at the bottom of the import graph: every other
//! module may import the model; the model imports only `names` and `text`.

pub mod error;
pub mod facts;
pub mod finding_arn;
pub mod incident;
pub mod outcome;
pub mod plan;
pub mod publication;

pub use error::{AwsError, ConfigError, FindingError, InputError};
pub use facts::{
    AccessKeyInfo, AssociationState, InstanceProfileInfo, KeyStatus, ProfileAssociation, RoleInfo,
    UserInfo,
};
pub use finding_arn::{FindingArn, FindingArnError};
pub use incident::{
    severity_label, Incident, Origin, Parsed, Principal, SequenceLink, SequenceSignal, Shape,
    StolenCredential, UserType,
};
pub use outcome::{ActionOutcome, ErrorReport, Outcome, Status};
pub use plan::{ActionKind, PlannedAction, RoleTarget, Step, Triage, UserTarget, Write};
pub use publication::Publication;
