//! The report of a merged write (issue 26): the findings whose session denies joined their
//! role's merged write were reported `queued` by the invocation that read them; this says,
//! on the same topic, when their sessions are denied. A merged write that fails is not
//! reported here: its messages go back to the queue and, after `maxReceiveCount`, to the
//! re-check dead-letter queue, whose alarm fires.

use super::Recheck;
use crate::model::publication::SNS_LIMIT;
use crate::model::{Outcome, Publication};
use crate::names::format_utc;

/// The SNS message for the merged writes of one batch that are in place (read back) now: one
/// message per batch, not one per role, so a burst does not double the topic's traffic.
pub fn merged_write_publication(written: &[(&Recheck, u32)], topic_arn: &str) -> Publication {
    let outcome = Outcome::Revoked;
    let sessions: usize = written.iter().map(|(c, _)| c.sessions.len()).sum();
    let roles = written.len();
    let summary = match written {
        [(only, _)] if only.sessions.is_empty() => format!(
            "{}: every session of role {} in {} issued before {} denied by a merged write",
            outcome.headline(),
            only.role,
            only.account,
            format_utc(only.cutoff)
        ),
        [(only, _)] => format!(
            "{}: {} session(s) of role {} in {} denied by one merged write",
            outcome.headline(),
            only.sessions.len(),
            only.role,
            only.account
        ),
        _ => format!(
            "{}: {sessions} session(s) of {roles} roles denied by merged writes",
            outcome.headline()
        ),
    };
    let writes: Vec<serde_json::Value> = written
        .iter()
        .map(|(check, writes)| {
            serde_json::json!({
                "account": check.account,
                "role": check.role,
                "policy_name": check.policy.policy_name(),
                "cutoff": format_utc(check.cutoff),
                "sessions": check.sessions.iter().map(|(userid, cutoff)| serde_json::json!({"userid": userid, "cutoff": format_utc(*cutoff)})).collect::<Vec<_>>(),
                "findings": check.findings,
                "writes": writes,
            })
        })
        .collect();
    let json = serde_json::json!({
        "kind": "merged_write",
        "outcome": outcome,
        "summary": summary,
        "merged_writes": writes,
    })
    .to_string();
    let mut text = format!("{summary}\n");
    for (check, _) in written {
        text.push_str(&format!(
            "\nPolicy {} on role {} in account {} now denies each session's tokens issued before its cutoff:\n",
            check.policy.policy_name(),
            check.role,
            check.account
        ));
        for (userid, cutoff) in &check.sessions {
            text.push_str(&format!("  - {userid} (before {})\n", format_utc(*cutoff)));
        }
        if check.sessions.is_empty() {
            text.push_str(&format!(
                "  - every session of the role (before {})\n",
                format_utc(check.cutoff)
            ));
        }
        if !check.findings.is_empty() {
            text.push_str(&format!(
                "These findings were reported QUEUED and are now contained: {}\n",
                check.findings.join(", ")
            ));
        }
    }
    text.push_str(
        "\nEach deny is looked at again later (the re-check queue), as after every write.\n",
    );
    let mut message = Publication::body(&text, &json);
    if message.len() > SNS_LIMIT {
        // Every role and the findings it contains still named (what the `queued` reports
        // wait for); the sessions are in the policies and the function's log.
        let roles: Vec<serde_json::Value> = written
            .iter()
            .map(|(c, _)| serde_json::json!({"account": c.account, "role": c.role, "findings": c.findings}))
            .collect();
        let short = serde_json::json!({"kind": "merged_write", "outcome": outcome, "summary": summary, "truncated": true, "merged_writes": roles})
            .to_string();
        let short_text = format!(
            "{summary}\n(too large for SNS: the sessions are in each role's policy named below)\n\n{}\n",
            written
                .iter()
                .map(|(c, _)| {
                    format!(
                        "{} in {} ({}): {}",
                        c.role,
                        c.account,
                        c.policy.policy_name(),
                        c.findings.join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        );
        message = Publication::body(&short_text, &short);
    }
    Publication {
        topic_arn: topic_arn.to_string(),
        subject: Publication::subject_line(&summary),
        message,
        attributes: vec![
            ("outcome".to_string(), outcome.as_str().to_string()),
            ("kind".to_string(), "merged_write".to_string()),
            ("dry_run".to_string(), "false".to_string()),
        ],
    }
}
