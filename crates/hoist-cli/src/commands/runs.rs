//! `hoist runs`: workflow runs, read from their folders; job states refreshed from the store
//! and platforms, since a run folder is only as fresh as its engine's last write.

use super::input;
use crate::cli::{RunsArgs, RunsCmd};
use hoist::Hoist;
use hoist::core::InputError;
use hoist::store::ListFilter;
use hoist::sys::lock::FileLock;
use hoist_task::engine::CANCEL_MARKER;
use hoist_task::runs::{Run, depths, find, list, set_state};
use hoist_task::runspec::DRIVER_LOCK;

/// The run with every submitted job's status as the platforms see it now: one listing of
/// the run's workflow, refreshed with one batched call per platform (as `hoist ls` does).
async fn fresh(h: &Hoist, mut run: Run) -> anyhow::Result<Run> {
    let now = h
        .list(&ListFilter {
            workflow_id: Some(run.workflow_id.clone()),
            ..Default::default()
        })
        .await?;
    run.refresh_from(&now);
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

/// Cancel every live job of the run.
async fn cancel_live(h: &Hoist, r: &Run) -> anyhow::Result<usize> {
    let live = h
        .list(&ListFilter {
            workflow_id: Some(r.workflow_id.clone()),
            ..Default::default()
        })
        .await?;
    let mut n = 0;
    for j in live.iter().filter(|j| !j.status.is_terminal()) {
        h.cancel(&j.job_id).await?;
        n += 1;
    }
    Ok(n)
}

/// Wait (up to 60 s) until no driver holds the run.
async fn driver_gone(dir: &std::path::Path) -> bool {
    let lock = dir.join(DRIVER_LOCK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while FileLock::holder(&lock).is_some_and(|p| p.alive()) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
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
            let r = find(&root, &run).map_err(input)?;
            // The driver is told first, so it submits nothing more; once it has let go of
            // the run, whatever it submitted meanwhile is canceled too.
            std::fs::write(r.dir.join(CANCEL_MARKER), b"")?;
            let mut n = cancel_live(h, &r).await?;
            if let Some(pid) = r.driver {
                if !driver_gone(&r.dir).await {
                    return Err(input(InputError::new(
                        format!("the run's driver (pid {pid}) has not stopped within 60 s"),
                        "its jobs are canceled; hoist runs show RUN tells when it ends",
                    )));
                }
                n += cancel_live(h, &r).await?;
            } else {
                set_state(&r.dir, "canceled")?;
            }
            eprintln!("hoist: run {}: {n} active job(s) canceled", r.id);
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
