//! Why a job that has not started is still waiting: each backend's pending reasons (SLURM's
//! reason codes, the Kubernetes scheduler's and kubelet's messages, a container not started
//! yet, a cloud instance coming up, a Lepton queue) in words, with what would unblock them.
//! Pure: the platforms read the raw reason and hand it here, so every front door words a
//! reason the same way.

mod kube;
mod slurm;

pub use kube::{kubernetes_unschedulable, kubernetes_waiting};
pub use slurm::slurm;

use serde::{Deserialize, Serialize};

/// Why a job waits, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAnalysis {
    /// The backend's own name for the reason (`Resources`, `Unschedulable`,
    /// `ImagePullBackOff`), short enough for a status line.
    pub reason: String,
    /// What the reason means for this job, in a sentence.
    pub explanation: String,
    /// What would make it start (or that it will start by itself, and when).
    pub unblock: String,
    /// The backend's raw words the analysis was made from.
    pub evidence: String,
    /// Waiting alone will never start it: someone has to act (a hold, a selector no node
    /// matches, an image that does not exist).
    pub stuck: bool,
}

impl PendingAnalysis {
    /// An analysis from its parts.
    pub fn new(reason: &str, explanation: &str, unblock: &str, evidence: &str) -> Self {
        PendingAnalysis {
            reason: reason.into(),
            explanation: explanation.into(),
            unblock: unblock.into(),
            evidence: evidence.into(),
            stuck: false,
        }
    }

    /// The same, marked as one that needs someone to act.
    pub fn stuck(mut self) -> Self {
        self.stuck = true;
        self
    }

    /// One line for a status message or a table: `Resources: the GPUs … are in use`.
    pub fn short(&self) -> String {
        if self.explanation.is_empty() {
            self.reason.clone()
        } else {
            format!("{}: {}", self.reason, self.explanation)
        }
    }
}

/// A job whose row exists but whose submit has not finished (hoist is still shipping files,
/// pulling an image or talking to the backend).
pub fn launching(evidence: &str) -> PendingAnalysis {
    PendingAnalysis::new(
        "Launching",
        "hoist is still submitting it (staging files, pulling its image or waiting for the backend to accept it)",
        "wait for the submitting hoist to finish; if that process died, the next hoist command settles the launch",
        evidence,
    )
}

/// A Docker container that exists but has not been started.
pub fn docker_created(evidence: &str) -> PendingAnalysis {
    PendingAnalysis::new(
        "Created",
        "its container exists but has not been started yet",
        "hoist starts it right after creating it; if the submitting process died, the next hoist command starts it",
        evidence,
    )
}

/// A Docker job whose image is not on the daemon yet: the submit is pulling it.
pub fn docker_pulling(image: &str, evidence: &str) -> PendingAnalysis {
    PendingAnalysis::new(
        "PullingImage",
        &format!(
            "the image {image} is being pulled onto the Docker daemon; the container is created once it is there"
        ),
        &format!(
            "wait for the pull (docker pull {image} on the daemon's host shows its progress); a slow pull is the registry's or the network's speed"
        ),
        evidence,
    )
}

/// A Brev instance that is not ready for the job's container yet, from its `brev ls` state
/// words (status, build status, shell status). `None`: the instance is ready, so the wait is
/// not the instance's.
pub fn brev_instance(
    name: &str,
    status: &str,
    build: &str,
    shell: &str,
) -> Option<PendingAnalysis> {
    let evidence = format!("instance {name}: status {status}, build {build}, shell {shell}");
    let upper = status.to_ascii_uppercase();
    let a = match upper.as_str() {
        "DEPLOYING" | "STARTING" | "CREATING" => PendingAnalysis::new(
            &upper,
            &format!("the Brev instance {name} is still being provisioned by the cloud provider"),
            "wait: instances usually take a few minutes to come up; `brev ls` shows its state",
            &evidence,
        ),
        "STOPPED" | "STOPPING" => PendingAnalysis::new(
            &upper,
            &format!("the Brev instance {name} is stopped"),
            &format!("start it (brev start {name}); hoist starts it itself when it submits"),
            &evidence,
        )
        .stuck(),
        "FAILURE" | "FAILED" | "UNHEALTHY" => PendingAnalysis::new(
            &upper,
            &format!("the Brev instance {name} failed to come up"),
            &format!("delete it (hoist instances rm {name}) and run the job again, or pick another instance type"),
            &evidence,
        )
        .stuck(),
        "DELETING" => PendingAnalysis::new(
            &upper,
            &format!("the Brev instance {name} is being deleted"),
            "cancel this job and run it again: hoist creates a new instance",
            &evidence,
        )
        .stuck(),
        _ if !build.is_empty() && !build.eq_ignore_ascii_case("COMPLETED") => PendingAnalysis::new(
            "Building",
            &format!("the Brev instance {name} is running but its environment is still being built ({build})"),
            "wait for the build to complete; `brev ls` shows the build status",
            &evidence,
        ),
        _ if !shell.is_empty() && !shell.eq_ignore_ascii_case("READY") => PendingAnalysis::new(
            "ShellNotReady",
            &format!("the Brev instance {name} is running but cannot be reached over ssh yet"),
            "wait a minute; if it stays so, `brev refresh` updates the ssh configuration",
            &evidence,
        ),
        _ => return None,
    };
    Some(a)
}

