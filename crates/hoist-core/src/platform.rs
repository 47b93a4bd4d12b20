//! The one trait every backend implements, and the types that cross it.

use crate::failure::FailureInput;
use crate::job::JobRecord;
use crate::spec::InputError;
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
    /// What was asked for does not exist on the backend (a job, a path, an image).
    #[error("{what} was not found: {why}")]
    NotFound {
        /// What was looked for.
        what: String,
        /// What the backend said.
        why: String,
        /// What to do.
        hint: String,
    },
    /// The backend refused: credentials, rights, policy.
    #[error("{what} was refused: {why}")]
    Denied {
        /// What was refused.
        what: String,
        /// What the backend said.
        why: String,
        /// What to do.
        hint: String,
    },
    /// The backend is out of capacity or quota for this request right now.
    #[error("{what}: out of quota or capacity: {why}")]
    Quota {
        /// What was asked for.
        what: String,
        /// What the backend said.
        why: String,
        /// What to do.
        hint: String,
    },
    /// This platform does not do that verb (`check_path` on Kubernetes, …).
    #[error("the {platform} platform cannot {what}")]
    Unsupported {
        /// The platform.
        platform: String,
        /// The verb, in words.
        what: String,
        /// What to do instead.
        hint: String,
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
            PlatformError::Unreachable { hint, .. }
            | PlatformError::Failed { hint, .. }
            | PlatformError::NotFound { hint, .. }
            | PlatformError::Denied { hint, .. }
            | PlatformError::Quota { hint, .. }
            | PlatformError::Unsupported { hint, .. } => Some(hint.clone()).filter(|h| !h.is_empty()),
            PlatformError::IdentityMismatch { .. } => Some("point hoist at the backend the job was started on (same profile, DOCKER_HOST, cluster)".into()),
            PlatformError::Io { .. } => None,
        }
    }

    /// A verb this platform does not have.
    pub fn unsupported(platform: &str, what: &str, hint: &str) -> Self {
        PlatformError::Unsupported {
            platform: platform.into(),
            what: what.into(),
            hint: hint.into(),
        }
    }

    /// A failure with no particular kind (the backend said no, for a reason it gave).
    pub fn failed(message: impl Into<String>, hint: impl Into<String>) -> Self {
        PlatformError::Failed {
            message: message.into(),
            hint: hint.into(),
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
    pub spec: crate::spec::JobSpec,
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

/// What `--dry-run` shows: the platform's own form as text (YAML manifests, a create
/// request, an sbatch script) and the same objects as JSON for `--json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    /// Text in the platform's own form, usable as is (`kubectl apply -f -`, `sbatch`).
    pub text: String,
    /// The same as JSON.
    pub json: serde_json::Value,
}

/// One process group of a job as the backend runs it (a pod, a node's task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    /// Rank (completion index, node rank) when the job spans several.
    pub rank: Option<String>,
    /// The backend's name for it (pod name).
    #[serde(rename = "pod")]
    pub name: String,
    /// Phase in the backend's words.
    pub phase: String,
    /// Node it runs on, once placed.
    pub node: Option<String>,
    /// Why it is not running, or why it stopped.
    pub issue: Option<String>,
}

/// What a platform adds to `hoist show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Details {
    /// Named facts (namespace, backend object name).
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// Every replica, by rank.
    #[serde(default)]
    pub replicas: Vec<Replica>,
}

/// A machine a platform keeps for jobs (a cloud instance), as `hoist instances` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The name jobs refer to it by.
    pub name: String,
    /// The backend's id for it.
    pub id: String,
    /// Its state in the backend's words (RUNNING, STOPPED, DEPLOYING …).
    pub status: String,
    /// Machine type.
    pub instance_type: String,
    /// GPU model, when it has GPUs.
    pub gpu: String,
    /// More of its state, in words (build, shell, health).
    pub detail: String,
}

/// How the in-job runner (the static hoist, `hoist __run`) reaches a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerDelivery {
    /// The platform runs hoist's own executable on this host (no copy, any linking).
    OwnExecutable,
    /// The static binary is shipped to where the job runs (its content hash names it).
    StaticBinary,
    /// The job pulls the runner as an image (an init container).
    Image,
}

/// Whose file system a plain path (or `lustre://`) in a job's inputs names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathView {
    /// This machine's: checked before submit.
    Host,
    /// A path inside the job's container or its mounts: only the job can tell (cluster
    /// paths, `lustre://`, are still asked of the platform).
    Container,
    /// The cluster's shared file system, asked through the platform before submit.
    Cluster,
}

