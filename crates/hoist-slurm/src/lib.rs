//! The SLURM platform: jobs staged on the cluster's shared filesystem and submitted with
//! sbatch on a login node reached over ssh ([`hoist_ssh`]: one shared ControlMaster per host,
//! failover across `SLURM_HOSTNAME`'s list for everything but sbatch).
//!
//! Layout under the base directory (`SLURM_BASE_RESULTS_DIR`, default `~/hoist` on the
//! cluster): `jobs/<id>/{job.sbatch,entrypoint.sh,env}` (env is mode 0600 and the only place
//! secret values exist), `jobs/<id>/slurm-logs/hoist-<id>-<slurm id>/main.{out,err}`, and
//! `results/` (TAO_RESULTS_ROOT).
#![deny(missing_docs)]

pub mod script;
pub mod state;

use async_trait::async_trait;
use futures::StreamExt;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::spec::sh_quote;
use hoist_core::{
    BoxLogStream, CancelOutcome, InputError, JobRecord, JobStatus, LaunchRecovery, Platform,
    PlatformError, PreflightCheck, StatusReport, SubmitRequest, Submitted,
};
use hoist_ssh::{Failover, Hosts, RemoteOutput, SshOptions, SshTarget};
use script::ScriptSettings;
use std::collections::HashMap;
use std::path::Path;
use tokio::sync::OnceCell;

/// Everything the platform is configured with (profile settings, then the TAO env names).
#[derive(Debug, Clone, Default)]
pub struct SlurmSettings {
    /// Login hosts, first preferred (`SLURM_HOSTNAME`, comma-separated).
    pub hosts: Vec<String>,
    /// Login user (`SLURM_USER`).
    pub user: Option<String>,
    /// Partition(s) (`SLURM_PARTITION`).
    pub partition: Option<String>,
    /// Account (`SLURM_ACCOUNT`; else what sacctmgr says for the user).
    pub account: Option<String>,
    /// Base directory on the shared filesystem (`SLURM_BASE_RESULTS_DIR`).
    pub base_dir: Option<String>,
    /// Wall time, hours (`SLURM_TIME_HOURS`, default 4).
    pub time_hours: Option<f64>,
    /// Inner timeout, hours (`SLURM_TIMEOUT_HOURS`, default time − 0.2).
    pub timeout_hours: Option<f64>,
    /// CPUs per task (`SLURM_CPUS_PER_TASK`).
    pub cpus_per_task: Option<u32>,
    /// GPUs per node (`SLURM_MAX_GPUS_PER_NODE`, default 8).
    pub max_gpus_per_node: Option<u32>,
    /// `--requeue` (`SLURM_USE_REQUEUE`, default on).
    pub requeue: Option<bool>,
    /// Runs after an infrastructure failure (`HOIST_MAX_RETRIES`, default 10).
    pub max_retries: Option<u32>,
    /// Private key (`SSH_KEY_PATH`).
    pub ssh_key: Option<String>,
    /// Accept unknown host keys on first sight (opt-in).
    pub accept_new_host_keys: bool,
}

