//! What the verbs return for a person or a program to read: the `--json` contracts of `show`,
//! `why`, `preflight`, `results`, `platforms` and `config show`. Front doors print these; none
//! builds its own JSON.

use hoist_core::failure::{Evidence, FailureAnalysis, FailureEvent};
use hoist_core::settings::Source;
use hoist_core::{
    Capabilities, Details, JobRecord, JobStatus, PreflightCheck, Readiness, SettingDoc,
};
use serde::Serialize;

/// `hoist show`: the record, what its platform adds, and its history.
#[derive(Debug, Clone, Serialize)]
pub struct ShowView {
    /// The record (no secret values).
    #[serde(flatten)]
    pub job: JobRecord,
    /// What the platform adds (replicas …), when it could be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_details: Option<Details>,
    /// History, oldest first.
    pub events: Vec<EventView>,
}

/// One history entry.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// When.
    pub at: String,
    /// `submit`, `launch`, `status`, `retry`, `cancel`.
    pub kind: String,
    /// Status after it.
    pub status: Option<JobStatus>,
    /// Detail.
    pub message: String,
}

impl From<&hoist_store::JobEvent> for EventView {
    fn from(e: &hoist_store::JobEvent) -> Self {
        EventView {
            at: e.at.to_string(),
            kind: e.kind.clone(),
            status: e.status,
            message: e.message.clone(),
        }
    }
}

/// `hoist why`.
#[derive(Debug, Clone, Serialize)]
pub struct WhyView {
    /// The job.
    pub job_id: String,
    /// Its status.
    pub status: JobStatus,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// `ERR_PROGRAM`, `ERR_INFRA`, `ERR_CONFIG`; null when nothing failed.
    pub err_class: Option<hoist_core::ErrClass>,
    /// The cause, or why there is nothing to explain.
    pub cause: String,
    /// What to do.
    pub suggestion: String,
    /// Whether running it again can help.
    pub retriable: bool,
    /// The rule that matched (`hoist why --explain RULE` describes it).
    pub rule: Option<String>,
    /// Evidence in TAO's shape (`node_event_name`, `message`).
    pub job_failure_by_node_event: Vec<FailureEvent>,
    /// The same as `job_failure_by_node_event`, under the name earlier versions used.
    pub events: Vec<FailureEvent>,
    /// Evidence with where it was seen: `source` (`log`, `platform`, `event`, `rank`, `exit`,
    /// `signal`), `line` (1-based in the log, or null) and `text`, most telling first.
    pub evidence: Vec<Evidence>,
}

impl WhyView {
    /// The view of `job` and its analysis (`None`: it did not fail).
    pub fn new(job: &JobRecord, analysis: Option<FailureAnalysis>) -> Self {
        match analysis {
            Some(fa) => WhyView {
                job_id: job.job_id.clone(),
                status: job.status,
                exit_code: job.exit_code,
                err_class: Some(fa.err_class),
                cause: fa.cause,
                suggestion: fa.suggestion,
                retriable: fa.retriable,
                rule: Some(fa.rule),
                job_failure_by_node_event: fa.events.clone(),
                events: fa.events,
                evidence: fa.evidence,
            },
            None => WhyView {
                job_id: job.job_id.clone(),
                status: job.status,
                exit_code: job.exit_code,
                err_class: None,
                cause: nothing_to_explain(job),
                suggestion: String::new(),
                retriable: false,
                rule: None,
                job_failure_by_node_event: vec![],
                events: vec![],
                evidence: vec![],
            },
        }
    }
}

/// Why `why` has nothing to say about a job.
pub fn nothing_to_explain(j: &JobRecord) -> String {
    // A job that ended well after infrastructure retries still had failures worth telling.
    let retried = match j.retry_history.last() {
        Some(r) if j.retry_count > 0 => format!(
            " after {} run{} the infrastructure failed (the last: {})",
            j.retry_count,
            if j.retry_count == 1 { "" } else { "s" },
            r.reason
        ),
        _ => String::new(),
    };
    match j.status {
        JobStatus::Complete => format!("it completed successfully{retried}; nothing to explain"),
        s => format!("it is {s}{retried}; there is no failure to explain yet"),
    }
}

/// `hoist preflight`.
#[derive(Debug, Clone, Serialize)]
pub struct PreflightView {
    /// The platform checked.
    pub platform: String,
    /// No required check failed.
    pub ok: bool,
    /// Every check, the store's first.
    pub checks: Vec<PreflightCheck>,
}

/// `hoist results`.
#[derive(Debug, Clone, Serialize)]
pub struct ResultsView {
    /// The job.
    pub job_id: String,
    /// Where its results are.
    pub results_location: String,
}

