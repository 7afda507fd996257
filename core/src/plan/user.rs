//! Deciding about an IAM user: the stolen long-term key, and the user's temporary sessions.

use super::role::{covered, cutoff_in_place, new_cutoff};
use crate::config::Config;
use crate::model::{ActionKind, AwsError, Incident, PlannedAction, Step, UserTarget, Write};
use crate::names;
use crate::policy::{self, RevocationPolicy};
use time::OffsetDateTime;
/// What IAM says about a user before the decision.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub user: crate::model::UserInfo,
    pub keys: Result<Vec<crate::model::AccessKeyInfo>, AwsError>,
    pub user_policy: Result<Option<String>, AwsError>,
}

/// The decision for an IAM user: deactivate exactly the long-term key the finding names, or
/// deny the user's temporary sessions issued before the cutoff.
pub fn decide_user(
    incident: &Incident,
    target: &UserTarget,
    facts: &UserFacts,
    config: &Config,
    now: OffsetDateTime,
) -> Vec<PlannedAction> {
    let user = &facts.user.name;
    let Some(key) = target.access_key_id.as_deref() else {
        return vec![PlannedAction::new(
            ActionKind::DeactivateAccessKey,
            user,
            Step::Manual {
                reason: "the finding names no access key: review the user's keys and sessions"
                    .into(),
                commands: vec![format!("aws iam list-access-keys --user-name {user}")],
            },
        )];
    };
    if names::is_unique_id(key, "AKIA") {
        let keys = match &facts.keys {
            Ok(keys) => keys,
            Err(error) => {
                return vec![PlannedAction::new(
                    ActionKind::DeactivateAccessKey,
                    key,
                    Step::Fail {
                        error: error.clone(),
                    },
                )]
            }
        };
        let step = match keys.iter().find(|k| k.access_key_id == key) {
            None => Step::Fail {
                error: AwsError::new(
                    "ListAccessKeys",
                    "NoSuchEntity",
                    format!("access key {key} is not one of user {user}'s keys"),
                ),
            },
            Some(k) if k.status == crate::model::KeyStatus::Inactive => Step::AlreadyCovered {
                cutoff: now,
                reason: format!("access key {key} of user {user} is already inactive"),
            },
            Some(_) => Step::Write(Write::DeactivateAccessKey {
                user: user.clone(),
                access_key_id: key.to_string(),
            }),
        };
        return vec![PlannedAction::new(
            ActionKind::DeactivateAccessKey,
            key,
            step,
        )];
    }
    if names::is_unique_id(key, "ASIA") {
        let existing = match &facts.user_policy {
            Ok(doc) => doc.as_deref(),
            Err(error) => {
                return vec![PlannedAction::new(
                    ActionKind::RevokeUserSessions,
                    user,
                    Step::Fail {
                        error: error.clone(),
                    },
                )]
            }
        };
        let cutoff = new_cutoff(now, config);
        let mut note = Some("user sessions (GetSessionToken) last up to 36 h; the deny covers every one issued before the cutoff".to_string());
        let previous = cutoff_in_place(existing).unwrap_or_else(|unreadable| {
            note = Some(unreadable);
            None
        });
        let step = covered(previous, incident, cutoff).unwrap_or_else(|| {
            Step::Write(Write::PutUserPolicy {
                user: user.clone(),
                policy_name: policy::ROLE_POLICY_NAME,
                document: RevocationPolicy { cutoff }.to_json(),
                cutoff,
                previous_cutoff: previous,
                note,
            })
        });
        return vec![PlannedAction::new(
            ActionKind::RevokeUserSessions,
            user,
            step,
        )];
    }
    vec![PlannedAction::new(
        ActionKind::DeactivateAccessKey,
        user,
        Step::Skip {
            reason: format!(
                "access key id {:?} is neither a long-term (AKIA…) nor a temporary (ASIA…) key",
                crate::text::safe_text(key, 40)
            ),
        },
    )]
}
