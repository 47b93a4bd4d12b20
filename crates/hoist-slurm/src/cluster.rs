//! What the platform asks of the cluster besides the verbs themselves: the one-round-trip
//! probe, account discovery, staging the runner, job states and the jobs' own status files.

use crate::{SlurmPlatform, script, state};
use hoist_core::spec::sh_quote;
use hoist_core::{InputError, JobRecord, JobStatus, PlatformError};
use hoist_ssh::{Failover, RemoteOutput, SshTarget};
use script::ScriptSettings;
use std::collections::HashMap;

/// What one round trip tells about the cluster before a submit.
#[derive(Debug, Clone)]
pub(crate) struct ClusterInfo {
    pub(crate) name: String,
    pub(crate) home: String,
    /// `scontrol show partition -o` lines for the configured partitions, in order.
    pub(crate) partitions: Vec<String>,
}

/// How long this process trusts what it learned about a cluster (its name, the remote home,
/// partition limits), which change rarely and never mid-batch.
const CLUSTER_TTL: std::time::Duration = std::time::Duration::from_secs(600);

type KnownClusters = Vec<(String, std::time::Instant, ClusterInfo)>;

static CLUSTERS: std::sync::Mutex<KnownClusters> = std::sync::Mutex::new(Vec::new());

fn known_cluster(key: &str) -> Option<ClusterInfo> {
    let known = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    known
        .iter()
        .find(|(k, at, _)| k == key && at.elapsed() < CLUSTER_TTL)
        .map(|(_, _, c)| c.clone())
}

fn remember_cluster(key: String, info: &ClusterInfo) {
    let mut known = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    known.retain(|(k, at, _)| *k != key && at.elapsed() < CLUSTER_TTL);
    known.push((key, std::time::Instant::now(), info.clone()));
}

