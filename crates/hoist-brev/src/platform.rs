//! The platform verbs: the instance is brev's business, the job is the container platform's
//! on the instance's daemon. Each verb first finds the job's instance through brev.

use crate::cli::check_name;
use crate::instance::Acquired;
use crate::{BrevOptions, BrevPlatform, Pinned, settings};
use async_trait::async_trait;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, Details, DryRun, Instance, JobRecord,
    LaunchRecovery, Platform, PlatformError, PreflightCheck, StatusReport, SubmitRequest,
    Submitted,
};
use std::path::Path;

impl BrevPlatform {
    /// The instance a job runs on: its own option, the setting, else `hoist-<id[..8]>`.
    fn instance_name(&self, job_id: &str, opts: &BrevOptions) -> String {
        opts.instance
            .clone()
            .or(self.settings.instance.clone())
            .unwrap_or_else(|| format!("hoist-{}", job_id.chars().take(8).collect::<String>()))
    }

    fn identity_with(ws_id: &str, docker: &str) -> String {
        format!("brev:{ws_id}|{docker}")
    }

    /// A submit that failed after hoist created the instance: give it back when the job
    /// asked for that, so a failed create never leaves a bill.
    async fn give_back_after_failure(&self, name: &str, opts: &BrevOptions) {
        if opts.delete_when_done && self.created_marker(name).exists() {
            let _ = self.cli.run(&["delete", name]).await;
            let _ = std::fs::remove_file(self.created_marker(name));
        }
    }
}

