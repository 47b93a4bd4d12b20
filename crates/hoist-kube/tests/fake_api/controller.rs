//! The Job controller, scheduler and kubelet in one: a Job's pods made, placed and "run" (the
//! container command as far as the fake understands shell), suspended Jobs held and resumed.

use super::{Res, State, now, schedule, to_value};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod,
    PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::{Value, json};

/// What a container's command does, as far as the fake understands shell.
pub(super) enum Outcome {
    Exited(i32, String),
    Runs(String),
}

pub(super) fn simulate(argv: &[String]) -> Outcome {
    let script = match argv {
        [sh, c, text, ..]
            if matches!(sh.as_str(), "sh" | "bash" | "/bin/sh" | "/bin/bash") && c == "-c" =>
        {
            text.clone()
        }
        words => words.join(" "),
    };
    let mut out = String::new();
    let mut code = 0;
    for stmt in script.split([';', '\n']).map(str::trim) {
        let words: Vec<&str> = stmt
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .collect();
        match words.as_slice() {
            [] => continue,
            ["echo", rest @ ..] => {
                out.push_str(&rest.join(" "));
                out.push('\n');
                code = 0;
            }
            ["exit"] => return Outcome::Exited(code, out),
            ["exit", n, ..] => return Outcome::Exited(n.parse().unwrap_or(2), out),
            ["sleep", ..] => return Outcome::Runs(out),
            ["true"] | [":"] => code = 0,
            ["false"] => code = 1,
            [cmd, ..] => {
                out.push_str(&format!("sh: {cmd}: not found\n"));
                code = 127;
            }
        }
    }
    Outcome::Exited(code, out)
}

impl State {
    /// The Job controller on a suspended Job: no pods, no start time, the Suspended condition.
    pub(super) fn hold_job(&mut self, ns: &str, name: &str) {
        let rv = self.next_rv();
        if let Some(j) = self
            .objects
            .get_mut(&(Res::Jobs, ns.to_string(), name.to_string()))
        {
            j["status"] = json!({"conditions": [{"type": "Suspended", "status": "True",
                "reason": "JobSuspended", "message": "Job suspended",
                "lastProbeTime": to_value(&now()), "lastTransitionTime": to_value(&now())}]});
            j["metadata"]["resourceVersion"] = json!(rv);
        }
    }

