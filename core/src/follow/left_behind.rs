//! One persistence record read into a [`Persistence`], every attacker-chosen value validated.
//!
//! Field names (CloudTrail records the API's request parameters in lower camel case, and the
//! response's elements likewise; IAM, STS, EC2 and Lambda API references):
//! - IAM: `userName`, `roleName`, `groupName`, `policyArn`, `policyName`, `instanceProfileName`;
//!   `UpdateAccessKey {accessKeyId, status}`; `CreatePolicyVersion {policyArn, setAsDefault}` →
//!   `policyVersion.versionId`; `SetDefaultPolicyVersion {policyArn, versionId}`;
//!   `CreateSAMLProvider {name}` → `sAMLProviderArn`; `UpdateSAMLProvider {sAMLProviderArn}`;
//!   `CreateOpenIDConnectProvider {url}` → `openIDConnectProviderArn`; the OIDC updates
//!   `{openIDConnectProviderArn}`; `UploadSSHPublicKey` → `sSHPublicKey.sSHPublicKeyId`;
//!   `CreateServiceSpecificCredential` → `serviceSpecificCredential.serviceSpecificCredentialId`;
//!   `UploadSigningCertificate` → `certificate.certificateId`; `CreateVirtualMFADevice` →
//!   `virtualMFADevice.serialNumber`; `EnableMFADevice {userName, serialNumber}`.
//! - STS `AssumeRoot {targetPrincipal, taskPolicyArn}` → `credentials.accessKeyId`.
//! - EC2 `RunInstances {iamInstanceProfile {arn | name}}` → `instancesSet.items[].instanceId`.
//! - Lambda `CreateFunction20150331` / `UpdateFunctionConfiguration20150331v2`
//!   `{functionName, role}`.
//!
//! `Ok(None)`: the call is not persistence after all (a key made inactive, instances started
//! with no role). `Err`: a person looks (a name that does not validate never reaches a command).

use super::event::{iam_arn_parts, is_access_key_id, is_policy_arn, is_profile_name, text};
use super::persistence::Persistence;
use crate::names;
use serde_json::Value;

