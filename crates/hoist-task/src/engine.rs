//! The workflow engine: a checked [`Workflow`] run as hoist jobs. A job (a task, or one
//! matrix cell of it) is submitted once every task it needs has completed, within the
//! workflow's and the task's `max_parallel`; a failure stops what needs it while the other
//! branches go on (`fail_fast` cancels everything instead). Upstream results reach
//! downstream jobs through `${{ needs.X.results }}`. Every step is recorded in the run
//! folder as it happens. The engine prints nothing: it tells an [`Observer`].

mod folder;
mod hooks;
mod journal;
mod schedule;
mod watch;

pub use folder::RunFolder;

use crate::launch::{LaunchOptions, Planned, plan};
use crate::workflow::{MatrixCell, Results, Workflow, job_name};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hoist::core::{InputError, JobRecord, JobStatus, SharedEnv, SharedReporter};
use hoist::{Hoist, HoistError};
use hooks::hooks;
use journal::{event, forget_failure, record_failure, write_status};
pub use schedule::preflight;
use schedule::{blocker, cancel_running, check_every_job, needs_done, slots_of, submit_ready};
use serde_json::{Value, json};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;
use watch::{adopt, follow, new_workflow_id, poll_round, settle};

/// Longest pause between two status refreshes when polling.
const POLL_MAX: Duration = Duration::from_secs(5);

/// How to run a workflow.
pub struct EngineOptions {
    /// Where relative paths resolve (and what stands in for upstream results when every job
    /// is checked before the first submit).
    pub base: PathBuf,
    /// Jobs at once across the workflow (over the file's header).
    pub max_parallel: Option<u32>,
    /// Cancel everything at the first failure.
    pub fail_fast: bool,
    /// The run folder.
    pub run_dir: PathBuf,
    /// The workflow file as submitted (kept in the run folder).
    pub source: String,
    /// The environment the registry logins of tasks lay over.
    pub env: SharedEnv,
    /// Where the library's progress goes.
    pub reporter: SharedReporter,
    /// How running jobs are watched.
    pub watch: Watch,
}

/// A file in the run folder that asks the run's driver to start nothing more (`hoist runs
/// cancel` writes it, then cancels the jobs that are running).
pub const CANCEL_MARKER: &str = "cancel_requested";

/// How the engine learns that jobs ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Stream each job's output to the [`Observer`] (attached: a person is reading it).
    Follow,
    /// One batched status refresh per platform for all running jobs, at a growing interval;
    /// each job's last lines are read once it ends (detached: nobody reads the output, and
    /// hundreds of log streams would cost more than the jobs).
    Poll,
}

/// Turns one job of the workflow (a task, one matrix cell, the upstream results known) into
/// a request. [`TaskPlanner`] does it for task files; `hoist run --matrix` has its own.
pub trait JobPlanner: Sync {
    /// The request for job (`task`, `cell`), tagged with `workflow_id` when given.
    fn plan(
        &self,
        h: &Hoist,
        task: &str,
        cell: &MatrixCell,
        results: Results<'_>,
        workflow_id: Option<&str>,
    ) -> Result<Planned, InputError>;
}

/// The planner of task files: the task rendered (matrix values, references), then
/// [`crate::launch::plan`].
pub struct TaskPlanner<'a> {
    /// The workflow.
    pub wf: &'a Workflow,
    /// What the command line adds to every task.
    pub launch: &'a LaunchOptions,
    /// Where the file's relative paths resolve.
    pub base: &'a std::path::Path,
}

impl JobPlanner for TaskPlanner<'_> {
    fn plan(
        &self,
        h: &Hoist,
        task: &str,
        cell: &MatrixCell,
        results: Results<'_>,
        workflow_id: Option<&str>,
    ) -> Result<Planned, InputError> {
        let t = self
            .wf
            .render(task, cell, results)
            .map_err(|e| InputError::new(e.message, "fix the workflow file"))?;
        plan(h, &t, self.launch, self.base, workflow_id)
    }
}

/// What a front door is told while a workflow runs.
pub trait Observer: Send + Sync {
    /// A job was submitted.
    fn submitted(&self, job: &str, record: &JobRecord);
    /// A piece of a running job's output.
    fn output(&self, job: &str, chunk: &str);
    /// A job ended.
    fn finished(&self, job: &str, record: &JobRecord);
    /// A job will not run, and why.
    fn skipped(&self, job: &str, why: &str);
    /// What became of a job an earlier driver of this run submitted: `kept` (it completed),
    /// `adopted` (it is still live and is watched again) or `rerun` (it failed or was
    /// canceled, and runs again).
    fn resumed(&self, _job: &str, _what: &str, _record: &JobRecord) {}
}

