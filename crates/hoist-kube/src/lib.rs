//! The `kubernetes` platform: a job is a Job (an Indexed Job plus a headless Service when it
//! spans nodes), its secret env values a Secret the Job owns, and an image pull Secret from
//! the environment's registry login, owned the same way. Everything goes through kube-rs;
//! the client is built from a kubeconfig (its `context` setting, else the current one) or the
//! in-cluster service account, or handed in ([`KubePlatform::with_client`]) so tests can
//! script the API.
#![deny(missing_docs)]

mod client;
mod fence;
pub mod flags;
mod gc;
mod logs;
pub mod manifest;
pub mod pending;
pub mod placement;
mod preflight;
pub mod pull;
pub mod settings;
pub mod status;
mod submit;

pub use settings::{Descriptor, KubeOptions, KubeSettings, Pinned};

use async_trait::async_trait;
use futures::StreamExt;
use hoist_core::env::SharedEnv;
use hoist_core::failure::FailureInput;
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, Details, DryRun, InputError, JobRecord, JobStatus,
    LaunchRecovery, MapEnv, Platform, PlatformError, PreflightCheck, Replica, StatusReport,
    SubmitRequest, Submitted,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use manifest::{ManifestSettings, job_name, labels};
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

/// Jobs on one Kubernetes cluster, in one namespace.
pub struct KubePlatform {
    settings: KubeSettings,
    namespace: String,
    /// Where the registry login for image pull Secrets is read.
    env: SharedEnv,
    conn: OnceCell<client::Conn>,
    identity: OnceCell<String>,
    /// `$HOIST_HOME`: where `hoist gc` saves what it removes, and where the facade notes
    /// fenced launches. `None` (a bare platform): gc refuses, fences are not looked up.
    home: Option<std::path::PathBuf>,
    /// How long ended jobs' objects are kept (the `retain` setting).
    retain: Option<std::time::Duration>,
}

impl KubePlatform {
    /// A platform that connects on first use. It reads no environment (so makes no image
    /// pull Secret) until given one with [`KubePlatform::with_env`].
    pub fn new(settings: KubeSettings) -> KubePlatform {
        let namespace = settings
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        // Checked when the settings were read (`KubeSettings::from_map`); one that was not
        // and does not read leaves gc to its own --older-than.
        let retain = settings
            .retain
            .as_deref()
            .and_then(|r| hoist_core::age::parse_age("kubernetes setting retain", r).ok());
        KubePlatform {
            settings,
            namespace,
            env: std::sync::Arc::new(MapEnv::default()),
            conn: OnceCell::new(),
            identity: OnceCell::new(),
            home: None,
            retain,
        }
    }

    /// The same platform keeping its local files under `home` (`$HOIST_HOME`).
    pub fn with_home(mut self, home: std::path::PathBuf) -> KubePlatform {
        self.home = Some(home);
        self
    }

    /// The same platform reading registry logins from `env` (the build context's).
    pub fn with_env(mut self, env: SharedEnv) -> KubePlatform {
        self.env = env;
        self
    }

    /// A platform over a given client (tests script the API through it).
    pub fn with_client(settings: KubeSettings, client: Client, server: &str) -> KubePlatform {
        let p = KubePlatform::new(settings);
        let _ = p.conn.set(client::Conn {
            client,
            server: server.to_string(),
            ca: "none".into(),
        });
        p
    }

    fn settings(&self) -> ManifestSettings {
        ManifestSettings {
            namespace: self.namespace.clone(),
            runner_image: self.settings.runner_image.clone(),
            ttl_seconds: self.settings.ttl_seconds.unwrap_or(3600),
            pull_login: None,
            gpu_placement: None,
        }
    }

    /// The job's pods, for `hoist show`.
    pub async fn replicas(&self, job: &JobRecord) -> Result<Vec<Replica>, PlatformError> {
        let client = self.client().await?;
        Ok(status::replicas(
            &self.pods_of(client, &job_name(&job.job_id)).await?,
        ))
    }
}

#[async_trait]
impl Platform for KubePlatform {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn capabilities(&self) -> Capabilities {
        settings::INFO.capabilities
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        self.cluster_identity().await
    }

