//! Image pull Secrets and GPU model placement against the in-memory API server in `fake_api`:
//! what a real submit leaves on the cluster (the Secret's decoded login, who owns it, where
//! the pods landed) rather than which requests were sent.

mod fake_api;

use fake_api::{FakeApi, NodeSpec, Res};
use hoist_core::{
    CancelOutcome, GpuSpec, JobStatus, MapEnv, Platform, PlatformError, SubmitRequest,
};
use hoist_kube::manifest::job_name;
use hoist_kube::pull::pull_secret_name;
use hoist_kube::{KubePlatform, KubeSettings};
use hoist_testkit::contract::{record, shell, unique_id};
use serde_json::Value;
use std::sync::Arc;

const SERVER: &str = "https://k8s.example:6443/";
const IMAGE: &str = "registry.example.com/team/trainer:1.2";

fn platform(api: &FakeApi, env: MapEnv) -> KubePlatform {
    KubePlatform::with_client(
        KubeSettings::default(),
        kube::Client::new(api.clone(), "default"),
        SERVER,
    )
    .with_env(Arc::new(env))
}

fn login_env(password: &str) -> MapEnv {
    MapEnv::of([
        ("SKYPILOT_DOCKER_USERNAME", "robot"),
        ("SKYPILOT_DOCKER_PASSWORD", password),
        ("SKYPILOT_DOCKER_SERVER", "registry.example.com"),
    ])
}

fn job(prefix: &str, text: &str, image: &str) -> SubmitRequest {
    let mut r = shell(&unique_id(prefix), text);
    r.spec.image = Some(image.into());
    r
}

fn gpu_job(prefix: &str, model: &str, gpus: u32) -> SubmitRequest {
    let mut r = job(prefix, "echo trained", "nvcr.io/nvidia/pytorch:24.05-py3");
    r.spec.gpus = GpuSpec::Count(gpus);
    r.spec.gpu_type = Some(model.into());
    r
}

/// The `auth` of the registry's entry in a stored pull Secret, decoded.
fn stored_auth(api: &FakeApi, job_id: &str) -> String {
    let s = api
        .object(Res::Secrets, "default", &pull_secret_name(job_id))
        .expect("the pull Secret exists");
    assert_eq!(s["type"], "kubernetes.io/dockerconfigjson");
    let bytes: k8s_openapi::ByteString =
        serde_json::from_value(s["data"][".dockerconfigjson"].clone()).expect("base64 data");
    let config: Value = serde_json::from_slice(&bytes.0).expect("a docker config");
    let auth: k8s_openapi::ByteString =
        serde_json::from_value(config["auths"]["registry.example.com"]["auth"].clone())
            .expect("auth is base64");
    String::from_utf8(auth.0).expect("utf-8")
}

fn pod_template(api: &FakeApi, job_id: &str) -> Value {
    api.object(Res::Jobs, "default", &job_name(job_id))
        .expect("the Job exists")["spec"]["template"]["spec"]
        .clone()
}

/// The nodes the job's pods were placed on (`None` for one left unscheduled).
fn pod_nodes(api: &FakeApi, job_id: &str) -> Vec<Option<String>> {
    let name = job_name(job_id);
    api.names(Res::Pods, "default")
        .into_iter()
        .filter_map(|p| api.object(Res::Pods, "default", &p))
        .filter(|p| p["metadata"]["labels"]["job-name"] == name.as_str())
        .map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_submit_creates_the_pull_secret_with_the_login_and_hands_it_to_the_job() {
    let api = FakeApi::new();
    let p = platform(&api, login_env("s3cret-pw"));
    let req = job("pull", "echo pulled", IMAGE);
    let sub = p.submit(&req).await.expect("submit");
    assert_eq!(stored_auth(&api, &req.job_id), "robot:s3cret-pw");
    let secret = api
        .object(Res::Secrets, "default", &pull_secret_name(&req.job_id))
        .expect("secret");
    let job = api
        .object(Res::Jobs, "default", &job_name(&req.job_id))
        .expect("job");
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"], job["metadata"]["uid"],
        "deleted with the Job"
    );
    assert_eq!(
        secret["metadata"]["labels"]["hoist.dev/job-id"],
        req.job_id.as_str()
    );
    assert_eq!(
        pod_template(&api, &req.job_id)["imagePullSecrets"],
        serde_json::json!([{"name": pull_secret_name(&req.job_id)}])
    );
    let j = record(&p, &req, &sub);
    let r = p.status(std::slice::from_ref(&j)).await.remove(0);
    assert_eq!(r.expect("status").status, JobStatus::Complete);
    // `hoist rm` takes it with the Job.
    p.remove(&j).await.expect("remove");
    assert!(api.names(Res::Secrets, "default").is_empty());
}