#[async_trait]
impl Platform for BrevPlatform {
    fn name(&self) -> &'static str {
        settings::INFO.name
    }

    fn capabilities(&self) -> Capabilities {
        settings::INFO.capabilities
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        // brev and the daemon are asked at once: a status costs the slower of the two.
        let (ws, docker) = tokio::try_join!(self.workspace(), async {
            self.jobs_unchecked().await?.identity().await
        })?;
        Ok(Self::identity_with(&ws.id, &docker))
    }

    fn pin(&self) -> Option<serde_json::Value> {
        let p = self.pinned().unwrap_or_else(|| Pinned {
            instance: self.settings.instance.clone(),
            id: None,
        });
        p.instance.as_ref()?;
        serde_json::to_value(p).ok()
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
        let opts: BrevOptions = req.spec.options_of("brev")?;
        let name = self.instance_name(&req.job_id, &opts);
        check_name(&name)?;
        let container = self.jobs_on(&name)?.dry_run(req).await?;
        let mut create = vec!["brev", "create", name.as_str(), "--detached"];
        let with =
            crate::instance::create_with(&self.settings, &opts, req.spec.gpu_type.as_deref());
        if let Some((flag, v)) = &with {
            create.extend([*flag, v.as_str()]);
        }
        let doc = serde_json::json!({
            "platform": "brev",
            "instance": name,
            "create_if_missing": create,
            "delete_when_done": opts.delete_when_done,
            "container": container.json,
        });
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| PlatformError::failed(e.to_string(), ""))?;
        Ok(DryRun { text, json: doc })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let opts: BrevOptions = req.spec.options_of("brev")?;
        let name = self.instance_name(&req.job_id, &opts);
        check_name(&name)?;
        // What can never run is refused before an instance is created for it.
        hoist_containers::spec::plan("brev", req, "-", &format!("ssh://{name}"), false, None)?;
        let (ws, acquired) = match self
            .acquire(&name, &opts, req.spec.gpu_type.as_deref())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.give_back_after_failure(&name, &opts).await;
                return Err(e);
            }
        };
        self.set_pinned(Pinned {
            instance: Some(name.clone()),
            id: Some(ws.id.clone()),
        });
        let _ = self.workspace.set(ws.clone());
        let jobs = self.jobs_on(&name)?;
        let sub = jobs.submit(req).await?;
        let _ = self.jobs.set(jobs);
        let gpu = if ws.gpu.is_empty() || ws.gpu == "-" {
            String::new()
        } else {
            format!(", {}", ws.gpu)
        };
        let how = match acquired {
            Acquired::Created => "created",
            a => a.words(),
        };
        Ok(Submitted {
            backend_identity: Self::identity_with(&ws.id, &sub.backend_identity),
            message: [
                format!("on brev instance {name} ({how}, {}{gpu})", ws.instance_type),
                sub.message.clone(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
            ..sub
        })
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let opts: BrevOptions = job.spec.options_of("brev")?;
        let name = self
            .pinned()
            .and_then(|p| p.instance)
            .unwrap_or_else(|| self.instance_name(&job.job_id, &opts));
        let Some(ws) = self.find(&name).await? else {
            return Ok(LaunchRecovery::NotLaunched);
        };
        if !ws.ready() {
            // The launcher died before the container could exist; nothing runs it now.
            return Ok(LaunchRecovery::NotLaunched);
        }
        self.set_pinned(Pinned {
            instance: Some(name.clone()),
            id: Some(ws.id.clone()),
        });
        let jobs = self.jobs_on(&name)?;
        Ok(match jobs.recover_launch(job).await? {
            LaunchRecovery::Adopted(sub) => LaunchRecovery::Adopted(Submitted {
                backend_identity: Self::identity_with(&ws.id, &sub.backend_identity),
                ..sub
            }),
            other => other,
        })
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        let both = tokio::try_join!(self.workspace(), async {
            Ok(self.jobs_unchecked().await?.status(jobs).await)
        });
        match both {
            Ok((ws, reports)) => {
                // `hoist ls` shows where a Brev job runs in its message.
                let on = format!("on brev instance {}", ws.name);
                reports
                    .into_iter()
                    .map(|r| {
                        r.map(|mut rep| {
                            rep.message = if rep.message.is_empty() {
                                on.clone()
                            } else if rep.retriable {
                                // The cause first: it is what a retry is recorded with.
                                format!("{}; {on}", rep.message)
                            } else {
                                format!("{on}; {}", rep.message)
                            };
                            rep
                        })
                    })
                    .collect()
            }
            Err(e) => {
                let text = e.to_string();
                let hint = e.hint().unwrap_or_default();
                jobs.iter()
                    .map(|_| Err(PlatformError::failed(text.clone(), hint.clone())))
                    .collect()
            }
        }
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        self.jobs().await?.logs(job, tail).await
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        self.jobs().await?.follow_logs(job, tail).await
    }

    /// Run the job again on the instance it used, in a fresh container made from the failed
    /// one (its environment, secrets included, lives only there). An instance that is gone
    /// took that container with it, so the job cannot be run again from hoist's records.
    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        let ws = match self.workspace().await {
            Ok(ws) => ws.clone(),
            Err(PlatformError::NotFound { what, why, .. }) => {
                return Err(PlatformError::failed(
                    format!("{what} is gone ({why}), and the job's container with it"),
                    "run the job again with hoist run; it creates an instance when none is there",
                ));
            }
            Err(e) => return Err(e),
        };
        let Some(sub) = self.jobs().await?.retry(job).await? else {
            return Ok(None);
        };
        Ok(Some(Submitted {
            backend_identity: Self::identity_with(&ws.id, &sub.backend_identity),
            message: format!("on brev instance {}; {}", ws.name, sub.message),
            ..sub
        }))
    }

    async fn remove_unlaunched(&self, job: &JobRecord) -> Result<bool, PlatformError> {
        match self.workspace().await {
            // The instance went, and anything a late create left on it.
            Err(PlatformError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
            Ok(_) => self.jobs().await?.remove_unlaunched(job).await,
        }
    }

    async fn watch_change(
        &self,
        job: &JobRecord,
        max: std::time::Duration,
    ) -> Result<bool, PlatformError> {
        self.jobs().await?.watch_change(job, max).await
    }

    async fn collect(&self, jobs: &[JobRecord], dry_run: bool) -> Vec<Result<bool, PlatformError>> {
        match self.jobs().await {
            Ok(c) => c.collect(jobs, dry_run).await,
            Err(e) => jobs
                .iter()
                .map(|_| Err(PlatformError::failed(e.to_string(), "")))
                .collect(),
        }
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        match self.workspace().await {
            // The instance went, and its containers with it.
            Err(PlatformError::NotFound { .. }) => Ok(CancelOutcome::NotFound),
            Err(e) => Err(e),
            Ok(_) => self.jobs().await?.cancel(job).await,
        }
    }

    async fn release(&self, job: &JobRecord) -> Result<(), PlatformError> {
        let opts: BrevOptions = job.spec.options_of("brev")?;
        let Some(name) = self.instance_of(job) else {
            return Ok(());
        };
        // A `--rm` container kept for a retry goes first, so the instance reads idle.
        if self.workspace().await.is_ok() {
            self.jobs().await?.release(job).await?;
        }
        if opts.delete_when_done {
            self.delete_if_idle(&name).await?;
        }
        Ok(())
    }

    async fn pending_analysis(
        &self,
        job: &JobRecord,
    ) -> Result<Option<hoist_core::PendingAnalysis>, PlatformError> {
        // The instance first: while it comes up there is no daemon to ask.
        let ws = self.workspace().await?;
        if let Some(a) = hoist_core::pending::brev_instance(
            &ws.name,
            &ws.status,
            &ws.build_status,
            &ws.shell_status,
        ) {
            return Ok(Some(a));
        }
        self.jobs().await?.pending_analysis(job).await
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let finding =
            |class, cause: String, suggestion: String, event: &str, retriable| PlatformFinding {
                err_class: class,
                cause,
                suggestion,
                retriable,
                event: event.into(),
            };
        let name = self.instance_of(job).unwrap_or_default();
        let mut input = match self.workspace().await {
            Ok(ws) => {
                let mut input = self.jobs().await?.failure_input(job).await?;
                if ws.health_status == "UNHEALTHY" || ws.status == "UNHEALTHY" {
                    input.findings.push(finding(
                        ErrClass::Infra,
                        format!("Brev reports instance {name} UNHEALTHY"),
                        format!("stop and start it (brev stop {name}; brev start {name}), or delete it and run the job on a new one; an unhealthy instance may refuse ssh after a brev login"),
                        "brev_unhealthy",
                        true,
                    ));
                }
                input
            }
            Err(e) => FailureInput {
                exit_code: job.exit_code,
                message: format!("{}\n{e}", job.message),
                findings: vec![finding(
                    ErrClass::Infra,
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                    "brev_instance",
                    false,
                )],
                ..Default::default()
            },
        };
        let m = job.message.to_ascii_lowercase();
        if m.contains("failed: failure") || m.contains("create_failed") {
            input.findings.insert(0, finding(
                ErrClass::Infra,
                format!("Brev could not bring up instance {name}: it ended in FAILURE"),
                "delete it (hoist instances rm NAME --platform brev) and run again, with another --gpu-type or --instance-type if it fails again".into(),
                "brev_failure",
                true,
            ));
        } else if m.contains("out of quota") || m.contains("capacity") {
            input.findings.insert(
                0,
                finding(
                    ErrClass::Infra,
                    "Brev had no capacity or quota for the instance type asked for".into(),
                    "try another --gpu-type or --instance-type (brev search lists them), or later"
                        .into(),
                    "brev_quota",
                    true,
                ),
            );
        } else if m.contains("does not support stop") {
            input.findings.insert(0, finding(
                ErrClass::Config,
                format!("instance {name}'s type cannot be stopped"),
                "delete it instead (hoist instances rm NAME --platform brev), or pick a stoppable type".into(),
                "brev_not_stoppable",
                false,
            ));
        }
        Ok(input)
    }

    async fn check_path(&self, path: &str) -> Result<bool, PlatformError> {
        self.jobs().await?.check_path(path).await
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        self.jobs().await?.list_path(path).await
    }

    async fn fetch_results(
        &self,
        job: &JobRecord,
        dest: &Path,
    ) -> Result<Option<usize>, PlatformError> {
        self.jobs().await?.fetch_results(job, dest).await
    }

    async fn details(&self, job: &JobRecord) -> Result<Option<Details>, PlatformError> {
        let p = Pinned::from_value(job.pinned.as_ref());
        let mut d = Details::default();
        if let Some(n) = p.instance {
            d.fields.insert("instance".into(), n);
        }
        if let Some(id) = p.id {
            d.fields.insert("instance_id".into(), id);
        }
        match self.workspace().await {
            Ok(ws) => {
                d.fields.insert("instance_state".into(), ws.state_line());
                d.fields
                    .insert("instance_type".into(), ws.instance_type.clone());
            }
            Err(e) => {
                d.fields.insert("instance_state".into(), e.to_string());
            }
        }
        Ok(Some(d))
    }

    async fn preflight(
        &self,
        req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        self.preflight_checks(req).await
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        match self.workspace().await {
            Err(PlatformError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => self.jobs().await?.remove(job).await,
        }
    }

    async fn instances(&self) -> Result<Vec<Instance>, PlatformError> {
        Ok(self
            .cli
            .list()
            .await?
            .into_iter()
            .map(|w| Instance {
                detail: w.state_line(),
                name: w.name,
                id: w.id,
                status: w.status,
                instance_type: w.instance_type,
                gpu: w.gpu,
            })
            .collect())
    }

    async fn delete_instance(&self, name: &str) -> Result<(), PlatformError> {
        check_name(name)?;
        self.cli.run(&["delete", name]).await?;
        let _ = std::fs::remove_file(self.created_marker(name));
        Ok(())
    }

    fn instance_of(&self, job: &JobRecord) -> Option<String> {
        Pinned::from_value(job.pinned.as_ref()).instance
    }
}