/// A Lepton job that has not started, from its state word, worker counts and the latest
/// events the workspace recorded for it (newest last).
pub fn lepton(state: &str, ready: u64, workers: u64, events: &[String]) -> PendingAnalysis {
    let last = events.last().cloned().unwrap_or_default();
    let evidence = if last.is_empty() {
        format!("state {state}, {ready}/{workers} workers ready")
    } else {
        format!("state {state}, {ready}/{workers} workers ready; last event: {last}")
    };
    let lower_events = events.join("\n").to_ascii_lowercase();
    let (explanation, unblock, stuck) = match state {
        "Queueing" => (
            "it is queued: the node group has no free capacity for its resource shape".to_string(),
            "it starts when other jobs on the node group end; a smaller shape or another node group (--node-group) can start sooner".to_string(),
            false,
        ),
        "Awaiting" => (
            "it waits for its workers to be placed on the node group".to_string(),
            "wait; if it stays so, check the node group's free GPUs in the Lepton dashboard".to_string(),
            false,
        ),
        "PendingRetry" | "Restarting" => (
            "a worker failed and Lepton is starting it again".to_string(),
            "wait for the restart; hoist logs JOB shows why the worker ended".to_string(),
            false,
        ),
        _ if lower_events.contains("pull")
            && (lower_events.contains("back-off") || lower_events.contains("backoff") || lower_events.contains("errimagepull")) => (
            "its workers cannot pull the container image".to_string(),
            "check the image name and the registry login (SKYPILOT_DOCKER_* or an image pull secret)".to_string(),
            true,
        ),
        _ => (
            format!("its {workers} worker(s) are starting ({ready} ready): the image is being pulled and the containers created"),
            "wait; large images take minutes on a node that has not pulled them before".to_string(),
            false,
        ),
    };
    // Lepton schedules on Kubernetes: a FailedScheduling event carries the scheduler's tally.
    if let Some(i) = last.find("nodes are available:") {
        let tally = last[..i].rfind(": ").map_or(&last[..], |s| &last[s + 2..]);
        let k = kubernetes_unschedulable(tally);
        let mut a = PendingAnalysis::new(
            state,
            &k.explanation,
            &format!("{}; or another node group (--node-group)", k.unblock),
            &evidence,
        );
        a.stuck = k.stuck;
        return a;
    }
    let a = PendingAnalysis::new(state, &explanation, &unblock, &evidence);
    if stuck { a.stuck() } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_form_is_the_reason_and_its_explanation() {
        let a = PendingAnalysis::new("Resources", "all in use", "wait", "squeue: Resources");
        assert_eq!(a.short(), "Resources: all in use");
        assert!(!a.stuck);
        assert!(a.clone().stuck().stuck);
    }

    #[test]
    fn brev_instances_coming_up_wait_and_stopped_ones_need_a_start() {
        let a = brev_instance("gpu-box", "DEPLOYING", "", "").expect("not ready");
        assert_eq!(a.reason, "DEPLOYING");
        assert!(a.explanation.contains("provisioned") && !a.stuck);
        let s = brev_instance("gpu-box", "STOPPED", "COMPLETED", "READY").expect("not ready");
        assert!(s.unblock.contains("brev start gpu-box") && s.stuck);
        let f = brev_instance("gpu-box", "FAILURE", "", "").expect("failed");
        assert!(f.unblock.contains("hoist instances rm gpu-box") && f.stuck);
        let b = brev_instance("gpu-box", "RUNNING", "BUILDING", "NOT READY").expect("building");
        assert_eq!(b.reason, "Building");
        let sh = brev_instance("gpu-box", "RUNNING", "COMPLETED", "NOT READY").expect("no ssh");
        assert_eq!(sh.reason, "ShellNotReady");
        assert!(brev_instance("gpu-box", "RUNNING", "COMPLETED", "READY").is_none());
        assert!(
            brev_instance("gpu-box", "DELETING", "", "")
                .expect("deleting")
                .stuck
        );
    }

    #[test]
    fn lepton_states_say_queue_placement_restart_or_pull() {
        let q = lepton("Queueing", 0, 2, &[]);
        assert!(q.explanation.contains("queued") && q.unblock.contains("--node-group"));
        assert_eq!(q.evidence, "state Queueing, 0/2 workers ready");
        assert!(lepton("Awaiting", 0, 1, &[]).explanation.contains("placed"));
        assert!(
            lepton("PendingRetry", 0, 1, &[])
                .explanation
                .contains("starting it again")
        );
        let pull = lepton(
            "Starting",
            0,
            1,
            &["Back-off pulling image \"nvcr.io/x:1\"".to_string()],
        );
        assert!(pull.stuck && pull.unblock.contains("registry login"));
        assert!(pull.evidence.contains("last event: Back-off pulling image"));
        let f = lepton(
            "Queueing",
            0,
            1,
            &[
                "FailedScheduling: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
                    .to_string(),
            ],
        );
        assert!(
            f.explanation.contains("2 node(s) lack free GPUs"),
            "{}",
            f.explanation
        );
        assert!(f.unblock.contains("--node-group") && !f.stuck);
        let s = lepton("Starting", 1, 2, &[]);
        assert!(s.explanation.contains("(1 ready)") && !s.stuck);
    }

    #[test]
    fn docker_and_launching_reasons_name_what_is_happening() {
        let p = docker_pulling("nvcr.io/nvidia/pytorch:24.05-py3", "no image");
        assert_eq!(p.reason, "PullingImage");
        assert!(
            p.unblock
                .contains("docker pull nvcr.io/nvidia/pytorch:24.05-py3")
        );
        assert_eq!(docker_created("created").reason, "Created");
        assert_eq!(launching("launch_state launching").reason, "Launching");
    }
}
