//! Workflow runs: the run folders (`hoist runs`), each job's status taken from the store
//! (kept fresh by the shared loop), the DAG as an indented tree and a matrix as a grid.

use crate::api::{Answer, Failure};
use crate::pages::html;
use crate::{State, Ui, fmt};
use askama::Template;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use hoist::store::ListFilter;
use hoist_task::runs::{Run, RunJob, depths, list};
use std::collections::BTreeSet;

/// The run `id` names (`NAME/TIMESTAMP`, or NAME for its latest), by id only: a folder path
/// from a URL is never read.
fn find(ui: &Ui, id: &str) -> Answer<Run> {
    let all = list(&ui.runs_root);
    all.iter()
        .find(|r| r.id == id)
        .or_else(|| all.iter().find(|r| r.name == id))
        .cloned()
        .ok_or_else(|| {
            Failure(
                StatusCode::NOT_FOUND,
                format!("no workflow run {id:?}; /runs lists them (NAME/TIMESTAMP, or NAME for its latest)"),
            )
        })
}

/// The run with each submitted job's status as the store has it now.
fn fresh(ui: &Ui, mut run: Run) -> Answer<Run> {
    let now = ui.h.store().list_summaries(&ListFilter {
        workflow_id: Some(run.workflow_id.clone()),
        ..Default::default()
    })?;
    run.refresh_from(&now);
    Ok(run)
}

/// `GET /api/runs`: `hoist runs --json`.
pub async fn api_list(s: State) -> Json<Vec<Run>> {
    Json(list(&s.runs_root))
}

/// `GET /api/runs/{id}`: `hoist runs show ID --json`.
pub async fn api_one(s: State, Path(id): Path<String>) -> Answer<Json<Run>> {
    Ok(Json(fresh(&s, find(&s, &id)?)?))
}

struct RunRow {
    id: String,
    name: String,
    started: String,
    state: String,
    class: &'static str,
    counts: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    csrf: String,
    runs: Vec<RunRow>,
}

/// `GET /runs`.
pub async fn page_list(s: State) -> Answer<Response> {
    let runs = list(&s.runs_root)
        .into_iter()
        .map(|r| RunRow {
            class: state_class(&r.state),
            counts: r
                .counts
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            id: r.id,
            name: r.name,
            started: r.started,
            state: r.state,
        })
        .collect();
    html(&RunsPage {
        csrf: s.auth.csrf().to_string(),
        runs,
    })
}

fn state_class(state: &str) -> &'static str {
    match state {
        "complete" => "st-complete",
        "failed" => "st-error",
        "running" => "st-running",
        "canceled" => "st-canceled",
        _ => "st-other",
    }
}

#[derive(Clone)]
struct Cell {
    label: String,
    job_id: String,
    short: String,
    status: String,
    class: &'static str,
    exit: String,
    message: String,
}

/// A task whose jobs vary along exactly two matrix keys, laid out as rows × columns.
struct Grid {
    row_key: String,
    col_key: String,
    cols: Vec<String>,
    rows: Vec<(String, Vec<Option<Cell>>)>,
}

struct TaskView {
    name: String,
    depth: usize,
    needs: String,
    cells: Vec<Cell>,
    grid: Option<Grid>,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    csrf: String,
    run: Run,
    class: &'static str,
    counts: String,
    tasks: Vec<TaskView>,
}

/// `k=v,k2=v2` of `task[k=v,k2=v2]`.
fn params(name: &str) -> Vec<(String, String)> {
    let Some(inner) = name
        .split_once('[')
        .and_then(|(_, rest)| rest.strip_suffix(']'))
    else {
        return vec![];
    };
    inner
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cell(j: &RunJob) -> Cell {
    let label = j
        .name
        .split_once('[')
        .map(|(_, rest)| rest.trim_end_matches(']').to_string())
        .unwrap_or_else(|| j.name.clone());
    let id = j.job_id.clone().unwrap_or_default();
    Cell {
        label,
        short: id.chars().take(8).collect(),
        job_id: id,
        class: fmt::word_class(&j.status),
        status: j.status.clone(),
        exit: j.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        message: j.message.lines().next().unwrap_or_default().to_string(),
    }
}

fn grid(jobs: &[&RunJob]) -> Option<Grid> {
    let ps: Vec<Vec<(String, String)>> = jobs.iter().map(|j| params(&j.name)).collect();
    let keys: Vec<String> = ps.first()?.iter().map(|(k, _)| k.clone()).collect();
    if keys.len() != 2 || ps.iter().any(|p| p.iter().map(|(k, _)| k).ne(keys.iter())) {
        return None;
    }
    let distinct = |i: usize| -> Vec<String> {
        let mut seen = BTreeSet::new();
        ps.iter()
            .map(|p| p[i].1.clone())
            .filter(|v| seen.insert(v.clone()))
            .collect()
    };
    let (rows, cols) = (distinct(0), distinct(1));
    let rows = rows
        .into_iter()
        .map(|r| {
            let line = cols
                .iter()
                .map(|c| {
                    ps.iter()
                        .position(|p| p[0].1 == r && p[1].1 == *c)
                        .map(|i| cell(jobs[i]))
                })
                .collect();
            (r, line)
        })
        .collect();
    Some(Grid {
        row_key: keys[0].clone(),
        col_key: keys[1].clone(),
        cols,
        rows,
    })
}

/// `GET /runs/{id}`: the DAG with each job's state, counts, and a matrix as a grid.
pub async fn page_one(s: State, Path(id): Path<String>) -> Answer<Response> {
    let run = fresh(&s, find(&s, &id)?)?;
    let depth = depths(&run);
    let tasks = run
        .tasks
        .iter()
        .map(|t| {
            let jobs: Vec<&RunJob> = run.jobs.iter().filter(|j| j.task == t.name).collect();
            TaskView {
                name: t.name.clone(),
                depth: depth.get(&t.name).copied().unwrap_or(0),
                needs: t.needs.join(", "),
                grid: grid(&jobs),
                cells: jobs.into_iter().map(cell).collect(),
            }
        })
        .collect();
    html(&RunPage {
        csrf: s.auth.csrf().to_string(),
        class: state_class(&run.state),
        counts: run
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        tasks,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str) -> RunJob {
        RunJob {
            name: name.into(),
            task: "t".into(),
            job_id: None,
            status: "Complete".into(),
            exit_code: None,
            message: String::new(),
        }
    }

    #[test]
    fn two_keys_make_a_grid() {
        let js = [
            job("t[lr=1,bs=8]"),
            job("t[lr=1,bs=16]"),
            job("t[lr=2,bs=8]"),
        ];
        let refs: Vec<&RunJob> = js.iter().collect();
        let g = grid(&refs).expect("a grid");
        assert_eq!((g.row_key.as_str(), g.col_key.as_str()), ("lr", "bs"));
        assert_eq!(g.cols, ["8", "16"]);
        assert_eq!(g.rows.len(), 2);
        assert!(g.rows[1].1[1].is_none(), "lr=2,bs=16 was not run");
    }

    #[test]
    fn other_shapes_are_a_list() {
        let js = [job("t[lr=1]"), job("t[lr=2]")];
        let refs: Vec<&RunJob> = js.iter().collect();
        assert!(grid(&refs).is_none());
        assert!(grid(&[]).is_none());
    }
}