impl SlurmSettings {
    /// Fill what the profile left open from the TAO environment names.
    pub fn with_env(mut self) -> Result<Self, InputError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let num = |k: &str| -> Result<Option<f64>, InputError> {
            env(k)
                .map(|v| {
                    v.trim().parse::<f64>().map_err(|_| {
                        InputError::new(
                            format!("{k}={v} is not a number"),
                            format!("set {k} to a number of hours, e.g. 4"),
                        )
                    })
                })
                .transpose()
        };
        if self.hosts.is_empty() {
            self.hosts = env("SLURM_HOSTNAME")
                .or_else(|| env("SSH_HOST"))
                .map(|h| {
                    h.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
        }
        self.user = self
            .user
            .or_else(|| env("SLURM_USER"))
            .or_else(|| env("SSH_USER"));
        self.partition = self.partition.or_else(|| env("SLURM_PARTITION"));
        self.account = self.account.or_else(|| env("SLURM_ACCOUNT"));
        self.base_dir = self.base_dir.or_else(|| env("SLURM_BASE_RESULTS_DIR"));
        self.time_hours = match self.time_hours {
            Some(t) => Some(t),
            None => num("SLURM_TIME_HOURS")?,
        };
        self.timeout_hours = match self.timeout_hours {
            Some(t) => Some(t),
            None => num("SLURM_TIMEOUT_HOURS")?,
        };
        self.cpus_per_task = match self.cpus_per_task {
            Some(c) => Some(c),
            None => num("SLURM_CPUS_PER_TASK")?.map(|c| c as u32),
        };
        self.max_gpus_per_node = match self.max_gpus_per_node {
            Some(g) => Some(g),
            None => num("SLURM_MAX_GPUS_PER_NODE")?.map(|g| g as u32),
        };
        self.requeue = self.requeue.or_else(|| {
            env("SLURM_USE_REQUEUE").map(|v| !matches!(v.as_str(), "0" | "false" | "no"))
        });
        self.ssh_key = self.ssh_key.or_else(|| env("SSH_KEY_PATH"));
        self.accept_new_host_keys |=
            env("HOIST_SSH_ACCEPT_NEW").is_some_and(|v| v == "1" || v == "true");
        Ok(self)
    }

    fn conversion(&self) -> script::ConversionSettings {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        script::ConversionSettings {
            partition: env("SLURM_CONVERSION_PARTITION"),
            timeout_minutes: env("SLURM_CONVERSION_TIMEOUT_MINUTES").and_then(|v| v.parse().ok()),
            memory_gb: env("SLURM_CONVERSION_MEMORY_GB").and_then(|v| v.parse().ok()),
            force_latest: env("SLURM_FORCE_RECONVERT_LATEST")
                .is_some_and(|v| v == "1" || v == "true"),
        }
    }

    fn script(&self, account: Option<String>) -> ScriptSettings {
        let time = self.time_hours.unwrap_or(4.0);
        ScriptSettings {
            partition: self.partition.clone(),
            account,
            time_hours: time,
            timeout_hours: Some(self.timeout_hours.unwrap_or(time - 0.2)),
            cpus_per_task: self.cpus_per_task,
            max_gpus_per_node: self.max_gpus_per_node.unwrap_or(8),
            requeue: self.requeue.unwrap_or(true),
            max_retries: self.max_retries.unwrap_or_else(|| {
                std::env::var("HOIST_MAX_RETRIES")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(10)
            }),
            use_sqsh: std::env::var("SLURM_USE_SQSH")
                .map(|v| !matches!(v.trim(), "0" | "false" | "no"))
                .unwrap_or(true),
            container_mounts: match std::env::var("SLURM_CONTAINER_MOUNTS") {
                Ok(v) if v.trim() == "none" => vec![],
                Ok(v) if !v.trim().is_empty() => v
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect(),
                _ => vec!["/lustre".into()],
            },
            runner: None,
        }
    }
}

/// Jobs on one SLURM cluster.
pub struct SlurmPlatform {
    settings: SlurmSettings,
    hosts: Hosts,
    cluster: OnceCell<ClusterInfo>,
    cache_dir: std::path::PathBuf,
}

/// What one round trip tells about the cluster before a submit.
#[derive(Debug, Clone)]
struct ClusterInfo {
    name: String,
    home: String,
    /// `scontrol show partition -o` lines for the configured partitions, in order.
    partitions: Vec<String>,
}

impl SlurmPlatform {
    /// Configure; contacts nothing. Missing login settings are an input error with the fix.
    pub fn new(home: &Path, settings: SlurmSettings) -> Result<Self, PlatformError> {
        if settings.hosts.is_empty() {
            return Err(InputError::new("no SLURM login host is configured", "export SLURM_HOSTNAME=login1[,login2] and SLURM_USER, or set hosts in a slurm profile").into());
        }
        let mut targets = Vec::new();
        for h in &settings.hosts {
            let mut t = SshTarget::parse(h).ok_or_else(|| {
                InputError::new(
                    format!("bad SLURM login host {h:?}"),
                    "use host, user@host or host:port",
                )
            })?;
            if t.user.is_none() {
                t.user = settings.user.clone();
            }
            targets.push(t);
        }
        let mut options = SshOptions::new(&home.join("ssh"));
        options.identity_file = settings.ssh_key.clone().map(Into::into);
        options.accept_new = settings.accept_new_host_keys;
        Ok(SlurmPlatform {
            settings,
            hosts: Hosts { targets, options },
            cluster: OnceCell::new(),
            cache_dir: home.join("cache"),
        })
    }

    async fn run(&self, remote: &str) -> Result<RemoteOutput, PlatformError> {
        let out = self
            .hosts
            .run(remote, None, Failover::Always)
            .await
            .map_err(|e| PlatformError::io("running ssh", e))?;
        if hoist_ssh::is_connection_failure(out.code, &out.stderr) {
            return Err(self.unreachable(&out.stderr));
        }
        Ok(out)
    }

    fn unreachable(&self, why: &str) -> PlatformError {
        PlatformError::Unreachable {
            what: format!("SLURM login host {}", self.hosts.targets.iter().map(SshTarget::display).collect::<Vec<_>>().join(", ")),
            why: why.trim().lines().last().unwrap_or("ssh failed").to_string(),
            hint: "check `ssh -o BatchMode=yes HOST true` works without a prompt (key in the agent or SSH_KEY_PATH, host key in known_hosts)".into(),
        }
    }

    /// ClusterName and the remote user's home, asked once per process.
    /// ClusterName, the remote home and the partitions' limits: one round trip per process.
    async fn cluster(&self) -> Result<&ClusterInfo, PlatformError> {
        self.cluster
            .get_or_try_init(|| async {
                let parts = self.partitions();
                let ask = parts.iter().map(|p| format!("; scontrol show partition -o {} 2>&1 | head -n 1", sh_quote(p))).collect::<String>();
                let out = self.run(&format!("scontrol show config | sed -n 's/^ClusterName *= *//p'; printf '%s\\n' \"$HOME\"{ask}")).await?;
                let mut lines = out.stdout.lines();
                let name = lines.next().unwrap_or("").trim().to_string();
                let home = lines.next().unwrap_or("").trim().to_string();
                if name.is_empty() {
                    return Err(PlatformError::Failed { message: format!("no SLURM on {}: scontrol printed no ClusterName ({})", out.host, out.stderr.trim()), hint: "is this a SLURM login node? scontrol must be on PATH for non-interactive ssh".into() });
                }
                Ok(ClusterInfo { name, home, partitions: lines.map(str::to_string).collect() })
            })
            .await
    }

