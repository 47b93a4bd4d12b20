//! Launches that were fenced off while a create may still have been on its way to the backend.
//!
//! A launcher killed mid-submit can leave a request in flight (a Docker container create, an
//! `sbatch` over ssh, a Kubernetes POST) that the backend completes after `reconcile` looked,
//! found nothing and abandoned the row. Each such job is remembered in
//! `$HOIST_HOME/fenced/<id>.json` (its record, which names the platform, profile and pinned
//! backend) and every reconcile within [`SWEEP_WINDOW`] asks the platform to remove what
//! landed since, by the job's own name and labels. The window is how long a request already
//! sent can take to land; after it the marker goes, on the next sweep that found the backend
//! clean.

use crate::Hoist;
use hoist_core::{JobRecord, LaunchState, ReportEvent};
use std::path::PathBuf;
use std::time::Duration;

/// How long after a fence its job is still swept for late arrivals.
const SWEEP_WINDOW: Duration = Duration::from_secs(300);

/// How long a backend that cannot answer is asked again: every command pays for asking, so a
/// backend gone for good must not slow every command for ever.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

impl Hoist {
    fn fenced_dir(&self) -> PathBuf {
        self.home().join("fenced")
    }

    /// Remember a fenced job so later reconciles remove what its in-flight create leaves.
    /// Best effort: a marker that cannot be written only loses the later sweeps, and the
    /// fence itself is already in the store.
    pub(crate) fn note_fenced(&self, job: &JobRecord) {
        let dir = self.fenced_dir();
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let body = serde_json::to_vec(job).map_err(std::io::Error::other)?;
            let tmp = dir.join(format!(".{}.tmp", job.job_id));
            std::fs::write(&tmp, body)?;
            std::fs::rename(tmp, hoist_core::job::fence_marker(self.home(), &job.job_id))
        };
        if let Err(e) = write() {
            self.reporter.report(ReportEvent::Step {
                key: &job.job_id,
                message: &format!(
                    "could not note {} for later clean-up in {}: {e}; run hoist rm --force {} if a backend object appears",
                    job.short_id(),
                    dir.display(),
                    job.short_id()
                ),
            });
        }
    }

    /// Ask each fenced job's platform to remove what landed after the fence; returns the jobs
    /// for which something was removed. A platform that cannot answer now is asked again on
    /// the next command.
    pub(crate) async fn sweep_fenced(&self) -> Vec<JobRecord> {
        let Ok(entries) = std::fs::read_dir(self.fenced_dir()) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            let Some(job) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<JobRecord>(&b).ok())
            else {
                // Unreadable (a partial write cannot happen: markers are renamed into place).
                let _ = std::fs::remove_file(&path);
                continue;
            };
            // A row launched under the same id after all (never expected: the fence is a
            // compare-and-set on the launch token) is the platform's live job, not a leftover.
            if let Ok(Some(now)) = self.store.get(&job.job_id)
                && now.launch_state == LaunchState::Launched
            {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let outcome = match self.platform_for(&job) {
                Ok(p) => p.remove_unlaunched(&job).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(found) => {
                    if found {
                        removed.push(job);
                    }
                    if age >= SWEEP_WINDOW {
                        let _ = std::fs::remove_file(&path);
                    }
                }
                Err(e) if age >= GIVE_UP_AFTER => {
                    let _ = std::fs::remove_file(&path);
                    self.reporter.report(ReportEvent::Step {
                        key: &job.job_id,
                        message: &format!(
                            "gave up checking the backend for leftovers of fenced job {} (unanswered for a day: {e}); look for objects named after job {} there",
                            job.short_id(),
                            job.job_id
                        ),
                    });
                }
                Err(e) => self.reporter.report(ReportEvent::Step {
                    key: &job.job_id,
                    message: &format!(
                        "cannot check the backend for leftovers of fenced job {} yet: {e}",
                        job.short_id()
                    ),
                }),
            }
        }
        removed
    }
}
