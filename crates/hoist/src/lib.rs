//! hoist as a library: the verbs of the CLI (and of the TAO SDK) over the durable store and
//! every platform.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hoist::HoistError> {
//! use hoist::{Hoist, JobRequest};
//! use hoist_core::Command;
//! let h = Hoist::open(None)?;
//! let job = h.create_job(JobRequest::new(Command::Argv(vec!["echo".into(), "hi".into()]))).await?;
//! let done = h.wait(&job.job_id).await?;
//! println!("{} {}", done.status, h.logs(&done, None).await?);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod config;

use config::{Config, ConfigError, Profile};
use futures::StreamExt;
use hoist_core::failure::{FailureAnalysis, analyze};
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Command, GpuSpec, InputError, JobRecord, JobSpec, JobStatus,
    JobSummary, LaunchRecovery, LaunchState, Platform, PlatformError, PreflightCheck, StatusReport,
    SubmitRequest,
};
use hoist_local::proc::{ProcId, hostname};
use hoist_store::{ListFilter, Store, StoreError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use hoist_core;
pub use hoist_store;

/// Platforms this build has, with their aliases.
pub const PLATFORMS: &[(&str, &[&str])] = &[
    ("local", &["host", "process"]),
    ("docker", &["local-docker", "remote-docker"]),
    ("slurm", &[]),
    ("kubernetes", &["k8s", "kube"]),
];

/// Errors of the library verbs. [`HoistError::exit_code`] gives the CLI's exit code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HoistError {
    /// Bad input from the user.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The store failed or did not find the job.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The platform failed.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The config file is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Moving data failed (inputs, results, paths).
    #[error(transparent)]
    Staging(#[from] hoist_staging::StagingError),
}

impl HoistError {
    /// 2 for anything the user can fix by typing something else; 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            HoistError::Input(_)
            | HoistError::Platform(PlatformError::Input(_))
            | HoistError::Config(_) => 2,
            HoistError::Store(StoreError::NotFound(_) | StoreError::Ambiguous { .. }) => 2,
            HoistError::Staging(
                hoist_staging::StagingError::Input(_)
                | hoist_staging::StagingError::NotFound { .. }
                | hoist_staging::StagingError::Denied { .. },
            ) => 2,
            _ => 1,
        }
    }

    /// The fix to print under the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            HoistError::Input(e) => Some(e.hint.clone()),
            HoistError::Platform(e) => e.hint(),
            HoistError::Store(StoreError::NotFound(_)) => Some("list jobs with: hoist ls".into()),
            HoistError::Store(StoreError::Ambiguous { .. }) => {
                Some("type more characters of the id".into())
            }
            HoistError::Config(_) => {
                Some("fix $HOIST_HOME/config.toml (see README, Profiles)".into())
            }
            HoistError::Staging(e) => e.hint(),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = HoistError> = std::result::Result<T, E>;

/// What a user asks to run, before profile defaults are applied.
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The command.
    pub command: Command,
    /// Name (default: from the command).
    pub name: Option<String>,
    /// Platform (default: profile's, else `local` without an image).
    pub platform: Option<String>,
    /// Profile.
    pub profile: Option<String>,
    /// Image.
    pub image: Option<String>,
    /// GPUs per node.
    pub gpus: Option<GpuSpec>,
    /// Nodes.
    pub nodes: Option<u32>,
    /// CPU limit.
    pub cpus: Option<f64>,
    /// Memory limit (bytes).
    pub memory_bytes: Option<u64>,
    /// Environment in order of precedence (later wins); `None` takes the submitting
    /// environment's value.
    pub env: Vec<(String, Option<String>)>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Shell for a shell-string command.
    pub shell: Option<String>,
    /// Working directory.
    pub workdir: Option<String>,
    /// Docker: daemon endpoint (`--docker-host`).
    pub docker_host: Option<String>,
    /// Docker: pull policy.
    pub pull: Option<hoist_core::spec::PullPolicy>,
    /// Docker: bind mounts.
    pub mounts: Vec<hoist_core::spec::BindMount>,
    /// Docker: /dev/shm size in bytes.
    pub shm_size: Option<u64>,
    /// Docker: user to run as.
    pub user: Option<String>,
    /// Docker: remove the container once its logs and exit code are saved.
    pub auto_remove: Option<bool>,
    /// Docker: network.
    pub network: Option<String>,
    /// SLURM: container runtime.
    pub container: Option<String>,
    /// Kubernetes: namespace, node selector, tolerations, image pull secret.
    pub kubernetes: hoist_core::spec::KubeOptions,
    /// Inputs to fetch before the command runs.
    pub inputs: Vec<hoist_core::spec::DataBinding>,
    /// Outputs to keep when it ends.
    pub outputs: Vec<hoist_core::spec::DataBinding>,
    /// Config mode: the spec (nested map) written for the command.
    pub spec: Option<serde_json::Value>,
    /// Format the spec is written in (default yaml).
    pub spec_format: Option<hoist_core::spec::SpecFormat>,
    /// Args mode: flags for the command.
    pub args: BTreeMap<String, serde_json::Value>,
    /// Mode (default: config with a spec, args with args, else passthrough).
    pub mode: Option<hoist_core::spec::EntryMode>,
    /// Globs of result files never uploaded.
    pub upload_excludes: Vec<String>,
    /// Parent job.
    pub parent_job_id: Option<String>,
    /// Workflow.
    pub workflow_id: Option<String>,
}

impl JobRequest {
    /// A request with nothing but a command.
    pub fn new(command: Command) -> Self {
        JobRequest {
            command,
            name: None,
            platform: None,
            profile: None,
            image: None,
            gpus: None,
            nodes: None,
            cpus: None,
            memory_bytes: None,
            env: vec![],
            labels: BTreeMap::new(),
            shell: None,
            workdir: None,
            docker_host: None,
            pull: None,
            mounts: vec![],
            shm_size: None,
            user: None,
            auto_remove: None,
            network: None,
            container: None,
            kubernetes: Default::default(),
            inputs: vec![],
            outputs: vec![],
            spec: None,
            spec_format: None,
            args: BTreeMap::new(),
            mode: None,
            upload_excludes: vec![],
            parent_job_id: None,
            workflow_id: None,
        }
    }
}