/// One platform in `hoist platforms`.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformView {
    /// Canonical name.
    pub name: &'static str,
    /// Other names.
    pub aliases: &'static [&'static str],
    /// One line.
    pub summary: &'static str,
    /// Every setting.
    pub settings: &'static [SettingDoc],
    /// Other environment variables it reads.
    pub env: Vec<EnvView>,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Whether this machine looks set up for it (no network was used to decide).
    pub readiness: Readiness,
}

/// An environment variable a platform reads.
#[derive(Debug, Clone, Serialize)]
pub struct EnvView {
    /// Name.
    pub name: &'static str,
    /// What for.
    pub doc: &'static str,
}

/// `hoist config show`: the resolved settings of one platform and where each came from.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    /// The platform.
    pub platform: String,
    /// Where the platform choice came from.
    pub platform_source: Source,
    /// The profile in use.
    pub profile: Option<String>,
    /// Every setting of the platform, set or not.
    pub settings: Vec<SettingView>,
}

/// One resolved setting.
#[derive(Debug, Clone, Serialize)]
pub struct SettingView {
    /// Key.
    pub key: &'static str,
    /// Value (secrets masked); null when unset.
    pub value: serde_json::Value,
    /// Where it came from; null when unset.
    pub source: Option<Source>,
    /// For an unset setting with a computed default, how it is worked out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
    /// What it does.
    pub doc: &'static str,
}

/// A platform's settings as a Markdown table: README's tables are these, checked by a test.
pub fn settings_markdown(info: &hoist_core::PlatformInfo) -> String {
    use hoist_core::DefaultValue;
    let mut out = String::from(
        "| setting | kind | flag | environment | default | what it does |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for s in info.settings {
        let flag = s.flag.map(|f| format!("`{f}`")).unwrap_or_default();
        let env = s
            .env
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let default = match s.default {
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::Computed(how) => how.to_string(),
            DefaultValue::None => String::new(),
        };
        let mut doc = s.doc.to_string();
        if s.per_job {
            doc.push_str(" (kept with each job)");
        }
        if s.secret {
            doc.push_str(" (secret: never stored)");
        }
        out.push_str(&format!(
            "| `{}` | {} | {flag} | {env} | {default} | {} |\n",
            s.key,
            s.kind.as_str(),
            doc.replace('|', "\\|")
        ));
    }
    out
}

/// `hoist why` on a job that has not ended: why it waits (or that it runs).
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    /// The job.
    pub job_id: String,
    /// Its status.
    pub state: JobStatus,
    /// The backend's name for why it waits (`Resources`, `Unschedulable: taints`); null
    /// when it does not wait or the platform cannot tell.
    pub reason: Option<String>,
    /// What that means, in a sentence (for a running job: since when and where).
    pub explanation: String,
    /// What would make it start.
    pub unblock: String,
    /// The backend's raw words it was read from.
    pub evidence: String,
    /// Waiting alone will not start it: someone has to act.
    pub stuck: bool,
    /// Seconds since it was created (how long it has waited), for a Pending job.
    pub pending_secs: Option<i64>,
}

impl PendingView {
    /// The view of `job` and why it waits (`None`: it does not, or nobody can tell).
    pub fn new(job: &JobRecord, analysis: Option<hoist_core::PendingAnalysis>) -> Self {
        let pending_secs = (job.status == JobStatus::Pending)
            .then(|| (hoist_core::now().as_second() - job.created_at.as_second()).max(0));
        match analysis {
            Some(a) => PendingView {
                job_id: job.job_id.clone(),
                state: job.status,
                reason: Some(a.reason),
                explanation: a.explanation,
                unblock: a.unblock,
                evidence: a.evidence,
                stuck: a.stuck,
                pending_secs,
            },
            None => PendingView {
                job_id: job.job_id.clone(),
                state: job.status,
                reason: None,
                explanation: not_waiting(job),
                unblock: String::new(),
                evidence: job.message.clone(),
                stuck: false,
                pending_secs,
            },
        }
    }
}

/// What `why` says of a live job that is not waiting, or whose platform cannot say why.
pub fn not_waiting(j: &JobRecord) -> String {
    match j.status {
        JobStatus::Running => {
            let since = j
                .started_at
                .map(|t| format!(" since {}", crate::core::format_ts(t)))
                .unwrap_or_default();
            let on = j
                .backend_job_id
                .as_deref()
                .map(|b| format!(" as {b}"))
                .unwrap_or_default();
            format!(
                "it is running{since} on {}{on}; nothing to explain",
                j.platform
            )
        }
        JobStatus::Pending if !j.message.is_empty() => {
            format!("it is Pending; {} says: {}", j.platform, j.message)
        }
        JobStatus::Pending => format!("it is Pending; {} gives no reason for the wait", j.platform),
        s => format!("it is {s}; there is nothing to explain yet"),
    }
}