    fn pin(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "context": self.settings.context,
            "namespace": self.namespace,
        }))
    }

    /// The objects as a multi-document YAML stream `kubectl apply -f -` takes (Secret
    /// values masked), and the same objects as a JSON array. Neither the cluster is asked
    /// nor a `$(cmd)` registry password run: the GPU model is shown as given, the pull
    /// Secret with the password's variable in its place.
    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
        let mut s = self.settings();
        s.pull_login = pull::PullLogin::for_job(&req.spec, &*self.env)?;
        let m = manifest::render(req, &s)?;
        let objects = manifest::dry_run_objects(&m);
        Ok(DryRun {
            text: manifest::to_yaml_stream(&objects),
            json: serde_json::Value::Array(objects),
        })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        self.create_job(req).await
    }

    async fn remove_unlaunched(&self, job: &JobRecord) -> Result<bool, PlatformError> {
        // A create still in flight when its launcher died can land after the fence, and a
        // Job starts its pods by itself: delete it (its pods with it) and its companions.
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        let found = match jobs.delete(&name, &DeleteParams::background()).await {
            Ok(_) => true,
            Err(kube::Error::Api(s)) if s.code == 404 => false,
            Err(e) => return Err(self.err(&format!("delete {name}"), e)),
        };
        self.delete_companions(client, &job.job_id, client::Companions::ALL)
            .await?;
        Ok(found)
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let client = self.client().await?;
        let jobs: Api<Job> = self.api(client.clone());
        let name = job_name(&job.job_id);
        match jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        {
            Some(j)
                if j.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::LAUNCH_TOKEN))
                    == Some(&job.launch_token) =>
            {
                // Adopting is what lets a held Job run; one fenced off meanwhile (another
                // reconciler looked before it landed) is deleted instead.
                if !self.resume(client, &job.job_id, &j).await? {
                    return Ok(LaunchRecovery::NotLaunched);
                }
                Ok(LaunchRecovery::Adopted(Submitted {
                    backend_job_id: name,
                    backend_identity: self.identity().await?,
                    results_location: None,
                    status: JobStatus::Pending,
                    message: "adopted after an interrupted submit".into(),
                }))
            }
            _ => {
                // What a dead launcher created before the Job stays unowned: remove it.
                self.delete_companions(client, &job.job_id, client::Companions::ALL)
                    .await?;
                Ok(LaunchRecovery::NotLaunched)
            }
        }
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Unreachable {
                            what: "Kubernetes".into(),
                            why: msg.clone(),
                            hint: "check the kubeconfig".into(),
                        })
                    })
                    .collect();
            }
        };
        // Two calls for any number of jobs: every hoist Job and every hoist pod in the namespace.
        let sel = ListParams::default().labels(&format!("{}=hoist", labels::MANAGED_BY));
        let japi: Api<Job> = self.api(client.clone());
        let papi: Api<Pod> = self.api(client);
        let (jl, pl) = futures::join!(japi.list(&sel), papi.list(&sel));
        let (jl, pl) = match (jl, pl) {
            (Ok(j), Ok(p)) => (j.items, p.items),
            (Err(e), _) | (_, Err(e)) => {
                let msg = self.err("list jobs and pods", e).to_string();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Unreachable {
                            what: "Kubernetes".into(),
                            why: msg.clone(),
                            hint: "check the kubeconfig and the API server".into(),
                        })
                    })
                    .collect();
            }
        };
        let pods = status::pods_by_job(pl);
        jobs.iter()
            .map(|j| {
                let name = job_name(&j.job_id);
                match jl.iter().find(|k| k.metadata.name.as_deref() == Some(name.as_str())) {
                    Some(k) => Ok(status::report(
                        k,
                        &status::current_pods(k, pods.get(&name).map(Vec::as_slice).unwrap_or(&[])),
                    )),
                    None if let Some(saved) = self.saved(&j.job_id) => Ok(saved.report),
                    None if j.status == JobStatus::Canceling => Ok(StatusReport {
                        status: JobStatus::Canceled,
                        message: "canceled".into(),
                        exit_code: None,
                        started_at: None,
                        finished_at: Some(jiff::Timestamp::now()),
                        retriable: false,
                        restarts: None,
                    }),
                    None => Ok(StatusReport {
                        status: JobStatus::Error,
                        message: format!("the Job {name} is gone from namespace {} (deleted outside hoist, or removed by its TTL after it ended)", self.namespace),
                        exit_code: None,
                        started_at: None,
                        finished_at: None,
                        retriable: false,
                        restarts: None,
                    }),
                }
            })
            .collect()
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        if let Some(saved) = self.saved_logs(&job.job_id, tail) {
            return Ok(saved);
        }
        let client = self.client().await?;
        let pods = self.pods_of(client.clone(), &job_name(&job.job_id)).await?;
        self.log_text(client, &pods, tail).await
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        if let Some(saved) = self.saved_logs(&job.job_id, tail) {
            return Ok(futures::stream::once(async move { Ok(saved) }).boxed());
        }
        self.follow(job, tail).await
    }

    /// Run an evicted (or otherwise infrastructure-failed) job again: its Secret and Service
    /// are released from the old Job, the old Job and its pods are deleted, and the same Job is
    /// created again (the server's fields stripped) and given the Secret and Service back.
    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        let Some(old) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            return Ok(None); // nothing left to run again from
        };
        let release = serde_json::json!({"metadata": {"ownerReferences": null}});
        // The pull Secret only where the Job uses it: jobs from before it existed have none.
        let pull_name = pull::pull_secret_name(&job.job_id);
        let companions = client::Companions {
            pull: old
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|p| p.image_pull_secrets.as_ref())
                .is_some_and(|refs| refs.iter().any(|r| r.name == pull_name)),
            ..client::Companions::ALL
        };
        self.patch_companions(
            client.clone(),
            &job.job_id,
            companions,
            &release,
            "keep the job's Secret and Service",
        )
        .await?;
        let mut dp = DeleteParams::background();
        dp.preconditions = Some(kube::api::Preconditions {
            uid: old.metadata.uid.clone(),
            resource_version: None,
        });
        self.delete_quietly(&jobs, &name, &dp).await?;
        let fresh = manifest::rerun(&old);
        let mut created = None;
        for _ in 0..50 {
            match jobs.create(&PostParams::default(), &fresh).await {
                Ok(j) => {
                    created = Some(j);
                    break;
                }
                // The old object may still be on its way out.
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => return Err(self.err("create the Job again", e)),
            }
        }
        let Some(created) = created else {
            return Err(PlatformError::Failed {
                message: format!("the old Job {name} did not go away; not run again"),
                hint: "check for finalizers on it (kubectl get job -o yaml)".into(),
            });
        };
        if let Some(uid) = &created.metadata.uid {
            self.patch_companions(
                client,
                &job.job_id,
                companions,
                &manifest::owned_by(&name, uid),
                "hand the Secret and Service to the new Job",
            )
            .await?;
        }
        Ok(Some(Submitted {
            backend_job_id: name,
            backend_identity: self.identity().await?,
            results_location: job.results_location.clone(),
            status: JobStatus::Pending,
            message: "running again after an infrastructure failure".into(),
        }))
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let client = self.client().await?;
        let jobs: Api<Job> = self.api(client.clone());
        let services: Api<Service> = self.api(client.clone());
        let name = job_name(&job.job_id);
        let Some(existing) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            self.delete_quietly(&services, &name, &DeleteParams::default())
                .await?;
            // A cancel already took the Job away: the job ended canceled, as `status` says,
            // rather than being lost. One gc collected had ended anyway.
            let canceled = self.saved(&job.job_id).is_some()
                || job.cancel_requested
                || matches!(job.status, JobStatus::Canceling | JobStatus::Canceled);
            return Ok(if canceled {
                CancelOutcome::AlreadyFinished
            } else {
                CancelOutcome::NotFound
            });
        };
        let ours = existing
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::JOB_ID))
            == Some(&job.job_id);
        if !ours {
            return Err(PlatformError::Failed {
                message: format!(
                    "the Job {name} is not labelled as hoist job {}; not deleting it",
                    job.job_id
                ),
                hint: "someone replaced it; delete it yourself if it is stale".into(),
            });
        }
        if status::job_finished(&existing) {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        // Foreground: the Job goes only after its pods; the UID precondition makes sure a
        // Job re-created under the same name is never the one deleted.
        let mut dp = DeleteParams::foreground();
        dp.preconditions = Some(kube::api::Preconditions {
            uid: existing.metadata.uid.clone(),
            resource_version: None,
        });
        self.delete_quietly(&jobs, &name, &dp).await?;
        self.delete_companions(client, &job.job_id, client::Companions::ALL)
            .await?;
        Ok(CancelOutcome::Requested)
    }

    async fn pending_analysis(
        &self,
        job: &JobRecord,
    ) -> Result<Option<hoist_core::PendingAnalysis>, PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        let Some(k) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            return Ok(None);
        };
        let pods = status::current_pods(&k, &self.pods_of(client, &name).await?);
        Ok(pending::analysis(&pods))
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        if let Some(saved) = self.saved(&job.job_id) {
            return Ok(saved.failure_input(self.saved_logs(&job.job_id, None)));
        }
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        let mut input = FailureInput::default();
        let Some(k) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            input.message = format!(
                "the Job {name} no longer exists (its TTL removes it an hour after it ends)"
            );
            return Ok(input);
        };
        let pods = status::current_pods(&k, &self.pods_of(client.clone(), &name).await?);
        let (findings, events, exit) = status::findings(&k, &pods);
        input.findings = findings;
        input.events = events;
        input.exit_code = exit;
        input.log_tail = self
            .log_text(client, &pods, Some(200))
            .await
            .unwrap_or_default();
        Ok(input)
    }

    async fn watch_change(
        &self,
        job: &JobRecord,
        max: std::time::Duration,
    ) -> Result<bool, PlatformError> {
        let client = self.client().await?;
        let jobs: Api<Job> = self.api(client);
        let name = job_name(&job.job_id);
        let Some(k) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            return Ok(true); // gone: the next status says so
        };
        let rv = k.metadata.resource_version.unwrap_or_default();
        let wp = kube::api::WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(max.as_secs().clamp(1, 290) as u32);
        let mut stream = jobs
            .watch(&wp, &rv)
            .await
            .map_err(|e| self.err("watch the Job", e))?
            .boxed();
        // Any event (or the server closing the watch at its timeout) is the cue to look again.
        let _ = stream.next().await;
        Ok(true)
    }

    async fn details(&self, job: &JobRecord) -> Result<Option<Details>, PlatformError> {
        if let Some(saved) = self.saved(&job.job_id) {
            return Ok(Some(saved.details));
        }
        let replicas = self.replicas(job).await?;
        Ok(Some(Details {
            fields: BTreeMap::from([
                ("namespace".to_string(), self.namespace.clone()),
                ("job".to_string(), job_name(&job.job_id)),
            ]),
            replicas,
        }))
    }

    async fn check_path(&self, path: &str) -> Result<bool, PlatformError> {
        Err(InputError::new(
            format!("{path}: paths of a Kubernetes job live in its volumes, which hoist cannot see from outside the cluster"),
            "give jobs their data as s3://, hf_model:// or ngc:// URIs (checked before submit), or check the volume with kubectl",
        )
        .into())
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        self.check_path(path).await.map(|_| vec![])
    }

    async fn preflight(
        &self,
        _req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        Ok(self.checks().await)
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        self.delete_quietly(&jobs, &name, &DeleteParams::background())
            .await?;
        self.delete_companions(client, &job.job_id, client::Companions::ALL)
            .await?;
        self.forget_saved(&job.job_id);
        Ok(())
    }

    async fn collect(&self, jobs: &[JobRecord], dry_run: bool) -> Vec<Result<bool, PlatformError>> {
        self.collect_ended(jobs, dry_run).await
    }

    fn retention(&self) -> Option<std::time::Duration> {
        self.retain
    }
}
