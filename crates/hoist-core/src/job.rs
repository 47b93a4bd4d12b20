//! The durable record of one job, and how a JOB argument finds it.

use crate::spec::JobSpec;
use crate::status::JobStatus;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where the launch fence stands: written before the platform is called, closed after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchState {
    /// The row exists; the platform may or may not have the job yet.
    Launching,
    /// The platform confirmed the job (backend id known).
    Launched,
    /// Reconcile proved the platform never got it.
    Abandoned,
}

/// Where the facade notes a job whose launch was fenced off (abandoned, or removed before it
/// launched): `$HOIST_HOME/fenced/<id>.json`, swept by later commands for what a create still
/// in flight left behind. A platform that holds what it created back until the launch is
/// settled (Kubernetes creates its Jobs suspended) reads it to tell a fenced launch from a
/// live one.
pub fn fence_marker(home: &std::path::Path, job_id: &str) -> std::path::PathBuf {
    home.join("fenced").join(format!("{job_id}.json"))
}

impl LaunchState {
    /// Stable spelling for the store.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchState::Launching => "launching",
            LaunchState::Launched => "launched",
            LaunchState::Abandoned => "abandoned",
        }
    }

    /// Inverse of [`LaunchState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "launching" => Some(LaunchState::Launching),
            "launched" => Some(LaunchState::Launched),
            "abandoned" => Some(LaunchState::Abandoned),
            _ => None,
        }
    }
}

/// One earlier attempt of a retried job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryAttempt {
    /// 1 for the first retry.
    pub attempt: u32,
    /// Backend id of the attempt that failed.
    pub backend_job_id: Option<String>,
    /// Why it was retried.
    pub reason: String,
    /// When the retry was decided.
    #[serde(with = "crate::ts_serde")]
    pub at: Timestamp,
}

/// Everything hoist remembers about a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Unique id (a UUID, the TAO contract's job id); any unique prefix resolves to it.
    pub job_id: String,
    /// Human name.
    pub name: String,
    /// Platform name (`local`, `docker`, …).
    pub platform: String,
    /// Profile the job was submitted with.
    pub profile: Option<String>,
    /// The backend's own id (pid, container id, SLURM job id, …).
    pub backend_job_id: Option<String>,
    /// Which daemon/cluster/host the job lives on; checked on every verb.
    pub backend_identity: Option<String>,
    /// Current status.
    pub status: JobStatus,
    /// Detail for the status (pending reason, error summary).
    pub message: String,
    /// Exit code of the command, once known.
    pub exit_code: Option<i32>,
    /// When the row was written.
    #[serde(with = "crate::ts_serde")]
    pub created_at: Timestamp,
    /// Last change.
    #[serde(with = "crate::ts_serde")]
    pub updated_at: Timestamp,
    /// When the command started.
    #[serde(with = "crate::ts_serde::option")]
    pub started_at: Option<Timestamp>,
    /// When it reached a terminal state.
    #[serde(with = "crate::ts_serde::option")]
    pub finished_at: Option<Timestamp>,
    /// Retries so far.
    pub retry_count: u32,
    /// Earlier attempts.
    pub retry_history: Vec<RetryAttempt>,
    /// Where outputs land (`/abs/path`, `s3://…`, `lustre://…`).
    pub results_location: Option<String>,
    /// Job this one continues (resume, next step).
    pub parent_job_id: Option<String>,
    /// Workflow the job belongs to.
    pub workflow_id: Option<String>,
    /// The request, with secret values removed.
    pub spec: JobSpec,
    /// What the platform pinned at submit to find the job's backend again (opaque to all
    /// but the platform; see `Platform::pin`).
    #[serde(default)]
    pub pinned: Option<serde_json::Value>,
    /// Launch fence state.
    pub launch_state: LaunchState,
    /// Token tying the row to the platform-side launch.
    pub launch_token: String,
    /// Who is launching (`host:pid:start`), so a dead launcher can be recognised.
    pub launcher: Option<String>,
    /// A cancel was asked for.
    pub cancel_requested: bool,
}

impl JobRecord {
    /// The record's own word on how the job stands, as a backend report: what `status`
    /// answers for a job whose backend object is gone (collected, or removed after its logs
    /// and exit were kept).
    pub fn as_report(&self) -> crate::platform::StatusReport {
        crate::platform::StatusReport {
            status: self.status,
            message: self.message.clone(),
            exit_code: self.exit_code,
            started_at: self.started_at,
            finished_at: self.finished_at,
            retriable: false,
            restarts: None,
        }
    }