    fn partitions(&self) -> Vec<String> {
        self.settings
            .partition
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Where the runner of this content hash lives on the shared file system. Later jobs,
    /// from any submitting machine with the same binary, find it there and send nothing.
    fn runner_path(base: &str, bin: &hoist_core::staging::RunnerBinary) -> String {
        format!("{base}/bin/hoist-{}", bin.short_hash())
    }

    /// Send the runner to [`Self::runner_path`] (only when the submit script said it is
    /// missing).
    async fn stage_runner(
        &self,
        base: &str,
        bin: &hoist_core::staging::RunnerBinary,
    ) -> Result<(), PlatformError> {
        let path = Self::runner_path(base, bin);
        let q = hoist_core::spec::sh_quote(&path);
        let bytes = tokio::fs::read(&bin.path).await.map_err(|e| {
            PlatformError::io(format!("reading the runner {}", bin.path.display()), e)
        })?;
        // Written under a temporary name and renamed, so a concurrent job never runs half a
        // file.
        let dir = hoist_core::spec::sh_quote(&format!("{base}/bin"));
        let script = format!(
            "set -e; mkdir -p {dir}; t=$(mktemp {dir}/.hoist-XXXXXX); cat > \"$t\"; chmod 755 \"$t\"; mv -f \"$t\" {q}"
        );
        let out = self
            .hosts
            .run(&script, Some(&bytes), Failover::BeforeStart)
            .await
            .map_err(|e| PlatformError::io("running ssh", e))?;
        if out.code != 0 {
            return Err(PlatformError::Failed {
                message: format!(
                    "could not stage the hoist runner at {path} on {}: {}",
                    out.host,
                    out.stderr.trim()
                ),
                hint: "check the space and permissions of the base directory on the cluster".into(),
            });
        }
        Ok(())
    }

    async fn base_dir(&self) -> Result<String, PlatformError> {
        let home = &self.cluster().await?.home;
        Ok(match &self.settings.base_dir {
            Some(b) if b.starts_with('/') => b.trim_end_matches('/').to_string(),
            Some(b) => format!("{home}/{}", b.trim_end_matches('/')),
            None => format!("{home}/hoist"),
        })
    }

    fn job_dir(base: &str, job_id: &str) -> String {
        format!("{base}/jobs/{job_id}")
    }

    fn pinned_base(job: &JobRecord) -> Option<String> {
        job.results_location
            .as_deref()
            .and_then(|r| r.strip_prefix("lustre://"))
            .and_then(|r| r.strip_suffix(&format!("/results/{}", job.job_id)))
            .map(str::to_string)
    }

    /// The user's default account when none is configured: what sacctmgr reports.
    async fn account(&self) -> Option<String> {
        if let Some(a) = &self.settings.account {
            return Some(a.clone());
        }
        // sacctmgr is slow (a slurmdbd round trip) and associations change rarely: the answer
        // is kept for a day per cluster and user.
        let cluster = self.cluster().await.ok()?.name.clone();
        let user = self
            .hosts
            .targets
            .first()
            .and_then(|t| t.user.clone())
            .unwrap_or_default();
        let cached = self
            .cache_dir
            .join(format!("slurm-account-{cluster}-{user}"));
        if let Ok(m) = std::fs::metadata(&cached)
            && m.modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() < 86_400)
        {
            return std::fs::read_to_string(&cached)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
        }
        let out = self
            .run("sacctmgr -nP show assoc where user=\"$(id -un)\" format=account")
            .await
            .ok()?;
        let account = out
            .stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string);
        let _ = std::fs::create_dir_all(&self.cache_dir);
        let _ = std::fs::write(&cached, account.clone().unwrap_or_default());
        account
    }

    /// Refuse what the cluster can never run: unknown partitions, a time over MaxTime.
    async fn check_request(
        &self,
        s: &ScriptSettings,
        gpus_per_node: u32,
    ) -> Result<(), PlatformError> {
        let names = self.partitions();
        let info = self.cluster().await?;
        let want = (s.time_hours * 60.0).ceil() as u64;
        for (name, line) in names.iter().zip(info.partitions.iter()) {
            if !line.contains("PartitionName=") {
                return Err(InputError::new(
                    format!(
                        "partition {name:?} does not exist on this cluster ({})",
                        line.trim()
                    ),
                    "list partitions with sinfo -s, and set SLURM_PARTITION",
                )
                .into());
            }
            if let Some(Some(max)) = state::partition_max_minutes(line)
                && want > max
            {
                return Err(InputError::new(
                    format!(
                        "a {} wall time exceeds partition {name}'s MaxTime of {}",
                        script::slurm_time(s.time_hours),
                        script::slurm_time(max as f64 / 60.0)
                    ),
                    format!(
                        "lower SLURM_TIME_HOURS to at most {:.2}, or choose another partition",
                        max as f64 / 60.0
                    ),
                )
                .into());
            }
        }
        if gpus_per_node > s.max_gpus_per_node {
            return Err(InputError::new(
                format!(
                    "{gpus_per_node} GPUs per node exceeds this cluster's {} per node",
                    s.max_gpus_per_node
                ),
                "ask for fewer GPUs, or set SLURM_MAX_GPUS_PER_NODE",
            )
            .into());
        }
        Ok(())
    }

