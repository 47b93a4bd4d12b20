//! The local platform: each job is a host process under a detached supervisor
//! ([`supervisor::supervise`]), its output in `$HOIST_HOME/jobs/<id>/output.log` and its exit
//! code in `exit.json`. Status, logs and cancel read and signal through those files, so any
//! later hoist process can re-attach.
#![deny(missing_docs)]

pub mod files;
pub mod settings;
pub mod supervisor;

pub use hoist_sys::proc;
pub use settings::{Descriptor, LocalOptions, LocalSettings};

use async_trait::async_trait;
use files::{Claim, ExitFile, JobDir, LaunchFile};
use futures::StreamExt;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::gpu::{NVIDIA_SMI_QUERY, choose_gpus, parse_nvidia_smi};
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, Command, DryRun, InputError, JobRecord, JobStatus,
    LaunchRecovery, Platform, PlatformError, PreflightCheck, StatusReport, SubmitRequest,
    Submitted,
};
use proc::ProcId;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Host processes on this machine.
#[derive(Debug, Clone)]
pub struct LocalPlatform {
    home: PathBuf,
    supervisor_exe: PathBuf,
    nvidia_smi: String,
    pub(crate) results_root: PathBuf,
}

impl LocalPlatform {
    /// A platform keeping job files under `home/jobs`, starting supervisors with
    /// `supervisor_exe __supervise DIR` (the hoist binary; tests may pass another build).
    pub fn new(home: &Path, supervisor_exe: PathBuf) -> Self {
        let results_root = home.join("results");
        LocalPlatform {
            home: home.to_path_buf(),
            supervisor_exe,
            nvidia_smi: "nvidia-smi".into(),
            results_root,
        }
    }

    /// Use another `nvidia-smi` (a path or a name on PATH).
    pub fn with_nvidia_smi(mut self, program: impl Into<String>) -> Self {
        self.nvidia_smi = program.into();
        self
    }

    fn job_dir(&self, job_id: &str) -> JobDir {
        JobDir(self.home.join("jobs").join(job_id))
    }

    fn results_dir(&self, job_id: &str) -> PathBuf {
        self.results_root.join(job_id)
    }

    /// Resolve the request into what the supervisor runs, plus the env it adds.
    async fn plan(
        &self,
        req: &SubmitRequest,
    ) -> Result<(LaunchFile, BTreeMap<String, String>, String), PlatformError> {
        let spec = &req.spec;
        if spec.nodes > 1 {
            return Err(InputError::new(
                format!(
                    "--nodes {} cannot run on the local platform: it runs on this one host",
                    spec.nodes
                ),
                "use --platform slurm or --platform kubernetes for multi-node jobs",
            )
            .into());
        }
        if let Some(img) = &spec.image {
            return Err(InputError::new(
                format!("--image {img} was given, but the local platform runs host processes, not containers"),
                "add --platform docker to run the image, or drop --image",
            )
            .into());
        }
        if let Some(c) = spec.cpus {
            let have = supervisor::available_cpus();
            if c.ceil() as usize > have {
                return Err(InputError::new(
                    format!("--cpus {c} asks for more CPUs than this host has ({have})"),
                    format!("use --cpus {have} or fewer"),
                )
                .into());
            }
        }
        let mut env = req.env.clone();
        let mut note = String::new();
        if spec.gpus.wants_gpu() {
            let usage = self.gpu_usage().await?;
            let ids = choose_gpus(&spec.gpus, &usage)?;
            let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            note = format!("GPUs {list}");
            env.insert("CUDA_VISIBLE_DEVICES".into(), list.clone());
            env.insert("NVIDIA_VISIBLE_DEVICES".into(), list);
        }
        let results = self.results_dir(&req.job_id);
        env.insert("TAO_JOB_ID".into(), req.job_id.clone());
        env.insert("HOIST_JOB_ID".into(), req.job_id.clone());
        env.insert(
            "TAO_RESULTS_ROOT".into(),
            self.results_root.display().to_string(),
        );
        env.insert("HOIST_RESULTS_DIR".into(), results.display().to_string());
        let mut argv = match &spec.command {
            Command::Argv(a) => a.clone(),
            Command::Shell(s) => vec![
                spec.shell.clone().unwrap_or_else(|| "/bin/sh".into()),
                "-c".into(),
                s.clone(),
            ],
        };
        if req.runner.is_some() {
            // The runner (this same binary) fetches, writes the spec, then runs the command.
            argv = vec![
                self.supervisor_exe.display().to_string(),
                "__run".into(),
                "--plan".into(),
                self.job_dir(&req.job_id)
                    .path()
                    .join("plan.json")
                    .display()
                    .to_string(),
            ];
        }
        let launch = LaunchFile {
            argv,
            cwd: spec.workdir.clone(),
            grace_seconds: spec.options_of::<LocalOptions>("local")?.grace_seconds,
            cpus: spec.cpus,
            memory_bytes: spec.memory_bytes,
        };
        Ok((launch, env, note))
    }

