//! `hoist launch` of a workflow (a pipeline, a DAG, a matrix): the engine of hoist-task run
//! attached, each output line prefixed with its job (`[train[lr=0.1]] …`), or by a detached
//! driver (`-d`: `hoist __workflow RUN_DIR`, in its own session, holding the run's lock), and
//! `--resume RUN_DIR` to run one again. Every way holds the run's lock while it drives, so a
//! run has one driver at a time.

use super::input;
use super::launch::overrides;
use super::sweep::{Sweep, sweep_workflow};
use crate::cli::LaunchArgs;
use anyhow::Context;
use hoist::Hoist;
use hoist::core::{InputError, JobRecord, ProcessEnv, SharedReporter};
use hoist::sys::lock::FileLock;
use hoist_task::engine::{
    EngineError, EngineOptions, JobPlanner, Observer, TaskPlanner, Watch, preflight,
    run as run_engine,
};
use hoist_task::launch::LaunchOptions;
use hoist_task::runspec::{DRIVER_LOCK, Plan, RunSpec, split_envs};
use hoist_task::schema::load;
use hoist_task::workflow::{Workflow, workflow};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
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

    fn resumed(&self, job: &str, what: &str, r: &JobRecord) {
        eprintln!("hoist: [{job}] {}", resumed_line(what, r));
    }
}

/// `kept: job 1a2b3c4d Complete`, as a resume reports each job it found.
fn resumed_line(what: &str, r: &JobRecord) -> String {
    let verb = match what {
        "kept" => "kept",
        "adopted" => "watched again",
        _ => "runs again, after",
    };
    format!("{verb}: job {} {}", r.short_id(), r.status)
}

/// The detached driver's log (its stderr is `driver.log`): one timestamped line per step.
struct DriverLog;

impl DriverLog {
    fn line(&self, text: &str) {
        eprintln!("{} {text}", hoist::core::now());
    }
}

impl Observer for DriverLog {
    fn submitted(&self, job: &str, r: &JobRecord) {
        self.line(&format!(
            "[{job}] job {} submitted on {}",
            r.job_id, r.platform
        ));
    }
    fn output(&self, _job: &str, _chunk: &str) {}
    fn finished(&self, job: &str, r: &JobRecord) {
        self.line(&format!(
            "[{job}] job {} {}{}",
            r.job_id,
            r.status,
            super::exit_suffix(r)
        ));
    }
    fn skipped(&self, job: &str, why: &str) {
        self.line(&format!("[{job}] not run: {why}"));
    }
    fn resumed(&self, job: &str, what: &str, r: &JobRecord) {
        self.line(&format!("[{job}] {}", resumed_line(what, r)));
    }
}

/// A fresh `hoist launch FILE` of a workflow.
pub async fn run(
    h: &Hoist,
    a: LaunchArgs,
    wf: Workflow,
    source: String,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    let given = overrides(&a.env).map_err(input)?;
    let secrets = overrides(&a.secret).map_err(input)?;
    let (envs, env_names) = split_envs(&given);
    let launch = LaunchOptions {
        platform: a.platform.clone(),
        profile: a.profile.clone(),
        gpus: a.gpus.clone(),
        image_id: a.image_id.clone(),
        num_nodes: a.num_nodes,
        name: None,
    };
    let spec = RunSpec {
        plan: Plan::Task {
            launch,
            envs,
            env_names: env_names.clone(),
            secrets: secrets.keys().cloned().collect(),
        },
        base: std::env::current_dir().context("the current directory")?,
        max_parallel: a.max_parallel,
        fail_fast: a.fail_fast,
    };
    let mut handed: Vec<(String, String)> = env_names
        .iter()
        .filter_map(|k| Some((k.clone(), given.get(k)?.clone())))
        .collect();
    handed.extend(secrets);
    let start = Start {
        spec,
        source,
        run_dir: a.run_dir.clone(),
        detach: a.detach,
        handed,
    };
    begin(h, &wf, start, reporter).await
}

/// How a run begins, whatever made it.
pub(super) struct Start {
    /// What it was launched with (saved as `run.json`).
    pub spec: RunSpec,
    /// The workflow file as submitted.
    pub source: String,
    /// `--run-dir` (default under `$HOIST_HOME/runs`).
    pub run_dir: Option<PathBuf>,
    /// `-d`.
    pub detach: bool,
    /// Values the driver takes from its environment (secrets), handed to a detached one.
    pub handed: Vec<(String, String)>,
}