    /// State of SLURM jobs: squeue for those in the queue, sacct (or scontrol) for the rest.
    async fn states(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, state::AcctEntry>, PlatformError> {
        let mut map = HashMap::new();
        if ids.is_empty() {
            return Ok(map);
        }
        let q = self.run("squeue -h -u \"$(id -un)\" -o '%i|%T|%r'").await?;
        for e in state::parse_squeue(&q.stdout) {
            if ids.contains(&e.id) {
                map.insert(
                    e.id.clone(),
                    state::AcctEntry {
                        id: e.id,
                        state: e.state,
                        exit_code: None,
                        signal: None,
                        reason: e.reason,
                        restarts: None,
                    },
                );
            }
        }
        let gone: Vec<String> = ids
            .iter()
            .filter(|i| !map.contains_key(*i))
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(map);
        }
        // Jobs that left the queue: scontrol first (exact ExitCode while the controller still
        // holds the job; sacct lags behind it right after the end), sacct for purged ones.
        let ask = gone
            .iter()
            .map(|i| format!("scontrol show job -o {} 2>/dev/null", sh_quote(i)))
            .collect::<Vec<_>>()
            .join("; ");
        let sc = self.run(&format!("{ask}; true")).await?;
        for line in sc.stdout.lines() {
            if let Some(e) = state::parse_scontrol_job(line) {
                map.insert(e.id.clone(), e);
            }
        }
        let purged: Vec<&String> = gone.iter().filter(|i| !map.contains_key(*i)).collect();
        if !purged.is_empty() {
            let list = purged
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let a = self
                .run(&format!(
                    "sacct -X -n -P -j {} -o JobIDRaw,State,ExitCode",
                    sh_quote(&list)
                ))
                .await?;
            if a.code == 0 {
                for e in state::parse_sacct(&a.stdout) {
                    map.insert(e.id.clone(), e);
                }
            }
        }
        Ok(map)
    }

