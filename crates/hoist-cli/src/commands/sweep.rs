//! `hoist run --matrix KEY=V1,V2 …`: a sweep of one command, as a one-task workflow (the same
//! engine, run folder and `hoist runs` as a task file's).

use super::input;
use super::workflow::{Start, begin};
use crate::cli::RunArgs;
use hoist::core::spec::{is_secret_name, validate_env_name};
use hoist::core::{Command, InputError};
use hoist::{Hoist, JobRequest};
use hoist_task::engine::JobPlanner;
use hoist_task::launch::Planned;
use hoist_task::runspec::{Plan, RunSpec, without_secret_values};
use hoist_task::schema::Task;
use hoist_task::workflow::{MatrixCell, Results, Workflow, WorkflowTask, substitute_matrix};
use std::collections::BTreeMap;

/// `KEY=V1,V2` flags as axes, in the order given.
fn axes(given: &[String]) -> Result<Vec<(String, Vec<String>)>, InputError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for g in given {
        let (k, v) = g.split_once('=').ok_or_else(|| {
            InputError::new(
                format!("--matrix {g}: expected KEY=V1,V2"),
                "e.g. --matrix lr=0.1,0.01",
            )
        })?;
        validate_env_name(k)?;
        let values: Vec<String> = v.split(',').map(str::to_string).collect();
        if values.iter().any(String::is_empty) {
            return Err(InputError::new(
                format!("--matrix {g}: an empty value"),
                "list values separated by commas, e.g. --matrix bs=8,16",
            ));
        }
        if out.iter().any(|(o, _)| o == k) {
            return Err(InputError::new(
                format!("--matrix {k} is given twice"),
                "give each key once, with all its values",
            ));
        }
        out.push((k.to_string(), values));
    }
    Ok(out)
}

/// Every combination, the first key varying slowest.
fn cells(axes: &[(String, Vec<String>)]) -> Vec<MatrixCell> {
    let mut out = vec![BTreeMap::new()];
    for (k, values) in axes {
        out = out
            .into_iter()
            .flat_map(|c: BTreeMap<String, String>| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(k.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    out.into_iter().map(MatrixCell).collect()
}

/// The command's request with one cell's values: `{KEY}` in argv words as is (no shell
/// reads them), in a shell string quoted; `KEY` in the env.
pub(super) struct Sweep {
    pub template: JobRequest,
}

impl JobPlanner for Sweep {
    fn plan(
        &self,
        _h: &Hoist,
        _task: &str,
        cell: &MatrixCell,
        _results: Results<'_>,
        workflow_id: Option<&str>,
    ) -> Result<Planned, InputError> {
        let mut req = self.template.clone();
        req.command = match &req.command {
            Command::Argv(words) => Command::Argv(
                words
                    .iter()
                    .map(|w| {
                        cell.envs()
                            .fold(w.clone(), |w, (k, v)| w.replace(&format!("{{{k}}}"), v))
                    })
                    .collect(),
            ),
            Command::Shell(text) => Command::Shell(substitute_matrix(text, cell)),
        };
        for (k, v) in cell.envs() {
            req.env.retain(|(n, _)| n != k);
            req.env.push((k.to_string(), Some(v.to_string())));
        }
        req.workflow_id = workflow_id.map(str::to_string);
        Ok(Planned {
            platform: req.platform.clone(),
            request: req,
            warnings: Vec::new(),
            normalized: serde_json::Value::Null,
            registry: BTreeMap::new(),
        })
    }
}

pub async fn run(
    h: &Hoist,
    a: &RunArgs,
    template: JobRequest,
    reporter: hoist::core::SharedReporter,
) -> anyhow::Result<i32> {
    if a.dry_run {
        return Err(input(InputError::new(
            "--dry-run shows one job; a sweep is many",
            "drop --matrix to see one job's request",
        )));
    }
    let axes = axes(&a.matrix).map_err(input)?;
    let name = template.name.clone().unwrap_or_else(|| "sweep".into());
    let source = format!(
        "# hoist run --matrix\nname: {name}\nmatrix:\n{}",
        axes.iter()
            .map(|(k, v)| format!("  {k}: [{}]\n", v.join(", ")))
            .collect::<String>()
    );
    let wf = sweep_workflow(&template, &axes, a.max_parallel);
    // Secret values stay in the environment: a detached driver is handed them there.
    let handed: Vec<(String, String)> = template
        .env
        .iter()
        .filter(|(k, _)| template.secret_env.contains(k) || is_secret_name(k))
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    let spec = RunSpec {
        plan: Plan::Sweep {
            template: Box::new(without_secret_values(template)),
            axes,
        },
        base: std::env::current_dir()?,
        max_parallel: a.max_parallel,
        fail_fast: false,
    };
    let start = Start {
        spec,
        source,
        run_dir: None,
        detach: a.detach,
        handed,
    };
    begin(h, &wf, start, reporter).await
}

/// The one-task workflow of a sweep.
pub(super) fn sweep_workflow(
    template: &JobRequest,
    axes: &[(String, Vec<String>)],
    max_parallel: Option<u32>,
) -> Workflow {
    let name = template.name.clone().unwrap_or_else(|| "sweep".into());
    Workflow {
        name: Some(name.clone()),
        on_complete: None,
        on_failure: None,
        max_parallel,
        tasks: vec![WorkflowTask {
            name,
            task: Task::default(),
            needs: Vec::new(),
            cells: cells(axes),
            max_parallel: None,
        }],
        order: vec![0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_and_cells() {
        let a = axes(&["lr=0.1,0.01".into(), "bs=8,16,32".into()]).expect("axes");
        let c = cells(&a);
        assert_eq!(c.len(), 6);
        assert_eq!(
            c[0].label(),
            MatrixCell::of([("lr", "0.1"), ("bs", "8")]).label()
        );
        assert!(axes(&["1x=a".into()]).is_err());
        assert!(axes(&["lr=".into()]).is_err());
        assert!(axes(&["lr=1".into(), "lr=2".into()]).is_err());
    }
}
