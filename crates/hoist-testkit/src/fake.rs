//! [`FakePlatform`]: an in-memory platform whose answers a test scripts and whose calls it
//! counts, so the facade's orchestration (batched refresh, retries, cancel, reconcile,
//! identity checks) can be tested without any backend.
//!
//! ```
//! use hoist_testkit::fake::{Fake, reports};
//! let fake = Fake::new();
//! fake.script("job-1", [reports::running(), reports::complete()]);
//! let descriptor = fake.descriptor(); // &'static dyn PlatformDescriptor, named "fake"
//! # let _ = descriptor;
//! ```

use async_trait::async_trait;
use hoist_core::failure::FailureInput;
use hoist_core::settings::{SettingDoc, SettingKind, SettingsMap};
use hoist_core::{
    BoxLogStream, BuildContext, CancelOutcome, Capabilities, DryRun, InputError, JobRecord,
    JobStatus, LaunchRecovery, PathView, Platform, PlatformDescriptor, PlatformError, PlatformInfo,
    Readiness, RunnerDelivery, StatusReport, SubmitRequest, Submitted,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// The fake platform's name.
pub const NAME: &str = "fake";

/// Every fake setting.
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc::new(
        "endpoint",
        SettingKind::String,
        "which fake backend jobs go to; pinned at submit, so later verbs find it again",
    )
    .env(&["HOIST_FAKE_ENDPOINT"])
    .default("default"),
    SettingDoc::new(
        "identity",
        SettingKind::String,
        "the identity the backend reports (default fake@ENDPOINT); changing it later makes the backend another one",
    )
    .env(&["HOIST_FAKE_IDENTITY"]),
    SettingDoc::new(
        "tag",
        SettingKind::String,
        "a per-job value, stored with each job",
    )
    .per_job(),
];

/// The fake platform's description.
pub static INFO: PlatformInfo = PlatformInfo {
    name: NAME,
    aliases: &["fake-platform"],
    summary: "an in-memory platform for tests: answers are scripted, calls are counted",
    settings: SETTINGS,
    env: &[],
    capabilities: Capabilities {
        // Its own executable and container paths: the facade then neither ships a runner nor
        // checks paths on this machine, so requests need nothing on disk.
        runner: RunnerDelivery::OwnExecutable,
        paths: PathView::Container,
        images: true,
        multi_node: true,
        watch: false,
        instances: false,
    },
};

/// One `status` call as the platform saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCall {
    /// The endpoint of the platform instance that was asked.
    pub endpoint: String,
    /// The job ids asked about, in order.
    pub job_ids: Vec<String>,
}

/// Everything a fake platform answers from and records. Tests lock it through [`Fake::state`]
/// (or the helpers on [`Fake`]) to script answers and read what was called.
#[derive(Debug)]
pub struct FakeState {
    /// Identity every fake backend reports, over the `identity` setting and `fake@ENDPOINT`.
    pub identity: Option<String>,
    /// Status answers per job id: each `status` call takes the first; the last one repeats.
    pub scripts: HashMap<String, VecDeque<StatusReport>>,
    /// The answer for a job with no script.
    pub unscripted: StatusReport,
    /// Output per job id.
    pub logs: HashMap<String, String>,
    /// Whether `retry` runs the job again (`Some`) or declines (`None`).
    pub retry_succeeds: bool,
    /// `recover_launch` answers per launch token; an unknown token is `NotLaunched`.
    pub recoveries: HashMap<String, LaunchRecovery>,
    /// Whether a cancel of a live job makes its script `Canceled` (as a backend would); off, the
    /// job keeps reporting what it did before.
    pub cancel_takes_effect: bool,
    /// Every call, in order (`identity`, `submit ID`, `status ID,ID`, `cancel ID`, …).
    pub log: Vec<String>,
    /// Requests given to `submit`.
    pub submitted: Vec<SubmitRequest>,
    /// Requests given to `dry_run`.
    pub dry_runs: Vec<SubmitRequest>,
    /// Every `status` call.
    pub status_calls: Vec<StatusCall>,
    /// Job ids given to `retry`, one entry per call.
    pub retries: Vec<String>,
    /// Job ids given to `cancel`, one entry per call.
    pub cancels: Vec<String>,
    /// `release` calls per job id.
    pub releases: BTreeMap<String, usize>,
    /// Job ids given to `recover_launch`, one entry per call.
    pub recovered: Vec<String>,
}

