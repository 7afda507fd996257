//! A manual request (`aws lambda invoke` by a person) to an incident.

use crate::model::{Incident, InputError, Origin, Principal, UserType};
use crate::names;
use crate::plan::restore::{IncidentKey, RestorePrincipal, RestoreRequest};
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
                "action {:?} is not supported; the actions are \"revoke\", \"restore\", \"approve\" and \"drill\"",
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

/// `{"action": "restore", "role" | "user": "<name or ARN>", "finding_id" and/or "cutoff",
/// "dry_run": true, "force": false, "reason": "...", "reactivate_keys": false, "account": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreFields {
    action: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    finding_id: Option<String>,
    #[serde(default)]
    cutoff: Option<String>,
    /// A restore writes only when asked to: `false` must be said.
    #[serde(default = "yes")]
    dry_run: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    reactivate_keys: bool,
}

fn yes() -> bool {
    true
}

const RESTORE_FIELDS: &str =
    "action, role or user, finding_id and/or cutoff, dry_run, force, reason, reactivate_keys, account";

fn restore_error(detail: String) -> InputError {
    InputError::Invalid {
        what: "restore request",
        detail,
    }
}

/// Whether a payload asks for a restore (`{"action": "restore", ...}`).
pub fn is_restore(payload: &Value) -> bool {
    payload.get("action").and_then(Value::as_str) == Some("restore")
}

/// Reads and validates a restore request: exactly one principal (a role or a user, by name or
/// ARN), the incident by its finding id and/or the cutoff the report gave, and a reason
/// whenever `force` is set. Nothing of it reaches a policy: the finding id is only hashed.
pub fn parse_restore(payload: &Value) -> Result<RestoreRequest, InputError> {
    let req = RestoreFields::deserialize(payload)
        .map_err(|e| restore_error(format!("{e} (accepted fields: {RESTORE_FIELDS})")))?;
    if req.action != "restore" {
        return Err(restore_error(format!(
            "action {:?} is not \"restore\"",
            crate::text::safe_text(&req.action, 40)
        )));
    }
    let (arn_account, principal) = match (&req.role, &req.user) {
        (Some(role), None) => {
            let (account, name) = name_or_arn(role, "role")?;
            (account, RestorePrincipal::Role(name))
        }
        (None, Some(user)) => {
            let (account, name) = name_or_arn(user, "user")?;
            (account, RestorePrincipal::User(name))
        }
        _ => {
            return Err(restore_error(
                "name exactly one of \"role\" or \"user\" (the principal the report names)".into(),
            ))
        }
    };
    if let Some(a) = req.account.as_deref().filter(|a| !names::is_account_id(a)) {
        return Err(restore_error(format!(
            "account {:?} is not a 12-digit account id",
            crate::text::safe_text(a, 40)
        )));
    }
    if let (Some(a), Some(b)) = (&req.account, &arn_account) {
        if a != b {
            return Err(restore_error(format!(
                "account {a} and the ARN's account {b} differ"
            )));
        }
    }
    let cutoff = match req.cutoff.as_deref() {
        None => None,
        Some(c) => Some(names::parse_utc(c).ok_or_else(|| {
            restore_error(format!(
                "cutoff {:?} is not a UTC timestamp such as 2026-11-22T03:00:30Z",
                crate::text::safe_text(c, 40)
            ))
        })?),
    };
    let key =
        match (req.finding_id, cutoff) {
            (Some(id), cutoff) => {
                if id.is_empty() || id.len() > 256 || id.chars().any(char::is_control) {
                    return Err(restore_error(
                        "finding_id must be 1 to 256 printable characters".into(),
                    ));
                }
                IncidentKey::Finding {
                    finding_id: id,
                    cutoff,
                }
            }
            (None, Some(c)) => IncidentKey::Cutoff(c),
            (None, None) => return Err(restore_error(
                "name the incident: \"finding_id\", or the \"cutoff\" the report gave (or both)"
                    .into(),
            )),
        };
    let reason = req
        .reason
        .map(|r| crate::text::safe_text(&r, 500))
        .filter(|r| !r.trim().is_empty());
    if req.force && reason.is_none() {
        return Err(restore_error(
            "\"force\": true needs a \"reason\" (it lets the stolen tokens work again)".into(),
        ));
    }
    Ok(RestoreRequest {
        account: req.account.or(arn_account),
        principal,
        key,
        dry_run: req.dry_run,
        force: req.force,
        reason,
        reactivate_keys: req.reactivate_keys,
    })
}

