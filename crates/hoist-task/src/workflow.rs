//! Workflows, pure: a loaded task file as a DAG of tasks, each task a list of jobs (its
//! matrix's cells), checked as a whole before anything runs. No I/O and no submission: the
//! engine (`pipeline.rs`) asks this module what to run, in what order, and with what text.
//!
//! - [`workflow`] names the tasks, builds the DAG from `needs` (SkyPilot's file order when no
//!   task has `needs`), finds cycles, expands matrices ([`MatrixCell`]) and checks every
//!   `${{ needs.TASK.results }}` reference against the DAG and the upstream task's jobs.
//! - [`Workflow::render`] gives the task one job runs: `{KEY}` and references filled in.
//! - [`substitute_matrix`] and [`Workflow::resolve`] are the two substitutions on their own.

use std::collections::{BTreeMap, BTreeSet};

use hoist::core::command::sh_quote;

pub use crate::schema::Hook;
use crate::schema::difflib::close_match;
use crate::schema::{FileMount, Task, TaskError, TaskFile, default_task_name};
use crate::schema::{field_error, task_subject};

mod dag;
mod matrix;
mod refs;

pub use matrix::{MAX_CELLS, MatrixCell, substitute_matrix};
pub use refs::NeedsRef;
use refs::Piece;

/// A task file as a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// The header's `name`.
    pub name: Option<String>,
    /// The header's `on_complete` hook.
    pub on_complete: Option<Hook>,
    /// The header's `on_failure` hook.
    pub on_failure: Option<Hook>,
    /// The header's `max_parallel`: at most this many jobs of the workflow at once.
    pub max_parallel: Option<u32>,
    /// The tasks, in file order.
    pub tasks: Vec<WorkflowTask>,
    /// A topological order of `tasks` (indices): every task after all it needs; among tasks
    /// ready together, file order.
    pub order: Vec<usize>,
}

/// One task of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowTask {
    /// Its name: `name`, else [`default_task_name`] of its index.
    pub name: String,
    /// The task as loaded.
    pub task: Task,
    /// The tasks it runs after (each must have completed every job): `needs` as written, or
    /// the previous task when no task of the file has `needs`.
    pub needs: Vec<String>,
    /// Its jobs, in order (one empty cell without a matrix).
    pub cells: Vec<MatrixCell>,
    /// `max_parallel`: at most this many of its jobs at once.
    pub max_parallel: Option<u32>,
}

/// How a value is pasted into text: quoted for the shell in `run`/`setup` (bare when it needs
/// no quotes), as is in env values and file mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quoting {
    /// Shell text: [`sh_quote`]d.
    Shell,
    /// A plain value: verbatim.
    Raw,
}

/// What the engine knows of upstream results: `(task, cell)` → that job's results location
/// (a path or a URI), `None` while it has none.
pub type Results<'a> = &'a dyn Fn(&str, &MatrixCell) -> Option<String>;

/// The workflow of a loaded task file, checked: unique names, `needs` naming tasks and
/// forming no cycle, matrices that make at least one job, and references that name an
/// upstream task and (for a matrix task) exactly one of its jobs, for every job that makes
/// them. Every error names the task and the field.
pub fn workflow(file: &TaskFile) -> Result<Workflow, TaskError> {
    let (file_name, tasks): (Option<&String>, Vec<&Task>) = match file {
        TaskFile::Single(t) => (None, vec![t]),
        TaskFile::Pipeline { name, tasks } => (name.as_ref(), tasks.iter().collect()),
    };
    let Some(first) = tasks.first() else {
        return Err(TaskError {
            message: "workflow: the file has no task. Add a task document (with `run`) after \
                      the header, separated by ---."
                .into(),
            line: None,
            column: None,
        });
    };
    let header = first.workflow.clone();

    let names: Vec<String> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| t.name.clone().unwrap_or_else(|| default_task_name(i)))
        .collect();
    for (i, name) in names.iter().enumerate() {
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            return Err(field_error(
                &task_subject(name),
                "name",
                format!(
                    "tasks {j} and {i} are both named '{name}'; needs and ${{{{ needs.TASK.results }}}} \
                     refer to tasks by name, so names must be unique. Rename one."
                ),
            ));
        }
    }

    let explicit = tasks.iter().any(|t| t.hoist.needs.is_some());
    let mut out = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let name = &names[i];
        let needs = match (&task.hoist.needs, explicit) {
            (Some(n), _) => n.clone(),
            (None, true) => Vec::new(),
            (None, false) => names[..i].last().cloned().into_iter().collect(),
        };
        for need in &needs {
            if !names.contains(need) {
                let hint = close_match(need, names.iter().map(String::as_str), 0.6)
                    .map(|m| format!(" (did you mean '{m}'?)"))
                    .unwrap_or_default();
                return Err(field_error(
                    &task_subject(name),
                    "needs",
                    format!(
                        "no task is named '{need}'{hint}. The file's tasks: {}.",
                        names.join(", ")
                    ),
                ));
            }
        }
        let cells = matrix::expand(&task.hoist)
            .map_err(|e| field_error(&task_subject(name), &e.field, e.what))?;
        out.push(WorkflowTask {
            name: name.clone(),
            task: (*task).clone(),
            needs,
            cells,
            max_parallel: task.hoist.max_parallel,
        });
    }

    let order = dag::topological(&out)?;
    let wf = Workflow {
        name: header.name.or_else(|| file_name.cloned()),
        on_complete: header.on_complete,
        on_failure: header.on_failure,
        max_parallel: header.max_parallel,
        tasks: out,
        order,
    };
    for t in &wf.tasks {
        for (field, text) in texts(&t.task) {
            let found = refs::refs_in(text).map_err(|e| {
                field_error(
                    &task_subject(&t.name),
                    &field,
                    format!(
                        "malformed reference {}: {}; {}.",
                        e.written,
                        e.why,
                        refs::FORMS
                    ),
                )
            })?;
            for r in &found {
                for cell in &t.cells {
                    wf.pick(&t.name, cell, r)
                        .map_err(|what| field_error(&task_subject(&t.name), &field, what))?;
                }
            }
        }
    }
    Ok(wf)
}

