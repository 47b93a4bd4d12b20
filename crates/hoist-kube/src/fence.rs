//! Holding a created Job back until its launch stands. A Job starts its pods by itself, so a
//! create that lands after its launcher died — after reconcile looked, found nothing and
//! fenced the row off — would run the job until a later command's sweep removed it. Every
//! Job is therefore created suspended (`spec.suspend: true`: the Job controller makes no pods)
//! and resumed only where the launch is known to stand: by the submit that got the create's
//! answer back (its launcher is alive, and reconcile never fences a live launcher's row), or
//! by the reconcile that adopts it; in both cases only while the facade has noted no fence for
//! the job. A Job nobody resumes stays without pods until the sweep deletes it.

use crate::KubePlatform;
use crate::client::Companions;
use crate::manifest::job_name;
use hoist_core::PlatformError;
use k8s_openapi::api::batch::v1::Job;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};

/// Whether the Job is held back (created suspended and not resumed yet).
pub(crate) fn suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend) == Some(true)
}

/// A Job as a submit creates it: held back until [`KubePlatform::resume`].
pub(crate) fn held(mut job: Job) -> Job {
    if let Some(spec) = job.spec.as_mut() {
        spec.suspend = Some(true);
    }
    job
}

impl KubePlatform {
    /// Whether the facade noted this job's launch as fenced off (abandoned, or removed before
    /// it launched). A platform without a home (a bare one, in tests) sees no fences.
    fn fenced(&self, job_id: &str) -> bool {
        self.home
            .as_deref()
            .is_some_and(|h| hoist_core::job::fence_marker(h, job_id).exists())
    }

    /// Let a held Job make its pods, unless its launch was fenced off: then delete it and its
    /// companions before any pod exists. `Ok(true)`: it runs (or already did); `Ok(false)`:
    /// it was fenced off and is gone.
    pub(crate) async fn resume(
        &self,
        client: Client,
        job_id: &str,
        job: &Job,
    ) -> Result<bool, PlatformError> {
        let name = job_name(job_id);
        let jobs: Api<Job> = self.api(client.clone());
        if self.fenced(job_id) {
            // Background: the pods (none, while held) and the owned Secrets and Service go
            // with it; the UID precondition spares a Job re-created under the name since.
            let mut dp = DeleteParams::background();
            dp.preconditions = Some(Preconditions {
                uid: job.metadata.uid.clone(),
                resource_version: None,
            });
            self.delete_quietly(&jobs, &name, &dp).await?;
            self.delete_companions(client, job_id, Companions::ALL)
                .await?;
            return Ok(false);
        }
        if suspended(job) {
            let patch = serde_json::json!({"spec": {"suspend": false}});
            jobs.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| self.err(&format!("resume the Job {name}"), e))?;
        }
        Ok(true)
    }
}
