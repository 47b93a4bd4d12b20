//! A Lepton job's state in the contract's terms, decided from the state *and* the worker
//! counts. Pure.

use hoist_core::{JobStatus, StatusReport};
use jiff::Timestamp;
use serde_json::Value;

/// What `status` of a Lepton job says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobState {
    /// The job's id.
    pub id: String,
    /// Lepton's state word.
    pub state: String,
    /// Workers ready.
    pub ready: u64,
    /// Workers active.
    pub active: u64,
    /// Workers failed.
    pub failed: u64,
    /// Workers succeeded.
    pub succeeded: u64,
    /// Workers asked for.
    pub completions: u64,
    /// When it was created.
    pub created: Option<Timestamp>,
    /// When it ended.
    pub completed: Option<Timestamp>,
}

/// An epoch time of unknown unit (Lepton's status times are not pinned down): seconds,
/// milliseconds, microseconds or nanoseconds, told apart by magnitude.
pub fn epoch(v: &Value) -> Option<Timestamp> {
    let n = v.as_f64()?;
    if n <= 0.0 {
        return None;
    }
    let secs = if n > 1e17 {
        n / 1e9
    } else if n > 1e14 {
        n / 1e6
    } else if n > 1e11 {
        n / 1e3
    } else {
        n
    };
    Timestamp::from_millisecond((secs * 1000.0) as i64).ok()
}

/// Read a LeptonJob's id and status.
pub fn parse(job: &Value) -> Option<JobState> {
    let id = job.pointer("/metadata/id")?.as_str()?.to_string();
    let st = job.get("status").cloned().unwrap_or(Value::Null);
    let n = |k: &str| st.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(JobState {
        id,
        state: st
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        ready: n("ready"),
        active: n("active"),
        failed: n("failed"),
        succeeded: n("succeeded"),
        completions: job
            .pointer("/spec/completions")
            .and_then(Value::as_u64)
            .unwrap_or(1),
        created: st
            .get("creation_time")
            .and_then(epoch)
            .or_else(|| job.pointer("/metadata/created_at").and_then(epoch)),
        completed: st.get("completion_time").and_then(epoch),
    })
}

/// The report for a job in `st`. `canceled`: hoist asked for the stop.
pub fn report(st: &JobState, canceled: bool) -> StatusReport {
    let mut r = StatusReport {
        status: JobStatus::Unknown,
        message: String::new(),
        exit_code: None,
        started_at: st.created,
        finished_at: None,
        retriable: false,
        restarts: None,
    };
    let workers = st.completions.max(1);
    match st.state.as_str() {
        "Queueing" | "Starting" | "Awaiting" | "PendingRetry" | "Restarting" => {
            r.status = JobStatus::Pending;
            r.started_at = None;
            r.message = format!("{} on Lepton", st.state.to_ascii_lowercase());
        }
        "Running" => {
            r.status = JobStatus::Running;
            if st.ready < workers {
                // Lepton says Running once one worker runs; the job is not all there yet.
                r.message = format!("{}/{workers} workers ready", st.ready);
            }
        }
        "Terminating" => {
            r.status = JobStatus::Running;
            r.message = "terminating on Lepton".into();
        }
        "Completed" => {
            r.status = JobStatus::Complete;
            r.exit_code = Some(0);
            r.finished_at = st.completed;
        }
        "Failed" => {
            r.status = JobStatus::Error;
            r.finished_at = st.completed;
            r.message = format!("{}/{workers} workers failed on Lepton", st.failed.max(1));
        }
        "Stopped" | "Stopping" if canceled => {
            r.status = JobStatus::Canceled;
            r.finished_at = st.completed;
            r.message = "canceled".into();
        }
        "Stopped" | "Stopping" => {
            r.status = JobStatus::Paused;
            r.message = format!(
                "{} on Lepton (not by hoist): lep job start resumes it",
                st.state.to_ascii_lowercase()
            );
        }
        "Archived" if st.failed > 0 => {
            r.status = JobStatus::Error;
            r.finished_at = st.completed;
            r.message = format!("archived after {} worker(s) failed", st.failed);
        }
        "Archived" if st.succeeded > 0 => {
            r.status = JobStatus::Complete;
            r.exit_code = Some(0);
            r.finished_at = st.completed;
            r.message = "archived".into();
        }
        "Archived" => {
            r.message = "archived on Lepton without worker counts: its end is not known".into();
        }
        "Deleting" | "Deleted" => {
            r.message = format!(
                "{} on the workspace: its end is not known",
                st.state.to_ascii_lowercase()
            );
        }
        other => {
            r.message = format!("Lepton reports state {other:?}, which hoist does not know");
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(state: &str, ready: u64, failed: u64, succeeded: u64) -> JobState {
        JobState {
            id: "j".into(),
            state: state.into(),
            ready,
            active: 2,
            failed,
            succeeded,
            completions: 2,
            ..Default::default()
        }
    }

    #[test]
    fn every_state_and_the_worker_counts() {
        let s = |state, ready, f, ok, c| report(&st(state, ready, f, ok), c).status;
        for p in [
            "Queueing",
            "Starting",
            "Awaiting",
            "PendingRetry",
            "Restarting",
        ] {
            assert_eq!(s(p, 0, 0, 0, false), JobStatus::Pending, "{p}");
        }
        let partial = report(&st("Running", 1, 0, 0), false);
        assert_eq!(partial.status, JobStatus::Running);
        assert_eq!(partial.message, "1/2 workers ready");
        assert_eq!(report(&st("Running", 2, 0, 0), false).message, "");
        assert_eq!(s("Completed", 0, 0, 2, false), JobStatus::Complete);
        assert_eq!(s("Failed", 0, 1, 0, false), JobStatus::Error);
        assert_eq!(s("Stopped", 0, 0, 0, true), JobStatus::Canceled);
        assert_eq!(s("Stopping", 0, 0, 0, true), JobStatus::Canceled);
        assert_eq!(s("Stopped", 0, 0, 0, false), JobStatus::Paused);
        assert_eq!(s("Archived", 0, 0, 2, false), JobStatus::Complete);
        assert_eq!(s("Archived", 0, 1, 1, false), JobStatus::Error);
        assert_eq!(s("Archived", 0, 0, 0, false), JobStatus::Unknown);
        assert_eq!(s("Deleted", 0, 0, 0, false), JobStatus::Unknown);
        assert_eq!(s("UNK", 0, 0, 0, false), JobStatus::Unknown);
    }

    #[test]
    fn times_of_any_unit() {
        let want = Timestamp::from_second(1_760_000_000).ok();
        for v in [
            json!(1_760_000_000),
            json!(1_760_000_000_000u64),
            json!(1_760_000_000_000_000_000u64),
        ] {
            assert_eq!(epoch(&v), want, "{v}");
        }
        assert_eq!(epoch(&json!(null)), None);
        let j = parse(&json!({"metadata": {"id": "a-x7k2", "created_at": 1_760_000_000_000u64},
            "spec": {"completions": 2},
            "status": {"state": "Running", "ready": 1, "active": 2, "creation_time": 1_760_000_000}}))
        .expect("parse");
        assert_eq!((j.id.as_str(), j.completions, j.ready), ("a-x7k2", 2, 1));
        assert_eq!(j.created, want);
    }
}
