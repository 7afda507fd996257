//! GuardDuty finding types that mean "these credentials are in the wrong hands".

/// Acted on by default (see `../shared/DESIGN.md`); `FINDING_TYPES` replaces the list.
pub const DEFAULT_FINDING_TYPES: &[&str] = &[
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
    "UnauthorizedAccess:IAMUser/ResourceCredentialExfiltration.OutsideAWS",
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller",
    "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom",
    "UnauthorizedAccess:IAMUser/TorIPCaller",
    "Recon:IAMUser/MaliciousIPCaller",
    "Recon:IAMUser/MaliciousIPCaller.Custom",
    "Recon:IAMUser/TorIPCaller",
    "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
    "Exfiltration:IAMUser/AnomalousBehavior",
    "Impact:IAMUser/AnomalousBehavior",
    "CredentialAccess:IAMUser/AnomalousBehavior",
    "DefenseEvasion:IAMUser/AnomalousBehavior",
    "InitialAccess:IAMUser/AnomalousBehavior",
    "Persistence:IAMUser/AnomalousBehavior",
    "PrivilegeEscalation:IAMUser/AnomalousBehavior",
    "Discovery:IAMUser/AnomalousBehavior",
    "PenTest:IAMUser/KaliLinux",
    "PenTest:IAMUser/ParrotLinux",
    "PenTest:IAMUser/PentooLinux",
    // Attack sequences (Critical) that name the credentials used: each credential is an
    // incident of its own (`input::sequence`).
    "AttackSequence:IAM/CompromisedCredentials",
    "AttackSequence:S3/CompromisedData",
];

/// Attack sequences whose credentials this tool contains (each one like a finding of its own).
pub fn is_credential_sequence(finding_type: &str) -> bool {
    finding_type == "AttackSequence:IAM/CompromisedCredentials"
        || finding_type == "AttackSequence:S3/CompromisedData"
}

/// Finding types whose credentials sit on an EC2 instance (or other resource) GuardDuty names.
pub fn is_instance_exfiltration(finding_type: &str) -> bool {
    finding_type.starts_with("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.")
}

/// Known types that this tool recognises but cannot answer with a revocation, and why.
pub fn known_not_revocable(finding_type: &str) -> Option<&'static str> {
    if finding_type == "Policy:IAMUser/RootCredentialUsage"
        || finding_type == "Policy:IAMUser/ShortTermRootCredentialUsage"
    {
        Some("root credentials cannot be revoked through the IAM API; follow the root-credential steps")
    } else if finding_type.starts_with("Stealth:IAMUser/") {
        Some("a configuration change (logging, password policy), not a stolen session by itself: review it")
    } else if finding_type.starts_with("AttackSequence:") && !is_credential_sequence(finding_type) {
        Some("an attack sequence of workloads (clusters, instances), not of stolen credentials: review its signals and revoke by hand or with a manual request")
    } else {
        None
    }
}
