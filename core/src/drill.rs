//! The fire drill (issue 23), pure parts: the request, the canary's checks, the incidents a
//! drill hands to the production path, and the `drill` section of the report.
//!
//! A drill proves, in the user's own account, that the function can still contain a session:
//! it assumes a canary role (`DRILL_ROLE_ARN`, tagged `session-revoker:drill` = `true`),
//! contains that session through the same planning and writing as a finding (session scope,
//! then role-wide), measures how long IAM takes to refuse the session after the write, and
//! shows that a session issued after the cutoff still works.

use crate::model::{
    ActionOutcome, ErrorReport, Incident, InputError, Origin, Outcome, Principal, Status, UserType,
};
use crate::names;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The tag a canary role must carry (value [`TAG_VALUE`]) for a drill to touch it: a mistyped
/// `DRILL_ROLE_ARN` can never cut a real role.
pub const TAG_KEY: &str = "session-revoker:drill";
pub const TAG_VALUE: &str = "true";

/// `DRILL_MAX_WAIT_SECONDS`' default: how long a drill waits for IAM to refuse the session.
pub const DEFAULT_MAX_WAIT_SECONDS: u64 = 300;

/// How long a drill's session lasts (STS's shortest): IAM's issue time of its token is its
/// expiration less this.
pub const SESSION_SECONDS: i64 = 900;

/// Why a deny with `cutoff` cannot refuse a drill session expiring at `expiration` (both by
/// IAM's clock): its token was issued at or after the cutoff (IAM compares whole seconds), so
/// the function's clock, which set the cutoff, is behind IAM's. `None`: the deny covers it.
pub fn issued_after_cutoff(cutoff: OffsetDateTime, expiration: OffsetDateTime) -> Option<String> {
    let issued = expiration - time::Duration::seconds(SESSION_SECONDS);
    let issued = issued.replace_nanosecond(0).unwrap_or(issued);
    (issued >= cutoff).then(|| {
        format!(
            "its token was issued at {} by IAM's clock (its expiration less the {SESSION_SECONDS} s asked), not before the cutoff {} the function wrote: the function's clock is behind IAM's by more than CUTOFF_MARGIN_SECONDS, and a deny on older tokens cannot cover it",
            crate::names::format_utc(issued),
            crate::names::format_utc(cutoff)
        )
    })
}

/// `{"action": "drill", "dry_run": false, "reason": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRequest {
    action: String,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `Ok(Some)` for a drill request, `Ok(None)` for any other payload (not `{"action": "drill"}`),
/// and an error naming what was wrong for a drill request with other fields or wrong types.
pub fn parse_request(payload: &Value) -> Result<Option<DrillRequest>, InputError> {
    let is_drill = payload
        .as_object()
        .and_then(|o| o.get("action"))
        .and_then(Value::as_str)
        == Some("drill");
    if !is_drill {
        return Ok(None);
    }
    let mut req = DrillRequest::deserialize(payload).map_err(|e| InputError::Invalid {
        what: "drill request",
        detail: format!("{e} (accepted fields: action, dry_run, reason)"),
    })?;
    req.reason = req.reason.map(|r| crate::text::safe_text(&r, 500));
    Ok(Some(req))
}

/// The role session name of a drill: `drill-<UTC time>` plus a suffix per session
/// (`drill-20261206T013718Z-session`), a valid STS session name.
pub fn session_name(now: OffsetDateTime, suffix: &str) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    format!(
        "drill-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{suffix}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Why the canary's tags do not allow a drill (`None`: they do).
pub fn tag_refusal(role: &str, tags: &[(String, String)]) -> Option<String> {
    match tags.iter().find(|(k, _)| k == TAG_KEY) {
        Some((_, v)) if v == TAG_VALUE => None,
        Some((_, v)) => Some(format!(
            "role {role} has tag {TAG_KEY}={:?}, not {TAG_VALUE:?}: a drill only ever touches a role tagged {TAG_KEY}={TAG_VALUE}",
            crate::text::safe_text(v, 40)
        )),
        None => Some(format!(
            "role {role} lacks the tag {TAG_KEY}={TAG_VALUE}: a drill only ever touches a role so tagged (is DRILL_ROLE_ARN the canary the template created?)"
        )),
    }
}

/// The incident a drill hands to the production path for one of its own sessions: the canary
/// role, the session's `aws:userid` (`<RoleId>:<session>`), and for session scope the session
/// requested by name (as a person's manual request names it).
pub fn incident(
    account: &str,
    role: &str,
    userid: &str,
    session_scope: bool,
    dry_run: bool,
) -> Incident {
    let mut i = Incident::empty(Origin::Manual);
    i.account = Some(account.to_string());
    i.principal = Principal {
        user_type: UserType::AssumedRole,
        name: Some(role.to_string()),
        principal_id: Some(userid.to_string()),
        access_key_id: None,
    };
    i.dry_run = dry_run;
    i.reason = Some("fire drill: containing the canary role's own session".into());
    if session_scope {
        i.requested_session = userid.split_once(':').map(|(_, s)| s.to_string());
    }
    i
}

/// The steps of a drill, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    /// A member account (organization mode): the member role assumed with the external id.
    AssumeMemberRole,
    /// `DRILL_ROLE_ARN` set, in this account, the canary exists and is tagged.
    CheckCanary,
    /// The drill's sessions assumed and shown to work.
    SessionsWork,
    /// The first session contained with a session-scoped deny (production path).
    ContainSession,
    /// IAM refuses the first session.
    SessionRefused,
    /// The second session still works after the session-scoped deny (it cuts only its session).
    OtherSessionWorks,
    /// The role contained role-wide (production path).
    ContainRole,
    /// IAM refuses the second session.
    RoleRefused,
    /// A session assumed after the cutoff works.
    FreshSessionWorks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    Passed,
    Failed,
    /// Not run: an earlier step failed, or a dry run.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillStep {
    pub step: StepName,
    pub result: StepResult,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// For a failed step: the command that shows why (`org::command`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub at_ms: u64,
}

