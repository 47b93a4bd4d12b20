//! The platform verbs: submit, status, logs, cancel, why, paths and results, each on the
//! job's container.

use crate::{ContainerJobs, ContainerOptions, container_name, copy_tree, labels, spec};
use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerStateStatusEnum;
use bollard::query_parameters::{CreateContainerOptions, LogsOptions, StopContainerOptions};
use futures::StreamExt;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, DryRun, InputError, JobRecord, JobStatus,
    LaunchRecovery, Platform, PlatformError, PreflightCheck, StatusReport, SubmitRequest,
    Submitted,
};
use hoist_docker_engine::force_remove;
use std::path::Path;

#[async_trait]
impl Platform for ContainerJobs {
    fn name(&self) -> &'static str {
        self.flavor.platform
    }

    fn capabilities(&self) -> Capabilities {
        self.flavor.capabilities
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        let info = self.engine.daemon().await?;
        Ok(format!("docker:{}@{}", info.id, self.engine.endpoint().url))
    }

    fn pin(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "host": self.engine.endpoint().url }))
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
        let opts = req
            .spec
            .options_of::<ContainerOptions>(self.flavor.platform)?;
        let network = self.network_of(&opts);
        let plan = spec::plan(
            self.flavor.platform,
            req,
            &network,
            &self.engine.endpoint().url,
            false,
            None,
        )?;
        let doc = serde_json::json!({
            "platform": self.flavor.platform,
            "endpoint": self.engine.endpoint().url,
            "container_name": container_name(&req.job_id),
            "pull": opts.pull,
            "network": network,
            "create": hoist_docker_engine::body::redact_body(&plan.body, |k| req.spec.is_secret(k)),
        });
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| PlatformError::failed(e.to_string(), ""))?;
        Ok(DryRun { text, json: doc })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let opts = req
            .spec
            .options_of::<ContainerOptions>(self.flavor.platform)?;
        let network = self.network_of(&opts);
        // Refuse what can never run before touching the daemon.
        spec::plan(
            self.flavor.platform,
            req,
            &network,
            &self.engine.endpoint().url,
            false,
            None,
        )?;
        let info = self.engine.daemon().await?.clone();
        let image = req.spec.image.clone().unwrap_or_default();
        let network = self.engine.ensure_network(&network).await?;
        self.engine.ensure_image(&image, opts.pull).await?;
        let chosen = match &req.spec.gpus {
            hoist_core::GpuSpec::Count(_) if !info.tegra => {
                match self.engine.measure_gpus(&image).await {
                    Some(usage) => Some(hoist_core::gpu::choose_gpus(&req.spec.gpus, &usage)?),
                    None => None,
                }
            }
            _ => None,
        };
        let plan = spec::plan(
            self.flavor.platform,
            req,
            &network,
            &self.engine.endpoint().url,
            info.tegra,
            chosen.clone(),
        )?;
        let d = self.engine.client().await?;
        if let (Some(_), Some(bin)) = (&req.runner, &req.runner_binary) {
            self.engine.runner_volume(&info.id, &image, bin).await?;
        }
        let name = container_name(&req.job_id);
        if let Some(existing) = self.engine.inspect(&name).await? {
            let owner = existing
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get(labels::JOB_ID))
                .cloned();
            if owner.as_deref() != Some(req.job_id.as_str()) {
                return Err(PlatformError::Failed {
                    message: format!(
                        "a container named {name} exists and is not this job's (label {} is {owner:?})",
                        labels::JOB_ID
                    ),
                    hint: format!(
                        "remove or rename it yourself (docker rm {name}); hoist only replaces its own containers"
                    ),
                });
            }
            force_remove(d, &name)
                .await
                .map_err(|e| self.engine.unreachable(&e))?;
        }
        let created = d
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                plan.body,
            )
            .await
            .map_err(|e| match e {
                DockerError::DockerResponseServerError {
                    status_code: 400..=499,
                    message,
                } => PlatformError::Failed {
                    message: format!("Docker refused the container: {message}"),
                    hint: "hoist why JOB explains the common causes".into(),
                },
                e => self.engine.unreachable(&e),
            })?;
        let mut message = plan.note;
        if let Some(ids) = &chosen {
            message = format!(
                "GPUs {} (least used on the daemon's host)",
                ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            );
        }
        // A start failure (no GPU runtime, missing mount source) leaves the container in
        // `created` with the daemon's error: the job is launched and reads as Error, so
        // `hoist why` can explain it from the container itself.
        if let Err(e) = d.start_container(&name, None).await {
            message = format!("the container could not start: {e}");
        }
        Ok(Submitted {
            backend_job_id: created.id.chars().take(12).collect(),
            backend_identity: format!("docker:{}@{}", info.id, self.engine.endpoint().url),
            results_location: plan.results_location,
            status: JobStatus::Pending,
            message,
        })
    }

    async fn check_request(&self, req: &SubmitRequest) -> Result<(), PlatformError> {
        self.check_before_row(req).await
    }

    async fn remove_unlaunched(&self, job: &JobRecord) -> Result<bool, PlatformError> {
        self.remove_leftovers(job).await
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let Some(c) = self.engine.inspect(&container_name(&job.job_id)).await? else {
            // The launcher is dead and never created the container: nothing can create it now.
            return Ok(LaunchRecovery::NotLaunched);
        };
        let labels = c
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        if labels.get(labels::LAUNCH_TOKEN) != Some(&job.launch_token) {
            return Ok(LaunchRecovery::NotLaunched);
        }
        if c.state.as_ref().and_then(|s| s.status) == Some(ContainerStateStatusEnum::CREATED)
            && c.state
                .as_ref()
                .and_then(|s| s.error.clone())
                .unwrap_or_default()
                .is_empty()
        {
            // Created but never started (the launcher died between the two calls): start it,
            // which is what the launcher was about to do.
            let _ = self
                .engine
                .client()
                .await?
                .start_container(&container_name(&job.job_id), None)
                .await;
        }
        Ok(LaunchRecovery::Adopted(Submitted {
            backend_job_id: c.id.unwrap_or_default().chars().take(12).collect(),
            backend_identity: self.identity().await?,
            results_location: None,
            status: JobStatus::Running,
            message: "adopted after an interrupted submit".into(),
        }))
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        self.statuses(jobs).await
    }

    fn retention(&self) -> Option<std::time::Duration> {
        self.retain
    }

    async fn watch_change(
        &self,
        job: &JobRecord,
        max: std::time::Duration,
    ) -> Result<bool, PlatformError> {
        self.wait_change(job, max).await
    }

    async fn collect(&self, jobs: &[JobRecord], dry_run: bool) -> Vec<Result<bool, PlatformError>> {
        self.collect_ended(jobs, dry_run).await
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let name = container_name(&job.job_id);
        if self.engine.inspect(&name).await?.is_none() {
            return self.saved_logs(job, tail);
        }
        Ok(String::from_utf8_lossy(&self.engine.container_logs(&name, tail).await?).into_owned())
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let name = container_name(&job.job_id);
        if self.engine.inspect(&name).await?.is_none() {
            let saved = self.saved_logs(job, tail)?;
            return Ok(futures::stream::once(async move { Ok(saved) }).boxed());
        }
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into()),
            ..Default::default()
        };
        let what = self.engine.endpoint().url.clone();
        let s = self
            .engine
            .client()
            .await?
            .logs(&name, Some(opts))
            .map(move |item| match item {
                Ok(chunk) => Ok(String::from_utf8_lossy(&chunk.into_bytes()).into_owned()),
                Err(e) => Err(PlatformError::Unreachable {
                    what: format!("Docker daemon {what}"),
                    why: e.to_string(),
                    hint: "run hoist logs -f JOB again to resume".into(),
                }),
            });
        Ok(s.boxed())
    }

    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        self.rerun(job).await
    }

    async fn release(&self, job: &JobRecord) -> Result<(), PlatformError> {
        self.remove_when_done(job).await
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let name = container_name(&job.job_id);
        let Some(c) = self.engine.inspect(&name).await? else {
            return Ok(if self.saved_report(&job.job_id).is_some() {
                CancelOutcome::AlreadyFinished
            } else {
                CancelOutcome::NotFound
            });
        };
        match c.state.and_then(|s| s.status) {
            Some(ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD) => {
                return Ok(CancelOutcome::AlreadyFinished);
            }
            Some(ContainerStateStatusEnum::PAUSED) => {
                let _ = self.engine.client().await?.unpause_container(&name).await;
            }
            _ => {}
        }
        let t = self.options(job)?.stop_timeout.unwrap_or(10) as i32;
        match self
            .engine
            .client()
            .await?
            .stop_container(
                &name,
                Some(StopContainerOptions {
                    t: Some(t),
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(())
            | Err(DockerError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(CancelOutcome::Requested),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(CancelOutcome::NotFound),
            Err(e) => Err(self.engine.unreachable(&e)),
        }
    }

    async fn pending_analysis(
        &self,
        job: &JobRecord,
    ) -> Result<Option<hoist_core::PendingAnalysis>, PlatformError> {
        self.pending(job).await
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let name = container_name(&job.job_id);
        let mut input = FailureInput {
            log_tail: self.logs(job, Some(200)).await.unwrap_or_default(),
            message: job.message.clone(),
            ..Default::default()
        };
        let Some(c) = self.engine.inspect(&name).await? else {
            input.exit_code = job.exit_code;
            return Ok(input);
        };
        let st = c.state.clone().unwrap_or_default();
        input.exit_code = st.exit_code.map(|c| c as i32).filter(|_| {
            st.started_at
                .as_deref()
                .is_some_and(|s| !s.starts_with("0001"))
        });
        if let Some(err) = st.error.filter(|e| !e.is_empty()) {
            input.message = format!("{}\n{err}", input.message);
            input.events.push(hoist_core::FailureEvent {
                node_event_name: "container_error".into(),
                message: err,
            });
        }
        // dockerd sets OOMKilled from the kernel's OOM event, which can lose the race with
        // the exit it causes; its event log keeps the "oom" event, so a 137 is checked there.
        let oom = st.oom_killed == Some(true)
            || (input.exit_code == Some(137) && self.engine.oom_event(&c).await);
        if oom {
            let limit = c.host_config.and_then(|h| h.memory).filter(|m| *m > 0);
            input.findings.push(PlatformFinding {
                err_class: ErrClass::Program,
                cause: match limit {
                    Some(m) => format!("the container exceeded its memory limit ({} MiB) and the kernel killed it (OOMKilled)", m >> 20),
                    None => "the container ran out of memory and the kernel killed it (OOMKilled)".into(),
                },
                suggestion: "raise --memory, or reduce the job's memory use (batch size, data-loader workers)".into(),
                retriable: false,
                event: "OOMKilled".into(),
            });
        }
        Ok(input)
    }

    async fn check_path(&self, path: &str) -> Result<bool, PlatformError> {
        if let Some(p) = self
            .engine
            .endpoint()
            .url
            .strip_prefix("unix://")
            .map(|_| path)
        {
            // A local socket means the daemon's host is this host.
            return Ok(std::path::Path::new(p.trim_start_matches("file://")).exists());
        }
        let image = self.helper_image.clone().ok_or_else(|| {
            PlatformError::Input(InputError::new(
                format!("checking {path} on the remote daemon's host needs a small image to run there"),
                "set helper_image in the profile or HOIST_DOCKER_HELPER_IMAGE (any image with /bin/sh and ls)",
            ))
        })?;
        Ok(self
            .engine
            .run_helper(&image, path, &["test", "-e", "/hoist-check"])
            .await?
            .0
            == 0)
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        if self.engine.endpoint().url.starts_with("unix://") {
            let rd = std::fs::read_dir(path)
                .map_err(|e| PlatformError::io(format!("listing {path}"), e))?;
            let mut v: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .collect();
            v.sort();
            return Ok(v);
        }
        let image = self.helper_image.clone().ok_or_else(|| {
            PlatformError::Input(InputError::new(
                "listing a path on the remote daemon's host needs a helper image",
                "set helper_image or HOIST_DOCKER_HELPER_IMAGE",
            ))
        })?;
        let (code, out) = self
            .engine
            .run_helper(&image, path, &["ls", "-1", "/hoist-check"])
            .await?;
        if code != 0 {
            return Err(PlatformError::Failed {
                message: format!("{path} cannot be listed on the daemon's host"),
                hint: "check the path".into(),
            });
        }
        Ok(out
            .lines()
            .map(|l| format!("{}/{l}", path.trim_end_matches('/')))
            .collect())
    }

    async fn preflight(
        &self,
        req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        self.preflight_checks(req).await
    }

    async fn fetch_results(
        &self,
        job: &JobRecord,
        dest: &Path,
    ) -> Result<Option<usize>, PlatformError> {
        let Some(loc) = job.results_location.as_deref() else {
            return Ok(None);
        };
        let path = loc.strip_suffix(spec::ON_DAEMON_HOST).unwrap_or(loc);
        // Results of this platform are a bind mount's source: a path on the daemon's host.
        // Anything else (s3://) is the caller's to fetch.
        if path.contains("://") || !path.starts_with('/') {
            return Ok(None);
        }
        if !self.engine.endpoint().url.starts_with("unix://") {
            return Err(InputError::new(
                format!(
                    "the results of job {} are at {path} on the Docker daemon's host ({}), which this machine cannot read",
                    job.short_id(),
                    self.engine.endpoint().url
                ),
                "copy them from that host yourself, or give jobs S3_BUCKET_NAME so results go to S3",
            )
            .into());
        }
        // A local socket: the daemon's host is this host.
        if !Path::new(path).is_dir() {
            return Err(InputError::new(
                format!(
                    "the results of job {} are at {loc}, which this machine cannot read",
                    job.short_id()
                ),
                "run hoist where that path is mounted, or give jobs S3_BUCKET_NAME so results go to S3",
            )
            .into());
        }
        copy_tree(Path::new(path), dest)
            .map(Some)
            .map_err(|e| PlatformError::io(format!("copying {path} to {}", dest.display()), e))
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        force_remove(self.engine.client().await?, &container_name(&job.job_id))
            .await
            .map_err(|e| self.engine.unreachable(&e))?;
        let _ = std::fs::remove_dir_all(self.job_files(&job.job_id));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn results_on_the_daemons_host() {
        let d = tempfile::tempdir().expect("tmp");
        let src = d.path().join("out/j1");
        std::fs::create_dir_all(src.join("sub")).expect("mkdir");
        std::fs::write(src.join("a.txt"), "a").expect("a");
        std::fs::write(src.join("sub/b.txt"), "b").expect("b");
        let mut job = JobRecord::pending(
            "j1".into(),
            "docker".into(),
            hoist_core::JobSpec::new(hoist_core::Command::Argv(vec!["true".into()])),
            "t".into(),
        );
        let local = crate::tests_support::jobs_on(d.path(), "unix:///var/run/docker.sock");
        let dest = d.path().join("dest");
        assert_eq!(local.fetch_results(&job, &dest).await.expect("none"), None);
        job.results_location = Some("s3://bkt/j1".into());
        assert_eq!(local.fetch_results(&job, &dest).await.expect("s3"), None);
        job.results_location = Some(src.display().to_string());
        assert_eq!(
            local.fetch_results(&job, &dest).await.expect("copied"),
            Some(2)
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("sub/b.txt"))
                .ok()
                .as_deref(),
            Some("b")
        );
        let remote = crate::tests_support::jobs_on(d.path(), "tcp://box:2375");
        job.results_location = Some(format!("{}{}", src.display(), spec::ON_DAEMON_HOST));
        let e = remote
            .fetch_results(&job, &dest)
            .await
            .expect_err("remote host");
        assert!(
            matches!(e, PlatformError::Input(_))
                && e.to_string().contains("daemon's host")
                && e.hint().is_some_and(|h| h.contains("S3_BUCKET_NAME")),
            "{e}"
        );
    }
}
