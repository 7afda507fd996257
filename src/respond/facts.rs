//! The facts a decision needs, read from IAM: the role (found by name or by RoleId) and its
//! revocation policies, read concurrently so the deny follows in one round trip.

use crate::accounts::Identity;
use crate::aws::{RolePolicies, Roles};
use crate::error::AwsError;
use crate::model::{RoleInfo, RoleTarget, Step};
use crate::plan::RoleFacts;
use crate::policy;

/// Most `ListRoles` pages read to find a role by its RoleId (1000 roles a page: IAM's quota
/// is 5000 roles per account).
const MAX_ROLE_PAGES: usize = 10;

/// Reads the role and its revocation policies concurrently (one round trip when the
/// finding names the role).
pub async fn role_facts<I: Roles + RolePolicies + ?Sized>(
    iam: &I,
    target: &RoleTarget,
    identity: Result<Identity, AwsError>,
    session_scope: bool,
) -> Result<RoleFacts, Step> {
    let name = match &target.name {
        Some(n) => n.clone(),
        None => {
            let role_id = target.role_id.as_deref().unwrap_or_default();
            find_role_by_id(iam, role_id).await?.name
        }
    };
    let (role, role_policy, session_policy) = futures::join!(
        iam.get_role(&name),
        iam.get_role_policy(&name, policy::ROLE_POLICY_NAME),
        async {
            if session_scope {
                iam.get_role_policy(&name, policy::SESSION_POLICY_NAME)
                    .await
            } else {
                Ok(None)
            }
        }
    );
    let role = match role {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(Step::Fail {
                error: AwsError::new(
                    "GetRole",
                    "NoSuchEntity",
                    format!("role {name} does not exist in this account"),
                ),
            })
        }
        Err(error) => return Err(Step::Fail { error }),
    };
    // A different RoleId means the role was re-created (old sessions are then already
    // invalid) or the finding is inconsistent: revoke by name anyway and say so.
    let note = target
        .role_id
        .as_deref()
        .filter(|id| *id != role.role_id)
        .map(|id| {
            format!(
                "the finding's RoleId {id} differs from role {name}'s current RoleId {}",
                role.role_id
            )
        });
    let responder_role = identity.map(|i| i.role_name).map_err(|e| e.to_string());
    Ok(RoleFacts {
        role,
        role_policy,
        session_policy,
        responder_role,
        note,
    })
}

/// Finds a role by RoleId: IAM has no such lookup, so page through `ListRoles`.
async fn find_role_by_id<I: Roles + ?Sized>(iam: &I, role_id: &str) -> Result<RoleInfo, Step> {
    let mut marker = None;
    for _ in 0..MAX_ROLE_PAGES {
        let (roles, next) = iam
            .list_roles(marker)
            .await
            .map_err(|error| Step::Fail { error })?;
        if let Some(r) = roles.into_iter().find(|r| r.role_id == role_id) {
            return Ok(r);
        }
        match next {
            Some(m) => marker = Some(m),
            None => break,
        }
    }
    Err(Step::Fail {
        error: AwsError::new(
            "ListRoles",
            "NoSuchEntity",
            format!("no role with RoleId {role_id} in this account"),
        ),
    })
}