    async fn gpu_usage(&self) -> Result<Vec<hoist_core::gpu::GpuUsage>, PlatformError> {
        let out = tokio::process::Command::new(&self.nvidia_smi)
            .args(NVIDIA_SMI_QUERY)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    PlatformError::Input(InputError::new(
                        format!(
                            "GPUs were asked for, but {} was not found on this host",
                            self.nvidia_smi
                        ),
                        "install the NVIDIA driver (it ships nvidia-smi), or run with --gpus 0",
                    ))
                } else {
                    PlatformError::io(format!("running {}", self.nvidia_smi), e)
                }
            })?;
        if !out.status.success() {
            return Err(PlatformError::Failed {
                message: format!(
                    "{} failed: {}",
                    self.nvidia_smi,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                hint: "check the NVIDIA driver on this host (nvidia-smi must list the GPUs)".into(),
            });
        }
        parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)).map_err(|m| PlatformError::Failed {
            message: m,
            hint: "check the NVIDIA driver on this host".into(),
        })
    }

    fn report(&self, job: &JobRecord) -> StatusReport {
        let jd = self.job_dir(&job.job_id);
        let rep = |status, message: String| StatusReport {
            status,
            message,
            exit_code: None,
            started_at: None,
            finished_at: None,
            retriable: false,
            restarts: None,
        };
        if let Some(e) = jd.exit() {
            return exit_report(&e, jd.state().map(|s| s.started_at));
        }
        match jd.read_claim() {
            None => rep(JobStatus::Pending, "launching".into()),
            Some(Claim::Reconcile) => rep(
                JobStatus::Error,
                "the launch was interrupted before the command started".into(),
            ),
            Some(Claim::Canceled) => rep(JobStatus::Canceled, "canceled before it started".into()),
            Some(Claim::Supervisor(sup)) => match jd.state() {
                Some(st) => {
                    let mut r = rep(JobStatus::Running, String::new());
                    r.started_at = Some(st.started_at);
                    if sup.alive() {
                        return r;
                    }
                    if st.child.alive() {
                        r.message = "the supervisor is gone but the command still runs; its exit code will not be known".into();
                        return r;
                    }
                    settle_lost(
                        &jd,
                        "the supervisor and the command are gone without an exit record (killed, or the host rebooted)",
                        Some(st.started_at),
                    )
                }
                None if sup.alive() => rep(JobStatus::Pending, "starting".into()),
                None => settle_lost(&jd, "the supervisor died before starting the command", None),
            },
        }
    }
}

/// The supervisor is gone: record the job as lost unless its real exit record landed in the
/// meantime (it may have finished between our first look and now), and report what stands.
fn settle_lost(jd: &JobDir, message: &str, started_at: Option<jiff::Timestamp>) -> StatusReport {
    let lost = ExitFile {
        exit_code: None,
        signal: None,
        canceled: false,
        finished_at: jiff::Timestamp::now(),
        message: message.into(),
    };
    let _ = jd.write_exit(&lost);
    exit_report(&jd.exit().unwrap_or(lost), started_at)
}

fn exit_report(e: &ExitFile, started_at: Option<jiff::Timestamp>) -> StatusReport {
    let status = if e.canceled {
        JobStatus::Canceled
    } else if e.exit_code == Some(0) {
        JobStatus::Complete
    } else {
        JobStatus::Error
    };
    StatusReport {
        status,
        message: e.message.clone(),
        exit_code: e.exit_code,
        started_at,
        finished_at: Some(e.finished_at),
        retriable: false,
        restarts: None,
    }
}

