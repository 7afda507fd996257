//! Checks the deployment templates against the code.
//!
//! `template.yaml` (the function, in the administrator account) and `member-role.yaml` (the
//! role it assumes in member accounts) must grant exactly the actions listed in
//! `src/permissions.rs`: a new SDK call without a grant fails here, and so does a stale grant.
//! The other tests pin the properties that keep the grants narrow and the wiring right.
//!
//! CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, `!If`, `!Join`) arrive from serde_yaml
//! as `Value::Tagged`; the long forms (`{"Fn::Sub": …}`) are understood too. Nothing here
//! evaluates them: references are compared as written (`${X}`), and what a value becomes once
//! CloudFormation resolves it (rule patterns, ARNs, conditions) is checked on the stack as
//! deployed by samtranslator and fakecloud's CloudFormation (`tests/deployed_stack.rs`).

use serde_yaml::{Mapping, Value};
use session_revoker::permissions::{MEMBER_ACTIONS, PLATFORM_ACTIONS, RESPONDER_ACTIONS};
use std::collections::BTreeSet;

/// Writes to a role's permissions that neither role may make on itself.
const SELF_POLICY_WRITES: &[&str] = &[
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:UpdateAssumeRolePolicy",
];

/// Every variable the function reads, with the template parameter that sets it (`None`: set
/// from a resource or fixed).
const FUNCTION_VARIABLES: &[(&str, Option<&str>)] = &[
    ("SNS_TOPIC_ARN", None),
    ("CHAT_TOPIC_ARN", Some("ChatTopicArn")),
    ("DRY_RUN", Some("DryRun")),
    ("CUTOFF_MARGIN_SECONDS", Some("CutoffMarginSeconds")),
    ("MIN_SEVERITY", Some("MinSeverity")),
    ("FINDING_TYPES", Some("FindingTypes")),
    ("ALLOW_SAMPLE_FINDINGS", Some("AllowSampleFindings")),
    ("PROTECTED_ROLES", Some("ProtectedRoles")),
    ("RESPONDER_ROLE_ARN", None),
    ("REVOKE_SCOPE", Some("RevokeScope")),
    ("APPROVAL_REQUIRED", Some("ApprovalRequired")),
    ("APPROVAL_TTL", Some("ApprovalTtlHours")),
    (
        "REASSOCIATE_INSTANCE_PROFILE",
        Some("ReassociateInstanceProfile"),
    ),
    ("REASSOCIATION_STRATEGY", Some("ReassociationStrategy")),
    (
        "REASSOCIATION_MAX_WAIT_SECONDS",
        Some("ReassociationMaxWaitSeconds"),
    ),
    ("MEMBER_ROLE_NAME", Some("MemberRoleName")),
    ("MEMBER_ROLE_EXTERNAL_ID", Some("MemberRoleExternalId")),
    ("ALLOWED_ACCOUNTS", Some("AllowedAccounts")),
    ("CHAIN_DEPTH", Some("ChainDepth")),
    ("CONTAIN_PERSISTENCE", Some("ContainPersistence")),
    ("TRAIL_REGIONS", None),
    ("PERSISTENCE_LOOKBACK", None),
    ("FOLLOW_UP_SCHEDULER_ROLE_ARN", None),
    ("VERIFY_FINDINGS", Some("VerifyFindings")),
    (
        "IDENTITY_CENTER_INSTANCE_ARN",
        Some("IdentityCenterInstanceArn"),
    ),
    ("MAX_FINDING_AGE_HOURS", None),
    ("DRILL_ROLE_ARN", None),
    ("DRILL_ROLE_NAME", Some("DrillRoleName")),
    ("DRILL_MAX_WAIT_SECONDS", None),
    ("RECHECK_QUEUE_URL", None),
    ("LOG_FORMAT", None),
    ("RUST_LOG", Some("LogLevel")),
];

// ------------------------------------------------------------------------------------------
// Reading templates
// ------------------------------------------------------------------------------------------

struct Template {
    name: &'static str,
    root: Value,
}