#[tokio::test]
async fn a_password_command_runs_for_a_submit_and_never_for_a_dry_run() {
    let dir = std::env::temp_dir().join(unique_id("hoist-kube-pw"));
    std::fs::create_dir_all(&dir).expect("dir");
    let ran = dir.join("ran");
    let command = format!("$(touch {}; printf from-cmd)", ran.display());
    let api = FakeApi::new();
    let p = platform(&api, login_env(&command));
    let req = job("pw", "echo pulled", IMAGE);
    let d = p.dry_run(&req).await.expect("dry run");
    assert!(!ran.exists(), "a dry run ran the password command");
    assert!(
        d.text.contains("<redacted: from SKYPILOT_DOCKER_PASSWORD>"),
        "{}",
        d.text
    );
    assert!(!d.text.contains("touch") && !d.json.to_string().contains("touch"));
    assert!(
        api.requests().is_empty(),
        "a dry run asks the cluster nothing"
    );
    p.submit(&req).await.expect("submit");
    assert!(ran.exists());
    assert_eq!(stored_auth(&api, &req.job_id), "robot:from-cmd");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_named_pull_secret_or_another_registry_makes_none() {
    let api = FakeApi::new();
    let p = platform(&api, login_env("pw"));
    let mut named = job("named", "echo x", IMAGE);
    named.spec.platform_options.insert(
        "kubernetes".into(),
        serde_json::json!({"image_pull_secret": "team-pull"}),
    );
    p.submit(&named).await.expect("submit");
    assert_eq!(
        pod_template(&api, &named.job_id)["imagePullSecrets"],
        serde_json::json!([{"name": "team-pull"}])
    );
    let other = job("other", "echo x", "ghcr.io/someone/else:1");
    p.submit(&other).await.expect("submit");
    assert!(pod_template(&api, &other.job_id)["imagePullSecrets"].is_null());
    assert!(api.names(Res::Secrets, "default").is_empty());
}

#[tokio::test]
async fn cancel_takes_the_pull_secret_with_the_job() {
    let api = FakeApi::new();
    let p = platform(&api, login_env("pw"));
    let req = job("cancel", "sleep 300", IMAGE);
    let sub = p.submit(&req).await.expect("submit");
    let j = record(&p, &req, &sub);
    assert_eq!(
        p.cancel(&j).await.expect("cancel"),
        CancelOutcome::Requested
    );
    assert!(
        api.object(Res::Secrets, "default", &pull_secret_name(&req.job_id))
            .is_none(),
        "{:#?}",
        api.requests()
    );
}

#[tokio::test]
async fn a_job_run_again_keeps_its_pull_secret() {
    let api = FakeApi::new();
    let p = platform(&api, login_env("pw"));
    let req = job("again", "exit 3", IMAGE);
    let sub = p.submit(&req).await.expect("submit");
    let j = record(&p, &req, &sub);
    p.retry(&j).await.expect("retry").expect("ran again");
    let secret = api
        .object(Res::Secrets, "default", &pull_secret_name(&req.job_id))
        .expect("kept");
    let job = api
        .object(Res::Jobs, "default", &job_name(&req.job_id))
        .expect("the new Job");
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"],
        job["metadata"]["uid"]
    );
    assert_eq!(stored_auth(&api, &req.job_id), "robot:pw");
}