#[async_trait]
impl Platform for LocalPlatform {
    fn name(&self) -> &'static str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        settings::INFO.capabilities
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        Ok(format!("local:{}", proc::hostname()))
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
        let (launch, env, note) = self.plan(req).await?;
        let shown: BTreeMap<&String, String> = env
            .iter()
            .map(|(k, v)| {
                (
                    k,
                    if hoist_core::spec::is_secret_name(k) {
                        "<secret>".to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        let doc = json!({
            "platform": "local",
            "argv": launch.argv,
            "cwd": launch.cwd,
            "env": shown,
            "cpus": launch.cpus,
            "memory_bytes": launch.memory_bytes,
            "cancel_grace_seconds": launch.grace_seconds,
            "results_dir": self.results_dir(&req.job_id),
            "note": note,
        });
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| PlatformError::failed(e.to_string(), ""))?;
        Ok(DryRun { text, json: doc })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let (launch, env, note) = self.plan(req).await?;
        let jd = self.job_dir(&req.job_id);
        std::fs::create_dir_all(jd.path())
            .map_err(|e| PlatformError::io(format!("creating {}", jd.path().display()), e))?;
        let results = self.results_dir(&req.job_id);
        std::fs::create_dir_all(&results).map_err(|e| {
            PlatformError::io(
                format!("creating results directory {}", results.display()),
                e,
            )
        })?;
        if let Some(plan) = &req.runner {
            let text = serde_json::to_vec_pretty(plan).map_err(|e| PlatformError::Failed {
                message: format!("cannot encode the runner plan: {e}"),
                hint: String::new(),
            })?;
            std::fs::write(jd.path().join("plan.json"), text)
                .map_err(|e| PlatformError::io("writing plan.json", e))?;
        }
        jd.write_launch(&launch)
            .map_err(|e| PlatformError::io("writing launch.json", e))?;
        let sup_log = std::fs::File::create(jd.path().join("supervisor.log"))
            .map_err(|e| PlatformError::io("creating supervisor.log", e))?;
        let mut cmd = std::process::Command::new(&self.supervisor_exe);
        // Values reach the job only through the environment: never argv, never a file.
        cmd.arg("__supervise")
            .arg(jd.path())
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(sup_log);
        // SAFETY: setsid is async-signal-safe; it detaches the supervisor from the CLI's
        // session and terminal so ^C or a closed terminal never reaches the job.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            PlatformError::io(
                format!("starting the supervisor {}", self.supervisor_exe.display()),
                e,
            )
        })?;
        let sup = ProcId::of(child.id() as i32)
            .map(|p| p.encode())
            .unwrap_or_else(|| child.id().to_string());
        Ok(Submitted {
            backend_job_id: sup,
            backend_identity: self.identity().await?,
            results_location: Some(results.display().to_string()),
            status: JobStatus::Pending,
            message: note,
        })
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let jd = self.job_dir(&job.job_id);
        if !jd.path().exists() {
            return Ok(LaunchRecovery::NotLaunched);
        }
        match jd
            .claim(&Claim::Reconcile)
            .map_err(|e| PlatformError::io("claiming the launch", e))?
        {
            None => Ok(LaunchRecovery::NotLaunched),
            Some(Claim::Supervisor(p)) => Ok(LaunchRecovery::Adopted(Submitted {
                backend_job_id: p.encode(),
                backend_identity: self.identity().await?,
                results_location: Some(self.results_dir(&job.job_id).display().to_string()),
                status: JobStatus::Running,
                message: "adopted after an interrupted submit".into(),
            })),
            Some(Claim::Reconcile) => Ok(LaunchRecovery::NotLaunched),
            Some(Claim::Canceled) => Ok(LaunchRecovery::NotLaunched),
        }
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        jobs.iter().map(|j| Ok(self.report(j))).collect()
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let path = self.job_dir(&job.job_id).log();
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                let start = match tail {
                    Some(n) => tail_offset(&mut f, n)
                        .map_err(|e| PlatformError::io("reading the log", e))?,
                    None => 0,
                };
                let mut buf = Vec::new();
                f.seek(SeekFrom::Start(start))
                    .and_then(|_| f.read_to_end(&mut buf))
                    .map_err(|e| PlatformError::io("reading the log", e))?;
                Ok(String::from_utf8_lossy(&buf).into_owned())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(PlatformError::io(format!("opening {}", path.display()), e)),
        }
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let jd = self.job_dir(&job.job_id);
        let me = self.clone();
        let job = job.clone();
        let start = match std::fs::File::open(jd.log()) {
            Ok(mut f) => match tail {
                Some(n) => {
                    tail_offset(&mut f, n).map_err(|e| PlatformError::io("reading the log", e))?
                }
                None => 0,
            },
            Err(_) => 0,
        };
        struct St {
            offset: u64,
            pending: Vec<u8>,
            done: bool,
        }
        let st = St {
            offset: start,
            pending: Vec::new(),
            done: false,
        };
        let stream = futures::stream::unfold(st, move |mut st| {
            let jd = jd.clone();
            let me = me.clone();
            let job = job.clone();
            async move {
                if st.done {
                    return None;
                }
                loop {
                    // Decide "ended" before reading, so bytes written just before the exit
                    // record are read in this same pass and never lost.
                    let ended = me.report(&job).status.is_terminal();
                    let mut buf = Vec::new();
                    if let Ok(mut f) = std::fs::File::open(jd.log())
                        && f.seek(SeekFrom::Start(st.offset)).is_ok()
                    {
                        let _ = f.read_to_end(&mut buf);
                    }
                    st.offset += buf.len() as u64;
                    st.pending.extend_from_slice(&buf);
                    if ended {
                        st.done = true;
                        let rest = std::mem::take(&mut st.pending);
                        return if rest.is_empty() {
                            None
                        } else {
                            Some((Ok(String::from_utf8_lossy(&rest).into_owned()), st))
                        };
                    }
                    // Hand out whole lines (or progress-bar updates) only, so a multi-byte
                    // character is never split between chunks.
                    if let Some(cut) = st.pending.iter().rposition(|b| *b == b'\n' || *b == b'\r') {
                        let chunk: Vec<u8> = st.pending.drain(..=cut).collect();
                        return Some((Ok(String::from_utf8_lossy(&chunk).into_owned()), st));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        });
        Ok(stream.boxed())
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let jd = self.job_dir(&job.job_id);
        if jd.exit().is_some() {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        if !jd.path().exists() {
            return Ok(CancelOutcome::NotFound);
        }
        let io = |e| PlatformError::io("canceling", e);
        match jd.claim(&Claim::Canceled).map_err(io)? {
            None | Some(Claim::Canceled) | Some(Claim::Reconcile) => {
                // It never started and now never will.
                let _ = jd.write_exit(&ExitFile {
                    exit_code: None,
                    signal: None,
                    canceled: true,
                    finished_at: jiff::Timestamp::now(),
                    message: "canceled before it started".into(),
                });
                Ok(CancelOutcome::Requested)
            }
            Some(Claim::Supervisor(sup)) => {
                jd.mark_cancel().map_err(io)?;
                if sup.alive() {
                    proc::kill(sup.pid, libc::SIGTERM).map_err(io)?;
                    return Ok(CancelOutcome::Requested);
                }
                // No supervisor to escalate: signal the command's group ourselves.
                if let Some(st) = jd.state()
                    && (st.child.alive() || proc::group_exists(st.pgid))
                {
                    proc::kill_group(st.pgid, libc::SIGKILL).map_err(io)?;
                }
                let _ = jd.write_exit(&ExitFile {
                    exit_code: None,
                    signal: Some(libc::SIGKILL),
                    canceled: true,
                    finished_at: jiff::Timestamp::now(),
                    message: "canceled (the supervisor was already gone)".into(),
                });
                Ok(CancelOutcome::Requested)
            }
        }
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let jd = self.job_dir(&job.job_id);
        let exit = jd.exit();
        let mut input = FailureInput {
            status: Some(self.report(job).status),
            exit_code: exit.as_ref().and_then(|e| e.exit_code),
            signal: exit.as_ref().and_then(|e| e.signal),
            log_tail: self.logs(job, Some(200)).await?,
            message: exit.as_ref().map(|e| e.message.clone()).unwrap_or_default(),
            ..Default::default()
        };
        if let Some(e) = &exit
            && e.exit_code.is_none()
            && !e.canceled
        {
            input.findings.push(PlatformFinding {
                err_class: ErrClass::Infra,
                cause: e.message.clone(),
                suggestion: "run the job again; if supervisors keep dying, check the host (OOM killer in dmesg, reboots)".into(),
                retriable: true,
                event: "supervisor_lost".into(),
            });
        }
        if let (Some(limit), Some(137) | Some(9)) = (job.spec.memory_bytes, input.exit_code) {
            input.findings.push(PlatformFinding {
                err_class: ErrClass::Program,
                cause: format!(
                    "the process was killed while limited to {} MiB of memory",
                    limit >> 20
                ),
                suggestion: "raise --memory or reduce the job's memory use".into(),
                retriable: false,
                event: "memory_limit".into(),
            });
        }
        Ok(input)
    }

    async fn check_path(&self, path: &str) -> Result<bool, PlatformError> {
        Ok(local_path(path)?.exists())
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        let p = local_path(path)?;
        if p.is_file() {
            return Ok(vec![p.display().to_string()]);
        }
        let rd = std::fs::read_dir(&p)
            .map_err(|e| PlatformError::io(format!("listing {}", p.display()), e))?;
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path().display().to_string())
            .collect();
        out.sort();
        Ok(out)
    }

    async fn preflight(
        &self,
        req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        let mut checks = Vec::new();
        let check = PreflightCheck::new;
        let sh = Path::new("/bin/sh").exists();
        checks.push(check(
            "shell",
            sh,
            true,
            if sh {
                "/bin/sh present".into()
            } else {
                "/bin/sh missing".into()
            },
            "install a POSIX shell at /bin/sh (shell-string commands need it)",
        ));
        let exe_ok = self.supervisor_exe.exists();
        checks.push(check(
            "supervisor",
            exe_ok,
            true,
            self.supervisor_exe.display().to_string(),
            "reinstall hoist; the supervisor is the hoist binary itself",
        ));
        let results_ok = std::fs::create_dir_all(&self.results_root).is_ok();
        checks.push(check(
            "results root",
            results_ok,
            true,
            self.results_root.display().to_string(),
            "set TAO_RESULTS_ROOT to a writable directory",
        ));
        match self.gpu_usage().await {
            Ok(g) => checks.push(check(
                "gpus",
                !g.is_empty(),
                false,
                format!("{} GPU(s) via {}", g.len(), self.nvidia_smi),
                "install the NVIDIA driver to run GPU jobs; CPU jobs run without it",
            )),
            Err(e) => checks.push(check(
                "gpus",
                false,
                false,
                e.to_string(),
                "install the NVIDIA driver to run GPU jobs (--gpus > 0); CPU jobs run without it",
            )),
        }
        for (name, path) in &req.paths {
            let ok = self.check_path(path).await.unwrap_or(false);
            checks.push(check(
                &format!("path {name}"),
                ok,
                true,
                path.clone(),
                "create the path or fix its name",
            ));
        }
        Ok(checks)
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        let jd = self.job_dir(&job.job_id);
        match std::fs::remove_dir_all(jd.path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PlatformError::io(
                format!("removing {}", jd.path().display()),
                e,
            )),
        }
    }
}

