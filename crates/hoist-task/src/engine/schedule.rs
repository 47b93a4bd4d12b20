//! What the engine submits and when: the jobs of a workflow as slots, which are ready (every
//! task they need complete) or blocked, each planned and the ready ones submitted together.

use super::{EngineError, EngineOptions, JobPlanner, Slot, State, hooks};
use crate::launch::Planned;
use crate::pipeline::handle_for;
use crate::workflow::{MatrixCell, Workflow, job_name};
use hoist::Hoist;
use hoist::core::{InputError, JobRecord, JobStatus, SharedEnv};

/// Every job of `wf`, in run order, waiting.
pub(super) fn slots_of(wf: &Workflow) -> Vec<Slot> {
    let mut slots = Vec::new();
    for &ti in &wf.order {
        let t = &wf.tasks[ti];
        for cell in &t.cells {
            slots.push(Slot {
                task: ti,
                task_name: t.name.clone(),
                cell: cell.clone(),
                name: job_name(&t.name, cell),
                state: State::Waiting,
            });
        }
    }
    slots
}

/// The checks [`run`] makes before it submits anything, for a front door that hands the run
/// to another process (`hoist launch -d`) and must refuse bad input itself.
pub fn preflight(
    h: &Hoist,
    wf: &Workflow,
    planner: &dyn JobPlanner,
    base: &std::path::Path,
    env: &SharedEnv,
) -> Result<(), InputError> {
    match check_every_job(h, planner, base, &slots_of(wf)) {
        Ok(()) => {}
        Err(EngineError::Input(e)) => return Err(e),
        Err(e) => return Err(InputError::new(e.to_string(), "")),
    }
    hooks::check_webhook_envs(wf, env)
}

/// Plan every job with stand-in results before anything is submitted, so a bad task stops
/// the whole workflow while nothing runs.
pub(super) fn check_every_job(
    h: &Hoist,
    planner: &dyn JobPlanner,
    base: &std::path::Path,
    slots: &[Slot],
) -> Result<(), EngineError> {
    // Upstream results are not known yet: an existing directory stands in, so a reference
    // in a file mount passes the checks a real location will get at submit.
    let stand_in = base.display().to_string();
    let placeholder = |_: &str, _: &MatrixCell| Some(stand_in.clone());
    for s in slots {
        planner
            .plan(h, &s.task_name, &s.cell, &placeholder, None)
            .map_err(|e| {
                InputError::new(format!("job {}: {}", s.name, e.message), e.hint.clone())
            })?;
    }
    Ok(())
}

/// Why the jobs of task `ti` can no longer run, if they cannot.
pub(super) fn blocker(wf: &Workflow, slots: &[Slot], ti: usize) -> Option<String> {
    let t = &wf.tasks[ti];
    slots
        .iter()
        .filter(|s| t.needs.contains(&wf.tasks[s.task].name))
        .find_map(|s| match &s.state {
            State::Done(j) if j.status != JobStatus::Complete => {
                Some(format!("{} ended {}", s.name, j.status))
            }
            State::Skipped(_) => Some(format!("{} did not run", s.name)),
            _ => None,
        })
}

/// Whether every job of every task `ti` needs has completed.
pub(super) fn needs_done(wf: &Workflow, slots: &[Slot], ti: usize) -> bool {
    let t = &wf.tasks[ti];
    slots
        .iter()
        .filter(|s| t.needs.contains(&wf.tasks[s.task].name))
        .all(|s| matches!(&s.state, State::Done(j) if j.status == JobStatus::Complete))
}

/// Slot `i` planned with the upstream results.
pub(super) fn plan_slot(
    h: &Hoist,
    wf: &Workflow,
    planner: &dyn JobPlanner,
    slots: &[Slot],
    i: usize,
    workflow_id: &str,
) -> Result<Planned, String> {
    let s = &slots[i];
    let results = |task: &str, cell: &MatrixCell| {
        slots.iter().find_map(|o| match &o.state {
            State::Done(j) if wf.tasks[o.task].name == task && o.cell == *cell => {
                j.results_location.clone()
            }
            _ => None,
        })
    };
    let mut p = planner
        .plan(h, &s.task_name, &s.cell, &results, Some(workflow_id))
        .map_err(|e| e.to_string())?;
    p.request.name = Some(safe_name(&s.name));
    Ok(p)
}

/// Submit the ready slots: in one `create_jobs` call (one ssh round trip per SLURM login
/// host, bounded concurrency elsewhere), except a task with a registry login of its own,
/// which goes through a handle that sees it.
pub(super) async fn submit_ready(
    h: &Hoist,
    wf: &Workflow,
    planner: &dyn JobPlanner,
    opts: &EngineOptions,
    slots: &[Slot],
    ready: &[usize],
    workflow_id: &str,
) -> Vec<(usize, Result<JobRecord, String>)> {
    let mut out = Vec::new();
    let mut batch: Vec<(usize, hoist::JobRequest)> = Vec::new();
    for &i in ready {
        let p = match plan_slot(h, wf, planner, slots, i, workflow_id) {
            Ok(p) => p,
            Err(e) => {
                out.push((i, Err(e)));
                continue;
            }
        };
        if p.registry.is_empty() {
            batch.push((i, p.request));
            continue;
        }
        let answer = match handle_for(h, &p, opts.env.clone(), opts.reporter.clone()) {
            Ok(own) => own
                .as_ref()
                .unwrap_or(h)
                .create_job(p.request)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        out.push((i, answer));
    }
    let (idx, reqs): (Vec<usize>, Vec<hoist::JobRequest>) = batch.into_iter().unzip();
    let answers = h.create_jobs(reqs).await;
    out.extend(
        idx.into_iter()
            .zip(answers)
            .map(|(i, r)| (i, r.map_err(|e| e.to_string()))),
    );
    out.sort_by_key(|(i, _)| *i);
    out
}

/// A job name platforms take: `train[lr=0.1]` → `train-lr-0.1`.
pub(super) fn safe_name(name: &str) -> String {
    hoist::core::staging::file_safe(name, '-')
        .trim_matches('-')
        .replace("--", "-")
}

pub(super) async fn cancel_running(h: &Hoist, slots: &[Slot]) {
    for s in slots {
        if let State::Running(j) = &s.state {
            let _ = h.cancel(&j.job_id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_platforms_take() {
        assert_eq!(safe_name("train[lr=0.1,bs=8]"), "train-lr-0.1-bs-8");
        assert_eq!(safe_name("prep"), "prep");
    }
}