/// A role or user name, or its ARN (`arn:<partition>:iam::<account>:role|user/<path/>name`).
fn name_or_arn(value: &str, kind: &str) -> Result<(Option<String>, String), InputError> {
    let bad = || {
        restore_error(format!(
            "{kind} {:?} is not a valid IAM {kind} name or ARN",
            crate::text::safe_text(value, 120)
        ))
    };
    if !value.starts_with("arn:") {
        return names::is_valid_role_name(value)
            .then(|| (None, value.to_string()))
            .ok_or_else(bad);
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [_, _, "iam", "", account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let name = resource
        .strip_prefix(&format!("{kind}/"))
        .and_then(|r| r.rsplit('/').next())
        .filter(|n| names::is_valid_role_name(n))
        .ok_or_else(bad)?;
    names::is_account_id(account)
        .then(|| (Some(account.to_string()), name.to_string()))
        .ok_or_else(bad)
}

#[cfg(test)]
mod restore_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_restore_names_one_principal_and_the_incident_and_is_a_dry_run_by_default() {
        let r = parse_restore(
            &json!({"action": "restore", "role": "arn:aws:iam::111122223333:role/app/web-app",
            "finding_id": "4ac2b8a0e0c1d5f6", "cutoff": "2026-11-22T03:00:30Z"}),
        )
        .unwrap();
        assert_eq!(r.principal, RestorePrincipal::Role("web-app".into()));
        assert_eq!(r.account.as_deref(), Some("111122223333"));
        assert!(r.dry_run && !r.force && !r.reactivate_keys);
        assert!(matches!(
            r.key,
            IncidentKey::Finding {
                cutoff: Some(_),
                ..
            }
        ));
        let r = parse_restore(
            &json!({"action": "restore", "user": "ci-bot", "cutoff": "2026-11-22T03:00:30Z",
            "dry_run": false, "force": true, "reason": "false positive", "reactivate_keys": true}),
        )
        .unwrap();
        assert_eq!(r.principal, RestorePrincipal::User("ci-bot".into()));
        assert!(matches!(r.key, IncidentKey::Cutoff(_)));
        assert!(!r.dry_run && r.force && r.reactivate_keys);
    }

    #[test]
    fn a_bad_restore_request_is_named() {
        for (payload, says) in [
            (
                json!({"action": "restore", "finding_id": "f"}),
                "exactly one of",
            ),
            (
                json!({"action": "restore", "role": "a", "user": "b", "finding_id": "f"}),
                "exactly one of",
            ),
            (
                json!({"action": "restore", "role": "web-app"}),
                "name the incident",
            ),
            (
                json!({"action": "restore", "role": "web app", "finding_id": "f"}),
                "not a valid IAM role",
            ),
            (
                json!({"action": "restore", "role": "arn:aws:iam::1:role/x", "finding_id": "f"}),
                "not a valid IAM role",
            ),
            (
                json!({"action": "restore", "role": "arn:aws:iam::111122223333:user/x", "finding_id": "f"}),
                "not a valid IAM role",
            ),
            (
                json!({"action": "restore", "role": "x", "cutoff": "yesterday"}),
                "not a UTC timestamp",
            ),
            (
                json!({"action": "restore", "role": "x", "finding_id": "f", "force": true}),
                "needs a \"reason\"",
            ),
            (
                json!({"action": "restore", "role": "x", "finding_id": "f", "force": true, "reason": " "}),
                "needs a \"reason\"",
            ),
            (
                json!({"action": "restore", "role": "x", "finding_id": "f", "dryrun": false}),
                "accepted fields",
            ),
            (
                json!({"action": "restore", "role": "x", "finding_id": "f", "account": "12"}),
                "12-digit",
            ),
            (
                json!({"action": "restore", "role": "arn:aws:iam::111122223333:role/x", "finding_id": "f", "account": "444455556666"}),
                "differ",
            ),
            (
                json!({"action": "restore", "role": "x", "finding_id": "a\u{0}b"}),
                "printable",
            ),
        ] {
            let e = parse_restore(&payload).unwrap_err().to_string();
            assert!(e.contains(says), "{payload}: {e}");
        }
        assert!(is_restore(&json!({"action": "restore"})));
        assert!(!is_restore(&json!({"action": "revoke"})));
    }
}