impl Default for FakeState {
    fn default() -> Self {
        FakeState {
            identity: None,
            scripts: HashMap::new(),
            unscripted: reports::running(),
            logs: HashMap::new(),
            retry_succeeds: true,
            recoveries: HashMap::new(),
            cancel_takes_effect: true,
            log: vec![],
            submitted: vec![],
            dry_runs: vec![],
            status_calls: vec![],
            retries: vec![],
            cancels: vec![],
            releases: BTreeMap::new(),
            recovered: vec![],
        }
    }
}

impl FakeState {
    /// The answer `status` would give for a job now, without taking it.
    pub fn peek(&self, job_id: &str) -> StatusReport {
        self.scripts
            .get(job_id)
            .and_then(|q| q.front().cloned())
            .unwrap_or_else(|| self.unscripted.clone())
    }

    /// The answer for a job, taking it from its script unless it is the last one.
    fn next(&mut self, job_id: &str) -> StatusReport {
        match self.scripts.get_mut(job_id) {
            Some(q) if q.len() > 1 => q.pop_front().unwrap_or_else(|| self.unscripted.clone()),
            Some(q) => q
                .front()
                .cloned()
                .unwrap_or_else(|| self.unscripted.clone()),
            None => self.unscripted.clone(),
        }
    }
}

/// A test's handle on the shared [`FakeState`]: clone it freely, build descriptors from it.
#[derive(Debug, Clone, Default)]
pub struct Fake {
    state: Arc<Mutex<FakeState>>,
}

impl Fake {
    /// A fresh fake backend: no scripts, jobs report Running, retries succeed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state, locked. A test that panicked while holding it cannot leave it half-written
    /// in a way that matters to another assertion, so a poisoned lock is used as it is.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A descriptor sharing this state, leaked so it can be handed to the facade as
    /// `&'static dyn PlatformDescriptor` (a few bytes per test).
    pub fn descriptor(&self) -> &'static FakeDescriptor {
        Box::leak(Box::new(FakeDescriptor {
            state: self.state.clone(),
        }))
    }

    /// A platform on `endpoint` sharing this state, for calling the trait directly.
    pub fn platform(&self, endpoint: &str) -> FakePlatform {
        FakePlatform {
            endpoint: endpoint.to_string(),
            identity: None,
            state: self.state.clone(),
        }
    }

    /// Script a job's status answers: one per `status` call, the last one repeating.
    pub fn script(&self, job_id: &str, reports: impl IntoIterator<Item = StatusReport>) {
        self.state()
            .scripts
            .insert(job_id.to_string(), reports.into_iter().collect());
    }

    /// Make every fake backend report this identity from now on.
    pub fn set_identity(&self, identity: &str) {
        self.state().identity = Some(identity.to_string());
    }

    /// A job's output.
    pub fn set_logs(&self, job_id: &str, text: &str) {
        self.state()
            .logs
            .insert(job_id.to_string(), text.to_string());
    }

    /// What `recover_launch` answers for a launch token.
    pub fn recover_as(&self, launch_token: &str, answer: LaunchRecovery) {
        self.state()
            .recoveries
            .insert(launch_token.to_string(), answer);
    }

    /// Every `status` call so far.
    pub fn status_calls(&self) -> Vec<StatusCall> {
        self.state().status_calls.clone()
    }

    /// `status` calls so far that asked about `job_id`.
    pub fn status_calls_for(&self, job_id: &str) -> usize {
        self.state()
            .status_calls
            .iter()
            .filter(|c| c.job_ids.iter().any(|j| j == job_id))
            .count()
    }

    /// How many times `release` ran for a job.
    pub fn releases(&self, job_id: &str) -> usize {
        self.state().releases.get(job_id).copied().unwrap_or(0)
    }

    /// How many times `retry` ran for a job.
    pub fn retries(&self, job_id: &str) -> usize {
        self.state().retries.iter().filter(|j| *j == job_id).count()
    }

    /// How many times `cancel` ran for a job.
    pub fn cancels(&self, job_id: &str) -> usize {
        self.state().cancels.iter().filter(|j| *j == job_id).count()
    }

    /// Forget the calls recorded so far (scripts stay).
    pub fn clear_calls(&self) {
        let mut s = self.state();
        s.log.clear();
        s.status_calls.clear();
        s.retries.clear();
        s.cancels.clear();
        s.releases.clear();
        s.recovered.clear();
    }
}

