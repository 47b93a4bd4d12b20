//! `hoist gc` on Kubernetes: an ended job's Job (its pods with it), headless Service and
//! Secrets are deleted after what `logs`, `why`, `show` and `status` answer from is saved
//! under `$HOIST_HOME/jobs/<id>/` (`output.log`, as `hoist logs` shows every pod; `kube.json`,
//! the rest). The verbs read the saved copy first, so they answer the same afterwards.

use crate::KubePlatform;
use crate::client::Companions;
use crate::manifest::{job_name, labels};
use crate::status;
use hoist_core::failure::{FailureInput, PlatformFinding};
use hoist_core::{Details, FailureEvent, JobRecord, PlatformError, StatusReport};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Preconditions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The job's output, every pod's, as `hoist logs` showed it.
const LOG_FILE: &str = "output.log";
/// Everything else; written last, so its presence means the copy is whole.
const SAVED_FILE: &str = "kube.json";
/// The log lines `why` reads, as it reads them from a live Job.
const WHY_TAIL: usize = 200;

/// What a collected job's verbs answer from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Saved {
    /// What `status` says from now on: the job's end as the store recorded it.
    pub(crate) report: StatusReport,
    /// The exit code the pods gave, for `why`.
    pub(crate) exit_code: Option<i32>,
    /// What only Kubernetes could tell about the failure.
    pub(crate) findings: Vec<PlatformFinding>,
    /// The pods' evidence (container states, events).
    pub(crate) events: Vec<FailureEvent>,
    /// What `show` adds: namespace, Job name, the pods by rank.
    pub(crate) details: Details,
}

impl Saved {
    /// `why`'s input, the log tail read from the saved output.
    pub(crate) fn failure_input(&self, log: Option<String>) -> FailureInput {
        FailureInput {
            exit_code: self.exit_code,
            findings: self.findings.clone(),
            events: self.events.clone(),
            log_tail: log.map(|l| tail(&l, Some(WHY_TAIL))).unwrap_or_default(),
            message: self.report.message.clone(),
            ..FailureInput::default()
        }
    }
}

/// The last `n` lines of `text` (all with `None`).
fn tail(text: &str, n: Option<usize>) -> String {
    match n {
        Some(n) => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            lines[lines.len().saturating_sub(n)..].concat()
        }
        None => text.to_string(),
    }
}

/// Write `bytes` to `path` readable by its owner only, whole or not at all (a temporary file
/// renamed into place): job output is the user's alone.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

impl KubePlatform {
    /// `$HOIST_HOME/jobs/<id>/`, where a collected job's copy lives.
    fn job_files(&self, job_id: &str) -> Option<PathBuf> {
        Some(self.home.as_ref()?.join("jobs").join(job_id))
    }

