//! Deciding about an IAM user: the stolen long-term key, and the user's temporary sessions.

use super::cutoff::{covered, cutoff_in_place, new_cutoff};
use crate::config::Config;
use crate::model::{ActionKind, AwsError, Incident, PlannedAction, Step, UserTarget, Write};
use crate::names;
use crate::policy::attribution::{add_served, Served};
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
    // Long-term or temporary is IAM's answer, not the prefix's: a key listed among the user's
    // access keys is long-term. The prefix (AKIA/ASIA) is only a hint, used when IAM's list
    // could not be read.
    let listed = facts
        .keys
        .as_ref()
        .ok()
        .map(|keys| keys.iter().any(|k| k.access_key_id == key));
    let long_term = listed == Some(true) || names::is_unique_id(key, "AKIA");
    if long_term {
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
        // Deactivating the key does not end the sessions minted from it (GetSessionToken,
        // GetFederationToken: up to 36 h): the user's deny refuses those too.
        let mut actions = vec![PlannedAction::new(
            ActionKind::DeactivateAccessKey,
            key,
            step,
        )];
        actions.push(user_sessions(incident, facts, config, now,
            "sessions minted from the stolen key before it was deactivated (GetSessionToken, GetFederationToken) last up to 36 h; the deny refuses every one issued before the cutoff"));
        return actions;
    }
    if listed == Some(false) || names::is_unique_id(key, "ASIA") {
        return vec![user_sessions(incident, facts, config, now,
            "user sessions (GetSessionToken) last up to 36 h; the deny covers every one issued before the cutoff")];
    }
    vec![PlannedAction::new(
        ActionKind::DeactivateAccessKey,
        user,
        Step::Skip {
            reason: format!(
                "access key id {:?} is neither one of the user's keys nor a temporary (ASIA…) key",
                crate::text::safe_text(key, 40)
            ),
        },
    )]
}

/// The user's `AWSRevokeOlderSessions` for tokens a followed key minted (`GetSessionToken`,
/// `GetFederationToken`): the same deny, cutoff and coverage rules as for the finding's own user,
/// without touching any key (what happens to the minting key is `CONTAIN_PERSISTENCE`'s call).
pub fn revoke_minted_tokens(
    incident: &Incident,
    facts: &UserFacts,
    config: &Config,
    now: OffsetDateTime,
) -> PlannedAction {
    user_sessions(incident, facts, config, now,
        "the stolen credentials minted this user's tokens (GetSessionToken, GetFederationToken: up to 36 h); the deny refuses every one issued before the cutoff")
}

/// The user's `AWSRevokeOlderSessions`: denies the user's temporary sessions issued before the
/// cutoff (long-term keys carry no `aws:TokenIssueTime` and are not touched by it).
fn user_sessions(
    incident: &Incident,
    facts: &UserFacts,
    config: &Config,
    now: OffsetDateTime,
    why: &str,
) -> PlannedAction {
    let user = &facts.user.name;
    let existing = match &facts.user_policy {
        Ok(doc) => doc.as_deref(),
        Err(error) => {
            return PlannedAction::new(
                ActionKind::RevokeUserSessions,
                user,
                Step::Fail {
                    error: error.clone(),
                },
            )
        }
    };
    let cutoff = new_cutoff(now, config);
    let in_place = cutoff_in_place(existing, policy::ROLE_POLICY_NAME, now);
    let note = Some(in_place.note.clone().unwrap_or_else(|| why.to_string()));
    let covered_step = (!in_place.must_replace)
        .then(|| covered(in_place.cutoff, incident, cutoff))
        .flatten();
    let cutoff = in_place.cutoff.map_or(cutoff, |c| c.max(cutoff));
    let step = covered_step.unwrap_or_else(|| {
        Step::Write(Write::PutUserPolicy {
            user: user.clone(),
            policy_name: policy::ROLE_POLICY_NAME,
            document: RevocationPolicy { cutoff }.to_json_served(&add_served(
                in_place.served.clone(),
                Served::incident(incident.finding_id.as_deref(), cutoff),
                now,
                policy::MAX_USER_SESSION,
            )),
            cutoff,
            previous_cutoff: in_place.cutoff,
            note,
        })
    });
    PlannedAction::new(ActionKind::RevokeUserSessions, user, step)
}