    /// For jobs SLURM calls COMPLETED, the last record of `<results>/<id>/status.json` (the TAO
    /// containers' own verdict, one JSON object per line): a failure there is the job's
    /// failure. Returns job id → failure message, for those that report one.
    async fn status_files(
        &self,
        jobs: &[JobRecord],
        states: &HashMap<String, state::AcctEntry>,
    ) -> HashMap<String, String> {
        let done: Vec<(&JobRecord, String)> = jobs
            .iter()
            .filter(|j| {
                j.backend_job_id
                    .as_ref()
                    .and_then(|b| states.get(b))
                    .is_some_and(|e| state::map_state(&e.state) == JobStatus::Complete)
            })
            .filter_map(|j| {
                Some((
                    j,
                    format!("{}/results/{}/status.json", Self::pinned_base(j)?, j.job_id),
                ))
            })
            .collect();
        if done.is_empty() {
            return HashMap::new();
        }
        let cmd = done
            .iter()
            .map(|(j, p)| {
                format!(
                    "printf '%s ' {}; tail -n 1 {} 2>/dev/null; echo",
                    sh_quote(&j.job_id),
                    sh_quote(p)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let Ok(out) = self.run(&cmd).await else {
            return HashMap::new();
        };
        out.stdout
            .lines()
            .filter_map(|l| {
                let (id, json) = l.split_once(' ')?;
                let failure = state::status_file_failure(json)?;
                Some((id.to_string(), failure))
            })
            .collect()
    }

    /// The SLURM id of a hoist job, looked up by its unique job name (queue, then accounting).
    async fn find_by_name(&self, job_id: &str) -> Result<Option<String>, PlatformError> {
        let n = sh_quote(&script::job_name(job_id));
        let out = self.run(&format!("squeue -h -u \"$(id -un)\" --name={n} -o %i; sacct -X -n -P --name={n} -o JobIDRaw 2>/dev/null")).await?;
        Ok(out
            .stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_string))
    }

    fn log_dir(job: &JobRecord) -> Option<String> {
        let base = Self::pinned_base(job)?;
        let slurm_id = job.backend_job_id.as_deref()?;
        Some(format!(
            "{}/slurm-logs/{}-{slurm_id}",
            Self::job_dir(&base, &job.job_id),
            script::job_name(&job.job_id)
        ))
    }
}

/// A path on the cluster: `lustre:///abs`, `slurm://abs/path` (TAO's form, `/abs/path`), or
/// an absolute path. `file://` and relative paths name this machine's files, which the
/// cluster cannot see.
pub fn cluster_path(path: &str) -> Result<String, InputError> {
    if let Some(p) = path.strip_prefix("lustre://") {
        if p.starts_with('/') {
            return Ok(p.to_string());
        }
    } else if let Some(p) = path.strip_prefix("slurm://") {
        return Ok(format!("/{}", p.trim_start_matches('/')));
    } else if path.starts_with('/') {
        return Ok(path.to_string());
    }
    Err(InputError::new(
        format!("{path} is not a path on the cluster"),
        "SLURM jobs see the cluster's shared filesystem: stage the data there and give lustre:///abs/path (file:// and relative paths are this machine's)",
    ))
}

#[async_trait]
impl Platform for SlurmPlatform {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn pin(&self, spec: &mut hoist_core::JobSpec) {
        spec.platform_options.slurm.hosts = self.settings.hosts.clone();
        spec.platform_options.slurm.user = self.settings.user.clone();
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        let cluster = &self.cluster().await?.name;
        let user = self
            .hosts
            .targets
            .first()
            .and_then(|t| t.user.clone())
            .unwrap_or_default();
        Ok(format!("slurm:{cluster}@{user}"))
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<String, PlatformError> {
        // The base directory is shown as configured: resolving ~ would need the cluster.
        let base = self
            .settings
            .base_dir
            .clone()
            .unwrap_or_else(|| "$HOME/hoist".into());
        let dir = Self::job_dir(&base, &req.job_id);
        let mut s = self.settings.script(self.settings.account.clone());
        s.runner = req
            .runner_binary
            .as_ref()
            .map(|b| Self::runner_path(&base, b));
        let r = script::render(
            req,
            &dir,
            &format!("{base}/results"),
            &self.settings.conversion(),
            &s,
        )?;
        let conversion = r
            .conversion
            .as_ref()
            .map(|c| {
                format!(
                    "# {dir}/convert.sbatch (runs first unless {} is cached)\n{}\n",
                    c.sqsh, c.sbatch
                )
            })
            .unwrap_or_default();
        Ok(format!(
            "{conversion}# {dir}/job.sbatch\n{}\n# {dir}/entrypoint.sh\n{}\n# {dir}/env (mode 0600)\n{}",
            r.sbatch,
            r.entrypoint,
            script::shown_env(req)
        ))
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let base = self.base_dir().await?;
        let account = self.account().await;
        let mut s = self.settings.script(account);
        let bin = req.runner.as_ref().and(req.runner_binary.as_ref());
        s.runner = bin.map(|b| Self::runner_path(&base, b));
        let dir = Self::job_dir(&base, &req.job_id);
        let results = format!("{base}/results");
        let r = script::render(req, &dir, &results, &self.settings.conversion(), &s)?;
        self.check_request(&s, r.gpus_per_node).await?;
        // sbatch moves to another host only if it cannot have started; a lost answer is
        // settled by the job's unique name (recover_launch), never by submitting again.
        let script = script::stage_and_submit(&dir, &results, &r);
        let submit = || async {
            self.hosts
                .run("sh -s", Some(script.as_bytes()), Failover::BeforeStart)
                .await
                .map_err(|e| PlatformError::io("running ssh", e))
        };
        let mut out = submit().await?;
        if let Some(bin) = bin
            && out.code == script::RUNNER_MISSING_EXIT
            && out.stderr.contains(script::RUNNER_MISSING)
        {
            // The script stopped before writing anything: send the runner, submit again.
            self.stage_runner(&base, bin).await?;
            out = submit().await?;
        }
        let Some(id) = state::parse_sbatch(&out.stdout).filter(|_| out.code == 0) else {
            if hoist_ssh::is_connection_failure(out.code, &out.stderr) {
                // The session broke while sbatch may have run: ask the cluster by the job's
                // unique name before calling it failed, so it is neither lost nor doubled.
                if !hoist_ssh::never_connected(&out.stderr)
                    && let Ok(Some(found)) = self.find_by_name(&req.job_id).await
                {
                    return Ok(Submitted {
                        backend_job_id: found,
                        backend_identity: self.identity().await?,
                        results_location: Some(format!("lustre://{results}/{}", req.job_id)),
                        status: JobStatus::Pending,
                        message: "submitted (found by name after the connection dropped)".into(),
                    });
                }
                return Err(self.unreachable(&out.stderr));
            }
            let msg = out.stderr.trim().to_string();
            let lower = msg.to_ascii_lowercase();
            let refused = [
                "invalid partition",
                "node configuration is not available",
                "invalid account",
                "time limit",
                "invalid generic resource",
                "more processors than permitted",
            ];
            if refused.iter().any(|p| lower.contains(p)) {
                return Err(InputError::new(format!("SLURM refused the job: {msg}"), "check partition, account, GPUs per node and time against `sinfo` and `sacctmgr show assoc`").into());
            }
            return Err(PlatformError::Failed {
                message: format!("sbatch failed on {}: {msg}", out.host),
                hint: "run the staged job.sbatch by hand on the login node to see why".into(),
            });
        };
        Ok(Submitted {
            backend_job_id: id,
            backend_identity: self.identity().await?,
            results_location: Some(format!("lustre://{results}/{}", req.job_id)),
            status: JobStatus::Pending,
            message: format!(
                "submitted from {} ({} node(s), {} GPU(s) per node)",
                out.host, r.nodes, r.gpus_per_node
            ),
        })
    }

    async fn fetch_results(
        &self,
        job: &JobRecord,
        dest: &std::path::Path,
    ) -> Result<Option<usize>, PlatformError> {
        let Some(dir) = job
            .results_location
            .as_deref()
            .and_then(|l| l.strip_prefix("lustre://"))
        else {
            return Ok(None);
        };
        // One tar stream over the shared ssh session; the local tar refuses absolute and
        // climbing member names by default.
        let out = self
            .hosts
            .run_bytes(
                &format!("tar -C {} -cf - .", hoist_core::spec::sh_quote(dir)),
                Failover::Always,
            )
            .await
            .map_err(|e| PlatformError::io("running ssh", e))?;
        if out.code != 0 {
            return Err(PlatformError::Failed {
                message: format!(
                    "could not read {dir} on {}: {}",
                    out.host,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                hint: "check that the job wrote results (hoist logs JOB)".into(),
            });
        }
        let mut child = std::process::Command::new("tar")
            .arg("-C")
            .arg(dest)
            .args(["-xf", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| PlatformError::io("running tar", e))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin
                .write_all(&out.stdout)
                .map_err(|e| PlatformError::io("unpacking the results", e))?;
        }
        let st = child
            .wait()
            .map_err(|e| PlatformError::io("unpacking the results", e))?;
        if !st.success() {
            return Err(PlatformError::Failed {
                message: format!("tar could not unpack the results into {}", dest.display()),
                hint: "check the destination directory".into(),
            });
        }
        let n = tar_members(&out.stdout);
        Ok(Some(n))
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let Some(id) = self.find_by_name(&job.job_id).await? else {
            return Ok(LaunchRecovery::NotLaunched);
        };
        let base = self.base_dir().await?;
        Ok(LaunchRecovery::Adopted(Submitted {
            backend_job_id: id.to_string(),
            backend_identity: self.identity().await?,
            results_location: Some(format!("lustre://{base}/results/{}", job.job_id)),
            status: JobStatus::Pending,
            message: "adopted after an interrupted submit".into(),
        }))
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        let ids: Vec<String> = jobs
            .iter()
            .filter_map(|j| j.backend_job_id.clone())
            .collect();
        let states = match self.states(&ids).await {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Failed {
                            message: msg.clone(),
                            hint: String::new(),
                        })
                    })
                    .collect();
            }
        };
        let verdicts = self.status_files(jobs, &states).await;
        jobs.iter()
            .map(|j| {
                let id = j.backend_job_id.clone().unwrap_or_default();
                let Some(e) = states.get(&id) else {
                    return Ok(StatusReport {
                        status: JobStatus::Unknown,
                        message: format!(
                            "SLURM has no record of job {id} (purged, or on another cluster)"
                        ),
                        exit_code: None,
                        started_at: None,
                        finished_at: None,
                        retriable: false,
                        restarts: None,
                    });
                };
                let status = state::map_state(&e.state);
                if let (JobStatus::Complete, Some(msg)) = (status, verdicts.get(&j.job_id)) {
                    // SLURM saw a clean exit, but the job's own status file reports a failure.
                    return Ok(StatusReport {
                        status: JobStatus::Error,
                        message: format!("status.json: {msg}"),
                        exit_code: e.exit_code,
                        started_at: None,
                        finished_at: None,
                        retriable: false,
                        restarts: e.restarts,
                    });
                }
                let message = match status {
                    JobStatus::Pending if !e.reason.is_empty() && e.reason != "None" => {
                        format!("{} ({})", e.state, e.reason)
                    }
                    JobStatus::Error => format!(
                        "{}{}",
                        e.state,
                        e.exit_code
                            .map(|c| format!(", exit {c}"))
                            .unwrap_or_default()
                    ),
                    _ => e.state.clone(),
                };
                let exit_code = match (e.exit_code, e.signal) {
                    (_, Some(s)) => Some(128 + s),
                    (c, None) => c,
                };
                Ok(StatusReport {
                    status,
                    message,
                    exit_code: if status.is_terminal() {
                        exit_code
                    } else {
                        None
                    },
                    started_at: None,
                    finished_at: None,
                    // A node that failed under the job: the script never got to judge it.
                    retriable: state::infrastructure_state(&e.state),
                    restarts: e.restarts,
                })
            })
            .collect()
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let Some(dir) = Self::log_dir(job) else {
            return Ok(String::new());
        };
        let files = format!("{d}/main.out {d}/main.err", d = sh_quote(&dir));
        let cmd = match tail {
            Some(n) => {
                format!("for f in {files}; do [ -f \"$f\" ] && tail -n {n} \"$f\"; done; true")
            }
            None => format!("for f in {files}; do [ -f \"$f\" ] && cat \"$f\"; done; true"),
        };
        Ok(self.run(&cmd).await?.stdout)
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let Some(dir) = Self::log_dir(job) else {
            return Ok(futures::stream::empty().boxed());
        };
        let id = job.backend_job_id.clone().unwrap_or_default();
        let start = tail.map(|n| n.to_string()).unwrap_or_else(|| "+1".into());
        // One ssh session streams until the job leaves the queue: tail follows both files
        // (created when the job starts) while a loop on the login node watches squeue.
        let remote = format!(
            "d={d}; mkdir -p \"$d\" 2>/dev/null; touch \"$d/main.out\" \"$d/main.err\" 2>/dev/null; tail -q -n {start} -F \"$d/main.out\" \"$d/main.err\" 2>/dev/null & t=$!; \
             while squeue -h -j {id} -o %T 2>/dev/null | grep -q .; do sleep 1; done; sleep 1; kill $t 2>/dev/null; wait $t 2>/dev/null; true",
            d = sh_quote(&dir),
            id = sh_quote(&id)
        );
        // The first login host that answers (failover), then one long-lived session on it.
        let alive = self.run("true").await?;
        let target = self
            .hosts
            .targets
            .iter()
            .find(|t| t.display() == alive.host)
            .cloned()
            .ok_or_else(|| self.unreachable("no login host answered"))?;
        let mut child = self
            .hosts
            .options
            .command(&target, &remote)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| PlatformError::io("running ssh", e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| self.unreachable("no output pipe"))?;
        let reader = tokio::io::BufReader::new(stdout);
        let stream = futures::stream::unfold((reader, child), |(mut r, child)| async move {
            use tokio::io::AsyncBufReadExt;
            let mut line = String::new();
            match r.read_line(&mut line).await {
                Ok(0) | Err(_) => None,
                Ok(_) => Some((Ok(line), (r, child))),
            }
        });
        Ok(stream.boxed())
    }

    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        let Some(base) = Self::pinned_base(job) else {
            return Ok(None);
        };
        let dir = Self::job_dir(&base, &job.job_id);
        // The staged script, submitted again as it is (its env file is still in place).
        let out = self
            .hosts
            .run(
                &format!("cd {} && sbatch --parsable job.sbatch", sh_quote(&dir)),
                None,
                Failover::BeforeStart,
            )
            .await
            .map_err(|e| PlatformError::io("running ssh", e))?;
        let Some(id) = state::parse_sbatch(&out.stdout).filter(|_| out.code == 0) else {
            return Err(PlatformError::Failed {
                message: format!("resubmitting {} failed: {}", job.job_id, out.stderr.trim()),
                hint: "check the job directory on the cluster".into(),
            });
        };
        Ok(Some(Submitted {
            backend_job_id: id,
            backend_identity: self.identity().await?,
            results_location: job.results_location.clone(),
            status: JobStatus::Pending,
            message: "resubmitted after an infrastructure failure".into(),
        }))
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let Some(id) = job.backend_job_id.clone() else {
            return Ok(CancelOutcome::NotFound);
        };
        let st = self.states(std::slice::from_ref(&id)).await?;
        match st.get(&id).map(|e| state::map_state(&e.state)) {
            None => return Ok(CancelOutcome::NotFound),
            Some(s) if s.is_terminal() => return Ok(CancelOutcome::AlreadyFinished),
            _ => {}
        }
        let out = self.run(&format!("scancel {}", sh_quote(&id))).await?;
        if out.code != 0 {
            return Err(PlatformError::Failed {
                message: format!("scancel {id} failed: {}", out.stderr.trim()),
                hint: "check the job with squeue on the login node".into(),
            });
        }
        Ok(CancelOutcome::Requested)
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let mut input = FailureInput {
            log_tail: self.logs(job, Some(200)).await.unwrap_or_default(),
            message: job.message.clone(),
            exit_code: job.exit_code,
            ..Default::default()
        };
        let state = job.message.split([',', ' ']).next().unwrap_or("");
        let finding = |class, cause: &str, fix: &str, retriable| PlatformFinding {
            err_class: class,
            cause: cause.into(),
            suggestion: fix.into(),
            retriable,
            event: state.to_string(),
        };
        match state {
            "TIMEOUT" => input.findings.push(finding(ErrClass::Program, "the job hit its wall-time limit", "raise SLURM_TIME_HOURS (within the partition's MaxTime) or checkpoint more often so a requeue resumes", false)),
            "NODE_FAIL" | "BOOT_FAIL" => input.findings.push(finding(ErrClass::Infra, "a node of the allocation failed", "run it again; SLURM will place it on healthy nodes", true)),
            "OUT_OF_MEMORY" => input.findings.push(finding(ErrClass::Program, "the job exceeded its memory allocation", "raise --memory (--mem) or reduce memory use", false)),
            "DEADLINE" => input.findings.push(finding(ErrClass::Config, "the job missed its deadline before it could run", "remove or extend --deadline", false)),
            _ => {}
        }
        Ok(input)
    }

    async fn check_path(&self, path: &str) -> Result<bool, PlatformError> {
        let p = cluster_path(path)?;
        let p = p.as_str();
        Ok(self.run(&format!("test -e {}", sh_quote(p))).await?.code == 0)
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        let p = path
            .strip_prefix("lustre://")
            .unwrap_or(path)
            .trim_end_matches('/')
            .to_string();
        let out = self.run(&format!("ls -1A {}", sh_quote(&p))).await?;
        if out.code != 0 {
            return Err(PlatformError::Failed {
                message: format!("cannot list {p}: {}", out.stderr.trim()),
                hint: "check the path on the cluster".into(),
            });
        }
        Ok(out
            .stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| format!("{p}/{l}"))
            .collect())
    }

    async fn preflight(&self, req: &PreflightRequest) -> Vec<PreflightCheck> {
        let ck = PreflightCheck::new;
        let mut checks = Vec::new();
        let who = self
            .hosts
            .targets
            .iter()
            .map(SshTarget::display)
            .collect::<Vec<_>>()
            .join(", ");
        let cluster = match self.cluster().await {
            Ok(c) => c.name.clone(),
            Err(e) => {
                checks.push(ck("ssh", false, true, e.to_string(), "set up key login: ssh-copy-id to the login host, check `ssh -o BatchMode=yes HOST true`, and SLURM_USER"));
                return checks;
            }
        };
        checks.push(ck(
            "ssh",
            true,
            true,
            format!("{who}: cluster {cluster}"),
            "",
        ));
        if self.hosts.targets.len() > 1 {
            // Each login host on its own: failover only helps if the others work too.
            for t in &self.hosts.targets {
                let one = Hosts {
                    targets: vec![t.clone()],
                    options: self.hosts.options.clone(),
                };
                let ok = one
                    .run("true", None, Failover::Always)
                    .await
                    .map(|o| o.code == 0)
                    .unwrap_or(false);
                checks.push(ck(&format!("login {}", t.display()), ok, false, if ok { "reachable".into() } else { "unreachable with BatchMode ssh".into() }, "check the key (SSH_KEY_PATH or the agent), authorized_keys on that host, and its entry in known_hosts"));
            }
        }
        let tools = self.run("for c in sbatch squeue scancel sacct scontrol; do command -v $c >/dev/null || echo $c; done").await;
        match tools {
            Ok(o) if o.stdout.trim().is_empty() => checks.push(ck("slurm tools", true, true, "sbatch, squeue, scancel, sacct, scontrol".into(), "")),
            Ok(o) => checks.push(ck("slurm tools", false, true, format!("missing on the login host: {}", o.stdout.split_whitespace().collect::<Vec<_>>().join(", ")), "make them available to non-interactive ssh sessions (PATH in ~/.bashrc before the interactive guard)")),
            Err(e) => checks.push(ck("slurm tools", false, true, e.to_string(), "")),
        }
        let s = self.settings.script(self.account().await);
        match self.check_request(&s, 0).await {
            Ok(()) => checks.push(ck(
                "partition",
                true,
                true,
                format!(
                    "{} fits {} of wall time",
                    s.partition
                        .clone()
                        .unwrap_or_else(|| "default partition".into()),
                    script::slurm_time(s.time_hours)
                ),
                "",
            )),
            Err(e) => checks.push(ck(
                "partition",
                false,
                true,
                e.to_string(),
                &e.hint().unwrap_or_default(),
            )),
        }
        let runtimes = self.run("command -v ch-run >/dev/null && echo charliecloud; command -v enroot >/dev/null && echo enroot; srun --help 2>/dev/null | grep -q container-image && echo pyxis; true").await;
        match runtimes {
            Ok(o) => {
                let have: Vec<&str> = o.stdout.split_whitespace().collect();
                checks.push(ck("containers", !have.is_empty(), false, if have.is_empty() { "no container runtime (pyxis, enroot, charliecloud) on the login host".into() } else { have.join(", ") }, "--image jobs need pyxis (srun --container-image), enroot or charliecloud (ch-run); --container none runs on the bare nodes"));
            }
            Err(e) => checks.push(ck("containers", false, false, e.to_string(), "")),
        }
        match self.run("sinfo -h -o '%G'").await {
            Ok(o) => {
                let gres: Vec<&str> = o
                    .stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.contains("gpu"))
                    .collect();
                checks.push(ck(
                    "gpu gres",
                    !gres.is_empty(),
                    false,
                    if gres.is_empty() {
                        "no node advertises gres/gpu".into()
                    } else {
                        gres.join(", ")
                    },
                    "GPU jobs need nodes with Gres=gpu:N (and gres.conf); CPU jobs run without",
                ));
            }
            Err(e) => checks.push(ck("gpu gres", false, false, e.to_string(), "")),
        }
        checks.push(ck(
            "account",
            s.account.is_some(),
            false,
            s.account
                .clone()
                .unwrap_or_else(|| "none (the cluster's default applies)".into()),
            "set SLURM_ACCOUNT if your site requires one",
        ));
        match self.base_dir().await {
            Ok(base) => {
                let ok = self
                    .run(&format!("mkdir -p {b} && test -w {b}", b = sh_quote(&base)))
                    .await
                    .map(|o| o.code == 0)
                    .unwrap_or(false);
                checks.push(ck(
                    "base dir",
                    ok,
                    true,
                    base,
                    "set SLURM_BASE_RESULTS_DIR to a writable directory on the shared filesystem",
                ));
            }
            Err(e) => checks.push(ck("base dir", false, true, e.to_string(), "")),
        }
        for (name, path) in &req.paths {
            let (ok, detail) = match self.check_path(path).await {
                Ok(ok) => (
                    ok,
                    format!(
                        "{path} {} on the cluster",
                        if ok { "exists" } else { "does not exist" }
                    ),
                ),
                Err(e) => (false, e.to_string()),
            };
            checks.push(ck(
                &format!("path {name}"),
                ok,
                true,
                detail,
                "stage the data onto the cluster's shared filesystem, or fix the path",
            ));
        }
        checks
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        if let Some(base) = Self::pinned_base(job) {
            let dir = Self::job_dir(&base, &job.job_id);
            self.run(&format!("rm -rf -- {}", sh_quote(&dir))).await?;
        }
        Ok(())
    }
}

/// Regular files in a tar stream (what `fetch_results` reports).
fn tar_members(tar: &[u8]) -> usize {
    let mut n = 0;
    let mut off = 0;
    while off + 512 <= tar.len() {
        let h = &tar[off..off + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let size = std::str::from_utf8(&h[124..136])
            .ok()
            .and_then(|s| {
                u64::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()
            })
            .unwrap_or(0) as usize;
        if matches!(h[156], b'0' | 0) {
            n += 1;
        }
        off += 512 + size.div_ceil(512) * 512;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::cluster_path;

    #[test]
    fn only_cluster_paths() {
        assert_eq!(
            cluster_path("lustre:///fs/a").ok().as_deref(),
            Some("/fs/a")
        );
        assert_eq!(
            cluster_path("slurm://lustre/fs/a").ok().as_deref(),
            Some("/lustre/fs/a")
        );
        assert_eq!(
            cluster_path("/scratch/x").ok().as_deref(),
            Some("/scratch/x")
        );
        for bad in [
            "file:///home/me/x",
            "data/x",
            "lustre://rel",
            "s3://bucket/k",
        ] {
            assert!(cluster_path(bad).is_err(), "{bad}");
        }
    }
}
