//! The deny policies this tool writes, built through serde only.
//!
//! Strings from a finding (role session ids) reach a policy only as serde_json string values
//! under exact-match operators (`StringEquals`): never by formatting, never under `Like`.

use crate::names::{format_utc, parse_utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// Inline policy name the IAM console's "Revoke active sessions" writes; sharing it makes the
/// console and this tool see each other's cutoff.
pub const ROLE_POLICY_NAME: &str = "AWSRevokeOlderSessions";
/// This tool's own inline policy for session-scoped revocations (not the console's name,
/// so the console's "Revoke active sessions" never overwrites the per-session statements).
pub const SESSION_POLICY_NAME: &str = "SessionRevokerDenyStolenSessions";
/// Inline policies of a role (or user) share this many characters, whitespace not counted.
pub const INLINE_POLICY_BUDGET: usize = 10_240;
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

    /// The latest role-wide cutoff in an existing document (statements that also name a
    /// session are not role-wide and are ignored).
    pub fn latest_cutoff(document: &str) -> Result<Option<OffsetDateTime>, PolicyParseError> {
        Ok(deny_statements(document)?
            .into_iter()
            .filter(|s| s.userid.is_none())
            .map(|s| s.cutoff)
            .max())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("existing policy document is not a readable revocation policy: {0}")]
pub struct PolicyParseError(pub String);

/// A deny statement as read back from IAM.
#[derive(Debug, Clone, PartialEq)]
struct DenyStatement {
    cutoff: OffsetDateTime,
    userid: Option<String>,
}

fn deny_statements(document: &str) -> Result<Vec<DenyStatement>, PolicyParseError> {
    let doc: Value = serde_json::from_str(document).map_err(|e| PolicyParseError(e.to_string()))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => return Err(PolicyParseError("no Statement".into())),
    };
    let mut out = Vec::new();
    for s in statements {
        if s.get("Effect").and_then(Value::as_str) != Some("Deny") {
            continue;
        }
        let Some(cond) = s.get("Condition") else {
            continue;
        };
        let Some(cutoff) = cond
            .get("DateLessThan")
            .and_then(|c| c.get("aws:TokenIssueTime"))
            .and_then(first_string)
            .and_then(parse_utc)
        else {
            continue;
        };
        let userid = cond
            .get("StringEquals")
            .and_then(|c| c.get("aws:userid"))
            .and_then(first_string)
            .map(str::to_string);
        out.push(DenyStatement { cutoff, userid });
    }
    Ok(out)
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
    pub fn from_document(document: &str) -> Result<Self, PolicyParseError> {
        let mut sessions = BTreeMap::new();
        for s in deny_statements(document)? {
            if let Some(userid) = s.userid {
                let entry = sessions.entry(userid).or_insert(s.cutoff);
                *entry = (*entry).max(s.cutoff);
            }
        }
        Ok(Self { sessions })
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
                deny_all(Some(format!("StolenSession{}", i + 1)), condition)
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
pub(crate) mod evaluator {
    //! A test-only evaluator of the deny policies this tool writes: just the condition
    //! operators it uses, with IAM's semantics (all conditions of a statement must match;
    //! a condition key absent from the request never matches). Anything else panics, so a
    //! policy outside this subset fails the test rather than being misjudged.
    use super::*;

    pub struct Request<'a> {
        pub token_issue_time: Option<OffsetDateTime>,
        pub userid: &'a str,
    }

    /// `true` when an explicit deny in the document applies to the request.
    pub fn denies(document: &str, req: &Request) -> bool {
        let doc: Value = serde_json::from_str(document).unwrap();
        doc["Statement"].as_array().unwrap().iter().any(|s| {
            assert_eq!(s["Effect"], "Deny");
            assert_eq!(s["Action"], serde_json::json!(["*"]));
            assert_eq!(s["Resource"], serde_json::json!(["*"]));
            s["Condition"]
                .as_object()
                .unwrap()
                .iter()
                .all(|(op, keys)| {
                    keys.as_object().unwrap().iter().all(|(key, value)| {
                        let value = value.as_str().unwrap();
                        match (op.as_str(), key.as_str()) {
                            ("DateLessThan", "aws:TokenIssueTime") => req
                                .token_issue_time
                                .is_some_and(|t| t < parse_utc(value).unwrap()),
                            ("StringEquals", "aws:userid") => req.userid == value,
                            other => panic!("evaluator does not model {other:?}"),
                        }
                    })
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::evaluator::{denies, Request};
    use super::*;
    use time::macros::datetime;

    const CUTOFF: OffsetDateTime = datetime!(2026-11-22 03:00:30 UTC);

    #[test]
    fn role_policy_is_the_console_shape() {
        let json = RevocationPolicy { cutoff: CUTOFF }.to_json();
        assert_eq!(
            json,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-22T03:00:30Z"}}}]}"#
        );
        assert_eq!(
            RevocationPolicy::latest_cutoff(&json).unwrap(),
            Some(CUTOFF)
        );
    }

    #[test]
    fn role_policy_denies_tokens_issued_before_the_cutoff_only() {
        let json = RevocationPolicy { cutoff: CUTOFF }.to_json();
        let at = |t| Request {
            token_issue_time: Some(t),
            userid: "AROAEXAMPLEROLEID0001:any",
        };
        assert!(denies(&json, &at(CUTOFF - Duration::hours(1))));
        assert!(denies(&json, &at(CUTOFF - Duration::seconds(1))));
        assert!(!denies(&json, &at(CUTOFF)));
        assert!(!denies(&json, &at(CUTOFF + Duration::seconds(1))));
        // Long-term keys carry no aws:TokenIssueTime: the condition cannot match them.
        assert!(!denies(
            &json,
            &Request {
                token_issue_time: None,
                userid: "AIDAEXAMPLE"
            }
        ));
    }

    #[test]
    fn reads_console_written_documents() {
        // The console writes arrays and millisecond timestamps on some versions.
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",
            "Condition":{"DateLessThan":{"aws:TokenIssueTime":["2026-11-22T01:00:00.000Z"]}}}}"#;
        assert_eq!(
            RevocationPolicy::latest_cutoff(doc).unwrap(),
            Some(datetime!(2026-11-22 01:00:00 UTC))
        );
        assert!(RevocationPolicy::latest_cutoff("not json").is_err());
    }

    fn keith_bob_mary() -> (String, String, String) {
        (
            "AROAEXAMPLEROLEID0001:keith".into(),
            "AROAEXAMPLEROLEID0001:bob".into(),
            "AROAEXAMPLEROLEID0001:mary".into(),
        )
    }

    #[test]
    fn session_policy_denies_only_keiths_old_session() {
        let (keith, bob, mary) = keith_bob_mary();
        let mut s = SessionRevocations::default();
        s.merge(
            std::slice::from_ref(&keith),
            CUTOFF,
            None,
            CUTOFF,
            MAX_ROLE_SESSION,
        );
        let json = s.to_json();
        let before = CUTOFF - Duration::minutes(10);
        assert!(denies(
            &json,
            &Request {
                token_issue_time: Some(before),
                userid: &keith
            }
        ));
        assert!(!denies(
            &json,
            &Request {
                token_issue_time: Some(CUTOFF + Duration::seconds(5)),
                userid: &keith
            }
        ));
        assert!(!denies(
            &json,
            &Request {
                token_issue_time: Some(before),
                userid: &bob
            }
        ));
        assert!(!denies(
            &json,
            &Request {
                token_issue_time: Some(before),
                userid: &mary
            }
        ));
    }

    #[test]
    fn hostile_session_names_stay_exact_match_values() {
        for name in [
            "a*",
            "b?c",
            "${aws:userid}",
            "q\"uote",
            "back\\slash",
            "ünï",
            "line\nbreak",
        ] {
            let userid = format!("AROAEXAMPLEROLEID0001:{name}");
            let mut s = SessionRevocations::default();
            s.merge(
                std::slice::from_ref(&userid),
                CUTOFF,
                None,
                CUTOFF,
                MAX_ROLE_SESSION,
            );
            let json = s.to_json();
            let doc: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(
                doc["Statement"][0]["Condition"]["StringEquals"]["aws:userid"],
                userid.as_str()
            );
            assert!(!json.contains("Like"));
            let other = "AROAEXAMPLEROLEID0001:aXYZ";
            assert!(!denies(
                &json,
                &Request {
                    token_issue_time: Some(CUTOFF - Duration::hours(1)),
                    userid: other
                }
            ));
            assert_eq!(SessionRevocations::from_document(&json).unwrap(), s);
        }
    }

    #[test]
    fn merge_moves_cutoffs_forward_only_and_prunes_expired() {
        let (keith, bob, _) = keith_bob_mary();
        let old = CUTOFF - Duration::hours(13);
        let mut s = SessionRevocations {
            sessions: BTreeMap::from([(bob.clone(), old), (keith.clone(), CUTOFF)]),
        };
        // An earlier cutoff for Keith never replaces the later one.
        let summary = s.merge(
            std::slice::from_ref(&keith),
            CUTOFF - Duration::minutes(5),
            None,
            CUTOFF,
            MAX_ROLE_SESSION,
        );
        assert_eq!(summary.already_covered, vec![keith.clone()]);
        assert_eq!(summary.pruned, vec![bob.clone()]);
        assert_eq!(s.sessions.get(&keith), Some(&CUTOFF));
        assert!(!s.sessions.contains_key(&bob));
        // A later cutoff moves it forward when the finding saw activity after the old one.
        let later = CUTOFF + Duration::minutes(30);
        let summary = s.merge(
            std::slice::from_ref(&keith),
            later,
            Some(CUTOFF + Duration::minutes(20)),
            later,
            MAX_ROLE_SESSION,
        );
        assert_eq!(summary.moved_forward, vec![keith.clone()]);
        assert_eq!(s.sessions.get(&keith), Some(&later));
        // A repeated delivery whose activity the cutoff already covers writes nothing new.
        let summary = s.merge(
            std::slice::from_ref(&keith),
            later + Duration::minutes(15),
            Some(later - Duration::minutes(1)),
            later,
            MAX_ROLE_SESSION,
        );
        assert_eq!(summary.already_covered, vec![keith]);
    }

    #[test]
    fn size_counts_non_whitespace_characters() {
        assert_eq!(policy_size("{ \"a\" :\n 1 }"), 7);
        let mut s = SessionRevocations::default();
        let ids: Vec<String> = (0..200)
            .map(|i| format!("AROAEXAMPLEROLEID0001:i-{i:017x}"))
            .collect();
        s.merge(&ids, CUTOFF, None, CUTOFF, MAX_ROLE_SESSION);
        assert!(policy_size(&s.to_json()) > INLINE_POLICY_BUDGET);
    }
}
