//! Workflow runs as objects: the run folders under `$HOIST_HOME/runs/NAME/TIMESTAMP/` read
//! back (what `hoist runs` lists, shows, cancels and removes). The folder is the record: the
//! engine writes it as the run goes, so these readers need nothing else.

use crate::runspec::DRIVER_LOCK;
use hoist::core::InputError;
use hoist::sys::lock::FileLock;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One job of a run, as `status.json` has it.
#[derive(Debug, Clone, Serialize)]
pub struct RunJob {
    /// `task` or `task[k=v]`.
    pub name: String,
    /// Its task.
    pub task: String,
    /// The hoist job id, once submitted.
    pub job_id: Option<String>,
    /// Status word (`Complete`, `Error`, `skipped`, `waiting`…).
    pub status: String,
    /// Exit code, when it ended with one.
    pub exit_code: Option<i64>,
    /// Why, in words.
    pub message: String,
}

/// One task of a run, with what it needs.
#[derive(Debug, Clone, Serialize)]
pub struct RunTask {
    /// Its name.
    pub name: String,
    /// The tasks it needs.
    pub needs: Vec<String>,
}

/// One run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `NAME/TIMESTAMP`.
    pub id: String,
    /// The folder.
    pub dir: PathBuf,
    /// The workflow's name.
    pub name: String,
    /// The workflow id its jobs carry (`hoist ls --workflow`).
    pub workflow_id: String,
    /// When it started.
    pub started: String,
    /// `running`, `complete`, `failed` or `canceled` as the engine last wrote it, or
    /// `interrupted` when it says running but no driver holds the run.
    pub state: String,
    /// The process driving the run now, if one is.
    pub driver: Option<i32>,
    /// Jobs by state word.
    pub counts: BTreeMap<String, u64>,
    /// Tasks in run order.
    pub tasks: Vec<RunTask>,
    /// Jobs in run order.
    pub jobs: Vec<RunJob>,
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

impl Run {
    /// Each submitted job's status, exit code and message as the store has them now, in place
    /// of what `status.json` said when the driver last wrote it (it may be gone).
    pub fn refresh_from(&mut self, now: &[hoist::core::JobSummary]) {
        for j in &mut self.jobs {
            if let Some(rec) = now.iter().find(|r| Some(&r.job_id) == j.job_id.as_ref()) {
                j.status = rec.status.as_str().to_string();
                j.exit_code = rec.exit_code.map(i64::from);
                j.message = rec.message.clone();
            }
        }
    }
}

/// The run in `dir`, if it is one.
pub fn read(root: &Path, dir: &Path) -> Option<Run> {
    let meta = read_json(&dir.join("metadata.json"))?;
    let status = read_json(&dir.join("status.json")).unwrap_or(Value::Null);
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let driver = FileLock::holder(&dir.join(DRIVER_LOCK))
        .filter(|p| p.alive())
        .map(|p| p.pid);
    let tasks: Vec<RunTask> = meta["tasks"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| RunTask {
                    name: str_of(&t["name"]),
                    needs: t["needs"]
                        .as_array()
                        .map(|n| n.iter().map(&str_of).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let order: Vec<String> = meta["tasks"]
        .as_array()
        .map(|a| {
            a.iter()
                .flat_map(|t| t["jobs"].as_array().cloned().unwrap_or_default())
                .map(|j| str_of(&j))
                .collect()
        })
        .unwrap_or_default();
    let jobs = order
        .iter()
        .map(|name| {
            let j = &status["jobs"][name];
            RunJob {
                name: name.clone(),
                task: str_of(&j["task"]),
                job_id: j["job_id"].as_str().map(str::to_string),
                status: j["status"].as_str().unwrap_or("waiting").to_string(),
                exit_code: j["exit_code"].as_i64(),
                message: str_of(&j["message"]),
            }
        })
        .collect();
    Some(Run {
        id: dir
            .strip_prefix(root)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| dir.display().to_string()),
        dir: dir.to_path_buf(),
        name: meta["name"].as_str().unwrap_or("workflow").to_string(),
        workflow_id: str_of(&meta["workflow_id"]),
        started: str_of(&meta["started"]),
        state: match (status["state"].as_str().unwrap_or("running"), driver) {
            ("running", None) => "interrupted".to_string(),
            (st, _) => st.to_string(),
        },
        driver,
        counts: status["counts"]
            .as_object()
            .map(|c| {
                c.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default(),
        tasks,
        jobs,
    })
}

/// Every run under `root` (`$HOIST_HOME/runs`), newest first.
pub fn list(root: &Path) -> Vec<Run> {
    let mut out = Vec::new();
    for name in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for stamp in std::fs::read_dir(name.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(r) = read(root, &stamp.path()) {
                out.push(r);
            }
        }
    }
    out.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
    out
}

/// The run `arg` names: a folder, `NAME/TIMESTAMP`, or a workflow name (its latest run).
pub fn find(root: &Path, arg: &str) -> Result<Run, InputError> {
    let p = Path::new(arg);
    if p.is_dir()
        && let Some(r) = read(root, p)
    {
        return Ok(r);
    }
    let all = list(root);
    all.iter()
        .find(|r| r.id == arg)
        .or_else(|| all.iter().find(|r| r.name == arg))
        .cloned()
        .ok_or_else(|| {
            InputError::new(
                format!("no workflow run {arg:?}"),
                "hoist runs lists them (give NAME for its latest run, NAME/TIMESTAMP, or the run folder)",
            )
        })
}

/// Set the state `status.json` of the run in `dir` says (a driver stopped from outside).
pub fn set_state(dir: &Path, state: &str) -> std::io::Result<()> {
    let p = dir.join("status.json");
    let mut v = read_json(&p).unwrap_or_else(|| serde_json::json!({}));
    v["state"] = Value::String(state.to_string());
    v["updated"] = serde_json::json!(hoist::core::now());
    let tmp = dir.join(".status.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
    )?;
    std::fs::rename(&tmp, p)
}

/// Depth of each task in the DAG (roots 0), for an indented tree.
pub fn depths(run: &Run) -> BTreeMap<String, usize> {
    let mut d: BTreeMap<String, usize> = BTreeMap::new();
    for t in &run.tasks {
        let depth = t
            .needs
            .iter()
            .filter_map(|n| d.get(n))
            .map(|x| x + 1)
            .max()
            .unwrap_or(0);
        d.insert(t.name.clone(), depth);
    }
    d
}
