//! The permission set's inline policy: our statements written with serde, read back with the
//! exact-shape rule, merged with what is there, and reconciled after a concurrent writer.

use super::*;

// ---------------------------------------------------------------------------------------------
// The statement, through serde only
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DenyStatement<'a> {
    sid: String,
    effect: &'static str,
    action: [&'static str; 1],
    resource: [&'static str; 1],
    condition: DenyCondition<'a>,
}

#[derive(Serialize)]
pub(super) struct DenyCondition<'a> {
    #[serde(rename = "DateLessThan")]
    date_less_than: TokenIssueTime<'a>,
    #[serde(rename = "StringEquals")]
    string_equals: UserIds<'a>,
}

#[derive(Serialize)]
pub(super) struct TokenIssueTime<'a> {
    #[serde(rename = "aws:TokenIssueTime")]
    before: &'a str,
}

#[derive(Serialize)]
pub(super) struct UserIds<'a> {
    #[serde(rename = "aws:userid")]
    ids: Vec<&'a str>,
}

/// Our statement for these ids and this cutoff. Only exact ids (validated `<RoleId>:<session>`)
/// get here: the caller filters with `policy::is_exact_userid`.
pub(super) fn statement(sid: String, ids: &[&str], cutoff: &str) -> Value {
    serde_json::to_value(DenyStatement {
        sid,
        effect: "Deny",
        action: ["*"],
        resource: ["*"],
        condition: DenyCondition {
            date_less_than: TokenIssueTime { before: cutoff },
            string_equals: UserIds { ids: ids.to_vec() },
        },
    })
    .expect("statement serializes")
}

pub(super) fn is_our_sid(sid: &str) -> bool {
    sid.strip_prefix(STATEMENT_SID).is_some_and(|rest| {
        rest.is_empty() || (rest.len() <= 4 && rest.bytes().all(|b| b.is_ascii_digit()))
    })
}

// ---------------------------------------------------------------------------------------------
// Reading the permission set's inline policy

/// The inline policy as read: our revocations (id → cutoff), every other statement as it was,
/// and what was under our Sid without being ours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InlinePolicy {
    /// Document keys other than `Statement`, as they were (`Version`, `Id`).
    head: Map<String, Value>,
    /// Every statement that is not ours, unchanged and in order.
    others: Vec<Value>,
    pub revocations: SessionRevocations,
    /// One line per statement under our Sid that is not exactly our shape (kept, never removed:
    /// an administrator's deny must never be loosened by this tool).
    pub foreign: Vec<String>,
}

/// The existing document cannot be merged without losing what is in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the permission set's inline policy is not a readable policy document: {0}")]
pub struct UnreadableInlinePolicy(pub String);

/// Reads the permission set's inline policy (empty or absent: none). The document is written by
/// Identity Center administrators and is treated as attacker-influenced all the same: only a
/// statement under our Sid of exactly our shape, with a cutoff at most
/// `MAX_CUTOFF_AHEAD` ahead, is ours.
pub fn read_inline_policy(
    document: Option<&str>,
    now: OffsetDateTime,
) -> Result<InlinePolicy, UnreadableInlinePolicy> {
    let mut out = InlinePolicy::default();
    let Some(text) = document.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(out);
    };
    let Value::Object(mut doc) =
        serde_json::from_str::<Value>(text).map_err(|e| UnreadableInlinePolicy(e.to_string()))?
    else {
        return Err(UnreadableInlinePolicy(
            "the document is not a JSON object".into(),
        ));
    };
    let statements = match doc.remove("Statement") {
        None => Vec::new(),
        Some(Value::Array(list)) => list,
        Some(single @ Value::Object(_)) => vec![single],
        Some(_) => {
            return Err(UnreadableInlinePolicy(
                "Statement is neither a list nor an object".into(),
            ))
        }
    };
    out.head = doc;
    let horizon = now + MAX_CUTOFF_AHEAD;
    for s in statements {
        let sid = s
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|sid| is_our_sid(sid))
            .map(str::to_string);
        let Some(sid) = sid else {
            out.others.push(s);
            continue;
        };
        match exact_statement(&s) {
            Ok((ids, cutoff)) if cutoff <= horizon => {
                for id in ids {
                    let c = out.revocations.sessions.entry(id).or_insert(cutoff);
                    *c = (*c).max(cutoff);
                }
            }
            Ok((_, cutoff)) => {
                out.foreign.push(format!(
                    "statement {sid}: cutoff {} more than {} min ahead (kept)",
                    format_utc(cutoff),
                    MAX_CUTOFF_AHEAD.whole_minutes()
                ));
                out.others.push(s);
            }
            Err(why) => {
                out.foreign.push(format!("statement {sid}: {why} (kept)"));
                out.others.push(s);
            }
        }
    }
    Ok(out)
}

