//! A GuardDuty finding's ARN, `arn:<partition>:guardduty:<region>:<account>:detector/<detector
//! id>/finding/<finding id>`: where GuardDuty's own copy of the finding is read
//! (`GetFindings` with the detector id and the finding id, in the region).
//!
//! The ARN arrives inside the finding, so it is attacker-influenced like every other field:
//! each part is checked against what GuardDuty accepts (ids of 1 to 300 characters, the API
//! reference's length limit) and a narrow alphabet, so nothing odd reaches a request path.

use std::fmt;

/// GuardDuty's limit on a detector id and a finding id (API reference: 1 to 300 characters).
const MAX_ID: usize = 300;

/// The parts of a GuardDuty finding ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub detector_id: String,
    pub finding_id: String,
}

/// Why a string is not a GuardDuty finding ARN (names the part, never echoes the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a GuardDuty finding ARN (arn:<partition>:guardduty:<region>:<account>:detector/<detector id>/finding/<finding id>): {0}")]
pub struct FindingArnError(pub &'static str);

impl FindingArn {
    pub fn parse(s: &str) -> Result<Self, FindingArnError> {
        let bad = FindingArnError;
        if s.len() > 1024 {
            return Err(bad("longer than 1,024 characters"));
        }
        let mut parts = s.splitn(6, ':');
        let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(rest)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad(
                "expected six ':'-separated parts starting with \"arn\"",
            ));
        };
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(bad("unknown partition"));
        }
        if service != "guardduty" {
            return Err(bad("the service is not guardduty"));
        }
        if !crate::names::is_region(region) {
            return Err(bad("the region is not a region name"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the account is not 12 digits"));
        }
        let Some(rest) = rest.strip_prefix("detector/") else {
            return Err(bad("the resource does not start with detector/"));
        };
        let Some((detector_id, finding_id)) = rest.split_once("/finding/") else {
            return Err(bad("the resource has no /finding/ part"));
        };
        if !is_id(detector_id) {
            return Err(bad(
                "the detector id is empty, too long or has characters outside [A-Za-z0-9_-]",
            ));
        }
        if !is_id(finding_id) {
            return Err(bad(
                "the finding id is empty, too long or has characters outside [A-Za-z0-9_-]",
            ));
        }
        Ok(Self {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            detector_id: detector_id.to_string(),
            finding_id: finding_id.to_string(),
        })
    }
}

impl fmt::Display for FindingArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:guardduty:{}:{}:detector/{}/finding/{}",
            self.partition, self.region, self.account, self.detector_id, self.finding_id
        )
    }
}

/// Detector and finding ids seen in GuardDuty's findings are hex, sometimes mixed case or a
/// UUID with dashes; `/`, `:`, `%`, `?`, `.` and spaces would change a request path.
fn is_id(id: &str) -> bool {
    (1..=MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_finding_arns_parse() {
        let a = FindingArn::parse("arn:aws:guardduty:us-east-1:123456789012:detector/6ec7b0a4c1f6d12b8e3a9c1f00example/finding/c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10").unwrap();
        assert_eq!(a.partition, "aws");
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.detector_id, "6ec7b0a4c1f6d12b8e3a9c1f00example");
        assert_eq!(a.finding_id, "c2b6f1e0a9d84f0b8e7f6a5d4c3b2a10");
        // Shapes seen in public findings: a UUID detector, a mixed-case one, GovCloud.
        for ok in [
            "arn:aws:guardduty:eu-west-2:111111111111:detector/4b85f358-65e7-49b6-b9ae-b3816303fb12/finding/53a87f7e55ce432c833e952613829048",
            "arn:aws:guardduty:ap-southeast-1:012345678912:detector/EBD4bDCDaEEDCcdEFB95CF3cee86ED0c/finding/1cbb4fbbeb082e4be9b5038d952d25d0",
            "arn:aws-us-gov:guardduty:us-gov-west-1:123456789012:detector/abc/finding/def",
        ] {
            let a = FindingArn::parse(ok).unwrap();
            assert_eq!(a.to_string(), ok, "round trip");
        }
    }

    #[test]
    fn anything_else_is_refused_naming_the_part() {
        for (bad, part) in [
            ("", "six"),
            (
                "arn:aws:securityhub:us-east-1:123456789012:detector/a/finding/b",
                "service",
            ),
            (
                "arn:evil:guardduty:us-east-1:123456789012:detector/a/finding/b",
                "partition",
            ),
            (
                "arn:aws:guardduty:US-EAST-1:123456789012:detector/a/finding/b",
                "region",
            ),
            (
                "arn:aws:guardduty:us-east-1:1234:detector/a/finding/b",
                "account",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:finding/b",
                "detector/",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:detector/a",
                "/finding/",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:detector//finding/b",
                "detector id",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:detector/a/finding/",
                "finding id",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:detector/a/finding/b/../c",
                "finding id",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:detector/a?x=1/finding/b",
                "detector id",
            ),
            (
                "arn:aws:guardduty:us-east-1:123456789012:detector/a/finding/b c",
                "finding id",
            ),
        ] {
            let e = FindingArn::parse(bad).unwrap_err();
            assert!(e.to_string().contains(part), "{bad:?}: {e}");
        }
        let long = format!(
            "arn:aws:guardduty:us-east-1:123456789012:detector/a/finding/{}",
            "f".repeat(301)
        );
        assert!(FindingArn::parse(&long).is_err());
    }
}