/// A request resolved against profiles and validated, ready for a platform.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Canonical platform name.
    pub platform: String,
    /// Profile used, if any.
    pub profile: Option<String>,
    /// The validated spec (env holds names; secrets have no value).
    pub spec: JobSpec,
    /// Env values, secrets included; never stored.
    pub env: BTreeMap<String, String>,
}

/// The library entry point: a store plus the configured platforms.
pub struct Hoist {
    home: PathBuf,
    store: Store,
    config: Config,
    exe: PathBuf,
}

/// The default `$HOIST_HOME`: the variable, else `~/.hoist`.
pub fn default_home() -> PathBuf {
    if let Some(h) = std::env::var_os("HOIST_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".hoist")
}

/// Canonical platform name for a name or alias.
pub fn canonical_platform(name: &str) -> Result<&'static str, InputError> {
    let n = name.trim().to_ascii_lowercase();
    PLATFORMS
        .iter()
        .find(|(canon, aliases)| *canon == n || aliases.contains(&n.as_str()))
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            InputError::new(
                format!("unknown platform {name:?}"),
                format!(
                    "this hoist has: {}",
                    PLATFORMS
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

impl Hoist {
    /// Open the store under `home` (default [`default_home`]) with the hoist binary as the
    /// local supervisor.
    pub fn open(home: Option<PathBuf>) -> Result<Hoist> {
        let exe = std::env::current_exe()
            .map_err(|e| PlatformError::io("locating the hoist binary", e))?;
        Self::open_with_exe(home.unwrap_or_else(default_home), exe)
    }

    /// Open with an explicit binary for the local supervisor (tests, embedding programs).
    pub fn open_with_exe(home: PathBuf, exe: PathBuf) -> Result<Hoist> {
        let store = Store::open(&home)?;
        let config = Config::load(&home)?;
        Ok(Hoist {
            home,
            store,
            config,
            exe,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `$HOIST_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The platform a job (or a request) runs on, configured from its profile.
    pub fn platform(&self, name: &str, profile: Option<&str>) -> Result<Box<dyn Platform>> {
        self.build_platform(name, profile, None)
    }

    /// The platform as configured for a job: its profile, plus what it pinned at submit
    /// (`Platform::pin`), so a later shell's environment cannot send it to another backend.
    fn build_platform(
        &self,
        name: &str,
        profile: Option<&str>,
        pinned: Option<&JobSpec>,
    ) -> Result<Box<dyn Platform>> {
        let canon = canonical_platform(name)?;
        let prof = match profile {
            Some(p) => self.config.select(Some(p))?.map(|(_, p)| p),
            None => None,
        };
        let settings = prof.map(|p| p.settings).unwrap_or_default();
        let unknown = |k: &str, known: &str| -> HoistError {
            InputError::new(
                format!("unknown or mistyped setting {k:?} for the {canon} platform"),
                format!("{canon} settings: {known}"),
            )
            .into()
        };
        match canon {
            "local" => {
                let mut p = hoist_local::LocalPlatform::new(&self.home, self.exe.clone());
                for (k, v) in &settings {
                    match (k.as_str(), v) {
                        ("nvidia_smi", toml::Value::String(s)) => p = p.with_nvidia_smi(s.clone()),
                        ("grace_seconds", toml::Value::Integer(_)) => {}
                        _ => {
                            return Err(unknown(k, "grace_seconds (integer), nvidia_smi (string)"));
                        }
                    }
                }
                if let Ok(smi) = std::env::var("HOIST_NVIDIA_SMI") {
                    p = p.with_nvidia_smi(smi);
                }
                Ok(Box::new(p))
            }
            "docker" => {
                let mut ds = hoist_docker::DockerSettings::default();
                for (k, v) in &settings {
                    match (k.as_str(), v) {
                        ("docker_host", toml::Value::String(s)) => ds.host = Some(s.clone()),
                        ("network", toml::Value::String(s)) => ds.network = Some(s.clone()),
                        ("helper_image", toml::Value::String(s)) => {
                            ds.helper_image = Some(s.clone())
                        }
                        ("pull", toml::Value::String(_))
                        | ("auto_remove", toml::Value::Boolean(_)) => {}
                        _ => {
                            return Err(unknown(
                                k,
                                "docker_host, network, helper_image, pull (strings), auto_remove (boolean)",
                            ));
                        }
                    }
                }
                if let Some(spec) = pinned {
                    let o = &spec.platform_options.docker;
                    if o.host.is_some() {
                        ds.host = o.host.clone();
                    }
                    if o.network.is_some() {
                        ds.network = o.network.clone();
                    }
                }
                Ok(Box::new(hoist_docker::DockerPlatform::new(&self.home, ds)?))
            }
            "slurm" => {
                let mut ss = hoist_slurm::SlurmSettings::default();
                let known = "hosts (string or list), user, partition, account, base_dir, ssh_key (strings), time_hours, timeout_hours (numbers), cpus_per_task, max_gpus_per_node (integers), requeue, accept_new_host_keys (booleans)";
                let num =
                    |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                for (k, v) in &settings {
                    match (k.as_str(), v) {
                        ("hosts", toml::Value::String(h)) => {
                            ss.hosts = h
                                .split(',')
                                .map(|s| s.trim().to_string())
                                .filter(|s| !s.is_empty())
                                .collect()
                        }
                        ("hosts", toml::Value::Array(a)) => {
                            ss.hosts = a
                                .iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        }
                        ("user", toml::Value::String(x)) => ss.user = Some(x.clone()),
                        ("partition", toml::Value::String(x)) => ss.partition = Some(x.clone()),
                        ("account", toml::Value::String(x)) => ss.account = Some(x.clone()),
                        ("base_dir", toml::Value::String(x)) => ss.base_dir = Some(x.clone()),
                        ("ssh_key", toml::Value::String(x)) => ss.ssh_key = Some(x.clone()),
                        ("time_hours", v) if num(v).is_some() => ss.time_hours = num(v),
                        ("timeout_hours", v) if num(v).is_some() => ss.timeout_hours = num(v),
                        ("cpus_per_task", toml::Value::Integer(i)) => {
                            ss.cpus_per_task = Some(*i as u32)
                        }
                        ("max_gpus_per_node", toml::Value::Integer(i)) => {
                            ss.max_gpus_per_node = Some(*i as u32)
                        }
                        ("requeue", toml::Value::Boolean(b)) => ss.requeue = Some(*b),
                        ("accept_new_host_keys", toml::Value::Boolean(b)) => {
                            ss.accept_new_host_keys = *b
                        }
                        _ => return Err(unknown(k, known)),
                    }
                }
                if let Some(spec) = pinned {
                    let o = &spec.platform_options.slurm;
                    if !o.hosts.is_empty() {
                        ss.hosts = o.hosts.clone();
                        ss.user = o.user.clone().or(ss.user);
                    }
                }
                Ok(Box::new(hoist_slurm::SlurmPlatform::new(
                    &self.home,
                    ss.with_env()?,
                )?))
            }
            "kubernetes" => {
                let mut ks = hoist_kube::KubeSettings::default();
                for (k, v) in &settings {
                    match (k.as_str(), v) {
                        ("context", toml::Value::String(s)) => ks.context = Some(s.clone()),
                        ("namespace", toml::Value::String(s)) => ks.namespace = Some(s.clone()),
                        ("runner_image", toml::Value::String(s)) => {
                            ks.runner_image = Some(s.clone())
                        }
                        ("ttl_seconds", toml::Value::Integer(i)) => {
                            ks.ttl_seconds = i32::try_from(*i).ok()
                        }
                        _ => {
                            return Err(unknown(
                                k,
                                "context, namespace, runner_image (strings), ttl_seconds (integer)",
                            ));
                        }
                    }
                }
                if let Some(spec) = pinned {
                    let o = &spec.platform_options.kubernetes;
                    if o.namespace.is_some() {
                        ks.namespace = o.namespace.clone();
                    }
                    if o.context.is_some() {
                        ks.context = o.context.clone();
                    }
                }
                Ok(Box::new(hoist_kube::KubePlatform::new(ks.with_env())))
            }
            other => Err(InputError::new(format!("platform {other} is not available"), "").into()),
        }
    }

    /// Turn a request into a validated spec (profile defaults applied) and the env values.
    pub fn prepare(&self, req: &JobRequest) -> Result<Prepared> {
        let selected = self.config.select(req.profile.as_deref())?;
        let (profile_name, profile) = match selected {
            Some((n, p)) => (Some(n), p),
            None => (None, Profile::default()),
        };
        let image = req.image.clone().or(profile.image.clone());
        let platform_name = match req
            .platform
            .clone()
            .or(profile.platform.clone())
            .or_else(|| {
                std::env::var("HOIST_PLATFORM")
                    .ok()
                    .filter(|s| !s.is_empty())
            }) {
            Some(p) => canonical_platform(&p)?.to_string(),
            None if image.is_some() => canonical_platform("docker")
                .map_err(|_| {
                    InputError::new(
                        "--image was given, but this hoist has no container platform",
                        "drop --image to run on the host (--platform local)",
                    )
                })?
                .to_string(),
            None => "local".to_string(),
        };
        let mut spec = JobSpec::new(req.command.clone());
        if let Some(n) = &req.name {
            spec.name = n.clone();
        }
        spec.image = image;
        spec.gpus = match (&req.gpus, &profile.gpus) {
            (Some(g), _) => g.clone(),
            (None, Some(g)) => g.parse()?,
            (None, None) => GpuSpec::None,
        };
        spec.nodes = req.nodes.or(profile.nodes).unwrap_or(1);
        spec.cpus = req.cpus;
        spec.memory_bytes = req.memory_bytes;
        spec.shell = req.shell.clone();
        spec.workdir = req.workdir.clone();
        spec.labels = profile.labels.clone();
        spec.labels.extend(req.labels.clone());
        if let Some(toml::Value::Integer(g)) = profile.settings.get("grace_seconds") {
            spec.platform_options.local.grace_seconds = u32::try_from(*g).map_err(|_| {
                InputError::new(
                    format!("grace_seconds {g} is out of range"),
                    "use 0 to 3600",
                )
            })?;
        }
        let mut values = BTreeMap::new();
        let given = profile
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .chain(req.env.iter().cloned());
        for (name, value) in given {
            hoist_core::spec::validate_env_name(&name)?;
            let v = match value.clone() {
                Some(v) => v,
                None => std::env::var(&name).map_err(|_| {
                    InputError::new(
                        format!(
                            "--env {name} takes its value from this shell, but {name} is not set"
                        ),
                        format!("export {name}=... first, or pass --env {name}=VALUE"),
                    )
                })?,
            };
            spec.set_env(&name, value);
            values.insert(name, v);
        }
        self.apply_docker_options(req, &profile, &platform_name, &mut spec)?;
        apply_kube_options(req, &platform_name, &mut spec)?;
        if let Some(c) = &req.container {
            if platform_name != "slurm" {
                return Err(InputError::new(
                    format!("--container applies to the slurm platform, not {platform_name}"),
                    "add --platform slurm, or drop --container",
                )
                .into());
            }
            spec.platform_options.slurm.container = Some(c.clone());
        }
        self.apply_staging(req, &mut spec, &mut values)?;
        spec.validate()?;
        Ok(Prepared {
            platform: platform_name,
            profile: profile_name,
            spec,
            env: values,
        })
    }

    /// Data bindings, spec and args; the mode they imply; and the credentials their URIs need,
    /// taken by name from this environment (values never stored).
    fn apply_staging(
        &self,
        req: &JobRequest,
        spec: &mut JobSpec,
        values: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        use hoist_core::spec::EntryMode;
        spec.inputs = req.inputs.clone();
        spec.outputs = req.outputs.clone();
        spec.spec = req.spec.clone();
        spec.spec_format = req.spec_format;
        spec.args = req.args.clone();
        spec.upload_excludes = req.upload_excludes.clone();
        spec.mode = match req.mode {
            Some(m) => m,
            None if spec.spec.is_some() => EntryMode::Config,
            None if !spec.args.is_empty() => EntryMode::Args,
            None => EntryMode::Passthrough,
        };
        if spec.mode == EntryMode::Config && spec.spec.is_none() {
            return Err(InputError::new(
                "--mode config needs a spec",
                "pass --spec FILE (YAML, TOML or JSON)",
            )
            .into());
        }
        let Some(plan) = hoist_core::staging::RunnerPlan::for_job("-", spec) else {
            return Ok(());
        };
        let mut names: Vec<&str> = hoist_core::staging::credential_env_names(&plan.uris(), true);
        names.push("S3_BUCKET_NAME");
        for name in names {
            if spec.env.contains_key(name) {
                continue; // given explicitly: that value wins
            }
            if let Ok(v) = std::env::var(name)
                && !v.is_empty()
            {
                spec.set_env(name, None);
                values.insert(name.to_string(), v);
            }
        }
        Ok(())
    }

    /// Docker flags beat the profile, which the environment (TAO names) beats; on another
    /// platform they are a mistake, said as such.
    fn apply_docker_options(
        &self,
        req: &JobRequest,
        profile: &Profile,
        platform: &str,
        spec: &mut JobSpec,
    ) -> Result<()> {
        let given = [
            ("--docker-host", req.docker_host.is_some()),
            ("--pull", req.pull.is_some()),
            ("--mount", !req.mounts.is_empty()),
            ("--shm-size", req.shm_size.is_some()),
            ("--user", req.user.is_some()),
            ("--rm", req.auto_remove.is_some()),
            ("--network", req.network.is_some()),
        ];
        if platform != "docker" {
            if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
                return Err(InputError::new(
                    format!("{flag} applies to the docker platform, not {platform}"),
                    "add --platform docker --image IMAGE, or drop the flag",
                )
                .into());
            }
            return Ok(());
        }
        let o = &mut spec.platform_options.docker;
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let setting = |k: &str| profile.settings.get(k).cloned();
        o.pull = match (req.pull, env("DOCKER_PULL_POLICY"), setting("pull")) {
            (Some(p), _, _) => p,
            (None, Some(e), _) => e.parse()?,
            (None, None, Some(toml::Value::String(p))) => p.parse()?,
            _ => Default::default(),
        };
        o.auto_remove = match (
            req.auto_remove,
            env("DOCKER_AUTO_REMOVE"),
            setting("auto_remove"),
        ) {
            (Some(b), _, _) => b,
            (None, Some(e), _) => matches!(e.to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
            (None, None, Some(toml::Value::Boolean(b))) => b,
            _ => false,
        };
        o.host = req.docker_host.clone();
        o.mounts = req.mounts.clone();
        o.shm_size = req.shm_size;
        o.user = req.user.clone();
        o.network = req.network.clone();
        Ok(())
    }

    /// What `create_job` would submit, in the platform's own form. Writes nothing.
    pub async fn dry_run(&self, req: &JobRequest) -> Result<String> {
        let Prepared {
            platform: platform_name,
            profile,
            spec,
            env,
        } = self.prepare(req)?;
        let platform = self.build_platform(&platform_name, profile.as_deref(), Some(&spec))?;
        let runner = hoist_core::staging::RunnerPlan::for_job("dry-run", &spec);
        let runner_binary = match (&runner, platform.name()) {
            (Some(_), p) if p != "local" => Some(self.runner_binary()?),
            _ => None,
        };
        let sub = SubmitRequest {
            job_id: "dry-run".into(),
            launch_token: "dry-run".into(),
            spec,
            env,
            runner,
            runner_binary,
        };
        Ok(platform.dry_run(&sub).await?)
    }

    /// Submit a job: the row (with its launch token) is written first, then the platform is
    /// called, then the fence is closed. A crash in between is settled by [`Hoist::reconcile`].
    pub async fn create_job(&self, req: JobRequest) -> Result<JobRecord> {
        let Prepared {
            platform: platform_name,
            profile,
            mut spec,
            env,
        } = self.prepare(&req)?;
        let platform = self.build_platform(&platform_name, profile.as_deref(), Some(&spec))?;
        platform.pin(&mut spec);
        let mut job = JobRecord::pending(
            uuid::Uuid::new_v4().to_string(),
            platform_name,
            spec.clone(),
            uuid::Uuid::new_v4().to_string(),
        );
        job.profile = profile;
        job.parent_job_id = req.parent_job_id.clone();
        job.workflow_id = req.workflow_id.clone();
        job.launcher = Some(launcher_id());
        let runner = hoist_core::staging::RunnerPlan::for_job(&job.job_id, &spec);
        let mut runner_binary = None;
        if runner.is_some() {
            if platform.name() != "local" {
                runner_binary = Some(self.runner_binary()?);
            }
            self.check_inputs(platform.as_ref(), &spec, &env).await?;
        }
        self.store.insert(&job)?;
        failpoint("after-insert");
        let sub = SubmitRequest {
            job_id: job.job_id.clone(),
            launch_token: job.launch_token.clone(),
            spec,
            env,
            runner,
            runner_binary,
        };
        match platform.submit(&sub).await {
            Ok(mut submitted) => {
                if submitted.results_location.is_none() && sub.runner.is_some() {
                    submitted.results_location = Some(
                        hoist_core::staging::ResultsKind::from_env(|k| sub.env.get(k).cloned())
                            .location(&job.job_id),
                    );
                }
                failpoint("after-submit");
                self.store
                    .mark_launched(&job.job_id, &job.launch_token, &submitted)?;
                Ok(self.store.get(&job.job_id)?.unwrap_or(job))
            }
            Err(PlatformError::Input(e)) => {
                // Refused before anything was launched: the request was wrong, keep no trace.
                self.store.delete(&job.job_id)?;
                Err(e.into())
            }
            Err(e) => {
                self.store.mark_abandoned(
                    &job.job_id,
                    &job.launch_token,
                    &format!("submit failed: {e}"),
                )?;
                Err(e.into())
            }
        }
    }

    /// Find a job by id, unique id prefix or name (no platform call).
    pub fn resolve(&self, arg: &str) -> Result<JobRecord> {
        Ok(self.store.resolve(arg)?)
    }

    /// Current status of a job, asking its platform when it is not terminal.
    pub async fn status(&self, arg: &str) -> Result<JobRecord> {
        let job = self.resolve(arg)?;
        let mut v = self.refresh(vec![job]).await?;
        v.pop()
            .ok_or_else(|| StoreError::NotFound(arg.to_string()).into())
    }

    /// Bring live jobs up to date: one batched status call per platform and profile.
    pub async fn refresh(&self, jobs: Vec<JobRecord>) -> Result<Vec<JobRecord>> {
        // Jobs share a status call when they share a platform, a profile and what they pinned
        // at submit (the daemon endpoint, the login host).
        type Key = (String, Option<String>, String);
        let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        for (i, j) in jobs.iter().enumerate() {
            if !j.status.is_terminal() && j.launch_state == LaunchState::Launched {
                let pinned = serde_json::to_string(&j.spec.platform_options).unwrap_or_default();
                groups
                    .entry((j.platform.clone(), j.profile.clone(), pinned))
                    .or_default()
                    .push(i);
            }
        }
        let mut jobs = jobs;
        for ((pname, prof, _), idx) in groups {
            let platform = self.build_platform(&pname, prof.as_deref(), Some(&jobs[idx[0]].spec));
            let group: Vec<JobRecord> = idx.iter().map(|&i| jobs[i].clone()).collect();
            let reports = match &platform {
                Ok(p) => group_reports(p.as_ref(), &pname, &group).await,
                Err(e) => group
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Failed {
                            message: e.to_string(),
                            hint: String::new(),
                        })
                    })
                    .collect(),
            };
            for (i, rep) in idx.into_iter().zip(reports) {
                let rep = rep.unwrap_or_else(|e| StatusReport {
                    // Never a guessed terminal state: the backend could not say, so Unknown.
                    status: JobStatus::Unknown,
                    message: e.to_string(),
                    exit_code: None,
                    started_at: None,
                    finished_at: None,
                    retriable: false,
                    restarts: None,
                });
                if let Some(n) = rep.restarts.filter(|n| *n > jobs[i].retry_count) {
                    jobs[i] = self.store.note_restarts(
                        &jobs[i].job_id,
                        n,
                        "requeued on the cluster after an infrastructure failure",
                    )?;
                }
                if rep.status == JobStatus::Error
                    && rep.retriable
                    && !jobs[i].cancel_requested
                    && jobs[i].retry_count < max_retries()
                {
                    // Run it again now: the failure was the infrastructure's, not the program's.
                    if let Ok(p) = &platform
                        && let Ok(Some(sub)) = p.retry(&jobs[i]).await
                    {
                        jobs[i] = self
                            .store
                            .record_retry(&jobs[i].job_id, &rep.message, &sub)?;
                        continue;
                    }
                }
                // A Canceling job reported live stays Canceling until the backend confirms.
                if jobs[i].status == JobStatus::Canceling && !rep.status.is_terminal() {
                    continue;
                }
                jobs[i] = self.store.apply_report(&jobs[i].job_id, None, &rep)?.1;
            }
        }
        Ok(jobs)
    }

    /// Jobs, newest first, live ones refreshed.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<JobSummary>> {
        self.refresh_active(filter.platform.as_deref()).await?;
        Ok(self.store.list_summaries(filter)?)
    }

    /// Refresh every live job (of one platform, or all): one batched call per platform.
    pub async fn refresh_active(&self, platform: Option<&str>) -> Result<()> {
        let mut active = self.store.active()?;
        if let Some(p) = platform {
            active.retain(|j| j.platform == p);
        }
        if !active.is_empty() {
            self.refresh(active).await?;
        }
        Ok(())
    }

    fn platform_for(&self, job: &JobRecord) -> Result<Box<dyn Platform>> {
        self.build_platform(&job.platform, job.profile.as_deref(), Some(&job.spec))
    }

    async fn checked_platform(&self, job: &JobRecord) -> Result<Box<dyn Platform>> {
        let p = self.platform_for(job)?;
        if let Some(rec) = &job.backend_identity {
            let cur = p.identity().await?;
            if &cur != rec {
                return Err(PlatformError::IdentityMismatch {
                    job_id: job.job_id.clone(),
                    recorded: rec.clone(),
                    current: cur,
                }
                .into());
            }
        }
        Ok(p)
    }

    /// The last `tail` lines of a job's output (all with `None`).
    pub async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String> {
        Ok(self.checked_platform(job).await?.logs(job, tail).await?)
    }

    /// Output from the last `tail` lines on, until the job ends.
    pub async fn follow_logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<BoxLogStream> {
        Ok(self
            .checked_platform(job)
            .await?
            .follow_logs(job, tail)
            .await?)
    }

    /// Cancel a job. Idempotent: a finished job keeps its result.
    pub async fn cancel(&self, arg: &str) -> Result<(JobRecord, CancelOutcome)> {
        let job = self.status(arg).await?;
        if job.status.is_terminal() {
            return Ok((job, CancelOutcome::AlreadyFinished));
        }
        let platform = self.checked_platform(&job).await?;
        self.store.request_cancel(&job.job_id)?;
        let outcome = platform.cancel(&job).await?;
        let after = self.status(&job.job_id).await?;
        Ok((after, outcome))
    }

    /// Block until the job is terminal, polling with a growing interval (50 ms to 1 s).
    pub async fn wait(&self, arg: &str) -> Result<JobRecord> {
        let mut delay = Duration::from_millis(50);
        let mut watcher: Option<Box<dyn Platform>> = None;
        loop {
            let job = self.status(arg).await?;
            if job.status.is_terminal() {
                return Ok(job);
            }
            if job.status == JobStatus::Unknown {
                // An unreachable backend may come back: keep waiting. A different backend at
                // the job's endpoint never will: say so instead of waiting forever.
                if let Err(e @ HoistError::Platform(PlatformError::IdentityMismatch { .. })) =
                    self.checked_platform(&job).await
                {
                    return Err(e);
                }
            }
            // A platform that can watch wakes us on the change; the others are polled.
            if watcher.is_none() {
                watcher = self.platform_for(&job).ok();
            }
            let watched = match &watcher {
                Some(p) => p
                    .watch_change(&job, Duration::from_secs(30))
                    .await
                    .unwrap_or(false),
                None => false,
            };
            if !watched {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
    }

    /// What the job's platform adds for `hoist show` (Kubernetes: its replicas); `None` when
    /// it adds nothing or cannot be asked now.
    pub async fn details(&self, job: &JobRecord) -> Option<serde_json::Value> {
        if job.launch_state != LaunchState::Launched {
            return None;
        }
        let p = self.checked_platform(job).await.ok()?;
        p.details(job).await.ok().flatten()
    }

    /// Why a job failed; `None` when it did not (completed, or still running).
    pub async fn failure_analysis(&self, job: &JobRecord) -> Result<Option<FailureAnalysis>> {
        if !job.status.is_terminal() && job.status != JobStatus::Unknown {
            return Ok(None);
        }
        if job.launch_state != LaunchState::Launched {
            let input = hoist_core::failure::FailureInput {
                status: Some(job.status),
                message: job.message.clone(),
                ..Default::default()
            };
            return Ok(analyze(&input));
        }
        let platform = self.checked_platform(job).await?;
        let mut input = platform.failure_input(job).await?;
        input.status = Some(job.status);
        if input.message.is_empty() {
            input.message = job.message.clone();
        }
        Ok(analyze(&input))
    }

    /// Where a job's results are.
    pub fn results_dir(&self, job: &JobRecord) -> Option<String> {
        job.results_location.clone()
    }

    /// Build the runner image (FROM scratch, the static hoist as `/hoist`) on a Docker daemon
    /// (`docker_host`, else the one jobs use); returns the image id.
    pub async fn build_runner_image(
        &self,
        tag: &str,
        docker_host: Option<String>,
    ) -> Result<String> {
        let exe = self.runner_exe();
        check_static(&exe)?;
        let binary = std::fs::read(&exe).map_err(|e| {
            hoist_staging::StagingError::io(format!("reading {}", exe.display()), e)
        })?;
        let ds = hoist_docker::DockerSettings {
            host: docker_host,
            ..Default::default()
        };
        let p = hoist_docker::DockerPlatform::new(&self.home, ds)?;
        Ok(p.build_runner_image(tag, &binary).await?)
    }

    /// The hoist binary that runs inside jobs: `$HOIST_RUNNER_BIN`, else this one.
    pub fn runner_exe(&self) -> PathBuf {
        std::env::var_os("HOIST_RUNNER_BIN")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| self.exe.clone())
    }

    /// The runner binary with its content hash, checked to be static. Hashing a large binary
    /// on every submit would cost more than the runner saves, so the hash is kept in
    /// `$HOIST_HOME/runner-hash/`, keyed by the file's inode, size and modification time.
    pub fn runner_binary(&self) -> Result<hoist_core::staging::RunnerBinary> {
        use sha2::{Digest, Sha256};
        use std::os::unix::fs::MetadataExt;
        let path = self.runner_exe();
        let io = |e: std::io::Error| {
            HoistError::from(hoist_staging::StagingError::io(
                format!("reading the runner {}", path.display()),
                e,
            ))
        };
        let meta = std::fs::metadata(&path).map_err(io)?;
        let key = format!(
            "{}-{}-{}-{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000
        );
        let cache = self.home.join("runner-hash").join(key);
        if let Ok(h) = std::fs::read_to_string(&cache)
            && h.len() == 64
        {
            return Ok(hoist_core::staging::RunnerBinary { path, sha256: h });
        }
        check_static(&path)?;
        let bytes = std::fs::read(&path).map_err(io)?;
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(dir) = cache.parent() {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(&cache, &sha256);
        }
        Ok(hoist_core::staging::RunnerBinary { path, sha256 })
    }

    /// Whether a path exists where jobs of `platform` run. Object stores and model hubs are
    /// asked directly (credentials from this environment); `lustre://` and plain paths are
    /// the platform's (over ssh for SLURM).
    pub async fn check_path(&self, platform: &str, path: &str) -> Result<bool> {
        hoist_core::spec::validate_uri(path)?;
        if hoist_core::staging::Scheme::of(path).is_remote() {
            return Ok(hoist_staging::check_path(path, &hoist_staging::ProcessEnv).await?);
        }
        let p = hoist_core::staging::local_path(path).unwrap_or(path);
        Ok(self.platform(platform, None)?.check_path(p).await?)
    }

    /// Entries under a path where jobs of `platform` run (same routing as
    /// [`Hoist::check_path`]).
    pub async fn list_path(&self, platform: &str, path: &str) -> Result<Vec<String>> {
        hoist_core::spec::validate_uri(path)?;
        if hoist_core::staging::Scheme::of(path).is_remote() {
            return Ok(hoist_staging::list_path(path, &hoist_staging::ProcessEnv).await?);
        }
        let p = hoist_core::staging::local_path(path).unwrap_or(path);
        Ok(self.platform(platform, None)?.list_path(p).await?)
    }

    /// Refuse a job whose inputs are missing before it takes a GPU. Object stores are asked
    /// with the job's own credentials; paths are asked of the platform. A store that cannot
    /// be reached from here (it may be visible only from the cluster) is left to the job.
    async fn check_inputs(
        &self,
        platform: &dyn Platform,
        spec: &JobSpec,
        env: &BTreeMap<String, String>,
    ) -> Result<()> {
        use hoist_core::staging::Scheme;
        let mut uris: Vec<(String, String)> = spec
            .inputs
            .iter()
            .map(|b| (b.key.clone(), b.uri.clone()))
            .collect();
        if let Some(s) = &spec.spec {
            uris.extend(
                hoist_core::staging::remote_values(s)
                    .into_iter()
                    .filter(|(k, _)| !spec.outputs.iter().any(|o| o.key == *k)),
            );
        }
        for (key, uri) in uris {
            let scheme = Scheme::of(&uri);
            let found = if scheme.is_remote() {
                match hoist_staging::check_path(&uri, env).await {
                    Ok(found) => found,
                    Err(e @ hoist_staging::StagingError::Denied { .. })
                    | Err(e @ hoist_staging::StagingError::Input(_)) => return Err(e.into()),
                    Err(_) => continue,
                }
            } else if scheme == Scheme::Local && !uri.starts_with('/') {
                continue; // relative to the job's working directory: only the job can tell
            } else if platform.name() == "docker" && scheme != Scheme::Lustre {
                continue; // a path inside the image or a mount: the daemon's, not ours
            } else {
                let p = hoist_core::staging::local_path(&uri).unwrap_or(&uri);
                match platform.check_path(p).await {
                    Ok(found) => found,
                    Err(PlatformError::Input(e)) => return Err(e.into()),
                    Err(_) => continue,
                }
            };
            if !found {
                return Err(InputError::new(
                    format!("input {key}: {uri} does not exist; nothing was submitted"),
                    "check the URI (hoist ls-path on its parent lists what is there) and the credentials in this shell",
                )
                .into());
            }
        }
        Ok(())
    }

    /// Copy a job's results into `dir`; returns the number of files. S3 results come from
    /// the bucket, paths on this machine are copied, and the platform fetches the rest
    /// (a SLURM cluster's shared file system over ssh).
    pub async fn download_results(&self, job: &JobRecord, dir: &Path) -> Result<usize> {
        let Some(loc) = job.results_location.clone() else {
            return Err(InputError::new(
                format!("job {} has no results location", job.short_id()),
                "hoist show JOB tells what happened",
            )
            .into());
        };
        std::fs::create_dir_all(dir).map_err(|e| {
            hoist_staging::StagingError::io(format!("creating {}", dir.display()), e)
        })?;
        if loc.starts_with("s3://") {
            let env = job_credentials(&job.spec);
            hoist_staging::download(&loc, dir, &env).await?;
            return Ok(hoist_staging::walk(dir, &[])?.len());
        }
        let platform = self.checked_platform(job).await?;
        if let Some(n) = platform.fetch_results(job, dir).await? {
            return Ok(n);
        }
        let path = loc.strip_suffix(" (on the daemon's host)").unwrap_or(&loc);
        let path = hoist_core::staging::local_path(path).unwrap_or(path);
        if !Path::new(path).is_dir() {
            return Err(InputError::new(
                format!("the results of job {} are at {loc}, which this machine cannot read", job.short_id()),
                "run hoist where that path is mounted, or give jobs S3_BUCKET_NAME so results go to S3",
            )
            .into());
        }
        Ok(hoist_staging::upload(
            Path::new(path),
            &dir.display().to_string(),
            &[],
            &hoist_staging::ProcessEnv,
        )
        .await?)
    }

    /// Preflight checks of the platform a request would run on, the store's own first.
    /// Returns the platform's name and the checks.
    pub async fn preflight(
        &self,
        req: &JobRequest,
        checks_for: &PreflightRequest,
    ) -> Result<(String, Vec<PreflightCheck>)> {
        let prepared = self.prepare(req)?;
        let p = self.build_platform(
            &prepared.platform,
            prepared.profile.as_deref(),
            Some(&prepared.spec),
        )?;
        let mut checks = vec![PreflightCheck {
            name: "store".into(),
            ok: true,
            required: true,
            detail: format!(
                "{} (schema {})",
                self.store.path().display(),
                self.store.schema_version()?
            ),
            remedy: String::new(),
        }];
        checks.extend(p.preflight(checks_for).await);
        Ok((prepared.platform, checks))
    }

    /// Remove a finished job (its row and what the platform keeps). A live job needs
    /// `force`, which cancels it first.
    pub async fn remove(&self, arg: &str, force: bool) -> Result<JobRecord> {
        let mut job = self.status(arg).await?;
        if !job.status.is_terminal() {
            if !force {
                return Err(InputError::new(
                    format!("job {} is {}", job.short_id(), job.status),
                    "cancel it first (hoist cancel JOB), or use hoist rm --force",
                )
                .into());
            }
            job = self.cancel(&job.job_id).await?.0;
            job = self.wait(&job.job_id).await?;
        }
        if job.launch_state == LaunchState::Launched
            && let Ok(p) = self.checked_platform(&job).await
        {
            p.remove(&job).await?;
        }
        self.store.delete(&job.job_id)?;
        Ok(job)
    }

    /// Settle every launch whose launcher died before confirming it: adopt what the platform
    /// has, fence off what it never got. Launches by live processes are left alone.
    pub async fn reconcile(&self) -> Result<Vec<(JobRecord, &'static str)>> {
        let mut out = Vec::new();
        for job in self.store.launching()? {
            if launcher_alive(job.launcher.as_deref()) {
                continue;
            }
            // The list above may be stale: the launcher could have confirmed its launch and
            // exited since. Only a row still unconfirmed after its launcher is known dead is
            // final, so read it again before touching the platform.
            let Some(job) = self.store.get(&job.job_id)? else {
                continue;
            };
            if job.launch_state != LaunchState::Launching {
                continue;
            }
            let platform = match self.platform_for(&job) {
                Ok(p) => p,
                Err(_) => continue,
            };
            match platform.recover_launch(&job).await? {
                LaunchRecovery::Adopted(sub) => {
                    self.store
                        .mark_launched(&job.job_id, &job.launch_token, &sub)?;
                    out.push((job, "adopted"));
                }
                LaunchRecovery::NotLaunched => {
                    self.store.mark_abandoned(&job.job_id, &job.launch_token, "the submitting hoist process died before the job was launched; nothing runs")?;
                    out.push((job, "abandoned"));
                }
                LaunchRecovery::InProgress => {}
            }
        }
        Ok(out)
    }

    /// Follow a job's output into `out` until it ends; returns the final record.
    pub async fn follow_to_end(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
        mut out: impl FnMut(&str),
    ) -> Result<JobRecord> {
        let mut stream = self.follow_logs(job, tail).await?;
        while let Some(chunk) = stream.next().await {
            out(&chunk?);
        }
        self.wait(&job.job_id).await
    }
}

/// One platform's answers for a group of its jobs, in order: identity checked first (a job
/// started on another backend reads as a mismatch), and a backend that does not answer within
/// [`backend_timeout`] yields errors, which the caller records as Unknown.
async fn group_reports(
    platform: &dyn Platform,
    pname: &str,
    jobs: &[JobRecord],
) -> Vec<std::result::Result<StatusReport, PlatformError>> {
    let silent = || PlatformError::Unreachable {
        what: pname.to_string(),
        why: format!("no answer within {} s", backend_timeout().as_secs()),
        hint: String::new(),
    };
    let current = match tokio::time::timeout(backend_timeout(), platform.identity()).await {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => {
            return jobs
                .iter()
                .map(|_| {
                    Err(PlatformError::Unreachable {
                        what: pname.to_string(),
                        why: e.to_string(),
                        hint: String::new(),
                    })
                })
                .collect();
        }
        Err(_) => return jobs.iter().map(|_| Err(silent())).collect(),
    };
    let same: Vec<usize> = (0..jobs.len())
        .filter(|&i| {
            jobs[i]
                .backend_identity
                .as_ref()
                .is_none_or(|rec| *rec == current)
        })
        .collect();
    let batch: Vec<JobRecord> = same.iter().map(|&i| jobs[i].clone()).collect();
    let mut answers: Vec<Option<std::result::Result<StatusReport, PlatformError>>> = jobs
        .iter()
        .map(|j| match &j.backend_identity {
            Some(rec) if *rec != current => Some(Err(PlatformError::IdentityMismatch {
                job_id: j.job_id.clone(),
                recorded: rec.clone(),
                current: current.clone(),
            })),
            _ => None,
        })
        .collect();
    match tokio::time::timeout(backend_timeout(), platform.status(&batch)).await {
        Ok(rs) => {
            for (&i, r) in same.iter().zip(rs) {
                answers[i] = Some(r);
            }
        }
        Err(_) => {
            for &i in &same {
                answers[i] = Some(Err(silent()));
            }
        }
    }
    answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| {
                Err(PlatformError::Failed {
                    message: "the platform gave no answer for this job".into(),
                    hint: String::new(),
                })
            })
        })
        .collect()
}

/// How long a status refresh waits for one backend (`HOIST_BACKEND_TIMEOUT` seconds, default 30).
fn backend_timeout() -> Duration {
    Duration::from_secs(
        std::env::var("HOIST_BACKEND_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    )
}

/// How many times an infrastructure failure is retried (`HOIST_MAX_RETRIES`, default 10).
pub fn max_retries() -> u32 {
    std::env::var("HOIST_MAX_RETRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// `host/pid:start` of this process.
fn launcher_id() -> String {
    let me = ProcId::current().map(|p| p.encode()).unwrap_or_default();
    format!("{}/{me}", hostname())
}

/// Whether the process that wrote a launch row is still alive (on this host). A launcher on
/// another host is presumed alive: only it can settle its launch safely.
/// Kubernetes flags; on another platform they are a mistake, said as such.
fn apply_kube_options(req: &JobRequest, platform: &str, spec: &mut JobSpec) -> Result<()> {
    let k = &req.kubernetes;
    let given = [
        ("--namespace", k.namespace.is_some()),
        ("--node-selector", !k.node_selector.is_empty()),
        ("--toleration", !k.tolerations.is_empty()),
        ("--image-pull-secret", k.image_pull_secret.is_some()),
    ];
    if platform != "kubernetes" {
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            return Err(InputError::new(
                format!("{flag} applies to the kubernetes platform, not {platform}"),
                "add --platform kubernetes --image IMAGE, or drop the flag",
            )
            .into());
        }
        return Ok(());
    }
    for t in &k.tolerations {
        hoist_kube::manifest::parse_toleration(t)?;
    }
    spec.platform_options.kubernetes = k.clone();
    Ok(())
}

/// The job's credentials and endpoints as this shell has them now (the store keeps names
/// only), for host-side transfers of its data.
fn job_credentials(spec: &JobSpec) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in &spec.env {
        let val = match v {
            hoist_core::EnvValue::Literal(v) => Some(v.clone()),
            _ => std::env::var(k).ok(),
        };
        if let Some(v) = val {
            env.insert(k.clone(), v);
        }
    }
    for k in hoist_core::staging::credential_env_names(&[], true) {
        if let (false, Ok(v)) = (env.contains_key(k), std::env::var(k)) {
            env.insert(k.to_string(), v);
        }
    }
    env
}

/// A binary copied into images must not need their libc: refuse a dynamically linked one
/// (an ELF with an interpreter) before anything is queued.
fn check_static(exe: &Path) -> Result<()> {
    let refuse = |why: String| -> HoistError {
        InputError::new(
            format!("the runner {} {why}", exe.display()),
            "build hoist from this repository (its .cargo/config.toml links statically), or point HOIST_RUNNER_BIN at a static hoist",
        )
        .into()
    };
    let bytes = std::fs::read(exe).map_err(|e| refuse(format!("cannot be read: {e}")))?;
    match elf_has_interpreter(&bytes) {
        Some(false) => Ok(()),
        Some(true) => Err(refuse(
            "is dynamically linked and would not run inside an arbitrary image".into(),
        )),
        None => Err(refuse("is not a 64-bit ELF executable".into())),
    }
}

/// `Some(true)` when a 64-bit little-endian ELF has a PT_INTERP program header.
fn elf_has_interpreter(b: &[u8]) -> Option<bool> {
    if b.get(..5)? != b"\x7fELF\x02" || *b.get(5)? != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let off = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?);
        if p_type == 3 {
            return Some(true);
        }
    }
    Some(false)
}

/// Read a spec file (YAML, TOML or JSON, by extension; YAML when it has none).
pub fn load_spec(path: &Path) -> Result<(serde_json::Value, hoist_core::spec::SpecFormat)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(
            format!("cannot read the spec {name}: {e}"),
            "check the path",
        )
    })?;
    let fmt = hoist_core::spec::SpecFormat::from_file_name(&name)
        .unwrap_or(hoist_core::spec::SpecFormat::Yaml);
    let v = hoist_staging::runner::parse_spec(&text, fmt, &name)?;
    Ok((v, fmt))
}