impl SlurmPlatform {
    pub(crate) async fn run(&self, remote: &str) -> Result<RemoteOutput, PlatformError> {
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

    pub(crate) fn unreachable(&self, why: &str) -> PlatformError {
        PlatformError::Unreachable {
            what: format!("SLURM login host {}", self.hosts.targets.iter().map(SshTarget::display).collect::<Vec<_>>().join(", ")),
            why: why.trim().lines().last().unwrap_or("ssh failed").to_string(),
            hint: "check `ssh -o BatchMode=yes HOST true` works without a prompt (key in the agent or SSH_KEY_PATH, host key in known_hosts)".into(),
        }
    }

    /// ClusterName, the remote home and the partitions' limits: one round trip per process
    /// and login (kept [`CLUSTER_TTL`]), however many platform instances ask, so a program that
    /// submits batch after batch pays only each batch's own round trip.
    pub(crate) async fn cluster(&self) -> Result<&ClusterInfo, PlatformError> {
        self.cluster
            .get_or_try_init(|| async {
                let key = format!(
                    "{}|{}",
                    self.hosts
                        .targets
                        .iter()
                        .map(SshTarget::display)
                        .collect::<Vec<_>>()
                        .join(","),
                    self.partitions().join(",")
                );
                if let Some(info) = known_cluster(&key) {
                    return Ok(info);
                }
                let info = self.probe_cluster().await?;
                remember_cluster(key, &info);
                Ok(info)
            })
            .await
    }

    async fn probe_cluster(&self) -> Result<ClusterInfo, PlatformError> {
        let ask = self
            .partitions()
            .iter()
            .map(|p| {
                format!(
                    "; scontrol show partition -o {} 2>&1 | head -n 1",
                    sh_quote(p)
                )
            })
            .collect::<String>();
        let out = self
            .run(&format!(
                "scontrol show config | sed -n 's/^ClusterName *= *//p'; printf '%s\\n' \"$HOME\"{ask}"
            ))
            .await?;
        let mut lines = out.stdout.lines();
        let name = lines.next().unwrap_or("").trim().to_string();
        let home = lines.next().unwrap_or("").trim().to_string();
        if name.is_empty() {
            return Err(PlatformError::Failed {
                message: format!(
                    "no SLURM on {}: scontrol printed no ClusterName ({})",
                    out.host,
                    out.stderr.trim()
                ),
                hint:
                    "is this a SLURM login node? scontrol must be on PATH for non-interactive ssh"
                        .into(),
            });
        }
        Ok(ClusterInfo {
            name,
            home,
            partitions: lines.map(str::to_string).collect(),
        })
    }

    pub(crate) fn partitions(&self) -> Vec<String> {
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
    pub(crate) fn runner_path(base: &str, bin: &hoist_core::staging::RunnerBinary) -> String {
        format!("{base}/bin/hoist-{}", bin.short_hash())
    }

    /// Send the runner to [`Self::runner_path`] (only when the submit script said it is
    /// missing).
    pub(crate) async fn stage_runner(
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

    pub(crate) async fn base_dir(&self) -> Result<String, PlatformError> {
        let home = &self.cluster().await?.home;
        Ok(match &self.settings.base_dir {
            Some(b) if b.starts_with('/') => b.trim_end_matches('/').to_string(),
            Some(b) => format!("{home}/{}", b.trim_end_matches('/')),
            None => format!("{home}/hoist"),
        })
    }

    /// The GPU types of the configured partitions' nodes, from `sinfo`'s GRES column (one
    /// round trip, asked once per submit batch).
    pub(crate) async fn gres_listing(&self) -> Result<Vec<String>, PlatformError> {
        let parts = self.partitions();
        let only = if parts.is_empty() {
            String::new()
        } else {
            format!(" -p {}", sh_quote(&parts.join(",")))
        };
        let out = self.run(&format!("sinfo -h -o %G{only}")).await?;
        Ok(gres_types(&out.stdout))
    }

    /// The GRES type the cluster calls GPU model `model` (`A100` → `a100` in `gpu:a100:8`),
    /// among the cluster's GPU `types` ([`Self::gres_listing`]).
    pub(crate) fn gres_type(model: &str, types: &[String]) -> Result<String, PlatformError> {
        if let Some(t) = types
            .iter()
            .find(|t| hoist_core::gpu::model_matches(model, t))
        {
            return Ok(t.clone());
        }
        Err(InputError::new(
            format!(
                "no GPU of model {model} on this cluster's nodes: {}",
                if types.is_empty() {
                    "their GRES name no GPU types".to_string()
                } else {
                    format!("the GPU types are {}", types.join(", "))
                }
            ),
            "ask for a model the cluster has (--gpus TYPE:N), or a count alone (--gpus N)",
        )
        .into())
    }

    /// Unpack a tar of this machine's files into the job's directory over the ssh session
    /// every other call uses; returns where they landed (the shared file system).
    pub(crate) async fn ship_tar(
        &self,
        job_id: &str,
        name: &str,
        tar: Vec<u8>,
    ) -> Result<String, PlatformError> {
        let dir = format!("{}/uploads", Self::job_dir(&self.base_dir().await?, job_id));
        let out = self
            .hosts
            .run(
                &format!(
                    "mkdir -p {d} && tar -C {d} --no-same-owner -xf -",
                    d = sh_quote(&dir)
                ),
                Some(&tar),
                Failover::BeforeStart,
            )
            .await
            .map_err(|e| PlatformError::io("running ssh", e))?;
        if hoist_ssh::is_connection_failure(out.code, &out.stderr) {
            return Err(self.unreachable(&out.stderr));
        }
        if out.code != 0 {
            return Err(PlatformError::Failed {
                message: format!(
                    "could not unpack the files into {dir} on {}: {}",
                    out.host,
                    out.stderr.trim()
                ),
                hint: "check the space and permissions of the base directory on the cluster".into(),
            });
        }
        Ok(format!("{dir}/{name}"))
    }

    pub(crate) fn job_dir(base: &str, job_id: &str) -> String {
        format!("{base}/jobs/{job_id}")
    }

    pub(crate) fn pinned_base(job: &JobRecord) -> Option<String> {
        job.results_location
            .as_deref()
            .and_then(|r| r.strip_prefix("lustre://"))
            .and_then(|r| r.strip_suffix(&format!("/results/{}", job.job_id)))
            .map(str::to_string)
    }

    /// The user's default account when none is configured: what sacctmgr reports.
    pub(crate) async fn account(&self) -> Option<String> {
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
    pub(crate) async fn check_request(
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
    pub(crate) async fn states(
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
    pub(crate) async fn status_files(
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
    pub(crate) async fn find_by_name(&self, job_id: &str) -> Result<Option<String>, PlatformError> {
        let n = sh_quote(&script::job_name(job_id));
        let out = self.run(&format!("squeue -h -u \"$(id -un)\" --name={n} -o %i; sacct -X -n -P --name={n} -o JobIDRaw 2>/dev/null")).await?;
        Ok(out
            .stdout
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_string))
    }

    pub(crate) fn log_dir(job: &JobRecord) -> Option<String> {
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

/// The GPU types in `sinfo -o %G` lines (`gpu:a100:4(S:0-1),gpu:h100:8`).
pub(crate) fn gres_types(sinfo: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in sinfo.split([',', '\n', ' ']) {
        let mut f = entry.trim().split(':');
        if f.next() != Some("gpu") {
            continue;
        }
        if let (Some(t), Some(_count)) = (f.next(), f.next())
            && !t.is_empty()
            && !t.chars().all(|c| c.is_ascii_digit())
            && !out.iter().any(|o| o == t)
        {
            out.push(t.to_string());
        }
    }
    out
}

/// Regular files in a tar stream (what `fetch_results` reports).
pub(crate) fn tar_members(tar: &[u8]) -> usize {
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