/// Letters and digits, within `range` characters: IAM's ids of SSH keys (`APKA…`), service
/// credentials (`ACCA…`), signing certificates.
fn is_plain_alnum(s: &str, range: std::ops::RangeInclusive<usize>) -> bool {
    range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `arn:<partition>:iam::<account>:<kind>/<rest>` with `rest` in `[A-Za-z0-9._/:-]` (SAML and
/// OIDC provider names, OIDC hosts with paths, MFA device paths).
fn is_iam_arn_of(s: &str, kind: &str) -> bool {
    let Some((account, resource)) = iam_arn_parts(s) else {
        return false;
    };
    let Some(rest) = resource
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    names::is_account_id(account)
        && (1..=512).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-+=,@".contains(&b))
        && !rest.contains("//")
}

/// An MFA serial: a virtual device's ARN, or a hardware token's serial (letters, digits, `=,.@:/-`).
fn is_mfa_serial(s: &str) -> bool {
    is_iam_arn_of(s, "mfa")
        || ((9..=256).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=,.@:/-".contains(&b)))
}

/// A policy version id: `v1` … `v99999`.
fn is_version_id(s: &str) -> bool {
    s.strip_prefix('v')
        .is_some_and(|n| (1..=5).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A Lambda function: its name (`[A-Za-z0-9_-]{1,64}`) or its ARN (the name is taken from it).
fn function_name(s: &str) -> Option<&str> {
    let name = match s.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [_, "lambda", region, account, "function", name]
                | [_, "lambda", region, account, "function", name, _]
                    if names::is_region(region) && names::is_account_id(account) =>
                {
                    *name
                }
                _ => return None,
            }
        }
        None => s,
    };
    ((1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(name)
}

fn need<T>(v: Option<T>, what: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{what} missing or not valid"))
}

/// Reads the record of persistence event `name` (one of `KNOWN`'s) made in `region`.
pub(super) fn persistence(
    record: &Value,
    name: &str,
    region: Option<&str>,
) -> Result<Option<Persistence>, String> {
    let req = |field: &str| text(record, &["requestParameters", field]);
    let resp = |path: &[&str]| {
        let mut full = vec!["responseElements"];
        full.extend_from_slice(path);
        text(record, &full)
    };
    // The caller itself, when an IAM user acts on its own credentials (no `userName` sent).
    let own_user = || {
        (text(record, &["userIdentity", "type"]) == Some("IAMUser"))
            .then(|| text(record, &["userIdentity", "userName"]))
            .flatten()
    };
    let user_of = |v: Option<&str>| -> Result<String, String> {
        v.filter(|u| names::is_valid_user_name(u))
            .map(str::to_string)
            .ok_or_else(|| "user name missing or not an IAM user name".to_string())
    };
    let user = || user_of(req("userName"));
    let named = |field: &str, kind: &str| -> Result<String, String> {
        req(field)
            .filter(|r| names::is_valid_role_name(r))
            .map(str::to_string)
            .ok_or_else(|| format!("{field} missing or not an IAM {kind} name"))
    };
    let role = || named("roleName", "role");
    let group = || named("groupName", "group");
    let policy_name = || named("policyName", "policy");
    let policy_arn = || {
        req("policyArn")
            .filter(|a| is_policy_arn(a))
            .map(str::to_string)
            .ok_or_else(|| "policyArn missing or not a policy ARN".to_string())
    };
    let profile = || {
        need(
            req("instanceProfileName")
                .filter(|p| is_profile_name(p))
                .map(str::to_string),
            "instanceProfileName",
        )
    };
    let in_region = || need(region.map(str::to_string), "awsRegion (a region name)");
    let alnum = |v: Option<&str>, what: &str| {
        need(
            v.filter(|k| is_plain_alnum(k, 16..=128))
                .map(str::to_string),
            what,
        )
    };
    let provider = |v: Option<&str>, kind: &str| {
        need(
            v.filter(|a| is_iam_arn_of(a, kind)).map(str::to_string),
            &format!("the {kind} ARN"),
        )
    };
    use Persistence::*;
    Ok(Some(match name {
        "CreateAccessKey" => {
            // The key's owner: the response names it; a principal creating its own key sends no
            // userName; only an IAM user can own one besides root.
            let owner = resp(&["accessKey", "userName"])
                .or(req("userName"))
                .or_else(own_user);
            let key = resp(&["accessKey", "accessKeyId"])
                .filter(|k| is_access_key_id(k))
                .ok_or("responseElements.accessKey.accessKeyId is not an access key id")?;
            AccessKey {
                user: user_of(owner).map_err(|_| {
                    "the new key's owner is not an IAM user name (a root key: by hand)".to_string()
                })?,
                access_key_id: key.to_string(),
            }
        }
        "UpdateAccessKey" => {
            if !req("status").is_some_and(|s| s.eq_ignore_ascii_case("Active")) {
                return Ok(None);
            }
            AccessKeyActivated {
                user: user_of(req("userName").or_else(own_user)).map_err(|_| {
                    "the key's owner is not an IAM user name (a root key: by hand)".to_string()
                })?,
                access_key_id: need(
                    req("accessKeyId")
                        .filter(|k| is_access_key_id(k))
                        .map(str::to_string),
                    "accessKeyId",
                )?,
            }
        }
        "CreateUser" => User { user: user()? },
        "CreateLoginProfile" => LoginProfile {
            user: user_of(req("userName").or(resp(&["loginProfile", "userName"])))?,
        },
        "UpdateLoginProfile" => LoginProfileUpdated { user: user()? },
        "AttachUserPolicy" => UserPolicyAttached {
            user: user()?,
            policy_arn: policy_arn()?,
        },
        "PutUserPolicy" => UserInlinePolicy {
            user: user()?,
            policy_name: policy_name()?,
        },
        "AddUserToGroup" => UserAddedToGroup {
            user: user()?,
            group: group()?,
        },
        "AttachGroupPolicy" => GroupPolicyAttached {
            group: group()?,
            policy_arn: policy_arn()?,
        },
        "PutGroupPolicy" => GroupInlinePolicy {
            group: group()?,
            policy_name: policy_name()?,
        },
        "CreatePolicyVersion" => PolicyVersionCreated {
            policy_arn: policy_arn()?,
            version: resp(&["policyVersion", "versionId"])
                .filter(|v| is_version_id(v))
                .map(str::to_string),
            default: record["requestParameters"]["setAsDefault"].as_bool() == Some(true)
                || resp(&["policyVersion", "isDefaultVersion"]) == Some("true")
                || record["responseElements"]["policyVersion"]["isDefaultVersion"].as_bool()
                    == Some(true),
        },
        "SetDefaultPolicyVersion" => DefaultPolicyVersionSet {
            policy_arn: policy_arn()?,
            version: need(
                req("versionId")
                    .filter(|v| is_version_id(v))
                    .map(str::to_string),
                "versionId",
            )?,
        },
        "CreateRole" => Role { role: role()? },
        "UpdateAssumeRolePolicy" => TrustPolicyUpdated { role: role()? },
        "AttachRolePolicy" => RolePolicyAttached {
            role: role()?,
            policy_arn: policy_arn()?,
        },
        "PutRolePolicy" => RoleInlinePolicy {
            role: role()?,
            policy_name: policy_name()?,
        },
        "CreateInstanceProfile" => InstanceProfile {
            profile: profile()?,
        },
        "AddRoleToInstanceProfile" => RoleAddedToProfile {
            profile: profile()?,
            role: role()?,
        },
        "CreateSAMLProvider" => SamlProvider {
            arn: provider(resp(&["sAMLProviderArn"]), "saml-provider")?,
            created: true,
        },
        "UpdateSAMLProvider" => SamlProvider {
            arn: provider(req("sAMLProviderArn"), "saml-provider")?,
            created: false,
        },
        "CreateOpenIDConnectProvider" => OidcProvider {
            arn: provider(resp(&["openIDConnectProviderArn"]), "oidc-provider")?,
            created: true,
        },
        "UpdateOpenIDConnectProviderThumbprint" | "AddClientIDToOpenIDConnectProvider" => {
            OidcProvider {
                arn: provider(req("openIDConnectProviderArn"), "oidc-provider")?,
                created: false,
            }
        }
        "UploadSSHPublicKey" => SshPublicKey {
            user: user()?,
            key_id: alnum(resp(&["sSHPublicKey", "sSHPublicKeyId"]), "sSHPublicKeyId")?,
        },
        "CreateServiceSpecificCredential" => ServiceSpecificCredential {
            user: user()?,
            credential_id: alnum(
                resp(&["serviceSpecificCredential", "serviceSpecificCredentialId"]),
                "serviceSpecificCredentialId",
            )?,
        },
        "UploadSigningCertificate" => SigningCertificate {
            user: user_of(
                req("userName")
                    .or(resp(&["certificate", "userName"]))
                    .or_else(own_user),
            )?,
            certificate_id: alnum(resp(&["certificate", "certificateId"]), "certificateId")?,
        },
        "CreateVirtualMFADevice" => MfaDevice {
            user: None,
            serial: need(
                resp(&["virtualMFADevice", "serialNumber"])
                    .filter(|s| is_mfa_serial(s))
                    .map(str::to_string),
                "virtualMFADevice.serialNumber",
            )?,
        },
        "EnableMFADevice" => MfaDevice {
            user: Some(user()?),
            serial: need(
                req("serialNumber")
                    .filter(|s| is_mfa_serial(s))
                    .map(str::to_string),
                "serialNumber",
            )?,
        },
        "AssumeRoot" => RootSession {
            account: need(
                req("targetPrincipal")
                    .filter(|a| names::is_account_id(a))
                    .map(str::to_string),
                "targetPrincipal (an account id)",
            )?,
            access_key_id: resp(&["credentials", "accessKeyId"])
                .filter(|k| is_access_key_id(k))
                .map(str::to_string),
        },
        "RunInstances" => {
            let spec = &record["requestParameters"]["iamInstanceProfile"];
            let by_name = text(spec, &["name"]).map(str::to_string);
            let by_arn = text(spec, &["arn"]).map(|arn| {
                arn.rsplit_once(":instance-profile/")
                    .map(|(_, p)| p.rsplit('/').next().unwrap_or(p).to_string())
                    .unwrap_or_default()
            });
            let Some(profile) = by_name.or(by_arn) else {
                // No role passed: not a foothold through iam:PassRole.
                return Ok(None);
            };
            if !is_profile_name(&profile) {
                return Err("iamInstanceProfile is not a valid instance profile".into());
            }
            let instance_ids: Vec<String> = record["responseElements"]["instancesSet"]["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| text(i, &["instanceId"]))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if instance_ids.is_empty() || !instance_ids.iter().all(|i| names::is_instance_id(i)) {
                return Err("instancesSet holds no valid instance id".into());
            }
            Instances {
                region: in_region()?,
                instance_ids,
                profile,
            }
        }
        "CreateFunction20150331"
        | "CreateFunction"
        | "UpdateFunctionConfiguration20150331v2"
        | "UpdateFunctionConfiguration" => {
            let Some(role_arn) = req("role") else {
                // A configuration change that passes no role.
                return Ok(None);
            };
            if names::parse_role_arn(role_arn).is_none() {
                return Err("role is not a role ARN".into());
            }
            Function {
                region: in_region()?,
                function: need(
                    req("functionName")
                        .and_then(function_name)
                        .map(str::to_string),
                    "functionName",
                )?,
                role_arn: role_arn.to_string(),
                created: name.starts_with("CreateFunction"),
            }
        }
        other => return Err(format!("{other} is not a persistence event")),
    }))
}
