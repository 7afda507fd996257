//! The deny policies this tool writes, built through serde only.
//!
//! Strings from a finding (role session ids) reach a policy only as serde_json string values
//! under exact-match operators (`StringEquals`): never by formatting, never under `Like`.

use crate::names::{format_utc, parse_utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

pub mod attribution;

/// Inline policy name the IAM console's "Revoke active sessions" writes; sharing it makes the
/// console and this tool see each other's cutoff.
pub const ROLE_POLICY_NAME: &str = "AWSRevokeOlderSessions";
/// This tool's own inline policy for session-scoped revocations (not the console's name,
/// so the console's "Revoke active sessions" never overwrites the per-session statements).
pub const SESSION_POLICY_NAME: &str = "SessionRevokerDenyStolenSessions";
/// Inline policies of a role share this many characters, whitespace not counted.
pub const INLINE_POLICY_BUDGET: usize = 10_240;
/// Inline policies of a user share this many characters (not a role's 10,240).
pub const USER_INLINE_POLICY_BUDGET: usize = 2_048;
/// Longest life of a role session: a statement whose cutoff is older can match no live token.
pub const MAX_ROLE_SESSION: Duration = Duration::hours(12);
/// Longest life of an IAM user's `GetSessionToken` session.
pub const MAX_USER_SESSION: Duration = Duration::hours(36);

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Document<'a> {
    version: &'static str,
    statement: Vec<Statement<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    effect: &'static str,
    action: [&'static str; 1],
    resource: [&'static str; 1],
    condition: BTreeMap<&'static str, BTreeMap<&'static str, &'a str>>,
}

fn deny_all<'a>(
    sid: Option<String>,
    condition: BTreeMap<&'static str, BTreeMap<&'static str, &'a str>>,
) -> Statement<'a> {
    Statement {
        sid,
        effect: "Deny",
        action: ["*"],
        resource: ["*"],
        condition,
    }
}

/// Role-wide revocation, the console's shape: deny everything to tokens issued before `cutoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationPolicy {
    pub cutoff: OffsetDateTime,
}

impl RevocationPolicy {
    pub fn to_json(&self) -> String {
        let cutoff = format_utc(self.cutoff);
        let condition = BTreeMap::from([(
            "DateLessThan",
            BTreeMap::from([("aws:TokenIssueTime", cutoff.as_str())]),
        )]);
        let doc = Document {
            version: "2012-10-17",
            statement: vec![deny_all(None, condition)],
        };
        serde_json::to_string(&doc).expect("policy document serializes")
    }

    /// The same statement with a `Sid` naming the incidents it serves (see [`attribution`]);
    /// with none, exactly [`Self::to_json`].
    pub fn to_json_served(&self, served: &[attribution::Served]) -> String {
        let cutoff = format_utc(self.cutoff);
        let condition = BTreeMap::from([(
            "DateLessThan",
            BTreeMap::from([("aws:TokenIssueTime", cutoff.as_str())]),
        )]);
        let sid = attribution::encode_sid(attribution::ROLE_WIDE_SID, served);
        let doc = Document {
            version: "2012-10-17",
            statement: vec![deny_all(sid, condition)],
        };
        serde_json::to_string(&doc).expect("policy document serializes")
    }

    /// The latest role-wide cutoff in an existing document, counting only statements of
    /// exactly the console's shape (see [`read_revocations`]).
    pub fn latest_cutoff(document: &str) -> Result<Option<OffsetDateTime>, PolicyParseError> {
        Ok(read_revocations(document)?.role_wide_cutoff())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("existing policy document is not a readable revocation policy: {0}")]
pub struct PolicyParseError(pub String);

/// A revocation statement as read back from IAM, of exactly the shape this tool or the
/// console writes.
#[derive(Debug, Clone, PartialEq)]
pub struct DenyStatement {
    pub cutoff: OffsetDateTime,
    /// Session scope: the one `aws:userid` the statement is limited to.
    pub userid: Option<String>,
    /// The statement's `Sid` as written (no condition: it only names whom the statement
    /// serves, see [`attribution`]).
    pub sid: Option<String>,
}

/// What an existing policy under one of our names holds: the revocations we can trust, and
/// why anything else in it is not one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revocations {
    pub statements: Vec<DenyStatement>,
    /// One line per statement (or document part) that is not a revocation of our shape.
    pub foreign: Vec<String>,
}

