//! The objects hoist creates, snapshotted (insta): a change to a manifest shows up as a diff
//! to review, not as a surprise on a cluster.

use hoist_core::staging::RunnerPlan;
use hoist_core::{Command, GpuSpec, JobSpec, MapEnv, SubmitRequest};
use hoist_kube::KubeOptions;
use hoist_kube::manifest::{ManifestSettings, dry_run_objects, redacted, render, to_yaml_stream};
use hoist_kube::placement::GpuPlacement;
use hoist_kube::pull::PullLogin;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

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
        ..Default::default()
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

const REGISTRY_PASSWORD: &str = "sky-registry-pw-0451";

/// The environment a SkyPilot task launcher gives: a login scoped to the image's registry.
fn skypilot_env() -> MapEnv {
    MapEnv::of([
        ("SKYPILOT_DOCKER_USERNAME", "robot$trainer"),
        ("SKYPILOT_DOCKER_PASSWORD", REGISTRY_PASSWORD),
        ("SKYPILOT_DOCKER_SERVER", "registry.example.com"),
    ])
}

/// A private image, no pull Secret named, a GPU model asked for.
fn private_req(nodes: u32) -> SubmitRequest {
    let mut r = req(nodes, 8);
    r.spec.image = Some("registry.example.com/team/trainer:1.2".into());
    r.spec.gpu_type = Some("A100".into());
    r.spec.platform_options.insert(
        "kubernetes".into(),
        serde_json::json!({"tolerations": ["nvidia.com/gpu:NoSchedule"]}),
    );
    r
}

fn pod_spec(m: &hoist_kube::manifest::Manifests) -> Value {
    serde_json::to_value(&m.job).expect("json")["spec"]["template"]["spec"].clone()
}

#[test]
fn registry_login_makes_a_pull_secret_the_pods_use() {
    let r = private_req(2);
    let image = r.spec.image.clone().expect("image");
    let mut s = settings();
    // As a dry run renders: the login as written, never resolved.
    s.pull_login = PullLogin::for_image(&image, &skypilot_env());
    let m = render(&r, &s).expect("render");
    insta::assert_json_snapshot!(redacted(&m));

    let shown = redacted(&m);
    let secret = &shown["pull_secret"];
    let name = "hoist-0b5e7f2a-1111-4222-8333-944455556666-pull";
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(secret["metadata"]["name"], name);
    assert_eq!(
        secret["metadata"]["labels"],
        shown["job"]["metadata"]["labels"]
    );
    let config: Value = serde_json::from_str(
        secret["stringData"][".dockerconfigjson"]
            .as_str()
            .expect("text"),
    )
    .expect("a docker config");
    assert_eq!(
        config["auths"]["registry.example.com"],
        serde_json::json!({"username": "robot$trainer",
            "password": "<redacted: from SKYPILOT_DOCKER_PASSWORD>"})
    );
    assert_eq!(
        pod_spec(&m)["imagePullSecrets"],
        serde_json::json!([{"name": name}])
    );
    // The dry-run stream: the pull Secret is applied before the Job that names it.
    let stream = to_yaml_stream(&dry_run_objects(&m));
    let kinds: Vec<(String, String)> = dry_run_objects(&m)
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or("?").into(),
                o["metadata"]["name"].as_str().unwrap_or("?").into(),
            )
        })
        .collect();
    assert_eq!(
        kinds.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["Secret", "Secret", "Service", "Job"]
    );
    assert_eq!(kinds[1].1, name);
    assert!(
        stream.contains("<redacted: from SKYPILOT_DOCKER_PASSWORD>"),
        "{stream}"
    );
    for text in [stream, shown.to_string(), format!("{m:?}")] {
        assert!(!text.contains(REGISTRY_PASSWORD), "{text}");
    }
}