/// Check the workflow, then drive it here or hand it to a detached driver.
pub(super) async fn begin(
    h: &Hoist,
    wf: &Workflow,
    s: Start,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    let name = wf.name.clone().unwrap_or_else(|| "workflow".into());
    let run_dir = hoist_task::driver::new_run_dir(h.home(), &name, s.run_dir.clone())
        .context("the run folder's path")?;
    let env: hoist::core::SharedEnv = Arc::new(ProcessEnv);
    preflight(h, wf, planner_of(&s.spec, wf).get(), &s.spec.base, &env).map_err(input)?;
    hoist_task::driver::write_run(&run_dir, &s.spec, &s.source)
        .with_context(|| format!("writing the run folder {}", run_dir.display()))?;
    if s.detach {
        return detach(h, &run_dir, &name, &s.handed).await;
    }
    let Some(_lock) = FileLock::try_acquire(&run_dir.join(DRIVER_LOCK))
        .with_context(|| format!("locking {}", run_dir.display()))?
    else {
        return Err(input(driven_elsewhere(&run_dir)));
    };
    attached(h, wf, &s.spec, s.source, run_dir, reporter).await
}

/// A planner for a run's spec.
enum Held<'a> {
    Task(TaskPlanner<'a>),
    Sweep(Box<Sweep>),
}

impl Held<'_> {
    fn get(&self) -> &dyn JobPlanner {
        match self {
            Held::Task(t) => t,
            Held::Sweep(s) => s.as_ref(),
        }
    }
}

fn planner_of<'a>(spec: &'a RunSpec, wf: &'a Workflow) -> Held<'a> {
    match &spec.plan {
        Plan::Task { launch, .. } => Held::Task(TaskPlanner {
            wf,
            launch,
            base: &spec.base,
        }),
        Plan::Sweep { template, .. } => Held::Sweep(Box::new(Sweep {
            template: (**template).clone(),
        })),
    }
}