impl Revocations {
    pub fn role_wide_cutoff(&self) -> Option<OffsetDateTime> {
        self.statements
            .iter()
            .filter(|s| s.userid.is_none())
            .map(|s| s.cutoff)
            .max()
    }

    /// Whether the document holds anything but revocations of our shape.
    pub fn is_exact(&self) -> bool {
        self.foreign.is_empty()
    }
}

/// Reads a policy document that sits under one of our names. The role whose session was stolen
/// may itself be allowed `iam:PutRolePolicy`, so the document is attacker-influenced: only a
/// statement of exactly the shape this tool or the console writes counts as a revocation —
/// `Effect: Deny`, `Action: "*"`, `Resource: "*"`, a `Condition` holding one literal
/// `DateLessThan` `aws:TokenIssueTime` and, for session scope, one exact `StringEquals`
/// `aws:userid` of a valid `<RoleId>:<session>` or user id, and no other key. Everything else is
/// listed in `foreign` (the caller replaces the document and says so).
pub fn read_revocations(document: &str) -> Result<Revocations, PolicyParseError> {
    let doc: Value = serde_json::from_str(document).map_err(|e| PolicyParseError(e.to_string()))?;
    let Value::Object(doc) = doc else {
        return Err(PolicyParseError("the document is not a JSON object".into()));
    };
    let mut out = Revocations::default();
    for key in doc.keys() {
        if key != "Version" && key != "Statement" && key != "Id" {
            out.foreign
                .push(format!("document key {:?}", bounded_key(key)));
        }
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => return Err(PolicyParseError("no Statement".into())),
    };
    for (i, s) in statements.iter().enumerate() {
        match exact_statement(s) {
            Ok(statement) => out.statements.push(statement),
            Err(why) => out.foreign.push(format!("statement {}: {why}", i + 1)),
        }
    }
    Ok(out)
}

fn bounded_key(k: &str) -> String {
    k.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// The one statement shape that is a revocation, or why this statement is not one.
pub fn exact_statement(s: &Value) -> Result<DenyStatement, String> {
    let Value::Object(s) = s else {
        return Err("not an object".into());
    };
    for key in s.keys() {
        if !matches!(
            key.as_str(),
            "Sid" | "Effect" | "Action" | "Resource" | "Condition"
        ) {
            return Err(format!("has {:?}", bounded_key(key)));
        }
    }
    if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
        return Err("Effect is not Deny".into());
    }
    if first_string(s.get("Action").unwrap_or(&Value::Null)) != Some("*") {
        return Err("Action is not \"*\"".into());
    }
    if first_string(s.get("Resource").unwrap_or(&Value::Null)) != Some("*") {
        return Err("Resource is not \"*\"".into());
    }
    let Some(Value::Object(cond)) = s.get("Condition") else {
        return Err("no Condition object".into());
    };
    let mut cutoff = None;
    let mut userid = None;
    for (operator, entries) in cond {
        let Value::Object(entries) = entries else {
            return Err(format!(
                "condition {:?} is not an object",
                bounded_key(operator)
            ));
        };
        let single = |key: &str| -> Result<&str, String> {
            if entries.len() != 1 || !entries.contains_key(key) {
                return Err(format!("{} must hold exactly {key}", bounded_key(operator)));
            }
            first_string(&entries[key]).ok_or_else(|| format!("{key} is not one string"))
        };
        match operator.as_str() {
            "DateLessThan" => {
                let literal = single("aws:TokenIssueTime")?;
                let parsed = parse_utc(literal)
                    .filter(|_| !literal.contains('$'))
                    .ok_or("aws:TokenIssueTime is not a literal UTC timestamp")?;
                cutoff = Some(parsed);
            }
            "StringEquals" => {
                let id = single("aws:userid")?;
                if !is_exact_userid(id) {
                    return Err("aws:userid is not one exact session or user id".into());
                }
                userid = Some(id.to_string());
            }
            other => return Err(format!("condition operator {:?}", bounded_key(other))),
        }
    }
    let cutoff = cutoff.ok_or("no DateLessThan aws:TokenIssueTime")?;
    let sid = s.get("Sid").and_then(Value::as_str).map(str::to_string);
    Ok(DenyStatement {
        cutoff,
        userid,
        sid,
    })
}

