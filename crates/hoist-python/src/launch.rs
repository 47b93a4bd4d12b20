//! `launch(path)`: a SkyPilot task YAML from Python. One task is planned and submitted as one
//! job (as `hoist launch FILE -d`); a workflow (a pipeline, a DAG, a matrix) is handed to a
//! detached driver as `hoist launch FILE -d` hands it, while Python reads the run folder and
//! waits with `wait_run`.

use crate::convert::job_value;
use crate::errors::{input, refuse, to_py};
use crate::{block, interruptible};
use hoist::core::{InputError, ProcessEnv, SharedEnv};
use hoist::sys::lock::FileLock;
use hoist::{Hoist, HoistOptions};
use hoist_task::driver::{new_run_dir, spawn, write_run};
use hoist_task::engine::{TaskPlanner, preflight};
use hoist_task::launch::{LaunchOptions, Planned};
use hoist_task::pipeline::{WithRegistry, plan_all, tasks};
use hoist_task::runspec::{DRIVER_LOCK, Plan, RUN_SPEC_FILE, RunSpec, split_envs};
use hoist_task::schema::{TaskError, TaskFile, load, validate_names};
use hoist_task::workflow::{Workflow, workflow};
use pyo3::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

/// Plan and submit one task, or start a workflow run.
pub fn launch(py: Python<'_>, h: &Arc<Hoist>, opened: &Opened, a: Args) -> PyResult<Value> {
    crate::usable()?;
    let shown = a.path.display().to_string();
    let text = std::fs::read_to_string(&a.path).map_err(|e| {
        refuse(
            format!("cannot read task file {shown}: {e}"),
            "give the path of a task YAML",
        )
    })?;
    let bad = |e: TaskError| input(&e.at(&shown));
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
        return start_run(py, h, opened, (wf, text), (opts, base), &a);
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
    // Worded as `hoist launch` words it.
    let job = block(py, hh.create_job(p.request))?
        .map_err(|e| crate::errors::to_py_in("submit failed", &e))?;
    Ok(json!({"kind": "job", "job": job_value(&job)}))
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
            base: Arc::new(ProcessEnv),
            login: p.registry.clone(),
        })),
        ..Default::default()
    })
    .map(Some)
}

/// Check the workflow, write the run folder and hand it to a detached driver (the bundled
/// CLI's `hoist __workflow`, as `hoist launch -d` does): the run outlives this interpreter.
fn start_run(
    py: Python<'_>,
    h: &Arc<Hoist>,
    opened: &Opened,
    (wf, source): (Workflow, String),
    (launch, base): (LaunchOptions, PathBuf),
    a: &Args,
) -> PyResult<Value> {
    let name = wf.name.clone().unwrap_or_else(|| "workflow".into());
    let run_dir = new_run_dir(h.home(), &name, None)
        .map_err(|e| refuse(format!("the run folder's path: {e}"), "check HOIST_HOME"))?;
    let env: SharedEnv = Arc::new(ProcessEnv);
    let planner = TaskPlanner {
        wf: &wf,
        launch: &launch,
        base: &base,
    };
    preflight(h, &wf, &planner, &base, &env).map_err(|e| input(&e))?;
    let (envs, env_names) = split_envs(&a.env);
    // Values of secret-like envs and of secrets reach the driver through its environment.
    let handed: Vec<(String, String)> = a
        .secrets
        .iter()
        .chain(a.env.iter().filter(|(k, _)| env_names.contains(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = RunSpec {
        plan: Plan::Task {
            launch,
            envs,
            env_names,
            secrets: a.secrets.keys().cloned().collect(),
        },
        base,
        max_parallel: None,
        fail_fast: false,
    };
    write_run(&run_dir, &spec, &source).map_err(|e| {
        to_py(&hoist::HoistError::Platform(
            hoist::core::PlatformError::io(
                format!("writing the run folder {}", run_dir.display()),
                e,
            ),
        ))
    })?;
    let home = h.home().to_path_buf();
    py.detach(|| spawn(&opened.exe, &home, &run_dir, &handed))
        .map_err(|e| {
            refuse(
                e.to_string(),
                "see driver.log in the run folder; hoist launch --resume RUN_DIR tries again",
            )
        })?;
    Ok(json!({"kind": "run", "run_dir": run_dir.display().to_string(), "name": name}))
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

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}
