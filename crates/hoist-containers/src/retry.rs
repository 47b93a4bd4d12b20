//! Running a job again after the infrastructure failed it: which failed runs count (the
//! shared failure rules, read over the container's own log), and a fresh container for the
//! same job in place of the failed one.

use crate::{ContainerJobs, container_name, labels};
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::CreateContainerOptions;
use hoist_core::failure::{FailureInput, infra_retry_cause};
use hoist_core::{JobRecord, JobStatus, Platform, PlatformError, StatusReport, Submitted};
use hoist_docker_engine::force_remove;

/// Lines of a failed container's log the rules read (as `hoist why` does).
const LOG_TAIL: usize = 200;

/// Characters of the decisive log line kept in a retry's recorded cause.
const LINE_CHARS: usize = 160;

/// The cause to run a job again for, when the evidence of a failed run is the
/// infrastructure's: a retriable `ERR_INFRA` rule matched in the run's own output (a GPU that
/// fell off the bus, an Xid, an NCCL or InfiniBand error). The platform's own findings
/// (OOMKilled) and the bare exit code never count; neither does a kill from outside the
/// program (137: the OOM killer; 143: SIGTERM, someone stopped it), which a rerun would meet
/// again.
pub fn infra_cause(input: &FailureInput) -> Option<String> {
    if matches!(input.exit_code, Some(137 | 143)) {
        return None;
    }
    infra_retry_cause(input, LINE_CHARS)
}

/// The create body of a fresh container doing what `old` did: its config (image, command,
/// environment with the secrets it was given, labels with the job id and launch token) and
/// its host config (mounts, network, GPUs, limits). The old container's generated hostname
/// (its short id) is dropped so the new one gets its own.
pub(crate) fn rerun_body(
    old: &ContainerInspectResponse,
) -> Result<ContainerCreateBody, PlatformError> {
    let config = old.config.as_ref().ok_or_else(|| {
        PlatformError::failed(
            "the failed container has no config to run again from",
            "run the job again with hoist run",
        )
    })?;
    // Same field names on both sides of the Engine API: the inspected config is a create body.
    let mut body: ContainerCreateBody = serde_json::to_value(config)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            PlatformError::failed(
                format!("the failed container's config cannot be reused: {e}"),
                "run the job again with hoist run",
            )
        })?;
    if let (Some(h), Some(id)) = (&body.hostname, &old.id)
        && !h.is_empty()
        && id.starts_with(h.as_str())
    {
        body.hostname = None;
    }
    body.host_config = old.host_config.clone();
    Ok(body)
}

impl ContainerJobs {
    /// Mark a failed run `retriable` when its log shows the infrastructure's fault, with the
    /// cause as the report's message (what the retry is recorded with). Only a command that
    /// ran and exited non-zero on its own is judged: a container that never started, was
    /// OOM-killed, or ended by a signal from outside is not.
    pub(crate) async fn judge(&self, c: &ContainerInspectResponse, rep: &mut StatusReport) {
        if rep.status != JobStatus::Error || matches!(rep.exit_code, None | Some(0)) {
            return;
        }
        let st = c.state.clone().unwrap_or_default();
        let ran = st
            .started_at
            .as_deref()
            .is_some_and(|s| !s.starts_with("0001"));
        let start_error = st.error.as_deref().is_some_and(|e| !e.is_empty());
        if !ran || start_error || st.oom_killed == Some(true) {
            return;
        }
        let Some(id) = c.id.as_deref() else {
            return;
        };
        // A log that cannot be read leaves the failure as it is: never a guessed retry.
        let Ok(log) = self.engine.container_logs(id, Some(LOG_TAIL)).await else {
            return;
        };
        let input = FailureInput {
            status: Some(JobStatus::Error),
            exit_code: rep.exit_code,
            log_tail: String::from_utf8_lossy(&log).into_owned(),
            message: rep.message.clone(),
            ..Default::default()
        };
        if let Some(cause) = infra_cause(&input) {
            rep.retriable = true;
            rep.message = cause;
        }
    }

