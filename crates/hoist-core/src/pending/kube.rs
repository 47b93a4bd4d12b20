//! The Kubernetes scheduler's `FailedScheduling` messages and the kubelet's container
//! waiting reasons, in words.

use super::PendingAnalysis;

/// Why nodes turned a pod down, as kube-scheduler counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `Insufficient nvidia.com/gpu`, `Insufficient cpu` …
    Insufficient,
    /// `didn't match Pod's node affinity/selector`
    Selector,
    /// `had untolerated taint {…}` (and the older `had taint {…}, that the pod didn't tolerate`)
    Taint,
    /// `node(s) were unschedulable` (cordoned)
    Cordoned,
    /// `Too many pods`
    TooManyPods,
    /// volumes: unbound claims, volume node affinity conflicts
    Volume,
    /// anything else the scheduler says
    Other,
}

fn kind(part: &str) -> Kind {
    let p = part.to_ascii_lowercase();
    if p.contains("insufficient") {
        Kind::Insufficient
    } else if p.contains("affinity/selector") || p.contains("node selector") {
        Kind::Selector
    } else if p.contains("taint") {
        Kind::Taint
    } else if p.contains("were unschedulable") {
        Kind::Cordoned
    } else if p.contains("too many pods") {
        Kind::TooManyPods
    } else if p.contains("persistentvolumeclaim") || p.contains("volume") {
        Kind::Volume
    } else {
        Kind::Other
    }
}

/// The resource a part says is short (`nvidia.com/gpu`), in words.
fn resource(part: &str) -> String {
    let r = part
        .split("Insufficient ")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_string();
    match r.as_str() {
        "nvidia.com/gpu" => "GPUs (nvidia.com/gpu)".into(),
        "cpu" => "CPUs".into(),
        "memory" => "memory".into(),
        "ephemeral-storage" => "local disk (ephemeral-storage)".into(),
        "" => "resources".into(),
        other => other.into(),
    }
}

