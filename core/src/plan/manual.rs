//! Steps a person takes by hand, always for the kind of principal the finding names: an IAM
//! user's stolen key and sessions (`update-access-key`, `put-user-policy`), a role's sessions
//! (`put-role-policy`), root's credentials (the console), never one for the other.
//!
//! Pure: no clock and no AWS call. The deny policy's cutoff is the moment the person runs the
//! command (`date -u`), not a time frozen into the report, and the document is the one this
//! tool and the console write (`RevocationPolicy`), so the tool recognises it afterwards.

use super::effective_scope;
use crate::config::{Config, RevokeScope};
use crate::model::{ActionKind, Incident, UserType};
use crate::names;
use crate::policy::{RevocationPolicy, ROLE_POLICY_NAME};
use time::macros::datetime;

/// A response by hand: the action it stands for, its target and the commands, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ByHand {
    pub kind: ActionKind,
    pub target: String,
    pub commands: Vec<String>,
}

/// When the function cannot act in the finding's account (a member account it cannot reach):
/// the response by hand in that account, for the principal the finding names.
pub fn unreachable_account(incident: &Incident, config: &Config, account: &str) -> ByHand {
    let mut by_hand = by_hand(incident, config);
    let account = if names::is_account_id(account) {
        account
    } else {
        "<account-id>"
    };
    by_hand.commands.insert(
        0,
        format!("# in account {account}, with credentials of that account:"),
    );
    by_hand
}

/// The response by hand for the principal the finding names: revocation commands for a role
/// or an IAM user, the console steps for root, a CloudTrail look-up for anything else.
pub fn by_hand(incident: &Incident, config: &Config) -> ByHand {
    let p = &incident.principal;
    match &p.user_type {
        UserType::AssumedRole | UserType::Role => role(incident, config),
        UserType::IamUser => user(incident),
        UserType::Root => ByHand {
            kind: ActionKind::Triage,
            target: "root".into(),
            commands: root_steps(incident),
        },
        UserType::FederatedUser => ByHand {
            kind: ActionKind::Triage,
            target: "federated user".into(),
            commands: vec![format!(
                "{}  # the federating IAM user's sessions are revoked on that user (put-user-policy)",
                lookup_by_key(incident)
            )],
        },
        _ => ByHand {
            kind: ActionKind::Triage,
            target: "principal".into(),
            commands: vec![lookup_by_key(incident), get_finding(incident)],
        },
    }
}

/// Steps for an attack sequence as a whole: read GuardDuty's own copy (every actor, where
/// Security Hub's keeps 10) and hand it to this function, which answers each credential in it;
/// then the signals, by the finding.
pub fn sequence_review(incident: &Incident) -> ByHand {
    let region = region(incident);
    ByHand {
        kind: ActionKind::Triage,
        target: "attack sequence".into(),
        commands: vec![
            format!("{} > sequence.json  # GuardDuty's copy names every actor and key resource", get_finding(incident)),
            format!("aws lambda invoke --function-name <session-revoker-function> --region {region} --cli-binary-format raw-in-base64-out --payload file://sequence.json report.json  # each credential in it is contained like a finding of its own"),
            "# then review service.detection.sequence.signals in sequence.json: each names the actors (actorIds) and resources (resourceUids) it involved".into(),
        ],
    }
}

/// Steps for root credentials: nothing in IAM can restrict them.
pub fn root_steps(incident: &Incident) -> Vec<String> {
    let account = incident
        .account
        .as_deref()
        .filter(|a| names::is_account_id(a))
        .unwrap_or("<account-id>");
    vec![
        format!("Sign in as root of account {account}: change the root password and check the root MFA devices"),
        "Delete root access keys if any exist: IAM console > Security credentials (root) > Access keys".into(),
        format!(
            "aws cloudtrail lookup-events --lookup-attributes AttributeKey=Username,AttributeValue=root --region {}",
            region(incident)
        ),
    ]
}

