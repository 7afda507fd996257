//! Only genuine findings (`VERIFY_FINDINGS`): a finding handed to the responder is compared with
//! GuardDuty's own copy of it, read by the finding's ARN, and only GuardDuty's copy is acted on.
//!
//! Anyone allowed to invoke the function can hand it a made-up finding; the finding's ARN and
//! every field in it are attacker-influenced. What GuardDuty returns for that ARN is not. Pure:
//! the Lambda side reads the copy (`GetFindings`) and hands it here as JSON, which is read by the
//! same parser as any payload.
//!
//! The verdict:
//! - `Genuine`: GuardDuty knows the finding and every identity field the given finding names
//!   (type, account, region, the principal's type, name, id and access key) is GuardDuty's. The
//!   copy is what the responder acts on: a field the given finding left out or changed outside
//!   the identity (severity, instance, timestamps, `archived`) is GuardDuty's, not the caller's.
//! - `Unknown`: GuardDuty has no finding with this id: possibly forged.
//! - `Differs`: GuardDuty's copy names another principal, account or type: possibly forged.
//! - `NotVerifiable`: there is nothing to look up (no valid ARN), or GuardDuty's answer cannot
//!   be read. Never a reason to act.

use crate::input::parse_guardduty_findings;
use crate::model::{FindingArn, Incident, Origin};
use crate::text::safe_text;
use serde_json::Value;
use std::fmt;

/// Should this incident be verified at all? Findings only (a manual request names its target
/// itself and is reported as such), and only readable ones: an item that is not a finding or
/// whose identity is unreadable is skipped or failed without any write anyway.
pub fn is_verifiable_kind(incident: &Incident) -> bool {
    incident.origin == Origin::Finding
        && incident.not_a_finding.is_none()
        && incident.unreadable.is_none()
}

/// Where GuardDuty's copy is read: the finding's ARN, or why there is none.
pub fn finding_arn(incident: &Incident) -> Result<FindingArn, NotVerifiable> {
    let arn = incident
        .finding_arn
        .as_deref()
        .ok_or(NotVerifiable::NoArn)?;
    FindingArn::parse(arn).map_err(|e| NotVerifiable::BadArn(e.to_string()))
}

/// An identity field that GuardDuty's copy has differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    FindingId,
    Type,
    Account,
    Region,
    UserType,
    UserName,
    PrincipalId,
    AccessKeyId,
}

impl Field {
    /// The field's path in a GuardDuty finding (camelCase).
    pub fn path(&self) -> &'static str {
        match self {
            Field::FindingId => "id",
            Field::Type => "type",
            Field::Account => "accountId",
            Field::Region => "region",
            Field::UserType => "resource.accessKeyDetails.userType",
            Field::UserName => "resource.accessKeyDetails.userName",
            Field::PrincipalId => "resource.accessKeyDetails.principalId",
            Field::AccessKeyId => "resource.accessKeyDetails.accessKeyId",
        }
    }
}

/// One difference: the field, what the given finding said and what GuardDuty says (both
/// bounded: the given value is the attacker's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: Field,
    pub given: String,
    pub guardduty: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.guardduty {
            Some(g) => write!(
                f,
                "{} (given {:?}, GuardDuty {:?})",
                self.field.path(),
                self.given,
                g
            ),
            None => write!(
                f,
                "{} (given {:?}, GuardDuty has none)",
                self.field.path(),
                self.given
            ),
        }
    }
}

/// Why a finding cannot be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotVerifiable {
    /// The finding carries no ARN (`arn`, or ASFF `Id`).
    NoArn,
    /// The ARN is not a GuardDuty finding ARN.
    BadArn(String),
    /// GuardDuty answered, and its answer is not a readable finding.
    CopyUnreadable(String),
    /// GuardDuty could not be asked (the reason names the AWS error code).
    NotRead(String),
}

impl fmt::Display for NotVerifiable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotVerifiable::NoArn => f.write_str(
                "the finding carries no GuardDuty finding ARN (`arn`, or `Id` in Security Hub), so GuardDuty's copy cannot be read",
            ),
            NotVerifiable::BadArn(why) => write!(f, "{why}"),
            NotVerifiable::CopyUnreadable(why) => {
                write!(f, "GuardDuty's copy of the finding could not be read: {why}")
            }
            NotVerifiable::NotRead(why) => write!(f, "GuardDuty could not be asked: {why}"),
        }
    }
}

