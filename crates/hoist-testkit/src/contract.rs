//! What every platform must honour, as one async check to run against each of them:
//! [`platform_contract`].
//!
//! The contract is about the trait, not a backend: it submits the jobs the caller prepared
//! (one that prints known output and exits 0, one that exits 3, optionally one that runs until
//! canceled), then checks identities, batched status order, terminal states, logs, cancel
//! idempotence, launch recovery, dry runs and pinning. Failures panic with what was expected
//! and what the platform said.

use hoist_core::{
    CancelOutcome, Command, JobRecord, JobSpec, JobStatus, LaunchRecovery, LaunchState, Platform,
    PlatformError, StatusReport, SubmitRequest, Submitted,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Builds a platform from a pinned value alone (the settings of a later shell that points
/// elsewhere), as the facade does for an existing job.
pub type Rebuild =
    Box<dyn Fn(Option<&Value>) -> Result<Box<dyn Platform>, PlatformError> + Send + Sync>;

/// The jobs and knobs the contract runs with. Each platform prepares requests its backend can
/// run (an image for containers, a partition for SLURM); ids must be unique per run.
pub struct ContractJobs {
    /// Prints [`ContractJobs::output`] and exits 0.
    pub succeeds: SubmitRequest,
    /// A line `succeeds` prints (the logs must contain it).
    pub output: String,
    /// Exits with code 3.
    pub exits_3: SubmitRequest,
    /// Runs until canceled (bounded, e.g. `sleep 300`, so a failed run leaks nothing long);
    /// `None` skips the live-cancel checks.
    pub runs_until_canceled: Option<SubmitRequest>,
    /// How long a job may take to reach the state the contract waits for (queues, pulls)
    /// before the contract fails.
    pub deadline: Duration,
    /// Rebuilds the platform from its pin; `None` checks only that the pin survives JSON.
    pub rebuild: Option<Rebuild>,
    /// Remove the finished jobs' backend objects at the end (`Platform::remove`).
    pub clean_up: bool,
}

/// A job id no other run uses: `PREFIX-PID-N-NANOS`, lowercase letters, digits and dashes
/// (valid as a container name, a SLURM job name and a Kubernetes label).
pub fn unique_id(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A request for `command` as job `job_id`, with a fresh launch token and nothing staged.
pub fn request(job_id: &str, command: Command) -> SubmitRequest {
    SubmitRequest {
        job_id: job_id.to_string(),
        launch_token: format!("{job_id}-token"),
        spec: JobSpec::new(command),
        env: BTreeMap::new(),
        runner: None,
        runner_binary: None,
    }
}

/// A shell-string request (`/bin/sh -c TEXT`).
pub fn shell(job_id: &str, text: &str) -> SubmitRequest {
    request(job_id, Command::Shell(text.to_string()))
}

/// The store's record of a submitted job, as the facade would have it after the launch.
pub fn record(platform: &dyn Platform, req: &SubmitRequest, sub: &Submitted) -> JobRecord {
    let mut j = unlaunched(platform, req);
    j.backend_job_id = Some(sub.backend_job_id.clone());
    j.backend_identity = Some(sub.backend_identity.clone());
    j.results_location = sub.results_location.clone();
    j.launch_state = LaunchState::Launched;
    j.pinned = platform.pin();
    j
}

/// The record of a launch the platform has not confirmed (fence open).
pub fn unlaunched(platform: &dyn Platform, req: &SubmitRequest) -> JobRecord {
    JobRecord::pending(
        req.job_id.clone(),
        platform.name().to_string(),
        req.spec.clone(),
        req.launch_token.clone(),
    )
}

/// Ask for one job's status until `done` holds, failing at the deadline with the last answer.
pub async fn wait_for(
    p: &dyn Platform,
    job: &JobRecord,
    deadline: Duration,
    what: &str,
    done: impl Fn(&StatusReport) -> bool,
) -> StatusReport {
    let start = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let mut answers = p.status(std::slice::from_ref(job)).await;
        assert_eq!(
            answers.len(),
            1,
            "{}: status of 1 job answered {} results",
            p.name(),
            answers.len()
        );
        let last = match answers.pop() {
            Some(Ok(r)) if done(&r) => return r,
            Some(Ok(r)) => format!("{r:?}"),
            Some(Err(e)) => format!("error: {e}"),
            None => String::new(),
        };
        assert!(
            start.elapsed() < deadline,
            "{}: job {} never became {what} within {:?}; last answer: {last}",
            p.name(),
            job.job_id,
            deadline
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

fn not_adopted(p: &dyn Platform, what: &str, r: Result<LaunchRecovery, PlatformError>) {
    match r {
        Ok(LaunchRecovery::Adopted(s)) => panic!(
            "{}: recover_launch adopted {what} as backend job {}; only a launch the backend really got may be adopted",
            p.name(),
            s.backend_job_id
        ),
        Ok(_) => {}
        Err(e) => panic!("{}: recover_launch of {what} failed: {e}", p.name()),
    }
}

/// Check `p` against the platform contract with `jobs`. Panics, naming the broken rule.
pub async fn platform_contract(p: &dyn Platform, jobs: &ContractJobs) {
    let name = p.name();

    // Identity: stable, and what submit records.
    let identity = p.identity().await.unwrap_or_else(|e| {
        panic!("{name}: identity() failed: {e}");
    });
    assert!(!identity.is_empty(), "{name}: identity() is empty");
    let again = p
        .identity()
        .await
        .unwrap_or_else(|e| panic!("{name}: second identity() failed: {e}"));
    assert_eq!(again, identity, "{name}: identity() changed between calls");

    // Status of nothing is nothing.
    assert!(
        p.status(&[]).await.is_empty(),
        "{name}: status of no jobs must answer no results"
    );

    // A dry run shows something and launches nothing.
    let mut dry = jobs.succeeds.clone();
    dry.job_id = format!("{}-dry", jobs.succeeds.job_id);
    dry.launch_token = format!("{}-dry-token", jobs.succeeds.job_id);
    let shown = p
        .dry_run(&dry)
        .await
        .unwrap_or_else(|e| panic!("{name}: dry_run failed: {e}"));
    assert!(
        !shown.text.trim().is_empty(),
        "{name}: dry_run returned no text"
    );
    not_adopted(
        p,
        "a job that was only dry-run",
        p.recover_launch(&unlaunched(p, &dry)).await,
    );

    // A launch token nothing ever used is never adopted.
    let never = {
        let mut r = jobs.succeeds.clone();
        r.job_id = format!("{}-never", jobs.succeeds.job_id);
        r.launch_token = "a-token-no-launch-ever-used".into();
        r
    };
    not_adopted(
        p,
        "a job with an unknown launch token",
        p.recover_launch(&unlaunched(p, &never)).await,
    );

    // Submit: a backend id, and the identity the platform reports.
    let ok_sub = p
        .submit(&jobs.succeeds)
        .await
        .unwrap_or_else(|e| panic!("{name}: submit of the succeeding job failed: {e}"));
    let fail_sub = p
        .submit(&jobs.exits_3)
        .await
        .unwrap_or_else(|e| panic!("{name}: submit of the failing job failed: {e}"));
    for (what, s) in [("succeeding", &ok_sub), ("failing", &fail_sub)] {
        assert!(
            !s.backend_job_id.trim().is_empty(),
            "{name}: submit of the {what} job returned no backend id"
        );
        assert_eq!(
            s.backend_identity, identity,
            "{name}: submit recorded another identity than identity() reports"
        );
    }
    let ok = record(p, &jobs.succeeds, &ok_sub);
    let fail = record(p, &jobs.exits_3, &fail_sub);

    // Terminal states, with the exit code.
    let done = wait_for(p, &ok, jobs.deadline, "terminal", |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(
        done.status,
        JobStatus::Complete,
        "{name}: the succeeding job ended {:?}: {}",
        done.status,
        done.message
    );
    assert!(
        done.exit_code.is_none_or(|c| c == 0),
        "{name}: a Complete job reported exit code {:?}",
        done.exit_code
    );
    let failed = wait_for(p, &fail, jobs.deadline, "terminal", |r| {
        r.status.is_terminal()
    })
    .await;
    assert_eq!(
        (failed.status, failed.exit_code),
        (JobStatus::Error, Some(3)),
        "{name}: the job that exits 3 must end Error with exit code 3 (message: {})",
        failed.message
    );

    // N jobs in, N answers out, in order.
    let batch = p
        .status(&[ok.clone(), fail.clone(), ok.clone()])
        .await
        .into_iter()
        .map(|r| {
            r.map(|r| (r.status, r.exit_code))
                .map_err(|e| e.to_string())
        })
        .collect::<Vec<_>>();
    assert_eq!(
        batch.len(),
        3,
        "{name}: status of 3 jobs answered {} results",
        batch.len()
    );
    let complete = batch[0].clone();
    assert!(
        matches!(&complete, Ok((JobStatus::Complete, _))),
        "{name}: batched status lost the order: {batch:?}"
    );
    assert_eq!(
        batch,
        vec![complete.clone(), Ok((JobStatus::Error, Some(3))), complete],
        "{name}: batched status lost the order"
    );

    // Logs hold the output, whole and tailed.
    let text = p
        .logs(&ok, None)
        .await
        .unwrap_or_else(|e| panic!("{name}: logs failed: {e}"));
    assert!(
        text.contains(&jobs.output),
        "{name}: logs do not contain {:?}: {text:?}",
        jobs.output
    );
    let tail = p
        .logs(&ok, Some(5))
        .await
        .unwrap_or_else(|e| panic!("{name}: logs with a tail failed: {e}"));
    assert!(
        tail.contains(&jobs.output),
        "{name}: the last 5 lines do not contain {:?}: {tail:?}",
        jobs.output
    );

    // What the backend knows of the failure agrees with the status.
    match p.failure_input(&fail).await {
        Ok(input) => assert!(
            input.exit_code.is_none_or(|c| c == 3),
            "{name}: failure_input says exit code {:?} for a job that exited 3",
            input.exit_code
        ),
        Err(e) => panic!("{name}: failure_input of a failed job failed: {e}"),
    }

    // Cancel of a finished job changes nothing.
    for (job, want) in [(&ok, JobStatus::Complete), (&fail, JobStatus::Error)] {
        let out = p
            .cancel(job)
            .await
            .unwrap_or_else(|e| panic!("{name}: cancel of a finished job failed: {e}"));
        assert_eq!(
            out,
            CancelOutcome::AlreadyFinished,
            "{name}: cancel of a {want} job"
        );
        let after = wait_for(p, job, jobs.deadline, "answered", |_| true).await;
        assert_eq!(
            after.status, want,
            "{name}: cancel of a finished job changed its status"
        );
    }

    // Cancel of a live job: requested, idempotent, and it ends Canceled.
    if let Some(req) = &jobs.runs_until_canceled {
        let sub = p
            .submit(req)
            .await
            .unwrap_or_else(|e| panic!("{name}: submit of the long job failed: {e}"));
        let mut live = record(p, req, &sub);
        wait_for(p, &live, jobs.deadline, "Running", |r| {
            r.status == JobStatus::Running
        })
        .await;
        // The facade records the request before asking the backend.
        live.cancel_requested = true;
        live.status = JobStatus::Canceling;
        let first = p
            .cancel(&live)
            .await
            .unwrap_or_else(|e| panic!("{name}: cancel of a running job failed: {e}"));
        assert_eq!(
            first,
            CancelOutcome::Requested,
            "{name}: cancel of a running job"
        );
        let second = p
            .cancel(&live)
            .await
            .unwrap_or_else(|e| panic!("{name}: a second cancel failed: {e}"));
        assert_ne!(
            second,
            CancelOutcome::NotFound,
            "{name}: a second cancel lost the job"
        );
        let end = wait_for(p, &live, jobs.deadline, "terminal", |r| {
            r.status.is_terminal()
        })
        .await;
        assert_eq!(
            end.status,
            JobStatus::Canceled,
            "{name}: a canceled job ended {:?}: {}",
            end.status,
            end.message
        );
        let late = p
            .cancel(&live)
            .await
            .unwrap_or_else(|e| panic!("{name}: cancel of a canceled job failed: {e}"));
        assert_eq!(
            late,
            CancelOutcome::AlreadyFinished,
            "{name}: cancel of a Canceled job"
        );
        if jobs.clean_up {
            let _ = p.remove(&live).await;
        }
    }

    // The pin survives the store (JSON), and a platform built from it finds the same backend.
    let pin = p.pin();
    let text =
        serde_json::to_string(&pin).unwrap_or_else(|e| panic!("{name}: pin() is not JSON: {e}"));
    let back: Option<Value> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: pin() does not read back: {e}"));
    assert_eq!(back, pin, "{name}: pin() changed in a JSON round trip");
    if let Some(rebuild) = &jobs.rebuild {
        let again = rebuild(back.as_ref())
            .unwrap_or_else(|e| panic!("{name}: building from the pin failed: {e}"));
        let id = again
            .identity()
            .await
            .unwrap_or_else(|e| panic!("{name}: identity() of the rebuilt platform failed: {e}"));
        assert_eq!(
            id, identity,
            "{name}: a platform built from the pin talks to another backend"
        );
        let rs = again.status(std::slice::from_ref(&ok)).await;
        assert!(
            matches!(rs.as_slice(), [Ok(r)] if r.status == JobStatus::Complete),
            "{name}: the rebuilt platform does not see the finished job: {rs:?}"
        );
    }

    if jobs.clean_up {
        let _ = p.remove(&ok).await;
        let _ = p.remove(&fail).await;
    }
}
