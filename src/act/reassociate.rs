//! Giving an EC2 instance credentials issued after the cutoff: re-associate its profile.
//!
//! The cutoff lies up to `CUTOFF_MARGIN_SECONDS` ahead, and any token issued before it is
//! denied, so the new association must not happen before the cutoff has passed. The wait is
//! bounded and reported. An instance is never left silently without its profile.

use crate::aws::{Ec2, InstanceProfiles};
use crate::clock::Clock;
use crate::config::ReassociationStrategy;
use crate::error::AwsError;
use crate::model::{ActionKind, ActionOutcome, AssociationState, Status};
use crate::names::format_utc;
use std::time::Duration;
use time::OffsetDateTime;

pub struct Request<'a> {
    pub instance_id: &'a str,
    pub region: &'a str,
    pub role: &'a str,
    pub not_before: OffsetDateTime,
    pub strategy: ReassociationStrategy,
    pub max_wait: Duration,
    pub dry_run: bool,
    /// Time left in the invocation for this work (`None`: unlimited).
    pub time_left: Option<Duration>,
}

/// Attempts at re-associating after a disassociation, with backoff between them.
const ASSOCIATE_ATTEMPTS: u32 = 4;

/// Instance profile name from `arn:aws:iam::<acct>:instance-profile/<path/>name`.
pub fn profile_name(arn: &str) -> Option<&str> {
    let resource = arn.split(':').nth(5)?;
    resource
        .strip_prefix("instance-profile/")?
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
}

/// How long to wait before associating: until one second after the cutoff.
pub fn wait_before_associating(now: OffsetDateTime, not_before: OffsetDateTime) -> Duration {
    let wait = (not_before + time::Duration::seconds(1)) - now;
    if wait.is_positive() {
        Duration::from_millis(wait.whole_milliseconds() as u64)
    } else {
        Duration::ZERO
    }
}