/// What GuardDuty's copy says about the finding handed to the responder.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// GuardDuty's copy, to act on instead of the given finding.
    Genuine(Box<Incident>),
    /// GuardDuty does not know a finding with this id.
    Unknown,
    /// GuardDuty's copy names something else; every difference is listed.
    Differs(Vec<Difference>),
    NotVerifiable(NotVerifiable),
}

impl Verdict {
    /// The refusal, for the report (`None` for a genuine finding). `where_` says where the copy
    /// was read or looked for (accounts, detectors, credentials).
    pub fn refusal(&self, arn: Option<&FindingArn>, where_: &str) -> Option<String> {
        let (id, region) = match arn {
            Some(a) => (a.finding_id.as_str(), a.region.as_str()),
            None => ("-", "-"),
        };
        match self {
            Verdict::Genuine(_) => None,
            Verdict::Unknown => Some(format!(
                "refused: possibly forged: GuardDuty does not know finding {id} in {region} ({where_}); nothing was written"
            )),
            Verdict::Differs(diffs) => Some(format!(
                "refused: possibly forged: finding {id} in {region} differs from GuardDuty's copy ({where_}) in {}; nothing was written",
                diffs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Verdict::NotVerifiable(why) => Some(format!(
                "refused: not verified with GuardDuty (VERIFY_FINDINGS=true): {why}; nothing was written"
            )),
        }
    }
}

/// Compares the given finding with GuardDuty's copy (`None`: GuardDuty returned no finding for
/// the id). Pure.
pub fn judge(given: &Incident, arn: &FindingArn, copy: Option<&Value>) -> Verdict {
    let Some(copy) = copy else {
        return Verdict::Unknown;
    };
    let copies = match parse_guardduty_findings(copy) {
        Ok(c) => c,
        Err(e) => {
            return Verdict::NotVerifiable(NotVerifiable::CopyUnreadable(safe_text(
                &e.to_string(),
                200,
            )))
        }
    };
    // An attack sequence is one incident per credential: the given incident is compared with
    // GuardDuty's incident for the same credential (or GuardDuty's review for the review).
    let copy = match copies.as_slice() {
        [one] if !is_review(given) || is_review(one) => one.clone(),
        many => match same_credential(given, many) {
            Some(c) => c.clone(),
            None => match many.first() {
                Some(first) => first.clone(),
                None => return Verdict::Unknown,
            },
        },
    };
    // The review of an attack sequence whose GuardDuty copy needs none (Security Hub's copy was
    // full, GuardDuty's is not): it writes nothing, so it stands as given once the finding's own
    // fields are GuardDuty's; the credentials GuardDuty's copy names are its steps.
    if is_review(given) && !is_review(&copy) && copy.unreadable.is_none() {
        if copy.finding_id.as_deref() != Some(arn.finding_id.as_str()) {
            return Verdict::Unknown;
        }
        let diffs: Vec<Difference> = differences(given, &copy)
            .into_iter()
            .filter(|d| matches!(d.field, Field::FindingId | Field::Type | Field::Region))
            .collect();
        return match diffs.is_empty() {
            true => Verdict::Genuine(Box::new(given.clone())),
            false => Verdict::Differs(diffs),
        };
    }
    if let Some(e) = &copy.unreadable {
        return Verdict::NotVerifiable(NotVerifiable::CopyUnreadable(safe_text(
            &e.to_string(),
            200,
        )));
    }
    // GuardDuty answered for another id: not this finding, whatever else matches.
    if copy.finding_id.as_deref() != Some(arn.finding_id.as_str()) {
        return Verdict::Unknown;
    }
    let diffs = differences(given, &copy);
    if diffs.is_empty() {
        Verdict::Genuine(Box::new(copy))
    } else {
        Verdict::Differs(diffs)
    }
}

/// GuardDuty's incident for the same credential of an attack sequence as `given`: the one
/// without differences, and of the same kind (a credential, or the review).
fn same_credential<'a>(given: &Incident, copies: &'a [Incident]) -> Option<&'a Incident> {
    copies
        .iter()
        .find(|c| is_review(c) == is_review(given) && differences(given, c).is_empty())
}

/// The incident about an attack sequence as a whole (not one of its credentials).
fn is_review(i: &Incident) -> bool {
    i.sequence.as_ref().is_some_and(|s| s.credential.is_none())
}

