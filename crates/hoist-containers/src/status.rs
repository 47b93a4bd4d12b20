//! Where container jobs stand: status from the jobs' own containers (never a listing of every
//! container on the daemon when a few jobs are asked about), waking on the daemon's own word
//! that a container stopped, and removing ended jobs' containers once what `logs`, `why` and
//! `show` need is saved.

use crate::{ContainerJobs, container_name};
use bollard::models::ContainerInspectResponse;
use futures::StreamExt;
use hoist_core::{JobRecord, JobStatus, PlatformError, StatusReport};
use hoist_docker_engine::map_state;
use std::collections::HashMap;
use std::time::Duration;

/// Up to this many jobs are inspected one by one (concurrently); more are listed in one call,
/// which then costs as much as every container of this platform on the daemon.
const INSPECT_EACH_UP_TO: usize = 16;

/// Inspect requests in flight at once.
const CONCURRENT_INSPECTS: usize = 16;

impl ContainerJobs {
    /// Every container of this platform (stopped ones too), by job id: its state.
    async fn listed(&self) -> Result<HashMap<String, String>, PlatformError> {
        Ok(self.list(true).await?.into_iter().collect())
    }

    /// Status of `jobs`, in order: each job's container inspected (a few jobs), or one
    /// listing of this platform's containers with the stopped ones inspected (many).
    pub(crate) async fn statuses(
        &self,
        jobs: &[JobRecord],
    ) -> Vec<Result<StatusReport, PlatformError>> {
        if jobs.len() > INSPECT_EACH_UP_TO {
            return self.statuses_listed(jobs).await;
        }
        let each: Vec<_> = jobs.iter().map(|j| self.inspected_status(j)).collect();
        futures::stream::iter(each)
            .buffered(CONCURRENT_INSPECTS)
            .collect()
            .await
    }

    async fn inspected_status(&self, job: &JobRecord) -> Result<StatusReport, PlatformError> {
        let c = self.engine.inspect(&container_name(&job.job_id)).await?;
        self.status_of(job, c).await
    }

    async fn statuses_listed(
        &self,
        jobs: &[JobRecord],
    ) -> Vec<Result<StatusReport, PlatformError>> {
        let live = match self.listed().await {
            Ok(l) => l,
            Err(e) => return each_failed(jobs, &e),
        };
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(match live.get(&job.job_id).map(String::as_str) {
                Some("running") => Ok(running()),
                Some(_) => self.inspected_status(job).await,
                None => Ok(self.gone(job)),
            });
        }
        out
    }

    /// A job's status from its container (`None`: there is none). An ended run is judged
    /// (retriable or not), and removed here when the job asked for `--rm`.
    async fn status_of(
        &self,
        job: &JobRecord,
        c: Option<ContainerInspectResponse>,
    ) -> Result<StatusReport, PlatformError> {
        let Some(c) = c else {
            return Ok(self.gone(job));
        };
        let mut rep = map_state(&c, job.cancel_requested);
        if !rep.status.is_terminal() {
            return Ok(rep);
        }
        self.judge(&c, &mut rep).await;
        // A run that may be retried is kept for the retry to copy; `release` removes it once
        // the job's end is recorded.
        if self.options(job)?.auto_remove && !rep.retriable {
            self.save_and_remove(job, &rep).await?;
        }
        Ok(rep)
    }

    /// Block until the daemon says the job's container stopped, or `max` passes. Only a
    /// running job is waited on this way: a container that was never started is "not
    /// running" already, and would wake the caller at once, again and again.
    pub(crate) async fn wait_change(
        &self,
        job: &JobRecord,
        max: Duration,
    ) -> Result<bool, PlatformError> {
        if job.status != JobStatus::Running {
            return Ok(false);
        }
        self.engine
            .wait_stopped(&container_name(&job.job_id), max)
            .await?;
        Ok(true)
    }

    /// Remove the containers of ended `jobs` (saving each one's output and exit record first,
    /// as `--rm` does, so `logs`, `why` and `show` still answer), in order: whether each had a
    /// container. `dry_run`: only say which have one. One listing of this platform's
    /// containers finds them, whatever the number of jobs.
    pub(crate) async fn collect_ended(
        &self,
        jobs: &[JobRecord],
        dry_run: bool,
    ) -> Vec<Result<bool, PlatformError>> {
        let present = match self.listed().await {
            Ok(l) => l,
            Err(e) => return each_failed(jobs, &e),
        };
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let there = present.get(&job.job_id).map(String::as_str);
            out.push(match there {
                None => Ok(false),
                // Never a live container, whatever the store says: the store may lag.
                Some("running" | "paused" | "restarting") => Ok(false),
                Some(_) if dry_run => Ok(true),
                Some(_) => self
                    .save_and_remove(job, &job.as_report())
                    .await
                    .map(|()| true),
            });
        }
        out
    }
}

fn running() -> StatusReport {
    StatusReport {
        status: JobStatus::Running,
        message: String::new(),
        exit_code: None,
        started_at: None,
        finished_at: None,
        retriable: false,
        restarts: None,
    }
}

/// One listing's failure as every job's answer.
fn each_failed<T>(jobs: &[JobRecord], e: &PlatformError) -> Vec<Result<T, PlatformError>> {
    let err = e.to_string();
    jobs.iter()
        .map(|_| Err(PlatformError::failed(err.clone(), "")))
        .collect()
}
