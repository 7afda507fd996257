//! Giving an EC2 instance credentials issued after the cutoff: re-associate its profile.
//!
//! The cutoff lies up to `CUTOFF_MARGIN_SECONDS` ahead, and any token issued before it is
//! denied, so the new association must not happen before the cutoff has passed. The wait is
//! bounded and reported. An instance is never left silently without its profile.

use crate::aws::{Ec2, Iam};
use crate::clock::Clock;
use crate::config::ReassociationStrategy;
use crate::error::AwsError;
use crate::names::format_utc;
use crate::plan::ActionKind;
use crate::report::{ActionOutcome, Status};
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
    iam: &dyn Iam,
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
    let Some(current) = associations
        .into_iter()
        .find(|a| a.instance_id == req.instance_id)
    else {
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
                    o.facts.insert("restore_command", restore.clone());
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
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn profile_names_from_arns() {
        assert_eq!(
            profile_name("arn:aws:iam::111122223333:instance-profile/web"),
            Some("web")
        );
        assert_eq!(
            profile_name("arn:aws:iam::111122223333:instance-profile/path/to/web"),
            Some("web")
        );
        assert_eq!(profile_name("arn:aws:iam::111122223333:role/web"), None);
    }

    #[test]
    fn waits_until_just_after_the_cutoff() {
        let cutoff = datetime!(2026-11-22 03:00:30 UTC);
        assert_eq!(
            wait_before_associating(cutoff - time::Duration::seconds(30), cutoff),
            Duration::from_secs(31)
        );
        assert_eq!(
            wait_before_associating(cutoff + time::Duration::seconds(5), cutoff),
            Duration::ZERO
        );
    }
}

#[cfg(test)]
mod ordering_tests {
    //! Fakes of the decisions' collaborators: no AWS, no real sleeping.
    use super::*;
    use crate::aws::{
        AccessKeyInfo, AwsResult, InstanceProfileInfo, ProfileAssociation, RoleInfo, UserInfo,
    };
    use crate::clock::ManualClock;
    use futures::future::BoxFuture;
    use futures::FutureExt;
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    const PROFILE: &str = "arn:aws:iam::111122223333:instance-profile/web-app";

    struct FakeIam {
        roles_in_profile: Vec<String>,
    }

