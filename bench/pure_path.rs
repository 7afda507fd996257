//! Throughput of the pure path, findings per second: parse the payload, triage, decide (with the
//! facts IAM would return), build and re-read the deny policy, render the report (the SNS
//! publication, text and JSON, and the JSON written to the log). No AWS call, no clock.
//!
//! `make bench` runs it briefly (`cargo bench --bench pure_path -- --measurement-time 3`) and
//! copies `target/criterion/pure_path*/*/new/estimates.json` into BENCHMARKS.md. The group
//! `pure_path_stages` times parse, plan and report separately.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use revoker_core::config::Config;
use revoker_core::input::parse_payload;
use revoker_core::model::RoleInfo;
use revoker_core::model::{ActionOutcome, Outcome, Status};
use revoker_core::model::{Parsed, Shape};
use revoker_core::model::{PlannedAction, Triage, Write};
use revoker_core::names::format_utc;
use revoker_core::plan::{decide_role, triage, RoleFacts};
use revoker_core::policy::RevocationPolicy;
use revoker_core::report::{IncidentReport, Report};
use serde_json::Value;
use std::hint::black_box;
use std::time::Duration;
use time::OffsetDateTime;

const EVENT: &str = include_str!("../events/assumed-role-event.json");
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:session-revoker-reports";

fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-11-22 03:00:00 UTC)
}

/// What IAM would say about the role: it exists, and either has no revocation policy yet or
/// one written an hour earlier.
fn facts(name: &str, existing: Option<String>) -> RoleFacts {
    RoleFacts {
        role: RoleInfo {
            name: name.to_string(),
            arn: format!("arn:aws:iam::123456789012:role/{name}"),
            path: "/".into(),
            role_id: "AROAQEXAMPLEDEPLOYER1".into(),
            tags: Vec::new(),
        },
        role_policy: Ok(existing),
        session_policy: Ok(None),
        responder_role: Ok(Some("session-revoker".into())),
        note: None,
    }
}

/// A planned action as the report shows it once carried out (writes succeed).
fn outcome(action: PlannedAction) -> ActionOutcome {
    let PlannedAction { kind, target, step } = action;
    match ActionOutcome::settled(kind, &target, step).map_err(|w| *w) {
        Ok(settled) => settled,
        Err(Write::PutRolePolicy {
            role,
            policy_name,
            document,
            cutoff,
            previous_cutoff,
            ..
        }) => {
            // The read-back check: the cutoff in the document is the one meant.
            let read_back = RevocationPolicy::latest_cutoff(&document).ok().flatten();
            assert_eq!(read_back, Some(cutoff));
            let mut o = ActionOutcome::new(
                kind,
                &target,
                Status::Done,
                format!(
                    "wrote {policy_name} on role {role}: deny tokens issued before {}",
                    format_utc(cutoff)
                ),
            );
            o.policy_name = Some(policy_name);
            o.cutoff = Some(format_utc(cutoff));
            o.previous_cutoff = previous_cutoff.map(format_utc);
            o
        }
        Err(_) => ActionOutcome::new(kind, &target, Status::Done, "written"),
    }
}

/// Parse: payload to incidents.
fn parse(payload: &Value) -> Parsed {
    parse_payload(payload).expect("the sample event parses")
}

/// Plan: triage and decide every incident (the deny policy is built here), then turn the
/// planned actions into outcomes as a successful run reports them.
fn plan(parsed: &Parsed, config: &Config, existing: Option<&str>) -> Vec<IncidentReport> {
    let mut incidents = Vec::with_capacity(parsed.items.len());
    for item in &parsed.items {
        let incident = item.as_ref().expect("the sample finding is readable");
        let actions = match triage(incident, config) {
            Triage::Role(target) => {
                let name = target.name.as_deref().unwrap_or("app-deployer");
                let facts = facts(name, existing.map(str::to_string));
                decide_role(incident, &facts, config, now())
                    .into_iter()
                    .map(outcome)
                    .collect()
            }
            Triage::Done(action) => vec![outcome(action)],
            Triage::User(_) => unreachable!("the sample finding is a role session"),
        };
        incidents.push(IncidentReport::new(incident, actions));
    }
    incidents
}

/// Report: the invocation's report, its SNS publication (text and JSON) and the logged JSON.
fn report(shape: Shape, incidents: Vec<IncidentReport>) -> (Report, usize) {
    let report = Report::new(Some(shape), false, incidents, now(), 0);
    let publication = report.publication(TOPIC, &report.to_json());
    let logged = report.to_json();
    let bytes = publication.message.len() + publication.subject.len() + logged.len();
    (report, bytes)
}

/// One finding through the whole pure path.
fn pure_path(payload: &Value, config: &Config, existing: Option<&str>) -> (Report, usize) {
    let parsed = parse(payload);
    let incidents = plan(&parsed, config, existing);
    report(parsed.shape, incidents)
}

fn bench(c: &mut Criterion) {
    let payload: Value = serde_json::from_str(EVENT).expect("events/assumed-role-event.json");
    let config = Config::default();
    let earlier = RevocationPolicy {
        cutoff: now() - time::Duration::hours(1),
    }
    .to_json();

    // The measured path is the one meant: a revocation written, before and after an earlier one.
    for existing in [None, Some(earlier.as_str())] {
        let (report, _) = pure_path(&payload, &config, existing);
        assert_eq!(report.outcome, Outcome::Revoked, "{}", report.summary);
    }

    let mut group = c.benchmark_group("pure_path");
    group.throughput(Throughput::Elements(1));
    group.bench_function("assumed_role_first_revocation", |b| {
        b.iter(|| black_box(pure_path(black_box(&payload), &config, None)))
    });
    group.bench_function("assumed_role_cutoff_moved_forward", |b| {
        b.iter(|| black_box(pure_path(black_box(&payload), &config, Some(&earlier))))
    });
    group.finish();

    // The same path in stages, to see where the time goes.
    let parsed = parse(&payload);
    let incidents = plan(&parsed, &config, None);
    let mut stages = c.benchmark_group("pure_path_stages");
    stages.throughput(Throughput::Elements(1));
    stages.bench_function("1_parse", |b| {
        b.iter(|| black_box(parse(black_box(&payload))))
    });
    stages.bench_function("2_plan", |b| {
        b.iter(|| black_box(plan(black_box(&parsed), &config, None)))
    });
    stages.bench_function("3_report", |b| {
        b.iter_batched(
            || incidents.clone(),
            |incidents| black_box(report(parsed.shape, incidents)),
            BatchSize::SmallInput,
        )
    });
    stages.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