/// What a platform can do, declared once so shared code never compares names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// How the runner reaches jobs.
    pub runner: RunnerDelivery,
    /// Whose paths a job's plain paths are.
    pub paths: PathView,
    /// Jobs run in container images.
    pub images: bool,
    /// One job may span several nodes.
    pub multi_node: bool,
    /// `wait` can block on the backend's own change notifications.
    pub watch: bool,
    /// Jobs run on machines the platform creates and bills for (cloud instances), which
    /// `hoist instances` lists and removes.
    pub instances: bool,
}

/// A platform's self-description: what `hoist platforms` prints and the registry keys on.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformInfo {
    /// Canonical name (`--platform NAME`).
    pub name: &'static str,
    /// Other names it answers to.
    pub aliases: &'static [&'static str],
    /// One line.
    pub summary: &'static str,
    /// Every setting, with its kind, env names, flag, default and doc.
    pub settings: &'static [crate::settings::SettingDoc],
    /// Other environment variables it reads (credentials, endpoints), with what for.
    pub env: &'static [(&'static str, &'static str)],
    /// What it can do.
    pub capabilities: Capabilities,
}

/// What building a platform may use besides its settings. The library hands it over so a
/// host program (Python, a server) decides the environment and where hoist lives.
#[derive(Clone)]
pub struct BuildContext {
    /// `$HOIST_HOME`.
    pub home: std::path::PathBuf,
    /// The hoist executable (the local supervisor; the runner where it is this binary).
    pub exe: std::path::PathBuf,
    /// The environment to read.
    pub env: crate::env::SharedEnv,
    /// Where progress goes.
    pub reporter: crate::report::SharedReporter,
}

/// Whether a platform looks set up here, decided without touching the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Looks usable.
    pub configured: bool,
    /// What that was decided from.
    pub reason: String,
}

/// How a platform is constructed and described. Each platform crate exports one; the
/// facade's registry lists them.
pub trait PlatformDescriptor: Send + Sync {
    /// The platform's description and settings.
    fn info(&self) -> &'static PlatformInfo;

    /// Read resolved settings (keys and kinds already checked) into the platform's typed
    /// settings, refusing values it cannot use (a bad mount, an unknown pull policy).
    fn check(&self, settings: &crate::settings::SettingsMap) -> Result<(), InputError>;

    /// A platform for these settings. `pinned` is what the platform returned from
    /// [`Platform::pin`] when the job was submitted; it wins over the settings.
    fn build(
        &self,
        ctx: &BuildContext,
        settings: &crate::settings::SettingsMap,
        pinned: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Platform>, PlatformError>;

    /// Whether this machine looks set up for the platform (no network).
    fn readiness(&self, ctx: &BuildContext, settings: &crate::settings::SettingsMap) -> Readiness;
}

/// A place hoist can run jobs. Implementations own their transport (process spawner, Docker
/// client, ssh connection, Kubernetes client) and let tests swap it.
#[async_trait]
pub trait Platform: Send + Sync {
    /// Canonical name (`local`, `docker`, `slurm`, `kubernetes`).
    fn name(&self) -> &'static str;

    /// What it can do.
    fn capabilities(&self) -> Capabilities;

    /// Identity of the backend this instance talks to, recorded per job and compared on
    /// every verb so a job is never looked up on the wrong daemon or cluster.
    async fn identity(&self) -> Result<String, PlatformError>;

    /// What would be submitted, in the platform's own form, without submitting anything.
    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError>;

    /// What later verbs need to find the job's backend again (the daemon endpoint, the login
    /// hosts), so they do not depend on a later shell's environment. Opaque to everyone but
    /// this platform, which gets it back in [`PlatformDescriptor::build`].
    fn pin(&self) -> Option<serde_json::Value> {
        None
    }

    /// Launch the job. Called after the store row and its launch token exist.
    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError>;

    /// Launch many jobs (rows and launch tokens already written), one answer per request, in
    /// order. Platforms that can send many jobs in one exchange (SLURM: one ssh round trip)
    /// override it; the default runs [`Platform::submit`] for each, at most 8 at once, so a
    /// slow backend is not asked for everything together.
    async fn submit_batch(&self, reqs: &[SubmitRequest]) -> Vec<Result<Submitted, PlatformError>> {
        use futures::StreamExt;
        // Collected first: a lazy `map` closure here trips the compiler's Send check.
        let each: Vec<_> = reqs.iter().map(|r| self.submit(r)).collect();
        futures::stream::iter(each).buffered(8).collect().await
    }

    /// Settle a launch the store never saw confirmed (the launcher died mid-submit):
    /// adopt what the backend has, or fence the launch off so it can never start later.
    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError>;

    /// Refuse a request this backend can tell is wrong (an image that is not there and may
    /// not be pulled, a mount source that does not exist) before its row is written, so bad
    /// input leaves nothing behind. Errors other than [`PlatformError::Input`] are left to
    /// the submit.
    async fn check_request(&self, _req: &SubmitRequest) -> Result<(), PlatformError> {
        Ok(())
    }

