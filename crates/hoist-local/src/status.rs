//! What a local job's files say about it: the exit record, else the claim and the state file
//! checked against live processes. Every verb that needs a status (status, follow, why) reads
//! it here, so they all agree.

use crate::LocalPlatform;
use crate::files::{Claim, ExitFile, JobDir};
use hoist_core::{JobRecord, JobStatus, StatusReport};

impl LocalPlatform {
    /// The job's status as its files and processes show it now; settles a job whose
    /// supervisor vanished without an exit record.
    pub(crate) fn report(&self, job: &JobRecord) -> StatusReport {
        let jd = self.job_dir(&job.job_id);
        let rep = |status, message: String| StatusReport {
            status,
            message,
            exit_code: None,
            started_at: None,
            finished_at: None,
            retriable: false,
            restarts: None,
        };
        if let Some(e) = jd.exit() {
            return exit_report(&e, jd.state().map(|s| s.started_at));
        }
        match jd.read_claim() {
            None => rep(JobStatus::Pending, "launching".into()),
            Some(Claim::Reconcile) => rep(
                JobStatus::Error,
                "the launch was interrupted before the command started".into(),
            ),
            Some(Claim::Canceled) => rep(JobStatus::Canceled, "canceled before it started".into()),
            Some(Claim::Supervisor(sup)) => match jd.state() {
                Some(st) => {
                    let mut r = rep(JobStatus::Running, String::new());
                    r.started_at = Some(st.started_at);
                    if sup.alive() {
                        return r;
                    }
                    if st.child.alive() {
                        r.message = "the supervisor is gone but the command still runs; its exit code will not be known".into();
                        return r;
                    }
                    settle_lost(
                        &jd,
                        "the supervisor and the command are gone without an exit record (killed, or the host rebooted)",
                        Some(st.started_at),
                    )
                }
                None if sup.alive() => rep(JobStatus::Pending, "starting".into()),
                None => settle_lost(&jd, "the supervisor died before starting the command", None),
            },
        }
    }
}

/// The supervisor is gone: record the job as lost unless its real exit record landed in the
/// meantime (it may have finished between our first look and now), and report what stands.
fn settle_lost(jd: &JobDir, message: &str, started_at: Option<jiff::Timestamp>) -> StatusReport {
    let lost = ExitFile {
        exit_code: None,
        signal: None,
        canceled: false,
        finished_at: jiff::Timestamp::now(),
        message: message.into(),
    };
    let _ = jd.write_exit(&lost);
    exit_report(&jd.exit().unwrap_or(lost), started_at)
}

fn exit_report(e: &ExitFile, started_at: Option<jiff::Timestamp>) -> StatusReport {
    let status = if e.canceled {
        JobStatus::Canceled
    } else if e.exit_code == Some(0) {
        JobStatus::Complete
    } else {
        JobStatus::Error
    };
    StatusReport {
        status,
        message: e.message.clone(),
        exit_code: e.exit_code,
        started_at,
        finished_at: Some(e.finished_at),
        retriable: false,
        restarts: None,
    }
}