    /// A new record for a job about to be launched: `Pending`, launch fence open, created now.
    pub fn pending(job_id: String, platform: String, spec: JobSpec, launch_token: String) -> Self {
        let now = crate::now();
        JobRecord {
            job_id,
            name: spec.name.clone(),
            platform,
            profile: None,
            backend_job_id: None,
            backend_identity: None,
            status: JobStatus::Pending,
            message: "launching".into(),
            exit_code: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            retry_count: 0,
            retry_history: vec![],
            results_location: None,
            parent_job_id: None,
            workflow_id: None,
            spec,
            pinned: None,
            launch_state: LaunchState::Launching,
            launch_token,
            launcher: None,
            cancel_requested: false,
        }
    }

    /// The first 8 characters of the id, as tables show it.
    pub fn short_id(&self) -> &str {
        &self.job_id[..self.job_id.len().min(8)]
    }
}

/// The fields `status --json` and `ls --json` print: everything but the spec and history,
/// so listing ten thousand jobs reads and writes only what is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Job id.
    pub job_id: String,
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// Profile.
    pub profile: Option<String>,
    /// Status.
    pub status: JobStatus,
    /// Status detail.
    pub message: String,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Backend id.
    pub backend_job_id: Option<String>,
    /// Results location.
    pub results_location: Option<String>,
    /// Retries so far.
    pub retry_count: u32,
    /// Created ([`crate::format_ts`] form, as stored: listings copy it without parsing).
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Started.
    pub started_at: Option<String>,
    /// Finished.
    pub finished_at: Option<String>,
}

impl JobSummary {
    /// The first 8 characters of the id.
    pub fn short_id(&self) -> &str {
        &self.job_id[..self.job_id.len().min(8)]
    }
}

impl From<&JobRecord> for JobSummary {
    fn from(j: &JobRecord) -> Self {
        JobSummary {
            job_id: j.job_id.clone(),
            name: j.name.clone(),
            platform: j.platform.clone(),
            profile: j.profile.clone(),
            status: j.status,
            message: j.message.clone(),
            exit_code: j.exit_code,
            backend_job_id: j.backend_job_id.clone(),
            results_location: j.results_location.clone(),
            retry_count: j.retry_count,
            created_at: crate::format_ts(j.created_at),
            updated_at: crate::format_ts(j.updated_at),
            started_at: j.started_at.map(crate::format_ts),
            finished_at: j.finished_at.map(crate::format_ts),
        }
    }
}

/// How a JOB argument matched the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobMatch {
    /// Exactly one job.
    One(String),
    /// Nothing matched.
    None,
    /// Several jobs matched; their ids.
    Ambiguous(Vec<String>),
}

/// Resolve a JOB argument against `(id, name)` candidates the store found for it: an exact id
/// wins, then a unique id prefix, then a unique name (the newest job of a reused name is still
/// ambiguous: the user must say which).
pub fn match_job(arg: &str, candidates: &[(String, String)]) -> JobMatch {
    if let Some((id, _)) = candidates.iter().find(|(id, _)| id == arg) {
        return JobMatch::One(id.clone());
    }
    let by_prefix: Vec<&String> = candidates
        .iter()
        .filter(|(id, _)| id.starts_with(arg))
        .map(|(id, _)| id)
        .collect();
    let by_name: Vec<&String> = candidates
        .iter()
        .filter(|(_, n)| n == arg)
        .map(|(id, _)| id)
        .collect();
    let pick = |v: Vec<&String>| match v.len() {
        0 => JobMatch::None,
        1 => JobMatch::One(v[0].clone()),
        _ => JobMatch::Ambiguous(v.into_iter().cloned().collect()),
    };
    match pick(by_prefix) {
        JobMatch::None => pick(by_name),
        m => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn resolution_order() {
        let cands = c(&[("abc123", "train"), ("abd999", "eval"), ("ffff00", "abc")]);
        assert_eq!(match_job("abc123", &cands), JobMatch::One("abc123".into()));
        assert_eq!(match_job("abc", &cands), JobMatch::One("abc123".into()));
        assert_eq!(
            match_job("ab", &cands),
            JobMatch::Ambiguous(vec!["abc123".into(), "abd999".into()])
        );
        assert_eq!(match_job("eval", &cands), JobMatch::One("abd999".into()));
        assert_eq!(match_job("nope", &cands), JobMatch::None);
        let dup = c(&[("111", "t"), ("222", "t")]);
        assert!(matches!(match_job("t", &dup), JobMatch::Ambiguous(_)));
    }
}
