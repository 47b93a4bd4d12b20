//! What a Job and its pods mean in the contract's terms. Pure: tested against objects in the
//! API's JSON shapes.

use hoist_core::failure::{ErrClass, FailureEvent, PlatformFinding};
use hoist_core::{JobStatus, Replica, StatusReport};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// The rank of a pod of an Indexed Job.
pub fn rank(p: &Pod) -> Option<String> {
    p.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("batch.kubernetes.io/job-completion-index"))
        .or_else(|| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("batch.kubernetes.io/job-completion-index"))
        })
        .cloned()
}

fn terminated(p: &Pod) -> Option<&ContainerStateTerminated> {
    p.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| c.state.as_ref()?.terminated.as_ref())
}

/// Why a pod is not running (or stopped): the first telling thing, `reason: message`.
pub fn pod_issue(p: &Pod) -> Option<String> {
    let st = p.status.as_ref()?;
    if let Some(r) = &st.reason {
        // Evicted, DeadlineExceeded, NodeLost … are the pod's own verdict.
        return Some(format!("{r}: {}", st.message.clone().unwrap_or_default()));
    }
    let statuses = st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten());
    for c in statuses {
        if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref())
            && let Some(r) = &w.reason
            && r != "ContainerCreating"
            && r != "PodInitializing"
        {
            return Some(format!("{r}: {}", w.message.clone().unwrap_or_default()));
        }
        if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref())
            && t.exit_code != 0
        {
            return Some(format!(
                "{} (exit {}){}",
                t.reason.clone().unwrap_or_else(|| "Error".into()),
                t.exit_code,
                t.message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    for c in st.conditions.iter().flatten() {
        if c.type_ == "PodScheduled" && c.status == "False" {
            return Some(format!(
                "{}: {}",
                c.reason.clone().unwrap_or_else(|| "Unschedulable".into()),
                c.message.clone().unwrap_or_default()
            ));
        }
    }
    None
}

/// Pods grouped by the name of the Job that made them (its `job-name` label), from one
/// listing of every hoist pod, so a batch of jobs costs one list call.
pub(crate) fn pods_by_job(pods: Vec<Pod>) -> std::collections::BTreeMap<String, Vec<Pod>> {
    let mut by_job: std::collections::BTreeMap<String, Vec<Pod>> = Default::default();
    for p in pods {
        if let Some(n) = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::labels::JOB_NAME))
        {
            by_job.entry(n.clone()).or_default().push(p);
        }
    }
    by_job
}

/// The pods of this incarnation of the Job: after a re-run, pods of the deleted Job linger
/// for a while with the same `job-name` label; the controller's uid label tells them apart
/// (pods without it are kept).
pub fn current_pods(job: &Job, pods: &[Pod]) -> Vec<Pod> {
    let Some(uid) = job.metadata.uid.as_deref() else {
        return pods.to_vec();
    };
    pods.iter()
        .filter(|p| {
            let l = p.metadata.labels.as_ref();
            let owner = l.and_then(|l| {
                l.get("batch.kubernetes.io/controller-uid")
                    .or_else(|| l.get("controller-uid"))
            });
            owner.is_none_or(|o| o == uid)
        })
        .cloned()
        .collect()
}

/// Every pod of the job, ordered by rank then name, as `hoist show` lists them.
pub fn replicas(pods: &[Pod]) -> Vec<Replica> {
    let mut v: Vec<Replica> = pods
        .iter()
        .map(|p| Replica {
            name: p.metadata.name.clone().unwrap_or_default(),
            rank: rank(p),
            node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            phase: phase(p).to_string(),
            issue: pod_issue(p),
        })
        .collect();
    v.sort_by(|a, b| {
        let n = |r: &Replica| r.rank.as_deref().and_then(|x| x.parse::<u32>().ok());
        (n(a), &a.name).cmp(&(n(b), &b.name))
    });
    v
}

/// Whether the Job has ended (Complete or Failed), whatever its pods are still doing.
pub fn job_finished(j: &Job) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

fn condition<'a>(
    job: &'a Job,
    kind: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
}