/// The one shape that is ours: `Deny`, `*` on `*`, `DateLessThan aws:TokenIssueTime` (one literal)
/// and `StringEquals aws:userid` (exact ids), nothing else.
pub(super) fn exact_statement(s: &Value) -> Result<(Vec<String>, OffsetDateTime), String> {
    let Value::Object(s) = s else {
        return Err("not an object".into());
    };
    if let Some(key) = s.keys().find(|k| {
        !matches!(
            k.as_str(),
            "Sid" | "Effect" | "Action" | "Resource" | "Condition"
        )
    }) {
        return Err(format!("has {:?}", bounded(key)));
    }
    if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
        return Err("Effect is not Deny".into());
    }
    for key in ["Action", "Resource"] {
        if one_string(s.get(key)) != Some("*") {
            return Err(format!("{key} is not \"*\""));
        }
    }
    let Some(Value::Object(condition)) = s.get("Condition") else {
        return Err("no Condition object".into());
    };
    if condition.len() != 2 {
        return Err("Condition is not exactly DateLessThan and StringEquals".into());
    }
    let single = |operator: &str, key: &str| -> Result<&Value, String> {
        match condition.get(operator) {
            Some(Value::Object(entries)) if entries.len() == 1 => entries
                .get(key)
                .ok_or_else(|| format!("{operator} does not hold exactly {key}")),
            _ => Err(format!("{operator} does not hold exactly {key}")),
        }
    };
    let literal = one_string(Some(single("DateLessThan", "aws:TokenIssueTime")?))
        .ok_or("aws:TokenIssueTime is not one string")?;
    let cutoff = parse_utc(literal)
        .filter(|_| !literal.contains('$'))
        .ok_or("aws:TokenIssueTime is not a literal UTC timestamp")?;
    let ids: Vec<String> = match single("StringEquals", "aws:userid")? {
        Value::String(id) => vec![id.clone()],
        Value::Array(list) if !list.is_empty() => list
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("aws:userid holds a value that is not a string")?,
        _ => return Err("aws:userid is not a string or a list of strings".into()),
    };
    if !ids.iter().all(|id| policy::is_exact_userid(id)) {
        return Err("aws:userid holds a value that is not one exact session id".into());
    }
    Ok((ids, cutoff))
}

pub(super) fn one_string(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Array(a) if a.len() == 1 => a[0].as_str(),
        _ => None,
    }
}

pub(super) fn bounded(k: &str) -> String {
    k.chars().filter(|c| !c.is_control()).take(40).collect()
}

impl InlinePolicy {
    /// The document to put: the head and every other statement as read, then ours, one
    /// statement per cutoff (ids sorted), under Sids no kept statement uses.
    pub fn to_json(&self) -> String {
        let mut doc = self.head.clone();
        doc.entry("Version")
            .or_insert_with(|| Value::String("2012-10-17".into()));
        let used: BTreeSet<&str> = self
            .others
            .iter()
            .filter_map(|s| s.get("Sid").and_then(Value::as_str))
            .collect();
        let mut free = (1..)
            .map(|n: u32| {
                if n == 1 {
                    STATEMENT_SID.to_string()
                } else {
                    format!("{STATEMENT_SID}{n}")
                }
            })
            .filter(|sid| !used.contains(sid.as_str()));
        let mut by_cutoff: BTreeMap<OffsetDateTime, Vec<&str>> = BTreeMap::new();
        for (id, cutoff) in &self.revocations.sessions {
            by_cutoff.entry(*cutoff).or_default().push(id);
        }
        let mut statements = self.others.clone();
        for (cutoff, ids) in by_cutoff {
            let sid = free.next().expect("an endless supply of Sids");
            statements.push(statement(sid, &ids, &format_utc(cutoff)));
        }
        doc.insert("Statement".into(), Value::Array(statements));
        serde_json::to_string(&Value::Object(doc)).expect("policy document serializes")
    }

