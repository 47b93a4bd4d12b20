//! Why a Job's pods wait: the scheduler's condition and the kubelet's container states,
//! turned into `hoist_core::pending`'s words. Pure.

use hoist_core::pending::{self, PendingAnalysis};
use k8s_openapi::api::core::v1::Pod;

/// Why one pod waits, from its `PodScheduled=False` condition or its first waiting container.
fn pod_wait(p: &Pod) -> Option<PendingAnalysis> {
    let st = p.status.as_ref()?;
    if matches!(
        st.phase.as_deref(),
        Some("Running" | "Succeeded" | "Failed")
    ) {
        return None;
    }
    let name = p.metadata.name.as_deref().unwrap_or("pod");
    let unscheduled = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    let mut a = if let Some(c) = unscheduled {
        pending::kubernetes_unschedulable(c.message.as_deref().unwrap_or(""))
    } else {
        let spec = p.spec.as_ref();
        let image_of = |container: &str| {
            spec.into_iter()
                .flat_map(|s| {
                    s.init_containers
                        .iter()
                        .flatten()
                        .chain(s.containers.iter())
                })
                .find(|c| c.name == container)
                .and_then(|c| c.image.clone())
                .unwrap_or_default()
        };
        let (c, w) = st
            .init_container_statuses
            .iter()
            .flatten()
            .chain(st.container_statuses.iter().flatten())
            .find_map(|c| Some((c, c.state.as_ref()?.waiting.as_ref()?)))?;
        let image = if c.image.is_empty() {
            image_of(&c.name)
        } else {
            c.image.clone()
        };
        pending::kubernetes_waiting(
            w.reason.as_deref().unwrap_or("Waiting"),
            w.message.as_deref().unwrap_or(""),
            &image,
        )
    };
    a.evidence = format!("pod {name}: {}", a.evidence);
    Some(a)
}

/// Why the job's pods wait, the one that needs someone to act first; a Job without pods
/// waits for its controller. `None` when no pod waits.
pub fn analysis(pods: &[Pod]) -> Option<PendingAnalysis> {
    if pods.is_empty() {
        return Some(PendingAnalysis::new(
            "NoPods",
            "the Job controller has not created its pods yet",
            "wait a few seconds; if it stays so, kubectl describe job shows the controller's events (a quota or admission webhook may refuse the pods)",
            "the Job has no pods",
        ));
    }
    let mut waits: Vec<PendingAnalysis> = pods.iter().filter_map(pod_wait).collect();
    waits.sort_by_key(|a| !a.stuck);
    waits.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("pod")
    }

    #[test]
    fn an_unscheduled_pod_and_a_pulling_one_are_told_apart() {
        let unsched = pod(
            json!({"metadata": {"name": "p0"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}}),
        );
        let a = analysis(std::slice::from_ref(&unsched)).expect("waits");
        assert_eq!(a.reason, "Unschedulable: Insufficient nvidia.com/gpu");
        assert!(a.evidence.starts_with("pod p0: PodScheduled=False"));
        let creating = pod(json!({"metadata": {"name": "p1"},
            "spec": {"containers": [{"name": "job", "image": "nvcr.io/nvidia/pytorch:24.05-py3"}]},
            "status": {"phase": "Pending", "containerStatuses": [
            {"name": "job", "image": "", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}}]}}));
        let c = analysis(std::slice::from_ref(&creating)).expect("waits");
        assert!(
            c.explanation.contains("nvcr.io/nvidia/pytorch:24.05-py3"),
            "{}",
            c.explanation
        );
        // The pod someone must fix comes first.
        let backoff = pod(
            json!({"metadata": {"name": "p2"}, "status": {"phase": "Pending", "containerStatuses": [
            {"name": "job", "image": "x:nope", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "manifest unknown"}}}]}}),
        );
        let b = analysis(&[creating, backoff]).expect("waits");
        assert_eq!(b.reason, "ImagePullBackOff");
        assert_eq!(analysis(&[]).expect("no pods").reason, "NoPods");
        let running = pod(json!({"metadata": {"name": "p3"}, "status": {"phase": "Running"}}));
        assert!(analysis(&[running]).is_none());
    }
}
