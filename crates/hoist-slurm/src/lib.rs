//! The SLURM platform: jobs staged on the cluster's shared filesystem and submitted with
//! sbatch on a login node reached over ssh ([`hoist_ssh`]: one shared ControlMaster per host,
//! failover across `SLURM_HOSTNAME`'s list for everything but sbatch).
//!
//! Layout under the base directory (`SLURM_BASE_RESULTS_DIR`, default `~/hoist` on the
//! cluster): `jobs/<id>/{job.sbatch,entrypoint.sh,env}` (env is mode 0600 and the only place
//! secret values exist), `jobs/<id>/slurm-logs/hoist-<id>-<slurm id>/main.{out,err}`, and
//! `results/` (TAO_RESULTS_ROOT).
#![deny(missing_docs)]

mod batch;
mod cluster;
pub mod flags;
mod gc;
mod logs;
pub mod pending;
mod preflight;
mod queue;
pub mod script;
pub mod settings;
pub mod state;

pub use cluster::cluster_path;

/// The crate's private readers of remote output, for the fuzz targets
/// (`crates/hoist-fuzz-targets`) only: not an interface.
#[doc(hidden)]
pub mod fuzzing {
    /// `sinfo -o %G`'s GPU types.
    pub fn gres_types(sinfo: &str) -> Vec<String> {
        crate::cluster::gres_types(sinfo)
    }
    /// Regular files in a tar stream from the cluster.
    pub fn tar_members(tar: &[u8]) -> usize {
        crate::cluster::tar_members(tar)
    }
    /// squeue/sacct `NAME|ID` lines → hoist job id → SLURM id.
    pub fn names_to_ids(text: &str) -> std::collections::HashMap<String, String> {
        crate::batch::names_to_ids(text)
    }
}
pub use settings::{Descriptor, Pinned, SlurmOptions, SlurmSettings};

use async_trait::async_trait;
use cluster::{ClusterInfo, tar_members};
use futures::StreamExt;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::spec::sh_quote;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, DryRun, InputError, JobRecord, JobStatus,
    LaunchRecovery, Platform, PlatformError, PreflightCheck, StatusReport, SubmitRequest,
    Submitted,
};
use hoist_ssh::{Failover, Hosts, SshOptions, SshTarget};
use std::path::Path;
use tokio::sync::OnceCell;

/// Jobs on one SLURM cluster.
pub struct SlurmPlatform {
    settings: SlurmSettings,
    hosts: Hosts,
    cluster: OnceCell<ClusterInfo>,
    cache_dir: std::path::PathBuf,
    /// `$HOIST_HOME/jobs`: what `gc` saved of jobs whose folders it removed.
    saved_dir: std::path::PathBuf,
    /// Where registry logins are read (the library's environment).
    env: hoist_core::SharedEnv,
}

impl SlurmPlatform {
    /// The identity of this login on cluster `name`.
    pub(crate) fn identity_of(&self, name: &str) -> String {
        format!("slurm:{name}@{}", self.login_user())
    }

    /// The user hoist logs in as (the first login host's).
    pub(crate) fn login_user(&self) -> String {
        self.hosts
            .targets
            .first()
            .and_then(|t| t.user.clone())
            .unwrap_or_default()
    }

    /// Read registry logins from `env` instead of this process's environment.
    pub fn with_env(mut self, env: hoist_core::SharedEnv) -> Self {
        self.env = env;
        self
    }

    /// Configure; contacts nothing. Missing login settings are an input error with the fix.
    pub fn new(home: &Path, settings: SlurmSettings) -> Result<Self, PlatformError> {
        if settings.hosts().is_empty() {
            return Err(InputError::new("no SLURM login host is configured", "export SLURM_HOSTNAME=login1[,login2] and SLURM_USER, or set hosts in a slurm profile").into());
        }
        let mut targets = Vec::new();
        for h in settings.hosts() {
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
        options.accept_new = settings.accept_new_host_keys.unwrap_or(false);
        Ok(SlurmPlatform {
            settings,
            hosts: Hosts { targets, options },
            cluster: OnceCell::new(),
            cache_dir: home.join("cache"),
            saved_dir: home.join("jobs"),
            env: std::sync::Arc::new(hoist_core::ProcessEnv),
        })
    }
}

#[async_trait]
impl Platform for SlurmPlatform {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn capabilities(&self) -> Capabilities {
        settings::INFO.capabilities
    }

