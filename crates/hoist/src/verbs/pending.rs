//! Why a job that has not started is still waiting: the platform's reason in words.

use crate::{Hoist, Result};
use hoist_core::pending::{self, PendingAnalysis};
use hoist_core::{JobRecord, JobStatus, LaunchState};

impl Hoist {
    /// Why `job` waits, when it waits (Pending) and its platform can tell; `None` for a job
    /// that is not waiting, or whose platform cannot say more than its status.
    pub async fn pending_analysis(&self, job: &JobRecord) -> Result<Option<PendingAnalysis>> {
        if job.status != JobStatus::Pending {
            return Ok(None);
        }
        if job.launch_state != LaunchState::Launched {
            // The submit has not come back yet: a platform may still see what it is doing
            // (an image pull), else the wait is the submit's own.
            let asked = match self.platform_for(job) {
                Ok(p) => p.pending_analysis(job).await.ok().flatten(),
                Err(_) => None,
            };
            return Ok(Some(asked.unwrap_or_else(|| {
                pending::launching(&format!(
                    "launch state {}{}",
                    job.launch_state.as_str(),
                    job.launcher
                        .as_deref()
                        .map(|l| format!(", submitted by {l}"))
                        .unwrap_or_default()
                ))
            })));
        }
        let platform = self.checked_platform(job).await?;
        Ok(platform.pending_analysis(job).await?)
    }

    /// How long a Pending job may wait before listings say why (`HOIST_PENDING_HINT_SECS`,
    /// default 30).
    pub fn pending_hint_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.env
                .get("HOIST_PENDING_HINT_SECS")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(30),
        )
    }
}
