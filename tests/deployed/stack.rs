//! A stack as deployed: the project's templates through AWS's SAM transform (`samtranslator`)
//! and fakecloud's CloudFormation (`tools/deployed/deploy.py`), the roles it created, their
//! policies read back from fakecloud, and the calls the tests cannot make with the Rust SDKs
//! they have (Lambda, EventBridge: `tools/deployed/call.py`, boto3).
//!
//! What the tests change in a deployed stack, and only for the test: the trust policy of a role
//! they need credentials of (the function role, the scheduler role) gets one more statement
//! letting the test's operator assume it, because the principal that really assumes it (Lambda,
//! EventBridge Scheduler) is a service this emulator does not run. The role's identity policies,
//! which are what a call made with its credentials is judged by, are left exactly as deployed;
//! the original trust statements stay and are judged on their own (iam-simulate, and fakecloud
//! for the member role's trust, which the function role's real session assumes).

use crate::drills::fakecloud::{decode, endpoint, nonce, Cloud, Creds, Role, ACCOUNT, REGION};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The SAM virtualenv's Python (samtranslator and boto3), or the test fails saying how to get it.
fn python() -> PathBuf {
    let p = root().join(".venv-sam/bin/python");
    assert!(
        p.exists(),
        "{} is missing: the deployed-stack tests need samtranslator and boto3 from the SAM \
         virtualenv (`make venv`; `make test` does)",
        p.display()
    );
    p
}

/// A deployed stack: `logical id -> (type, physical id)`.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub stack: String,
    pub account: String,
    pub transform: Option<String>,
    pub resources: BTreeMap<String, (String, String)>,
}

impl Deployed {
    pub fn physical(&self, logical: &str) -> &str {
        &self
            .resources
            .get(logical)
            .unwrap_or_else(|| panic!("{}: no resource {logical} deployed", self.stack))
            .1
    }

    /// A role the stack created, as IAM has it. Its physical id is the role's name in AWS;
    /// fakecloud 0.51 gives the role's ARN (and `!Ref` of a role too): either is read.
    pub async fn role(&self, iam: &aws_sdk_iam::Client, logical: &str) -> Role {
        let physical = self.physical(logical);
        let name = physical.rsplit(":role/").next().unwrap_or(physical);
        let name = name.rsplit('/').next().unwrap_or(name);
        let out = iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: GetRole {name} ({logical}): {e:?}", self.stack));
        let r = out.role().expect("role");
        Role {
            name: r.role_name().to_string(),
            arn: r.arn().to_string(),
            id: r.role_id().to_string(),
        }
    }

    pub fn function_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{}:function:{}",
            self.account,
            self.physical("Function")
        )
    }
}

/// Deploys `template` (a path under the repository, or any file) as `stack` with `params`, as
/// the account of `admin` (`None`: fakecloud's administrator in the default account).
pub fn deploy(
    template: &Path,
    stack: &str,
    params: &[(&str, &str)],
    admin: Option<&Creds>,
) -> Result<Deployed, String> {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tools/deployed/deploy.py"))
        .args([
            "--endpoint",
            &endpoint(),
            "--region",
            REGION,
            "--stack",
            stack,
        ])
        .arg("--template")
        .arg(template);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    if let Some(c) = admin {
        cmd.args(["--access-key", &c.key, "--secret-key", &c.secret]);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run tools/deployed/deploy.py: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "deploying {} as {stack} failed:\n{}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("deploy.py printed no JSON ({e})"))?;
    Ok(Deployed {
        stack: stack.to_string(),
        account: v["account"].as_str().unwrap_or(ACCOUNT).to_string(),
        transform: v["transform"].as_str().map(str::to_string),
        resources: v["resources"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, r)| {
                let s = |f: &str| r[f].as_str().unwrap_or_default().to_string();
                (k.clone(), (s("type"), s("physical")))
            })
            .collect(),
    })
}

/// `template.yaml` with `from` replaced by `to` (a planted mistake), in a temp file.
pub fn planted(template: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join(template)).expect("template");
    assert!(
        text.contains(from),
        "the plant {from:?} is not in {template} any more"
    );
    let path =
        std::env::temp_dir().join(format!("session-revoker-planted-{}-{}", nonce(), template));
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write the planted template");
    path
}

/// One `tools/deployed/call.py` command, with `creds` (`None`: the administrator).
pub fn call(args: &[&str], creds: Option<&Creds>) -> Value {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tools/deployed/call.py"))
        .arg(endpoint())
        .args(args)
        .env("AWS_REGION", REGION)
        .env_remove("AWS_SESSION_TOKEN");
    match creds {
        Some(c) => {
            cmd.env("AWS_ACCESS_KEY_ID", &c.key)
                .env("AWS_SECRET_ACCESS_KEY", &c.secret);
            if let Some(t) = &c.token {
                cmd.env("AWS_SESSION_TOKEN", t);
            }
        }
        None => {
            cmd.env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
        }
    }
    let out = cmd.output().expect("run tools/deployed/call.py");
    assert!(
        out.status.success(),
        "call.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("call.py prints JSON")
}

/// A role's identity policies as deployed: every inline policy, by name (the templates attach
/// no managed policy; `AWS::IAM::Policy` resources are inline policies of the role).
pub async fn identity_policies(cloud: &Cloud, role: &str) -> BTreeMap<String, Value> {
    identity_policies_with(&cloud.iam, role).await
}

/// The same, through `iam` (another account's administrator).
pub async fn identity_policies_with(
    iam: &aws_sdk_iam::Client,
    role: &str,
) -> BTreeMap<String, Value> {
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListRolePolicies {role}: {e:?}"))
        .policy_names()
        .to_vec();
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListAttachedRolePolicies {role}: {e:?}"));
    assert!(
        attached.attached_policies().is_empty(),
        "{role} has managed policies attached, which these tests do not read: {:?}",
        attached.attached_policies()
    );
    let mut out = BTreeMap::new();
    for n in names {
        let doc = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&n)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetRolePolicy {role} {n}: {e:?}"));
        let doc = decode(doc.policy_document());
        out.insert(n, serde_json::from_str(&doc).expect("policy JSON"));
    }
    out
}

/// A role's trust policy as deployed.
pub async fn trust_policy(cloud: &Cloud, role: &str) -> Value {
    let r = cloud
        .iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetRole {role}: {e:?}"));
    let doc = r
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("a trust policy");
    serde_json::from_str(&decode(doc)).expect("trust policy JSON")
}

/// Lets `principal` assume `role` too (see the module comment: only the trust changes, and
/// only by one added statement).
pub async fn open_trust(cloud: &Cloud, role: &str, principal: &str) {
    let mut trust = trust_policy(cloud, role).await;
    let statements = trust["Statement"]
        .as_array_mut()
        .expect("a trust policy's statements");
    statements.push(json!({
        "Sid": "DeployedStackTestOnly",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole"
    }));
    cloud
        .iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateAssumeRolePolicy {role}: {e:?}"));
}

/// The ARN of the user whose key `creds` is (fakecloud's GetCallerIdentity).
pub async fn caller_arn(cloud: &Cloud, creds: &Creds) -> String {
    aws_sdk_sts::Client::new(&cloud.as_(creds))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity")
        .arn()
        .expect("arn")
        .to_string()
}
