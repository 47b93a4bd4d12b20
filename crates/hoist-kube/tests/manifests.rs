//! The objects hoist creates, snapshotted (insta): a change to a manifest shows up as a diff
//! to review, not as a surprise on a cluster.

use hoist_core::staging::RunnerPlan;
use hoist_core::{Command, GpuSpec, JobSpec, SubmitRequest};
use hoist_kube::KubeOptions;
use hoist_kube::manifest::{ManifestSettings, redacted, render};
use std::collections::BTreeMap;

fn req(nodes: u32, gpus: u32) -> SubmitRequest {
    let mut spec = JobSpec::new(Command::Shell(
        "python train.py --lr 0.1 && echo done".into(),
    ));
    spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    spec.nodes = nodes;
    spec.gpus = GpuSpec::Count(gpus);
    spec.cpus = Some(7.5);
    spec.memory_bytes = Some(64 << 30);
    spec.labels = BTreeMap::from([("team".to_string(), "vision ml".to_string())]);
    let opts = KubeOptions {
        node_selector: BTreeMap::from([(
            "nvidia.com/gpu.product".to_string(),
            "NVIDIA-H100-80GB-HBM3".to_string(),
        )]),
        tolerations: vec![
            "nvidia.com/gpu:NoSchedule".into(),
            "dedicated=ml:NoExecute".into(),
        ],
        image_pull_secret: Some("ngc-pull".into()),
        ..Default::default()
    };
    spec.platform_options.insert(
        "kubernetes".into(),
        serde_json::to_value(opts).expect("options"),
    );
    SubmitRequest {
        job_id: "0b5e7f2a-1111-4222-8333-944455556666".into(),
        launch_token: "tok-1".into(),
        spec,
        env: BTreeMap::from([
            ("NGC_KEY".to_string(), "nvapi-secret".to_string()),
            ("MODE".to_string(), "fast".to_string()),
        ]),
        runner: None,
        runner_binary: None,
    }
}

fn settings() -> ManifestSettings {
    ManifestSettings {
        namespace: "ml".into(),
        runner_image: Some("registry.example.com/hoist-runner:0.1.0".into()),
        ttl_seconds: 3600,
    }
}

#[test]
fn single_node_job() {
    let m = render(&req(1, 2), &settings()).expect("render");
    assert!(m.service.is_none());
    insta::assert_json_snapshot!(redacted(&m));
}

#[test]
fn multi_node_indexed_job_and_headless_service() {
    let m = render(&req(4, 8), &settings()).expect("render");
    insta::assert_json_snapshot!(redacted(&m));
}

#[test]
fn data_staging_uses_the_runner_init_container() {
    let mut r = req(1, 0);
    r.spec.inputs = vec![hoist_core::spec::DataBinding {
        key: "/data/train.json".into(),
        uri: "s3://bkt/train.json".into(),
    }];
    r.runner = RunnerPlan::for_job(&r.job_id, &r.spec);
    let m = render(&r, &settings()).expect("render");
    insta::assert_json_snapshot!(redacted(&m));
    let mut no_image = settings();
    no_image.runner_image = None;
    let e = render(&r, &no_image).expect_err("needs the runner image");
    assert!(e.hint.contains("hoist runner-image"), "{}", e.hint);
}

#[test]
fn refusals() {
    let mut r = req(1, 1);
    r.spec.gpus = GpuSpec::All;
    assert!(
        render(&r, &settings())
            .expect_err("all")
            .message
            .contains("needs a count")
    );
    r.spec.gpus = GpuSpec::Count(1);
    r.spec.image = None;
    assert!(
        render(&r, &settings())
            .expect_err("image")
            .message
            .contains("needs an image")
    );
    r.spec.image = Some("x".into());
    r.spec.platform_options.insert(
        "kubernetes".into(),
        serde_json::json!({"tolerations": ["k:Sometimes"]}),
    );
    assert!(
        render(&r, &settings())
            .expect_err("effect")
            .message
            .contains("Sometimes")
    );
}