impl Template {
    fn load(name: &'static str) -> Self {
        let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let root =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
        Self { name, root }
    }

    fn section(&self, key: &str) -> &Mapping {
        self.root
            .get(key)
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("{}: no {key} section", self.name))
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.section("Resources")
            .iter()
            .map(|(k, v)| (k.as_str().expect("logical ids are strings"), v))
    }

    fn resource(&self, logical_id: &str) -> &Value {
        self.section("Resources")
            .get(logical_id)
            .unwrap_or_else(|| panic!("{}: no resource {logical_id}", self.name))
    }

    /// The only resource of this type.
    fn single(&self, resource_type: &str) -> (&str, &Value) {
        let found: Vec<_> = self
            .resources()
            .filter(|(_, r)| type_of(r) == Some(resource_type))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}: expected exactly one {resource_type}, found {}",
            self.name,
            found.len()
        );
        found[0]
    }

    fn parameter(&self, name: &str) -> Option<&Value> {
        self.root.get("Parameters").and_then(|p| p.get(name))
    }

    /// The string a parameter defaults to (numbers rendered as written).
    fn parameter_default(&self, name: &str) -> Option<String> {
        scalar_text(self.parameter(name)?.get("Default")?)
    }
}

fn type_of(resource: &Value) -> Option<&str> {
    resource.get("Type").and_then(Value::as_str)
}

fn props(resource: &Value) -> &Value {
    resource.get("Properties").expect("resource has Properties")
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string that is not an intrinsic: serde_yaml's `as_str` also looks through tags, so it reads
/// `!Ref X` as `"X"`.
fn plain_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A CloudFormation intrinsic function: its name without `Fn::`/`!`, and its argument.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" {
                Some(("Ref".to_string(), arg))
            } else {
                k.strip_prefix("Fn::").map(|name| (name.to_string(), arg))
            }
        }
        _ => None,
    }
}

fn is_no_value(v: &Value) -> bool {
    matches!(intrinsic(v), Some((f, arg)) if f == "Ref" && arg.as_str() == Some("AWS::NoValue"))
}

/// The values `v` can take: both branches of every `!If` (and the names of the conditions on
/// the way), without `AWS::NoValue`.
fn alternatives<'a>(v: &'a Value, guards: &[String]) -> Vec<(&'a Value, Vec<String>)> {
    match intrinsic(v) {
        Some((f, Value::Sequence(args))) if f == "If" && args.len() == 3 => {
            let mut guarded = guards.to_vec();
            guarded.push(args[0].as_str().expect("!If names a condition").to_string());
            let mut out = alternatives(&args[1], &guarded);
            out.extend(alternatives(&args[2], &guarded));
            out
        }
        _ if is_no_value(v) => Vec::new(),
        _ => vec![(v, guards.to_vec())],
    }
}

/// `!Ref x` -> `x`
fn ref_target(v: &Value) -> Option<&str> {
    match intrinsic(v)? {
        (f, arg) if f == "Ref" => arg.as_str(),
        _ => None,
    }
}

/// `!GetAtt X.Arn` or `!GetAtt [X, Arn]` -> `(X, Arn)`
fn get_att(v: &Value) -> Option<(String, String)> {
    let (f, arg) = intrinsic(v)?;
    if f != "GetAtt" {
        return None;
    }
    match arg {
        Value::String(s) => {
            let (res, att) = s.split_once('.')?;
            Some((res.to_string(), att.to_string()))
        }
        Value::Sequence(parts) if parts.len() == 2 => Some((
            parts[0].as_str()?.to_string(),
            parts[1].as_str()?.to_string(),
        )),
        _ => None,
    }
}

