//! Reading SLURM's answers: squeue, sacct, scontrol and sbatch output.

use hoist_core::JobStatus;

/// The contract status for a SLURM state word (`CANCELLED by 1000` reads as CANCELLED).
pub fn map_state(state: &str) -> JobStatus {
    let word = state
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches('+');
    match word {
        "PENDING" | "CONFIGURING" | "RESIZING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" => {
            JobStatus::Pending
        }
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" => JobStatus::Running,
        "COMPLETED" => JobStatus::Complete,
        "CANCELLED" | "PREEMPTED" | "REVOKED" => JobStatus::Canceled,
        "SUSPENDED" | "STOPPED" => JobStatus::Paused,
        "TIMEOUT" | "FAILED" | "BOOT_FAIL" | "DEADLINE" | "OUT_OF_MEMORY" | "NODE_FAIL"
        | "SPECIAL_EXIT" => JobStatus::Error,
        _ => JobStatus::Unknown,
    }
}

/// States after which SLURM itself could have run the job again (the retry candidates).
pub fn infrastructure_state(state: &str) -> bool {
    matches!(
        state.split_whitespace().next().unwrap_or(""),
        "NODE_FAIL" | "BOOT_FAIL"
    )
}

/// The job id from `sbatch --parsable` (`123` or `123;cluster`).
pub fn parse_sbatch(out: &str) -> Option<String> {
    let line = out.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let id = line.split(';').next()?.trim();
    id.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| id.to_string())
        .filter(|s| !s.is_empty())
}

/// One job in `squeue -o '%i|%T|%r'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// Job id.
    pub id: String,
    /// State.
    pub state: String,
    /// Pending reason.
    pub reason: String,
}

/// Parse `squeue -h -o '%i|%T|%r'`.
pub fn parse_squeue(out: &str) -> Vec<QueueEntry> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, '|');
            Some(QueueEntry {
                id: f.next()?.to_string(),
                state: f.next()?.to_string(),
                reason: f.next().unwrap_or("").to_string(),
            })
        })
        .filter(|e| !e.id.is_empty())
        .collect()
}

/// One job in `sacct -X -n -P -o JobIDRaw,State,ExitCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctEntry {
    /// Job id.
    pub id: String,
    /// State (first word).
    pub state: String,
    /// Exit code of the batch script.
    pub exit_code: Option<i32>,
    /// Signal that ended it.
    pub signal: Option<i32>,
    /// Pending reason.
    pub reason: String,
    /// Times SLURM ran it again (requeues).
    pub restarts: Option<u32>,
}

/// Parse `sacct -X -n -P -o JobIDRaw,State,ExitCode`.
pub fn parse_sacct(out: &str) -> Vec<AcctEntry> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            let (code, sig) = f
                .get(2)
                .and_then(|c| c.split_once(':'))
                .map(|(a, b)| (a.parse().ok(), b.parse().ok().filter(|s| *s != 0)))
                .unwrap_or((None, None));
            Some(AcctEntry {
                id: f.first()?.to_string(),
                state: f.get(1)?.split_whitespace().next()?.to_string(),
                exit_code: code,
                signal: sig,
                reason: String::new(),
                restarts: None,
            })
        })
        .filter(|e| !e.id.is_empty())
        .collect()
}

/// Parse `scontrol show job -o ID`: JobState and ExitCode.
pub fn parse_scontrol_job(out: &str) -> Option<AcctEntry> {
    let field = |k: &str| {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .map(str::to_string)
    };
    let id = field("JobId=")?;
    let state = field("JobState=")?;
    let (code, sig) = field("ExitCode=")
        .and_then(|c| {
            c.split_once(':')
                .map(|(a, b)| (a.parse().ok(), b.parse().ok().filter(|s| *s != 0)))
        })
        .unwrap_or((None, None));
    let restarts = field("Restarts=").and_then(|r| r.parse().ok());
    Some(AcctEntry {
        id,
        state,
        exit_code: code,
        signal: sig,
        reason: String::new(),
        restarts,
    })
}

/// The failure a TAO `status.json` record reports (`{"status": "FAILURE", "message": …}`), or
/// `None` when it reports none or cannot be read.
pub fn status_file_failure(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line.trim()).ok()?;
    let status = v.get("status")?.as_str()?.to_ascii_uppercase();
    if !matches!(status.as_str(), "FAILURE" | "FAILED" | "ERROR") {
        return None;
    }
    Some(
        v.get("message")
            .and_then(|m| m.as_str())
            .filter(|m| !m.is_empty())
            .unwrap_or("the job reported a failure")
            .to_string(),
    )
}