    /// Run a job again in a fresh container under the same name: the failed run's output is
    /// kept in `$HOIST_HOME/jobs/<id>/attempt-<n>.log` (n: the run that failed, from 1), the
    /// failed container is removed, and one made from its config is started. Logs, cancel,
    /// `rm` and reconcile find the new run by name and labels as they found the first.
    pub(crate) async fn rerun(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        let name = container_name(&job.job_id);
        let Some(old) = self.engine.inspect(&name).await? else {
            // Removed outside hoist: its config (and the secrets in it) went with it.
            return Ok(None);
        };
        let owner = old
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(labels::JOB_ID));
        if owner != Some(&job.job_id) {
            return Ok(None);
        }
        let old_id = old.id.clone().unwrap_or_default();
        let live = matches!(
            old.state.as_ref().and_then(|s| s.status),
            Some(ContainerStateStatusEnum::CREATED | ContainerStateStatusEnum::RUNNING)
        );
        if live
            && job
                .backend_job_id
                .as_deref()
                .is_some_and(|rec| !old_id.starts_with(rec))
        {
            // Another hoist process ran it again between this one's status and retry.
            return Ok(Some(Submitted {
                backend_job_id: old_id.chars().take(12).collect(),
                backend_identity: self.identity().await?,
                results_location: job.results_location.clone(),
                status: JobStatus::Running,
                message: "already run again by another hoist process".into(),
            }));
        }
        let body = rerun_body(&old)?;
        let dir = self.job_files(&job.job_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| PlatformError::io("creating the job directory", e))?;
        let logs = self.engine.container_logs(&name, None).await?;
        let kept = dir.join(format!("attempt-{}.log", job.retry_count + 1));
        std::fs::write(&kept, logs)
            .map_err(|e| PlatformError::io(format!("saving {}", kept.display()), e))?;
        let d = self.engine.client().await?;
        force_remove(d, &name)
            .await
            .map_err(|e| self.engine.unreachable(&e))?;
        let created = d
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| match e {
                DockerError::DockerResponseServerError {
                    status_code: 400..=499,
                    message,
                } => PlatformError::Failed {
                    message: format!("Docker refused the fresh container: {message}"),
                    hint: format!(
                        "the failed run's output is in {}; run the job again with hoist run",
                        kept.display()
                    ),
                },
                e => self.engine.unreachable(&e),
            })?;
        let mut message = format!(
            "run again after an infrastructure failure (run {} of the job; run {}'s output: {})",
            job.retry_count + 2,
            job.retry_count + 1,
            kept.display()
        );
        // As at submit: a start failure leaves the container `created` with the daemon's
        // error, which the next status reads as a (non-retriable) Error.
        if let Err(e) = d.start_container(&name, None).await {
            message = format!("the fresh container could not start: {e}");
        }
        Ok(Some(Submitted {
            backend_job_id: created.id.chars().take(12).collect(),
            backend_identity: self.identity().await?,
            results_location: job.results_location.clone(),
            status: JobStatus::Pending,
            message,
        }))
    }

    /// Remove what `--rm` asked to remove once the job's end is recorded: a failed run that
    /// could have been retried is kept until then, so a retry can start from its config.
    pub(crate) async fn remove_when_done(&self, job: &JobRecord) -> Result<(), PlatformError> {
        if !job.status.is_terminal() || !self.options(job)?.auto_remove {
            return Ok(());
        }
        if self
            .engine
            .inspect(&container_name(&job.job_id))
            .await?
            .is_none()
        {
            return Ok(());
        }
        self.save_and_remove(job, &job.as_report()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, HostConfig, Mount, MountType};
    use hoist_core::failure::ErrClass;
    use std::collections::HashMap;

    fn failed(exit: i32, log: &str) -> FailureInput {
        FailureInput {
            status: Some(JobStatus::Error),
            exit_code: Some(exit),
            log_tail: log.into(),
            message: format!("exited with code {exit}"),
            ..Default::default()
        }
    }

    #[test]
    fn infrastructure_lines_are_retried_with_their_cause() {
        let xid = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.";
        let cause = infra_cause(&failed(1, &format!("step 10\n{xid}\n"))).expect("retried");
        assert!(cause.contains("fell off") && cause.contains(xid), "{cause}");
        let nccl = "node1:1:2 [0] NCCL WARN NET/IB : Got completion with error 12";
        assert!(infra_cause(&failed(1, nccl)).is_some());
    }

    #[test]
    fn program_and_config_failures_and_outside_kills_are_not() {
        let py =
            "Traceback (most recent call last):\n  File \"train.py\", line 3\nValueError: bad lr\n";
        assert_eq!(infra_cause(&failed(1, py)), None);
        assert_eq!(infra_cause(&failed(1, "")), None, "a bare exit code");
        assert_eq!(
            infra_cause(&failed(1, "ModuleNotFoundError: No module named 'timm'")),
            None
        );
        let xid = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.";
        assert_eq!(infra_cause(&failed(137, xid)), None, "the OOM killer");
        assert_eq!(infra_cause(&failed(143, xid)), None, "SIGTERM from outside");
        let mut oom = failed(1, xid);
        oom.findings.push(hoist_core::failure::PlatformFinding {
            err_class: ErrClass::Program,
            cause: "OOMKilled".into(),
            suggestion: String::new(),
            retriable: false,
            event: "OOMKilled".into(),
        });
        assert_eq!(infra_cause(&oom), None, "a platform finding decides");
    }

    #[test]
    fn a_rerun_keeps_what_ran_and_drops_the_generated_hostname() {
        let old = ContainerInspectResponse {
            id: Some("0123456789abcdef".into()),
            config: Some(ContainerConfig {
                hostname: Some("0123456789ab".into()),
                image: Some("img:1".into()),
                env: Some(vec!["SECRET=s".into(), "TAO_JOB_ID=j1".into()]),
                cmd: Some(vec!["sh".into(), "-c".into(), "exit 1".into()]),
                labels: Some(HashMap::from([(labels::JOB_ID.into(), "j1".into())])),
                exposed_ports: Some(vec!["80/tcp".into()]),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("hoist_default".into()),
                init: Some(true),
                mounts: Some(vec![Mount {
                    typ: Some(MountType::BIND),
                    source: Some("/data".into()),
                    target: Some("/data".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let b = rerun_body(&old).expect("body");
        assert_eq!(b.hostname, None);
        assert_eq!(b.image.as_deref(), Some("img:1"));
        assert_eq!(b.env, old.config.as_ref().and_then(|c| c.env.clone()));
        assert_eq!(b.cmd.as_ref().map(Vec::len), Some(3));
        assert_eq!(b.exposed_ports, Some(vec!["80/tcp".to_string()]));
        assert_eq!(
            b.labels.as_ref().and_then(|l| l.get(labels::JOB_ID)),
            Some(&"j1".to_string())
        );
        assert_eq!(b.host_config, old.host_config);
        let named = ContainerInspectResponse {
            config: Some(ContainerConfig {
                hostname: Some("trainer".into()),
                ..Default::default()
            }),
            ..old
        };
        assert_eq!(
            rerun_body(&named).expect("body").hostname.as_deref(),
            Some("trainer")
        );
    }
}
