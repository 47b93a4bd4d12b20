//! The one trait every backend implements, and the types that cross it.

use crate::failure::FailureInput;
use crate::job::JobRecord;
use crate::spec::{InputError, JobSpec};
use crate::status::JobStatus;
use async_trait::async_trait;
use futures::stream::BoxStream;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The single error type platforms return. Each variant carries a fix for the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The request is wrong (unsupported option, impossible resources): exit code 2.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The backend could not be asked (daemon down, ssh failed). Status becomes Unknown,
    /// never a guessed terminal state.
    #[error("{what} is unreachable: {why}")]
    Unreachable {
        /// What could not be reached.
        what: String,
        /// Why.
        why: String,
        /// What to do.
        hint: String,
    },
    /// The job lives on another daemon/cluster/host than the one configured now.
    #[error("job {job_id} was started on {recorded}, but this hoist is talking to {current}")]
    IdentityMismatch {
        /// Job id.
        job_id: String,
        /// Identity stored with the job.
        recorded: String,
        /// Identity of the configured backend.
        current: String,
    },
    /// The backend answered, with a failure.
    #[error("{message}")]
    Failed {
        /// What happened.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A local file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What hoist was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl PlatformError {
    /// The fix to print under the error, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            PlatformError::Input(e) => Some(e.hint.clone()),
            PlatformError::Unreachable { hint, .. } | PlatformError::Failed { hint, .. } => Some(hint.clone()),
            PlatformError::IdentityMismatch { .. } => Some("point hoist at the backend the job was started on (same profile, DOCKER_HOST, cluster)".into()),
            PlatformError::Io { .. } => None,
        }
    }

    /// Helper for I/O errors with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        PlatformError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Everything a platform needs to launch one job.
#[derive(Debug, Clone)]
pub struct SubmitRequest {
    /// The hoist job id (also TAO_JOB_ID).
    pub job_id: String,
    /// Token that ties the platform-side launch to the store row (launch fence).
    pub launch_token: String,
    /// The request. Its env holds names; `env` below holds the values.
    pub spec: JobSpec,
    /// Resolved environment values, secrets included. Never stored, never logged.
    pub env: BTreeMap<String, String>,
    /// Data staging for the job: when set, the platform runs the static hoist binary's
    /// runner (`hoist __run --plan FILE`) with this plan instead of the bare command.
    pub runner: Option<crate::staging::RunnerPlan>,
    /// The static hoist binary to run it with (set with `runner`, except on platforms that
    /// run their own executable).
    pub runner_binary: Option<crate::staging::RunnerBinary>,
}

/// What the platform tells hoist after a submit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The backend's id for the job.
    pub backend_job_id: String,
    /// Identity of the backend it lives on.
    pub backend_identity: String,
    /// Where results will be.
    pub results_location: Option<String>,
    /// Status right after submit.
    pub status: JobStatus,
    /// Detail to show (chosen GPUs, warnings).
    pub message: String,
}

/// A backend's view of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Status in the contract's terms.
    pub status: JobStatus,
    /// Detail (pending reason, error summary).
    pub message: String,
    /// Exit code when the command ended.
    pub exit_code: Option<i32>,
    /// When the command started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// The failure is the infrastructure's and running the job again can help.
    #[serde(default)]
    pub retriable: bool,
    /// Times the backend itself has run the job again (SLURM requeues), when it says.
    #[serde(default)]
    pub restarts: Option<u32>,
}

/// What a cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The backend accepted the cancel; status will turn Canceled.
    Requested,
    /// The job had already ended; its natural result stands.
    AlreadyFinished,
    /// The backend has no such job any more.
    NotFound,
}

/// Result of asking a platform about a launch whose outcome the store does not know.
#[derive(Debug, Clone, PartialEq)]
pub enum LaunchRecovery {
    /// The backend has the job: adopt it.
    Adopted(Submitted),
    /// The backend never got it, and now never will (the launch was fenced off).
    NotLaunched,
    /// The launch is still in progress by a live launcher: leave it alone.
    InProgress,
}

/// One line of a preflight report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightCheck {
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// A failure here stops jobs from running (otherwise it is a warning).
    pub required: bool,
    /// What was found.
    pub detail: String,
    /// How to fix a failure.
    pub remedy: String,
}