    /// A suspended Job resumed: it runs, and keeps its Suspended condition turned False.
    pub(super) fn resume_job(&mut self, ns: &str, name: &str) {
        self.run_job(ns, name);
        if let Some(j) = self
            .objects
            .get_mut(&(Res::Jobs, ns.to_string(), name.to_string()))
        {
            let resumed = json!({"type": "Suspended", "status": "False", "reason": "JobResumed",
                "message": "Job resumed", "lastProbeTime": to_value(&now()),
                "lastTransitionTime": to_value(&now())});
            let mut conds = j["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            conds.insert(0, resumed);
            j["status"]["conditions"] = Value::Array(conds);
        }
    }

    /// The Job controller and kubelet at once: create the Job's pods, run them, set its status.
    pub(super) fn run_job(&mut self, ns: &str, name: &str) {
        let key = (Res::Jobs, ns.to_string(), name.to_string());
        let Some(job) = self.objects.get(&key).cloned() else {
            return;
        };
        let job: Job = serde_json::from_value(job).expect("an admitted Job reads back");
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let spec = job.spec.clone().unwrap_or_default();
        let indexed = spec.completion_mode.as_deref() == Some("Indexed");
        let completions = spec.completions.unwrap_or(1).max(1);
        let started = now();
        let (mut active, mut unscheduled, mut succeeded, mut failed) = (0, 0, 0, 0);
        for index in 0..completions {
            let mut meta = spec.template.metadata.clone().unwrap_or_default();
            let pod_name = match indexed {
                true => format!("{name}-{index}-{}", self.suffix()),
                false => format!("{name}-{}", self.suffix()),
            };
            let fresh = self.new_meta(&pod_name, Some(ns), None);
            meta.name = fresh.name;
            meta.namespace = fresh.namespace;
            meta.uid = fresh.uid;
            meta.resource_version = fresh.resource_version;
            meta.creation_timestamp = fresh.creation_timestamp;
            meta.generate_name = Some(format!("{name}-"));
            if indexed {
                let idx = index.to_string();
                meta.annotations.get_or_insert_default().insert(
                    "batch.kubernetes.io/job-completion-index".into(),
                    idx.clone(),
                );
                meta.labels
                    .get_or_insert_default()
                    .insert("batch.kubernetes.io/job-completion-index".into(), idx);
            }
            meta.owner_references = Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "Job".into(),
                name: name.into(),
                uid: uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
            let mut pod_spec = spec.template.spec.clone().unwrap_or_default();
            let node = match schedule::pick(&self.nodes, &pod_spec) {
                Ok(node) => node,
                Err(why) => {
                    // Pending pods count as active, as the Job controller counts them.
                    active += 1;
                    unscheduled += 1;
                    let pod = Pod {
                        metadata: meta,
                        spec: Some(pod_spec),
                        status: Some(PodStatus {
                            phase: Some("Pending".into()),
                            qos_class: Some("BestEffort".into()),
                            conditions: Some(vec![PodCondition {
                                type_: "PodScheduled".into(),
                                status: "False".into(),
                                reason: Some("Unschedulable".into()),
                                message: Some(why),
                                last_transition_time: Some(started.clone()),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }),
                    };
                    self.objects
                        .insert((Res::Pods, ns.to_string(), pod_name), to_value(&pod));
                    continue;
                }
            };
            pod_spec.node_name = Some(node);
            let container = pod_spec.containers.first().cloned().unwrap_or_default();
            let argv: Vec<String> = container
                .command
                .iter()
                .flatten()
                .chain(container.args.iter().flatten())
                .cloned()
                .collect();
            let outcome = simulate(&argv);
            let cid = format!("containerd://{:064x}", self.serial);
            let image = container.image.clone().unwrap_or_default();
            let (phase, state, log) = match outcome {
                Outcome::Runs(log) => {
                    active += 1;
                    (
                        "Running",
                        ContainerState {
                            running: Some(ContainerStateRunning {
                                started_at: Some(started.clone()),
                            }),
                            ..Default::default()
                        },
                        log,
                    )
                }
                Outcome::Exited(code, log) => {
                    if code == 0 {
                        succeeded += 1
                    } else {
                        failed += 1
                    }
                    (
                        if code == 0 { "Succeeded" } else { "Failed" },
                        ContainerState {
                            terminated: Some(ContainerStateTerminated {
                                exit_code: code,
                                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                                started_at: Some(started.clone()),
                                finished_at: Some(now()),
                                container_id: Some(cid.clone()),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        log,
                    )
                }
            };
            let running = phase == "Running";
            let cond = |t: &str, ok: bool, reason: Option<&str>| PodCondition {
                type_: t.into(),
                status: if ok { "True" } else { "False" }.into(),
                reason: reason.map(str::to_string),
                last_transition_time: Some(started.clone()),
                ..Default::default()
            };
            let done_reason = (!running).then_some("PodCompleted");
            let pod = Pod {
                metadata: meta,
                spec: Some(pod_spec),
                status: Some(PodStatus {
                    phase: Some(phase.into()),
                    host_ip: Some("10.0.0.10".into()),
                    pod_ip: Some(format!("10.244.0.{}", 10 + index)),
                    start_time: Some(started.clone()),
                    qos_class: Some("BestEffort".into()),
                    conditions: Some(vec![
                        cond("PodScheduled", true, None),
                        cond("Initialized", true, done_reason),
                        cond("Ready", running, done_reason),
                        cond("ContainersReady", running, done_reason),
                    ]),
                    container_statuses: Some(vec![ContainerStatus {
                        name: container.name.clone(),
                        image: image.clone(),
                        image_id: format!("{image}@sha256:{:064x}", self.serial),
                        container_id: Some(cid),
                        ready: running,
                        started: Some(running),
                        restart_count: 0,
                        state: Some(state),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            };
            self.logs.insert((ns.to_string(), pod_name.clone()), log);
            self.objects
                .insert((Res::Pods, ns.to_string(), pod_name), to_value(&pod));
        }
        let cond = |t: &str, reason: &str, message: &str| JobCondition {
            type_: t.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_probe_time: Some(now()),
            last_transition_time: Some(now()),
        };
        let mut status = JobStatus {
            start_time: Some(started),
            active: (active > 0).then_some(active),
            ready: Some(active - unscheduled),
            terminating: Some(0),
            succeeded: (succeeded > 0).then_some(succeeded),
            failed: (failed > 0).then_some(failed),
            uncounted_terminated_pods: Some(UncountedTerminatedPods::default()),
            ..Default::default()
        };
        if failed > 0 {
            status.conditions = Some(vec![
                cond(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
                cond(
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                ),
            ]);
        } else if succeeded == completions {
            status.completion_time = Some(now());
            status.conditions = Some(vec![
                cond(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                cond(
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
            ]);
        }
        let rv = self.next_rv();
        if let Some(j) = self.objects.get_mut(&key) {
            j["status"] = to_value(&status);
            j["metadata"]["resourceVersion"] = json!(rv);
        }
    }
}