/// Two GPU nodes labelled by different tools, and a CPU node.
fn two_kinds_of_gpu_nodes() -> FakeApi {
    FakeApi::with_nodes(&[
        NodeSpec {
            name: "cpu-0",
            gpus: 0,
            labels: &[],
        },
        NodeSpec {
            name: "gfd-a100",
            gpus: 8,
            labels: &[("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB")],
        },
        NodeSpec {
            name: "gke-h100",
            gpus: 8,
            labels: &[("cloud.google.com/gke-accelerator", "nvidia-h100-80gb")],
        },
    ])
}

#[tokio::test]
async fn a_gpu_model_lands_on_the_nodes_labelled_with_it_whoever_labelled_them() {
    let api = two_kinds_of_gpu_nodes();
    let p = platform(&api, MapEnv::default());
    let a = gpu_job("a100", "a100", 8);
    p.submit(&a).await.expect("A100");
    assert_eq!(pod_nodes(&api, &a.job_id), [Some("gfd-a100".to_string())]);
    let terms = pod_template(&api, &a.job_id)["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        .clone();
    assert_eq!(
        terms,
        serde_json::json!([{"matchExpressions": [{"key": "nvidia.com/gpu.product",
            "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}]}])
    );
    let h = gpu_job("h100", "H100-80GB", 4);
    p.submit(&h).await.expect("H100");
    assert_eq!(pod_nodes(&api, &h.job_id), [Some("gke-h100".to_string())]);
}

#[tokio::test]
async fn a_model_the_cluster_lacks_is_refused_naming_what_it_has() {
    let api = two_kinds_of_gpu_nodes();
    let p = platform(&api, MapEnv::default());
    let e = p
        .submit(&gpu_job("a10", "A10", 1))
        .await
        .expect_err("no A10");
    let PlatformError::Input(e) = e else {
        panic!("not an input error: {e:?}")
    };
    assert!(
        e.message.contains("A10")
            && e.message.contains("NVIDIA-A100-SXM4-80GB")
            && e.message.contains("nvidia-h100-80gb"),
        "{}",
        e.message
    );
    // More than the model's nodes hold, though the cluster has that many in all.
    let mut big = gpu_job("big", "A100", 8);
    big.spec.nodes = 2;
    let e = p.submit(&big).await.expect_err("one A100 node");
    assert!(
        e.to_string()
            .contains("the cluster's A100 nodes have 8 allocatable"),
        "{e}"
    );
    assert!(
        api.names(Res::Jobs, "default").is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn without_rights_on_nodes_the_model_becomes_a_plain_node_selector() {
    let api = two_kinds_of_gpu_nodes();
    api.forbid_nodes();
    let p = platform(&api, MapEnv::default());
    let req = gpu_job("rbac", "A100", 8);
    let sub = p
        .submit(&req)
        .await
        .expect("submitted without reading nodes");
    let pod = pod_template(&api, &req.job_id);
    assert_eq!(
        pod["nodeSelector"],
        serde_json::json!({"nvidia.com/gpu.product": "A100"})
    );
    assert!(pod["affinity"].is_null(), "{pod}");
    // Nothing is labelled with the bare model: the scheduler says so, and status shows it.
    assert_eq!(pod_nodes(&api, &req.job_id), [None]);
    let r = p
        .status(&[record(&p, &req, &sub)])
        .await
        .remove(0)
        .expect("status");
    assert_eq!(r.status, JobStatus::Pending);
    assert!(
        r.message
            .contains("didn't match Pod's node affinity/selector"),
        "{}",
        r.message
    );
}
