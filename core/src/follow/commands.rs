//! The exact commands a person runs (or that undo what the attacker did), built only from
//! names validated in [`super::event`].

use super::event::{AssumedSession, EventRef, MintedToken};
use super::steps::KeyToFollow;
use super::window::LookupWindow;
use crate::config::RevokeScope;
use crate::names::format_utc;
use crate::policy::{self, RevocationPolicy, SessionRevocations};
use std::collections::BTreeMap;
use time::OffsetDateTime;

pub(super) fn event_lookup_command(event: &EventRef) -> String {
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

/// The by-hand revocation of one session, every value validated upstream.
pub(super) fn session_commands(
    s: &AssumedSession,
    scope: RevokeScope,
    cutoff: OffsetDateTime,
) -> Vec<String> {
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
pub(super) fn user_commands(token: &MintedToken, cutoff: OffsetDateTime) -> Vec<String> {
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

/// The look-up a person runs for a key whose events were not (all) read: one command per
/// region, in the key's account.
pub(super) fn key_lookup_commands(
    key: &KeyToFollow,
    window: &LookupWindow,
    regions: &[&str],
) -> Vec<String> {
    let mut out = vec![format!(
        "# in account {}, with credentials of that account:",
        key.account
    )];
    out.extend(regions.iter().map(|region| {
        format!(
            "aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={} --start-time {} --end-time {}",
            key.access_key_id,
            format_utc(window.start),
            format_utc(window.end)
        )
    }));
    out
}
