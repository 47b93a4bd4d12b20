//! What the engine writes into the run folder as it goes: one event per step, each failure
//! (with its analysis) until the job runs again, and the run's status.

use super::{RunFolder, Slot, State};
use crate::workflow::Workflow;
use hoist::core::JobRecord;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn event(
    folder: &RunFolder,
    job: &str,
    what: &str,
    message: &str,
    rec: Option<&JobRecord>,
) {
    let _ = folder.event(&json!({
        "time": hoist::core::now(), "job": job, "event": what, "message": message,
        "job_id": rec.map(|r| r.job_id.clone()), "exit_code": rec.and_then(|r| r.exit_code),
    }));
}

pub(super) fn record_failure(
    folder: &RunFolder,
    job: &str,
    rec: &JobRecord,
    a: &hoist::core::FailureAnalysis,
) {
    let path = folder.dir().join("failure_analysis.json");
    let mut all: BTreeMap<String, Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.insert(
        job.to_string(),
        json!({"job_id": rec.job_id, "class": a.err_class, "cause": a.cause, "suggestion": a.suggestion,
               "decisive_line": a.events.first().map(|e| e.message.clone())}),
    );
    let _ = folder.write_json("failure_analysis.json", &json!(all));
}

pub(super) fn forget_failure(folder: &RunFolder, job: &str) {
    let path = folder.dir().join("failure_analysis.json");
    let Some(mut all) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<BTreeMap<String, Value>>(&t).ok())
    else {
        return;
    };
    if all.remove(job).is_some() {
        let _ = folder.write_json("failure_analysis.json", &json!(all));
    }
}

pub(super) fn write_status(
    folder: &RunFolder,
    wf: &Workflow,
    slots: &[Slot],
    state: &str,
) -> std::io::Result<()> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut jobs = serde_json::Map::new();
    let mut active = Vec::new();
    for s in slots {
        *counts.entry(s.state.word()).or_default() += 1;
        let (id, status, exit, message) = match &s.state {
            State::Running(j) | State::Done(j) => (
                Some(j.job_id.clone()),
                j.status.as_str().to_string(),
                j.exit_code,
                j.message.clone(),
            ),
            State::Skipped(why) => (None, "skipped".into(), None, why.clone()),
            State::Waiting => (None, "waiting".into(), None, String::new()),
        };
        if let State::Running(j) = &s.state {
            active.push(json!({"job": s.name, "job_id": j.job_id}));
        }
        jobs.insert(
            s.name.clone(),
            json!({"task": wf.tasks[s.task].name, "matrix": s.cell, "job_id": id, "status": status, "exit_code": exit, "message": message}),
        );
    }
    folder.write_json(
        "status.json",
        &json!({"state": state, "updated": hoist::core::now(), "counts": counts, "jobs": jobs}),
    )?;
    folder.write_json("active_jobs.json", &json!(active))
}