/// A string-valued property as text with its references left as `${…}`, so ARNs can be compared:
/// `!Sub 'arn:…:role/${X}'` -> `arn:…:role/${X}`, `!Ref X` -> `${X}`, `!GetAtt X.Arn` -> `${X.Arn}`.
fn symbolic(v: &Value) -> String {
    if let Some(s) = plain_str(v) {
        return s.to_string();
    }
    if let Some(target) = ref_target(v) {
        return format!("${{{target}}}");
    }
    if let Some((res, att)) = get_att(v) {
        return format!("${{{res}.{att}}}");
    }
    match intrinsic(v) {
        Some((f, Value::String(s))) if f == "Sub" => s.clone(),
        Some((f, Value::Sequence(args))) if f == "Sub" => {
            args[0].as_str().expect("!Sub template").to_string()
        }
        _ => panic!("cannot read {v:?} as a string"),
    }
}

// ------------------------------------------------------------------------------------------
// Policies
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Statement<'a> {
    /// Where it is, for messages.
    origin: String,
    /// CloudFormation conditions it depends on (resource `Condition` or `!If`).
    guards: Vec<String>,
    effect: String,
    actions: Vec<String>,
    resources: Vec<&'a Value>,
    condition: Option<&'a Value>,
    has_not_action: bool,
}

fn string_or_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .flat_map(|i| alternatives(i, &[]))
            .map(|(v, _)| v)
            .collect(),
        other => alternatives(other, &[])
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
    }
}

fn statements<'a>(document: &'a Value, origin: &str, guards: &[String]) -> Vec<Statement<'a>> {
    let mut out = Vec::new();
    for (doc, doc_guards) in alternatives(document, guards) {
        let list = doc
            .get("Statement")
            .unwrap_or_else(|| panic!("{origin}: policy without Statement"));
        let items: Vec<&Value> = match list {
            Value::Sequence(items) => items.iter().collect(),
            one => vec![one],
        };
        for (index, item) in items.into_iter().enumerate() {
            for (stmt, stmt_guards) in alternatives(item, &doc_guards) {
                let sid = stmt
                    .get("Sid")
                    .and_then(Value::as_str)
                    .map_or_else(|| index.to_string(), str::to_string);
                let origin = format!("{origin} statement {sid}");
                let actions = stmt
                    .get("Action")
                    .map(string_or_list)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| {
                        plain_str(a)
                            .unwrap_or_else(|| {
                                panic!("{origin}: actions must be plain strings, got {a:?}")
                            })
                            .to_string()
                    })
                    .collect();
                out.push(Statement {
                    effect: stmt
                        .get("Effect")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    actions,
                    resources: stmt.get("Resource").map(string_or_list).unwrap_or_default(),
                    condition: stmt.get("Condition"),
                    has_not_action: stmt.get("NotAction").is_some()
                        || stmt.get("NotResource").is_some(),
                    guards: stmt_guards,
                    origin,
                });
            }
        }
    }
    out
}

/// Every statement of a role's identity policies: inline `Policies`, and `AWS::IAM::Policy` /
/// `AWS::IAM::ManagedPolicy` resources that name the role in `Roles`.
fn role_statements<'a>(t: &'a Template, role_id: &str) -> Vec<Statement<'a>> {
    let role = t.resource(role_id);
    assert_eq!(
        type_of(role),
        Some("AWS::IAM::Role"),
        "{}: {role_id} is not an AWS::IAM::Role",
        t.name
    );
    assert!(
        props(role).get("ManagedPolicyArns").is_none(),
        "{}: {role_id} has ManagedPolicyArns; managed policies grant actions this test cannot see: write them inline",
        t.name
    );
    let mut out = Vec::new();
    if let Some(Value::Sequence(policies)) = props(role).get("Policies") {
        for policy in policies {
            for (policy, guards) in alternatives(policy, &[]) {
                let name = policy
                    .get("PolicyName")
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                let document = policy
                    .get("PolicyDocument")
                    .expect("inline policy has a PolicyDocument");
                out.extend(statements(
                    document,
                    &format!("{}: {role_id} policy {name}", t.name),
                    &guards,
                ));
            }
        }
    }
    for (id, resource) in t.resources() {
        if !matches!(
            type_of(resource),
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy")
        ) {
            continue;
        }
        let attached = props(resource)
            .get("Roles")
            .map(string_or_list)
            .unwrap_or_default()
            .iter()
            .any(|r| ref_target(r) == Some(role_id));
        if attached {
            let guards: Vec<String> = resource
                .get("Condition")
                .and_then(Value::as_str)
                .map(str::to_string)
                .into_iter()
                .collect();
            let document = props(resource)
                .get("PolicyDocument")
                .expect("policy has a PolicyDocument");
            out.extend(statements(document, &format!("{}: {id}", t.name), &guards));
        }
    }
    out
}