/// `<RoleId>:<valid session name>` or a user id: no policy variable, no wildcard.
pub fn is_exact_userid(id: &str) -> bool {
    match id.split_once(':') {
        Some((role_id, session)) => {
            crate::names::is_unique_id(role_id, "AROA")
                && crate::names::is_valid_session_name(session)
        }
        None => crate::names::is_unique_id(id, "AIDA"),
    }
}

fn first_string(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
}

/// Session-scoped revocations: one statement per stolen session, each with its own cutoff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionRevocations {
    /// `aws:userid` (`<RoleId>:<session>` or a user's `<UserId>`) → cutoff.
    pub sessions: BTreeMap<String, OffsetDateTime>,
}

/// What a merge changed, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeSummary {
    pub added: Vec<String>,
    pub moved_forward: Vec<String>,
    pub already_covered: Vec<String>,
    pub pruned: Vec<String>,
}

impl SessionRevocations {
    /// The per-session revocations of exactly our shape in a document (a role-wide statement
    /// under the session policy's name is not ours and is dropped on the next write).
    pub fn from_document(document: &str) -> Result<Self, PolicyParseError> {
        Ok(Self::from_revocations(&read_revocations(document)?))
    }

    pub fn from_revocations(read: &Revocations) -> Self {
        let mut sessions = BTreeMap::new();
        for s in &read.statements {
            if let Some(userid) = &s.userid {
                let entry = sessions.entry(userid.clone()).or_insert(s.cutoff);
                *entry = (*entry).max(s.cutoff);
            }
        }
        Self { sessions }
    }

    /// Adds or moves forward each session's cutoff, never back, and drops statements whose
    /// cutoff is older than `now - max_session` (they can no longer match a live token).
    /// A session is "already covered" when its cutoff is later than `covered_until`
    /// (the finding's last activity).
    pub fn merge(
        &mut self,
        userids: &[String],
        cutoff: OffsetDateTime,
        covered_until: Option<OffsetDateTime>,
        now: OffsetDateTime,
        max_session: Duration,
    ) -> MergeSummary {
        let mut summary = MergeSummary::default();
        let horizon = now - max_session;
        self.sessions.retain(|userid, c| {
            let keep = *c >= horizon;
            if !keep {
                summary.pruned.push(userid.clone());
            }
            keep
        });
        for userid in userids {
            match self.sessions.get_mut(userid) {
                Some(existing)
                    if covered_until.is_some_and(|seen| *existing > seen)
                        || *existing >= cutoff =>
                {
                    summary.already_covered.push(userid.clone());
                }
                Some(existing) => {
                    *existing = cutoff;
                    summary.moved_forward.push(userid.clone());
                }
                None => {
                    self.sessions.insert(userid.clone(), cutoff);
                    summary.added.push(userid.clone());
                }
            }
        }
        summary
    }

    pub fn to_json(&self) -> String {
        self.to_json_served(&BTreeMap::new())
    }

    /// The document, each statement's `Sid` also naming the incidents it serves (`served`, by
    /// `aws:userid`; see [`attribution`]).
    pub fn to_json_served(&self, served: &BTreeMap<String, Vec<attribution::Served>>) -> String {
        let cutoffs: Vec<(String, &str)> = self
            .sessions
            .iter()
            .map(|(u, c)| (format_utc(*c), u.as_str()))
            .collect();
        let statement = cutoffs
            .iter()
            .enumerate()
            .map(|(i, (cutoff, userid))| {
                let condition = BTreeMap::from([
                    (
                        "DateLessThan",
                        BTreeMap::from([("aws:TokenIssueTime", cutoff.as_str())]),
                    ),
                    ("StringEquals", BTreeMap::from([("aws:userid", *userid)])),
                ]);
                let prefix = format!("{}{}", attribution::SESSION_SID, i + 1);
                let sid = served
                    .get(*userid)
                    .and_then(|entries| attribution::encode_sid(&prefix, entries))
                    .unwrap_or(prefix);
                deny_all(Some(sid), condition)
            })
            .collect();
        serde_json::to_string(&Document {
            version: "2012-10-17",
            statement,
        })
        .expect("policy document serializes")
    }
}

/// Characters IAM counts against the inline-policy budget (whitespace is not counted).
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
pub(crate) mod evaluator;

#[cfg(test)]
mod tests;