/// One call the drill made with one of its sessions (the polls for the refusal are one entry).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillCall {
    /// `sts:AssumeRole`, `iam:GetRole`, `iam:ListRoleTags`.
    pub call: String,
    /// Whose credentials: `function`, `member role` (organization mode) or the drill session's name.
    pub by: String,
    /// `works`, `refused (<code>)`, or the error code.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    pub at_ms: u64,
}

/// One containment shape: what the production path did, and how long IAM took to refuse.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeResult {
    /// `session` or `role`.
    pub scope: &'static str,
    pub session: String,
    /// The actions as the production path reported them (after its settle pass).
    pub actions: Vec<ActionOutcome>,
    /// When the write's action ended (its read-back included), from the invocation's start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_at_ms: Option<u64>,
    /// From the write's end to the first refused call; polls run every second, so the true
    /// figure is at most one poll interval (plus one round trip) shorter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_ms: Option<u64>,
}

/// The drill in one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillAccount {
    pub account: String,
    pub role_arn: String,
    /// The member role the drill went through (organization mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_role: Option<String>,
    /// Every step passed.
    pub ready: bool,
    pub steps: Vec<DrillStep>,
    pub scopes: Vec<ScopeResult>,
    pub calls: Vec<DrillCall>,
}

impl DrillAccount {
    pub fn new(account: &str, role_arn: &str) -> Self {
        Self {
            account: account.to_string(),
            role_arn: role_arn.to_string(),
            via_role: None,
            ready: false,
            steps: Vec::new(),
            scopes: Vec::new(),
            calls: Vec::new(),
        }
    }

    pub fn step(
        &mut self,
        step: StepName,
        result: StepResult,
        detail: impl Into<String>,
        at_ms: u64,
    ) {
        self.steps.push(DrillStep {
            step,
            result,
            detail: detail.into(),
            error: None,
            command: None,
            at_ms,
        });
    }

    pub fn failed_step(&self) -> Option<&DrillStep> {
        self.steps.iter().find(|s| s.result == StepResult::Failed)
    }

    pub fn propagation_ms(&self) -> Option<u64> {
        self.scopes.iter().filter_map(|s| s.propagation_ms).max()
    }
}

