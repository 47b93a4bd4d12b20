//! `hoist launch FILE`: a SkyPilot task (or pipeline) as hoist jobs.

use super::{exit_suffix, input, write_chunk};
use crate::cli::LaunchArgs;
use anyhow::Context;
use hoist::Hoist;
use hoist::core::{InputError, JobStatus, ProcessEnv, SharedReporter};
use hoist_task::launch::LaunchOptions;
use hoist_task::pipeline::{handle_for, plan_all, succeeded, tasks};
use hoist_task::schema::{TaskFile, load, validate_names};
use hoist_task::workflow::workflow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `--env K=V` / `--env K` (this shell's value, as `sky launch` takes it).
pub(super) fn overrides(given: &[String]) -> Result<BTreeMap<String, String>, InputError> {
    let mut out = BTreeMap::new();
    for g in given {
        let (k, v) = match g.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => {
                let v = std::env::var(g).map_err(|_| {
                    InputError::new(
                        format!("{g} is not set in local environment."),
                        format!("export {g}=… first, or pass {g}=VALUE"),
                    )
                })?;
                (g.clone(), v)
            }
        };
        out.insert(k, v);
    }
    Ok(out)
}

pub async fn run(h: &Hoist, a: LaunchArgs, reporter: SharedReporter) -> anyhow::Result<i32> {
    if let Some(dir) = a.resume.clone() {
        return super::workflow::resume(h, a, dir, reporter).await;
    }
    let file = a.file.clone().unwrap_or_default();
    let path = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| {
        input(InputError::new(
            format!("cannot read task file {path}: {e}"),
            "give the path of a task YAML",
        ))
    })?;
    let envs = overrides(&a.env).map_err(input)?;
    let secrets = overrides(&a.secret).map_err(input)?;
    let file = load(&text, &path, &envs, &secrets).map_err(|e| input(e.at(&path)))?;
    let (pipeline_name, ts) = tasks(&file);
    for t in &ts {
        validate_names(t).map_err(|e| input(e.at(&path)))?;
    }
    let pipeline = matches!(file, TaskFile::Pipeline { .. });
    let wf = workflow(&file).map_err(|e| input(e.at(&path)))?;
    let sweep = wf.tasks.iter().any(|t| t.cells.len() > 1);
    if (pipeline || sweep) && !a.dry_run {
        return super::workflow::run(h, a, wf, text, reporter).await;
    }
    let opts = LaunchOptions {
        platform: a.platform.clone(),
        profile: a.profile.clone(),
        gpus: a.gpus.clone(),
        image_id: a.image_id.clone(),
        num_nodes: a.num_nodes,
        name: a.name.clone(),
    };
    let base = std::env::current_dir().context("the current directory")?;
    let workflow = pipeline.then(|| {
        format!(
            "{}-{}",
            pipeline_name.clone().unwrap_or_else(|| "pipeline".into()),
            jiff::Timestamp::now().as_millisecond()
        )
    });
    let planned = plan_all(h, &file, &opts, &base, workflow.as_deref()).map_err(input)?;
    for p in &planned {
        for w in &p.warnings {
            eprintln!("hoist: warning: {w}");
        }
    }
    if a.dry_run {
        if a.json {
            let v = if pipeline {
                serde_json::json!({"kind": "pipeline", "name": pipeline_name, "tasks": planned.iter().map(|p| p.normalized.clone()).collect::<Vec<_>>()})
            } else {
                planned[0].normalized.clone()
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            for (i, p) in planned.iter().enumerate() {
                if pipeline {
                    println!(
                        "# task {}: {}",
                        i + 1,
                        p.request.name.clone().unwrap_or_default()
                    );
                }
                // The registry login is seen by the dry run too (a pull Secret, masked).
                let own = handle_for(h, p, Arc::new(ProcessEnv), reporter.clone())?;
                let hh = own.as_ref().unwrap_or(h);
                println!("{}", hh.dry_run(&p.request).await?.text.trim_end());
            }
        }
        return Ok(0);
    }
    // One task (pipelines and sweeps went to the workflow engine above).
    let Some(p) = planned.into_iter().next() else {
        return Ok(0);
    };
    let own = handle_for(h, &p, Arc::new(ProcessEnv), reporter.clone())?;
    let hh = own.as_ref().unwrap_or(h);
    let job = hh.create_job(p.request).await.context("submit failed")?;
    if a.detach {
        println!("{}", job.job_id);
        return Ok(0);
    }
    super::say_submitted(&job);
    let done = tokio::select! {
        r = hh.follow_to_end(&job, None, |chunk| {
            let _ = write_chunk(&mut std::io::stdout().lock(), chunk);
        }) => r?,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nhoist: detached; job {} keeps running (hoist logs -f {0}, hoist cancel {0})", job.short_id());
            return Ok(130);
        }
    };
    eprintln!(
        "hoist: job {} {}{}",
        done.short_id(),
        done.status,
        exit_suffix(&done)
    );
    if !succeeded(&done) && done.status == JobStatus::Error {
        eprintln!("hoist: why: hoist why {}", done.short_id());
    }
    Ok(done.status.cli_exit_code(done.exit_code).unwrap_or(1))
}