fn role(incident: &Incident, config: &Config) -> ByHand {
    let p = &incident.principal;
    let name = p
        .name
        .as_deref()
        .filter(|n| names::is_valid_role_name(n) && !n.starts_with("GeneratedFinding"));
    let mut commands = Vec::new();
    let (role, target) = match (name, p.role_id()) {
        (Some(n), _) => (n.to_string(), n.to_string()),
        (None, Some(role_id)) => {
            commands.push(format!(
                "ROLE=$(aws iam list-roles --query \"Roles[?RoleId=='{role_id}'].RoleName\" --output text)  # the finding names the role by its RoleId only"
            ));
            ("\"$ROLE\"".to_string(), role_id.to_string())
        }
        (None, None) => ("<role-name>".to_string(), "<role-name>".to_string()),
    };
    commands.push(format!(
        "aws iam get-role-policy --role-name {role} --policy-name {ROLE_POLICY_NAME}  # if one is in place with a later cutoff, keep it: a cutoff never moves back"
    ));
    commands.push(deny_document_command());
    let mut put = format!(
        "aws iam put-role-policy --role-name {role} --policy-name {ROLE_POLICY_NAME} --policy-document file://deny.json  # or the IAM console's \"Revoke active sessions\" on the role: the same policy"
    );
    if effective_scope(incident, config) == RevokeScope::Session {
        put.push_str(
            "; this denies every session of the role issued before the cutoff, not only the stolen one",
        );
    }
    commands.push(put);
    ByHand {
        kind: ActionKind::RevokeRoleSessions,
        target,
        commands,
    }
}

fn user(incident: &Incident) -> ByHand {
    let p = &incident.principal;
    let user = p
        .name
        .as_deref()
        .filter(|n| names::is_valid_user_name(n) && !n.starts_with("GeneratedFinding"))
        .unwrap_or("<user-name>");
    let key = p.access_key_id.as_deref();
    let deny = [
        format!(
            "aws iam get-user-policy --user-name {user} --policy-name {ROLE_POLICY_NAME}  # if one is in place with a later cutoff, keep it: a cutoff never moves back"
        ),
        deny_document_command(),
        format!(
            "aws iam put-user-policy --user-name {user} --policy-name {ROLE_POLICY_NAME} --policy-document file://deny.json  # denies the user's temporary sessions (GetSessionToken, up to 36 h) issued before the cutoff"
        ),
    ];
    match key {
        Some(k) if names::is_unique_id(k, "AKIA") => {
            let mut commands = vec![format!(
                "aws iam update-access-key --user-name {user} --access-key-id {k} --status Inactive  # only the stolen key; do not delete it (evidence)"
            )];
            // Sessions minted from the key outlive its deactivation.
            commands.extend(deny);
            ByHand {
                kind: ActionKind::DeactivateAccessKey,
                target: k.to_string(),
                commands,
            }
        }
        Some(k) if names::is_unique_id(k, "ASIA") => {
            let mut commands = deny.to_vec();
            commands.push(format!(
                "aws iam list-access-keys --user-name {user}  # the temporary key {k} was minted from one of these long-term keys: deactivate it with update-access-key --status Inactive"
            ));
            ByHand {
                kind: ActionKind::RevokeUserSessions,
                target: user.to_string(),
                commands,
            }
        }
        _ => {
            let mut commands = vec![format!(
                "aws iam list-access-keys --user-name {user}  # the finding names no access key this tool can read: deactivate the stolen one with update-access-key --status Inactive"
            )];
            commands.extend(deny);
            ByHand {
                kind: ActionKind::RevokeUserSessions,
                target: user.to_string(),
                commands,
            }
        }
    }
}

