//! `launch(path)`: a SkyPilot task YAML from Python. One task is planned and submitted as one
//! job (as `hoist launch FILE -d`); a workflow (a pipeline, a DAG, a matrix) is driven by the
//! engine on a thread of its own, holding the run's lock as `hoist launch` does, while Python
//! reads the run folder and waits with `wait_run`.

use crate::convert::job_value;
use crate::errors::{input, refuse, to_py};
use crate::{block, interruptible};
use hoist::core::{EnvSource, InputError, JobRecord, ProcessEnv, SharedEnv, Silent};
use hoist::sys::lock::FileLock;
use hoist::{Hoist, HoistOptions};
use hoist_task::engine::{
    EngineOptions, Observer, TaskPlanner, Watch, preflight, run as run_engine,
};
use hoist_task::launch::{LaunchOptions, Planned};
use hoist_task::pipeline::{plan_all, tasks};
use hoist_task::runspec::{DRIVER_LOCK, DRIVER_LOG, Plan, RUN_SPEC_FILE, RunSpec, split_envs};
use hoist_task::schema::{TaskError, TaskFile, load, validate_names};
use hoist_task::workflow::{Workflow, workflow};
use pyo3::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What `launch` was given.
pub struct Args {
    /// The task YAML.
    pub path: PathBuf,
    /// Values for the task's `envs` (as `--env K=V`).
    pub env: BTreeMap<String, String>,
    /// Values for the task's `secrets` (as `--secret K=V`).
    pub secrets: BTreeMap<String, String>,
    /// The platform, over the task's `infra`.
    pub platform: Option<String>,
}

/// How the handle was opened, for a handle that also sees a task's registry login.
pub struct Opened {
    /// The supervisor binary.
    pub exe: PathBuf,
    /// The runner binary (`None`: the library's default).
    pub runner: Option<PathBuf>,
}

/// A task file's error as the CLI words it.
fn task_error(e: TaskError, path: &str) -> InputError {
    let at = match (e.line, e.column) {
        (Some(l), Some(c)) if !e.message.contains("line") => {
            format!(" (at {path} line {l}, column {c})")
        }
        _ => String::new(),
    };
    InputError::new(
        format!("{}{at}", e.message),
        "fix the task YAML (SkyPilot 0.14's schema: hoist launch --dry-run --json shows how hoist reads it)",
    )
}

/// Plan and submit one task, or start a workflow run.
pub fn launch(py: Python<'_>, h: &Arc<Hoist>, opened: &Opened, a: Args) -> PyResult<Value> {
    let shown = a.path.display().to_string();
    let text = std::fs::read_to_string(&a.path).map_err(|e| {
        refuse(
            format!("cannot read task file {shown}: {e}"),
            "give the path of a task YAML",
        )
    })?;
    let bad = |e: TaskError| input(&task_error(e, &shown));
    let file = load(&text, &shown, &a.env, &a.secrets).map_err(bad)?;
    for t in tasks(&file).1 {
        validate_names(t).map_err(bad)?;
    }
    let wf = workflow(&file).map_err(bad)?;
    let base = std::env::current_dir().map_err(|e| {
        refuse(
            format!("the current directory: {e}"),
            "run from a directory that exists",
        )
    })?;
    let opts = LaunchOptions {
        platform: a.platform.clone(),
        ..Default::default()
    };
    let pipeline = matches!(file, TaskFile::Pipeline { .. });
    if pipeline || wf.tasks.iter().any(|t| t.cells.len() > 1) {
        return start_run(h, wf, text, opts, base, &a);
    }
    let planned = plan_all(h, &file, &opts, &base, None).map_err(|e| input(&e))?;
    let Some(p) = planned.into_iter().next() else {
        return Err(refuse(
            format!("{shown} has no task"),
            "give a task YAML with a run section",
        ));
    };
    let own = with_registry(h, &p, opened).map_err(|e| to_py(&e))?;
    let hh: &Hoist = own.as_ref().unwrap_or(h);
    let job = block(py, hh.create_job(p.request))?.map_err(|e| to_py(&e))?;
    Ok(json!({"kind": "job", "job": job_value(&job)}))
}

/// The library's environment with a task's registry login laid over it.
struct WithRegistry {
    login: BTreeMap<String, String>,
}

impl EnvSource for WithRegistry {
    fn get(&self, key: &str) -> Option<String> {
        self.login
            .get(key)
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| ProcessEnv.get(key))
    }
}

/// A handle that also sees the task's registry login, when it has one (opened with this
/// module's binaries, not the interpreter).
fn with_registry(h: &Hoist, p: &Planned, o: &Opened) -> hoist::Result<Option<Hoist>> {
    if p.registry.is_empty() {
        return Ok(None);
    }
    Hoist::open_with(HoistOptions {
        home: Some(h.home().to_path_buf()),
        exe: Some(o.exe.clone()),
        runner: o.runner.clone(),
        env: Some(Arc::new(WithRegistry {
            login: p.registry.clone(),
        })),
        ..Default::default()
    })
    .map(Some)
}

