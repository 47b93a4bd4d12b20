//! Why a SLURM job waits: its squeue line (state, reason, expected start, dependency) turned
//! into `hoist_core::pending`'s words.

use crate::SlurmPlatform;
use hoist_core::pending::{self, PendingAnalysis};
use hoist_core::spec::sh_quote;
use hoist_core::{JobRecord, PlatformError};

/// The squeue format [`parse`] reads: state, reason, expected start, dependency.
pub const FORMAT: &str = "%T|%r|%S|%E";

/// The analysis of one `squeue -h -o '%T|%r|%S|%E'` line of job `id`; `None` for a job that
/// is not pending (or no line).
pub fn parse(id: &str, line: &str) -> Option<PendingAnalysis> {
    let mut f = line.trim().splitn(4, '|');
    let state = f.next()?.trim();
    if crate::state::map_state(state) != hoist_core::JobStatus::Pending {
        return None;
    }
    let reason = f.next().unwrap_or("").trim();
    let start = f.next().unwrap_or("").trim();
    let dependency = f.next().unwrap_or("").trim();
    let mut evidence = format!("squeue -j {id}: state {state}, reason {reason}");
    let known = |v: &str| !v.is_empty() && v != "N/A" && v != "(null)" && v != "Unknown";
    if known(start) {
        evidence.push_str(&format!(", expected start {start}"));
    }
    if known(dependency) {
        evidence.push_str(&format!(", dependency {dependency}"));
    }
    let mut a = pending::slurm(reason, &evidence);
    // The words name the job as `ID` (`scontrol release ID`, `JobId=ID`): make it this one.
    a.unblock = a
        .unblock
        .replace(" ID", &format!(" {id}"))
        .replace("=ID", &format!("={id}"));
    Some(a)
}

impl SlurmPlatform {
    /// Ask squeue why the job waits.
    pub(crate) async fn pending(
        &self,
        job: &JobRecord,
    ) -> Result<Option<PendingAnalysis>, PlatformError> {
        let Some(id) = job.backend_job_id.as_deref() else {
            return Ok(None);
        };
        let out = self
            .run(&format!(
                "squeue -h -j {} -o {}",
                sh_quote(id),
                sh_quote(FORMAT)
            ))
            .await?;
        Ok(out.stdout.lines().find_map(|l| parse(id, l)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_line_is_explained_with_the_job_id_in_the_fix() {
        let a = parse("42", "PENDING|JobHeldUser|N/A|(null)").expect("pending");
        assert_eq!(a.reason, "JobHeldUser");
        assert_eq!(a.unblock, "release it: scontrol release 42");
        assert_eq!(
            a.evidence,
            "squeue -j 42: state PENDING, reason JobHeldUser"
        );
        let d = parse(
            "7",
            "PENDING|Dependency|2026-12-06T05:00:00|afterok:6(unfulfilled)",
        )
        .expect("pending");
        assert!(d.evidence.contains("expected start 2026-12-06T05:00:00"));
        assert!(d.evidence.contains("dependency afterok:6(unfulfilled)"));
        let b = parse("9", "PENDING|BeginTime|2026-12-06T05:00:00|(null)").expect("pending");
        assert!(
            b.unblock.contains("scontrol update JobId=9 StartTime=now"),
            "{}",
            b.unblock
        );
        assert!(parse("7", "RUNNING|None|2026-12-06T05:00:00|").is_none());
        assert!(parse("7", "").is_none());
    }
}
