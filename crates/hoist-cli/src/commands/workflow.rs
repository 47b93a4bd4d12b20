//! `hoist launch` of a workflow (a pipeline, a DAG, a matrix): the engine of hoist-task run
//! attached, each output line prefixed with its job (`[train[lr=0.1]] …`).

use super::input;
use crate::cli::LaunchArgs;
use anyhow::Context;
use hoist::Hoist;
use hoist::core::{InputError, JobRecord, ProcessEnv, SharedReporter};
use hoist_task::engine::{EngineOptions, JobPlanner, Observer, TaskPlanner, run as run_engine};
use hoist_task::launch::LaunchOptions;
use hoist_task::workflow::Workflow;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Prints what the engine says; holds each job's unfinished last line until it ends.
struct Printer {
    partial: Mutex<HashMap<String, String>>,
}

impl Printer {
    fn flush(&self, job: &str) {
        let mut p = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rest) = p.remove(job).filter(|r| !r.is_empty()) {
            let _ = writeln!(std::io::stdout().lock(), "[{job}] {rest}");
        }
    }
}

impl Observer for Printer {
    fn submitted(&self, job: &str, r: &JobRecord) {
        eprintln!(
            "hoist: [{job}] job {} submitted on {}",
            r.short_id(),
            r.platform
        );
    }

    fn output(&self, job: &str, chunk: &str) {
        let mut p = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        let buf = p.entry(job.to_string()).or_default();
        buf.push_str(chunk);
        let mut out = std::io::stdout().lock();
        while let Some(i) = buf.find('\n') {
            let line: String = buf.drain(..=i).collect();
            let _ = write!(out, "[{job}] {line}");
        }
    }

    fn finished(&self, job: &str, r: &JobRecord) {
        self.flush(job);
        eprintln!(
            "hoist: [{job}] job {} {}{}",
            r.short_id(),
            r.status,
            super::exit_suffix(r)
        );
    }

    fn skipped(&self, job: &str, why: &str) {
        eprintln!("hoist: [{job}] not run: {why}");
    }
}

pub async fn run(
    h: &Hoist,
    a: LaunchArgs,
    wf: Workflow,
    source: String,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    if a.detach {
        return Err(input(refuse_detach()));
    }
    let launch = LaunchOptions {
        platform: a.platform.clone(),
        profile: a.profile.clone(),
        gpus: a.gpus.clone(),
        image_id: a.image_id.clone(),
        num_nodes: a.num_nodes,
        name: None,
    };
    let base = std::env::current_dir().context("the current directory")?;
    let planner = TaskPlanner {
        wf: &wf,
        launch: &launch,
        base: &base,
    };
    let knobs = Knobs {
        run_dir: a.run_dir.clone(),
        max_parallel: a.max_parallel,
        fail_fast: a.fail_fast,
    };
    drive(h, &wf, &planner, knobs, source, reporter).await
}

/// `-d` of a workflow, said plainly: the engine is this process.
pub(super) fn refuse_detach() -> InputError {
    InputError::new(
        "a workflow runs attached in this build: its jobs start as the ones they need complete",
        "drop -d (hoist runs show NAME and hoist ls --run NAME work from another shell meanwhile)",
    )
}

/// The command line's say over a run.
pub(super) struct Knobs {
    pub run_dir: Option<std::path::PathBuf>,
    pub max_parallel: Option<u32>,
    pub fail_fast: bool,
}

/// Run `wf` attached, printing as it goes; the exit code is the run's.
pub(super) async fn drive(
    h: &Hoist,
    wf: &Workflow,
    planner: &dyn JobPlanner,
    knobs: Knobs,
    source: String,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    let name = wf.name.clone().unwrap_or_else(|| "workflow".into());
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%S%.3fZ")
        .to_string();
    let run_dir = knobs
        .run_dir
        .unwrap_or_else(|| h.home().join("runs").join(&name).join(stamp));
    let opts = EngineOptions {
        base: std::env::current_dir().context("the current directory")?,
        max_parallel: knobs.max_parallel,
        fail_fast: knobs.fail_fast,
        run_dir,
        source,
        env: Arc::new(ProcessEnv),
        reporter,
    };
    let printer = Printer {
        partial: Mutex::new(HashMap::new()),
    };
    let outcome = tokio::select! {
        r = run_engine(h, wf, planner, &opts, &printer) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nhoist: detached; the submitted jobs keep running, no new ones start (run folder {})", opts.run_dir.display());
            return Ok(130);
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(hoist_task::engine::EngineError::Input(e)) => return Err(input(e)),
        Err(e) => return Err(e.into()),
    };
    let done = outcome
        .jobs
        .iter()
        .filter(|(_, r)| {
            r.as_ref()
                .is_some_and(|r| r.status == hoist::core::JobStatus::Complete)
        })
        .count();
    eprintln!(
        "hoist: workflow {name}: {done}/{} jobs completed; run folder {}",
        outcome.jobs.len(),
        outcome.run_dir.display()
    );
    Ok(outcome.exit_code)
}