/// Check the workflow, write the run folder, take its lock and drive it on a thread.
fn start_run(
    h: &Arc<Hoist>,
    wf: Workflow,
    source: String,
    launch: LaunchOptions,
    base: PathBuf,
    a: &Args,
) -> PyResult<Value> {
    let name = wf.name.clone().unwrap_or_else(|| "workflow".into());
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ");
    let run_dir = std::path::absolute(h.home().join("runs").join(&name).join(stamp.to_string()))
        .map_err(|e| refuse(format!("the run folder's path: {e}"), "check HOIST_HOME"))?;
    let env: SharedEnv = Arc::new(ProcessEnv);
    let planner = TaskPlanner {
        wf: &wf,
        launch: &launch,
        base: &base,
    };
    preflight(h, &wf, &planner, &base, &env).map_err(|e| input(&e))?;
    let (envs, env_names) = split_envs(&a.env);
    let spec = RunSpec {
        plan: Plan::Task {
            launch: launch.clone(),
            envs,
            env_names,
            secrets: a.secrets.keys().cloned().collect(),
        },
        base: base.clone(),
        max_parallel: None,
        fail_fast: false,
    };
    let folder_err = |e: std::io::Error| {
        to_py(&hoist::HoistError::Platform(
            hoist::core::PlatformError::io(
                format!("writing the run folder {}", run_dir.display()),
                e,
            ),
        ))
    };
    spec.save(&run_dir).map_err(folder_err)?;
    std::fs::write(run_dir.join("workflow.yaml"), &source).map_err(folder_err)?;
    let Some(lock) = FileLock::try_acquire(&run_dir.join(DRIVER_LOCK)).map_err(folder_err)? else {
        return Err(refuse(
            format!(
                "run {} is being driven by another process",
                run_dir.display()
            ),
            "one driver per run: wait for it (hoist runs show RUN) or stop it (hoist runs cancel RUN)",
        ));
    };
    let (h2, dir) = (h.clone(), run_dir.clone());
    std::thread::Builder::new()
        .name("hoist-workflow".into())
        .spawn(move || drive(h2, wf, launch, base, source, dir, lock))
        .map_err(|e| {
            refuse(
                format!("cannot start the workflow's driver thread: {e}"),
                "free some memory or threads and launch again (hoist launch --resume RUN_DIR)",
            )
        })?;
    Ok(json!({"kind": "run", "run_dir": run_dir.display().to_string(), "name": name}))
}

/// The run's driver: the engine to the end on a runtime of its own, the lock held throughout.
fn drive(
    h: Arc<Hoist>,
    wf: Workflow,
    launch: LaunchOptions,
    base: PathBuf,
    source: String,
    run_dir: PathBuf,
    lock: FileLock,
) {
    let log = DriverLog::open(&run_dir);
    log.line(&format!(
        "driver thread of process {} started",
        std::process::id()
    ));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("cannot start the driver's runtime: {e}");
            log.line(&why);
            failed(&run_dir, &why);
            return;
        }
    };
    let planner = TaskPlanner {
        wf: &wf,
        launch: &launch,
        base: &base,
    };
    let opts = EngineOptions {
        base: base.clone(),
        max_parallel: None,
        fail_fast: false,
        run_dir: run_dir.clone(),
        source,
        env: Arc::new(ProcessEnv),
        reporter: Arc::new(Silent),
        watch: Watch::Poll,
    };
    match rt.block_on(run_engine(&h, &wf, &planner, &opts, &log)) {
        Ok(o) => log.line(&format!("run ended, exit {}", o.exit_code)),
        Err(e) => {
            log.line(&format!("run failed: {e}"));
            failed(&run_dir, &e.to_string());
        }
    }
    drop(lock);
}

/// Mark the run failed in `status.json` with why, so a waiter stops waiting.
fn failed(dir: &Path, why: &str) {
    let p = dir.join("status.json");
    let mut v = read_json(&p).unwrap_or_else(|| json!({}));
    v["state"] = json!("failed");
    v["error"] = json!(why);
    v["updated"] = json!(hoist::core::now());
    let tmp = dir.join(".status.json.tmp");
    let text = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, p);
    }
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// `driver.log` in the run folder: one timestamped line per step, as the detached driver
/// of the CLI keeps it.
struct DriverLog {
    file: Option<Mutex<std::fs::File>>,
}

impl DriverLog {
    fn open(dir: &Path) -> DriverLog {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(DRIVER_LOG))
            .ok()
            .map(Mutex::new);
        DriverLog { file }
    }

    fn line(&self, text: &str) {
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(f, "{} {text}", hoist::core::now());
        }
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
        self.line(&format!("[{job}] job {} {}", r.job_id, r.status));
    }
    fn skipped(&self, job: &str, why: &str) {
        self.line(&format!("[{job}] not run: {why}"));
    }
}

/// Wait until the run in `dir` is no longer running (`None`: `limit` passed). A run nobody
/// drives any more (its driver died) will not change: it is returned as `interrupted`.
pub fn wait_run(py: Python<'_>, dir: PathBuf, limit: Option<Duration>) -> PyResult<Option<Value>> {
    let done = interruptible(
        py,
        async move {
            let status = dir.join("status.json");
            let mut delay = Duration::from_millis(50);
            loop {
                let seen = read_json(&status);
                if let Some(v) = seen.as_ref().filter(|v| v["state"] != "running") {
                    return Ok(v.clone());
                }
                let driven = FileLock::holder(&dir.join(DRIVER_LOCK)).is_some_and(|p| p.alive());
                if !driven {
                    // Read again: the driver may have written its last state and let go since.
                    return match read_json(&status) {
                        Some(mut v) => {
                            if v["state"] == "running" {
                                v["state"] = json!("interrupted");
                            }
                            Ok(v)
                        }
                        None if dir.join(RUN_SPEC_FILE).is_file() => {
                            Ok(json!({"state": "interrupted", "jobs": {}}))
                        }
                        None => Err(InputError::new(
                            format!("{} is not a workflow run folder", dir.display()),
                            "give the run_dir launch returned (hoist runs lists them)",
                        )),
                    };
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        },
        limit,
    )?;
    done.transpose().map_err(|e| input(&e))
}