fn local_path(path: &str) -> Result<PathBuf, PlatformError> {
    if let Some(rest) = path.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if let Some((scheme, _)) = path.split_once("://") {
        return Err(InputError::new(
            format!("{path}: the local platform checks local paths, not {scheme}:// URIs"),
            "give a local path or file:///abs/path",
        )
        .into());
    }
    Ok(PathBuf::from(path))
}

/// Byte offset where the last `n` lines start, reading backwards in blocks so a long log is
/// never read whole.
fn tail_offset(f: &mut std::fs::File, n: usize) -> std::io::Result<u64> {
    let len = f.seek(SeekFrom::End(0))?;
    if n == 0 {
        return Ok(len);
    }
    let mut pos = len;
    let mut newlines = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    // A final newline ends the last line rather than starting an empty one.
    let mut skip_last = true;
    while pos > 0 {
        let step = (pos as usize).min(buf.len());
        pos -= step as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..step])?;
        for i in (0..step).rev() {
            if buf[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
        skip_last = false;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tail(content: &str, n: usize) -> String {
        let mut f = tempfile::tempfile().expect("tmp");
        f.write_all(content.as_bytes()).expect("write");
        let off = tail_offset(&mut f, n).expect("tail");
        content[off as usize..].to_string()
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail("a\nb\nc\n", 0), "");
        assert_eq!(tail("", 3), "");
        let big: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&big, 2), "line 99998\nline 99999\n");
    }

    #[test]
    fn paths() {
        assert_eq!(
            local_path("file:///tmp/x").ok(),
            Some(PathBuf::from("/tmp/x"))
        );
        assert!(local_path("s3://bucket/x").is_err());
    }
}
