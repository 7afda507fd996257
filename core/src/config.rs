//! Configuration from environment variables, validated once at start.

use crate::finding_types::DEFAULT_FINDING_TYPES;
use crate::model::ConfigError;
pub use crate::plan::approval::ApprovalMode;
use glob::Pattern;
use std::collections::HashMap;

/// How much of a role a revocation denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeScope {
    /// Every session of the role issued before the cutoff (the console's "Revoke active sessions").
    Role,
    /// Only the sessions named in the finding (`aws:userid` exact match).
    Session,
    /// Session scope for stolen EC2 instance credentials (`<RoleId>:i-…`: one instance's
    /// session, while a role-wide deny would cut every instance sharing the role), role scope
    /// for everything else. The default.
    Auto,
}

/// Whether access keys the attacker created are deactivated (`CONTAIN_PERSISTENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainPersistence {
    /// List them with the command that deactivates each (the default).
    Report,
    /// Deactivate them (`UpdateAccessKey Status=Inactive`; never deleted).
    Contain,
}

/// `CHAIN_DEPTH` when unset: how many hops of credentials are read.
pub const DEFAULT_CHAIN_DEPTH: u32 = 3;
/// `MAX_FINDING_AGE_HOURS` when unset: the longest a token a finding saw can live (a user's
/// `GetSessionToken` session, 36 h). Shorter would drop findings whose tokens still work.
pub const DEFAULT_MAX_FINDING_AGE_HOURS: u32 = 36;
/// The largest `CHAIN_DEPTH` accepted: every hop costs `LookupEvents` calls at 2 per second.
pub const MAX_CHAIN_DEPTH: u32 = 6;

/// How an instance gets a fresh instance-profile association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReassociationStrategy {
    Disassociate,
    Replace,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub sns_topic_arn: Option<String>,
    /// An SNS topic a chat client (Amazon Q Developer in chat applications) subscribes to: one
    /// custom notification per finding.
    pub chat_topic_arn: Option<String>,
    pub dry_run: bool,
    pub cutoff_margin_seconds: i64,
    pub min_severity: f64,
    pub finding_types: Vec<Pattern>,
    pub allow_sample_findings: bool,
    pub protected_roles: Vec<Pattern>,
    pub responder_role_arn: Option<String>,
    pub revoke_scope: RevokeScope,
    pub reassociate_instance_profile: bool,
    pub reassociation_strategy: ReassociationStrategy,
    pub reassociation_max_wait_seconds: u64,
    pub member_role_name: Option<String>,
    pub member_role_external_id: Option<String>,
    pub allowed_accounts: Vec<String>,
    /// `CHAIN_DEPTH`: how many hops of the attacker's credentials are followed through
    /// CloudTrail after the deny; 0 turns following off.
    pub chain_depth: u32,
    pub contain_persistence: ContainPersistence,
    /// `FOLLOW_UP_SCHEDULER_ROLE_ARN`: the role EventBridge Scheduler assumes to invoke the
    /// function again for the look after CloudTrail's lag; unset, the next look is reported
    /// with the command that runs it by hand.
    pub follow_up_scheduler_role_arn: Option<String>,
    /// `VERIFY_FINDINGS`: re-read every GuardDuty finding from GuardDuty and act on its copy.
    pub verify_findings: bool,
    /// `IDENTITY_CENTER_INSTANCE_ARN`: revoke Identity Center sessions through the permission
    /// set (sso-admin) of this instance; unset, they are `manual_action_required`.
    pub identity_center_instance_arn: Option<String>,
    /// `MAX_FINDING_AGE_HOURS`: a finding (not a person's request) whose `eventLastSeen` is
    /// older than this writes nothing: every token it saw has expired (36 h, the longest
    /// `GetSessionToken` session, by default); 0 turns the check off.
    pub max_finding_age_hours: u32,
    /// The function's own name and region, from Lambda's `AWS_LAMBDA_FUNCTION_NAME` and
    /// `AWS_REGION` (not settings: Lambda sets them): the target of the next look's schedule.
    pub lambda_function: Option<LambdaFunction>,
    /// `TRAIL_REGIONS`: the regions whose CloudTrail the follow-up reads (with the finding's
    /// region and the global-events region); empty: every region enabled for the account
    /// (`ec2:DescribeRegions`).
    pub trail_regions: Vec<String>,
    /// `PERSISTENCE_LOOKBACK`: days before the finding's `eventFirstSeen` the follow-up reads
    /// the stolen key's events (persistence lives forever; sessions and tokens are read at least
    /// 36 h back either way).
    pub persistence_lookback_days: u32,
    /// `DRILL_ROLE_ARN`: the canary role a fire drill contains (`core/src/drill.rs`); unset, a
    /// drill request is refused.
    pub drill_role_arn: Option<String>,
    /// `DRILL_ROLE_NAME`: the canary `member-role.yaml` creates in each member account.
    pub drill_role_name: Option<String>,
    /// `DRILL_MAX_WAIT_SECONDS`: how long a drill waits for IAM to refuse its session.
    pub drill_max_wait_seconds: u64,
    /// `APPROVAL_REQUIRED`: which wide writes wait for a person (`plan::approval`).
    pub approval_required: ApprovalMode,
    /// `APPROVAL_TTL`: how long a proposal can be approved, in whole hours (24 h by default).
    pub approval_ttl_hours: u32,
    /// `RECHECK_QUEUE_URL`: the SQS queue (with a delivery delay) that carries the delayed look
    /// at each role policy written (`recheck.rs`); unset, the look runs in the invocation.
    pub recheck_queue_url: Option<String>,
}