/// The texts of a task that may hold references, each with its field as messages name it.
fn texts(task: &Task) -> Vec<(String, &str)> {
    let mut out: Vec<(String, &str)> = Vec::new();
    if let Some(s) = &task.setup {
        out.push(("setup".into(), s));
    }
    if let Some(r) = &task.run {
        out.push(("run".into(), r));
    }
    for (k, v) in &task.envs {
        if let Some(v) = v {
            out.push((format!("envs.{k}"), v));
        }
    }
    for (dst, mount) in &task.file_mounts {
        out.push((format!("file_mounts.{dst}"), dst));
        match mount {
            FileMount::Source(src) => out.push((format!("file_mounts.{dst}"), src)),
            FileMount::Storage { name, source, .. } => {
                if let Some(n) = name {
                    out.push((format!("file_mounts.{dst}.name"), n));
                }
                if let Some(s) = source {
                    out.push((format!("file_mounts.{dst}.source"), s));
                }
            }
        }
    }
    out
}

impl Workflow {
    /// The hooks' `webhook_env` variables that `env` does not set, as (hook field, variable)
    /// in header order: checked before anything runs, so a run never ends unable to report.
    pub fn missing_webhook_envs(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(&'static str, &str)> {
        [
            ("on_complete", &self.on_complete),
            ("on_failure", &self.on_failure),
        ]
        .into_iter()
        .filter_map(|(field, hook)| Some((field, hook.as_ref()?.webhook_env.as_deref()?)))
        .filter(|(_, name)| env(name).is_none())
        .collect()
    }

    /// The task named `name`.
    pub fn get(&self, name: &str) -> Option<&WorkflowTask> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The tasks in [`Workflow::order`].
    pub fn in_order(&self) -> impl Iterator<Item = &WorkflowTask> {
        self.order.iter().filter_map(|&i| self.tasks.get(i))
    }

    /// Every job, as (task, cell), task by task in [`Workflow::order`].
    pub fn jobs(&self) -> impl Iterator<Item = (&WorkflowTask, &MatrixCell)> {
        self.in_order()
            .flat_map(|t| t.cells.iter().map(move |c| (t, c)))
    }

    /// The tasks `name` needs, directly or through others (empty for an unknown name).
    pub fn upstream(&self, name: &str) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = vec![name];
        while let Some(n) = stack.pop() {
            for need in self.get(n).map(|t| t.needs.as_slice()).unwrap_or_default() {
                if seen.insert(need.as_str()) {
                    stack.push(need);
                }
            }
        }
        seen
    }

    /// The tasks that need `name`, directly or through others: what a failure of `name`
    /// stops, and what a rerun of `name` must rerun.
    pub fn downstream(&self, name: &str) -> BTreeSet<&str> {
        self.tasks
            .iter()
            .filter(|t| self.upstream(&t.name).contains(name))
            .map(|t| t.name.as_str())
            .collect()
    }

