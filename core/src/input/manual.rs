//! A manual request (`aws lambda invoke` by a person) to an incident.

use crate::model::{Incident, InputError, Origin, Principal, UserType};
use crate::names;
use serde::Deserialize;
use serde_json::Value;

/// `{"action": "revoke", "role": "<name or ARN>", "reason": "...", "dry_run": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRequest {
    action: String,
    role: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// Revoke only this session of the role (its role session name).
    #[serde(default)]
    session: Option<String>,
}

pub(super) fn parse_manual(payload: &Value) -> Result<Incident, InputError> {
    let req = ManualRequest::deserialize(payload).map_err(|e| InputError::Invalid {
        what: "manual request",
        detail: format!("{e} (accepted fields: action, role, reason, dry_run, session)"),
    })?;
    if req.action != "revoke" {
        return Err(InputError::Invalid {
            what: "manual request",
            detail: format!(
                "action {:?} is not supported; the only action is \"revoke\"",
                crate::text::safe_text(&req.action, 40)
            ),
        });
    }
    if let Some(session) = req
        .session
        .as_deref()
        .filter(|s| !names::is_valid_session_name(s))
    {
        return Err(InputError::Invalid {
            what: "manual request",
            detail: format!(
                "session {:?} is not a valid role session name",
                crate::text::safe_text(session, 80)
            ),
        });
    }
    let (account, name) = if req.role.starts_with("arn:") {
        let (account, _path, name) =
            names::parse_role_arn(&req.role).ok_or_else(|| InputError::Invalid {
                what: "manual request",
                detail: format!(
                    "role {:?} is not an IAM role ARN",
                    crate::text::safe_text(&req.role, 120)
                ),
            })?;
        (Some(account), name)
    } else if names::is_valid_role_name(&req.role) {
        (None, req.role.clone())
    } else {
        return Err(InputError::Invalid {
            what: "manual request",
            detail: format!(
                "role {:?} is not a valid IAM role name or ARN",
                crate::text::safe_text(&req.role, 120)
            ),
        });
    };
    let mut incident = Incident::empty(Origin::Manual);
    incident.account = account;
    incident.principal = Principal {
        user_type: UserType::AssumedRole,
        name: Some(name),
        principal_id: None,
        access_key_id: None,
    };
    incident.dry_run = req.dry_run;
    incident.reason = req.reason.map(|r| crate::text::safe_text(&r, 500));
    incident.requested_session = req.session;
    Ok(incident)
}
