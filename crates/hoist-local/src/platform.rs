//! `impl Platform for LocalPlatform`: the verbs hoist calls, on top of the launch plan
//! (lib.rs), the job's files (files.rs) and the status read from them (status.rs).

use crate::files::{Claim, ExitFile, tail_offset};
use crate::{LocalPlatform, proc, settings};
use async_trait::async_trait;
use futures::StreamExt;
use hoist_core::failure::{ErrClass, FailureInput, PlatformFinding};
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, Capabilities, DryRun, InputError, JobRecord, JobStatus,
    LaunchRecovery, Platform, PlatformError, PreflightCheck, StatusReport, SubmitRequest,
    Submitted,
};
use proc::ProcId;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Stdio;

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
                    if req.spec.is_secret(k) {
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
        // Its own session: ^C or a closed terminal in the CLI's shell never reaches the job.
        hoist_sys::proc::in_new_session(&mut cmd);
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
        let (log_tail, log_start_line) = crate::files::read_log_tail(
            &jd.log(),
            hoist_core::failure::LOG_TAIL_LINES,
            hoist_core::failure::LOG_TAIL_BYTES,
        )
        .map_err(|e| PlatformError::io("reading the log", e))?;
        let mut input = FailureInput {
            status: Some(self.report(job).status),
            exit_code: exit.as_ref().and_then(|e| e.exit_code),
            signal: exit.as_ref().and_then(|e| e.signal),
            log_tail,
            log_start_line,
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

/// The local file a path or `file://` URI names; other URIs are refused, since this platform
/// can only look at this host's file system.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            local_path("file:///tmp/x").ok(),
            Some(PathBuf::from("/tmp/x"))
        );
        assert!(local_path("s3://bucket/x").is_err());
    }
}