    /// The upstream jobs whose results job `(task, cell)` reads through its references, each
    /// once, in the order found (`setup`, `run`, envs, file mounts).
    pub fn reads(
        &self,
        task: &str,
        cell: &MatrixCell,
    ) -> Result<Vec<(String, MatrixCell)>, TaskError> {
        let subject = task_subject(task);
        let t = self
            .get(task)
            .ok_or_else(|| field_error(&subject, "name", "is not a task of this workflow"))?;
        let mut out: Vec<(String, MatrixCell)> = Vec::new();
        for (field, text) in texts(&t.task) {
            let found = refs::refs_in(text).map_err(|e| {
                field_error(
                    &subject,
                    &field,
                    format!("malformed reference {}: {}", e.written, e.why),
                )
            })?;
            for r in found {
                let picked = self
                    .pick(task, cell, &r)
                    .map_err(|what| field_error(&subject, &field, what))?;
                let key = (r.task.clone(), picked.clone());
                if !out.contains(&key) {
                    out.push(key);
                }
            }
        }
        Ok(out)
    }

    /// `text` (of task `task`, for its job `cell`) with each `${{ needs.X... }}` replaced by
    /// that upstream job's results location from `results`, pasted as `quoting` says. Nothing
    /// else changes (call [`substitute_matrix`] for `{KEY}`, before or after: neither touches
    /// the other's syntax). An error when a reference is malformed or names no upstream job,
    /// or when `results` has no location for the job it names.
    pub fn resolve(
        &self,
        task: &str,
        cell: &MatrixCell,
        text: &str,
        quoting: Quoting,
        results: Results<'_>,
    ) -> Result<String, TaskError> {
        self.fill(task, cell, "text", text, quoting, false, results)
    }

    /// The task job `(task, cell)` runs: in `run` and `setup` `{KEY}` and references filled
    /// (quoted for the shell), in env values and file mounts (destinations too) references
    /// filled as they are, and the cell's values added to the envs (over the task's own).
    pub fn render(
        &self,
        task: &str,
        cell: &MatrixCell,
        results: Results<'_>,
    ) -> Result<Task, TaskError> {
        let t = self.get(task).ok_or_else(|| {
            field_error(
                &task_subject(task),
                "name",
                "is not a task of this workflow",
            )
        })?;
        let mut out = t.task.clone();
        let shell = |field: &str, s: &Option<String>| -> Result<Option<String>, TaskError> {
            s.as_ref()
                .map(|s| self.fill(task, cell, field, s, Quoting::Shell, true, results))
                .transpose()
        };
        out.setup = shell("setup", &t.task.setup)?;
        out.run = shell("run", &t.task.run)?;
        let raw =
            |field: &str, s: &str| self.fill(task, cell, field, s, Quoting::Raw, false, results);
        for (k, v) in out.envs.iter_mut() {
            if let Some(v) = v {
                *v = raw(&format!("envs.{k}"), v)?;
            }
        }
        for (k, v) in cell.envs() {
            out.envs.insert(k.to_string(), Some(v.to_string()));
        }
        let mut mounts = BTreeMap::new();
        for (dst, mount) in &t.task.file_mounts {
            let at = format!("file_mounts.{dst}");
            let mount = match mount {
                FileMount::Source(src) => FileMount::Source(raw(&at, src)?),
                FileMount::Storage {
                    name,
                    source,
                    store,
                    mode,
                } => FileMount::Storage {
                    name: name
                        .as_deref()
                        .map(|n| raw(&format!("{at}.name"), n))
                        .transpose()?,
                    source: source
                        .as_deref()
                        .map(|s| raw(&format!("{at}.source"), s))
                        .transpose()?,
                    store: store.clone(),
                    mode: *mode,
                },
            };
            mounts.insert(raw(&at, dst)?, mount);
        }
        out.file_mounts = mounts;
        Ok(out)
    }