/// Builds [`FakePlatform`]s sharing one [`FakeState`].
#[derive(Debug)]
pub struct FakeDescriptor {
    state: Arc<Mutex<FakeState>>,
}

/// Typed fake settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeSettings {
    /// The endpoint.
    pub endpoint: Option<String>,
    /// The identity override.
    pub identity: Option<String>,
    /// The per-job tag.
    pub tag: Option<String>,
}

impl FakeSettings {
    /// Read resolved settings, refusing an empty endpoint.
    pub fn from_map(m: &SettingsMap) -> Result<Self, InputError> {
        let text = |k: &str| -> Result<Option<String>, InputError> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(InputError::new(
                    format!("fake setting {k} is {v}, not a string"),
                    format!("give {k} as text"),
                )),
            }
        };
        if let Some(k) = m
            .keys()
            .find(|k| SETTINGS.iter().all(|d| d.key != k.as_str()))
        {
            return Err(InputError::new(
                format!("unknown fake setting {k:?}"),
                "the fake platform has endpoint, identity and tag",
            ));
        }
        let s = FakeSettings {
            endpoint: text("endpoint")?,
            identity: text("identity")?,
            tag: text("tag")?,
        };
        if s.endpoint.as_deref().is_some_and(|e| e.trim().is_empty()) {
            return Err(InputError::new(
                "fake setting endpoint is empty",
                "name an endpoint (any word), or leave it unset for \"default\"",
            ));
        }
        Ok(s)
    }
}

impl PlatformDescriptor for FakeDescriptor {
    fn info(&self) -> &'static PlatformInfo {
        &INFO
    }

    fn check(&self, settings: &SettingsMap) -> Result<(), InputError> {
        FakeSettings::from_map(settings).map(|_| ())
    }

    fn build(
        &self,
        _ctx: &BuildContext,
        settings: &SettingsMap,
        pinned: Option<&Value>,
    ) -> Result<Box<dyn Platform>, PlatformError> {
        let s = FakeSettings::from_map(settings)?;
        // What was pinned at submit wins: a job goes back to the endpoint it was sent to.
        let pinned = pinned
            .and_then(|p| p.get("endpoint"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Box::new(FakePlatform {
            endpoint: pinned
                .or(s.endpoint)
                .unwrap_or_else(|| "default".to_string()),
            identity: s.identity,
            state: self.state.clone(),
        }))
    }

    fn readiness(&self, _ctx: &BuildContext, _settings: &SettingsMap) -> Readiness {
        Readiness {
            configured: true,
            reason: "in memory; needs nothing".into(),
        }
    }
}

/// One fake backend endpoint, answering from the shared [`FakeState`].
#[derive(Debug, Clone)]
pub struct FakePlatform {
    endpoint: String,
    identity: Option<String>,
    state: Arc<Mutex<FakeState>>,
}

impl FakePlatform {
    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The endpoint this instance talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn current_identity(&self, s: &FakeState) -> String {
        s.identity
            .clone()
            .or_else(|| self.identity.clone())
            .unwrap_or_else(|| format!("fake@{}", self.endpoint))
    }
}

#[async_trait]
impl Platform for FakePlatform {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        INFO.capabilities
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        let mut s = self.state();
        s.log.push("identity".into());
        Ok(self.current_identity(&s))
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<DryRun, PlatformError> {
        let mut s = self.state();
        s.log.push(format!("dry_run {}", req.job_id));
        s.dry_runs.push(req.clone());
        let json = json!({
            "endpoint": self.endpoint,
            "job_id": req.job_id,
            "command": req.spec.command.display(),
        });
        Ok(DryRun {
            text: format!(
                "fake submit {} to {}: {}",
                req.job_id,
                self.endpoint,
                req.spec.command.display()
            ),
            json,
        })
    }

