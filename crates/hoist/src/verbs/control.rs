//! Acting on one job: its output, cancel, removal, and settling launches a crash left open.

use crate::{Hoist, HoistError, Result};
use futures::StreamExt;
use hoist_core::{
    BoxLogStream, CancelOutcome, InputError, JobRecord, LaunchRecovery, LaunchState, Platform,
    PlatformError, ReportEvent,
};
use hoist_sys::proc::{ProcId, hostname};

impl Hoist {
    /// The job's platform, refusing when the backend there is not the one the job was
    /// started on.
    pub(crate) async fn checked_platform(&self, job: &JobRecord) -> Result<Box<dyn Platform>> {
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

    /// Cancel a job. Idempotent: a finished job keeps its result.
    pub async fn cancel(&self, arg: &str) -> Result<(JobRecord, CancelOutcome)> {
        let job = self.status(arg).await?;
        if job.status.is_terminal() {
            return Ok((job, CancelOutcome::AlreadyFinished));
        }
        let platform = self.checked_platform(&job).await?;
        // The platform sees the record as it stands now: Canceling, with the request noted.
        let job = self.store.request_cancel(&job.job_id)?;
        let outcome = platform.cancel(&job).await?;
        let after = self.status(&job.job_id).await?;
        Ok((after, outcome))
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
        if job.launch_state == LaunchState::Launched {
            if let Ok(p) = self.checked_platform(&job).await {
                match p.remove(&job).await {
                    Ok(()) | Err(PlatformError::Unsupported { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        } else {
            // Never launched as far as the store knows, but a create sent by a launcher that
            // died may have landed (or still land): remove it by the job's name, and keep
            // sweeping for it after the row is gone. A backend that cannot answer now does not
            // keep the row: the later sweeps ask it again.
            self.note_fenced(&job);
            let removed = match self.platform_for(&job) {
                Ok(p) => p.remove_unlaunched(&job).await.map_err(HoistError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = removed {
                self.reporter.report(ReportEvent::Step {
                    key: &job.job_id,
                    message: &format!(
                        "could not check the backend for leftovers of {} ({e}); later hoist commands try again",
                        job.short_id()
                    ),
                });
            }
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
            // One backend that cannot answer must not keep every other launch unsettled (or
            // every command failing): its rows wait for the next command.
            let platform = self.platform_for(&job);
            let recovery = match &platform {
                Ok(p) => p.recover_launch(&job).await.map_err(HoistError::from),
                Err(e) => Err(HoistError::Platform(PlatformError::failed(
                    e.to_string(),
                    "",
                ))),
            };
            let recovery = match recovery {
                Ok(r) => r,
                Err(e) => {
                    self.reporter.report(ReportEvent::Step {
                        key: &job.job_id,
                        message: &format!(
                            "cannot settle the interrupted submit of {} yet: {e}",
                            job.short_id()
                        ),
                    });
                    continue;
                }
            };
            match recovery {
                // Several processes may settle the same row at once: only the one whose
                // write closed the fence reports it.
                LaunchRecovery::Adopted(sub) => {
                    if self
                        .store
                        .mark_launched(&job.job_id, &job.launch_token, &sub)?
                    {
                        if let Ok(p) = &platform {
                            self.repin(p.as_ref(), &job)?;
                        }
                        out.push((job, "adopted"));
                    } else if self.fenced_off(&job.job_id)? {
                        // Another reconciler looked before the create landed and fenced the
                        // row: what this one found (and may have started) must go.
                        self.note_fenced(&job);
                    }
                }
                LaunchRecovery::NotLaunched => {
                    // Noted before the fence closes: a create still in flight lands later,
                    // and only the sweep below (on this and later commands) removes it.
                    self.note_fenced(&job);
                    if self.store.mark_abandoned(&job.job_id, &job.launch_token, "the submitting hoist process died before the job was launched; nothing runs")? {
                        out.push((job, "abandoned"));
                    }
                }
                LaunchRecovery::InProgress => {}
            }
        }
        for job in self.sweep_fenced().await {
            out.push((
                job,
                "removed what its interrupted submit left on the backend",
            ));
        }
        Ok(out)
    }

    /// Whether a job's launch was fenced off (abandoned), or its row is gone.
    fn fenced_off(&self, job_id: &str) -> Result<bool> {
        Ok(self
            .store
            .get(job_id)?
            .is_none_or(|j| j.launch_state == LaunchState::Abandoned))
    }
}

/// `host/pid:start` of this process.
pub(crate) fn launcher_id() -> String {
    let me = ProcId::current().map(|p| p.encode()).unwrap_or_default();
    format!("{}/{me}", hostname())
}

/// Whether the process that wrote a launch row is still alive (on this host). A launcher on
/// another host is presumed alive: only it can settle its launch safely.
fn launcher_alive(launcher: Option<&str>) -> bool {
    let Some((host, pid)) = launcher.and_then(|l| l.split_once('/')) else {
        return false;
    };
    if host != hostname() {
        return true;
    }
    ProcId::decode(pid).is_some_and(|p| p.alive())
}
