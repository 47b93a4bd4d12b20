//! The Docker platform: one container per job on a local or remote daemon.
//!
//! The daemon is reached over `unix://`, `tcp://` (TLS with DOCKER_TLS_VERIFY) or `ssh://`
//! ([`endpoint`]). Every job records the daemon's identity (daemon ID + endpoint) and goes
//! back to the same endpoint on later verbs; a different daemon there is refused.
#![deny(missing_docs)]

pub mod auth;
pub mod endpoint;
pub mod spec;
pub mod ssh;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use endpoint::{Endpoint, Env, ProcessEnv};
use futures::{StreamExt, TryStreamExt};
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::spec::{DockerOptions, PullPolicy};
use hoist_core::{
    BoxLogStream, CancelOutcome, InputError, JobRecord, JobStatus, LaunchRecovery, Platform,
    PlatformError, PreflightCheck, StatusReport, SubmitRequest, Submitted,
};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::sync::OnceCell;

/// Label keys on every hoist container.
pub mod labels {
    /// The hoist job id.
    pub const JOB_ID: &str = "hoist.job-id";
    /// Always `docker`.
    pub const PLATFORM: &str = "hoist.platform";
    /// The job's name.
    pub const NAME: &str = "hoist.job-name";
    /// The launch token (settles interrupted submits).
    pub const LAUNCH_TOKEN: &str = "hoist.launch-token";
    /// The TAO SDK's label, so its tooling sees hoist jobs too.
    pub const TAO_JOB_ID: &str = "tao-sdk-job-id";
}

/// Container name of a job.
pub fn container_name(job_id: &str) -> String {
    format!("hoist-job-{job_id}")
}

/// Platform-level settings (profile `docker_host`, `network`, `helper_image`).
#[derive(Debug, Clone, Default)]
pub struct DockerSettings {
    /// Endpoint override.
    pub host: Option<String>,
    /// Network override.
    pub network: Option<String>,
    /// Image for helper containers (path checks) when none is given.
    pub helper_image: Option<String>,
}

/// Jobs as containers on one Docker daemon.
pub struct DockerPlatform {
    home: PathBuf,
    endpoint: Endpoint,
    client: OnceCell<Docker>,
    info: OnceCell<DaemonInfo>,
    network: String,
    helper_image: Option<String>,
    docker_config_dir: PathBuf,
}

#[derive(Debug, Clone)]
struct DaemonInfo {
    id: String,
    version: String,
    tegra: bool,
    runtimes: Vec<String>,
}

impl DockerPlatform {
    /// Configure from settings and the process environment. Contacts nothing.
    pub fn new(home: &std::path::Path, settings: DockerSettings) -> Result<Self, PlatformError> {
        let env = ProcessEnv;
        let docker_config_dir = endpoint::docker_config_dir(&env);
        let endpoint = endpoint::resolve(settings.host.as_deref(), &env, &docker_config_dir)?;
        let network = settings
            .network
            .or_else(|| env.get("DOCKER_NETWORK"))
            .unwrap_or_else(|| "hoist_default".into());
        Ok(DockerPlatform {
            home: home.to_path_buf(),
            endpoint,
            client: OnceCell::new(),
            info: OnceCell::new(),
            network,
            helper_image: settings
                .helper_image
                .or_else(|| env.get("HOIST_DOCKER_HELPER_IMAGE")),
            docker_config_dir,
        })
    }