    /// The saved copy of a collected job, if `hoist gc` collected it.
    pub(crate) fn saved(&self, job_id: &str) -> Option<Saved> {
        let bytes = std::fs::read(self.job_files(job_id)?.join(SAVED_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The saved output of a collected job (its last `tail` lines).
    pub(crate) fn saved_logs(&self, job_id: &str, tail_lines: Option<usize>) -> Option<String> {
        let dir = self.job_files(job_id)?;
        // Only a whole copy counts: a log alone is a gc that stopped half-way, whose Job
        // still answers.
        if !dir.join(SAVED_FILE).exists() {
            return None;
        }
        let text = std::fs::read_to_string(dir.join(LOG_FILE)).ok()?;
        Some(tail(&text, tail_lines))
    }

    /// Forget a removed job's saved copy (`hoist rm`).
    pub(crate) fn forget_saved(&self, job_id: &str) {
        if let Some(dir) = self.job_files(job_id) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Delete the Jobs of ended `jobs` with their pods, Service and Secrets, saving each
    /// one's output and findings first; in order, whether each had a Job. `dry_run`: only say
    /// which have one. Two listings find them, whatever the number of jobs. A Job the
    /// cluster still counts as active, or whose pods have not all stopped, is never touched,
    /// whatever the store says: the store may lag.
    pub(crate) async fn collect_ended(
        &self,
        jobs: &[JobRecord],
        dry_run: bool,
    ) -> Vec<Result<bool, PlatformError>> {
        let each_failed = |e: PlatformError| {
            let msg = e.to_string();
            jobs.iter()
                .map(|_| Err(PlatformError::failed(msg.clone(), "")))
                .collect()
        };
        if self.home.is_none() && !dry_run {
            return each_failed(PlatformError::failed(
                "this kubernetes platform has no hoist home to save job logs in",
                "build it with KubePlatform::with_home",
            ));
        }
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => return each_failed(e),
        };
        let sel = ListParams::default().labels(&format!("{}=hoist", labels::MANAGED_BY));
        let japi: Api<Job> = self.api(client.clone());
        let papi: Api<Pod> = self.api(client.clone());
        let (jl, pl) = match futures::join!(japi.list(&sel), papi.list(&sel)) {
            (Ok(j), Ok(p)) => (j.items, p.items),
            (Err(e), _) | (_, Err(e)) => return each_failed(self.err("list jobs and pods", e)),
        };
        let pods = status::pods_by_job(pl);
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let name = job_name(&job.job_id);
            let Some(k) = jl
                .iter()
                .find(|k| k.metadata.name.as_deref() == Some(&name))
            else {
                out.push(Ok(false));
                continue;
            };
            let mine = status::current_pods(k, pods.get(&name).map(Vec::as_slice).unwrap_or(&[]));
            if !ended(k, &mine) {
                out.push(Ok(false));
                continue;
            }
            out.push(match dry_run {
                true => Ok(true),
                false => self.save_and_delete(job, k, &mine).await.map(|()| true),
            });
        }
        out
    }

    async fn save_and_delete(
        &self,
        job: &JobRecord,
        k: &Job,
        pods: &[Pod],
    ) -> Result<(), PlatformError> {
        let Some(dir) = self.job_files(&job.job_id) else {
            return Err(PlatformError::failed(
                "no hoist home to save job logs in",
                "",
            ));
        };
        let client = self.client().await?;
        let log = self.log_text(client.clone(), pods, None).await?;
        let (findings, events, exit_code) = status::findings(k, pods);
        let saved = Saved {
            report: job.as_report(),
            exit_code,
            findings,
            events,
            details: Details {
                fields: BTreeMap::from([
                    ("namespace".to_string(), self.namespace.clone()),
                    ("job".to_string(), job_name(&job.job_id)),
                ]),
                replicas: status::replicas(pods),
            },
        };
        let body = serde_json::to_vec(&saved).map_err(|e| {
            PlatformError::failed(format!("encoding job {}'s record: {e}", job.job_id), "")
        })?;
        let save = || -> std::io::Result<()> {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
            write_private(&dir.join(LOG_FILE), log.as_bytes())?;
            write_private(&dir.join(SAVED_FILE), &body)
        };
        save().map_err(|e| {
            PlatformError::io(
                format!("saving job {}'s logs in {}", job.job_id, dir.display()),
                e,
            )
        })?;
        // Background: the pods go with the Job; the UID precondition spares a Job made again
        // under the same name since it was listed.
        let mut dp = DeleteParams::background();
        dp.preconditions = Some(Preconditions {
            uid: k.metadata.uid.clone(),
            resource_version: None,
        });
        let jobs: Api<Job> = self.api(client.clone());
        self.delete_quietly(&jobs, &job_name(&job.job_id), &dp)
            .await?;
        self.delete_companions(client, &job.job_id, Companions::ALL)
            .await
    }
}

/// Whether a Job is over and nothing of it runs: Complete or Failed, no pod counted active,
/// every pod stopped.
fn ended(k: &Job, pods: &[Pod]) -> bool {
    let active = k.status.as_ref().and_then(|s| s.active).unwrap_or(0);
    status::job_finished(k)
        && active == 0
        && pods.iter().all(|p| {
            matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
}
