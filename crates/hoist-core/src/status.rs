//! The status set of the TAO contract and the one place its transition rules live.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a job is in its life, spelled exactly as the TAO Execution SDK spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Accepted, not yet running (queued, pulling, scheduling, launching).
    Pending,
    /// The command is running.
    Running,
    /// Suspended by the backend (docker pause, SLURM SUSPENDED).
    Paused,
    /// A cancel was requested and has not been confirmed yet.
    Canceling,
    /// Ended with exit code 0. Terminal.
    Complete,
    /// Ended with a failure. Terminal.
    Error,
    /// Ended because it was canceled. Terminal.
    Canceled,
    /// The backend cannot be asked right now; never a terminal guess.
    Unknown,
}

impl JobStatus {
    /// Every status, in display order.
    pub const ALL: [JobStatus; 8] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Paused,
        JobStatus::Canceling,
        JobStatus::Complete,
        JobStatus::Error,
        JobStatus::Canceled,
        JobStatus::Unknown,
    ];

    /// The exact contract spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "Pending",
            JobStatus::Running => "Running",
            JobStatus::Paused => "Paused",
            JobStatus::Canceling => "Canceling",
            JobStatus::Complete => "Complete",
            JobStatus::Error => "Error",
            JobStatus::Canceled => "Canceled",
            JobStatus::Unknown => "Unknown",
        }
    }

    /// Complete, Error and Canceled are final.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Complete | JobStatus::Error | JobStatus::Canceled
        )
    }

    /// Whether a record in `self` may move to `next`.
    ///
    /// Terminal is final; Canceling may only end in a terminal state (the job may still finish
    /// on its own before the cancel lands, and that natural result is kept). Every other
    /// status may move anywhere: backends legitimately go Running -> Pending (requeue) or
    /// Unknown -> Running (daemon back).
    pub fn can_transition_to(self, next: JobStatus) -> bool {
        if self == next {
            return true;
        }
        if self.is_terminal() {
            return false;
        }
        if self == JobStatus::Canceling {
            return next.is_terminal();
        }
        true
    }

    /// Shell-style exit code a CLI mirrors for a finished job (`None` while it runs).
    pub fn cli_exit_code(self, exit_code: Option<i32>) -> Option<i32> {
        match self {
            JobStatus::Complete => Some(0),
            JobStatus::Canceled => Some(130),
            JobStatus::Error => Some(match exit_code {
                Some(c) if c != 0 => c,
                _ => 1,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status string that is not one of the contract's.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown status {0:?}; expected one of Pending, Running, Paused, Canceling, Complete, Error, Canceled, Unknown"
)]
pub struct UnknownStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::JobStatus::*;
    use super::*;

    #[test]
    fn terminal_is_final() {
        for t in [Complete, Error, Canceled] {
            for n in JobStatus::ALL {
                assert_eq!(t.can_transition_to(n), t == n, "{t} -> {n}");
            }
        }
    }

    #[test]
    fn canceling_only_ends() {
        for n in JobStatus::ALL {
            let ok = Canceling.can_transition_to(n);
            assert_eq!(ok, n.is_terminal() || n == Canceling, "Canceling -> {n}");
        }
    }

    #[test]
    fn live_states_move_freely() {
        assert!(Running.can_transition_to(Pending));
        assert!(Unknown.can_transition_to(Running));
        assert!(Pending.can_transition_to(Canceling));
        assert!(Paused.can_transition_to(Complete));
    }

    #[test]
    fn spelling_round_trips() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().ok(), Some(s));
            assert_eq!(
                serde_json::to_string(&s).ok(),
                Some(format!("\"{}\"", s.as_str()))
            );
        }
        assert!("running".parse::<JobStatus>().is_ok());
        assert!("Done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Complete.cli_exit_code(Some(0)), Some(0));
        assert_eq!(Error.cli_exit_code(Some(3)), Some(3));
        assert_eq!(Error.cli_exit_code(None), Some(1));
        assert_eq!(Canceled.cli_exit_code(Some(143)), Some(130));
        assert_eq!(Running.cli_exit_code(None), None);
    }
}