/// A command that writes `deny.json`: the console's `AWSRevokeOlderSessions` document with
/// the cutoff at the moment it runs.
fn deny_document_command() -> String {
    const PLACEHOLDER: time::OffsetDateTime = datetime!(2000-01-01 00:00:00 UTC);
    let placeholder = names::format_utc(PLACEHOLDER);
    let document = RevocationPolicy {
        cutoff: PLACEHOLDER,
    }
    .to_json();
    let template = document.replace('%', "%%").replace(&placeholder, "%s");
    if template.contains("%s") && !template.contains('\'') {
        format!(
            "printf '{template}' \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\" > deny.json  # cutoff: the moment this runs"
        )
    } else {
        // Not reached with the document this tool writes; never a command that could break.
        "# deny.json: use the IAM console's \"Revoke active sessions\" instead".into()
    }
}

fn lookup_by_key(incident: &Incident) -> String {
    let key = incident
        .principal
        .access_key_id
        .as_deref()
        .filter(|k| (16..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("<access-key-id>");
    format!(
        "aws cloudtrail lookup-events --region {} --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={key} --max-results 50",
        region(incident)
    )
}

fn get_finding(incident: &Incident) -> String {
    let id = incident
        .finding_id
        .as_deref()
        .filter(|i| (1..=64).contains(&i.len()) && i.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("<finding-id>");
    format!(
        "aws guardduty get-findings --region {} --detector-id \"$(aws guardduty list-detectors --region {} --query 'DetectorIds[0]' --output text)\" --finding-ids {id}",
        region(incident),
        region(incident)
    )
}

fn region(incident: &Incident) -> &str {
    incident
        .region
        .as_deref()
        .filter(|r| {
            (1..=30).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or("<region>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_payload;
    use crate::model::Incident;
    use serde_json::json;

    fn finding(user_type: &str, name: &str, principal_id: &str, key: &str) -> Incident {
        parse_payload(&json!({
            "id": "f1", "accountId": "444455556666", "region": "eu-west-1", "severity": 8,
            "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
            "resource": {"accessKeyDetails": {"userType": user_type, "userName": name,
                "principalId": principal_id, "accessKeyId": key}},
            "service": {}
        }))
        .unwrap()
        .items
        .remove(0)
        .unwrap()
    }

    fn all(b: &ByHand) -> String {
        b.commands.join("\n")
    }

    /// What `sh` would write with the printf command: the document this tool recognises.
    fn written_document(b: &ByHand) -> String {
        let line = b
            .commands
            .iter()
            .find(|c| c.starts_with("printf '"))
            .expect("a printf command");
        let rest = &line["printf '".len()..];
        rest[..rest.find('\'').unwrap()]
            .replace("%s", "2026-11-22T03:00:00Z")
            .replace("%%", "%")
    }

    #[test]
    fn member_account_user_with_a_long_term_key() {
        let i = finding(
            "IAMUser",
            "ci-bot",
            "AIDAEXAMPLEUSER00001",
            "AKIAEXAMPLESTOLENKEY",
        );
        let b = unreachable_account(&i, &Config::default(), "444455556666");
        assert_eq!(b.kind, ActionKind::DeactivateAccessKey);
        assert_eq!(b.target, "AKIAEXAMPLESTOLENKEY");
        let text = all(&b);
        assert!(b.commands[0].contains("in account 444455556666"), "{text}");
        assert!(b.commands[1].starts_with(
            "aws iam update-access-key --user-name ci-bot --access-key-id AKIAEXAMPLESTOLENKEY --status Inactive"
        ), "{text}");
        assert!(text.contains("aws iam put-user-policy --user-name ci-bot --policy-name AWSRevokeOlderSessions --policy-document file://deny.json"), "{text}");
        assert!(!text.contains("role"), "no role command for a user: {text}");
        assert_eq!(
            RevocationPolicy::latest_cutoff(&written_document(&b)).unwrap(),
            Some(datetime!(2026-11-22 03:00:00 UTC))
        );
    }

    #[test]
    fn member_account_user_with_a_temporary_key() {
        let i = finding(
            "IAMUser",
            "ci-bot",
            "AIDAEXAMPLEUSER00001",
            "ASIAEXAMPLETEMPKEY01",
        );
        let b = unreachable_account(&i, &Config::default(), "444455556666");
        assert_eq!(b.kind, ActionKind::RevokeUserSessions);
        assert_eq!(b.target, "ci-bot");
        let text = all(&b);
        assert!(
            text.contains(
                "aws iam put-user-policy --user-name ci-bot --policy-name AWSRevokeOlderSessions"
            ),
            "{text}"
        );
        assert!(
            text.contains("aws iam list-access-keys --user-name ci-bot"),
            "{text}"
        );
        assert!(
            !text.contains("update-access-key --user-name ci-bot --access-key-id ASIA"),
            "a temporary key cannot be deactivated: {text}"
        );
        assert!(!text.contains("role"), "no role command for a user: {text}");
        assert!(RevocationPolicy::latest_cutoff(&written_document(&b))
            .unwrap()
            .is_some());
    }

    #[test]
    fn member_account_role() {
        let i = finding(
            "AssumedRole",
            "web-app",
            "AROAEXAMPLEROLEID0001:i-0123456789abcdef0",
            "ASIAEXAMPLEEXAMPLE01",
        );
        let b = unreachable_account(&i, &Config::default(), "444455556666");
        assert_eq!(b.kind, ActionKind::RevokeRoleSessions);
        assert_eq!(b.target, "web-app");
        let text = all(&b);
        assert!(text.contains("aws iam put-role-policy --role-name web-app --policy-name AWSRevokeOlderSessions --policy-document file://deny.json"), "{text}");
        assert!(
            !text.contains("user-policy") && !text.contains("access-key"),
            "{text}"
        );
        assert!(
            text.contains("not only the stolen one"),
            "the default (auto) scope picks session scope for an instance session: {text}"
        );
        assert!(RevocationPolicy::latest_cutoff(&written_document(&b))
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_role_known_only_by_its_role_id_is_looked_up() {
        let i = finding("AssumedRole", "", "AROAEXAMPLEROLEID0001:alice", "");
        let b = by_hand(&i, &Config::default());
        assert_eq!(b.target, "AROAEXAMPLEROLEID0001");
        assert!(b.commands[0].contains("RoleId=='AROAEXAMPLEROLEID0001'"));
        assert!(all(&b).contains("put-role-policy --role-name \"$ROLE\""));
    }

    #[test]
    fn hostile_names_never_reach_a_command() {
        let i = finding(
            "IAMUser",
            "bob; rm -rf /",
            "AIDAEXAMPLEUSER00001",
            "AKIA$(reboot)XXXXXXXXX",
        );
        let text = all(&by_hand(&i, &Config::default()));
        assert!(
            !text.contains("rm -rf") && !text.contains("reboot"),
            "{text}"
        );
        assert!(text.contains("<user-name>"));
        let i = finding("AssumedRole", "web'app", "AROAEXAMPLEROLEID0001:x'y", "");
        let b = by_hand(&i, &Config::default());
        assert!(!all(&b).contains("web'app"), "{}", all(&b));
    }

    #[test]
    fn root_and_other_principals() {
        let i = finding("Root", "", "111122223333", "ASIAEXAMPLEEXAMPLE01");
        let b = by_hand(&i, &Config::default());
        assert_eq!(b.target, "root");
        assert!(all(&b).contains("Sign in as root of account 444455556666"));
        assert!(!all(&b).contains("put-"));
        let i = finding("AWSService", "", "", "ASIAEXAMPLEEXAMPLE01");
        let b = by_hand(&i, &Config::default());
        assert!(all(&b).contains("AttributeValue=ASIAEXAMPLEEXAMPLE01"));
        assert!(all(&b).contains("--finding-ids f1"));
        assert!(!all(&b).contains("put-"));
    }
}
