#![no_main]
//! Any byte string the Lambda runtime could hand over: JSON-parse it as the runtime does, then
//! classify, parse, triage and render. Must never panic.

use libfuzzer_sys::fuzz_target;
use revoker_core::config::Config;
use revoker_core::input::parse_payload;
use revoker_core::plan::triage;
use revoker_core::report::{IncidentReport, Report};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(parsed) = parse_payload(&value) else { return };
    let config = Config::default();
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let incidents: Vec<IncidentReport> = parsed
        .items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|i| {
            let _ = triage(i, &config);
            IncidentReport::new(i, Vec::new())
        })
        .collect();
    let report = Report::new(Some(parsed.shape), false, incidents, now, 0);
    assert!(report.subject().len() < 100);
    let _ = report.to_text();
});