/// A partition's MaxTime in minutes from `scontrol show partition -o NAME` (`None`:
/// unlimited).
pub fn partition_max_minutes(out: &str) -> Option<Option<u64>> {
    let v = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("MaxTime="))?;
    Some(parse_duration_minutes(v))
}

/// `UNLIMITED`/`INFINITE` → None; `D-HH:MM:SS`, `HH:MM:SS`, `MM:SS`, `MM` → minutes.
pub fn parse_duration_minutes(v: &str) -> Option<u64> {
    if v.eq_ignore_ascii_case("UNLIMITED") || v.eq_ignore_ascii_case("INFINITE") {
        return None;
    }
    let (days, rest) = match v.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, v),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    // Saturating: a limit past u64 minutes (the cluster's text, not ours) is as good as none,
    // and must not overflow.
    let hm = |h: u64, m: u64| h.saturating_mul(60).saturating_add(m);
    let mins = match parts.as_slice() {
        [h, m, s] => hm(*h, *m).saturating_add(u64::from(*s > 0)),
        [m, s] if days == 0 => m.saturating_add(u64::from(*s > 0)),
        [h, m] => hm(*h, *m),
        [m] => *m,
        _ => return None,
    };
    Some(days.saturating_mul(1440).saturating_add(mins))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_mapping() {
        use JobStatus::*;
        for (s, want) in [
            ("PENDING", Pending),
            ("RUNNING", Running),
            ("COMPLETING", Running),
            ("COMPLETED", Complete),
            ("CANCELLED by 1000", Canceled),
            ("CANCELLED+", Canceled),
            ("PREEMPTED", Canceled),
            ("REVOKED", Canceled),
            ("SUSPENDED", Paused),
            ("STOPPED", Paused),
            ("TIMEOUT", Error),
            ("FAILED", Error),
            ("NODE_FAIL", Error),
            ("OUT_OF_MEMORY", Error),
            ("BOOT_FAIL", Error),
            ("DEADLINE", Error),
            ("WHATEVER", Unknown),
        ] {
            assert_eq!(map_state(s), want, "{s}");
        }
        assert!(infrastructure_state("NODE_FAIL") && !infrastructure_state("FAILED"));
    }

    #[test]
    fn outputs() {
        assert_eq!(parse_sbatch("123\n").as_deref(), Some("123"));
        assert_eq!(parse_sbatch("warning: x\n456;ci\n").as_deref(), Some("456"));
        assert_eq!(parse_sbatch("sbatch: error: nope"), None);
        assert_eq!(
            parse_squeue("12|PENDING|Resources\n13|RUNNING|None\n").len(),
            2
        );
        let a = parse_sacct("12|CANCELLED by 1000|0:15\n13|FAILED|3:0\n");
        assert_eq!((a[0].state.as_str(), a[0].signal), ("CANCELLED", Some(15)));
        assert_eq!((a[1].state.as_str(), a[1].exit_code), ("FAILED", Some(3)));
        let j =
            parse_scontrol_job("JobId=77 JobName=x JobState=COMPLETED Reason=None ExitCode=0:0")
                .expect("job");
        assert_eq!(
            (j.id.as_str(), j.state.as_str(), j.exit_code),
            ("77", "COMPLETED", Some(0))
        );
    }

    #[test]
    fn status_files() {
        assert_eq!(
            status_file_failure(r#"{"date":"1/1","status":"FAILURE","message":"loss diverged"}"#)
                .as_deref(),
            Some("loss diverged")
        );
        assert_eq!(status_file_failure(r#"{"status":"SUCCESS"}"#), None);
        assert_eq!(status_file_failure("not json"), None);
        assert_eq!(status_file_failure(""), None);
    }

    #[test]
    fn partition_limits() {
        assert_eq!(
            partition_max_minutes("PartitionName=short MaxTime=00:10:00 State=UP"),
            Some(Some(10))
        );
        assert_eq!(
            partition_max_minutes("PartitionName=debug MaxTime=UNLIMITED"),
            Some(None)
        );
        assert_eq!(parse_duration_minutes("1-02:00:00"), Some(1560));
        assert_eq!(parse_duration_minutes("30"), Some(30));
        assert_eq!(partition_max_minutes("nothing here"), None);
        // Found by the slurm_output fuzz target: these overflowed (a panic in debug builds).
        for huge in [
            "99999999999999999-00:00:00",
            "18446744073709551615:00:00",
            "18446744073709551615:18446744073709551615:1",
        ] {
            assert_eq!(parse_duration_minutes(huge), Some(u64::MAX), "{huge}");
        }
    }
}
