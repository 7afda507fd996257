//! Outcome counts as CloudWatch embedded metrics (EMF): one JSON line on stdout that Lambda's
//! log pipeline turns into the metrics `Contained`, `Failed`, `ManualActionRequired` and
//! `PartlyContained` in the namespace `SessionRevoker`, which the template alarms on. No API
//! call, no extra latency.
//!
//! `ManualActionRequired` counts the items a person must handle (every `manual_action_required`
//! action, in any incident: a pivot into a protected role beside a revocation counts), not only
//! incidents whose outcome is manual; `PartlyContained` counts incidents where something was
//! contained and something else is still live; `ApprovalNeeded` counts incidents whose wider cut
//! waits for a person's approve request (issue 25): the template alarms on it, so a proposal
//! never waits unseen. `Queued` counts incidents whose session deny joined its role's merged
//! write (issue 26): the merged write reports on the topic when it is in place, and fails to the
//! re-check dead-letter queue (alarmed) when it cannot be.

use crate::model::{Outcome, Status};
use crate::report::Report;
use serde_json::json;

pub const NAMESPACE: &str = "SessionRevoker";

/// The EMF document for a report; `timestamp_ms` is the time the metrics are for.
pub fn embedded_metrics(report: &Report, timestamp_ms: u64) -> String {
    let count =
        |f: &dyn Fn(Outcome) -> bool| report.incidents.iter().filter(|i| f(i.outcome)).count();
    let contained = count(&|o| matches!(o, Outcome::Revoked | Outcome::AlreadyCovered));
    let failed = count(&|o| o == Outcome::Failed) + report.not_started.len();
    let partly = count(&|o| o == Outcome::PartlyContained);
    let approval = count(&|o| o == Outcome::ApprovalNeeded);
    let queued = count(&|o| o == Outcome::Queued);
    let manual = report
        .incidents
        .iter()
        .flat_map(|i| &i.actions)
        .filter(|a| a.status == Status::ManualActionRequired)
        .count();
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": [
                    {"Name": "Contained", "Unit": "Count"},
                    {"Name": "Failed", "Unit": "Count"},
                    {"Name": "ManualActionRequired", "Unit": "Count"},
                    {"Name": "PartlyContained", "Unit": "Count"},
                    {"Name": "ApprovalNeeded", "Unit": "Count"},
                    {"Name": "Queued", "Unit": "Count"}
                ]
            }]
        },
        "Service": "session-revoker",
        "Contained": contained,
        "Failed": failed,
        "ManualActionRequired": manual,
        "PartlyContained": partly,
        "ApprovalNeeded": approval,
        "Queued": queued,
    });
    // A fire drill (not a dry run): whether it passed (the template's alarm also breaches
    // when no drill passed for 8 days) and the longest propagation it measured.
    if let Some(drill) = report.drill.as_ref().filter(|d| !d.dry_run) {
        let mut add = |name: &str, unit: &str, value: serde_json::Value| {
            if let Some(list) = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array_mut() {
                list.push(json!({"Name": name, "Unit": unit}));
            }
            doc[name] = value;
        };
        add(
            "DrillPassed",
            "Count",
            json!(u8::from(report.outcome == Outcome::DrillPassed)),
        );
        if let Some(ms) = drill.propagation_ms {
            add(
                "DrillPropagationSeconds",
                "Seconds",
                json!(ms as f64 / 1000.0),
            );
        }
    }
    doc.to_string()
}

