//! How library and platform crates tell a front door what is happening — progress, status
//! changes, log output — without ever writing to a terminal themselves. The CLI draws spinners
//! and bars from these events; a web front door streams them; Python calls back.

use crate::status::JobStatus;
use std::sync::Arc;

/// One thing worth telling the user.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportEvent<'a> {
    /// A long step started or moved on (`pulling IMAGE: Downloading`). `key` identifies the
    /// step so a front door can keep one spinner per step.
    Step {
        /// Identifies the step across updates.
        key: &'a str,
        /// What it is doing now.
        message: &'a str,
    },
    /// A step entered a new phase worth its own line in a log (an instance went from
    /// DEPLOYING to RUNNING): a terminal shows it as the step's spinner, a pipe gets one line.
    Phase {
        /// Identifies the step across updates (the same key as its `Step`s).
        key: &'a str,
        /// The phase, in words.
        message: &'a str,
    },
    /// Bytes moved by a transfer.
    Transfer {
        /// Identifies the transfer across updates.
        key: &'a str,
        /// Bytes so far.
        done: u64,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// The step or transfer `key` ended.
    Done {
        /// The key given with its updates.
        key: &'a str,
    },
    /// A job's status changed (as a refresh or a watch saw it).
    Status {
        /// The job.
        job_id: &'a str,
        /// Its new status.
        status: JobStatus,
        /// The detail that came with it.
        message: &'a str,
    },
    /// Output of a followed job.
    Log {
        /// The job.
        job_id: &'a str,
        /// A piece of its output.
        chunk: &'a str,
    },
}

/// Receives [`ReportEvent`]s. Implementations must be cheap: events come from inside I/O loops.
pub trait Reporter: Send + Sync {
    /// One event.
    fn report(&self, event: ReportEvent<'_>);
}

/// A reporter that drops everything (tests, batch use).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _event: ReportEvent<'_>) {}
}

/// A shared reporter handle, as the library keeps it.
pub type SharedReporter = Arc<dyn Reporter>;
