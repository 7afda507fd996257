//! A fast shape check, not the authority: the policy judge (`tests/policy_judge.rs`,
//! iam-simulate) and the fakecloud drills decide what IAM does with a document.
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
                    // IAM substitutes policy variables inside condition values; this shape check
                    // does not, so it refuses to judge them (the iam-simulate judge does).
                    assert!(
                        !value.contains("${"),
                        "evaluator does not model policy variables: {value}"
                    );
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