pub async fn reassociate(
    req: Request<'_>,
    iam: &dyn InstanceProfiles,
    ec2: &dyn Ec2,
    clock: &dyn Clock,
) -> ActionOutcome {
    let mut o = ActionOutcome::new(
        ActionKind::ReassociateInstanceProfile,
        req.instance_id,
        Status::Done,
        String::new(),
    );
    o.facts.insert("region", req.region.to_string());
    o.facts
        .insert("strategy", format!("{:?}", req.strategy).to_lowercase());
    o.cutoff = Some(format_utc(req.not_before));

    let associations = match ec2.describe_associations(req.instance_id).await {
        Ok(a) => a,
        Err(e) => return fail(o, "could not read the instance's profile association", e),
    };
    let Some(current) = associations.into_iter().find(|a| {
        a.instance_id == req.instance_id
            && matches!(
                a.state,
                AssociationState::Associated | AssociationState::Associating
            )
    }) else {
        o.status = Status::Skipped;
        o.detail = format!(
            "instance {} has no instance profile association",
            req.instance_id
        );
        return o;
    };
    o.facts
        .insert("old_association_id", current.association_id.clone());
    o.facts
        .insert("instance_profile_arn", current.profile_arn.clone());
    let Some(name) = profile_name(&current.profile_arn) else {
        o.status = Status::Skipped;
        o.detail = format!(
            "association {} names no readable instance profile",
            current.association_id
        );
        return o;
    };
    match iam.get_instance_profile(name).await {
        Ok(Some(p)) if p.role_names.iter().any(|r| r == req.role) => {}
        Ok(Some(p)) => {
            o.status = Status::Skipped;
            o.detail = format!(
                "instance profile {name} holds role(s) [{}], not the revoked role {}: the instance is left untouched",
                p.role_names.join(", "),
                req.role
            );
            return o;
        }
        Ok(None) => {
            o.status = Status::Skipped;
            o.detail = format!("instance profile {name} does not exist");
            return o;
        }
        Err(e) => return fail(o, "could not read the instance profile", e),
    }

    let wait = wait_before_associating(clock.now(), req.not_before);
    o.facts.insert("wait_ms", wait.as_millis().to_string());
    if wait > req.max_wait {
        o.status = Status::Skipped;
        o.detail = format!(
            "the cutoff {} is {} s away, more than REASSOCIATION_MAX_WAIT_SECONDS={}; re-associate by hand after it",
            format_utc(req.not_before),
            wait.as_secs(),
            req.max_wait.as_secs()
        );
        return o;
    }
    if req
        .time_left
        .is_some_and(|left| left < wait + Duration::from_secs(10))
    {
        o.status = Status::Skipped;
        o.detail = "not enough invocation time left to wait for the cutoff and re-associate".into();
        return o;
    }
    if req.dry_run {
        o.status = Status::WouldDo;
        o.detail = format!(
            "would re-associate instance profile {name} (association {}) after the cutoff {}, in {} ms",
            current.association_id,
            format_utc(req.not_before),
            wait.as_millis()
        );
        return o;
    }
    tracing::info!(
        instance_id = req.instance_id,
        wait_ms = wait.as_millis() as u64,
        "waiting for the cutoff before re-associating"
    );
    clock.sleep(wait).await;

    let restore = format!(
        "aws ec2 associate-iam-instance-profile --region {} --instance-id {} --iam-instance-profile Arn={}",
        req.region, req.instance_id, current.profile_arn
    );
    let new_id = match req.strategy {
        ReassociationStrategy::Replace => match ec2
            .replace(&current.association_id, &current.profile_arn)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                return fail(
                    o,
                    "replacing the association failed; the old association stays",
                    e,
                )
            }
        },
        ReassociationStrategy::Disassociate => {
            // Logged before the instance loses its profile: a timeout after this line cannot
            // lose the way back.
            tracing::warn!(
                instance_id = req.instance_id,
                restore_command = %restore,
                "disassociating the instance profile; restore with restore_command if re-association does not follow"
            );
            if let Err(e) = ec2.disassociate(&current.association_id).await {
                return fail(o, "disassociating failed; the old association stays", e);
            }
            // From here on the instance has no profile until the association succeeds.
            wait_until_gone(
                ec2,
                req.instance_id,
                &current.association_id,
                req.max_wait,
                clock,
            )
            .await;
            let mut last_error = None;
            let mut backoff = Duration::from_millis(500);
            let mut new_id = None;
            for attempt in 1..=ASSOCIATE_ATTEMPTS {
                match ec2.associate(req.instance_id, &current.profile_arn).await {
                    Ok(id) => {
                        o.facts.insert("associate_attempts", attempt.to_string());
                        new_id = Some(id);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(instance_id = req.instance_id, attempt, code = %e.code, "associate failed");
                        last_error = Some(e);
                        if attempt < ASSOCIATE_ATTEMPTS {
                            clock.sleep(backoff).await;
                            backoff *= 2;
                        }
                    }
                }
            }
            match new_id {
                Some(id) => id,
                None => {
                    let e = last_error.unwrap_or_else(|| {
                        AwsError::new("AssociateIamInstanceProfile", "Unknown", "no attempt made")
                    });
                    o.facts
                        .insert("associate_attempts", ASSOCIATE_ATTEMPTS.to_string());
                    o.restore_command = Some(restore.clone());
                    o.commands = vec![restore];
                    return fail(
                        o,
                        &format!("INSTANCE {} HAS NO INSTANCE PROFILE: re-association failed after {ASSOCIATE_ATTEMPTS} attempts", req.instance_id),
                        e,
                    );
                }
            }
        }
    };
    o.facts.insert("new_association_id", new_id.clone());
    o.facts.insert("reassociated_at", format_utc(clock.now()));
    o.detail = format!(
        "instance profile {name} re-associated after the cutoff {} (association {} -> {new_id}); the instance's next credentials are valid",
        format_utc(req.not_before),
        current.association_id
    );
    o
}

/// Polls with backoff until the old association is gone, bounded by `max_wait`.
async fn wait_until_gone(
    ec2: &dyn Ec2,
    instance_id: &str,
    association_id: &str,
    max_wait: Duration,
    clock: &dyn Clock,
) {
    let mut waited = Duration::ZERO;
    let mut backoff = Duration::from_millis(250);
    while waited < max_wait {
        match ec2.describe_associations(instance_id).await {
            Ok(list) if !list.iter().any(|a| a.association_id == association_id) => return,
            _ => {}
        }
        clock.sleep(backoff).await;
        waited += backoff;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn fail(mut o: ActionOutcome, what: &str, e: AwsError) -> ActionOutcome {
    o.status = Status::Failed;
    o.detail = what.to_string();
    o.error = Some((&e).into());
    o
}

#[cfg(test)]
mod tests;