    /// Whether every wanted id is denied up to at least its wanted cutoff.
    pub fn holds(&self, wanted: &BTreeMap<String, OffsetDateTime>) -> bool {
        wanted.iter().all(|(id, c)| {
            self.revocations
                .sessions
                .get(id)
                .is_some_and(|in_place| in_place >= c)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The merge

/// What to do with the permission set's inline policy.
#[derive(Debug, Clone, PartialEq)]
pub enum InlineMerge {
    Write {
        document: String,
        cutoff: OffsetDateTime,
        /// The latest cutoff already in place for the named sessions.
        previous_cutoff: Option<OffsetDateTime>,
        /// The cutoff each named session must keep (checked on read-back).
        wanted: BTreeMap<String, OffsetDateTime>,
        note: Option<String>,
    },
    /// Every named session is already denied up to its last activity: nothing to write (the
    /// permission set is provisioned again all the same: a run that wrote and then failed to
    /// provision must not leave the account without the deny).
    Covered {
        cutoff: OffsetDateTime,
        wanted: BTreeMap<String, OffsetDateTime>,
        reason: String,
    },
    /// The merged document would exceed `INLINE_POLICY_LIMIT`: nothing written.
    TooLarge {
        size: usize,
        note: String,
    },
    Unreadable(UnreadableInlinePolicy),
}

/// Merges the named sessions into the permission set's inline policy with session scope's
/// rules: each id's cutoff only moves forward; statements whose cutoff is older than the
/// longest role session (12 h) are dropped (they can match no live token); an id whose cutoff
/// is later than the finding's last activity is already covered.
pub fn merge_inline_policy(
    existing: Option<&str>,
    sessions: &[String],
    cutoff: OffsetDateTime,
    covered_until: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> InlineMerge {
    let mut read = match read_inline_policy(existing, now) {
        Ok(r) => r,
        Err(e) => return InlineMerge::Unreadable(e),
    };
    let sessions: Vec<String> = sessions
        .iter()
        .filter(|s| policy::is_exact_userid(s))
        .cloned()
        .collect();
    let previous = sessions
        .iter()
        .filter_map(|s| read.revocations.sessions.get(s))
        .max()
        .copied();
    let summary = read.revocations.merge(
        &sessions,
        cutoff,
        covered_until,
        now,
        policy::MAX_ROLE_SESSION,
    );
    let wanted: BTreeMap<String, OffsetDateTime> = sessions
        .iter()
        .filter_map(|s| read.revocations.sessions.get(s).map(|c| (s.clone(), *c)))
        .collect();
    let mut notes = Vec::new();
    if !read.foreign.is_empty() {
        notes.push(format!(
            "the inline policy held statements under our Sid that are not this tool's shape, left as they were: {}",
            read.foreign.join("; ")
        ));
    }
    if summary.added.is_empty() && summary.moved_forward.is_empty() {
        let mut reason = format!(
            "every named session ({}) is already denied in permission set's inline policy up to its last activity",
            sessions.len()
        );
        for n in &notes {
            reason.push_str("; ");
            reason.push_str(n);
        }
        return InlineMerge::Covered {
            cutoff: previous.unwrap_or(cutoff),
            wanted,
            reason,
        };
    }
    if !summary.pruned.is_empty() {
        notes.push(format!(
            "pruned {} expired session id(s)",
            summary.pruned.len()
        ));
    }
    let document = read.to_json();
    let size = document.chars().count();
    let provisioned = policy::policy_size(&document);
    if size > INLINE_POLICY_LIMIT || provisioned > PROVISIONED_POLICY_LIMIT {
        return InlineMerge::TooLarge {
            size: provisioned,
            note: format!(
                "the permission set's inline policy with this deny would be {provisioned} characters without whitespace ({size} in all), over the {PROVISIONED_POLICY_LIMIT} a role's inline policies may hold once provisioned to an account (Identity Center's own limit is {INLINE_POLICY_LIMIT}): nothing was written"
            ),
        };
    }
    InlineMerge::Write {
        document,
        cutoff,
        previous_cutoff: previous,
        wanted,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// After a concurrent writer: the document in place with the wanted cutoffs merged in again
/// (never moved back), or `None` when it already holds them.
pub fn reconcile_inline_policy(
    current: Option<&str>,
    wanted: &BTreeMap<String, OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<Option<String>, UnreadableInlinePolicy> {
    let mut read = read_inline_policy(current, now)?;
    if read.holds(wanted) {
        return Ok(None);
    }
    for (id, c) in wanted {
        let in_place = read.revocations.sessions.entry(id.clone()).or_insert(*c);
        *in_place = (*in_place).max(*c);
    }
    Ok(Some(read.to_json()))
}
