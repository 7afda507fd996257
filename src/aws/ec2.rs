//! EC2 instance-profile associations through `aws_sdk_ec2`.

use super::{AwsResult, Ec2, EnabledRegions, ProfileAssociation};
use crate::error::from_sdk;
use crate::model::AssociationState;
use aws_sdk_ec2::types::{Filter, IamInstanceProfileSpecification};
use aws_sdk_ec2::Client;
use futures::future::BoxFuture;
use futures::FutureExt;

pub struct Ec2Client(pub Client);

impl Ec2 for Ec2Client {
    fn describe_associations<'a>(
        &'a self,
        instance_id: &'a str,
    ) -> BoxFuture<'a, AwsResult<Vec<ProfileAssociation>>> {
        async move {
            let out = self
                .0
                .describe_iam_instance_profile_associations()
                .filters(
                    Filter::builder()
                        .name("instance-id")
                        .values(instance_id)
                        .build(),
                )
                .filters(
                    Filter::builder()
                        .name("state")
                        .values("associating")
                        .values("associated")
                        .values("disassociating")
                        .build(),
                )
                .send()
                .await
                .map_err(|e| from_sdk("DescribeIamInstanceProfileAssociations", e))?;
            Ok(out
                .iam_instance_profile_associations()
                .iter()
                .map(|a| ProfileAssociation {
                    association_id: a.association_id().unwrap_or_default().to_string(),
                    instance_id: a.instance_id().unwrap_or_default().to_string(),
                    profile_arn: a
                        .iam_instance_profile()
                        .and_then(|p| p.arn())
                        .unwrap_or_default()
                        .to_string(),
                    state: AssociationState::parse(a.state().map_or("", |s| s.as_str())),
                })
                .collect())
        }
        .boxed()
    }

    fn disassociate<'a>(&'a self, association_id: &'a str) -> BoxFuture<'a, AwsResult<()>> {
        async move {
            self.0
                .disassociate_iam_instance_profile()
                .association_id(association_id)
                .send()
                .await
                .map_err(|e| from_sdk("DisassociateIamInstanceProfile", e))?;
            Ok(())
        }
        .boxed()
    }

    fn associate<'a>(
        &'a self,
        instance_id: &'a str,
        profile_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            let out = self
                .0
                .associate_iam_instance_profile()
                .instance_id(instance_id)
                .iam_instance_profile(
                    IamInstanceProfileSpecification::builder()
                        .arn(profile_arn)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| from_sdk("AssociateIamInstanceProfile", e))?;
            Ok(out
                .iam_instance_profile_association()
                .and_then(|a| a.association_id())
                .unwrap_or_default()
                .to_string())
        }
        .boxed()
    }

    fn replace<'a>(
        &'a self,
        association_id: &'a str,
        profile_arn: &'a str,
    ) -> BoxFuture<'a, AwsResult<String>> {
        async move {
            let out = self
                .0
                .replace_iam_instance_profile_association()
                .association_id(association_id)
                .iam_instance_profile(
                    IamInstanceProfileSpecification::builder()
                        .arn(profile_arn)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| from_sdk("ReplaceIamInstanceProfileAssociation", e))?;
            Ok(out
                .iam_instance_profile_association()
                .and_then(|a| a.association_id())
                .unwrap_or_default()
                .to_string())
        }
        .boxed()
    }
}

impl EnabledRegions for Ec2Client {
    fn enabled_regions(&self) -> BoxFuture<'_, AwsResult<Vec<String>>> {
        async move {
            // AllRegions unset: only the regions enabled for the account.
            let out = self
                .0
                .describe_regions()
                .send()
                .await
                .map_err(|e| from_sdk("DescribeRegions", e))?;
            Ok(out
                .regions()
                .iter()
                .filter(|r| r.opt_in_status() != Some("not-opted-in"))
                .filter_map(|r| r.region_name().map(str::to_string))
                .collect())
        }
        .boxed()
    }
}