fn allowed_actions(statements: &[Statement<'_>]) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| s.effect == "Allow")
        .flat_map(|s| s.actions.iter().cloned())
        .collect()
}

fn assert_same_actions(what: &str, granted: &BTreeSet<String>, expected: &BTreeSet<String>) {
    let missing: Vec<_> = expected.difference(granted).collect();
    let extra: Vec<_> = granted.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}:\n  called by the code but not granted (add to the template): {missing:?}\n  \
         granted but not called (remove from the template, or add to src/permissions.rs): {extra:?}"
    );
}

/// The role the function runs as (`Role: !GetAtt X.Arn`).
fn function_role_id(t: &Template) -> String {
    let (_, function) = t.single("AWS::Serverless::Function");
    let role = props(function)
        .get("Role")
        .expect("the function names its Role explicitly");
    match get_att(role) {
        Some((id, att)) if att == "Arn" => id,
        _ => panic!(
            "{}: the function's Role must be !GetAtt <role>.Arn, got {role:?}",
            t.name
        ),
    }
}

fn function_env(t: &Template) -> &Mapping {
    let (_, function) = t.single("AWS::Serverless::Function");
    props(function)
        .get("Environment")
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .expect("the function has Environment.Variables")
}

fn condition_values<'a>(condition: Option<&'a Value>, operator: &str, key: &str) -> Vec<&'a Value> {
    condition
        .and_then(|c| c.get(operator))
        .and_then(|o| o.get(key))
        .map(string_or_list)
        .unwrap_or_default()
}

fn administrator() -> Template {
    Template::load("template.yaml")
}

fn member() -> Template {
    Template::load("member-role.yaml")
}