/// The job's status from its Job object and pods. Terminal only when every pod is
/// quiescent (Succeeded or Failed), so a result is never reported while a replica still runs.
pub fn report(job: &Job, pods: &[Pod]) -> StatusReport {
    let quiescent = pods
        .iter()
        .all(|p| matches!(phase(p), "Succeeded" | "Failed"));
    let started_at = pods
        .iter()
        .filter_map(|p| p.status.as_ref()?.start_time.as_ref().map(|t| t.0))
        .min();
    let finished_at = job
        .status
        .as_ref()
        .and_then(|s| s.completion_time.as_ref().map(|t| t.0))
        .or_else(|| {
            condition(job, "Failed").and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
        });
    let mut r = StatusReport {
        status: JobStatus::Pending,
        message: String::new(),
        exit_code: None,
        started_at,
        finished_at: None,
        retriable: false,
        restarts: None,
    };
    let failed_pod = pods.iter().find(|p| phase(p) == "Failed");
    if condition(job, "Complete").is_some() && quiescent {
        r.status = JobStatus::Complete;
        r.exit_code = Some(0);
        r.finished_at = finished_at;
        return r;
    }
    if let Some(c) = condition(job, "Failed").filter(|_| quiescent) {
        r.status = JobStatus::Error;
        r.finished_at = finished_at;
        r.exit_code = failed_pod.and_then(terminated).map(|t| t.exit_code);
        let pod = failed_pod.and_then(pod_issue);
        r.message = match (c.reason.as_deref(), pod) {
            (_, Some(p)) => p,
            (Some(reason), None) => format!("{reason}: {}", c.message.clone().unwrap_or_default()),
            (None, None) => c.message.clone().unwrap_or_else(|| "the Job failed".into()),
        };
        // An evicted or lost pod is the cluster's doing: running again can help.
        r.retriable = failed_pod
            .and_then(|p| p.status.as_ref()?.reason.clone())
            .is_some_and(|reason| matches!(reason.as_str(), "Evicted" | "NodeLost" | "Preempting"));
        return r;
    }
    if pods.iter().any(|p| phase(p) == "Running") {
        r.status = JobStatus::Running;
        let n = pods.iter().filter(|p| phase(p) == "Running").count();
        if pods.len() > 1 {
            r.message = format!("{n} of {} pods running", pods.len());
        }
        if let Some(issue) = pods
            .iter()
            .filter(|p| phase(p) != "Running")
            .find_map(pod_issue)
        {
            r.message = format!("{}; {issue}", r.message);
        }
        return r;
    }
    if condition(job, "Complete").is_some() || condition(job, "Failed").is_some() {
        r.status = JobStatus::Running;
        r.message = "finishing: waiting for pods to stop".into();
        return r;
    }
    r.message = match pods.iter().find_map(pod_issue) {
        Some(issue) => issue,
        // Created held back and not resumed: its launcher died before it could (see fence.rs).
        None if pods.is_empty() && condition(job, "Suspended").is_some() => {
            "held (suspended) until hoist settles its launch: the next hoist command resumes or removes it".into()
        }
        None if pods.is_empty() => "waiting for the Job controller to create pods".into(),
        None => "pods are being created".into(),
    };
    r
}

