//! One incident's part of the report: who, what, the actions and what a person does next.

use crate::model::incident::UnreadableField;
use crate::model::{
    severity_label, ActionKind, ActionOutcome, FindingError, Incident, Origin, Outcome, Status,
};
use crate::names::format_utc;
use crate::text::safe_text;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrincipalReport {
    pub user_type: String,
    pub name: Option<String>,
    pub principal_id: Option<String>,
    pub access_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentReport {
    pub source: Origin,
    pub finding_id: Option<String>,
    pub finding_type: Option<String>,
    pub title: Option<String>,
    pub severity: Option<f64>,
    pub severity_label: Option<&'static str>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: PrincipalReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_first_seen: Option<String>,
    pub event_last_seen: Option<String>,
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A person asked for this finding (a Security Hub custom action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_via: Option<String>,
    /// Optional fields present but unreadable, treated as absent (the decision did not use
    /// them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_fields: Vec<UnreadableField>,
    pub outcome: Outcome,
    pub actions: Vec<ActionOutcome>,
    /// What the stolen key did, followed through CloudTrail after the deny (CHAIN_DEPTH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<super::FollowUpReport>,
    /// The attack sequence that named this credential, and its signals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<super::SequenceReport>,
    pub next_steps: Vec<String>,
    /// A wider cut proposed, waiting for a person (issue 25): the request that approves it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::plan::approval::ApprovalSection>,
}

impl IncidentReport {
    /// Recomputes the outcome after an action changed (a later verification failed it).
    pub fn refresh_outcome(&mut self) {
        self.outcome = incident_outcome(&self.actions);
    }

    /// Adds the follow-up (its actions and its evidence) and recomputes the outcome; the next
    /// look, when there is one, becomes a next step.
    pub fn add_follow_up(&mut self, actions: Vec<ActionOutcome>, follow_up: super::FollowUpReport) {
        self.actions.extend(actions);
        if let (Some(at), super::NextLookStatus::Scheduled) =
            (&follow_up.next_look.at, follow_up.next_look.status)
        {
            self.next_steps.push(format!(
                "CloudTrail is looked at again at {at} (events arrive up to 15 minutes late); read that report too"
            ));
        } else if let (Some(at), Some(cmd)) =
            (&follow_up.next_look.at, &follow_up.next_look.command)
        {
            self.next_steps.push(format!(
                "Look at CloudTrail again after {at} (events arrive up to 15 minutes late): {cmd}"
            ));
        }
        if follow_up
            .persistence
            .iter()
            .any(|p| p.containment == "listed")
        {
            self.next_steps.push(
                "Review what the stolen credentials created (follow_up.persistence) and run the undo commands that apply; nothing was deleted".into(),
            );
        }
        self.follow_up = Some(follow_up);
        self.refresh_outcome();
    }

    pub fn new(incident: &Incident, actions: Vec<ActionOutcome>) -> Self {
        let p = &incident.principal;
        let mut report = Self {
            source: incident.origin,
            finding_id: incident.finding_id.as_deref().map(|s| safe_text(s, 128)),
            finding_type: incident.finding_type.as_deref().map(|s| safe_text(s, 128)),
            title: incident.title.as_deref().map(|s| safe_text(s, 300)),
            severity: incident.severity,
            severity_label: incident.severity.map(severity_label),
            account: incident.account.as_deref().map(|s| safe_text(s, 32)),
            region: incident.region.as_deref().map(|s| safe_text(s, 32)),
            principal: PrincipalReport {
                user_type: safe_text(p.user_type.as_str(), 40),
                name: p.name.as_deref().map(|s| safe_text(s, 128)),
                principal_id: p.principal_id.as_deref().map(|s| safe_text(s, 200)),
                access_key_id: p.access_key_id.as_deref().map(|s| safe_text(s, 128)),
            },
            event_first_seen: incident.event_first_seen.map(format_utc),
            event_last_seen: incident.event_last_seen.map(format_utc),
            count: incident.count,
            reason: incident.reason.clone(),
            requested_via: incident.requested_via.clone(),
            ignored_fields: incident.ignored_fields.clone(),
            outcome: Outcome::Skipped,
            actions,
            follow_up: None,
            sequence: super::SequenceReport::new(incident),
            next_steps: Vec::new(),
            approval: None,
        };
        report.approval = report
            .actions
            .iter()
            .find_map(|a| a.approval.as_deref().cloned());
        report.outcome = incident_outcome(&report.actions);
        report.next_steps = next_steps(incident, &report);
        report
    }

    /// A payload item with nothing readable at all (not an object, an envelope from another
    /// source). A finding whose principal alone is unreadable is an incident (`new`), which
    /// keeps its id, type and account.
    pub fn unreadable(index: usize, error: &FindingError) -> Self {
        let action = ActionOutcome::new(
            ActionKind::Triage,
            &format!("payload item {index}"),
            Status::Failed,
            safe_text(&error.to_string(), 500),
        );
        Self {
            source: Origin::Finding,
            finding_id: None,
            finding_type: None,
            title: None,
            severity: None,
            severity_label: None,
            account: None,
            region: None,
            principal: PrincipalReport {
                user_type: String::new(),
                name: None,
                principal_id: None,
                access_key_id: None,
            },
            event_first_seen: None,
            event_last_seen: None,
            count: None,
            reason: None,
            requested_via: None,
            ignored_fields: Vec::new(),
            outcome: Outcome::Failed,
            actions: vec![action],
            follow_up: None,
            sequence: None,
            next_steps: Vec::new(),
            approval: None,
        }
    }
}

fn incident_outcome(actions: &[ActionOutcome]) -> Outcome {
    Outcome::combine(actions.iter().map(|a| Outcome::of_status(a.status)))
}

/// An access key id safe to put in a command line, or a placeholder.
fn key_for_command(key: Option<&str>) -> &str {
    key.filter(|k| {
        (16..=128).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
    .unwrap_or("<access-key-id>")
}

fn region_for_command(region: Option<&str>) -> &str {
    region
        .filter(|r| {
            (1..=30).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or("<region>")
}

fn next_steps(incident: &Incident, report: &IncidentReport) -> Vec<String> {
    let acted = report.actions.iter().any(|a| {
        matches!(
            a.status,
            Status::Done | Status::WouldDo | Status::AlreadyCovered
        )
    });
    if !acted {
        return Vec::new();
    }
    let key = key_for_command(incident.principal.access_key_id.as_deref());
    let region = region_for_command(incident.region.as_deref());
    let mut steps = vec![format!(
        "See what the stolen key did: aws cloudtrail lookup-events --region {region} --lookup-attributes AttributeKey=AccessKeyId,AttributeValue={key} --max-results 50"
    )];
    for a in &report.actions {
        if !matches!(
            a.status,
            Status::Done | Status::WouldDo | Status::AlreadyCovered
        ) {
            continue;
        }
        let target = if crate::names::is_valid_role_name(&a.target) {
            a.target.as_str()
        } else {
            "<name>"
        };
        match a.action {
            ActionKind::RevokeRoleSessions | ActionKind::RevokeSessions => {
                steps.push("Honest users of this role now get AccessDenied until they take new credentials: \
                    re-run `aws sso login` or the role assumption, delete cached CLI credentials (~/.aws/cli/cache/*.json, ~/.aws/sso/cache/), \
                    and restart services that cache tokens".to_string());
                if let Some(permission_set) = a.facts.get("permission_set") {
                    // Identity Center: IAM cannot change the role; the deny is a statement of
                    // the permission set's inline policy, provisioned to the account.
                    steps.push(format!(
                        "{}: remove the statements SessionRevokerDenyStolenSessions* from the inline policy of permission set {} (aws sso-admin get-inline-policy-for-permission-set, then put-inline-policy-to-permission-set) and provision it again (aws sso-admin provision-permission-set --target-type AWS_ACCOUNT --target-id {})",
                        safe_to_delete(a.cutoff.as_deref(), crate::policy::MAX_ROLE_SESSION, "role session"),
                        crate::text::safe_text(permission_set, 200),
                        a.facts.get("account").map_or("<account>", String::as_str)
                    ));
                    continue;
                }
                steps.push(format!(
                    "{}: aws iam delete-role-policy --role-name {target} --policy-name {}",
                    safe_to_delete(a.cutoff.as_deref(), crate::policy::MAX_ROLE_SESSION, "role session"),
                    a.policy_name.unwrap_or(crate::policy::ROLE_POLICY_NAME)
                ));
            }
            ActionKind::DeactivateAccessKey => {
                // The action's target is the key; the user is the finding's principal.
                let target = incident
                    .principal
                    .name
                    .as_deref()
                    .filter(|n| crate::names::is_valid_user_name(n))
                    .unwrap_or("<user-name>");
                steps.push(format!(
                    "Rotate the key in every system that uses it, then delete it after the investigation: \
                     aws iam create-access-key --user-name {target}; aws iam delete-access-key --user-name {target} --access-key-id {key}"
                ));
                steps.push(format!(
                    "Look for persistence the attacker may have left: aws iam list-access-keys --user-name {target}; \
                     aws iam get-login-profile --user-name {target}; aws iam list-mfa-devices --user-name {target}; \
                     aws iam list-attached-user-policies --user-name {target}; aws iam list-user-policies --user-name {target}"
                ));
            }
            ActionKind::RevokeUserSessions => steps.push(format!(
                "{}: aws iam delete-user-policy --user-name {target} --policy-name {}",
                safe_to_delete(a.cutoff.as_deref(), crate::policy::MAX_USER_SESSION, "user session (GetSessionToken)"),
                a.policy_name.unwrap_or(crate::policy::ROLE_POLICY_NAME)
            )),
            ActionKind::ReassociateInstanceProfile => steps.push(format!(
                "The instance may keep cached credentials until they rotate: on {target}, `aws sts get-caller-identity` must succeed \
                 and a call the role allows must not be denied; stop and start the instance as the last resort"
            )),
            ActionKind::Triage => {}
        }
    }
    steps.dedup();
    steps
}

/// When deleting a deny is safe: it only refuses tokens issued before its cutoff, and every
/// such token has expired once the longest session has passed after it (12 h for a role, or
/// the role's shorter MaxSessionDuration; 36 h for a user's sessions). Until then, deleting it
/// gives the stolen tokens back.
fn safe_to_delete(cutoff: Option<&str>, longest: time::Duration, what: &str) -> String {
    match cutoff.and_then(crate::names::parse_utc) {
        Some(c) => format!(
            "The deny only refuses tokens issued before {}; it can be deleted safely from {} on (the longest {what} is {} h; for a session policy, use its latest cutoff), not before: deleting it earlier gives the stolen tokens back",
            format_utc(c),
            format_utc(c + longest),
            longest.whole_hours()
        ),
        None => format!(
            "Delete the deny only once the longest {what} ({} h) has passed after its cutoff: earlier, the stolen tokens work again",
            longest.whole_hours()
        ),
    }
}