    /// Build an image holding only the static hoist binary (`FROM scratch`, entrypoint
    /// `/hoist`), for platforms that fetch the runner as an image: a Kubernetes init container
    /// runs `/hoist __install /opt/hoist` to copy it into a volume the job container shares.
    /// Returns the image id.
    pub async fn build_runner_image(
        &self,
        tag: &str,
        binary: &[u8],
    ) -> Result<String, PlatformError> {
        let d = self.docker().await?;
        let dockerfile = b"FROM scratch\nCOPY hoist /hoist\nENTRYPOINT [\"/hoist\"]\n";
        let context = spec::build_context(binary, dockerfile)
            .map_err(|e| PlatformError::io("packing the build context", e))?;
        let opts = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .build();
        let mut stream = d.build_image(opts, None, Some(bollard::body_full(context.into())));
        let mut id = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| PlatformError::Failed {
                message: format!("building {tag} failed: {e}"),
                hint: "check the daemon (hoist preflight --platform docker)".into(),
            })?;
            if let Some(err) = info.error_detail.and_then(|e| e.message) {
                return Err(PlatformError::Failed {
                    message: format!("building {tag} failed: {err}"),
                    hint: "check the daemon's disk space and logs".into(),
                });
            }
            if let Some(a) = info.aux.and_then(|a| a.id) {
                id = Some(a);
            }
        }
        match id {
            Some(id) => Ok(id),
            None => d
                .inspect_image(tag)
                .await
                .ok()
                .and_then(|i| i.id)
                .ok_or_else(|| PlatformError::Failed {
                    message: format!("the daemon built nothing for {tag}"),
                    hint: "check the daemon's logs".into(),
                }),
        }
    }

    /// Whether the daemon recorded an OOM event for the container during its run.
    async fn oom_event(&self, c: &ContainerInspectResponse) -> bool {
        let (Ok(d), Some(id), Some(started)) = (
            self.docker().await,
            c.id.as_deref(),
            c.state.as_ref().and_then(|s| s.started_at.as_deref()),
        ) else {
            return false;
        };
        let Ok(since) = started.parse::<jiff::Timestamp>() else {
            return false;
        };
        let filters = HashMap::from([("container", vec![id]), ("event", vec!["oom"])]);
        let opts = bollard::query_parameters::EventsOptionsBuilder::new()
            .since(&since.as_second().to_string())
            .until(&(jiff::Timestamp::now().as_second() + 1).to_string())
            .filters(&filters)
            .build();
        let read = d.events(Some(opts)).try_collect::<Vec<_>>();
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), read).await,
            Ok(Ok(events)) if !events.is_empty()
        )
    }

    /// The volume holding this runner binary on this daemon, filled on first use. A marker
    /// under `$HOIST_HOME/docker-runner/` (daemon id + hash) saves later submits from this
    /// machine everything but one inspect; another machine fills it again, harmlessly, since
    /// `hoist __install` replaces the file atomically.
    async fn runner_volume(
        &self,
        d: &Docker,
        daemon_id: &str,
        image: &str,
        bin: &hoist_core::staging::RunnerBinary,
    ) -> Result<String, PlatformError> {
        let volume = spec::runner_volume_name(bin);
        let marker = self.home.join("docker-runner").join(format!(
            "{}-{}",
            daemon_id.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            bin.short_hash()
        ));
        if marker.exists() && d.inspect_volume(&volume).await.is_ok() {
            return Ok(volume);
        }
        let binary = tokio::fs::read(&bin.path).await.map_err(|e| {
            PlatformError::io(format!("reading the runner {}", bin.path.display()), e)
        })?;
        d.create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(HashMap::from([
                ("hoist.managed".to_string(), "true".to_string()),
                ("hoist.runner.sha256".to_string(), bin.sha256.clone()),
            ])),
            ..Default::default()
        })
        .await
        .map_err(|e| self.unreachable(&e))?;
        let tar = spec::runner_src_tar(&binary)
            .map_err(|e| PlatformError::io("packing the runner", e))?;
        let (code, out) = self
            .run_throwaway(
                "hoist-runner-fill",
                spec::runner_fill_body(image, &volume),
                Some(tar),
            )
            .await
            .map_err(|e| PlatformError::Failed {
                message: format!("could not fill the runner volume {volume}: {e}"),
                hint: "check the daemon (hoist preflight --platform docker)".into(),
            })?;
        if code != 0 {
            return Err(PlatformError::Failed {
                message: format!(
                    "could not fill the runner volume {volume} (exit {code}): {}",
                    out.trim()
                ),
                hint: "the job's image must let a root process write to a volume".into(),
            });
        }
        if let Some(dir) = marker.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&marker, &bin.sha256);
        Ok(volume)
    }

    async fn docker(&self) -> Result<&Docker, PlatformError> {
        self.client
            .get_or_try_init(|| async { endpoint::connect(&self.endpoint, &self.home.join("ssh")) })
            .await
    }

    fn unreachable(&self, e: &DockerError) -> PlatformError {
        PlatformError::Unreachable {
            what: format!("Docker daemon {} ({})", self.endpoint.url, self.endpoint.source),
            why: e.to_string(),
            hint: "check that the daemon runs and the endpoint is right (DOCKER_HOST, --docker-host, docker context); hoist preflight --platform docker".into(),
        }
    }

    async fn daemon(&self) -> Result<&DaemonInfo, PlatformError> {
        self.info
            .get_or_try_init(|| async {
                let d = self.docker().await?;
                let info = d.info().await.map_err(|e| self.unreachable(&e))?;
                Ok(DaemonInfo {
                    id: info.id.unwrap_or_default(),
                    version: info.server_version.unwrap_or_default(),
                    tegra: info
                        .kernel_version
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .contains("tegra"),
                    runtimes: info
                        .runtimes
                        .map(|r| r.into_keys().collect())
                        .unwrap_or_default(),
                })
            })
            .await
    }

    fn job_files(&self, job_id: &str) -> PathBuf {
        self.home.join("jobs").join(job_id)
    }

    async fn inspect(&self, name: &str) -> Result<Option<ContainerInspectResponse>, PlatformError> {
        match self
            .docker()
            .await?
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.unreachable(&e)),
        }
    }

    /// The network jobs join, created if missing; returns what to put in NetworkMode. Docker
    /// does not refuse a second network of the same name, so concurrent first submits can
    /// each create one: every hoist then picks the oldest (ties by id) and removes its own
    /// extra, and containers join it by id, which a duplicate name cannot make ambiguous.
    async fn ensure_network(&self) -> Result<String, PlatformError> {
        let d = self.docker().await?;
        if matches!(self.network.as_str(), "bridge" | "host" | "none")
            || self.network.starts_with("container:")
        {
            return Ok(self.network.clone());
        }
        if let Some(id) = self.oldest_network(d).await? {
            return Ok(id);
        }
        let req = NetworkCreateRequest {
            name: self.network.clone(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(
                "hoist.managed".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        let mine = match d.create_network(req).await {
            Ok(r) => Some(r.id),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => None,
            Err(DockerError::DockerResponseServerError { message, .. })
                if message.contains("already exists") =>
            {
                None
            }
            Err(e) => {
                return Err(PlatformError::Failed {
                    message: format!("cannot create network {}: {e}", self.network),
                    hint: "create it with docker network create, or set DOCKER_NETWORK".into(),
                });
            }
        };
        let chosen = self.oldest_network(d).await?.ok_or_else(|| PlatformError::Failed {
            message: format!("network {} vanished right after it was created", self.network),
            hint: "something removes networks on this daemon; create it with docker network create, or set DOCKER_NETWORK".into(),
        })?;
        if let Some(mine) = mine.filter(|m| *m != chosen) {
            let _ = d.remove_network(&mine).await;
        }
        Ok(chosen)
    }

    async fn oldest_network(&self, d: &Docker) -> Result<Option<String>, PlatformError> {
        let filters = HashMap::from([("name", vec![self.network.as_str()])]);
        let nets = d
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::new()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.unreachable(&e))?;
        // The name filter matches substrings: keep exact names only.
        let mut found: Vec<(String, String)> = nets
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(self.network.as_str()))
            .filter_map(|n| Some((n.created.unwrap_or_default(), n.id?)))
            .collect();
        found.sort();
        let mut ids = found.into_iter().map(|(_, id)| id);
        let chosen = ids.next();
        // Heal earlier races: extras go; the daemon refuses to remove one still in use.
        for extra in ids {
            let _ = d.remove_network(&extra).await;
        }
        Ok(chosen)
    }

    async fn ensure_image(&self, image: &str, policy: PullPolicy) -> Result<(), PlatformError> {
        let d = self.docker().await?;
        let present = d.inspect_image(image).await.is_ok();
        match policy {
            PullPolicy::Never if !present => {
                return Err(PlatformError::Failed {
                    message: format!(
                        "No such image: {image} on the daemon, and --pull never forbids pulling it"
                    ),
                    hint: "load or build the image on the daemon's host, or use --pull missing"
                        .into(),
                });
            }
            PullPolicy::Never | PullPolicy::Missing if present => return Ok(()),
            _ => {}
        }
        let creds = auth::credentials_for(image, &ProcessEnv, &self.docker_config_dir)?;
        let (repo, tag) = split_tag(image);
        let opts = CreateImageOptions {
            from_image: Some(repo),
            tag: Some(tag),
            ..Default::default()
        };
        let bar = progress_bar(image);
        let mut stream = d.create_image(Some(opts), None, creds);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error_detail.and_then(|e| e.message) {
                        return Err(pull_error(image, &err));
                    }
                    if let (Some(b), Some(status)) = (&bar, info.status) {
                        b.set_message(format!("{image}: {status}"));
                        b.tick();
                    }
                }
                Err(e) => return Err(pull_error(image, &e.to_string())),
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        Ok(())
    }

    /// The least-used GPUs of the daemon's host, measured by a short-lived container running
    /// nvidia-smi on that daemon (never this machine's nvidia-smi). `None` when it cannot be
    /// measured; the job then asks for a count and the daemon picks.
    async fn measure_gpus(&self, image: &str) -> Option<Vec<hoist_core::gpu::GpuUsage>> {
        let (code, out) = self
            .run_throwaway("hoist-gpu-smoke", spec::smoke_body(image), None)
            .await
            .ok()?;
        if code != 0 {
            return None;
        }
        hoist_core::gpu::parse_nvidia_smi(&out)
            .ok()
            .filter(|g| !g.is_empty())
    }

    /// Save a finished container's output and exit, then remove it (`--rm`).
    async fn save_and_remove(
        &self,
        job: &JobRecord,
        rep: &StatusReport,
    ) -> Result<(), PlatformError> {
        let dir = self.job_files(&job.job_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| PlatformError::io("creating the job directory", e))?;
        let logs = self
            .container_logs(&container_name(&job.job_id), None)
            .await?;
        std::fs::write(dir.join("output.log"), logs)
            .map_err(|e| PlatformError::io("saving logs", e))?;
        let saved = serde_json::to_vec(rep).map_err(|e| PlatformError::Failed {
            message: e.to_string(),
            hint: String::new(),
        })?;
        std::fs::write(dir.join("exit.json"), saved)
            .map_err(|e| PlatformError::io("saving the exit record", e))?;
        let _ = force_remove(self.docker().await?, &container_name(&job.job_id)).await;
        Ok(())
    }

    fn saved_report(&self, job_id: &str) -> Option<StatusReport> {
        serde_json::from_slice(&std::fs::read(self.job_files(job_id).join("exit.json")).ok()?).ok()
    }

    async fn container_logs(
        &self,
        name: &str,
        tail: Option<usize>,
    ) -> Result<Vec<u8>, PlatformError> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into()),
            ..Default::default()
        };
        let mut s = self.docker().await?.logs(name, Some(opts));
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            out.extend_from_slice(&item.map_err(|e| self.unreachable(&e))?.into_bytes());
        }
        Ok(out)
    }

    fn options<'a>(&self, job: &'a JobRecord) -> &'a DockerOptions {
        &job.spec.platform_options.docker
    }
}

