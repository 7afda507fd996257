//! Member accounts in fakecloud for organization-mode drills: an administrator of another
//! account (fakecloud's `POST /_fakecloud/iam/create-admin`; the `test` key reaches only the
//! default account), and there the member role and the drill's canary as `member-role.yaml`
//! makes them, with the differences fakecloud 0.51 forces (said at each).

use super::fakecloud::{endpoint, Cloud, Creds, ACCOUNT};
use serde_json::{json, Value};
use std::io::{Read, Write};

/// An administrator (user with an allow-all policy and a key) of `account` in fakecloud.
pub fn admin_of(account: &str, user: &str) -> Creds {
    let body = json!({"accountId": account, "userName": user}).to_string();
    let url = endpoint();
    let host = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("FAKECLOUD_ENDPOINT {url} is not plain http"));
    let mut stream = std::net::TcpStream::connect(host).expect("fakecloud reachable");
    write!(
        stream,
        "POST /_fakecloud/iam/create-admin HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("create-admin request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("create-admin response");
    let (head, json) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "create-admin: {response}");
    let v: Value = serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {json}"));
    Creds {
        key: v["accessKeyId"].as_str().expect("key").to_string(),
        secret: v["secretAccessKey"].as_str().expect("secret").to_string(),
        token: None,
        minted_by: None,
    }
}

/// IAM of `account` as its administrator.
pub fn iam_of(cloud: &Cloud, admin: &Creds) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&cloud.as_(admin))
}

async fn put(iam: &aws_sdk_iam::Client, role: &str, name: &str, doc: Value) {
    iam.put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRolePolicy {role}/{name}: {e:?}"));
}

/// The member role in `account`: trusted by the function's account (the function runs with
/// fakecloud's administrator key, which STS answers as that account's root) with the
/// external id `trusted_external_id`, allowed what `member-role.yaml` grants for a drill:
/// reading and writing role policies, and on the canary `iam:ListRoleTags` and
/// `sts:AssumeRole`.
pub async fn member_role(
    iam: &aws_sdk_iam::Client,
    account: &str,
    name: &str,
    canary: &str,
    trusted_external_id: &str,
) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": trusted_external_id}}}]});
    let arn = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name} in {account}: {e:?}"))
        .role()
        .expect("role")
        .arn()
        .to_string();
    let roles = format!("arn:aws:iam::{account}:role/*");
    let canary_arn = format!("arn:aws:iam::{account}:role/{canary}");
    put(
        iam,
        name,
        "responder",
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy"], "Resource": roles},
            {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"},
            {"Effect": "Allow", "Action": ["iam:ListRoleTags", "sts:AssumeRole"], "Resource": canary_arn}
        ]}),
    )
    .await;
    arn
}

/// The drill's canary in `account`, tagged `session-revoker:drill=true`, allowed only
/// `iam:GetRole` on itself. `member-role.yaml` trusts only the member role (its ARN as
/// principal); in fakecloud 0.51 a trust naming a role ARN does not match that role's sessions
/// (tests/fire_drill.rs), so here the account's root is trusted and the member role's own
/// `sts:AssumeRole` grant is what lets it in.
pub async fn canary(iam: &aws_sdk_iam::Client, account: &str, name: &str) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")}, "Action": "sts:AssumeRole"}]});
    let arn = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("session-revoker:drill")
                .value("true")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name} in {account}: {e:?}"))
        .role()
        .expect("role")
        .arn()
        .to_string();
    put(
        iam,
        name,
        "read-itself",
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": arn}]}),
    )
    .await;
    arn
}

/// A role policy's document in another account, if present.
pub async fn role_policy(iam: &aws_sdk_iam::Client, role: &str, name: &str) -> Option<String> {
    iam.get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .ok()
        .map(|o| o.policy_document().to_string())
}