/// What a run ended with.
#[derive(Debug)]
pub struct Outcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Every job by name (`task` or `task[k=v]`), with its record when it was submitted.
    pub jobs: Vec<(String, Option<JobRecord>)>,
    /// 0 when every job completed, else the first failed job's exit code (1 when none).
    pub exit_code: i32,
}

/// Why a workflow could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The workflow is wrong (found before anything was submitted).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The library failed.
    #[error(transparent)]
    Hoist(#[from] HoistError),
    /// The run folder could not be written.
    #[error("cannot write the run folder {dir}: {source}")]
    Folder {
        /// The folder.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
enum State {
    Waiting,
    Running(JobRecord),
    Done(JobRecord),
    Skipped(String),
}

impl State {
    fn word(&self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Running(_) => "running",
            State::Done(j) if j.status == JobStatus::Complete => "complete",
            State::Done(_) => "failed",
            State::Skipped(_) => "skipped",
        }
    }
}

struct Slot {
    task: usize,
    task_name: String,
    cell: MatrixCell,
    name: String,
    state: State,
}

type Follow<'a> = Pin<Box<dyn Future<Output = (usize, hoist::Result<JobRecord>)> + Send + 'a>>;

/// Run `wf` to its end.
pub async fn run(
    h: &Hoist,
    wf: &Workflow,
    planner: &dyn JobPlanner,
    opts: &EngineOptions,
    obs: &dyn Observer,
) -> Result<Outcome, EngineError> {
    let mut slots = slots_of(wf);
    check_every_job(h, planner, &opts.base, &slots)?;
    hooks::check_webhook_envs(wf, &opts.env)?;
    let folder_err = |e: std::io::Error| EngineError::Folder {
        dir: opts.run_dir.display().to_string(),
        source: e,
    };
    let folder = RunFolder::create(&opts.run_dir).map_err(folder_err)?;
    let prior = std::fs::read_to_string(folder.dir().join("metadata.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    // A run keeps its id across resumes: its jobs are found again by it.
    let workflow_id = match prior.as_ref().and_then(|m| m["workflow_id"].as_str()) {
        Some(id) => id.to_string(),
        None => new_workflow_id(h, &opts.run_dir)?,
    };
    folder
        .write("workflow.yaml", &opts.source)
        .map_err(folder_err)?;
    let metadata = match prior {
        Some(mut m) => {
            let mut resumed = m["resumed"].as_array().cloned().unwrap_or_default();
            resumed.push(json!(hoist::core::now()));
            m["resumed"] = json!(resumed);
            m
        }
        None => json!({
            "name": wf.name, "workflow_id": workflow_id, "started": hoist::core::now(),
            "hoist_version": env!("CARGO_PKG_VERSION"),
            "tasks": wf.in_order().map(|t| json!({"name": t.name, "needs": t.needs, "jobs": t.cells.iter().map(|c| job_name(&t.name, c)).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        }),
    };
    folder
        .write_json("metadata.json", &metadata)
        .map_err(folder_err)?;
    let global = opts
        .max_parallel
        .or(wf.max_parallel)
        .map(|n| n.max(1) as usize);
    let mut follows: FuturesUnordered<Follow<'_>> = FuturesUnordered::new();
    for i in adopt(h, obs, &folder, &workflow_id, &mut slots).await? {
        if let (Watch::Follow, State::Running(j)) = (opts.watch, &slots[i].state) {
            follows.push(follow(h, obs, &folder, i, &slots[i].name, j.clone()));
        }
    }
    let mut failed_once = false;
    // A cancel asked for before this driver began was for an earlier driver: this one runs.
    let cancel_marker = folder.dir().join(CANCEL_MARKER);
    let _ = std::fs::remove_file(&cancel_marker);
    let mut canceled = false;
    let mut delay = Duration::from_millis(100);
    loop {
        // What can no longer run: a needed task failed or was skipped (or, fail-fast, anything).
        for i in 0..slots.len() {
            if !matches!(slots[i].state, State::Waiting) {
                continue;
            }
            canceled = canceled || cancel_marker.exists();
            let blocked = if canceled {
                Some("the run was canceled".to_string())
            } else if opts.fail_fast && failed_once {
                Some("an earlier job failed (--fail-fast)".to_string())
            } else {
                blocker(wf, &slots, slots[i].task)
            };
            if let Some(why) = blocked {
                obs.skipped(&slots[i].name, &why);
                event(&folder, &slots[i].name, "skipped", &why, None);
                slots[i].state = State::Skipped(why);
            }
        }
        let running = slots
            .iter()
            .filter(|s| matches!(s.state, State::Running(_)))
            .count();
        let mut room = global.map_or(usize::MAX, |g| g.saturating_sub(running));
        let mut ready = Vec::new();
        for i in 0..slots.len() {
            if room == 0 {
                break;
            }
            if !matches!(slots[i].state, State::Waiting) || !needs_done(wf, &slots, slots[i].task) {
                continue;
            }
            let t = &wf.tasks[slots[i].task];
            let task_running = slots
                .iter()
                .enumerate()
                .filter(|(j, s)| {
                    s.task == slots[i].task
                        && (matches!(s.state, State::Running(_)) || ready.contains(j))
                })
                .count();
            if t.max_parallel.is_some_and(|m| task_running >= m as usize) {
                continue;
            }
            ready.push(i);
            room -= 1;
        }
        for (i, answer) in submit_ready(h, wf, planner, opts, &slots, &ready, &workflow_id).await {
            match answer {
                Ok(job) => {
                    obs.submitted(&slots[i].name, &job);
                    event(&folder, &slots[i].name, "submitted", "", Some(&job));
                    if opts.watch == Watch::Follow {
                        follows.push(follow(h, obs, &folder, i, &slots[i].name, job.clone()));
                    }
                    delay = Duration::from_millis(100);
                    slots[i].state = State::Running(job);
                }
                Err(why) => {
                    failed_once = true;
                    obs.skipped(&slots[i].name, &why);
                    event(&folder, &slots[i].name, "not submitted", &why, None);
                    slots[i].state = State::Skipped(why);
                }
            }
        }
        write_status(&folder, wf, &slots, "running").map_err(folder_err)?;
        let ended = match opts.watch {
            Watch::Follow => {
                let Some((i, r)) = follows.next().await else {
                    break;
                };
                let State::Running(cur) = &slots[i].state else {
                    continue;
                };
                vec![(i, settle(h, cur, r).await)]
            }
            Watch::Poll => {
                if !slots.iter().any(|s| matches!(s.state, State::Running(_))) {
                    break;
                }
                // Woken at once where the platform watches (Docker, Kubernetes); else polled.
                let running: Vec<JobRecord> = slots
                    .iter()
                    .filter_map(|s| match &s.state {
                        State::Running(j) => Some(j.clone()),
                        _ => None,
                    })
                    .collect();
                h.wait_for_change(&running, delay).await;
                let ended = poll_round(h, &mut slots).await;
                delay = if ended.is_empty() {
                    (delay * 2).min(POLL_MAX)
                } else {
                    Duration::from_millis(100)
                };
                for (i, j) in &ended {
                    if let Ok(text) = h.logs(j, Some(20)).await {
                        let _ = folder.output(&slots[*i].name, &text);
                    }
                }
                ended
            }
        };
        for (i, job) in ended {
            if job.status == JobStatus::Complete {
                // A rerun that completed: its earlier failure is no longer the run's.
                forget_failure(&folder, &slots[i].name);
            } else {
                failed_once = true;
                if opts.fail_fast {
                    cancel_running(h, &slots).await;
                }
                if let Ok(Some(a)) = h.failure_analysis(&job).await {
                    record_failure(&folder, &slots[i].name, &job, &a);
                }
            }
            obs.finished(&slots[i].name, &job);
            event(
                &folder,
                &slots[i].name,
                job.status.as_str(),
                &job.message,
                Some(&job),
            );
            slots[i].state = State::Done(job);
        }
    }
    let all_ok = slots
        .iter()
        .all(|s| matches!(&s.state, State::Done(j) if j.status == JobStatus::Complete));
    write_status(
        &folder,
        wf,
        &slots,
        match (all_ok, canceled) {
            (true, _) => "complete",
            (false, true) => "canceled",
            (false, false) => "failed",
        },
    )
    .map_err(folder_err)?;
    let exit_code = if all_ok {
        0
    } else {
        slots
            .iter()
            .find_map(|s| match &s.state {
                State::Done(j) if j.status != JobStatus::Complete => {
                    j.status.cli_exit_code(j.exit_code)
                }
                _ => None,
            })
            .filter(|c| *c != 0)
            .unwrap_or(1)
    };
    hooks(wf, &folder, all_ok, &opts.env).await;
    Ok(Outcome {
        run_dir: opts.run_dir.clone(),
        jobs: slots
            .into_iter()
            .map(|s| {
                let rec = match s.state {
                    State::Running(j) | State::Done(j) => Some(j),
                    _ => None,
                };
                (s.name, rec)
            })
            .collect(),
        exit_code,
    })
}
