//! Unit tests of the re-association: ordering against the cutoff, retries, the stranded case.

#[cfg(test)]
mod basics {
    use crate::act::reassociate::*;
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
    use crate::act::reassociate::*;
    use crate::aws::{AssociationState, AwsResult, InstanceProfileInfo, ProfileAssociation};
    use crate::clock::ManualClock;
    use futures::future::BoxFuture;
    use futures::FutureExt;
    use std::sync::{Arc, Mutex};
    use time::macros::datetime;

    const PROFILE: &str = "arn:aws:iam::111122223333:instance-profile/web-app";

    struct FakeIam {
        roles_in_profile: Vec<String>,
    }

    impl InstanceProfiles for FakeIam {
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
                    state: AssociationState::Associated,
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
            o.restore_command.as_deref().unwrap(),
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
