use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_match_the_readme() {
    let c = Config::from_vars(&HashMap::new()).unwrap();
    assert!(!c.dry_run);
    assert_eq!(c.cutoff_margin_seconds, 30);
    assert_eq!(c.min_severity, 4.0);
    assert_eq!(c.revoke_scope, RevokeScope::Auto);
    assert_eq!(c.chain_depth, 3);
    assert_eq!(c.max_finding_age_hours, 36);
    assert_eq!(c.contain_persistence, ContainPersistence::Report);
    assert!(!c.verify_findings);
    assert!(c.identity_center_instance_arn.is_none());
    assert!(c.acts_on_type("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"));
    assert!(!c.acts_on_type("Recon:EC2/PortProbeUnprotectedPort"));
    assert!(!c.acts_on_type("Policy:IAMUser/RootCredentialUsage"));
}

#[test]
fn bad_values_name_the_variable() {
    for (name, value) in [
        ("DRY_RUN", "maybe"),
        ("CUTOFF_MARGIN_SECONDS", "-5"),
        ("CUTOFF_MARGIN_SECONDS", "3600"),
        ("MIN_SEVERITY", "eleven"),
        ("REVOKE_SCOPE", "account"),
        ("SNS_TOPIC_ARN", "my-topic"),
        ("PROTECTED_ROLES", "admin[*"),
        ("ALLOWED_ACCOUNTS", "12345"),
        ("RESPONDER_ROLE_ARN", "responder"),
        ("CHAIN_DEPTH", "7"),
        ("MAX_FINDING_AGE_HOURS", "12"),
        ("CHAIN_DEPTH", "deep"),
        ("CONTAIN_PERSISTENCE", "delete"),
        ("TRAIL_REGIONS", "us-east-1,eu west 1"),
        ("PERSISTENCE_LOOKBACK", "0"),
        ("PERSISTENCE_LOOKBACK", "91d"),
        ("PERSISTENCE_LOOKBACK", "a week"),
        ("FOLLOW_UP_SCHEDULER_ROLE_ARN", "scheduler"),
        ("DRILL_ROLE_ARN", "canary"),
        ("DRILL_MAX_WAIT_SECONDS", "0"),
        ("DRILL_MAX_WAIT_SECONDS", "601"),
        ("APPROVAL_REQUIRED", "sometimes"),
        ("APPROVAL_REQUIRED", "true"),
        ("APPROVAL_TTL", "0"),
        ("APPROVAL_TTL", "169h"),
        ("APPROVAL_TTL", "1d"),
        (
            "IDENTITY_CENTER_INSTANCE_ARN",
            "arn:aws:sso:::instance/ssoins-xyz",
        ),
    ] {
        let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
        assert_eq!(err.variable, name, "{err}");
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn trail_regions_and_persistence_lookback() {
    let d = Config::default();
    assert!(d.trail_regions.is_empty());
    assert_eq!(d.persistence_lookback_days, 7);
    let c = Config::from_vars(&vars(&[
        ("TRAIL_REGIONS", " eu-west-1, ap-southeast-2 ,"),
        ("PERSISTENCE_LOOKBACK", "90d"),
    ]))
    .unwrap();
    assert_eq!(c.trail_regions, vec!["eu-west-1", "ap-southeast-2"]);
    assert_eq!(c.persistence_lookback_days, 90);
}

#[test]
fn approval_settings() {
    let d = Config::default();
    assert_eq!(d.approval_required, ApprovalMode::Never);
    assert_eq!(d.approval_ttl_hours, 24);
    let c = Config::from_vars(&vars(&[
        ("APPROVAL_REQUIRED", "Role-Wide"),
        ("APPROVAL_TTL", "4h"),
    ]))
    .unwrap();
    assert_eq!(c.approval_required, ApprovalMode::RoleWide);
    assert_eq!(c.approval_ttl_hours, 4);
    let c = Config::from_vars(&vars(&[
        ("APPROVAL_REQUIRED", "always"),
        ("APPROVAL_TTL", "168"),
    ]))
    .unwrap();
    assert_eq!(
        (c.approval_required, c.approval_ttl_hours),
        (ApprovalMode::Always, 168)
    );
    let e = Config::from_vars(&vars(&[("APPROVAL_REQUIRED", "yes")])).unwrap_err();
    assert!(e.to_string().contains("never, role-wide or always"), "{e}");
}

#[test]
fn drill_settings() {
    let c = Config::default();
    assert_eq!(c.drill_role_arn, None);
    assert_eq!(c.drill_max_wait_seconds, 300);
    let c = Config::from_vars(&vars(&[
        ("DRILL_ROLE_ARN", "arn:aws:iam::123456789012:role/canary"),
        ("DRILL_MAX_WAIT_SECONDS", "60"),
    ]))
    .unwrap();
    assert_eq!(
        c.drill_role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/canary")
    );
    assert_eq!(c.drill_max_wait_seconds, 60);
}

#[test]
fn protected_roles_match_name_or_arn() {
    let c = Config::from_vars(&vars(&[(
        "PROTECTED_ROLES",
        "BreakGlass*, arn:aws:iam::*:role/admin/*",
    )]))
    .unwrap();
    assert!(c.protecting_pattern("BreakGlassAdmin", None).is_some());
    assert!(c
        .protecting_pattern("Ops", Some("arn:aws:iam::111122223333:role/admin/Ops"))
        .is_some());
    assert!(c
        .protecting_pattern("Ops", Some("arn:aws:iam::111122223333:role/Ops"))
        .is_none());
}

#[test]
fn finding_types_accept_globs() {
    let c = Config::from_vars(&vars(&[("FINDING_TYPES", "*:IAMUser/AnomalousBehavior")])).unwrap();
    assert!(c.acts_on_type("Impact:IAMUser/AnomalousBehavior"));
    assert!(!c.acts_on_type("UnauthorizedAccess:IAMUser/TorIPCaller"));
}
