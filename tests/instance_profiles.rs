//! EC2 instance-profile re-association against the emulator (moto implements the
//! association APIs). The failure path after a disassociation cannot be provoked in moto;
//! it is covered with fakes in `src/reassociate.rs` (`ordering_tests`).

mod common;

use common::*;
use serde_json::{json, Value};

struct Instance {
    id: String,
    association: Option<String>,
    role_id: String,
}

async fn ec2() -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sdk().await)
}

/// A running instance; with `profile_role`, an instance profile holding that role, associated.
async fn instance(iam: &Iam, profile_role: Option<&str>) -> Instance {
    let role_id = iam.role("web-app", "/").await;
    let ec2 = ec2().await;
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let id = run.instances()[0].instance_id().unwrap().to_string();
    let mut association = None;
    if let Some(role) = profile_role {
        if role != "web-app" {
            iam.role(role, "/").await;
        }
        iam.0
            .create_instance_profile()
            .instance_profile_name(format!("{role}-profile"))
            .send()
            .await
            .unwrap();
        iam.0
            .add_role_to_instance_profile()
            .instance_profile_name(format!("{role}-profile"))
            .role_name(role)
            .send()
            .await
            .unwrap();
        let out = ec2
            .associate_iam_instance_profile()
            .instance_id(&id)
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                    .name(format!("{role}-profile"))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        association = out
            .iam_instance_profile_association()
            .and_then(|a| a.association_id())
            .map(str::to_string);
    }
    Instance {
        id,
        association,
        role_id,
    }
}

async fn live_associations(instance_id: &str) -> Vec<(String, String)> {
    let out = ec2()
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

fn exfiltration(i: &Instance) -> Value {
    let mut f = finding(
        "f-ec2",
        "web-app",
        &format!("{}:{}", i.role_id, i.id),
        &now_rfc3339(0),
    );
    f["resource"]["instanceDetails"] = json!({"instanceId": i.id});
    f
}

fn reassociation(report: &Value) -> &Value {
    actions(report)
        .iter()
        .find(|a| a["action"] == "reassociate_instance_profile")
        .expect("a re-association action")
}

#[tokio::test]
async fn the_instance_is_reassociated_after_the_cutoff() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let i = instance(&iam, Some("web-app")).await;
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("CUTOFF_MARGIN_SECONDS", "2"),
    ])
    .await;
    let report = respond(&r, &exfiltration(&i)).await;

    assert_eq!(
        actions(&report)[0]["status"],
        "done",
        "the revocation comes first: {report:#}"
    );
    let a = reassociation(&report);
    assert_eq!(a["status"], "done", "{a:#}");
    assert_eq!(
        a["facts"]["old_association_id"].as_str(),
        i.association.as_deref()
    );
    let new_id = a["facts"]["new_association_id"].as_str().unwrap();
    assert_ne!(Some(new_id), i.association.as_deref());
    // The new association happened after the cutoff, so the instance's next credentials work.
    let cutoff = a["cutoff"].as_str().unwrap();
    assert!(
        a["facts"]["reassociated_at"].as_str().unwrap() > cutoff,
        "{a:#}"
    );
    assert!(
        a["facts"]["wait_ms"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(
        live_associations(&i.id).await,
        vec![(
            new_id.to_string(),
            "arn:aws:iam::123456789012:instance-profile/web-app-profile".to_string()
        )]
    );
    assert!(report["incidents"][0]["next_steps"]
        .to_string()
        .contains("aws sts get-caller-identity"));
}

#[tokio::test]
async fn replace_strategy_swaps_the_association() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let i = instance(&iam, Some("web-app")).await;
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("REASSOCIATION_STRATEGY", "replace"),
        ("CUTOFF_MARGIN_SECONDS", "1"),
    ])
    .await;
    let report = respond(&r, &exfiltration(&i)).await;
    let a = reassociation(&report);
    assert_eq!(
        (a["status"].as_str(), a["facts"]["strategy"].as_str()),
        (Some("done"), Some("replace")),
        "{a:#}"
    );
    let live = live_associations(&i.id).await;
    assert_eq!(live.len(), 1);
    assert_eq!(
        live[0].0,
        a["facts"]["new_association_id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn an_instance_without_a_profile_is_skipped() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let i = instance(&iam, None).await;
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("CUTOFF_MARGIN_SECONDS", "1"),
    ])
    .await;
    let report = respond(&r, &exfiltration(&i)).await;
    let a = reassociation(&report);
    assert_eq!(a["status"], "skipped");
    assert!(a["detail"]
        .as_str()
        .unwrap()
        .contains("no instance profile association"));
    assert_eq!(report["outcome"], "revoked");
}

#[tokio::test]
async fn an_instance_with_another_roles_profile_is_left_alone() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let i = instance(&iam, Some("batch-worker")).await;
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("CUTOFF_MARGIN_SECONDS", "1"),
    ])
    .await;
    let report = respond(&r, &exfiltration(&i)).await;
    let a = reassociation(&report);
    assert_eq!(a["status"], "skipped");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("not the revoked role web-app"),
        "{a:#}"
    );
    assert_eq!(
        live_associations(&i.id).await[0].0,
        i.association.clone().unwrap()
    );
}

#[tokio::test]
async fn dry_run_says_what_would_be_reassociated_and_when() {
    let _emulator = fresh_emulator().await;
    let iam = Iam::new().await;
    let i = instance(&iam, Some("web-app")).await;
    let r = responder(&[
        ("REASSOCIATE_INSTANCE_PROFILE", "true"),
        ("DRY_RUN", "true"),
    ])
    .await;
    let report = respond(&r, &exfiltration(&i)).await;
    let a = reassociation(&report);
    assert_eq!(a["status"], "would_do");
    assert!(a["detail"].as_str().unwrap().contains("after the cutoff"));
    assert_eq!(
        live_associations(&i.id).await[0].0,
        i.association.clone().unwrap()
    );
}