/// The `drill` section of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrillReport {
    pub dry_run: bool,
    pub cutoff_margin_seconds: i64,
    pub max_wait_seconds: u64,
    pub accounts: Vec<DrillAccount>,
    /// The longest propagation measured, over every scope and account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_ms: Option<u64>,
    /// Set when `CUTOFF_MARGIN_SECONDS` is shorter than the propagation measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the drill could not cover (`org::coverage_note`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl DrillReport {
    pub fn new(dry_run: bool, cutoff_margin_seconds: i64, max_wait_seconds: u64) -> Self {
        Self {
            dry_run,
            cutoff_margin_seconds,
            max_wait_seconds,
            accounts: Vec::new(),
            propagation_ms: None,
            warning: None,
            reason: None,
            note: None,
        }
    }

    /// Fills in the derived fields: each account's readiness, the longest propagation and the
    /// margin warning.
    pub fn finish(&mut self) {
        for a in &mut self.accounts {
            a.ready = !a.steps.is_empty()
                && a.failed_step().is_none()
                && a.steps.iter().any(|s| s.result == StepResult::Passed)
                && a.scopes.iter().all(|s| {
                    s.actions
                        .iter()
                        .all(|o| matches!(o.status, Status::Done | Status::WouldDo))
                });
        }
        self.propagation_ms = self
            .accounts
            .iter()
            .filter_map(DrillAccount::propagation_ms)
            .max();
        self.warning = margin_warning(self.cutoff_margin_seconds, self.propagation_ms);
    }

    /// `drill_passed` when every account is ready (a dry run: `would_revoke`), else
    /// `drill_failed`.
    pub fn outcome(&self) -> Outcome {
        let ready = !self.accounts.is_empty() && self.accounts.iter().all(|a| a.ready);
        match (ready, self.dry_run) {
            (false, _) => Outcome::DrillFailed,
            (true, true) => Outcome::WouldRevoke,
            (true, false) => Outcome::DrillPassed,
        }
    }

    /// The report's first line.
    pub fn headline(&self) -> String {
        let outcome = self.outcome();
        if let Some((a, s)) = self
            .accounts
            .iter()
            .find_map(|a| a.failed_step().map(|s| (a, s)))
        {
            return format!(
                "{} at step {}: {} (account {})",
                outcome.headline(),
                serde_json::to_value(s.step)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                s.detail,
                a.account
            ) + &self.accounts_ready();
        }
        if self.accounts.is_empty() {
            return format!("{}: no account was drilled", outcome.headline());
        }
        let roles: Vec<&str> = self.accounts.iter().map(|a| a.role_arn.as_str()).collect();
        match self.propagation_ms {
            Some(ms) => format!(
                "{}: canary {} contained (session scope, then role-wide), its sessions refused within {} of the write; a fresh session works",
                outcome.headline(),
                roles.join(", "),
                duration(ms)
            ),
            None => format!(
                "{}: canary {} checked; nothing was written",
                outcome.headline(),
                roles.join(", ")
            ),
        }
    }
}

impl DrillReport {
    /// `; 1 of 3 accounts ready` when the drill went into more than one account.
    fn accounts_ready(&self) -> String {
        if self.accounts.len() < 2 {
            return String::new();
        }
        let ready = self.accounts.iter().filter(|a| a.ready).count();
        format!("; {ready} of {} accounts ready", self.accounts.len())
    }

    /// The drill for people (the report's text form, e-mail): each account's steps, the
    /// figures, and the margin warning.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for a in &self.accounts {
            out.push_str(&format!(
                "\nAccount {} canary {}: {}\n",
                a.account,
                a.role_arn,
                if a.ready { "ready" } else { "NOT READY" }
            ));
            for s in &a.steps {
                let result = match s.result {
                    StepResult::Passed => "passed",
                    StepResult::Failed => "FAILED",
                    StepResult::Skipped => "skipped",
                };
                let step = serde_json::to_value(s.step)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                out.push_str(&format!("  {step:<20} {result:<8} {}\n", s.detail));
                if let Some(c) = &s.command {
                    out.push_str(&format!("  {:<29} shows why: {c}\n", ""));
                }
            }
            for s in &a.scopes {
                if let Some(ms) = s.propagation_ms {
                    out.push_str(&format!(
                        "  {} scope: refused {} after the write\n",
                        s.scope,
                        duration(ms)
                    ));
                }
            }
        }
        out.push_str(&format!(
            "\nCUTOFF_MARGIN_SECONDS={}; longest propagation measured: {}\n",
            self.cutoff_margin_seconds,
            self.propagation_ms
                .map(duration)
                .unwrap_or_else(|| "none".into())
        ));
        if let Some(w) = &self.warning {
            out.push_str(&format!("WARNING: {w}\n"));
        }
        if let Some(n) = &self.note {
            out.push_str(&format!("NOTE: {n}\n"));
        }
        out
    }
}

/// Milliseconds for people: `5 ms`, `4.5 s`.
fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A warning when the cutoff margin is shorter than the propagation a drill measured: a
/// session issued inside the difference could outlive the deny's arrival.
pub fn margin_warning(margin_seconds: i64, propagation_ms: Option<u64>) -> Option<String> {
    let ms = propagation_ms?;
    let margin_ms = margin_seconds.max(0) as u64 * 1000;
    (ms > margin_ms).then(|| {
        format!(
            "CUTOFF_MARGIN_SECONDS={margin_seconds} is shorter than the {} IAM took to refuse the drill's session: raise it above the longest propagation the drills measure",
            duration(ms)
        )
    })
}

/// A role ARN from `DRILL_ROLE_ARN`: its account and name, or why it is not one.
pub fn canary(arn: Option<&str>) -> Result<(String, String), String> {
    let arn = arn.ok_or_else(|| {
        "DRILL_ROLE_ARN is not set: a drill needs the canary role the template creates (DrillRole); nothing was touched".to_string()
    })?;
    let (account, _path, name) = names::parse_role_arn(arn).ok_or_else(|| {
        format!(
            "DRILL_ROLE_ARN {:?} is not an IAM role ARN",
            crate::text::safe_text(arn, 120)
        )
    })?;
    Ok((account, name))
}

pub mod org;

#[cfg(test)]
mod tests;
