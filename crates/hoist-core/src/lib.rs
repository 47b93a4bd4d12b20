//! The job model every hoist platform shares.
//!
//! Nothing in this crate touches the file system, the network or a process: it is the
//! vocabulary (specs, records, statuses), the rules (which status may follow which, what a
//! failure means) and the [`Platform`] trait that each backend crate implements. Keeping it
//! pure is what lets the store, the CLI and every platform agree without depending on each
//! other.
#![deny(missing_docs)]

pub mod failure;
pub mod gpu;
pub mod job;
pub mod platform;
pub mod spec;
pub mod status;

pub use failure::{ErrClass, FailureAnalysis, FailureEvent};
pub use gpu::GpuSpec;
pub use job::{JobRecord, LaunchState, RetryAttempt};
pub use platform::{
    BoxLogStream, CancelOutcome, LaunchRecovery, LogChunk, Platform, PlatformError, PreflightCheck,
    StatusReport, SubmitRequest, Submitted,
};
pub use spec::{Command, EnvValue, InputError, JobSpec};
pub use status::JobStatus;

/// Current time as an RFC 3339 UTC timestamp, the one format every record uses.
///
/// Reading the clock is the single impurity tolerated here, because every layer needs the
/// same format and a helper elsewhere would only be copied.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}