    fn pin(&self) -> Option<serde_json::Value> {
        serde_json::to_value(Pinned {
            hosts: Some(self.settings.hosts().to_vec()),
            user: self.settings.user.clone(),
        })
        .ok()
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        let cluster = &self.cluster().await?.name;
        Ok(self.identity_of(cluster))
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
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
        // Shown as the model: the cluster's GRES spelling needs the cluster.
        s.gres_type = req.spec.gpu_type.as_ref().map(|m| m.to_ascii_lowercase());
        let mut r = script::render(
            req,
            &dir,
            &format!("{base}/results"),
            &self.settings.conversion(),
            &s,
        )?;
        let netrc = script::enroot::credentials(req, &*self.env, true)?;
        if netrc.is_some() {
            script::enroot::use_config(&mut r, &dir);
        }
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
        let env = script::shown_env(req);
        let creds = netrc
            .as_ref()
            .map(|n| {
                format!(
                    "\n# {} (mode 0600, after the user's own)\n{n}",
                    script::enroot::config_dir(&dir) + "/.credentials"
                )
            })
            .unwrap_or_default();
        let text = format!(
            "{conversion}# {dir}/job.sbatch\n{}\n# {dir}/entrypoint.sh\n{}\n# {dir}/env (mode 0600)\n{}{creds}",
            r.sbatch, r.entrypoint, env
        );
        let mut json = serde_json::json!({
            "dir": dir,
            "job.sbatch": r.sbatch,
            "entrypoint.sh": r.entrypoint,
            "env": env,
        });
        if let Some(c) = &r.conversion {
            json["convert.sbatch"] = c.sbatch.clone().into();
            json["sqsh"] = c.sqsh.clone().into();
        }
        Ok(DryRun { text, json })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        self.submit_many(std::slice::from_ref(req))
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(PlatformError::failed(
                    "the submit gave no answer",
                    "report this; hoist ls shows whether the job was submitted",
                ))
            })
    }

    /// Every job in one ssh round trip (see `batch.rs`).
    async fn submit_batch(&self, reqs: &[SubmitRequest]) -> Vec<Result<Submitted, PlatformError>> {
        self.submit_many(reqs).await
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

    async fn remove_unlaunched(&self, job: &JobRecord) -> Result<bool, PlatformError> {
        // An sbatch still in flight when its launcher died can queue the job after the fence:
        // find it by its unique name and cancel it, in one round trip.
        let n = sh_quote(&script::job_name(&job.job_id));
        let out = self
            .run(&format!(
                "ids=$(squeue -h -u \"$(id -un)\" --name={n} -o %i) || exit 3; [ -z \"$ids\" ] || scancel $ids || exit 4; echo $ids"
            ))
            .await?;
        if out.code != 0 {
            return Err(PlatformError::Failed {
                message: format!(
                    "could not cancel what the fenced launch of {} queued: {}",
                    job.job_id,
                    out.stderr.trim()
                ),
                hint: format!(
                    "check squeue --name={} on the login node; hoist tries again on its next command",
                    script::job_name(&job.job_id)
                ),
            });
        }
        Ok(!out.stdout.trim().is_empty())
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
                    // The short form of why it waits, so status and ls say it in words.
                    JobStatus::Pending if !e.reason.is_empty() && e.reason != "None" => format!(
                        "{} ({})",
                        e.state,
                        hoist_core::pending::slurm(&e.reason, "").short()
                    ),
                    JobStatus::Error => format!(
                        "{}{}",
                        e.state,
                        e.exit_code
                            .map(|c| format!(", exit {c}"))
                            .unwrap_or_default()
                    ),
                    _ => e.state.clone(),
                };
                let exit_code = match (status, e.exit_code, e.signal) {
                    // Cancelled (by hoist, scancel or an administrator): SLURM's `0:0` or
                    // `0:15` is no exit of the program's, so there is none to report.
                    (JobStatus::Canceled, _, _) => None,
                    (_, _, Some(s)) => Some(128 + s),
                    (_, c, None) => c,
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
        if let Some(saved) = self.saved_logs(job, tail) {
            return Ok(saved);
        }
        self.remote_logs(job, tail).await
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        if let Some(saved) = self.saved_logs(job, tail) {
            return Ok(futures::stream::once(async move { Ok(saved) }).boxed());
        }
        self.follow(job, tail).await
    }

    async fn collect(&self, jobs: &[JobRecord], dry_run: bool) -> Vec<Result<bool, PlatformError>> {
        self.collect_ended(jobs, dry_run).await
    }

    fn retention(&self) -> Option<std::time::Duration> {
        self.settings.retention()
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
                &format!(
                    "umask 077 && cd {} && sbatch --parsable job.sbatch",
                    sh_quote(&dir)
                ),
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
        // One round trip: the queue, scancel and the controller's record after it.
        Ok(match self.scancel(&id).await? {
            queue::CancelAnswer::Requested => CancelOutcome::Requested,
            queue::CancelAnswer::AlreadyFinished => CancelOutcome::AlreadyFinished,
            queue::CancelAnswer::NotFound => CancelOutcome::NotFound,
        })
    }

    async fn pending_analysis(
        &self,
        job: &JobRecord,
    ) -> Result<Option<hoist_core::PendingAnalysis>, PlatformError> {
        self.pending(job).await
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

    fn ships_files(&self) -> bool {
        true
    }

    async fn ship(
        &self,
        job_id: &str,
        name: &str,
        tar: Vec<u8>,
    ) -> Result<Option<String>, PlatformError> {
        self.ship_tar(job_id, name, tar).await.map(Some)
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

    async fn preflight(
        &self,
        req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        Ok(self.preflight_checks(req).await)
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        if let Some(base) = Self::pinned_base(job) {
            let dir = Self::job_dir(&base, &job.job_id);
            self.run(&format!("rm -rf -- {}", sh_quote(&dir))).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::settings::SettingsMap;
    use hoist_core::{BuildContext, Command, JobSpec, MapEnv, PlatformDescriptor, Silent};
    use serde_json::json;
    use std::sync::Arc;

    fn ctx() -> BuildContext {
        BuildContext {
            home: "/nonexistent/hoist-home".into(),
            exe: "/bin/true".into(),
            env: Arc::new(MapEnv::default()),
            reporter: Arc::new(Silent),
        }
    }

    fn map(v: serde_json::Value) -> SettingsMap {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn build_needs_a_host_and_pins_what_it_used() {
        let e = Descriptor
            .build(&ctx(), &SettingsMap::new(), None)
            .err()
            .expect("no host");
        assert!(e.to_string().contains("no SLURM login host is configured"));
        let settings = map(json!({"hosts": ["now1"], "user": "me"}));
        let old = json!({"hosts": ["then1", "then2"], "user": null, "container": "enroot"});
        let p = Descriptor
            .build(&ctx(), &settings, Some(&old))
            .expect("pinned");
        assert_eq!(
            p.pin(),
            Some(json!({"hosts": ["then1", "then2"], "user": "me"}))
        );
        assert!(!Descriptor.readiness(&ctx(), &SettingsMap::new()).configured);
        assert!(Descriptor.readiness(&ctx(), &settings).configured);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dry_run_shows_the_staged_files() {
        let s = SlurmSettings::from_map(&map(json!({"hosts": ["h"], "base_dir": "/b"})))
            .expect("settings");
        let p = SlurmPlatform::new(Path::new("/nonexistent"), s).expect("platform");
        let mut spec = JobSpec::new(Command::Shell("true".into()));
        spec.image = Some("nvcr.io/nvidia/x:1".into());
        spec.platform_options
            .insert("slurm".into(), json!({"container": "enroot"}));
        let req = SubmitRequest {
            job_id: "j1".into(),
            launch_token: "t".into(),
            spec,
            env: [("HF_TOKEN".to_string(), "s3cret".to_string())].into(),
            runner: None,
            runner_binary: None,
        };
        let d = p.dry_run(&req).await.expect("dry run");
        assert!(d.text.contains("# /b/jobs/j1/job.sbatch") && !d.text.contains("s3cret"));
        assert_eq!(d.json["dir"], "/b/jobs/j1");
        for k in ["job.sbatch", "entrypoint.sh", "env", "convert.sbatch"] {
            assert!(d.json[k].is_string(), "{k}: {}", d.json);
        }
        assert!(
            d.json["env"]
                .as_str()
                .is_some_and(|e| e.contains("HF_TOKEN=<secret>"))
        );
    }
}
