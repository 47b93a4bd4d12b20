//! Knowing where jobs stand: batched refresh, listing, waiting, watching many jobs, and what
//! `show` and `why` add.

use crate::{Hoist, HoistError, Result};
use futures::stream::BoxStream;
use hoist_core::failure::{FailureAnalysis, analyze};
use hoist_core::{
    Details, JobRecord, JobStatus, JobSummary, LaunchState, Platform, PlatformError, ReportEvent,
    StatusReport,
};
use hoist_store::{ListFilter, StoreError};
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest a platform's watch is waited on before the job is asked about again.
const WATCH_MAX: Duration = Duration::from_secs(30);

/// A change seen by [`Hoist::watch`].
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// The job as it stands after the change.
    pub job: JobRecord,
    /// Its status before (`None` the first time it is seen).
    pub previous: Option<JobStatus>,
}

impl Hoist {
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
        // at submit (the daemon endpoint, the login hosts).
        type Key = (String, Option<String>, String);
        let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
        for (i, j) in jobs.iter().enumerate() {
            if !j.status.is_terminal() && j.launch_state == LaunchState::Launched {
                let pinned = j.pinned.as_ref().map(|p| p.to_string()).unwrap_or_default();
                groups
                    .entry((j.platform.clone(), j.profile.clone(), pinned))
                    .or_default()
                    .push(i);
            }
        }
        let mut jobs = jobs;
        let max_retries = self.max_retries();
        for ((pname, _, _), idx) in groups {
            let platform = self.platform_for(&jobs[idx[0]]);
            let group: Vec<JobRecord> = idx.iter().map(|&i| jobs[i].clone()).collect();
            let reports = match &platform {
                Ok(p) => self.group_reports(p.as_ref(), &pname, &group).await,
                Err(e) => group
                    .iter()
                    .map(|_| Err(PlatformError::failed(e.to_string(), "")))
                    .collect(),
            };
            for (i, rep) in idx.into_iter().zip(reports) {
                let mut rep = rep.unwrap_or_else(|e| StatusReport {
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
                    && jobs[i].retry_count < max_retries
                {
                    // Run it again now: the failure was the infrastructure's, not the program's.
                    if let Ok(p) = &platform {
                        // One retry per failed run, however many processes refresh at once:
                        // the job's retry lock, then the row read again under it.
                        let Some(_retrying) = self.retry_claim(&jobs[i])? else {
                            if let Some(now) = self.store.get(&jobs[i].job_id)? {
                                jobs[i] = now;
                            }
                            continue;
                        };
                        match p.retry(&jobs[i]).await {
                            Ok(Some(sub)) => {
                                jobs[i] =
                                    self.store
                                        .record_retry(&jobs[i].job_id, &rep.message, &sub)?;
                                continue;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                rep.message =
                                    format!("{}; running it again failed: {e}", rep.message);
                            }
                        }
                    }
                }
                // A Canceling job reported live stays Canceling until the backend confirms.
                if jobs[i].status == JobStatus::Canceling && !rep.status.is_terminal() {
                    continue;
                }
                // What the row already says needs no write transaction: a poll of hundreds of
                // unchanged jobs would otherwise take the store's write lock once per job.
                if rep.status == jobs[i].status
                    && rep.message == jobs[i].message
                    && rep.exit_code == jobs[i].exit_code
                {
                    continue;
                }
                let (changed, after) = self.store.apply_report(&jobs[i].job_id, None, &rep)?;
                if changed && after.status != jobs[i].status {
                    self.reporter.report(ReportEvent::Status {
                        job_id: &after.job_id,
                        status: after.status,
                        message: &after.message,
                    });
                }
                if changed
                    && after.status.is_terminal()
                    && let Ok(p) = &platform
                {
                    // This process recorded the end, so it alone gives back what bills.
                    if let Err(e) = p.release(&after).await {
                        self.reporter.report(ReportEvent::Step {
                            key: &after.job_id,
                            message: &format!("could not release the job's resources: {e}"),
                        });
                    }
                }
                jobs[i] = after;
            }
        }
        Ok(jobs)
    }

    /// One platform's answers for a group of its jobs, in order: identity checked first (a
    /// job started on another backend reads as a mismatch), and a backend that does not answer
    /// within the backend timeout yields errors, which the caller records as Unknown.
    async fn group_reports(
        &self,
        platform: &dyn Platform,
        pname: &str,
        jobs: &[JobRecord],
    ) -> Vec<std::result::Result<StatusReport, PlatformError>> {
        let timeout = self.backend_timeout();
        let silent = || PlatformError::Unreachable {
            what: pname.to_string(),
            why: format!("no answer within {} s", timeout.as_secs()),
            hint: String::new(),
        };
        let current = match tokio::time::timeout(timeout, platform.identity()).await {
            Ok(Ok(id)) => id,
            Ok(Err(e)) => {
                // What the backend said stands as said (a deleted machine is "not found");
                // anything else means the backend could not be asked.
                let keep = matches!(
                    e,
                    PlatformError::NotFound { .. } | PlatformError::Unreachable { .. }
                );
                let text = e.to_string();
                let hint = e.hint().unwrap_or_default();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(if keep {
                            PlatformError::failed(text.clone(), hint.clone())
                        } else {
                            PlatformError::Unreachable {
                                what: pname.to_string(),
                                why: text.clone(),
                                hint: String::new(),
                            }
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
        match tokio::time::timeout(timeout, platform.status(&batch)).await {
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
                    Err(PlatformError::failed(
                        "the platform gave no answer for this job",
                        "",
                    ))
                })
            })
            .collect()
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

    /// Block until the job is terminal: the platform's own change notifications where it has
    /// them (Docker's container wait, a Kubernetes watch), else polling with a growing
    /// interval ([`Hoist::poll_bounds`]: 50 ms to 1 s).
    pub async fn wait(&self, arg: &str) -> Result<JobRecord> {
        let (mut delay, max_delay) = self.poll_bounds();
        let mut watcher: Option<Box<dyn Platform>> = None;
        loop {
            let job = self.status(arg).await?;
            if job.status.is_terminal() {
                return Ok(job);
            }
            if job.status == JobStatus::Unknown {
                // An unreachable backend may come back: keep waiting. A different backend at
                // the job's endpoint, or a machine that is gone, never will: say so instead of
                // waiting forever.
                if let Err(
                    e @ HoistError::Platform(
                        PlatformError::IdentityMismatch { .. } | PlatformError::NotFound { .. },
                    ),
                ) = self.checked_platform(&job).await
                {
                    return Err(e);
                }
            }
            if watcher.is_none() {
                watcher = self
                    .platform_for(&job)
                    .ok()
                    .filter(|p| p.capabilities().watch);
            }
            let watched = match &watcher {
                Some(p) => p.watch_change(&job, WATCH_MAX).await.unwrap_or(false),
                None => false,
            };
            if !watched {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(max_delay);
            }
        }
    }

    /// One stream of status changes for a set of jobs (ids, prefixes or names), ending when
    /// every one is terminal: what a workflow engine or a dashboard waits on. Each round asks
    /// every platform once for all its jobs of the set.
    pub fn watch<'a>(&'a self, jobs: &[String]) -> BoxStream<'a, Result<WatchEvent>> {
        struct St {
            ids: Vec<String>,
            seen: BTreeMap<String, JobStatus>,
            queue: Vec<WatchEvent>,
            delay: Duration,
            started: bool,
            live: Vec<JobRecord>,
        }
        let (first, max_delay) = self.poll_bounds();
        let st = St {
            ids: jobs.to_vec(),
            seen: BTreeMap::new(),
            queue: vec![],
            delay: first,
            started: false,
            live: vec![],
        };
        let s = futures::stream::unfold(st, move |mut st| async move {
            loop {
                if let Some(ev) = st.queue.pop() {
                    return Some((Ok(ev), st));
                }
                if st.started && st.seen.values().all(|s| s.is_terminal()) {
                    return None;
                }
                if st.started {
                    self.wait_for_change(&st.live, st.delay).await;
                    st.delay = (st.delay * 2).min(max_delay);
                }
                let mut recs = Vec::with_capacity(st.ids.len());
                for id in &st.ids {
                    match self.resolve(id) {
                        Ok(r) => recs.push(r),
                        Err(e) => return Some((Err(e), St { ids: vec![], ..st })),
                    }
                }
                if !st.started {
                    st.ids = recs.iter().map(|r| r.job_id.clone()).collect();
                    st.started = true;
                }
                let recs = match self.refresh(recs).await {
                    Ok(r) => r,
                    Err(e) => return Some((Err(e), st)),
                };
                st.live = recs
                    .iter()
                    .filter(|j| !j.status.is_terminal())
                    .cloned()
                    .collect();
                for job in recs.into_iter().rev() {
                    let previous = st.seen.insert(job.job_id.clone(), job.status);
                    if previous != Some(job.status) {
                        st.queue.push(WatchEvent { job, previous });
                    }
                }
            }
        });
        Box::pin(s)
    }

    /// Return when one of `jobs` may have changed: at once when a platform that watches
    /// (Docker, Kubernetes) says so, else after `poll` (the jobs of platforms that cannot
    /// watch are polled). What a caller that refreshes many jobs in rounds (a workflow
    /// driver) sleeps on between rounds.
    pub async fn wait_for_change(&self, jobs: &[JobRecord], poll: Duration) {
        type Key = (String, Option<String>, String);
        let mut groups: BTreeMap<Key, Vec<&JobRecord>> = BTreeMap::new();
        for j in jobs {
            if !j.status.is_terminal() && j.launch_state == LaunchState::Launched {
                let pinned = j.pinned.as_ref().map(|p| p.to_string()).unwrap_or_default();
                groups
                    .entry((j.platform.clone(), j.profile.clone(), pinned))
                    .or_default()
                    .push(j);
            }
        }
        let mut polled = false;
        let mut watching: Vec<(Box<dyn Platform>, Vec<&JobRecord>)> = Vec::new();
        for (_, group) in groups {
            match self.platform_for(group[0]) {
                Ok(p) if p.capabilities().watch => watching.push((p, group)),
                _ => polled = true,
            }
        }
        let mut wakes: Vec<futures::future::BoxFuture<'_, ()>> = Vec::new();
        for (p, group) in &watching {
            for &j in group {
                wakes.push(Box::pin(async move {
                    // A job this platform cannot watch now (not started yet) is polled.
                    if !p.watch_change(j, WATCH_MAX).await.unwrap_or(false) {
                        tokio::time::sleep(poll).await;
                    }
                }));
            }
        }
        if polled || wakes.is_empty() {
            wakes.push(Box::pin(tokio::time::sleep(poll)));
        }
        futures::future::select_all(wakes).await;
    }

    /// The first and the longest pause between two polls of a platform that cannot watch:
    /// `HOIST_POLL_MIN_MS` (default 50) doubling up to `HOIST_POLL_MAX_MS` (default 1000).
    pub fn poll_bounds(&self) -> (Duration, Duration) {
        let ms = |key: &str, default: u64| {
            self.env
                .get(key)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        let max = ms("HOIST_POLL_MAX_MS", 1000);
        let first = ms("HOIST_POLL_MIN_MS", 50).min(max);
        (Duration::from_millis(first), Duration::from_millis(max))
    }

    /// What the job's platform adds for `hoist show` (Kubernetes: its replicas); `None` when
    /// it adds nothing or cannot be asked now.
    pub async fn details(&self, job: &JobRecord) -> Option<Details> {
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

    /// How long a status refresh waits for one backend (`HOIST_BACKEND_TIMEOUT` seconds,
    /// default 30).
    pub(crate) fn backend_timeout(&self) -> Duration {
        Duration::from_secs(
            self.env
                .get("HOIST_BACKEND_TIMEOUT")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(30),
        )
    }

    /// The right to retry this failed run: the job's retry lock, held while the platform runs
    /// it again and the store records it, and only while the row still shows the run that
    /// failed. `None`: another process holds it, or has already retried this run.
    fn retry_claim(&self, job: &JobRecord) -> Result<Option<hoist_sys::lock::FileLock>> {
        let dir = self.home().join("jobs").join(&job.job_id);
        let lock = std::fs::create_dir_all(&dir)
            .and_then(|_| hoist_sys::lock::FileLock::try_acquire(&dir.join("retry.lock")))
            .map_err(|e| {
                HoistError::Platform(PlatformError::io(
                    format!("taking the retry lock of job {}", job.short_id()),
                    e,
                ))
            })?;
        let Some(lock) = lock else { return Ok(None) };
        let same_run = self.store.get(&job.job_id)?.is_some_and(|now| {
            now.retry_count == job.retry_count
                && now.backend_job_id == job.backend_job_id
                && !now.status.is_terminal()
        });
        Ok(same_run.then_some(lock))
    }

    /// How many times an infrastructure failure is retried (`HOIST_MAX_RETRIES`, default 10).
    pub fn max_retries(&self) -> u32 {
        self.env
            .get("HOIST_MAX_RETRIES")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(10)
    }
}