    /// Remove whatever the backend holds for a job whose launch was fenced off (abandoned,
    /// or removed before it launched): a create that was still in flight when its launcher
    /// died can land after the fence, and must never start. Found by the job's own name or
    /// labels, never by backend id (a fenced row has none). Idempotent. `Ok(true)`: something
    /// was there and is gone now; `Ok(false)`: nothing was there.
    async fn remove_unlaunched(&self, _job: &JobRecord) -> Result<bool, PlatformError> {
        Ok(false)
    }

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

    /// Called once, by the process that recorded the job's terminal status, to give back
    /// what bills while idle (a cloud VM). Errors are reported, not retried.
    async fn release(&self, _job: &JobRecord) -> Result<(), PlatformError> {
        Ok(())
    }

    /// Why a job that has not started yet is waiting, in the backend's words turned into
    /// [`crate::pending`]'s. `None`: this platform cannot tell, or the job is not waiting.
    async fn pending_analysis(
        &self,
        _job: &JobRecord,
    ) -> Result<Option<crate::pending::PendingAnalysis>, PlatformError> {
        Ok(None)
    }

    /// What the backend knows about a failure, for [`crate::failure::analyze`].
    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError>;

    /// Whether [`Platform::ship`] carries files itself (so the library packs them for it).
    fn ships_files(&self) -> bool {
        false
    }

    /// Put an archive of this machine's files (`tar`, one upload) where job `job_id` will
    /// run, under the name `name`, and say where the job finds it (a URI its runner stages
    /// from). `None`: the platform has no channel of its own, so the library goes through
    /// the staging bucket.
    async fn ship(
        &self,
        _job_id: &str,
        _name: &str,
        _tar: Vec<u8>,
    ) -> Result<Option<String>, PlatformError> {
        Ok(None)
    }

    /// Whether a path exists where this platform's jobs run.
    async fn check_path(&self, _path: &str) -> Result<bool, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "check paths",
            "give the data as s3://, hf_model:// or ngc:// URIs, which hoist checks itself",
        ))
    }

    /// Entries under a path where this platform's jobs run.
    async fn list_path(&self, _path: &str) -> Result<Vec<String>, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "list paths",
            "list s3://, hf_model:// or ngc:// URIs instead",
        ))
    }

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

    /// What `hoist show` adds for this platform (Kubernetes: every replica with its node,
    /// phase and readiness issue). `None`: nothing beyond the record.
    async fn details(&self, _job: &JobRecord) -> Result<Option<Details>, PlatformError> {
        Ok(None)
    }

    /// Check that jobs can run here, with a remedy per failure.
    async fn preflight(
        &self,
        _req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "run preflight checks",
            "submit a small job (hoist run -- true) to see whether jobs run",
        ))
    }

    /// The machines this platform keeps for jobs, for `hoist instances`.
    async fn instances(&self) -> Result<Vec<Instance>, PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "list instances",
            "hoist instances lists the platforms whose jobs run on machines hoist creates",
        ))
    }

    /// Delete one of the machines this platform keeps for jobs, for `hoist instances rm`.
    async fn delete_instance(&self, _name: &str) -> Result<(), PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "delete instances",
            "hoist instances lists the platforms whose jobs run on machines hoist creates",
        ))
    }

    /// The machine a job of this platform runs on (read from what it pinned), so front doors
    /// can tie jobs to instances without knowing the pinned form.
    fn instance_of(&self, _job: &JobRecord) -> Option<String> {
        None
    }

    /// Remove what the backend still keeps for ended jobs (Docker: their stopped containers),
    /// for `hoist gc`, after saving what `logs`, `why` and `show` answer from, so those keep
    /// working. One answer per job, in order: whether the job had anything to remove (with
    /// `dry_run`, whether it has; nothing is removed). Default: nothing is kept, so nothing
    /// is removed.
    async fn collect(
        &self,
        jobs: &[JobRecord],
        _dry_run: bool,
    ) -> Vec<Result<bool, PlatformError>> {
        jobs.iter().map(|_| Ok(false)).collect()
    }

    /// How long an ended job's backend objects are kept before `hoist gc` removes them (the
    /// platform's `retain` setting). `None`: the platform does not say.
    fn retention(&self) -> Option<std::time::Duration> {
        None
    }

    /// Remove what the backend keeps for a job (logs, containers), for `hoist rm`.
    async fn remove(&self, _job: &JobRecord) -> Result<(), PlatformError> {
        Err(PlatformError::unsupported(
            self.name(),
            "remove a job's backend objects",
            "they expire on the backend's own schedule",
        ))
    }
}