/// Drive the run here, printing as it goes; the exit code is the run's.
async fn attached(
    h: &Hoist,
    wf: &Workflow,
    spec: &RunSpec,
    source: String,
    run_dir: PathBuf,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    let name = wf.name.clone().unwrap_or_else(|| "workflow".into());
    let opts = options(spec, source, run_dir, reporter, Watch::Follow);
    let printer = Printer {
        partial: Mutex::new(HashMap::new()),
    };
    let held = planner_of(spec, wf);
    let outcome = tokio::select! {
        r = run_engine(h, wf, held.get(), &opts, &printer) => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!(
                "\nhoist: detached; the submitted jobs keep running, no new ones start (hoist launch --resume {} goes on)",
                opts.run_dir.display()
            );
            return Ok(130);
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(EngineError::Input(e)) => return Err(input(e)),
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

fn options(
    spec: &RunSpec,
    source: String,
    run_dir: PathBuf,
    reporter: SharedReporter,
    watch: Watch,
) -> EngineOptions {
    EngineOptions {
        base: spec.base.clone(),
        max_parallel: spec.max_parallel,
        fail_fast: spec.fail_fast,
        run_dir,
        source,
        env: Arc::new(ProcessEnv),
        reporter,
        watch,
    }
}

/// Hand the run to a detached driver and say how to follow it.
async fn detach(
    h: &Hoist,
    run_dir: &Path,
    name: &str,
    handed: &[(String, String)],
) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("locating the hoist binary")?;
    let (home, dir, handed) = (
        h.home().to_path_buf(),
        run_dir.to_path_buf(),
        handed.to_vec(),
    );
    let pid =
        tokio::task::spawn_blocking(move || hoist_task::driver::spawn(&exe, &home, &dir, &handed))
            .await??;
    println!("{}", run_dir.display());
    eprintln!(
        "hoist: workflow {name} runs in the background (driver pid {pid}); follow it with hoist runs show {0}, hoist ls --run {0}; stop it with hoist runs cancel {0}",
        run_dir.display()
    );
    Ok(0)
}

/// `hoist __workflow RUN_DIR`: the detached driver.
pub async fn drive_detached(
    h: &Hoist,
    dir: &Path,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    let Some(_lock) = FileLock::try_acquire(&dir.join(DRIVER_LOCK))
        .with_context(|| format!("locking {}", dir.display()))?
    else {
        return Err(input(driven_elsewhere(dir)));
    };
    let log = DriverLog;
    log.line(&format!("driver {} started", std::process::id()));
    let spec = RunSpec::load(dir).map_err(input)?;
    let source = std::fs::read_to_string(dir.join("workflow.yaml"))
        .with_context(|| format!("reading {}/workflow.yaml", dir.display()))?;
    let wf = rebuild(&spec, &source, &BTreeMap::new())?;
    let opts = options(&spec, source, dir.to_path_buf(), reporter, Watch::Poll);
    let held = planner_of(&spec, &wf);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let outcome = tokio::select! {
        r = run_engine(h, &wf, held.get(), &opts, &log) => r,
        _ = term.recv() => {
            log.line("stopped by SIGTERM; submitted jobs are left as they are");
            let _ = hoist_task::runs::set_state(dir, "canceled");
            return Ok(143);
        }
    };
    match outcome {
        Ok(o) => {
            log.line(&format!("run ended, exit {}", o.exit_code));
            Ok(o.exit_code)
        }
        Err(e) => {
            log.line(&format!("run failed: {e}"));
            Err(e.into())
        }
    }
}

/// `hoist launch --resume RUN_DIR [--env K=V] [--secret K] [--max-parallel N] [--fail-fast] [-d]`.
pub async fn resume(
    h: &Hoist,
    a: LaunchArgs,
    dir: PathBuf,
    reporter: SharedReporter,
) -> anyhow::Result<i32> {
    let mut spec = RunSpec::load(&dir).map_err(input)?;
    let source = std::fs::read_to_string(dir.join("workflow.yaml")).map_err(|e| {
        input(InputError::new(
            format!("{}/workflow.yaml cannot be read: {e}", dir.display()),
            "give a run folder hoist launch made (hoist runs lists them)",
        ))
    })?;
    if let Some(p) = FileLock::holder(&dir.join(DRIVER_LOCK)).filter(|p| p.alive()) {
        return Err(input(InputError::new(
            format!(
                "run {} is being driven by process {} right now",
                dir.display(),
                p.pid
            ),
            "wait for it (hoist runs show RUN), or stop it with hoist runs cancel RUN first",
        )));
    }
    let given = overrides(&a.env).map_err(input)?;
    let secrets = overrides(&a.secret).map_err(input)?;
    let mut handed: Vec<(String, String)> = secrets.clone().into_iter().collect();
    match &mut spec.plan {
        Plan::Task {
            envs,
            env_names,
            secrets: names,
            ..
        } => {
            let (kept, secret_like) = split_envs(&given);
            envs.extend(kept);
            for k in secret_like {
                if let Some(v) = given.get(&k) {
                    handed.push((k.clone(), v.clone()));
                }
                if !env_names.contains(&k) {
                    env_names.push(k);
                }
            }
            for k in secrets.keys() {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        Plan::Sweep { template, .. } => {
            for (k, v) in &given {
                template.env.retain(|(n, _)| n != k);
                template.env.push((k.clone(), Some(v.clone())));
            }
        }
    }
    if a.max_parallel.is_some() {
        spec.max_parallel = a.max_parallel;
    }
    spec.fail_fast |= a.fail_fast;
    let lookup: BTreeMap<String, String> = handed.iter().cloned().collect();
    let wf = rebuild(&spec, &source, &lookup)?;
    let start = Start {
        spec,
        source,
        run_dir: Some(dir),
        detach: a.detach,
        handed,
    };
    begin(h, &wf, start, reporter).await
}

/// The workflow of a saved run: its file read again with the saved envs, and the names kept
/// by name filled from `given` or this process's environment.
fn rebuild(
    spec: &RunSpec,
    source: &str,
    given: &BTreeMap<String, String>,
) -> anyhow::Result<Workflow> {
    let value = |k: &String| -> Result<(String, String), InputError> {
        match given.get(k).cloned().or_else(|| std::env::var(k).ok()) {
            Some(v) => Ok((k.clone(), v)),
            None => Err(InputError::new(
                format!("{k} is not set in this environment (the run keeps it by name only)"),
                format!("export {k}=… or pass --secret {k}=VALUE / --env {k}=VALUE with --resume"),
            )),
        }
    };
    match &spec.plan {
        Plan::Task {
            envs,
            env_names,
            secrets,
            ..
        } => {
            let mut all = envs.clone();
            for k in env_names {
                let (k, v) = value(k).map_err(input)?;
                all.insert(k, v);
            }
            let secret_values: BTreeMap<String, String> = secrets
                .iter()
                .map(&value)
                .collect::<Result<_, _>>()
                .map_err(input)?;
            let file = load(source, "workflow.yaml", &all, &secret_values)
                .map_err(|e| input(e.at("workflow.yaml")))?;
            workflow(&file).map_err(|e| input(e.at("workflow.yaml")))
        }
        Plan::Sweep { template, axes } => {
            for (k, v) in &template.env {
                if v.is_none() {
                    value(k).map_err(input)?;
                }
            }
            Ok(sweep_workflow(template, axes, spec.max_parallel))
        }
    }
}

fn driven_elsewhere(dir: &Path) -> InputError {
    let who = FileLock::holder(&dir.join(DRIVER_LOCK))
        .map(|p| format!("process {}", p.pid))
        .unwrap_or_else(|| "another process".into());
    InputError::new(
        format!("run {} is being driven by {who}", dir.display()),
        "one driver per run: wait for it (hoist runs show RUN) or stop it (hoist runs cancel RUN)",
    )
}
