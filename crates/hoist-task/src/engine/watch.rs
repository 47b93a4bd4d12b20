//! How the engine keeps track of running jobs: following one job's output, polling all of
//! them in one batched refresh, and taking back the jobs an earlier driver of the same run
//! submitted (the step fence of a resume).

use super::journal::event;
use super::schedule::safe_name;
use super::{Follow, Observer, RunFolder, Slot, State};
use hoist::core::{JobRecord, JobStatus};
use hoist::store::ListFilter;
use hoist::{Hoist, HoistError};
use std::collections::HashMap;

/// Stream job `i`'s output to the observer and the run folder until it ends.
pub(super) fn follow<'a>(
    h: &'a Hoist,
    obs: &'a dyn Observer,
    folder: &'a RunFolder,
    i: usize,
    name: &str,
    job: JobRecord,
) -> Follow<'a> {
    let name = name.to_string();
    Box::pin(async move {
        let r = h
            .follow_to_end(&job, None, |c| {
                obs.output(&name, c);
                let _ = folder.output(&name, c);
            })
            .await;
        (i, r)
    })
}

/// What a followed job ended with; when following broke (the platform went away), the
/// store's record is the answer.
pub(super) async fn settle(
    h: &Hoist,
    running: &JobRecord,
    r: hoist::Result<JobRecord>,
) -> JobRecord {
    let e = match r {
        Ok(j) => return j,
        Err(e) => e,
    };
    let mut j = h
        .status(&running.job_id)
        .await
        .unwrap_or_else(|_| running.clone());
    if !j.status.is_terminal() {
        j.message = format!("lost track of the job: {e}");
        j.status = JobStatus::Unknown;
    }
    j
}

/// One batched refresh of every running job; those that ended, with their records.
pub(super) async fn poll_round(h: &Hoist, slots: &mut [Slot]) -> Vec<(usize, JobRecord)> {
    let idx: Vec<usize> = (0..slots.len())
        .filter(|&i| matches!(slots[i].state, State::Running(_)))
        .collect();
    let recs: Vec<JobRecord> = idx
        .iter()
        .filter_map(|&i| match &slots[i].state {
            State::Running(j) => Some(j.clone()),
            _ => None,
        })
        .collect();
    // A round that fails (the platform is unreachable for now) is tried again next round.
    let Ok(fresh) = h.refresh(recs).await else {
        return Vec::new();
    };
    let mut ended = Vec::new();
    for (i, j) in idx.into_iter().zip(fresh) {
        if j.status.is_terminal() {
            ended.push((i, j));
        } else {
            slots[i].state = State::Running(j);
        }
    }
    ended
}

/// Take back what an earlier driver of this run submitted (its jobs carry the run's
/// workflow id and their job's name): a completed job is kept, a live one is watched again,
/// one that failed or was canceled runs again. This is the step fence: a job is submitted
/// only where the store has no live or completed one for it. Returns the slots now running.
pub(super) async fn adopt(
    h: &Hoist,
    obs: &dyn Observer,
    folder: &RunFolder,
    workflow_id: &str,
    slots: &mut [Slot],
) -> Result<Vec<usize>, HoistError> {
    let filter = ListFilter {
        workflow_id: Some(workflow_id.to_string()),
        ..ListFilter::default()
    };
    // Newest first, so the first record of a name is its latest attempt.
    let mut latest: HashMap<String, JobRecord> = HashMap::new();
    for r in h.store().list(&filter)? {
        latest.entry(r.name.clone()).or_insert(r);
    }
    if latest.is_empty() {
        return Ok(Vec::new());
    }
    let live: Vec<JobRecord> = latest
        .values()
        .filter(|r| !r.status.is_terminal())
        .cloned()
        .collect();
    for r in h.refresh(live).await? {
        latest.insert(r.name.clone(), r);
    }
    let mut running = Vec::new();
    for (i, s) in slots.iter_mut().enumerate() {
        let Some(r) = latest.remove(&safe_name(&s.name)) else {
            continue;
        };
        let (state, what) = match r.status {
            JobStatus::Complete => (State::Done(r.clone()), "kept"),
            st if st.is_terminal() => (State::Waiting, "rerun"),
            _ => {
                running.push(i);
                (State::Running(r.clone()), "adopted")
            }
        };
        event(folder, &s.name, what, r.status.as_str(), Some(&r));
        obs.resumed(&s.name, what, &r);
        s.state = state;
    }
    Ok(running)
}

/// A new run's id: from its folder's name, made unique where a folder of the same name ran
/// before (a reused `--run-dir`).
pub(super) fn new_workflow_id(h: &Hoist, run_dir: &std::path::Path) -> Result<String, HoistError> {
    let base = format!(
        "run-{}",
        run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let taken = |id: &str| -> Result<bool, HoistError> {
        let f = ListFilter {
            workflow_id: Some(id.to_string()),
            limit: Some(1),
            ..ListFilter::default()
        };
        Ok(!h.store().list_summaries(&f)?.is_empty())
    };
    if !taken(&base)? {
        return Ok(base);
    }
    Ok(format!("{base}-{}", epoch_millis()))
}

fn epoch_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}