/// Copy the running binary to `dir/hoist` (mode 0755), written under a temporary name and
/// renamed so a reader never sees half a file. What a runner image's init container runs.
pub fn install_runner(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe()?;
    std::fs::create_dir_all(dir)?;
    // Unique per writer: two fills of one volume may run at once (pids are 1 in both).
    let tmp = dir.join(format!(".hoist.tmp.{}", uuid::Uuid::new_v4()));
    std::fs::copy(&exe, &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    let dest = dir.join("hoist");
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

/// The in-job runner's entry: read the plan (the file, else `$HOIST_PLAN`), run it, return
/// the job's exit code.
pub fn run_plan(path: Option<&Path>) -> i32 {
    use hoist_core::staging::{RUNNER_PLAN_ENV, exit};
    let (from, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read(p).map_err(|e| e.to_string()),
        ),
        None => (
            format!("${RUNNER_PLAN_ENV}"),
            std::env::var(RUNNER_PLAN_ENV)
                .map(String::into_bytes)
                .map_err(|_| "it is not set".to_string()),
        ),
    };
    let plan: hoist_core::staging::RunnerPlan =
        match text.and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "{} cannot read the plan {from}: {e}",
                    hoist_staging::runner::PREFIX
                );
                return exit::CONFIG;
            }
        };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{} cannot start: {e}", hoist_staging::runner::PREFIX);
            return exit::EXEC;
        }
    };
    rt.block_on(hoist_staging::runner::run(
        &plan,
        &hoist_staging::ProcessEnv,
    ))
}

fn launcher_alive(launcher: Option<&str>) -> bool {
    let Some((host, pid)) = launcher.and_then(|l| l.split_once('/')) else {
        return false;
    };
    if host != hostname() {
        return true;
    }
    ProcId::decode(pid).is_some_and(|p| p.alive())
}

/// Test hook: `HOIST_FAILPOINT=<name>` makes the process stop dead at that point of a submit
/// (it prints `failpoint <name>` and waits to be killed), so tests can crash it there.
fn failpoint(name: &str) {
    if std::env::var("HOIST_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}");
        loop {
            std::thread::park();
        }
    }
}
