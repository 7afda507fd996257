//! Validation of identifiers taken from findings and requests (all attacker-influenced).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// IAM role and user names: `[\w+=,.@-]{1,64}`.
pub fn is_valid_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(is_iam_name_char)
}

/// IAM user names share the role-name alphabet and length.
pub fn is_valid_user_name(s: &str) -> bool {
    is_valid_role_name(s)
}

/// Role session names: `[\w+=,.@-]{2,64}`.
pub fn is_valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len()) && s.chars().all(is_iam_name_char)
}

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Unique ids such as `AROA…` (roles), `AIDA…` (users), `AKIA…`/`ASIA…` (keys): the prefix,
/// then alphanumerics, 16–128 characters in all. IAM's API reference gives the pattern `[\w]+`
/// for `RoleId`/`UserId`; real ids are upper-case, but nothing promises it, so lower-case is
/// accepted too. What matters here is that no character with a meaning in a policy
/// (`$`, `{`, `*`, `?`, `:`, quotes) gets through.
pub fn is_unique_id(s: &str, prefix: &str) -> bool {
    s.starts_with(prefix)
        && (16..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `i-` followed by 8 or 17 hex digits.
pub fn is_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17)
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// An AWS region name as GuardDuty writes it (`us-east-1`, `us-gov-west-1`, `ap-southeast-2`):
/// lower-case letter groups joined by `-`, then a number. The region reaches an SDK client and so
/// an endpoint's host name: nothing else (dots, slashes, `@`, upper case) gets through.
pub fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(number) = parts.next_back() else {
        return false;
    };
    let words: Vec<&str> = parts.collect();
    s.len() <= 30
        && words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// `arn:<partition>:iam::<account>:role/<path/>name` → (account, path, name).
pub fn parse_role_arn(arn: &str) -> Option<(String, String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let _partition = parts.next()?;
    if parts.next()? != "iam" {
        return None;
    }
    let _region = parts.next()?;
    let account = parts.next()?;
    let resource = parts.next()?.strip_prefix("role/")?;
    let (path, name) = match resource.rfind('/') {
        Some(i) => (format!("/{}", &resource[..=i]), &resource[i + 1..]),
        None => ("/".to_string(), resource),
    };
    (is_account_id(account) && is_valid_role_name(name))
        .then(|| (account.to_string(), path, name.to_string()))
}

/// Role name of an STS assumed-role ARN: `arn:aws:sts::<acct>:assumed-role/<name>/<session>`.
pub fn role_name_from_assumed_role_arn(arn: &str) -> Option<&str> {
    let resource = arn.split(':').nth(5)?;
    let mut parts = resource.split('/');
    (parts.next()? == "assumed-role").then_some(())?;
    parts.next()
}

/// Formats a timestamp the way IAM policies and the console write it: `2026-11-22T03:00:30Z`.
pub fn format_utc(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses RFC 3339 timestamps with or without fractional seconds.
pub fn parse_utc(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for r in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "cn-north-1",
            "eusc-de-east-1",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in [
            "",
            "us-east",
            "east-1",
            "us--1",
            "US-EAST-1",
            "us-east-1.evil.com",
            "evil.com/x-a-1",
            "us-east-1a",
            "us-east-123",
            "us-east-1 ",
            "us-east-1/",
        ] {
            assert!(!is_region(r), "{r}");
        }
    }

    #[test]
    fn role_names() {
        assert!(is_valid_role_name("web-app_Role.1+=,@"));
        assert!(!is_valid_role_name(""));
        assert!(!is_valid_role_name("a/b"));
        assert!(!is_valid_role_name("quote\"role"));
        assert!(!is_valid_role_name(&"a".repeat(65)));
        assert!(!is_valid_role_name("rôle"));
    }

    #[test]
    fn instance_ids() {
        assert!(is_instance_id("i-0123456789abcdef0"));
        assert!(is_instance_id("i-99999999"));
        assert!(!is_instance_id("i-XYZ"));
        assert!(!is_instance_id("i-0123456789ABCDEF0"));
        assert!(!is_instance_id("alice"));
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::111122223333:role/service/app/Web"),
            Some(("111122223333".into(), "/service/app/".into(), "Web".into()))
        );
        assert_eq!(
            parse_role_arn("arn:aws-us-gov:iam::111122223333:role/Web"),
            Some(("111122223333".into(), "/".into(), "Web".into()))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::111122223333:user/Web"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::1:role/Web"), None);
        assert_eq!(
            role_name_from_assumed_role_arn("arn:aws:sts::111122223333:assumed-role/responder/fn"),
            Some("responder")
        );
        assert_eq!(
            role_name_from_assumed_role_arn("arn:aws:sts::123456789012:user/moto"),
            None
        );
    }

    #[test]
    fn timestamps_round_trip_with_and_without_millis() {
        let a = parse_utc("2026-11-22T03:00:30Z").unwrap();
        let b = parse_utc("2026-11-22T03:00:30.000Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            format_utc(parse_utc("2026-11-22T03:00:30.789Z").unwrap()),
            "2026-11-22T03:00:30Z"
        );
        assert_eq!(parse_utc("yesterday"), None);
    }
}
