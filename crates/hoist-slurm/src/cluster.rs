//! What the platform asks of the cluster besides the verbs themselves: the one-round-trip
//! probe, account discovery, staging the runner, job states and the jobs' own status files.

use crate::{SlurmPlatform, script, state};
use hoist_core::spec::sh_quote;
use hoist_core::{InputError, JobRecord, JobStatus, PlatformError};
use hoist_ssh::{Failover, RemoteOutput, SshTarget};
use script::ScriptSettings;
use std::collections::HashMap;

/// What one round trip tells about the cluster before a submit.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

fn known_cluster(key: &str, cache_dir: &std::path::Path) -> Option<ClusterInfo> {
    let known = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(info) = known
        .iter()
        .find(|(k, at, _)| k == key && at.elapsed() < CLUSTER_TTL)
        .map(|(_, _, c)| c.clone())
    {
        return Some(info);
    }
    drop(known);
    // A later hoist process within the TTL reads the answer an earlier one got: `run -d` then
    // costs its submit's round trip alone. What the cluster says in that submit (its name)
    // is checked against it there.
    let file = cluster_file(key, cache_dir);
    let fresh = std::fs::metadata(&file)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .is_ok_and(|age| age < CLUSTER_TTL);
    if !fresh {
        return None;
    }
    let info: ClusterInfo = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
    let mut known = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    known.push((key.to_string(), std::time::Instant::now(), info.clone()));
    Some(info)
}

fn remember_cluster(key: String, info: &ClusterInfo, cache_dir: &std::path::Path) {
    // Best effort: a cache that cannot be written only costs the next process a round trip.
    if std::fs::create_dir_all(cache_dir).is_ok()
        && let Ok(text) = serde_json::to_vec(info)
    {
        let file = cluster_file(&key, cache_dir);
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &file).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    let mut known = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    known.retain(|(k, at, _)| *k != key && at.elapsed() < CLUSTER_TTL);
    known.push((key, std::time::Instant::now(), info.clone()));
}

/// Forget what was learned about a cluster (it answered differently than remembered).
pub(crate) fn forget_cluster(key: &str, cache_dir: &std::path::Path) {
    let _ = std::fs::remove_file(cluster_file(key, cache_dir));
    let mut known = CLUSTERS.lock().unwrap_or_else(|p| p.into_inner());
    known.retain(|(k, _, _)| k != key);
}

fn cluster_file(key: &str, cache_dir: &std::path::Path) -> std::path::PathBuf {
    cache_dir.join(format!("slurm-cluster-{:016x}.json", hoist_ssh::fnv1a(key)))
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
            what: format!(
                "SLURM login host {}",
                self.hosts
                    .targets
                    .iter()
                    .map(SshTarget::display)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            why: why
                .trim()
                .lines()
                .last()
                .unwrap_or("ssh failed")
                .to_string(),
            hint: ssh_fix(why, self.hosts.targets.first()),
        }
    }

    /// ClusterName, the remote home and the partitions' limits: one round trip per process
    /// and login (kept [`CLUSTER_TTL`]), however many platform instances ask, so a program that
    /// submits batch after batch pays only each batch's own round trip.
    pub(crate) async fn cluster(&self) -> Result<&ClusterInfo, PlatformError> {
        self.cluster
            .get_or_try_init(|| async {
                let key = self.cluster_key();
                if let Some(info) = known_cluster(&key, &self.cache_dir) {
                    return Ok(info);
                }
                let info = self.probe_cluster().await?;
                remember_cluster(key, &info, &self.cache_dir);
                Ok(info)
            })
            .await
    }

    /// What the cluster's answers are remembered by: the login hosts and the partitions.
    pub(crate) fn cluster_key(&self) -> String {
        format!("{}|{}", self.hosts_key(), self.partitions().join(","))
    }

    pub(crate) fn hosts_key(&self) -> String {
        self.hosts
            .targets
            .iter()
            .map(SshTarget::display)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(crate) async fn probe_cluster(&self) -> Result<ClusterInfo, PlatformError> {
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
                    "umask 077 && mkdir -p {d} && tar -C {d} --no-same-owner -xf -",
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
        let user = self.login_user();
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

/// What to do about ssh's complaint `stderr` on login host `target`: a host key ssh refused
/// is fixed in known_hosts (hoist never turns checking off); a refused login by the key.
pub(crate) fn ssh_fix(stderr: &str, target: Option<&SshTarget>) -> String {
    let s = stderr.to_ascii_lowercase();
    let host = target.map(|t| t.host.as_str()).unwrap_or("HOST");
    let port = target.and_then(|t| t.port).filter(|p| *p != 22);
    if s.contains("host key verification failed")
        || s.contains("remote host identification has changed")
        || s.contains("host key is known")
    {
        // known_hosts names a host on another port `[host]:port`; ssh-keyscan takes -p.
        let (entry, scan) = match port {
            Some(p) => (format!("'[{host}]:{p}'"), format!("-p {p} {host}")),
            None => (host.to_string(), host.to_string()),
        };
        return format!(
            "ssh does not trust the login host's key: after checking it with the cluster's admins, drop a stale entry with `ssh-keygen -R {entry}` and add the key with `ssh-keyscan {scan} >> ~/.ssh/known_hosts`, or set HOIST_SSH_ACCEPT_NEW=1 to accept a host seen for the first time (a changed key is never accepted)"
        );
    }
    if s.contains("permission denied") {
        let login = target
            .map(SshTarget::display)
            .unwrap_or_else(|| "HOST".into());
        return format!(
            "the login was refused: install your public key on the login host (`ssh-copy-id {login}`), or point SSH_KEY_PATH at the right key, and check SLURM_USER"
        );
    }
    "check `ssh -o BatchMode=yes HOST true` works without a prompt (key in the agent or SSH_KEY_PATH, host key in known_hosts)".into()
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
    use super::{cluster_path, ssh_fix};
    use hoist_ssh::SshTarget;

    #[test]
    fn ssh_failures_say_their_own_fix() {
        let t = SshTarget::parse("me@login1:2222");
        let key = ssh_fix(
            "No ED25519 host key is known for [login1]:2222 and you have requested strict checking.\nHost key verification failed.",
            t.as_ref(),
        );
        assert!(
            key.contains("ssh-keygen -R '[login1]:2222'")
                && key.contains("ssh-keyscan -p 2222 login1 >> ~/.ssh/known_hosts")
                && key.contains("HOIST_SSH_ACCEPT_NEW=1")
                && !key.contains("ssh-copy-id"),
            "{key}"
        );
        let plain = SshTarget::parse("login1");
        assert!(
            ssh_fix("Host key verification failed.", plain.as_ref())
                .contains("ssh-keygen -R login1`")
        );
        let denied = ssh_fix("me@login1: Permission denied (publickey).", t.as_ref());
        assert!(denied.contains("ssh-copy-id me@login1:2222"), "{denied}");
    }

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