fn progress_bar(image: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new_spinner();
    b.set_message(format!("pulling {image}"));
    Some(b)
}

fn split_tag(image: &str) -> (String, String) {
    // A ':' after the last '/' is a tag; before it, a registry port.
    if image.contains('@') {
        return (image.to_string(), String::new());
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

fn pull_error(image: &str, detail: &str) -> PlatformError {
    PlatformError::Failed {
        message: format!("pulling {image} failed: {detail}"),
        hint: "check the image name and registry credentials (NGC_KEY for nvcr.io, DOCKER_USERNAME/DOCKER_PASSWORD, docker login); hoist why JOB classifies it".into(),
    }
}

/// Remove a container whatever its state; one that is already gone is not an error.
async fn force_remove(d: &Docker, name: &str) -> Result<(), DockerError> {
    match d
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        r => r,
    }
}

/// Map a container's state to the contract's status. `cancel_requested` turns an exit after
/// a cancel into Canceled; a start failure (created, with an error) is Error.
pub fn map_state(c: &ContainerInspectResponse, cancel_requested: bool) -> StatusReport {
    let st = c.state.clone().unwrap_or_default();
    let ts = |s: Option<String>| {
        s.and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .filter(|t| t.as_second() > 0)
    };
    let started_at = ts(st.started_at.clone());
    let finished_at = ts(st.finished_at.clone());
    let error = st.error.clone().unwrap_or_default();
    let code = st.exit_code.map(|c| c as i32);
    let rep = |status, message: String, exit_code| StatusReport {
        status,
        message,
        exit_code,
        started_at,
        finished_at,
        retriable: false,
        restarts: None,
    };
    match st.status.unwrap_or(ContainerStateStatusEnum::EMPTY) {
        ContainerStateStatusEnum::CREATED if !error.is_empty() => rep(
            JobStatus::Error,
            format!("the container could not start: {error}"),
            None,
        ),
        ContainerStateStatusEnum::CREATED if cancel_requested => rep(
            JobStatus::Canceled,
            "canceled before it started".into(),
            None,
        ),
        ContainerStateStatusEnum::CREATED => rep(JobStatus::Pending, "created".into(), None),
        ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING => {
            rep(JobStatus::Running, String::new(), None)
        }
        ContainerStateStatusEnum::PAUSED => rep(JobStatus::Paused, "paused".into(), None),
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD => {
            let oom = st.oom_killed.unwrap_or(false);
            if cancel_requested {
                rep(
                    JobStatus::Canceled,
                    format!("canceled (exit {})", code.unwrap_or(-1)),
                    code,
                )
            } else if code == Some(0) {
                rep(JobStatus::Complete, String::new(), code)
            } else if oom {
                rep(
                    JobStatus::Error,
                    "OOMKilled: the container exceeded its memory limit".into(),
                    code,
                )
            } else if !error.is_empty() {
                rep(JobStatus::Error, error, code)
            } else {
                rep(
                    JobStatus::Error,
                    format!("exited with code {}", code.unwrap_or(-1)),
                    code,
                )
            }
        }
        // removing, stopping: on its way to a final state; report it live until it gets there.
        _ => rep(JobStatus::Running, "stopping".into(), None),
    }
}

#[async_trait]
impl Platform for DockerPlatform {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        let info = self.daemon().await?;
        Ok(format!("docker:{}@{}", info.id, self.endpoint.url))
    }

    fn pin(&self, spec: &mut hoist_core::JobSpec) {
        spec.platform_options.docker.host = Some(self.endpoint.url.clone());
        spec.platform_options
            .docker
            .network
            .get_or_insert_with(|| self.network.clone());
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<String, PlatformError> {
        let plan = spec::plan(req, &self.network, &self.endpoint.url, false, None)?;
        let doc = serde_json::json!({
            "platform": "docker",
            "endpoint": self.endpoint.url,
            "container_name": container_name(&req.job_id),
            "pull": req.spec.platform_options.docker.pull,
            "network": self.network,
            "create": spec::redact_body(&plan.body),
        });
        serde_json::to_string_pretty(&doc).map_err(|e| PlatformError::Failed {
            message: e.to_string(),
            hint: String::new(),
        })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        // Refuse what can never run before touching the daemon.
        spec::plan(req, &self.network, &self.endpoint.url, false, None)?;
        let info = self.daemon().await?.clone();
        let image = req.spec.image.clone().unwrap_or_default();
        let network = self.ensure_network().await?;
        self.ensure_image(&image, req.spec.platform_options.docker.pull)
            .await?;
        let chosen = match &req.spec.gpus {
            hoist_core::GpuSpec::Count(_) if !info.tegra => match self.measure_gpus(&image).await {
                Some(usage) => Some(hoist_core::gpu::choose_gpus(&req.spec.gpus, &usage)?),
                None => None,
            },
            _ => None,
        };
        let plan = spec::plan(
            req,
            &network,
            &self.endpoint.url,
            info.tegra,
            chosen.clone(),
        )?;
        let d = self.docker().await?;
        if let (Some(_), Some(bin)) = (&req.runner, &req.runner_binary) {
            self.runner_volume(d, &info.id, &image, bin).await?;
        }
        let name = container_name(&req.job_id);
        if let Some(existing) = self.inspect(&name).await? {
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
                .map_err(|e| self.unreachable(&e))?;
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
                e => self.unreachable(&e),
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
            backend_identity: format!("docker:{}@{}", info.id, self.endpoint.url),
            results_location: plan.results_location,
            status: JobStatus::Pending,
            message,
        })
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let Some(c) = self.inspect(&container_name(&job.job_id)).await? else {
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
                .docker()
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
        // One list call for every job on this daemon; inspect only those that stopped.
        let d = match self.docker().await {
            Ok(d) => d,
            Err(e) => {
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Failed {
                            message: e.to_string(),
                            hint: String::new(),
                        })
                    })
                    .collect();
            }
        };
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}=docker", labels::PLATFORM)],
        )]);
        let listed = match d
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
        {
            Ok(l) => l,
            Err(e) => {
                let err = self.unreachable(&e).to_string();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Failed {
                            message: err.clone(),
                            hint: String::new(),
                        })
                    })
                    .collect();
            }
        };
        let live: HashMap<String, String> = listed
            .into_iter()
            .filter_map(|c| {
                let id = c.labels?.get(labels::JOB_ID)?.clone();
                Some((id, c.state.map(|s| s.to_string()).unwrap_or_default()))
            })
            .collect();
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let r = match live.get(&job.job_id).map(String::as_str) {
                Some("running") => Ok(StatusReport {
                    status: JobStatus::Running,
                    message: String::new(),
                    exit_code: None,
                    started_at: None,
                    finished_at: None,
                    retriable: false,
                    restarts: None,
                }),
                Some(_) => match self.inspect(&container_name(&job.job_id)).await {
                    Ok(Some(c)) => {
                        let rep = map_state(&c, job.cancel_requested);
                        if rep.status.is_terminal() && self.options(job).auto_remove {
                            match self.save_and_remove(job, &rep).await {
                                Ok(()) => Ok(rep),
                                Err(e) => Err(e),
                            }
                        } else {
                            Ok(rep)
                        }
                    }
                    Ok(None) => Ok(self.gone(job)),
                    Err(e) => Err(e),
                },
                None => Ok(self.gone(job)),
            };
            out.push(r);
        }
        out
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let name = container_name(&job.job_id);
        if self.inspect(&name).await?.is_none() {
            return self.saved_logs(job, tail);
        }
        Ok(String::from_utf8_lossy(&self.container_logs(&name, tail).await?).into_owned())
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let name = container_name(&job.job_id);
        if self.inspect(&name).await?.is_none() {
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
        let what = self.endpoint.url.clone();
        let s = self
            .docker()
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

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let name = container_name(&job.job_id);
        let Some(c) = self.inspect(&name).await? else {
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
                let _ = self.docker().await?.unpause_container(&name).await;
            }
            _ => {}
        }
        let t = self.options(job).stop_timeout.unwrap_or(10) as i32;
        match self
            .docker()
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
            Err(e) => Err(self.unreachable(&e)),
        }
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let name = container_name(&job.job_id);
        let mut input = FailureInput {
            log_tail: self.logs(job, Some(200)).await.unwrap_or_default(),
            message: job.message.clone(),
            ..Default::default()
        };
        let Some(c) = self.inspect(&name).await? else {
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
            || (input.exit_code == Some(137) && self.oom_event(&c).await);
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
        if let Some(p) = self.endpoint.url.strip_prefix("unix://").map(|_| path) {
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
            .run_helper(&image, path, &["test", "-e", "/hoist-check"])
            .await?
            .0
            == 0)
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        if self.endpoint.url.starts_with("unix://") {
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

    async fn preflight(&self, req: &PreflightRequest) -> Vec<PreflightCheck> {
        let mut checks = Vec::new();
        let ck = PreflightCheck::new;
        let info = match self.daemon().await {
            Ok(i) => i.clone(),
            Err(e) => {
                checks.push(ck("daemon", false, true, e.to_string(), "start dockerd, or point DOCKER_HOST / --docker-host / docker context at a running daemon"));
                return checks;
            }
        };
        checks.push(ck(
            "daemon",
            true,
            true,
            format!(
                "{} (Docker {}, from {})",
                self.endpoint.url, info.version, self.endpoint.source
            ),
            "",
        ));
        let nvidia = info.runtimes.iter().any(|r| r == "nvidia") || info.tegra;
        checks.push(ck(
            "nvidia runtime",
            nvidia,
            false,
            if nvidia { "registered".into() } else { format!("not registered (runtimes: {})", info.runtimes.join(", ")) },
            "GPU jobs need it: install nvidia-container-toolkit on the daemon's host, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd",
        ));
        let smoke = req.gpu_smoke_image.clone().or_else(|| req.image.clone());
        match smoke {
            Some(img) if nvidia => match self.measure_gpus(&img).await {
                Some(g) => checks.push(ck("gpus", true, false, format!("{} GPU(s) seen by a container on the daemon", g.len()), "")),
                None => checks.push(ck("gpus", false, false, format!("nvidia-smi in {img} found no GPU"), "check the driver on the daemon's host (nvidia-smi) and that the image is pullable")),
            },
            Some(_) => {}
            None => checks.push(ck("gpus", nvidia, false, "not measured: give --gpu-smoke-image IMG (or --image) to run nvidia-smi in a container".into(), "pass --gpu-smoke-image")),
        }
        match self.ensure_network().await {
            Ok(_) => checks.push(ck(
                "network",
                true,
                true,
                format!("{} present", self.network),
                "",
            )),
            Err(e) => checks.push(ck(
                "network",
                false,
                true,
                e.to_string(),
                "create it (docker network create NAME) or set DOCKER_NETWORK to one that exists",
            )),
        }
        if let Some(img) = &req.image {
            let present = match self.docker().await {
                Ok(d) => d.inspect_image(img).await.is_ok(),
                Err(_) => false,
            };
            checks.push(ck("image", present, false, if present { format!("{img} present on the daemon") } else { format!("{img} not on the daemon yet; it will be pulled") }, "pulling needs registry access from the daemon's host and credentials for private registries"));
        }
        for (name, path) in &req.paths {
            if path.starts_with("s3://") {
                let env = ProcessEnv;
                let ok = (env.get("ACCESS_KEY").is_some() && env.get("SECRET_KEY").is_some())
                    || (env.get("AWS_ACCESS_KEY_ID").is_some()
                        && env.get("AWS_SECRET_ACCESS_KEY").is_some());
                checks.push(ck(&format!("path {name}"), ok, true, format!("{path}: S3 credentials {}", if ok { "present" } else { "missing" }), "export ACCESS_KEY and SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"));
                continue;
            }
            let helper = req.image.clone().or_else(|| self.helper_image.clone());
            let res = if self.endpoint.url.starts_with("unix://") {
                self.check_path(path).await
            } else if let Some(img) = helper {
                self.run_helper(&img, path, &["test", "-e", "/hoist-check"])
                    .await
                    .map(|(c, _)| c == 0)
            } else {
                Err(PlatformError::Input(InputError::new(
                    "no image to check paths on the remote host",
                    "pass --image",
                )))
            };
            match res {
                Ok(ok) => checks.push(ck(&format!("path {name}"), ok, true, format!("{path} {} on the daemon's host", if ok { "exists" } else { "does not exist" }), "create it on the host that runs the daemon (for a remote daemon, not this machine)")),
                Err(e) => checks.push(ck(&format!("path {name}"), false, true, e.to_string(), "pass --image so hoist can check paths on the remote host")),
            }
        }
        checks
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        force_remove(self.docker().await?, &container_name(&job.job_id))
            .await
            .map_err(|e| self.unreachable(&e))?;
        let _ = std::fs::remove_dir_all(self.job_files(&job.job_id));
        Ok(())
    }
}

impl DockerPlatform {
    /// A container that vanished: the saved result when hoist removed it (`--rm`), else an
    /// Error that says someone else removed it.
    fn gone(&self, job: &JobRecord) -> StatusReport {
        if let Some(saved) = self.saved_report(&job.job_id) {
            return saved;
        }
        let status = if job.cancel_requested {
            JobStatus::Canceled
        } else {
            JobStatus::Error
        };
        StatusReport {
            status,
            message: "the container was removed outside hoist; its exit code is unknown".into(),
            exit_code: None,
            started_at: None,
            finished_at: None,
            retriable: false,
            restarts: None,
        }
    }

    fn saved_logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        match std::fs::read_to_string(self.job_files(&job.job_id).join("output.log")) {
            Ok(s) => Ok(match tail {
                Some(n) => {
                    let lines: Vec<&str> = s.split_inclusive('\n').collect();
                    lines[lines.len().saturating_sub(n)..].concat()
                }
                None => s,
            }),
            Err(_) => Err(PlatformError::Failed {
                message: format!("the container of job {} is gone and no logs were saved", job.job_id),
                hint: "logs are kept when hoist removes a container itself (--rm); a container removed by hand takes them with it".into(),
            }),
        }
    }

    /// Run `cmd` in a throwaway container with `path` bind-mounted read-only at /hoist-check.
    async fn run_helper(
        &self,
        image: &str,
        path: &str,
        cmd: &[&str],
    ) -> Result<(i64, String), PlatformError> {
        match self
            .run_throwaway("hoist-check", spec::helper_body(image, path, cmd), None)
            .await
        {
            Ok(r) => Ok(r),
            // The daemon checks a bind source when the container is created.
            Err(DockerError::DockerResponseServerError { message, .. })
                if message.contains("does not exist") =>
            {
                Ok((1, String::new()))
            }
            Err(e) => Err(PlatformError::Failed {
                message: format!("cannot create the path-check container from {image}: {e}"),
                hint: "use an image present on the daemon".into(),
            }),
        }
    }

    /// Create, start and wait for a short-lived container, collect its stdout and remove it.
    /// The exit code is -1 when the container could not start; a create error is returned.
    async fn run_throwaway(
        &self,
        prefix: &str,
        body: bollard::models::ContainerCreateBody,
        upload: Option<Vec<u8>>,
    ) -> Result<(i64, String), DockerError> {
        let d = match self.docker().await {
            Ok(d) => d,
            Err(e) => {
                return Err(DockerError::DockerStreamError {
                    error: e.to_string(),
                });
            }
        };
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond()
        );
        d.create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await?;
        if let Some(tar) = upload
            && let Err(e) = d
                .upload_to_container(
                    &name,
                    Some(
                        bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                            .path("/")
                            .build(),
                    ),
                    bollard::body_full(tar.into()),
                )
                .await
        {
            let _ = force_remove(d, &name).await;
            return Err(e);
        }
        let code = match d.start_container(&name, None).await {
            Err(_) => -1,
            // bollard reports a non-zero exit as an error carrying the code.
            Ok(()) => match d.wait_container(&name, None).try_collect::<Vec<_>>().await {
                Ok(v) => v.last().map(|w| w.status_code).unwrap_or(0),
                Err(DockerError::DockerContainerWaitError { code, .. }) => code,
                Err(_) => -1,
            },
        };
        let mut out = String::new();
        if code != -1 {
            let mut logs = d.logs(
                &name,
                Some(LogsOptions {
                    stdout: true,
                    tail: "all".into(),
                    ..Default::default()
                }),
            );
            while let Some(Ok(c)) = logs.next().await {
                out.push_str(&String::from_utf8_lossy(&c.into_bytes()));
            }
        }
        let _ = force_remove(d, &name).await;
        Ok((code, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerState;

    fn c(
        status: ContainerStateStatusEnum,
        code: i64,
        oom: bool,
        error: &str,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                exit_code: Some(code),
                oom_killed: Some(oom),
                error: Some(error.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_seed_mapping() {
        use ContainerStateStatusEnum::*;
        let table = [
            (CREATED, 0, false, JobStatus::Pending),
            (RUNNING, 0, false, JobStatus::Running),
            (RESTARTING, 0, false, JobStatus::Running),
            (PAUSED, 0, false, JobStatus::Paused),
            (EXITED, 0, false, JobStatus::Complete),
            (EXITED, 2, false, JobStatus::Error),
            (DEAD, 1, false, JobStatus::Error),
            (EXITED, 143, true, JobStatus::Canceled),
        ];
        for (state, code, canceled, want) in table {
            assert_eq!(
                map_state(&c(state, code, false, ""), canceled).status,
                want,
                "{state:?} exit {code}"
            );
        }
        let oom = map_state(&c(EXITED, 137, true, ""), false);
        assert!(oom.message.contains("OOMKilled"));
        let start = map_state(
            &c(
                CREATED,
                128,
                false,
                "could not select device driver \"\" with capabilities: [[gpu]]",
            ),
            false,
        );
        assert_eq!(start.status, JobStatus::Error);
        assert!(start.message.contains("could not select device driver"));
    }

    #[test]
    fn tags() {
        assert_eq!(split_tag("ubuntu"), ("ubuntu".into(), "latest".into()));
        assert_eq!(
            split_tag("nvcr.io/nvidia/tao:5.5-pyt"),
            ("nvcr.io/nvidia/tao".into(), "5.5-pyt".into())
        );
        assert_eq!(
            split_tag("localhost:5000/img"),
            ("localhost:5000/img".into(), "latest".into())
        );
    }
}
