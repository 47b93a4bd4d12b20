//! The platform verbs on one workspace.

use crate::body::{job_body, lepton_id};
use crate::settings::{INFO, LeptonOptions, Mount};
use crate::status::{JobState, parse, report};
use crate::{LeptonPlatform, logs};
use async_trait::async_trait;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, Details, DryRun, FailureEvent, JobRecord, JobStatus,
    LaunchRecovery, Platform, PlatformError, PreflightCheck, Replica, StatusReport, SubmitRequest,
    Submitted,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

mod retry;

/// Jobs per page of a listing (the official client's).
const PAGE_SIZE: usize = 500;

/// Pending jobs whose events are asked for the reason they wait, per status call.
const EVENTS_FOR_PENDING: usize = 10;

impl LeptonPlatform {
    fn options(&self, spec: &hoist_core::JobSpec) -> Result<LeptonOptions, PlatformError> {
        Ok(spec.options_of::<LeptonOptions>("lepton")?)
    }

    /// The job as the workspace has it now, `None` when it has no such job.
    async fn job(&self, id: &str) -> Result<Option<Value>, PlatformError> {
        match self
            .client
            .get(
                &format!("/jobs/{id}"),
                &[("job_query_mode", "alive_and_archive".into())],
            )
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status == Some(StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every alive job of the workspace, by id: pages of 500 until a short one.
    async fn alive(&self) -> Result<HashMap<String, Value>, PlatformError> {
        let mut out = HashMap::new();
        for page in 1.. {
            let v = self
                .client
                .get(
                    "/jobs",
                    &[
                        ("job_query_mode", "alive_only".into()),
                        ("page", page.to_string()),
                        ("page_size", PAGE_SIZE.to_string()),
                    ],
                )
                .await?;
            let jobs = v
                .get("jobs")
                .and_then(Value::as_array)
                .or(v.as_array())
                .cloned()
                .unwrap_or_default();
            let n = jobs.len();
            for j in jobs {
                if let Some(id) = j.pointer("/metadata/id").and_then(Value::as_str) {
                    out.insert(id.to_string(), j);
                }
            }
            if n < PAGE_SIZE {
                break;
            }
        }
        Ok(out)
    }

    /// The latest Warning event's reason and message, for a job that waits or failed.
    async fn events(&self, id: &str) -> Vec<Value> {
        self.client
            .get(&format!("/jobs/{id}/events"), &[])
            .await
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    fn state_of(&self, job: &JobRecord, v: &Value) -> Result<JobState, PlatformError> {
        parse(v).ok_or_else(|| {
            PlatformError::failed(
                format!(
                    "Lepton's answer for job {} has no metadata.id",
                    job.short_id()
                ),
                "",
            )
        })
    }

    fn backend_id(job: &JobRecord) -> Result<&str, PlatformError> {
        job.backend_job_id.as_deref().ok_or_else(|| {
            PlatformError::failed(
                format!(
                    "job {} has no Lepton id (its submit never finished)",
                    job.short_id()
                ),
                "hoist reconcile settles interrupted submits",
            )
        })
    }

    async fn current(&self, job: &JobRecord) -> Result<JobState, PlatformError> {
        let id = Self::backend_id(job)?;
        match self.job(id).await? {
            Some(v) => self.state_of(job, &v),
            None => Err(PlatformError::NotFound {
                what: format!("Lepton job {id}"),
                why: "the workspace has no such job (deleted there?)".into(),
                hint: "hoist rm JOB forgets it".into(),
            }),
        }
    }
}

/// The reason a pending job waits, from its newest Warning event.
fn waiting_reason(events: &[Value]) -> Option<String> {
    events
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("Warning"))
        .max_by_key(|e| {
            e.get("last_observed_time")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .map(|e| {
            let reason = e.get("reason").and_then(Value::as_str).unwrap_or("Warning");
            match e.get("message").and_then(Value::as_str) {
                Some(m) => format!("{reason}: {m}"),
                None => reason.to_string(),
            }
        })
}

#[async_trait]
impl Platform for LeptonPlatform {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        Ok(format!(
            "lepton:{}@{}",
            self.client.workspace(),
            self.client.url()
        ))
    }

    fn pin(&self) -> Option<Value> {
        serde_json::to_value(self.pinned()).ok()
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
        let opts = self.options(&req.spec)?;
        let (place, note) = self.place(req, &opts, false).await?;
        let body = job_body(req, &opts, &place)?;
        let mut doc = json!({
            "platform": "lepton",
            "url": self.client.url(),
            "placement": note,
            "secrets": place.secret_refs.values().collect::<Vec<_>>(),
            "create": body,
        });
        if let Some(p) = &place.made_pull_secret {
            doc["image_pull_secret"] = json!({
                "name": p.name,
                "registry_server": p.registry_server,
                "username": p.username,
                "made": "at submit, from the environment's registry login, when the workspace lacks it",
            });
        }
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| PlatformError::failed(e.to_string(), ""))?;
        Ok(DryRun { text, json: doc })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let opts = self.options(&req.spec)?;
        // What can never run is refused before the workspace is touched.
        let mut check = crate::body::Placement {
            shape: "-".into(),
            secret_refs: req.env.keys().map(|k| (k.clone(), k.clone())).collect(),
            ..Default::default()
        };
        if req.runner.is_some() {
            check.runner = Some(("-".into(), "-".into()));
        }
        job_body(req, &opts, &check)?;
        let (place, note) = self.place(req, &opts, true).await?;
        let body = job_body(req, &opts, &place)?;
        let created = match self
            .client
            .call(Method::POST, "/jobs", &[], Some(&body))
            .await
        {
            Ok(v) => v,
            Err(e) => {
                // Nothing runs: the secrets made for it go too.
                for s in place.secret_refs.values() {
                    let _ = self
                        .client
                        .call(Method::DELETE, &format!("/usersecrets/{s}"), &[], None)
                        .await;
                }
                return Err(match e.status {
                    Some(s)
                        if s == StatusCode::BAD_REQUEST
                            || s == StatusCode::UNPROCESSABLE_ENTITY =>
                    {
                        hoist_core::InputError::new(
                            e.error.to_string(),
                            e.error.hint().unwrap_or_default(),
                        )
                        .into()
                    }
                    _ => e.into(),
                });
            }
        };
        // The server may add a suffix to the id: the answer's is the job's.
        let id = created
            .pointer("/metadata/id")
            .and_then(Value::as_str)
            .or(created.pointer("/status/job_name").and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or_else(|| lepton_id(&req.spec.name, &req.job_id));
        let results_location = opts
            .mounts
            .first()
            .and_then(|m| m.parse::<Mount>().ok())
            .map(|m| {
                format!(
                    "{}/results/{} on Lepton volume {} ({}/results in the job)",
                    m.path.trim_end_matches('/'),
                    req.job_id,
                    m.from,
                    m.mount_path.trim_end_matches('/')
                )
            });
        let nodes = req.spec.nodes.max(1);
        Ok(Submitted {
            backend_job_id: id.clone(),
            backend_identity: self.identity().await?,
            results_location,
            status: JobStatus::Pending,
            message: format!(
                "Lepton job {id}: {note}{}",
                if nodes > 1 {
                    format!(", {nodes} workers")
                } else {
                    String::new()
                }
            ),
        })
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let want = lepton_id(&job.spec.name, &job.job_id);
        let alive = self.alive().await?;
        let found = alive
            .iter()
            .find(|(id, _)| *id == &want || id.starts_with(&format!("{want}-")));
        Ok(match found {
            Some((id, _)) => LaunchRecovery::Adopted(Submitted {
                backend_job_id: id.clone(),
                backend_identity: self.identity().await?,
                results_location: None,
                status: JobStatus::Pending,
                message: "adopted after an interrupted submit".into(),
            }),
            None => LaunchRecovery::NotLaunched,
        })
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        // One listing for every alive job; what it lacks (archived, deleted) is asked alone.
        let alive = match self.alive().await {
            Ok(a) => a,
            Err(e) => {
                let (text, hint) = (e.to_string(), e.hint().unwrap_or_default());
                return jobs
                    .iter()
                    .map(|_| Err(PlatformError::failed(text.clone(), hint.clone())))
                    .collect();
            }
        };
        let mut out = Vec::with_capacity(jobs.len());
        let mut pending_asked = 0;
        for job in jobs {
            let r = async {
                let id = Self::backend_id(job)?;
                let v = match alive.get(id) {
                    Some(v) => v.clone(),
                    None => match self.job(id).await? {
                        Some(v) => v,
                        None => {
                            return Ok(StatusReport {
                                status: JobStatus::Unknown,
                                message: format!("Lepton job {id} is gone from the workspace (deleted there): its end is not known"),
                                exit_code: None,
                                started_at: None,
                                finished_at: None,
                                retriable: false,
                                restarts: None,
                            });
                        }
                    },
                };
                let st = self.state_of(job, &v)?;
                let mut rep = report(&st, job.cancel_requested);
                self.judge(&st, &mut rep).await;
                if rep.status == JobStatus::Pending && pending_asked < EVENTS_FOR_PENDING {
                    pending_asked += 1;
                    if let Some(why) = waiting_reason(&self.events(id).await) {
                        rep.message = format!("{}: {why}", rep.message);
                    }
                }
                Ok(rep)
            }
            .await;
            out.push(r);
        }
        out
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let st = self.current(job).await?;
        logs::history(&self.client, &st, tail).await
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let st = self.current(job).await?;
        logs::follow(self.client.clone(), st, tail).await
    }

    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        self.rerun(job).await
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let st = match self.current(job).await {
            Ok(s) => s,
            Err(PlatformError::NotFound { .. }) => return Ok(CancelOutcome::NotFound),
            Err(e) => return Err(e),
        };
        if matches!(
            st.state.as_str(),
            "Completed" | "Failed" | "Archived" | "Deleted" | "Stopped"
        ) {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        self.client
            .call(
                Method::PATCH,
                &format!("/jobs/{}", st.id),
                &[],
                Some(&json!({"spec": {"stopped": true}})),
            )
            .await?;
        Ok(CancelOutcome::Requested)
    }

    async fn pending_analysis(
        &self,
        job: &JobRecord,
    ) -> Result<Option<hoist_core::PendingAnalysis>, PlatformError> {
        let st = self.current(job).await?;
        if report(&st, job.cancel_requested).status != JobStatus::Pending {
            return Ok(None);
        }
        let id = Self::backend_id(job)?;
        let events: Vec<String> = waiting_reason(&self.events(id).await).into_iter().collect();
        Ok(Some(hoist_core::pending::lepton(
            &st.state,
            st.ready,
            st.completions.max(1),
            &events,
        )))
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let mut input = FailureInput {
            log_tail: self.logs(job, Some(200)).await.unwrap_or_default(),
            message: job.message.clone(),
            exit_code: job.exit_code,
            ..Default::default()
        };
        let Ok(id) = Self::backend_id(job) else {
            return Ok(input);
        };
        for e in self.events(id).await {
            let reason = e
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if e.get("type").and_then(Value::as_str) != Some("Warning") {
                continue;
            }
            input.events.push(FailureEvent {
                node_event_name: reason.clone(),
                message: message.clone(),
            });
            let finding = |class, cause: &str, fix: &str, retriable| PlatformFinding {
                err_class: class,
                cause: cause.to_string(),
                suggestion: fix.to_string(),
                retriable,
                event: reason.clone(),
            };
            let f = match reason.as_str() {
                "OOMKilled" => Some(finding(
                    ErrClass::Program,
                    "a worker ran out of memory and was killed (OOMKilled)",
                    "use a larger --resource-shape, or reduce memory use (batch size, data-loader workers)",
                    false,
                )),
                "ErrImagePull" | "ImagePullBackOff" => Some(finding(
                    ErrClass::Config,
                    "the image could not be pulled on the node",
                    "check the image name and the registry login: hoist makes the pull secret hoist-<registry>-<user hash> from NGC_KEY (nvcr.io) or DOCKER_USERNAME/DOCKER_PASSWORD[/DOCKER_SERVER] (or SKYPILOT_DOCKER_*) once, and keeps it; after a password change delete that secret on the workspace (or use a $(cmd) password, made again at each submit), or name one with --image-pull-secret",
                    false,
                )),
                "FailedScheduling" => Some(finding(
                    ErrClass::Infra,
                    "no node of the node group could take a worker",
                    "wait for capacity, use a smaller --resource-shape, or another --node-group",
                    true,
                )),
                "Evicted" | "Preempted" | "NodeLost" | "NodeNotReady" => Some(finding(
                    ErrClass::Infra,
                    "a worker's node went away or evicted it",
                    "run the job again (hoist retries infrastructure failures up to HOIST_MAX_RETRIES)",
                    true,
                )),
                "BackoffLimitExceeded" => Some(finding(
                    ErrClass::Program,
                    "the workers failed more often than max_failure_retry allows",
                    "see the log tail for the error; raise max_failure_retry only for flaky infrastructure",
                    false,
                )),
                _ => None,
            };
            input.findings.extend(f);
        }
        Ok(input)
    }

    async fn details(&self, job: &JobRecord) -> Result<Option<Details>, PlatformError> {
        let id = Self::backend_id(job)?;
        let mut d = Details::default();
        d.fields.insert("lepton_job".into(), id.to_string());
        d.fields
            .insert("workspace".into(), self.client.workspace().to_string());
        if let Ok(st) = self.current(job).await {
            d.fields.insert("lepton_state".into(), st.state.clone());
            d.fields.insert(
                "workers".into(),
                format!(
                    "{} ready / {} active of {}",
                    st.ready, st.active, st.completions
                ),
            );
        }
        for (rid, rank, r) in logs::replicas(&self.client, id).await.unwrap_or_default() {
            d.replicas.push(Replica {
                rank: rank.map(|r| r.to_string()),
                name: rid,
                phase: "listed".into(),
                node: r
                    .pointer("/status/node/name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                issue: None,
            });
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
        // Every run of the job: the failed ones a retry left on the workspace too.
        let runs = job
            .retry_history
            .iter()
            .filter_map(|r| r.backend_job_id.as_ref())
            .chain(&job.backend_job_id);
        for id in runs {
            match self
                .client
                .call(
                    Method::DELETE,
                    &format!("/jobs/{id}"),
                    &[("job_query_mode", "alive_and_archive".into())],
                    None,
                )
                .await
            {
                Ok(_) => {}
                Err(e) if e.status == Some(StatusCode::NOT_FOUND) => {}
                Err(e) => return Err(e.into()),
            }
        }
        for s in &self.pinned().secrets {
            match self
                .client
                .call(Method::DELETE, &format!("/usersecrets/{s}"), &[], None)
                .await
            {
                Ok(_) => {}
                Err(e) if e.status == Some(StatusCode::NOT_FOUND) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
