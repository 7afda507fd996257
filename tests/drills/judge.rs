//! The second judge, `@cloud-copilot/iam-simulate` behind `tools/iam-judge/judge.mjs`
//! (docs/emulators.md), for the one drill case fakecloud cannot express: a GetFederationToken
//! session (fakecloud collects no identity policies for federated users, so their calls are
//! refused even under allow-all, before and after any deny).

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn judge_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/iam-judge")
}

/// One verdict per request, in order (the judge's line protocol).
pub fn judge(requests: &[Value]) -> Vec<Value> {
    let dir = judge_dir();
    assert!(
        dir.join("node_modules/@cloud-copilot/iam-simulate")
            .is_dir(),
        "the policy judge is not installed: run `make judge` (npm ci in tools/iam-judge); \
         `make test` does"
    );
    let mut child = Command::new("node")
        .arg(dir.join("judge.mjs"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node for tools/iam-judge/judge.mjs: {e}"));
    {
        let mut stdin = child.stdin.take().expect("judge stdin");
        for r in requests {
            writeln!(stdin, "{r}").expect("write to the judge");
        }
    }
    let out = child.wait_with_output().expect("judge output");
    assert!(
        out.status.success(),
        "the judge failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("the judge answers JSON lines"))
        .collect();
    assert_eq!(
        verdicts.len(),
        requests.len(),
        "one verdict per request: {verdicts:?}"
    );
    for v in &verdicts {
        assert!(
            v["result"] != "Error"
                && v["ignoredContextKeys"]
                    .as_array()
                    .is_none_or(|a| a.is_empty()),
            "the judge could not evaluate a request as meant: {v}"
        );
    }
    verdicts
}