/// The member role (member-role.yaml also holds the fire drill's canary, DrillRole).
fn member_role_id(t: &Template) -> String {
    let id = "MemberRole";
    assert_eq!(
        type_of(t.resource(id)),
        Some("AWS::IAM::Role"),
        "{}: {id}",
        t.name
    );
    id.to_string()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[test]
fn function_role_grants_exactly_the_responder_actions() {
    let t = administrator();
    let granted = allowed_actions(&role_statements(&t, &function_role_id(&t)));
    let expected = RESPONDER_ACTIONS
        .iter()
        .chain(PLATFORM_ACTIONS)
        .map(|a| a.to_string())
        .collect();
    assert_same_actions(
        "template.yaml function role vs permissions::RESPONDER_ACTIONS (+ Lambda platform actions)",
        &granted,
        &expected,
    );
}

#[test]
fn member_role_grants_exactly_the_member_actions() {
    let t = member();
    let granted = allowed_actions(&role_statements(&t, &member_role_id(&t)));
    let expected = MEMBER_ACTIONS.iter().map(|a| a.to_string()).collect();
    assert_same_actions(
        "member-role.yaml role vs permissions::MEMBER_ACTIONS",
        &granted,
        &expected,
    );
}

#[test]
fn allow_statements_name_their_actions() {
    for t in [administrator(), member()] {
        let role = if t.name == "template.yaml" {
            function_role_id(&t)
        } else {
            member_role_id(&t)
        };
        for s in role_statements(&t, &role)
            .iter()
            .filter(|s| s.effect == "Allow")
        {
            assert!(
                !s.has_not_action,
                "{}: Allow with NotAction/NotResource grants unknown actions",
                s.origin
            );
            assert!(
                s.actions.iter().all(|a| !a.contains('*')),
                "{}: wildcard action in {:?}; name each action",
                s.origin,
                s.actions
            );
        }
    }
}

#[test]
fn sns_publish_only_on_the_report_topic() {
    let t = administrator();
    let statements = role_statements(&t, &function_role_id(&t));
    let publishing: Vec<_> = statements
        .iter()
        .filter(|s| s.effect == "Allow" && s.actions.iter().any(|a| a == "sns:Publish"))
        .collect();
    assert!(!publishing.is_empty(), "sns:Publish is not granted");
    for s in publishing {
        assert!(
            !s.resources.is_empty(),
            "{}: sns:Publish without Resource",
            s.origin
        );
        for r in &s.resources {
            let topic = ref_target(r)
                .unwrap_or_else(|| panic!("{}: sns:Publish on {r:?}, not !Ref <topic>", s.origin));
            // The chat topic is the operator's (the chat client subscribes to it): granted only
            // when the parameter is set, and it is what CHAT_TOPIC_ARN carries.
            if topic == "ChatTopicArn" {
                assert_eq!(
                    s.guards,
                    ["HasChatTopic"],
                    "{}: sns:Publish on the chat topic only when ChatTopicArn is set",
                    s.origin
                );
                assert_eq!(
                    function_env(&t).get("CHAT_TOPIC_ARN").and_then(ref_target),
                    Some("ChatTopicArn")
                );
                continue;
            }
            assert_eq!(
                type_of(t.resource(topic)),
                Some("AWS::SNS::Topic"),
                "{}: sns:Publish on {topic}, which is not a topic of this stack",
                s.origin
            );
        }
    }
    // The function publishes to that same topic.
    let env = function_env(&t);
    let target = env
        .get("SNS_TOPIC_ARN")
        .and_then(ref_target)
        .expect("SNS_TOPIC_ARN is !Ref <topic>");
    assert_eq!(type_of(t.resource(target)), Some("AWS::SNS::Topic"));
}

#[test]
fn pass_role_only_to_ec2() {
    for t in [administrator(), member()] {
        let role = if t.name == "template.yaml" {
            function_role_id(&t)
        } else {
            member_role_id(&t)
        };
        let statements = role_statements(&t, &role);
        let passing: Vec<_> = statements
            .iter()
            .filter(|s| s.effect == "Allow" && s.actions.iter().any(|a| a == "iam:PassRole"))
            .collect();
        assert!(
            !passing.is_empty(),
            "{}: iam:PassRole is not granted",
            t.name
        );
        for s in passing {
            assert_eq!(
                s.actions,
                ["iam:PassRole"],
                "{}: give iam:PassRole a statement of its own (its condition would block the others)",
                s.origin
            );
            let services: Vec<_> =
                condition_values(s.condition, "StringEquals", "iam:PassedToService")
                    .into_iter()
                    .map(|v| plain_str(v).unwrap_or_default())
                    .collect();
            // The instance's own role to EC2 (re-association), or the follow-up role, and only
            // it, to EventBridge Scheduler (the one-time schedule of the next CloudTrail look).
            let to_scheduler = services == ["scheduler.amazonaws.com"];
            if to_scheduler {
                assert_eq!(t.name, "template.yaml", "{}", s.origin);
                let only_follow_up_role = s.resources.len() == 1
                    && get_att(s.resources[0])
                        .is_some_and(|(r, a)| r == "FollowUpSchedulerRole" && a == "Arn");
                assert!(
                    only_follow_up_role,
                    "{}: iam:PassRole to scheduler.amazonaws.com only on FollowUpSchedulerRole",
                    s.origin
                );
                continue;
            }
            assert_eq!(
                services,
                ["ec2.amazonaws.com"],
                "{}: iam:PassRole needs Condition StringEquals iam:PassedToService: ec2.amazonaws.com",
                s.origin
            );
        }
    }
}

#[test]
fn assume_role_only_on_the_member_role_and_only_when_configured() {
    let t = administrator();
    let statements = role_statements(&t, &function_role_id(&t));
    let assuming: Vec<_> = statements
        .iter()
        .filter(|s| s.effect == "Allow" && s.actions.iter().any(|a| a == "sts:AssumeRole"))
        .collect();
    assert!(!assuming.is_empty(), "sts:AssumeRole is not granted");
    let conditions = t.section("Conditions");
    // The fire drill (issue 23) assumes its canary, DrillRole, and nothing else.
    let (drill, assuming): (Vec<_>, Vec<_>) = assuming.into_iter().partition(|s| {
        s.resources
            .iter()
            .any(|r| symbolic(r) == "${DrillRole.Arn}")
    });
    for s in &drill {
        assert!(
            s.resources
                .iter()
                .all(|r| symbolic(r) == "${DrillRole.Arn}"),
            "{}: the drill's sts:AssumeRole is on DrillRole only",
            s.origin
        );
    }
    assert_eq!(drill.len(), 1, "one statement assumes the drill's canary");
    for s in assuming {
        assert!(
            !s.resources.is_empty(),
            "{}: sts:AssumeRole without Resource",
            s.origin
        );
        for r in &s.resources {
            let arn = symbolic(r);
            assert!(
                arn != "*" && arn.ends_with(":role/${MemberRoleName}"),
                "{}: sts:AssumeRole on {arn}; expected arn:…:iam::*:role/${{MemberRoleName}}",
                s.origin
            );
        }
        let guarded_by_member_role = s.guards.iter().any(|g| {
            let definition = conditions
                .get(g.as_str())
                .unwrap_or_else(|| panic!("no condition {g}"));
            serde_yaml::to_string(definition)
                .expect("serializable")
                .contains("MemberRoleName")
        });
        assert!(
            guarded_by_member_role,
            "{}: sts:AssumeRole must only be granted when MemberRoleName is set (guards: {:?})",
            s.origin, s.guards
        );
    }
}

fn assert_denies_own_policy_writes(t: &Template, role_id: &str) {
    let role = t.resource(role_id);
    let name = props(role)
        .get("RoleName")
        .map(symbolic)
        .unwrap_or_else(|| {
            panic!(
                "{}: {role_id} needs an explicit RoleName so its policy can name it",
                t.name
            )
        });
    let own_arn = format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{name}");
    let statements = role_statements(t, role_id);
    let denied: BTreeSet<&str> = statements
        .iter()
        .filter(|s| {
            s.effect == "Deny"
                && s.guards.is_empty()
                && s.resources.iter().any(|r| symbolic(r) == own_arn)
        })
        .flat_map(|s| s.actions.iter().map(String::as_str))
        .collect();
    let missing: Vec<_> = SELF_POLICY_WRITES
        .iter()
        .filter(|a| !denied.contains(**a))
        .collect();
    assert!(
        missing.is_empty(),
        "{}: {role_id} must Deny policy writes on itself ({own_arn}); not denied: {missing:?}",
        t.name
    );
}

#[test]
fn function_role_cannot_rewrite_itself() {
    let t = administrator();
    assert_denies_own_policy_writes(&t, &function_role_id(&t));
}

#[test]
fn member_role_cannot_rewrite_itself() {
    let t = member();
    assert_denies_own_policy_writes(&t, &member_role_id(&t));
}

#[test]
fn member_role_trusts_only_the_responder_role() {
    let t = member();
    let role = t.resource(&member_role_id(&t));
    let trust = props(role)
        .get("AssumeRolePolicyDocument")
        .expect("trust policy");
    let statements = statements(trust, "member-role.yaml trust policy", &[]);
    let mut with_external_id = false;
    for s in statements.iter().filter(|s| s.effect == "Allow") {
        assert_eq!(s.actions, ["sts:AssumeRole"], "{}", s.origin);
        for (condition, _) in
            alternatives(s.condition.expect("the trust policy has a condition"), &[])
        {
            let principals: Vec<_> =
                condition_values(Some(condition), "ArnEquals", "aws:PrincipalArn")
                    .into_iter()
                    .map(symbolic)
                    .collect();
            assert_eq!(
                principals,
                ["arn:${AWS::Partition}:iam::${AdministratorAccountId}:role/${ResponderRoleName}"],
                "{}: trust must be limited to the responder role",
                s.origin
            );
            with_external_id |=
                !condition_values(Some(condition), "StringEquals", "sts:ExternalId").is_empty();
        }
    }
    assert!(
        with_external_id,
        "member-role.yaml: no sts:ExternalId condition for when ExternalId is given"
    );
}

#[test]
fn rule_sends_guardduty_findings_above_a_severity_to_the_function() {
    let t = administrator();
    let (function_id, _) = t.single("AWS::Serverless::Function");
    let rules: Vec<_> = t
        .resources()
        .filter(|(_, r)| type_of(r) == Some("AWS::Events::Rule"))
        .filter(|(_, r)| {
            props(r)
                .get("Targets")
                .and_then(Value::as_sequence)
                .is_some_and(|ts| {
                    ts.iter().any(|x| {
                        x.get("Arn")
                            .and_then(get_att)
                            .is_some_and(|(id, _)| id == function_id)
                    })
                })
        })
        // The Security Hub custom-action rule is optional (its own test, below).
        .filter(|(_, r)| r.get("Condition").is_none())
        .collect();
    assert_eq!(
        rules.len(),
        1,
        "expected one unconditional EventBridge rule targeting the function"
    );
    let (rule_id, rule) = rules[0];

    // What the pattern matches once CloudFormation has resolved it (MinSeverity, FindingTypes,
    // the built-in branch) is checked on the deployed rule with fakecloud's pattern engine:
    // tests/deployed_stack.rs `the_deployed_rules_pass_on_credential_findings_only`.
    assert!(
        props(rule).get("EventPattern").is_some(),
        "{rule_id}: no EventPattern"
    );

    // EventBridge may invoke the function, from this rule only.
    let allowed = t.resources().any(|(_, r)| {
        type_of(r) == Some("AWS::Lambda::Permission")
            && props(r).get("Principal").and_then(Value::as_str) == Some("events.amazonaws.com")
            && props(r)
                .get("SourceArn")
                .and_then(get_att)
                .is_some_and(|(id, _)| id == rule_id)
    });
    assert!(
        allowed,
        "no AWS::Lambda::Permission for events.amazonaws.com with SourceArn of {rule_id}"
    );
}

#[test]
fn security_hub_custom_action_rule_only_when_asked() {
    let t = administrator();
    let (function_id, _) = t.single("AWS::Serverless::Function");
    let (action_id, action) = t.single("AWS::SecurityHub::ActionTarget");
    assert_eq!(
        action.get("Condition").and_then(Value::as_str),
        Some("HasSecurityHubCustomAction")
    );
    assert_eq!(
        t.parameter_default("SecurityHubCustomAction").as_deref(),
        Some("false")
    );
    let rule = t.resource("CustomActionRule");
    assert_eq!(
        rule.get("Condition").and_then(Value::as_str),
        Some("HasSecurityHubCustomAction")
    );
    let pattern = props(rule).get("EventPattern").expect("EventPattern");
    assert_eq!(pattern["source"][0].as_str(), Some("aws.securityhub"));
    assert_eq!(
        pattern["detail-type"][0].as_str(),
        Some(session_revoker::input::SECURITY_HUB_DETAIL_TYPES[1])
    );
    assert_eq!(
        get_att(&pattern["resources"][0]),
        Some((action_id.to_string(), "ActionTargetArn".to_string())),
        "only the findings a person chose this action for"
    );
    let targets = props(rule)["Targets"].as_sequence().expect("Targets");
    assert!(targets.iter().all(|x| x
        .get("Arn")
        .and_then(get_att)
        .is_some_and(|(id, _)| id == function_id)));
    let permitted = t.resources().any(|(_, r)| {
        type_of(r) == Some("AWS::Lambda::Permission")
            && r.get("Condition").and_then(Value::as_str) == Some("HasSecurityHubCustomAction")
            && props(r)
                .get("SourceArn")
                .and_then(get_att)
                .is_some_and(|(id, _)| id == "CustomActionRule")
    });
    assert!(
        permitted,
        "no conditional AWS::Lambda::Permission for CustomActionRule"
    );
}

#[test]
fn function_environment_sets_every_variable() {
    let t = administrator();
    let env = function_env(&t);
    let set: BTreeSet<&str> = env
        .keys()
        .map(|k| k.as_str().expect("variable names are strings"))
        .collect();
    let expected: BTreeSet<&str> = FUNCTION_VARIABLES.iter().map(|(v, _)| *v).collect();
    // The table above is every variable the code reads: Config's plus the logging ones.
    let read_by_code: BTreeSet<&str> = session_revoker::config::VARIABLES
        .iter()
        .map(|(v, _)| *v)
        .chain(["LOG_FORMAT", "RUST_LOG"])
        .collect();
    assert_eq!(
        expected, read_by_code,
        "FUNCTION_VARIABLES is out of date with config::VARIABLES"
    );
    let missing: Vec<_> = expected.difference(&set).collect();
    let unknown: Vec<_> = set.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "function environment: missing {missing:?}, not read by the function {unknown:?}"
    );

    for (variable, parameter) in FUNCTION_VARIABLES {
        let Some(parameter) = parameter else { continue };
        assert!(
            t.parameter(parameter).is_some(),
            "no parameter {parameter} for {variable}"
        );
        let text = serde_yaml::to_string(&env[*variable]).expect("serializable");
        assert!(
            text.contains(parameter),
            "{variable} is not set from parameter {parameter}: {text}"
        );
    }
    assert_eq!(
        env.get("RESPONDER_ROLE_ARN").and_then(get_att),
        Some((function_role_id(&t), "Arn".to_string())),
        "RESPONDER_ROLE_ARN must be the function role's ARN, so the function never revokes itself"
    );
    assert_eq!(env.get("LOG_FORMAT").and_then(plain_str), Some("json"));

    // Parameter defaults and the code's defaults (`config::VARIABLES`) agree. The template
    // differs on purpose for PROTECTED_ROLES (it protects the organization's access roles),
    // FINDING_TYPES (the rule needs the list spelled out), MIN_SEVERITY and CHAIN_DEPTH
    // (numbers) and VERIFY_FINDINGS (on in a deployment, off for local runs against an
    // emulator that serves no GuardDuty).
    let differ_on_purpose = [
        "PROTECTED_ROLES",
        "FINDING_TYPES",
        "MIN_SEVERITY",
        "CHAIN_DEPTH",
        "VERIFY_FINDINGS",
        // The canary member-role.yaml creates by default; unset, members are reported not ready.
        "DRILL_ROLE_NAME",
    ];
    for (variable, default) in session_revoker::config::VARIABLES {
        let parameter = FUNCTION_VARIABLES
            .iter()
            .find(|(v, _)| v == variable)
            .and_then(|(_, p)| *p);
        if let (Some(parameter), false) = (parameter, differ_on_purpose.contains(variable)) {
            assert_eq!(
                t.parameter_default(parameter).as_deref(),
                Some(*default),
                "default of {parameter} ({variable})"
            );
        }
    }
    let severity: f64 = t
        .parameter_default("MinSeverity")
        .expect("default")
        .parse()
        .expect("number");
    assert_eq!(severity, 4.0, "default of MinSeverity (MIN_SEVERITY)");
}

#[test]
fn dry_run_parameter_exists() {
    let t = administrator();
    let dry_run = t
        .parameter("DryRun")
        .expect("template.yaml has a DryRun parameter");
    let allowed: Vec<_> = dry_run
        .get("AllowedValues")
        .and_then(Value::as_sequence)
        .expect("DryRun has AllowedValues")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(allowed, ["true", "false"]);
    assert_eq!(ref_target(&function_env(&t)["DRY_RUN"]), Some("DryRun"));
}
