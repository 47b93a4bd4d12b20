//! `hoist runs`: workflow runs, read from their folders; job states refreshed from the store
//! and platforms, since a run folder is only as fresh as its engine's last write.

use super::input;
use crate::cli::{RunsArgs, RunsCmd};
use hoist::Hoist;
use hoist::core::InputError;
use hoist::store::ListFilter;
use hoist_task::runs::{Run, depths, find, list};

/// The run with every submitted job's status as the platforms see it now: one listing of
/// the run's workflow, refreshed with one batched call per platform (as `hoist ls` does).
async fn fresh(h: &Hoist, mut run: Run) -> anyhow::Result<Run> {
    let now = h
        .list(&ListFilter {
            workflow_id: Some(run.workflow_id.clone()),
            ..Default::default()
        })
        .await?;
    for j in &mut run.jobs {
        if let Some(rec) = now.iter().find(|r| Some(&r.job_id) == j.job_id.as_ref()) {
            j.status = rec.status.as_str().to_string();
            j.exit_code = rec.exit_code.map(i64::from);
            j.message = rec.message.clone();
        }
    }
    Ok(run)
}

fn active(run: &Run) -> Vec<&str> {
    run.jobs
        .iter()
        .filter(|j| {
            j.job_id.is_some()
                && !matches!(
                    j.status.as_str(),
                    "Complete" | "Error" | "Canceled" | "Unknown"
                )
        })
        .filter_map(|j| j.job_id.as_deref())
        .collect()
}

pub async fn run(h: &Hoist, a: RunsArgs) -> anyhow::Result<i32> {
    let root = h.home().join("runs");
    match a.cmd.unwrap_or(RunsCmd::Ls { json: a.json }) {
        RunsCmd::Ls { json } => {
            let runs = list(&root);
            if json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                println!("{:<40} {:<24} {:<9} JOBS", "RUN", "STARTED", "STATE");
                for r in &runs {
                    let counts: Vec<String> =
                        r.counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
                    println!(
                        "{:<40} {:<24} {:<9} {}",
                        r.id,
                        r.started,
                        r.state,
                        counts.join(", ")
                    );
                }
            }
        }
        RunsCmd::Show { run, json } => {
            let r = fresh(h, find(&root, &run).map_err(input)?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(0);
            }
            println!(
                "{} ({}, {}) {}",
                r.id,
                r.state,
                r.workflow_id,
                r.dir.display()
            );
            let depth = depths(&r);
            for t in &r.tasks {
                let pad = "  ".repeat(depth.get(&t.name).copied().unwrap_or(0));
                let needs = if t.needs.is_empty() {
                    String::new()
                } else {
                    format!(" (needs {})", t.needs.join(", "))
                };
                println!("{pad}{}{needs}", t.name);
                for j in r.jobs.iter().filter(|j| j.task == t.name) {
                    let id = j
                        .job_id
                        .as_deref()
                        .map(|i| &i[..i.len().min(8)])
                        .unwrap_or("-");
                    let exit = j
                        .exit_code
                        .map(|c| format!(" exit {c}"))
                        .unwrap_or_default();
                    let why = if j.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", j.message)
                    };
                    println!("{pad}  {} {id} {}{exit}{why}", j.name, j.status);
                }
            }
        }
        RunsCmd::Cancel { run } => {
            let r = fresh(h, find(&root, &run).map_err(input)?).await?;
            let ids = active(&r);
            for id in &ids {
                h.cancel(id).await?;
            }
            eprintln!("hoist: run {}: {} active job(s) canceled", r.id, ids.len());
        }
        RunsCmd::Rm { run } => {
            let r = fresh(h, find(&root, &run).map_err(input)?).await?;
            let ids = active(&r);
            if !ids.is_empty() {
                return Err(input(InputError::new(
                    format!("run {} has {} active job(s)", r.id, ids.len()),
                    format!("hoist runs cancel {} first", r.id),
                )));
            }
            std::fs::remove_dir_all(&r.dir)?;
            eprintln!(
                "hoist: run {} removed (its jobs stay: hoist ls --workflow {})",
                r.id, r.workflow_id
            );
        }
    }
    Ok(0)
}