    fn pin(&self) -> Option<Value> {
        Some(json!({ "endpoint": self.endpoint }))
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let mut s = self.state();
        s.log.push(format!("submit {}", req.job_id));
        s.submitted.push(req.clone());
        Ok(Submitted {
            backend_job_id: format!("fake-{}", s.submitted.len()),
            backend_identity: self.current_identity(&s),
            results_location: None,
            status: JobStatus::Pending,
            message: format!("submitted to {}", self.endpoint),
        })
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let mut s = self.state();
        s.log.push(format!("recover_launch {}", job.job_id));
        s.recovered.push(job.job_id.clone());
        Ok(s.recoveries
            .get(&job.launch_token)
            .cloned()
            .unwrap_or(LaunchRecovery::NotLaunched))
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        let mut s = self.state();
        let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
        s.log.push(format!("status {}", ids.join(",")));
        s.status_calls.push(StatusCall {
            endpoint: self.endpoint.clone(),
            job_ids: ids,
        });
        jobs.iter().map(|j| Ok(s.next(&j.job_id))).collect()
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let mut s = self.state();
        s.log.push(format!("logs {}", job.job_id));
        let text = s.logs.get(&job.job_id).cloned().unwrap_or_default();
        Ok(match tail {
            None => text,
            Some(n) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                lines[lines.len().saturating_sub(n)..].concat()
            }
        })
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let text = self.logs(job, tail).await?;
        Ok(Box::pin(futures::stream::iter([Ok(text)])))
    }

    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        // A real backend takes a while to run a job again: long enough for another process
        // refreshing the same job to look at it meanwhile.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut s = self.state();
        s.log.push(format!("retry {}", job.job_id));
        s.retries.push(job.job_id.clone());
        if !s.retry_succeeds {
            return Ok(None);
        }
        let n = s.retries.len();
        Ok(Some(Submitted {
            backend_job_id: format!("fake-retry-{n}"),
            backend_identity: self.current_identity(&s),
            results_location: None,
            status: JobStatus::Pending,
            message: format!("run again (retry {n})"),
        }))
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let mut s = self.state();
        s.log.push(format!("cancel {}", job.job_id));
        s.cancels.push(job.job_id.clone());
        if s.peek(&job.job_id).status.is_terminal() {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        if s.cancel_takes_effect {
            s.scripts
                .insert(job.job_id.clone(), VecDeque::from([reports::canceled()]));
        }
        Ok(CancelOutcome::Requested)
    }

    async fn release(&self, job: &JobRecord) -> Result<(), PlatformError> {
        let mut s = self.state();
        s.log.push(format!("release {}", job.job_id));
        *s.releases.entry(job.job_id.clone()).or_default() += 1;
        Ok(())
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let mut s = self.state();
        s.log.push(format!("failure_input {}", job.job_id));
        let rep = s.peek(&job.job_id);
        Ok(FailureInput {
            status: Some(rep.status),
            exit_code: rep.exit_code,
            log_tail: s.logs.get(&job.job_id).cloned().unwrap_or_default(),
            message: rep.message,
            ..Default::default()
        })
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        self.state().log.push(format!("remove {}", job.job_id));
        Ok(())
    }
}

/// Status answers to script with.
pub mod reports {
    use hoist_core::{JobStatus, StatusReport};

    /// A report with this status and message, nothing else.
    pub fn report(status: JobStatus, message: &str) -> StatusReport {
        StatusReport {
            status,
            message: message.to_string(),
            exit_code: None,
            started_at: None,
            finished_at: None,
            retriable: false,
            restarts: None,
        }
    }

    /// Queued.
    pub fn pending() -> StatusReport {
        report(JobStatus::Pending, "queued")
    }

    /// Running.
    pub fn running() -> StatusReport {
        report(JobStatus::Running, "running")
    }

    /// Ended with exit code 0.
    pub fn complete() -> StatusReport {
        StatusReport {
            exit_code: Some(0),
            ..report(JobStatus::Complete, "exited 0")
        }
    }

    /// Ended with this exit code (the program's failure).
    pub fn exited(code: i32) -> StatusReport {
        StatusReport {
            exit_code: Some(code),
            ..report(JobStatus::Error, &format!("exited {code}"))
        }
    }

    /// Failed because of the infrastructure: running it again can help.
    pub fn retriable(message: &str) -> StatusReport {
        StatusReport {
            retriable: true,
            ..report(JobStatus::Error, message)
        }
    }

    /// Canceled.
    pub fn canceled() -> StatusReport {
        report(JobStatus::Canceled, "canceled")
    }
}