/// `PERSISTENCE_LOOKBACK` when unset, in days.
pub const DEFAULT_PERSISTENCE_LOOKBACK_DAYS: u32 = 7;
/// `LookupEvents` keeps 90 days of events.
pub const MAX_PERSISTENCE_LOOKBACK_DAYS: u32 = 90;

/// Where the function runs, as Lambda says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaFunction {
    pub name: String,
    pub region: String,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_vars(&HashMap::new()).expect("defaults are valid")
    }
}

/// Every variable this function reads, with its default (shown in the README).
pub const VARIABLES: &[(&str, &str)] = &[
    ("SNS_TOPIC_ARN", ""),
    ("CHAT_TOPIC_ARN", ""),
    ("DRY_RUN", "false"),
    ("CUTOFF_MARGIN_SECONDS", "30"),
    ("MIN_SEVERITY", "4.0"),
    ("FINDING_TYPES", ""),
    ("ALLOW_SAMPLE_FINDINGS", "false"),
    ("PROTECTED_ROLES", ""),
    ("RESPONDER_ROLE_ARN", ""),
    ("REVOKE_SCOPE", "auto"),
    ("REASSOCIATE_INSTANCE_PROFILE", "false"),
    ("REASSOCIATION_STRATEGY", "disassociate"),
    ("REASSOCIATION_MAX_WAIT_SECONDS", "120"),
    ("MEMBER_ROLE_NAME", ""),
    ("MEMBER_ROLE_EXTERNAL_ID", ""),
    ("ALLOWED_ACCOUNTS", ""),
    ("CHAIN_DEPTH", "3"),
    ("CONTAIN_PERSISTENCE", "report"),
    ("FOLLOW_UP_SCHEDULER_ROLE_ARN", ""),
    ("VERIFY_FINDINGS", "false"),
    ("IDENTITY_CENTER_INSTANCE_ARN", ""),
    ("MAX_FINDING_AGE_HOURS", "36"),
    ("TRAIL_REGIONS", ""),
    ("PERSISTENCE_LOOKBACK", "7"),
    ("DRILL_ROLE_ARN", ""),
    ("DRILL_ROLE_NAME", ""),
    ("DRILL_MAX_WAIT_SECONDS", "300"),
    ("APPROVAL_REQUIRED", "never"),
    ("APPROVAL_TTL", "24"),
    ("RECHECK_QUEUE_URL", ""),
];

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: HashMap<String, String> = VARIABLES
            .iter()
            .filter_map(|(name, _)| std::env::var(name).ok().map(|v| (name.to_string(), v)))
            .collect();
        let mut config = Self::from_vars(&vars)?;
        let lambda = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
        // Validated like every name that reaches an ARN: Lambda's function-name alphabet and a
        // region name.
        config.lambda_function = match (lambda("AWS_LAMBDA_FUNCTION_NAME"), lambda("AWS_REGION")) {
            (Some(name), Some(region))
                if (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    && crate::names::is_region(&region) =>
            {
                Some(LambdaFunction { name, region })
            }
            _ => None,
        };
        Ok(config)
    }

    /// Parses the variables; an empty value means "use the default".
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| -> Option<&str> {
            vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
        };
        let bool_var = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).map(str::to_ascii_lowercase).as_deref() {
                None | Some("false") | Some("0") | Some("no") => Ok(false),
                Some("true") | Some("1") | Some("yes") => Ok(true),
                Some(other) => Err(invalid(name, other, "expected true or false")),
            }
        };

        let topic =
            |name: &'static str| -> Result<Option<String>, ConfigError> {
                match get(name) {
                    Some(arn) if !arn.starts_with("arn:") || !arn.contains(":sns:") => Err(
                        invalid(name, arn, "expected an SNS topic ARN (arn:…:sns:…)"),
                    ),
                    other => Ok(other.map(str::to_string)),
                }
            };
        let sns_topic_arn = topic("SNS_TOPIC_ARN")?;
        let chat_topic_arn = topic("CHAT_TOPIC_ARN")?;

        let cutoff_margin_seconds = number::<i64>(
            get("CUTOFF_MARGIN_SECONDS"),
            "CUTOFF_MARGIN_SECONDS",
            30,
            |n| (0..=300).contains(n),
            "expected whole seconds from 0 to 300",
        )?;

        let min_severity = match get("MIN_SEVERITY") {
            None => 4.0,
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|n| (0.0..=10.0).contains(n))
                .ok_or_else(|| invalid("MIN_SEVERITY", v, "expected a number from 0 to 10"))?,
        };

        let finding_types = match get("FINDING_TYPES") {
            None => DEFAULT_FINDING_TYPES
                .iter()
                .map(|t| {
                    Pattern::new(&Pattern::escape(t)).expect("escaped literal is a valid pattern")
                })
                .collect(),
            Some(v) => globs("FINDING_TYPES", v)?,
        };
        let protected_roles = match get("PROTECTED_ROLES") {
            None => Vec::new(),
            Some(v) => globs("PROTECTED_ROLES", v)?,
        };

        let responder_role_arn = match get("RESPONDER_ROLE_ARN") {
            Some(arn) if !arn.starts_with("arn:") || !arn.contains(":role/") => {
                return Err(invalid(
                    "RESPONDER_ROLE_ARN",
                    arn,
                    "expected an IAM role ARN (arn:…:role/…)",
                ))
            }
            other => other.map(str::to_string),
        };

        let revoke_scope = match get("REVOKE_SCOPE").map(str::to_ascii_lowercase).as_deref() {
            None | Some("auto") => RevokeScope::Auto,
            Some("role") => RevokeScope::Role,
            Some("session") => RevokeScope::Session,
            Some(other) => {
                return Err(invalid(
                    "REVOKE_SCOPE",
                    other,
                    "expected auto, role or session",
                ))
            }
        };
        let reassociation_strategy = match get("REASSOCIATION_STRATEGY")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("disassociate") => ReassociationStrategy::Disassociate,
            Some("replace") => ReassociationStrategy::Replace,
            Some(other) => {
                return Err(invalid(
                    "REASSOCIATION_STRATEGY",
                    other,
                    "expected disassociate or replace",
                ))
            }
        };
        let reassociation_max_wait_seconds = number::<u64>(
            get("REASSOCIATION_MAX_WAIT_SECONDS"),
            "REASSOCIATION_MAX_WAIT_SECONDS",
            120,
            |n| (1..=600).contains(n),
            "expected whole seconds from 1 to 600",
        )?;

        let member_role_name = get("MEMBER_ROLE_NAME").map(str::to_string);
        if let Some(name) = &member_role_name {
            if !crate::names::is_valid_role_name(name) {
                return Err(invalid(
                    "MEMBER_ROLE_NAME",
                    name,
                    "expected an IAM role name",
                ));
            }
        }
        let allowed_accounts = match get("ALLOWED_ACCOUNTS") {
            None => Vec::new(),
            Some(v) => {
                let list: Vec<String> = split_list(v).map(str::to_string).collect();
                if let Some(bad) = list.iter().find(|a| !crate::names::is_account_id(a)) {
                    return Err(invalid(
                        "ALLOWED_ACCOUNTS",
                        bad,
                        "expected 12-digit account ids",
                    ));
                }
                list
            }
        };

        let chain_depth = number::<u32>(
            get("CHAIN_DEPTH"),
            "CHAIN_DEPTH",
            DEFAULT_CHAIN_DEPTH,
            |n| *n <= MAX_CHAIN_DEPTH,
            "expected a whole number from 0 (off) to 6",
        )?;
        let contain_persistence = match get("CONTAIN_PERSISTENCE")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("report") => ContainPersistence::Report,
            Some("contain") => ContainPersistence::Contain,
            Some(other) => {
                return Err(invalid(
                    "CONTAIN_PERSISTENCE",
                    other,
                    "expected report or contain",
                ))
            }
        };
        let follow_up_scheduler_role_arn = match get("FOLLOW_UP_SCHEDULER_ROLE_ARN") {
            Some(arn) if !arn.starts_with("arn:") || !arn.contains(":role/") => {
                return Err(invalid(
                    "FOLLOW_UP_SCHEDULER_ROLE_ARN",
                    arn,
                    "expected an IAM role ARN (arn:…:role/…)",
                ))
            }
            other => other.map(str::to_string),
        };
        let identity_center_instance_arn = match get("IDENTITY_CENTER_INSTANCE_ARN") {
            Some(arn) if !is_identity_center_instance_arn(arn) => return Err(invalid(
                "IDENTITY_CENTER_INSTANCE_ARN",
                arn,
                "expected an IAM Identity Center instance ARN (arn:aws:sso:::instance/ssoins-…)",
            )),
            other => other.map(str::to_string),
        };

        let max_finding_age_hours = number::<u32>(
            get("MAX_FINDING_AGE_HOURS"),
            "MAX_FINDING_AGE_HOURS",
            DEFAULT_MAX_FINDING_AGE_HOURS,
            |h| *h == 0 || (DEFAULT_MAX_FINDING_AGE_HOURS..=2160).contains(h),
            "expected 0 (off) or a whole number of hours from 36 (the longest token) to 2160 (90 days)",
        )?;

        let trail_regions: Vec<String> = get("TRAIL_REGIONS")
            .map(|v| split_list(v).map(str::to_string).collect())
            .unwrap_or_default();
        if let Some(bad) = trail_regions.iter().find(|r| !crate::names::is_region(r)) {
            return Err(invalid(
                "TRAIL_REGIONS",
                bad,
                "expected region names separated by commas (us-east-1,eu-west-1)",
            ));
        }
        let persistence_lookback_days = match get("PERSISTENCE_LOOKBACK") {
            None => DEFAULT_PERSISTENCE_LOOKBACK_DAYS,
            Some(v) => v
                .strip_suffix('d')
                .unwrap_or(v)
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PERSISTENCE_LOOKBACK_DAYS).contains(n))
                .ok_or_else(|| {
                    invalid(
                        "PERSISTENCE_LOOKBACK",
                        v,
                        "expected whole days from 1 to 90 (CloudTrail's event history), e.g. 7 or 7d",
                    )
                })?,
        };
        let drill_role_arn = match get("DRILL_ROLE_ARN") {
            Some(arn) if crate::names::parse_role_arn(arn).is_none() => {
                return Err(invalid(
                    "DRILL_ROLE_ARN",
                    arn,
                    "expected an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                ))
            }
            other => other.map(str::to_string),
        };
        let drill_role_name = match get("DRILL_ROLE_NAME") {
            Some(n) if !crate::names::is_valid_role_name(n) => {
                return Err(invalid("DRILL_ROLE_NAME", n, "expected an IAM role name"))
            }
            other => other.map(str::to_string),
        };
        let drill_max_wait_seconds = number::<u64>(
            get("DRILL_MAX_WAIT_SECONDS"),
            "DRILL_MAX_WAIT_SECONDS",
            crate::drill::DEFAULT_MAX_WAIT_SECONDS,
            |n| (1..=600).contains(n),
            "expected whole seconds from 1 to 600",
        )?;
        // The URL reaches only the SQS client's QueueUrl parameter; no space or query in it.
        let recheck_queue_url = match get("RECHECK_QUEUE_URL") {
            Some(url)
                if !(url.starts_with("https://") || url.starts_with("http://"))
                    || url.len() > 512
                    || url.bytes().any(|b| !b.is_ascii_graphic() || b == b'?' || b == b'#') =>
            {
                return Err(invalid(
                    "RECHECK_QUEUE_URL",
                    url,
                    "expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)",
                ))
            }
            other => other.map(str::to_string),
        };

        let approval_required = ApprovalMode::parse(get("APPROVAL_REQUIRED").unwrap_or(""))
            .map_err(|e| {
                invalid(
                    "APPROVAL_REQUIRED",
                    get("APPROVAL_REQUIRED").unwrap_or(""),
                    &e,
                )
            })?;
        // At most a week: an approval is a person's answer to what they were shown, not a standing grant.
        let approval_ttl_hours = number::<u32>(
            get("APPROVAL_TTL").map(|v| v.strip_suffix('h').unwrap_or(v)),
            "APPROVAL_TTL",
            24,
            |h| (1..=168).contains(h),
            "expected whole hours from 1 to 168, e.g. 24 or 24h",
        )?;

        Ok(Self {
            sns_topic_arn,
            chat_topic_arn,
            dry_run: bool_var("DRY_RUN")?,
            cutoff_margin_seconds,
            min_severity,
            finding_types,
            allow_sample_findings: bool_var("ALLOW_SAMPLE_FINDINGS")?,
            protected_roles,
            responder_role_arn,
            revoke_scope,
            reassociate_instance_profile: bool_var("REASSOCIATE_INSTANCE_PROFILE")?,
            reassociation_strategy,
            reassociation_max_wait_seconds,
            member_role_name,
            member_role_external_id: get("MEMBER_ROLE_EXTERNAL_ID").map(str::to_string),
            allowed_accounts,
            chain_depth,
            contain_persistence,
            follow_up_scheduler_role_arn,
            verify_findings: bool_var("VERIFY_FINDINGS")?,
            identity_center_instance_arn,
            max_finding_age_hours,
            lambda_function: None,
            trail_regions,
            persistence_lookback_days,
            drill_role_arn,
            drill_role_name,
            drill_max_wait_seconds,
            approval_required,
            approval_ttl_hours,
            recheck_queue_url,
        })
    }

    pub fn acts_on_type(&self, finding_type: &str) -> bool {
        self.finding_types.iter().any(|p| p.matches(finding_type))
    }

    /// The pattern that protects this role, matched against its name and its ARN.
    pub fn protecting_pattern(&self, role_name: &str, role_arn: Option<&str>) -> Option<&Pattern> {
        self.protected_roles
            .iter()
            .find(|p| p.matches(role_name) || role_arn.is_some_and(|arn| p.matches(arn)))
    }
}

/// `arn:<partition>:sso:::instance/ssoins-<hex>` (the IAM Identity Center API reference's
/// pattern for `InstanceArn`).
pub fn is_identity_center_instance_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(':') else {
        return false;
    };
    let Some(id) = rest.strip_prefix("sso:::instance/ssoins-") else {
        return false;
    };
    matches!(partition, "aws" | "aws-us-gov" | "aws-cn")
        && (16..=16 + 16).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn globs(variable: &'static str, v: &str) -> Result<Vec<Pattern>, ConfigError> {
    split_list(v)
        .map(|g| {
            Pattern::new(g).map_err(|e| invalid(variable, g, &format!("not a valid glob: {e}")))
        })
        .collect()
}

/// A number variable: `default` when unset, else a value `accepted` says is in range, or the
/// error naming the variable and what was `expected`.
fn number<T: std::str::FromStr>(
    value: Option<&str>,
    variable: &'static str,
    default: T,
    accepted: impl Fn(&T) -> bool,
    expected: &str,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<T>()
            .ok()
            .filter(|n| accepted(n))
            .ok_or_else(|| invalid(variable, v, expected)),
    }
}

fn invalid(variable: &'static str, value: &str, problem: &str) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests;