#[test]
fn a_resolved_login_reaches_only_the_secret_submit_creates() {
    let r = private_req(1);
    let mut s = settings();
    s.pull_login = PullLogin::for_image("registry.example.com/team/trainer:1.2", &skypilot_env())
        .map(|l| l.resolve().expect("a literal password"));
    let m = render(&r, &s).expect("render");
    let created = serde_json::to_value(m.pull_secret.as_ref().expect("pull secret")).expect("json");
    let b64 = created["data"][".dockerconfigjson"]
        .as_str()
        .expect("base64");
    let config: Value = serde_json::from_slice(
        &serde_json::from_value::<k8s_openapi::ByteString>(Value::String(b64.into()))
            .expect("base64")
            .0,
    )
    .expect("json");
    let auth = hoist_core::registry::base64_encode(
        format!("robot$trainer:{REGISTRY_PASSWORD}").as_bytes(),
    );
    assert_eq!(
        config["auths"]["registry.example.com"]["auth"],
        auth.as_str()
    );
    let job = serde_json::to_string(&m.job).expect("json");
    let shown = to_yaml_stream(&dry_run_objects(&m));
    for text in [
        job,
        shown.clone(),
        redacted(&m).to_string(),
        format!("{m:?}"),
    ] {
        for secret in [REGISTRY_PASSWORD, b64, auth.as_str()] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

#[test]
fn a_named_pull_secret_wins_over_the_login() {
    let mut r = private_req(1);
    r.spec.platform_options.insert(
        "kubernetes".into(),
        serde_json::json!({"image_pull_secret": "team-pull"}),
    );
    let mut s = settings();
    s.pull_login = PullLogin::for_image("registry.example.com/team/trainer:1.2", &skypilot_env());
    let m = render(&r, &s).expect("render");
    assert!(m.pull_secret.is_none());
    assert_eq!(
        pod_spec(&m)["imagePullSecrets"],
        serde_json::json!([{"name": "team-pull"}])
    );
}

#[test]
fn a_gpu_model_places_the_pods() {
    let r = private_req(1);
    // Dry run: the model as given, on GPU feature discovery's label.
    let m = render(&r, &settings()).expect("render");
    assert_eq!(
        pod_spec(&m)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
        serde_json::json!({"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["A100"]}]}]})
    );
    // Submit: the values found on the nodes, one term per label key (either admits a node).
    let mut s = settings();
    s.gpu_placement = Some(GpuPlacement::Affinity(BTreeMap::from([
        (
            "nvidia.com/gpu.product".to_string(),
            BTreeSet::from(["NVIDIA-A100-SXM4-80GB".to_string()]),
        ),
        (
            "cloud.google.com/gke-accelerator".to_string(),
            BTreeSet::from(["nvidia-tesla-a100".to_string()]),
        ),
    ])));
    let terms = pod_spec(&render(&r, &s).expect("render"))["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        .clone();
    assert_eq!(terms.as_array().map(Vec::len), Some(2), "{terms}");
    // Nodes not listable: the fallback selector.
    s.gpu_placement = Some(GpuPlacement::Selector("A100".into()));
    let p = pod_spec(&render(&r, &s).expect("render"));
    assert_eq!(p["nodeSelector"]["nvidia.com/gpu.product"], "A100");
    assert!(p["affinity"].is_null());
    // No GPUs asked: the model places nothing.
    let mut cpu = private_req(1);
    cpu.spec.gpus = GpuSpec::None;
    assert!(pod_spec(&render(&cpu, &settings()).expect("render"))["affinity"].is_null());
}

#[test]
fn every_pod_of_a_multi_node_job_sees_every_address_in_rank_order() {
    let m = render(&req(3, 8), &settings()).expect("render");
    let env = pod_spec(&m)["containers"][0]["env"].clone();
    let value = |name: &str| {
        env.as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)
            .and_then(|e| e["value"].as_str())
            .map(str::to_string)
    };
    let job = "hoist-0b5e7f2a-1111-4222-8333-944455556666";
    assert_eq!(
        value("HOIST_NODE_IPS").as_deref(),
        Some(format!("{job}-0.{job}\n{job}-1.{job}\n{job}-2.{job}").as_str())
    );
    let first = value("HOIST_NODE_IPS").and_then(|v| v.lines().next().map(str::to_string));
    assert_eq!(first, value("MASTER_ADDR"), "rank 0 is the master");
    let single = render(&req(1, 8), &settings()).expect("render");
    assert!(
        !serde_json::to_string(&single.job)
            .expect("json")
            .contains("HOIST_NODE_IPS")
    );
}
