//! Outcome counts as CloudWatch embedded metrics (EMF): one JSON line on stdout that Lambda's
//! log pipeline turns into the metrics `Contained`, `Failed` and `ManualActionRequired` in the
//! namespace `SessionRevoker`, which the template alarms on. No API call, no extra latency.

use crate::model::Outcome;
use crate::report::Report;
use serde_json::json;

pub const NAMESPACE: &str = "SessionRevoker";

/// The EMF document for a report; `timestamp_ms` is the time the metrics are for.
pub fn embedded_metrics(report: &Report, timestamp_ms: u64) -> String {
    let count =
        |f: &dyn Fn(Outcome) -> bool| report.incidents.iter().filter(|i| f(i.outcome)).count();
    let contained = count(&|o| matches!(o, Outcome::Revoked | Outcome::AlreadyCovered));
    let failed = count(&|o| o == Outcome::Failed) + report.not_started.len();
    let manual = count(&|o| o == Outcome::ManualActionRequired);
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service"]],
                "Metrics": [
                    {"Name": "Contained", "Unit": "Count"},
                    {"Name": "Failed", "Unit": "Count"},
                    {"Name": "ManualActionRequired", "Unit": "Count"}
                ]
            }]
        },
        "Service": "session-revoker",
        "Contained": contained,
        "Failed": failed,
        "ManualActionRequired": manual,
    })
    .to_string()
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
        assert_eq!(names, ["Contained", "Failed", "ManualActionRequired"]);
    }
}