/// Every identity field the given finding names that GuardDuty's copy has differently. A field
/// the given finding leaves out is not a difference: the copy, which is acted on, has it.
fn differences(given: &Incident, copy: &Incident) -> Vec<Difference> {
    let user_type =
        |i: &Incident| Some(i.principal.user_type.as_str().to_string()).filter(|s| !s.is_empty());
    let fields: [(Field, Option<String>, Option<String>); 8] = [
        (
            Field::FindingId,
            given.finding_id.clone(),
            copy.finding_id.clone(),
        ),
        (
            Field::Type,
            given.finding_type.clone(),
            copy.finding_type.clone(),
        ),
        (Field::Account, given.account.clone(), copy.account.clone()),
        (Field::Region, given.region.clone(), copy.region.clone()),
        (Field::UserType, user_type(given), user_type(copy)),
        (
            Field::UserName,
            given.principal.name.clone(),
            copy.principal.name.clone(),
        ),
        (
            Field::PrincipalId,
            given.principal.principal_id.clone(),
            copy.principal.principal_id.clone(),
        ),
        (
            Field::AccessKeyId,
            given.principal.access_key_id.clone(),
            copy.principal.access_key_id.clone(),
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(field, given, guardduty)| {
            let given = given?;
            (guardduty.as_deref() != Some(given.as_str())).then(|| Difference {
                field,
                given: safe_text(&given, 120),
                guardduty: guardduty.map(|g| safe_text(&g, 120)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse_payload;
    use serde_json::json;

    fn finding() -> Value {
        serde_json::from_str(include_str!("../../events/assumed-role-finding.json")).unwrap()
    }

    fn incident(v: &Value) -> Incident {
        crate::input::parse_guardduty_finding(v).unwrap()
    }

    fn arn_of(i: &Incident) -> FindingArn {
        finding_arn(i).unwrap()
    }

    #[test]
    fn the_arn_is_read_from_events_get_findings_output_and_security_hub() {
        for file in [
            include_str!("../../events/assumed-role-event.json"),
            include_str!("../../events/get-findings-output.json"),
            include_str!("../../events/securityhub-imported-event.json"),
            include_str!("../../events/member-account-event.json"),
        ] {
            let parsed = parse_payload(&serde_json::from_str(file).unwrap()).unwrap();
            let i = parsed.items[0].as_ref().unwrap();
            let arn = finding_arn(i).unwrap();
            assert_eq!(Some(arn.finding_id.as_str()), i.finding_id.as_deref());
            assert_eq!(Some(arn.region.as_str()), i.region.as_deref());
        }
        // The member's finding: the ARN names the member account.
        let member: Value =
            serde_json::from_str(include_str!("../../events/member-account-event.json")).unwrap();
        let parsed = parse_payload(&member).unwrap();
        let arn = finding_arn(parsed.items[0].as_ref().unwrap()).unwrap();
        assert_eq!(arn.account, "111111111111");
    }

    #[test]
    fn a_bad_or_missing_arn_is_named_and_not_verifiable() {
        let mut f = finding();
        f["arn"] = json!("arn:aws:guardduty:us-east-1:123456789012:detector/x/finding/../../y");
        let i = incident(&f);
        assert_eq!(i.finding_arn, None);
        assert!(i.ignored_fields.iter().any(|u| u.field == "arn"));
        assert_eq!(finding_arn(&i), Err(NotVerifiable::NoArn));
        f["arn"] = json!(42);
        assert_eq!(incident(&f).finding_arn, None);
        f.as_object_mut().unwrap().remove("arn");
        let i = incident(&f);
        assert!(i.ignored_fields.is_empty());
        assert_eq!(finding_arn(&i), Err(NotVerifiable::NoArn));
    }

    #[test]
    fn the_same_finding_is_genuine_and_the_copy_is_acted_on() {
        let given = incident(&finding());
        let mut copy = finding();
        // GuardDuty has aggregated more activity since: not an identity field.
        copy["service"]["count"] = json!(9);
        copy["severity"] = json!(8.5);
        match judge(&given, &arn_of(&given), Some(&copy)) {
            Verdict::Genuine(c) => {
                assert_eq!(c.count, Some(9));
                assert_eq!(c.severity, Some(8.5));
                assert_eq!(c.principal, given.principal);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn get_findings_pascal_case_is_the_same_finding() {
        let given = incident(&finding());
        let out: Value =
            serde_json::from_str(include_str!("../../events/get-findings-output.json")).unwrap();
        let copy = &out["Findings"][0];
        assert!(matches!(
            judge(&given, &arn_of(&given), Some(copy)),
            Verdict::Genuine(_)
        ));
    }

    #[test]
    fn an_unknown_id_is_unknown() {
        let given = incident(&finding());
        let v = judge(&given, &arn_of(&given), None);
        assert_eq!(v, Verdict::Unknown);
        let why = v
            .refusal(Some(&arn_of(&given)), "account 123456789012")
            .unwrap();
        assert!(why.contains("possibly forged"), "{why}");
        assert!(
            why.contains(
                "GuardDuty does not know finding c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10 in us-east-1"
            ),
            "{why}"
        );
        // An answer for another id is not this finding.
        let mut other = finding();
        other["id"] = json!("0000");
        assert_eq!(
            judge(&given, &arn_of(&given), Some(&other)),
            Verdict::Unknown
        );
    }

    #[test]
    fn a_swapped_principal_is_named_field_by_field() {
        let mut forged = finding();
        forged["resource"]["accessKeyDetails"]["userName"] = json!("prod-admin");
        forged["resource"]["accessKeyDetails"]["principalId"] =
            json!("AROAEXAMPLEADMIN00001:i-0abc");
        let given = incident(&forged);
        let v = judge(&given, &arn_of(&given), Some(&finding()));
        let Verdict::Differs(diffs) = &v else {
            panic!("{v:?}")
        };
        let fields: Vec<Field> = diffs.iter().map(|d| d.field).collect();
        assert_eq!(fields, vec![Field::UserName, Field::PrincipalId]);
        assert_eq!(diffs[0].given, "prod-admin");
        assert_eq!(diffs[0].guardduty.as_deref(), Some("app-deployer"));
        let why = v.refusal(Some(&arn_of(&given)), "us-east-1").unwrap();
        assert!(why.contains("resource.accessKeyDetails.userName (given \"prod-admin\", GuardDuty \"app-deployer\")"), "{why}");
    }

    #[test]
    fn account_type_key_and_user_type_are_compared() {
        let mut forged = finding();
        forged["accountId"] = json!("222222222222");
        forged["type"] = json!("UnauthorizedAccess:IAMUser/TorIPCaller");
        forged["resource"]["accessKeyDetails"]["accessKeyId"] = json!("AKIAFORGED0000000000");
        forged["resource"]["accessKeyDetails"]["userType"] = json!("IAMUser");
        let given = incident(&forged);
        let Verdict::Differs(diffs) = judge(&given, &arn_of(&given), Some(&finding())) else {
            panic!()
        };
        let fields: Vec<Field> = diffs.iter().map(|d| d.field).collect();
        assert_eq!(
            fields,
            vec![
                Field::Type,
                Field::Account,
                Field::UserType,
                Field::AccessKeyId
            ]
        );
    }

    #[test]
    fn a_field_the_given_finding_leaves_out_is_taken_from_the_copy() {
        let mut thin = finding();
        thin["resource"]["accessKeyDetails"]
            .as_object_mut()
            .unwrap()
            .remove("userName");
        let given = incident(&thin);
        let Verdict::Genuine(copy) = judge(&given, &arn_of(&given), Some(&finding())) else {
            panic!()
        };
        assert_eq!(copy.principal.name.as_deref(), Some("app-deployer"));
    }

    #[test]
    fn an_unreadable_copy_is_not_verifiable() {
        let given = incident(&finding());
        let mut broken = finding();
        broken["resource"]["accessKeyDetails"] = json!("nope");
        assert!(matches!(
            judge(&given, &arn_of(&given), Some(&broken)),
            Verdict::NotVerifiable(NotVerifiable::CopyUnreadable(_))
        ));
        assert!(matches!(
            judge(&given, &arn_of(&given), Some(&json!([1]))),
            Verdict::NotVerifiable(NotVerifiable::CopyUnreadable(_))
        ));
    }

    #[test]
    fn manual_requests_and_skipped_items_are_not_verified() {
        let manual = parse_payload(&json!({"action": "revoke", "role": "app-deployer"})).unwrap();
        assert!(!is_verifiable_kind(manual.items[0].as_ref().unwrap()));
        assert!(is_verifiable_kind(&incident(&finding())));
        let mut i = incident(&finding());
        i.not_a_finding = Some("other product".into());
        assert!(!is_verifiable_kind(&i));
    }
}
