//! Why a Kubernetes job waits, against the in-memory API server in `fake_api`: the
//! scheduler's verdicts it makes itself (too few GPUs, a selector no node matches) and the
//! ones written onto the pod as a real scheduler and kubelet write them (taints, an image
//! pull backing off).

mod fake_api;

use fake_api::{FakeApi, NodeSpec, Res};
use hoist_core::{GpuSpec, JobRecord, JobStatus, MapEnv, PendingAnalysis, Platform};
use hoist_kube::manifest::job_name;
use hoist_kube::{KubePlatform, KubeSettings};
use hoist_testkit::contract::{record, shell, unique_id};
use serde_json::json;
use std::sync::Arc;

fn platform(api: &FakeApi) -> KubePlatform {
    KubePlatform::with_client(
        KubeSettings::default(),
        kube::Client::new(api.clone(), "default"),
        "https://k8s.example:6443/",
    )
    .with_env(Arc::new(MapEnv::default()))
}

/// Submit `text` asking for `gpus` (of `model`), and the record the facade would keep.
async fn submit(p: &KubePlatform, gpus: u32, model: Option<&str>, text: &str) -> JobRecord {
    let mut req = shell(&unique_id("pend"), text);
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    if gpus > 0 {
        req.spec.gpus = GpuSpec::Count(gpus);
    }
    req.spec.gpu_type = model.map(str::to_string);
    let sub = p.submit(&req).await.expect("submitted");
    record(p, &req, &sub)
}

/// The name of the job's (only) pod.
fn pod_of(api: &FakeApi, j: &JobRecord) -> String {
    let name = job_name(&j.job_id);
    api.names(Res::Pods, "default")
        .into_iter()
        .find(|p| {
            api.object(Res::Pods, "default", p)
                .is_some_and(|o| o["metadata"]["labels"]["job-name"] == name.as_str())
        })
        .expect("the job has a pod")
}

async fn why(p: &KubePlatform, j: &JobRecord) -> PendingAnalysis {
    let r = p
        .status(std::slice::from_ref(j))
        .await
        .remove(0)
        .expect("status");
    assert_eq!(r.status, JobStatus::Pending, "{r:?}");
    p.pending_analysis(j)
        .await
        .expect("asked")
        .expect("it waits")
}

#[tokio::test]
async fn more_gpus_than_any_node_has_waits_for_gpus() {
    let api = FakeApi::with_nodes(&[
        NodeSpec {
            name: "gpu-1",
            gpus: 1,
            labels: &[],
        },
        NodeSpec {
            name: "gpu-2",
            gpus: 1,
            labels: &[],
        },
    ]);
    // Without rights on nodes hoist cannot refuse it up front: the scheduler decides.
    api.forbid_nodes();
    let p = platform(&api);
    let j = submit(&p, 2, None, "echo hi").await;
    let a = why(&p, &j).await;
    assert_eq!(a.reason, "Unschedulable: Insufficient nvidia.com/gpu");
    assert!(
        a.explanation
            .contains("2 node(s) lack free GPUs (nvidia.com/gpu)"),
        "{}",
        a.explanation
    );
    assert!(a.unblock.contains("fewer") && !a.stuck);
    assert!(
        a.evidence
            .contains("0/2 nodes are available: 2 Insufficient nvidia.com/gpu"),
        "{}",
        a.evidence
    );
}

#[tokio::test]
async fn a_gpu_model_no_node_is_labelled_with_never_schedules() {
    let api = FakeApi::new();
    api.forbid_nodes();
    let p = platform(&api);
    let j = submit(&p, 1, Some("A100"), "echo hi").await;
    let a = why(&p, &j).await;
    assert_eq!(a.reason, "Unschedulable: node selector");
    assert!(a.stuck, "waiting will not help");
    assert!(
        a.explanation
            .contains("2 node(s) do not match its node selector")
    );
    assert!(
        a.evidence
            .contains("didn't match Pod's node affinity/selector")
    );
}

#[tokio::test]
async fn untolerated_taints_are_named() {
    let api = FakeApi::new();
    let p = platform(&api);
    let j = submit(&p, 1, None, "sleep 100").await;
    let pod = pod_of(&api, &j);
    api.set_pod_status(
        "default",
        &pod,
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "lastTransitionTime": "2026-12-06T02:00:00Z",
            "message": "0/2 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."}]}),
    );
    let a = why(&p, &j).await;
    assert_eq!(a.reason, "Unschedulable: taints");
    assert!(
        a.explanation.contains("{nvidia.com/gpu: present}"),
        "{}",
        a.explanation
    );
    assert!(a.unblock.contains("toleration") && a.stuck);
    assert!(
        a.evidence.starts_with(&format!("pod {pod}: ")),
        "{}",
        a.evidence
    );
}

#[tokio::test]
async fn an_image_pull_backing_off_says_which_failure() {
    let api = FakeApi::new();
    let p = platform(&api);
    let j = submit(&p, 0, None, "sleep 100").await;
    let pod = pod_of(&api, &j);
    api.set_pod_status(
        "default",
        &pod,
        json!({"phase": "Pending", "containerStatuses": [{"name": "job", "ready": false,
            "restartCount": 0, "image": "nvcr.io/nvidia/pytorch:24.05-py3", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image \"nvcr.io/nvidia/pytorch:24.05-py3\": ErrImagePull: failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized"}}}]}),
    );
    let a = why(&p, &j).await;
    assert_eq!(a.reason, "ImagePullBackOff");
    assert!(a.explanation.contains("credentials"), "{}", a.explanation);
    assert!(a.unblock.contains("SKYPILOT_DOCKER_USERNAME"));
    assert!(a.stuck);
    // While the pull is still going, it only waits.
    api.set_pod_status(
        "default",
        &pod,
        json!({"phase": "Pending", "containerStatuses": [{"name": "job", "ready": false,
            "restartCount": 0, "image": "nvcr.io/nvidia/pytorch:24.05-py3", "imageID": "",
            "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
    );
    let c = why(&p, &j).await;
    assert_eq!(c.reason, "ContainerCreating");
    assert!(
        c.explanation
            .contains("pulling nvcr.io/nvidia/pytorch:24.05-py3")
    );
    assert!(!c.stuck);
}

#[tokio::test]
async fn a_running_job_does_not_wait() {
    let api = FakeApi::new();
    let p = platform(&api);
    let j = submit(&p, 0, None, "sleep 100").await;
    assert!(p.pending_analysis(&j).await.expect("asked").is_none());
}