/// What only Kubernetes can say about a failure, strongest first.
pub fn findings(job: &Job, pods: &[Pod]) -> (Vec<PlatformFinding>, Vec<FailureEvent>, Option<i32>) {
    let mut f = Vec::new();
    let mut events = Vec::new();
    let mut exit = None;
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        if let Some(issue) = pod_issue(p) {
            events.push(FailureEvent {
                node_event_name: "pod".into(),
                message: format!("{name}: {issue}"),
            });
        }
        let st = p.status.as_ref();
        if st.and_then(|s| s.reason.as_deref()) == Some("Evicted") {
            f.push(PlatformFinding {
                err_class: ErrClass::Infra,
                cause: format!(
                    "pod {name} was evicted by its node: {}",
                    st.and_then(|s| s.message.clone()).unwrap_or_default()
                ),
                suggestion: "the node ran short of memory or disk; run again, or ask for --memory so the pod is scheduled where it fits".into(),
                retriable: true,
                event: "Evicted".into(),
            });
        }
        let waiting = st
            .into_iter()
            .flat_map(|s| {
                s.init_container_statuses
                    .iter()
                    .flatten()
                    .chain(s.container_statuses.iter().flatten())
            })
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
            .find(|w| {
                matches!(
                    w.reason.as_deref(),
                    Some("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName")
                )
            });
        if let Some(w) = waiting {
            f.push(PlatformFinding {
                err_class: ErrClass::Infra,
                cause: format!(
                    "the image could not be pulled ({}): {}",
                    w.reason.clone().unwrap_or_default(),
                    w.message.clone().unwrap_or_default()
                ),
                suggestion: "check the image name and tag, that the cluster can reach the registry, and the pull secret (--image-pull-secret; for nvcr.io a docker-registry secret with $oauthtoken and NGC_KEY)".into(),
                retriable: false,
                event: w.reason.clone().unwrap_or_default(),
            });
        }
        if let Some(t) = terminated(p)
            && t.exit_code != 0
        {
            exit = exit.or(Some(t.exit_code));
            if t.reason.as_deref() == Some("OOMKilled") {
                f.push(PlatformFinding {
                    err_class: ErrClass::Program,
                    cause: format!("container of {name} exceeded its memory limit and was killed (OOMKilled)"),
                    suggestion: "raise --memory, or reduce the job's memory use (batch size, max length, data-loader workers), or use a larger node".into(),
                    retriable: false,
                    event: "OOMKilled".into(),
                });
            }
        }
    }
    if let Some(c) = condition(job, "Failed") {
        let reason = c.reason.clone().unwrap_or_default();
        let msg = c.message.clone().unwrap_or_default();
        events.push(FailureEvent {
            node_event_name: reason.clone(),
            message: msg.clone(),
        });
        if reason == "DeadlineExceeded" {
            f.push(PlatformFinding {
                err_class: ErrClass::Config,
                cause: format!("the Job ran past its active deadline: {msg}"),
                suggestion:
                    "raise the deadline or shorten the run (checkpoint and continue in a new job)"
                        .into(),
                retriable: false,
                event: reason,
            });
        }
    }
    (f, events, exit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(v: serde_json::Value) -> Job {
        serde_json::from_value(v).expect("job")
    }
    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("pod")
    }

    #[test]
    fn pending_says_why() {
        let j = job(json!({"metadata": {"name": "hoist-x"}, "status": {"active": 1}}));
        let unsched = pod(
            json!({"metadata": {"name": "p0"}, "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}}),
        );
        let r = report(&j, std::slice::from_ref(&unsched));
        assert_eq!(r.status, JobStatus::Pending);
        assert_eq!(
            r.message,
            "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
        );
        let pull = pod(
            json!({"metadata": {"name": "p0"}, "status": {"phase": "Pending", "containerStatuses": [
            {"name": "job", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nvcr.io/x:1\""}}}]}}),
        );
        let r = report(&j, std::slice::from_ref(&pull));
        assert!(
            r.message.starts_with("ImagePullBackOff: Back-off pulling"),
            "{}",
            r.message
        );
        let (f, _, _) = findings(&j, &[pull]);
        assert_eq!(
            (f[0].err_class, f[0].event.as_str()),
            (ErrClass::Infra, "ImagePullBackOff")
        );
        assert_eq!(
            report(&j, &[]).message,
            "waiting for the Job controller to create pods"
        );
    }

    #[test]
    fn terminal_only_when_pods_are_quiescent() {
        let done = job(
            json!({"metadata": {"name": "j"}, "status": {"succeeded": 1, "completionTime": "2026-11-24T10:00:00Z",
            "conditions": [{"type": "Complete", "status": "True"}]}}),
        );
        let ok = pod(
            json!({"metadata": {"name": "p0"}, "status": {"phase": "Succeeded", "startTime": "2026-11-24T09:00:00Z"}}),
        );
        let still = pod(json!({"metadata": {"name": "p1"}, "status": {"phase": "Running"}}));
        let r = report(&done, &[ok.clone(), still]);
        assert_eq!(r.status, JobStatus::Running, "a replica still runs");
        let r = report(&done, &[ok]);
        assert_eq!((r.status, r.exit_code), (JobStatus::Complete, Some(0)));
        assert!(r.started_at.is_some() && r.finished_at.is_some());
    }

    #[test]
    fn failures_carry_exit_codes_and_causes() {
        let failed = job(
            json!({"metadata": {"name": "j"}, "status": {"failed": 1, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}}),
        );
        let oom = pod(
            json!({"metadata": {"name": "p0"}, "status": {"phase": "Failed", "containerStatuses": [
            {"name": "job", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}),
        );
        let r = report(&failed, std::slice::from_ref(&oom));
        assert_eq!((r.status, r.exit_code), (JobStatus::Error, Some(137)));
        assert_eq!(r.message, "OOMKilled (exit 137)");
        assert!(!r.retriable);
        let (f, ev, code) = findings(&failed, &[oom]);
        assert_eq!((f[0].event.as_str(), code), ("OOMKilled", Some(137)));
        assert!(
            ev.iter()
                .any(|e| e.node_event_name == "BackoffLimitExceeded")
        );
        let evicted = pod(
            json!({"metadata": {"name": "p0"}, "status": {"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory."}}),
        );
        let r = report(&failed, std::slice::from_ref(&evicted));
        assert!(
            r.retriable && r.message.starts_with("Evicted: The node was low"),
            "{r:?}"
        );
        let deadline = job(json!({"metadata": {"name": "j"}, "status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}}));
        let (f, _, _) = findings(&deadline, &[]);
        assert_eq!(f[0].event, "DeadlineExceeded");
    }

    #[test]
    fn pods_of_a_deleted_incarnation_are_ignored() {
        let j = job(json!({"metadata": {"name": "j", "uid": "new"}, "status": {"active": 1}}));
        let old = pod(
            json!({"metadata": {"name": "p-old", "labels": {"batch.kubernetes.io/controller-uid": "old"}},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "low memory"}}),
        );
        let new = pod(
            json!({"metadata": {"name": "p-new", "labels": {"batch.kubernetes.io/controller-uid": "new"}},
            "status": {"phase": "Pending"}}),
        );
        let cur = current_pods(&j, &[old, new]);
        assert_eq!(cur.len(), 1);
        assert_eq!(report(&j, &cur).message, "pods are being created");
    }

    #[test]
    fn replicas_are_listed_by_rank() {
        let p = |n: &str, idx: &str, node: Option<&str>, ph: &str| {
            pod(
                json!({"metadata": {"name": n, "annotations": {"batch.kubernetes.io/job-completion-index": idx}},
                "spec": {"containers": [], "nodeName": node}, "status": {"phase": ph}}),
            )
        };
        let r = replicas(&[
            p("j-1-abc", "1", None, "Pending"),
            p("j-0-xyz", "0", Some("gpu-a"), "Running"),
        ]);
        assert_eq!(r[0].rank.as_deref(), Some("0"));
        assert_eq!(r[0].node.as_deref(), Some("gpu-a"));
        assert_eq!(r[1].phase, "Pending");
    }
}