/// A pod the scheduler could not place: `0/3 nodes are available: 1 node(s) had untolerated
/// taint {…}, 2 Insufficient nvidia.com/gpu. preemption: …`, or a pod-level reason such as
/// `persistentvolumeclaim "data" not found`.
pub fn kubernetes_unschedulable(message: &str) -> PendingAnalysis {
    let evidence = format!("PodScheduled=False Unschedulable: {}", message.trim());
    let m = message.split(". preemption:").next().unwrap_or(message);
    let m = m.trim().trim_end_matches('.');
    let Some((_, list)) = m.split_once("nodes are available:") else {
        // Not a per-node tally: the pod itself cannot be scheduled yet.
        let lower = m.to_ascii_lowercase();
        if lower.contains("persistentvolumeclaim") {
            return PendingAnalysis::new(
                "Unschedulable",
                &format!("a volume it mounts is not ready: {m}"),
                "create the PersistentVolumeClaim in the job's namespace (kubectl get pvc), or fix the claim name in --mount",
                &evidence,
            )
            .stuck();
        }
        return PendingAnalysis::new(
            "Unschedulable",
            &format!("the scheduler cannot place it: {m}"),
            "kubectl describe pod shows the scheduler's events for it",
            &evidence,
        );
    };
    let mut parts: Vec<(Kind, String)> = list
        .split(", ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| (kind(p), p.to_string()))
        .collect();
    // A taint's `{key: value}` has no comma in practice; an older message form does
    // (`had taint {…}, that the pod didn't tolerate`): glue that tail back on.
    parts.dedup_by(|b, a| {
        if b.1.starts_with("that the pod") {
            a.1.push_str(", ");
            a.1.push_str(&b.1);
            true
        } else {
            false
        }
    });
    parts.sort_by_key(|(k, _)| *k);
    let mut said = Vec::new();
    let mut fixes = Vec::new();
    let mut stuck = true;
    let mut main = None;
    for (k, p) in &parts {
        main.get_or_insert(*k);
        let count = p.split_whitespace().next().unwrap_or("some");
        match k {
            Kind::Insufficient => {
                stuck = false;
                said.push(format!("{count} node(s) lack free {}", resource(p)));
                if !fixes.iter().any(|f: &String| f.starts_with("wait")) {
                    fixes.push("wait for running pods to free them (they are in use, not missing), or ask for fewer (--gpus) so a node can fit it".into());
                }
            }
            Kind::Selector => {
                said.push(format!("{count} node(s) do not match its node selector or affinity (GPU model, node pool)"));
                fixes.push("cancel it and ask for a GPU type or labels some node has (kubectl get nodes --show-labels); --gpu-type picks the model label".into());
            }
            Kind::Taint => {
                let taint = p
                    .split_once('{')
                    .and_then(|(_, t)| t.split_once('}'))
                    .map(|(t, _)| format!(" {{{t}}}"))
                    .unwrap_or_default();
                said.push(format!(
                    "{count} node(s) carry a taint{taint} the pod does not tolerate"
                ));
                fixes.push("the tainted nodes are reserved (control plane, another team, a GPU pool): add a matching toleration, or ask the cluster's administrators which nodes GPU jobs may use".into());
            }
            Kind::Cordoned => {
                stuck = false;
                said.push(format!("{count} node(s) are cordoned"));
                fixes.push(
                    "wait for the nodes to be uncordoned (kubectl uncordon, by an administrator)"
                        .into(),
                );
            }
            Kind::TooManyPods => {
                stuck = false;
                said.push(format!("{count} node(s) run as many pods as they may"));
                fixes.push("wait for pods to end on those nodes".into());
            }
            Kind::Volume => {
                said.push(format!("volumes: {p}"));
                fixes.push("check the job's PersistentVolumeClaims (kubectl get pvc) and where their volumes may be attached".into());
            }
            Kind::Other => {
                stuck = false;
                said.push(p.clone());
            }
        }
    }
    let reason = match main {
        Some(Kind::Insufficient) => {
            let first = parts.first().map(|(_, p)| p.as_str()).unwrap_or("");
            format!(
                "Unschedulable: Insufficient {}",
                first.split("Insufficient ").nth(1).unwrap_or("").trim()
            )
        }
        Some(Kind::Selector) => "Unschedulable: node selector".into(),
        Some(Kind::Taint) => "Unschedulable: taints".into(),
        _ => "Unschedulable".into(),
    };
    if fixes.is_empty() {
        fixes.push("kubectl describe pod shows the scheduler's events for it".into());
    }
    let explanation = format!("no node can take the pod: {}", said.join("; "));
    let a = PendingAnalysis::new(&reason, &explanation, &fixes.join("; "), &evidence);
    if stuck { a.stuck() } else { a }
}

/// A container the kubelet has not started (`ContainerCreating`, `ImagePullBackOff`,
/// `CreateContainerConfigError` …), with the kubelet's message and the image it runs.
pub fn kubernetes_waiting(reason: &str, message: &str, image: &str) -> PendingAnalysis {
    let evidence = if message.trim().is_empty() {
        format!("container waiting: {reason}")
    } else {
        format!("container waiting: {reason}: {}", message.trim())
    };
    let lower = message.to_ascii_lowercase();
    match reason {
        "ContainerCreating" => PendingAnalysis::new(
            reason,
            &format!("the pod is placed and its container is being created: the node is pulling {image} or mounting volumes"),
            "wait: a large image takes minutes on a node that has not pulled it before (kubectl describe pod shows the Pulling event)",
            &evidence,
        ),
        "PodInitializing" => PendingAnalysis::new(
            reason,
            "its init containers (hoist's runner fetching inputs, among them) are still running",
            "wait; hoist logs JOB shows what they print",
            &evidence,
        ),
        "ErrImagePull" | "ImagePullBackOff" => {
            let (why, fix) = if lower.contains("not found") || lower.contains("manifest unknown") || lower.contains("does not exist") {
                ("the image does not exist in the registry", "check the image name and tag (docker manifest inspect IMAGE)")
            } else if lower.contains("unauthorized") || lower.contains("authentication required") || lower.contains("denied") || lower.contains("401") || lower.contains("403") {
                ("the registry refused the node's credentials", "log in to the registry for the job: SKYPILOT_DOCKER_USERNAME / SKYPILOT_DOCKER_PASSWORD / SKYPILOT_DOCKER_SERVER make hoist create a pull Secret")
            } else if lower.contains("toomanyrequests") || lower.contains("rate limit") || lower.contains("429") {
                ("the registry's pull rate limit is reached", "wait for the limit to reset, or log in to the registry (authenticated pulls get a higher limit)")
            } else {
                ("the node cannot pull the image", "check that the node reaches the registry and that the image name is right")
            };
            PendingAnalysis::new(
                reason,
                &format!("{why}: {image}"),
                &format!("{fix}; then cancel the job and run it again"),
                &evidence,
            )
            .stuck()
        }
        "InvalidImageName" => PendingAnalysis::new(
            reason,
            &format!("the image name {image:?} is not a valid reference"),
            "cancel it and run it with a valid --image",
            &evidence,
        )
        .stuck(),
        "CreateContainerConfigError" => PendingAnalysis::new(
            reason,
            &format!("the container's configuration refers to something missing: {}", message.trim()),
            "create the Secret or ConfigMap it names in the job's namespace, or cancel and run without it",
            &evidence,
        )
        .stuck(),
        "CrashLoopBackOff" => PendingAnalysis::new(
            reason,
            "its container keeps exiting and the kubelet waits before starting it again",
            "hoist logs JOB shows why it exits",
            &evidence,
        ),
        _ => PendingAnalysis::new(
            reason,
            &format!("the container is waiting: {}", if message.trim().is_empty() { reason } else { message.trim() }),
            "kubectl describe pod shows the kubelet's events for it",
            &evidence,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insufficient_gpus_wait_for_running_pods() {
        let a = kubernetes_unschedulable(
            "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        );
        assert_eq!(a.reason, "Unschedulable: Insufficient nvidia.com/gpu");
        assert!(
            a.explanation
                .contains("2 node(s) lack free GPUs (nvidia.com/gpu)"),
            "{}",
            a.explanation
        );
        assert!(a.unblock.contains("fewer") && !a.stuck);
        assert!(a.evidence.contains("2 Insufficient nvidia.com/gpu"));
    }

    #[test]
    fn a_selector_no_node_matches_needs_a_change() {
        let a = kubernetes_unschedulable(
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        );
        assert_eq!(a.reason, "Unschedulable: node selector");
        assert!(a.explanation.contains("do not match its node selector"));
        assert!(a.stuck && a.unblock.contains("--gpu-type"));
    }

    #[test]
    fn taints_are_named_with_their_key() {
        let a = kubernetes_unschedulable(
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) had untolerated taint {nvidia.com/gpu: present}. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
        );
        assert_eq!(a.reason, "Unschedulable: taints");
        assert!(
            a.explanation.contains("{nvidia.com/gpu: present}"),
            "{}",
            a.explanation
        );
        assert!(a.unblock.contains("toleration") && a.stuck);
        let old = kubernetes_unschedulable(
            "0/1 nodes are available: 1 node(s) had taint {dedicated: infra}, that the pod didn't tolerate.",
        );
        assert!(
            old.explanation.contains("{dedicated: infra}"),
            "{}",
            old.explanation
        );
    }

    #[test]
    fn mixed_reasons_lead_with_the_shortage_and_keep_every_fix() {
        let a = kubernetes_unschedulable(
            "0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {a: b}.",
        );
        assert_eq!(a.reason, "Unschedulable: Insufficient nvidia.com/gpu");
        assert!(!a.stuck, "a node may free its GPUs");
        assert!(a.unblock.contains("wait") && a.unblock.contains("toleration"));
        let c = kubernetes_unschedulable(
            "0/4 nodes are available: 4 Insufficient cpu, 4 Insufficient memory.",
        );
        assert!(c.explanation.contains("CPUs") && c.explanation.contains("memory"));
        let k = kubernetes_unschedulable("0/2 nodes are available: 2 node(s) were unschedulable.");
        assert!(k.explanation.contains("cordoned") && !k.stuck);
    }

    #[test]
    fn a_missing_claim_is_reported_as_such() {
        let a = kubernetes_unschedulable("persistentvolumeclaim \"datasets\" not found");
        assert!(a.explanation.contains("\"datasets\"") && a.stuck);
        assert!(a.unblock.contains("kubectl get pvc"));
        let u = kubernetes_unschedulable(
            "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
        );
        assert!(u.explanation.contains("volumes"), "{}", u.explanation);
    }

    #[test]
    fn image_pulls_say_in_progress_or_which_failure() {
        let c = kubernetes_waiting("ContainerCreating", "", "nvcr.io/nvidia/pytorch:24.05-py3");
        assert!(
            c.explanation
                .contains("pulling nvcr.io/nvidia/pytorch:24.05-py3")
                && !c.stuck
        );
        let nf = kubernetes_waiting(
            "ImagePullBackOff",
            "Back-off pulling image \"ghcr.io/x/y:nope\": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/x/y:nope\": not found",
            "ghcr.io/x/y:nope",
        );
        assert!(nf.explanation.starts_with("the image does not exist") && nf.stuck);
        let auth = kubernetes_waiting(
            "ErrImagePull",
            "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
            "nvcr.io/private/x:1",
        );
        assert!(
            auth.explanation.contains("credentials")
                && auth.unblock.contains("SKYPILOT_DOCKER_USERNAME")
        );
        let rl = kubernetes_waiting(
            "ImagePullBackOff",
            "toomanyrequests: You have reached your pull rate limit.",
            "busybox",
        );
        assert!(rl.explanation.contains("rate limit"));
        let cfg = kubernetes_waiting(
            "CreateContainerConfigError",
            "secret \"hoist-abc-env\" not found",
            "busybox",
        );
        assert!(cfg.explanation.contains("hoist-abc-env") && cfg.stuck);
        assert!(
            kubernetes_waiting("PodInitializing", "", "x")
                .explanation
                .contains("init containers")
        );
        assert!(kubernetes_waiting("InvalidImageName", "", "UPPER:case").stuck);
        assert!(
            kubernetes_waiting("CrashLoopBackOff", "", "x")
                .unblock
                .contains("hoist logs")
        );
        assert!(
            kubernetes_waiting("Something", "odd", "x")
                .explanation
                .contains("odd")
        );
    }
}