impl PreflightCheck {
    /// A check result.
    pub fn new(name: &str, ok: bool, required: bool, detail: String, remedy: &str) -> Self {
        PreflightCheck {
            name: name.into(),
            ok,
            required,
            detail,
            remedy: remedy.into(),
        }
    }
}

/// Extra things a preflight should check.
#[derive(Debug, Clone, Default)]
pub struct PreflightRequest {
    /// Image to check, when the platform runs images.
    pub image: Option<String>,
    /// Image to run nvidia-smi in, to see the GPUs a job would get.
    pub gpu_smoke_image: Option<String>,
    /// Named paths that must exist where the job will run.
    pub paths: Vec<(String, String)>,
}

/// A piece of log output.
pub type LogChunk = String;

/// Followed log output, ending when the job ends.
pub type BoxLogStream = BoxStream<'static, Result<LogChunk, PlatformError>>;

/// A place hoist can run jobs. Implementations own their transport (process spawner, Docker
/// client, ssh connection, Kubernetes client) and let tests swap it.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Canonical name (`local`, `docker`, `slurm`, `kubernetes`).
    fn name(&self) -> &'static str;

    /// Identity of the backend this instance talks to, recorded per job and compared on
    /// every verb so a job is never looked up on the wrong daemon or cluster.
    async fn identity(&self) -> Result<String, PlatformError>;

    /// What would be submitted, in the platform's own form, without submitting anything.
    async fn dry_run(&self, req: &SubmitRequest) -> Result<String, PlatformError>;

    /// Record in the spec what later verbs need to find the job's backend again (the daemon
    /// endpoint, the login host), so they do not depend on the environment of a later shell.
    fn pin(&self, _spec: &mut JobSpec) {}

    /// Launch the job. Called after the store row and its launch token exist.
    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError>;

    /// Settle a launch the store never saw confirmed (the launcher died mid-submit):
    /// adopt what the backend has, or fence the launch off so it can never start later.
    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError>;

    /// Status of many jobs in one round trip where the backend allows it. The answer has one
    /// entry per job, in order.
    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>>;

    /// The last `tail` lines (all when `None`) of the job's output.
    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError>;

    /// The output from the last `tail` lines on, then everything new until the job ends.
    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError>;

    /// Run a job again after a retriable infrastructure failure (the report said so), with
    /// what was staged for it. `None`: this platform does not rerun jobs itself.
    async fn retry(&self, _job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        Ok(None)
    }

    /// Ask the backend to stop the job. Idempotent.
    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError>;

    /// What the backend knows about a failure, for [`crate::failure::analyze`].
    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError>;

    /// Whether a path exists where this platform's jobs run.
    async fn check_path(&self, path: &str) -> Result<bool, PlatformError>;

    /// Entries under a path where this platform's jobs run.
    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError>;

    /// Copy a job's results into `dest` (a directory on this machine) when they live where
    /// only this platform reaches them, such as a cluster's file system; returns the number
    /// of files. `Ok(None)`: nothing of this platform's to fetch (results on S3 or on a path
    /// of this machine are fetched by the caller).
    async fn fetch_results(
        &self,
        _job: &JobRecord,
        _dest: &std::path::Path,
    ) -> Result<Option<usize>, PlatformError> {
        Ok(None)
    }

    /// Block until the backend reports a change to the job or `max` passes, for `wait`.
    /// `Ok(false)`: this platform cannot watch, and the caller polls instead.
    async fn watch_change(
        &self,
        _job: &JobRecord,
        _max: std::time::Duration,
    ) -> Result<bool, PlatformError> {
        Ok(false)
    }

    /// Backend-specific detail for `hoist show` (Kubernetes: every replica with its node,
    /// phase and readiness issue). `None`: nothing beyond the record.
    async fn details(&self, _job: &JobRecord) -> Result<Option<serde_json::Value>, PlatformError> {
        Ok(None)
    }

    /// Check that jobs can run here, with a remedy per failure.
    async fn preflight(&self, req: &PreflightRequest) -> Vec<PreflightCheck>;

    /// Remove what the backend keeps for a job (logs, containers), for `hoist rm`.
    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError>;
}