    /// One text: references resolved, and with `matrix` also `{KEY}` in the literal parts.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        &self,
        task: &str,
        cell: &MatrixCell,
        field: &str,
        text: &str,
        quoting: Quoting,
        matrix: bool,
        results: Results<'_>,
    ) -> Result<String, TaskError> {
        let subject = task_subject(task);
        let pieces = refs::parse(text).map_err(|e| {
            field_error(
                &subject,
                field,
                format!(
                    "malformed reference {}: {}; {}.",
                    e.written,
                    e.why,
                    refs::FORMS
                ),
            )
        })?;
        let mut out = String::with_capacity(text.len());
        for piece in pieces {
            match piece {
                Piece::Text(s) if matrix => out.push_str(&matrix::substitute_plain(s, cell)),
                Piece::Text(s) => out.push_str(s),
                Piece::Ref(r) => {
                    let picked = self
                        .pick(task, cell, &r)
                        .map_err(|what| field_error(&subject, field, what))?;
                    let Some(location) = results(&r.task, picked) else {
                        return Err(field_error(
                            &subject,
                            field,
                            format!(
                                "{}: the job {} has no results location (it has not completed, \
                                 or its platform kept no results). Give it results (e.g. \
                                 TAO_RESULTS_ROOT or S3_BUCKET_NAME) and rerun it.",
                                r.written,
                                job_name(&r.task, picked)
                            ),
                        ));
                    };
                    match quoting {
                        Quoting::Shell => out.push_str(&sh_quote(&location)),
                        Quoting::Raw => out.push_str(&location),
                    }
                }
            }
        }
        Ok(out)
    }

    /// The one upstream job reference `r` of job `(task, cell)` names, or what is wrong.
    fn pick<'w>(
        &'w self,
        task: &str,
        cell: &MatrixCell,
        r: &NeedsRef,
    ) -> Result<&'w MatrixCell, String> {
        let w = &r.written;
        let Some(up) = self.get(&r.task) else {
            let hint = close_match(&r.task, self.tasks.iter().map(|t| t.name.as_str()), 0.6)
                .map(|m| format!(" (did you mean '{m}'?)"))
                .unwrap_or_default();
            return Err(format!("{w}: no task is named '{}'{hint}.", r.task));
        };
        let upstream = self.upstream(task);
        if !upstream.contains(r.task.as_str()) {
            let have = if upstream.is_empty() {
                "it needs no task".to_string()
            } else {
                format!(
                    "its upstream tasks: {}",
                    upstream.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(format!(
                "{w}: '{}' is not upstream of '{task}' ({have}), so its results may not exist \
                 when '{task}' runs. Add '{}' to the needs of '{task}'.",
                r.task, r.task
            ));
        }
        let in_job = if cell.is_empty() {
            String::new()
        } else {
            format!(" (in job {cell})")
        };
        let Some(selector) = &r.selector else {
            return match up.cells.as_slice() {
                [one] => Ok(one),
                cells => Err(format!(
                    "{w}: '{}' runs {} matrix jobs; pick one with [KEY=VALUE], e.g. \
                     ${{{{ needs.{}[{}].results }}}}.",
                    r.task,
                    cells.len(),
                    r.task,
                    cells.first().map(MatrixCell::label).unwrap_or_default()
                )),
            };
        };
        if up.cells.iter().all(MatrixCell::is_empty) {
            return Err(format!(
                "{w}: '{}' has no matrix, so there is nothing to select; write \
                 ${{{{ needs.{}.results }}}}.",
                r.task, r.task
            ));
        }
        let mut wanted = BTreeMap::new();
        for (k, v) in selector {
            let mut unknown = None;
            let value = matrix::replace_keys(v, |key, _| match cell.get(key) {
                Some(val) => Some(val.to_string()),
                None => {
                    unknown.get_or_insert_with(|| key.to_string());
                    None
                }
            });
            if let Some(key) = unknown {
                return Err(format!(
                    "{w}: {{{key}}} in the selector names no matrix key of '{task}'{in_job}."
                ));
            }
            let mut values: Vec<&str> = Vec::new();
            for v in up.cells.iter().filter_map(|c| c.get(k)) {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            if values.is_empty() {
                let keys: BTreeSet<&str> = up
                    .cells
                    .iter()
                    .flat_map(|c| c.0.keys())
                    .map(String::as_str)
                    .collect();
                return Err(format!(
                    "{w}: '{}' has no matrix key {k} (its keys: {}).",
                    r.task,
                    keys.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            if !values.contains(&value.as_str()) {
                return Err(format!(
                    "{w}: {k}={value}{in_job} is not a value '{}' runs ({k}: {}).",
                    r.task,
                    values.join(", ")
                ));
            }
            wanted.insert(k.clone(), value);
        }
        let matching: Vec<&MatrixCell> = up.cells.iter().filter(|c| c.matches(&wanted)).collect();
        let label = MatrixCell(wanted).label();
        match matching.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "{w}: no job of '{}' has {label}{in_job} (matrix_exclude removed it?).",
                r.task
            )),
            many => Err(format!(
                "{w}: {label}{in_job} matches {} jobs of '{}' ({}); add keys to pick one.",
                many.len(),
                r.task,
                many.iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// `task` or `task[k=v,...]`, as messages name a job.
pub fn job_name(task: &str, cell: &MatrixCell) -> String {
    if cell.is_empty() {
        task.to_string()
    } else {
        format!("{task}{cell}")
    }
}

#[cfg(test)]
mod tests;