/// A drill's metrics per account (organization mode), one EMF document each with the
/// dimensions `Service` and `Account`: `DrillAccountReady` (1 or 0) and, when measured, that
/// account's `DrillPropagationSeconds`. Separate from `DrillPassed` (dimension `Service` only,
/// which the alarms read), so a dashboard shows which account is not ready. None for a dry run,
/// for a report that is no drill, and for a drill with no account reached.
pub fn drill_account_metrics(report: &Report, timestamp_ms: u64) -> Vec<String> {
    let Some(drill) = report.drill.as_ref().filter(|d| !d.dry_run) else {
        return Vec::new();
    };
    drill
        .accounts
        .iter()
        .filter(|a| crate::names::is_account_id(&a.account))
        .map(|a| {
            let mut metrics = vec![json!({"Name": "DrillAccountReady", "Unit": "Count"})];
            let mut doc = json!({
                "Service": "session-revoker",
                "Account": a.account,
                "DrillAccountReady": u8::from(a.ready),
            });
            if let Some(ms) = a.propagation_ms() {
                metrics.push(json!({"Name": "DrillPropagationSeconds", "Unit": "Seconds"}));
                doc["DrillPropagationSeconds"] = json!(ms as f64 / 1000.0);
            }
            doc["_aws"] = json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Service", "Account"]],
                    "Metrics": metrics
                }]
            });
            doc.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionKind, ActionOutcome, Incident, Status};
    use crate::report::IncidentReport;
    use serde_json::Value;

    fn incident(status: Status) -> IncidentReport {
        let payload = json!({"action": "revoke", "role": "web-app"});
        let i: Incident = crate::input::parse_payload(&payload)
            .unwrap()
            .items
            .remove(0)
            .unwrap();
        IncidentReport::new(
            &i,
            vec![ActionOutcome::new(
                ActionKind::RevokeRoleSessions,
                "web-app",
                status,
                "x",
            )],
        )
    }

    #[test]
    fn counts_each_outcome_and_names_the_metrics() {
        let report = Report::new(
            None,
            false,
            vec![
                incident(Status::Done),
                incident(Status::AlreadyCovered),
                incident(Status::Failed),
                incident(Status::ManualActionRequired),
            ],
            time::OffsetDateTime::UNIX_EPOCH,
            1,
        );
        let v: Value = serde_json::from_str(&embedded_metrics(&report, 1_700_000_000_000)).unwrap();
        assert_eq!(v["Contained"], 2);
        assert_eq!(v["Failed"], 1);
        assert_eq!(v["ManualActionRequired"], 1);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Contained",
                "Failed",
                "ManualActionRequired",
                "PartlyContained",
                "ApprovalNeeded",
                "Queued"
            ]
        );
    }

    #[test]
    fn a_session_denied_while_the_role_wide_deny_waits_is_approval_needed_not_contained() {
        let mut waiting = incident(Status::Done);
        waiting.actions.push(ActionOutcome::new(
            ActionKind::RevokeRoleSessions,
            "web-app",
            Status::AwaitingApproval,
            "proposed, not done",
        ));
        // Even beside an item left for a person, the decision asked for leads.
        waiting.actions.push(ActionOutcome::new(
            ActionKind::RevokeSessions,
            "OrganizationAccountAccessRole",
            Status::ManualActionRequired,
            "protected role",
        ));
        waiting.refresh_outcome();
        assert_eq!(waiting.outcome, Outcome::ApprovalNeeded);
        let report = Report::new(
            None,
            false,
            vec![waiting, incident(Status::Done)],
            time::OffsetDateTime::UNIX_EPOCH,
            1,
        );
        assert_eq!(report.outcome, Outcome::ApprovalNeeded);
        assert!(
            report.summary.starts_with("APPROVAL NEEDED"),
            "{}",
            report.summary
        );
        let v: Value = serde_json::from_str(&embedded_metrics(&report, 1)).unwrap();
        assert_eq!(v["ApprovalNeeded"], 1);
        assert_eq!(v["Contained"], 1, "the waiting incident is not contained");
        // Not a failure: the invocation succeeds (a retry would only propose again).
        assert!(crate::respond::fate::invocation_result(&report).is_ok());
    }

    fn drill(passed: bool, dry_run: bool) -> Report {
        use revoker_core::drill::{DrillAccount, DrillReport, ScopeResult, StepName, StepResult};
        let mut d = DrillReport::new(dry_run, 30, 300);
        let mut a = DrillAccount::new("123456789012", "arn:aws:iam::123456789012:role/canary");
        a.scopes.push(ScopeResult {
            scope: "role",
            session: "drill-x-role".into(),
            actions: vec![ActionOutcome::new(
                ActionKind::RevokeRoleSessions,
                "canary",
                if dry_run {
                    Status::WouldDo
                } else {
                    Status::Done
                },
                "",
            )],
            written_at_ms: Some(10),
            propagation_ms: Some(2_250),
        });
        let result = if passed {
            StepResult::Passed
        } else {
            StepResult::Failed
        };
        a.step(StepName::RoleRefused, result, "x", 20);
        d.accounts.push(a);
        d.finish();
        Report::drill(d, time::OffsetDateTime::UNIX_EPOCH, 30)
    }

    #[test]
    fn a_drill_reports_whether_it_passed_and_its_propagation_in_seconds() {
        let names = |v: &Value| -> Vec<String> {
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap().to_string())
                .collect()
        };
        let v: Value = serde_json::from_str(&embedded_metrics(&drill(true, false), 1)).unwrap();
        assert_eq!(v["DrillPassed"], 1);
        assert_eq!(v["DrillPropagationSeconds"], 2.25);
        assert!(names(&v).contains(&"DrillPropagationSeconds".to_string()));
        assert_eq!(v["Failed"], 0, "a drill is no finding");
        let v: Value = serde_json::from_str(&embedded_metrics(&drill(false, false), 1)).unwrap();
        assert_eq!(v["DrillPassed"], 0);
        // A dry run proves nothing: no drill metric at all.
        let v: Value = serde_json::from_str(&embedded_metrics(&drill(true, true), 1)).unwrap();
        assert!(v.get("DrillPassed").is_none());
        assert!(!names(&v).contains(&"DrillPassed".to_string()));
        // Not a drill: no drill metric.
        let v: Value = serde_json::from_str(&embedded_metrics(&incident_report(), 1)).unwrap();
        assert!(v.get("DrillPassed").is_none());
    }

    #[test]
    fn a_drill_reports_each_accounts_readiness_under_its_account_dimension() {
        let per: Vec<Value> = drill_account_metrics(&drill(false, false), 1)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(per.len(), 1);
        assert_eq!(per[0]["DrillAccountReady"], 0);
        assert_eq!(per[0]["Account"], "123456789012");
        assert_eq!(
            per[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Account"]])
        );
        let per: Vec<Value> = drill_account_metrics(&drill(true, false), 1)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(per[0]["DrillAccountReady"], 1);
        assert_eq!(per[0]["DrillPropagationSeconds"], 2.25);
        assert!(drill_account_metrics(&drill(true, true), 1).is_empty());
        assert!(drill_account_metrics(&incident_report(), 1).is_empty());
    }

    fn incident_report() -> Report {
        Report::new(
            None,
            false,
            vec![incident(Status::Done)],
            time::OffsetDateTime::UNIX_EPOCH,
            1,
        )
    }

    #[test]
    fn a_revocation_beside_an_item_left_for_a_person_is_partly_contained_and_counted() {
        let mut partly = incident(Status::Done);
        partly.actions.push(ActionOutcome::new(
            ActionKind::RevokeSessions,
            "OrganizationAccountAccessRole",
            Status::ManualActionRequired,
            "protected role",
        ));
        partly.refresh_outcome();
        assert_eq!(partly.outcome, Outcome::PartlyContained);
        let report = Report::new(
            None,
            false,
            vec![partly, incident(Status::Done)],
            time::OffsetDateTime::UNIX_EPOCH,
            1,
        );
        assert_eq!(report.outcome, Outcome::PartlyContained);
        let v: Value = serde_json::from_str(&embedded_metrics(&report, 1)).unwrap();
        assert_eq!(
            v["Contained"], 1,
            "a partly contained incident is not contained"
        );
        assert_eq!(v["PartlyContained"], 1);
        assert_eq!(v["ManualActionRequired"], 1, "the item left for a person");
    }
}