    impl Iam for FakeIam {
        fn get_role<'a>(&'a self, _: &'a str) -> BoxFuture<'a, AwsResult<Option<RoleInfo>>> {
            unimplemented!()
        }
        fn list_roles(
            &self,
            _: Option<String>,
        ) -> BoxFuture<'_, AwsResult<(Vec<RoleInfo>, Option<String>)>> {
            unimplemented!()
        }
        fn get_role_policy<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, AwsResult<Option<String>>> {
            unimplemented!()
        }
        fn put_role_policy<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, AwsResult<()>> {
            unimplemented!()
        }
        fn get_user<'a>(&'a self, _: &'a str) -> BoxFuture<'a, AwsResult<Option<UserInfo>>> {
            unimplemented!()
        }
        fn list_access_keys<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, AwsResult<Vec<AccessKeyInfo>>> {
            unimplemented!()
        }
        fn deactivate_access_key<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, AwsResult<()>> {
            unimplemented!()
        }
        fn get_user_policy<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, AwsResult<Option<String>>> {
            unimplemented!()
        }
        fn put_user_policy<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, AwsResult<()>> {
            unimplemented!()
        }
        fn get_instance_profile<'a>(
            &'a self,
            name: &'a str,
        ) -> BoxFuture<'a, AwsResult<Option<InstanceProfileInfo>>> {
            let info = InstanceProfileInfo {
                name: name.into(),
                arn: PROFILE.into(),
                role_names: self.roles_in_profile.clone(),
            };
            futures::future::ready(Ok(Some(info))).boxed()
        }
    }

    /// Records each EC2 call with the fake clock's time; `associate` fails `failures` times.
    struct FakeEc2 {
        clock: Arc<ManualClock>,
        calls: Mutex<Vec<(&'static str, OffsetDateTime)>>,
        associated: Mutex<bool>,
        failures: Mutex<u32>,
    }

    impl FakeEc2 {
        fn record(&self, op: &'static str) {
            self.calls.lock().unwrap().push((op, self.clock.now()));
        }
        fn ops(&self) -> Vec<&'static str> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|(op, _)| *op)
                .collect()
        }
        fn time_of(&self, op: &str) -> OffsetDateTime {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .find(|(o, _)| *o == op)
                .unwrap()
                .1
        }
    }

    impl Ec2 for FakeEc2 {
        fn describe_associations<'a>(
            &'a self,
            instance_id: &'a str,
        ) -> BoxFuture<'a, AwsResult<Vec<ProfileAssociation>>> {
            self.record("describe");
            let list = if *self.associated.lock().unwrap() {
                vec![ProfileAssociation {
                    association_id: "iip-assoc-old".into(),
                    instance_id: instance_id.into(),
                    profile_arn: PROFILE.into(),
                    state: "associated".into(),
                }]
            } else {
                vec![]
            };
            futures::future::ready(Ok(list)).boxed()
        }
        fn disassociate<'a>(&'a self, _: &'a str) -> BoxFuture<'a, AwsResult<()>> {
            self.record("disassociate");
            *self.associated.lock().unwrap() = false;
            futures::future::ready(Ok(())).boxed()
        }
        fn associate<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, AwsResult<String>> {
            self.record("associate");
            let mut failures = self.failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return futures::future::ready(Err(AwsError::new(
                    "AssociateIamInstanceProfile",
                    "IncorrectState",
                    "busy",
                )))
                .boxed();
            }
            *self.associated.lock().unwrap() = true;
            futures::future::ready(Ok("iip-assoc-new".to_string())).boxed()
        }
        fn replace<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, AwsResult<String>> {
            self.record("replace");
            futures::future::ready(Ok("iip-assoc-replaced".to_string())).boxed()
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-22 03:00:00 UTC);
    const CUTOFF: OffsetDateTime = datetime!(2026-11-22 03:00:30 UTC);

    fn setup(failures: u32) -> (Arc<ManualClock>, FakeEc2) {
        let clock = Arc::new(ManualClock::new(NOW));
        let ec2 = FakeEc2 {
            clock: clock.clone(),
            calls: Mutex::new(vec![]),
            associated: Mutex::new(true),
            failures: Mutex::new(failures),
        };
        (clock, ec2)
    }

    fn request(strategy: ReassociationStrategy, dry_run: bool) -> Request<'static> {
        Request {
            instance_id: "i-0123456789abcdef0",
            region: "eu-west-1",
            role: "web-app",
            not_before: CUTOFF,
            strategy,
            max_wait: Duration::from_secs(120),
            dry_run,
            time_left: None,
        }
    }

    fn iam(role: &str) -> FakeIam {
        FakeIam {
            roles_in_profile: vec![role.to_string()],
        }
    }

    #[tokio::test]
    async fn associates_only_after_the_cutoff_has_passed() {
        let (clock, ec2) = setup(0);
        let o = reassociate(
            request(ReassociationStrategy::Disassociate, false),
            &iam("web-app"),
            &ec2,
            clock.as_ref(),
        )
        .await;
        assert_eq!(o.status, Status::Done, "{o:?}");
        assert_eq!(
            ec2.ops(),
            vec!["describe", "disassociate", "describe", "associate"]
        );
        assert!(ec2.time_of("disassociate") > CUTOFF);
        assert!(ec2.time_of("associate") > CUTOFF);
        assert_eq!(o.facts["old_association_id"], "iip-assoc-old");
        assert_eq!(o.facts["new_association_id"], "iip-assoc-new");
        assert_eq!(o.facts["wait_ms"], "31000");
        assert_eq!(clock.sleeps()[0], Duration::from_secs(31));
    }

    #[tokio::test]
    async fn replace_strategy_swaps_in_one_call_after_the_cutoff() {
        let (clock, ec2) = setup(0);
        let o = reassociate(
            request(ReassociationStrategy::Replace, false),
            &iam("web-app"),
            &ec2,
            clock.as_ref(),
        )
        .await;
        assert_eq!(ec2.ops(), vec!["describe", "replace"]);
        assert!(ec2.time_of("replace") > CUTOFF);
        assert_eq!(o.facts["new_association_id"], "iip-assoc-replaced");
    }

    #[tokio::test]
    async fn retries_the_association_with_backoff() {
        let (clock, ec2) = setup(2);
        let o = reassociate(
            request(ReassociationStrategy::Disassociate, false),
            &iam("web-app"),
            &ec2,
            clock.as_ref(),
        )
        .await;
        assert_eq!(o.status, Status::Done);
        assert_eq!(o.facts["associate_attempts"], "3");
        let sleeps = clock.sleeps();
        assert_eq!(
            &sleeps[sleeps.len() - 2..],
            &[Duration::from_millis(500), Duration::from_millis(1000)]
        );
    }

    #[tokio::test]
    async fn a_stranded_instance_is_reported_with_the_restore_command() {
        let (clock, ec2) = setup(10);
        let o = reassociate(
            request(ReassociationStrategy::Disassociate, false),
            &iam("web-app"),
            &ec2,
            clock.as_ref(),
        )
        .await;
        assert_eq!(o.status, Status::Failed);
        assert!(o
            .detail
            .starts_with("INSTANCE i-0123456789abcdef0 HAS NO INSTANCE PROFILE"));
        assert_eq!(
            o.facts["restore_command"],
            format!("aws ec2 associate-iam-instance-profile --region eu-west-1 --instance-id i-0123456789abcdef0 --iam-instance-profile Arn={PROFILE}")
        );
        assert_eq!(o.error.as_ref().unwrap().code, "IncorrectState");
    }

    #[tokio::test]
    async fn leaves_instances_of_other_roles_and_dry_runs_alone() {
        let (clock, ec2) = setup(0);
        let o = reassociate(
            request(ReassociationStrategy::Disassociate, false),
            &iam("billing"),
            &ec2,
            clock.as_ref(),
        )
        .await;
        assert_eq!(o.status, Status::Skipped);
        assert!(o.detail.contains("not the revoked role web-app"));
        let o = reassociate(
            request(ReassociationStrategy::Disassociate, true),
            &iam("web-app"),
            &ec2,
            clock.as_ref(),
        )
        .await;
        assert_eq!(o.status, Status::WouldDo);
        assert!(o.detail.contains("after the cutoff 2026-11-22T03:00:30Z"));
        assert_eq!(ec2.ops(), vec!["describe", "describe"], "nothing but reads");
        assert!(clock.sleeps().is_empty());
    }
}
