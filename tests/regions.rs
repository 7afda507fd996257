//! Findings of several regions through one responder, against the emulator: EC2 (regional) is
//! acted on in each finding's region, IAM (global) as usual. moto keeps EC2 apart per region
//! (by the region of the request's signature), so an instance launched in eu-west-1 does not
//! exist in us-east-1: a re-association sent to the wrong region finds no association and is
//! skipped, never `done`.
//!
//! ```text
//! tools/with-moto.sh cargo test --test regions
//! ```

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// The EC2 client of `region`, pointed at the emulator.
async fn ec2_in(region: &str) -> aws_sdk_ec2::Client {
    let conf = aws_sdk_ec2::config::Builder::from(&sdk().await)
        .region(aws_config::Region::new(region.to_string()))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

/// One region's instance: launched there, its own role and instance profile associated.
struct Site {
    region: &'static str,
    role: String,
    role_id: String,
    instance_id: String,
    association_id: String,
}

async fn site(iam: &Iam, region: &'static str, role: &str) -> Site {
    let role = role.to_string();
    let role_id = iam.role(&role, "/").await;
    let profile = format!("{role}-profile");
    iam.0
        .create_instance_profile()
        .instance_profile_name(&profile)
        .send()
        .await
        .unwrap();
    iam.0
        .add_role_to_instance_profile()
        .instance_profile_name(&profile)
        .role_name(&role)
        .send()
        .await
        .unwrap();
    let ec2 = ec2_in(region).await;
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance_id = run.instances()[0].instance_id().unwrap().to_string();
    let out = ec2
        .associate_iam_instance_profile()
        .instance_id(&instance_id)
        .iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name(&profile)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let association_id = out
        .iam_instance_profile_association()
        .and_then(|a| a.association_id())
        .unwrap()
        .to_string();
    Site {
        region,
        role,
        role_id,
        instance_id,
        association_id,
    }
}

/// Live associations (id, profile ARN) of an instance, asked in `region`.
async fn live_associations(region: &str, instance_id: &str) -> Vec<(String, String)> {
    let out = ec2_in(region)
        .await
        .describe_iam_instance_profile_associations()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-id")
                .values(instance_id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.iam_instance_profile_associations()
        .iter()
        .filter(|a| {
            matches!(
                a.state().map(|s| s.as_str()),
                Some("associated" | "associating")
            )
        })
        .map(|a| {
            (
                a.association_id().unwrap().to_string(),
                a.iam_instance_profile().unwrap().arn().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every site's live associations, by region.
async fn all_associations(sites: &[Site]) -> BTreeMap<&'static str, Vec<(String, String)>> {
    let mut all = BTreeMap::new();
    for s in sites {
        all.insert(s.region, live_associations(s.region, &s.instance_id).await);
    }
    all
}

/// GuardDuty's EventBridge event for the site's stolen instance credentials, from its region.
fn event(s: &Site) -> Value {
    let mut f = finding(
        &format!("f-{}", s.region),
        &s.role,
        &format!("{}:{}", s.role_id, s.instance_id),
        &now_rfc3339(0),
    );
    f["region"] = json!(s.region);
    f["arn"] = json!(format!(
        "arn:aws:guardduty:{}:{ACCOUNT}:detector/d0/finding/f-{}",
        s.region, s.region
    ));
    f["resource"]["instanceDetails"] = json!({"instanceId": s.instance_id});
    json!({
        "version": "0", "id": format!("evt-{}", s.region), "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty", "account": ACCOUNT, "time": now_rfc3339(0),
        "region": s.region, "resources": [], "detail": f
    })
}

fn reassociation(report: &Value) -> &Value {
    actions(report)
        .iter()
        .find(|a| a["action"] == "reassociate_instance_profile")
        .unwrap_or_else(|| panic!("a re-association action: {report:#}"))
}

#[tokio::test]
async fn each_finding_acts_on_ec2_in_its_own_region() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let mut sites = Vec::new();
    for region in REGIONS {
        sites.push(site(&iam, region, &format!("web-{region}")).await);
    }
    // The emulator keeps the regions apart: each instance exists in its own region only.
    for s in &sites {
        for other in REGIONS.iter().filter(|r| **r != s.region) {
            let found = ec2_in(other)
                .await
                .describe_instances()
                .instance_ids(&s.instance_id)
                .send()
                .await;
            assert!(
                found.is_err(),
                "{} must not exist in {other}: {found:?}",
                s.instance_id
            );
            assert!(live_associations(other, &s.instance_id).await.is_empty());
        }
    }

    // One responder (one container) for every region; its own SDK region is us-east-1.
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("CUTOFF_MARGIN_SECONDS", "1"),
    ])
    .await;
    // Handled last, so that a responder stuck in its first region would show.
    let order = [1, 2, 0];
    for &n in &order {
        let s = &sites[n];
        let before = all_associations(&sites).await;
        let report = respond(&r, &event(s)).await;
        assert_eq!(report["outcome"], "revoked", "{}: {report:#}", s.region);

        // IAM is global: the role is revoked as for any finding.
        let revoke = &actions(&report)[0];
        assert_eq!(
            (revoke["action"].as_str(), revoke["status"].as_str()),
            (Some("revoke_role_sessions"), Some("done")),
            "{}: {revoke:#}",
            s.region
        );
        let policy = iam
            .policy(&s.role, "AWSRevokeOlderSessions")
            .await
            .unwrap_or_else(|| panic!("{}: no deny on {}", s.region, s.role));
        assert_eq!(cutoff_of(&policy), {
            let c = revoke["cutoff"].as_str().unwrap();
            time::OffsetDateTime::parse(c, &time::format_description::well_known::Rfc3339).unwrap()
        });

        // EC2 is regional: the association was replaced in the finding's region.
        let a = reassociation(&report);
        assert_eq!(a["status"], "done", "{}: {a:#}", s.region);
        assert_eq!(a["facts"]["region"], s.region, "{a:#}");
        assert_eq!(a["facts"]["old_association_id"], s.association_id, "{a:#}");
        let new_id = a["facts"]["new_association_id"].as_str().unwrap();
        assert_ne!(new_id, s.association_id);
        assert_eq!(
            live_associations(s.region, &s.instance_id).await,
            vec![(
                new_id.to_string(),
                format!("arn:aws:iam::{ACCOUNT}:instance-profile/{}-profile", s.role)
            )],
            "{}",
            s.region
        );

        // The other regions' instances are untouched.
        let after = all_associations(&sites).await;
        for other in sites.iter().filter(|o| o.region != s.region) {
            assert_eq!(
                after[other.region], before[other.region],
                "a finding from {} changed {} in {}",
                s.region, other.instance_id, other.region
            );
        }
    }

    // Each role has its own deny and no other role was written to by another region's finding.
    for s in &sites {
        assert_eq!(
            iam.policy_names(&s.role).await,
            vec!["AWSRevokeOlderSessions".to_string()]
        );
        let live = live_associations(s.region, &s.instance_id).await;
        assert_eq!(live.len(), 1, "{}: {live:?}", s.region);
        assert_ne!(live[0].0, s.association_id, "{}: re-associated", s.region);
    }
}

#[tokio::test]
async fn a_region_that_is_not_a_region_never_reaches_ec2() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("CUTOFF_MARGIN_SECONDS", "1"),
    ])
    .await;
    // A forged finding: a region that would put another host into the EC2 endpoint.
    for (n, forged) in ["eu-west-1.attacker.example", "attacker.example/#"]
        .into_iter()
        .enumerate()
    {
        // A role of its own each time: a second finding for the same role would find it covered.
        let s = site(&iam, "eu-west-1", &format!("web-{n}")).await;
        let mut e = event(&s);
        e["region"] = json!(forged);
        e["detail"]["region"] = json!(forged);
        let report = respond(&r, &e).await;

        // The stolen credentials are still contained (IAM is global)...
        assert_eq!(report["outcome"], "revoked", "{forged}: {report:#}");
        assert!(iam
            .policy(&s.role, "AWSRevokeOlderSessions")
            .await
            .is_some());
        // ... but EC2 is not called with that region: refused, with the reason.
        let a = reassociation(&report);
        assert_eq!(a["status"], "skipped", "{forged}: {a:#}");
        let detail = a["detail"].as_str().unwrap();
        assert!(
            detail.contains("is not an AWS region name") && detail.contains(&s.instance_id),
            "{forged}: {detail}"
        );
        assert_eq!(
            live_associations(s.region, &s.instance_id).await,
            vec![(
                s.association_id.clone(),
                format!("arn:aws:iam::{ACCOUNT}:instance-profile/{}-profile", s.role)
            )],
            "{forged}: the instance keeps its association"
        );
    }
}
