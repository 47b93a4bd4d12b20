//! Submitting: the dry run, the launch fence around `Platform::submit_batch` (one job or many:
//! `batch.rs`), and the checks made before a job takes a GPU.

mod batch;

use crate::prepare::Prepared;
use crate::{Hoist, JobRequest, Result};
use hoist_core::staging::{RunnerPlan, Scheme};
use hoist_core::{
    DryRun, InputError, JobRecord, JobSpec, PathView, Platform, PlatformError, RunnerDelivery,
    SubmitRequest,
};
use std::collections::BTreeMap;

impl Hoist {
    /// What `create_job` would submit, in the platform's own form. Writes nothing.
    pub async fn dry_run(&self, req: &JobRequest) -> Result<DryRun> {
        let Prepared {
            platform: platform_name,
            mut spec,
            env,
            settings,
            ..
        } = self.prepare(req)?;
        // Nothing is shipped in a dry run: each upload shows as an input from its local path.
        for u in std::mem::take(&mut spec.uploads) {
            spec.inputs.push(hoist_core::spec::DataBinding {
                key: u.dest,
                uri: u.src,
            });
        }
        let platform = self.entry(&platform_name)?.descriptor.build(
            &self.build_context(),
            &settings.values,
            None,
        )?;
        let runner = RunnerPlan::for_job("dry-run", &spec);
        let runner_binary = self.runner_binary_for(platform.as_ref(), runner.is_some())?;
        let sub = SubmitRequest {
            job_id: "dry-run".into(),
            launch_token: "dry-run".into(),
            spec,
            env,
            runner,
            runner_binary,
        };
        Ok(platform.dry_run(&sub).await?)
    }

    /// The static runner binary, for platforms that ship it to their jobs.
    fn runner_binary_for(
        &self,
        platform: &dyn Platform,
        stages_data: bool,
    ) -> Result<Option<hoist_core::staging::RunnerBinary>> {
        match platform.capabilities().runner {
            RunnerDelivery::StaticBinary if stages_data => Ok(Some(self.runner_binary()?)),
            _ => Ok(None),
        }
    }

    /// Submit a job: the row (with its launch token) is written first, then the platform is
    /// called, then the fence is closed. A crash in between is settled by [`Hoist::reconcile`].
    pub async fn create_job(&self, req: JobRequest) -> Result<JobRecord> {
        self.create_jobs(vec![req]).await.pop().unwrap_or_else(|| {
            Err(PlatformError::failed(
                "the submit gave no answer",
                "report this; hoist ls shows whether the job was submitted",
            )
            .into())
        })
    }

    /// Store what the platform pins once it has submitted, when that differs from what it
    /// pinned before (the id of a cloud instance it created for the job).
    pub(crate) fn repin(&self, platform: &dyn Platform, job: &JobRecord) -> Result<()> {
        let now = platform.pin();
        if now.is_some() && now != job.pinned {
            self.store.set_pinned(&job.job_id, now.as_ref())?;
        }
        Ok(())
    }

    /// Refuse a job whose inputs are missing before it takes a GPU. Object stores are asked
    /// with the job's own credentials; paths are asked of the platform where it can see them.
    /// A store that cannot be reached from here (it may be visible only from the cluster) is
    /// left to the job.
    async fn check_inputs(
        &self,
        platform: &dyn Platform,
        spec: &JobSpec,
        env: &BTreeMap<String, String>,
    ) -> Result<()> {
        let mut uris: Vec<(String, String)> = spec
            .inputs
            .iter()
            .map(|b| (b.key.clone(), b.uri.clone()))
            .collect();
        if let Some(s) = &spec.spec {
            uris.extend(
                hoist_core::staging::remote_values(s)
                    .into_iter()
                    .filter(|(k, _)| !spec.outputs.iter().any(|o| o.key == *k)),
            );
        }
        let view = platform.capabilities().paths;
        for (key, uri) in uris {
            let scheme = Scheme::of(&uri);
            let found = if scheme.is_remote() {
                match hoist_staging::check_path(&uri, env).await {
                    Ok(found) => found,
                    Err(e @ hoist_staging::StagingError::Denied { .. })
                    | Err(e @ hoist_staging::StagingError::Input(_)) => return Err(e.into()),
                    Err(_) => continue,
                }
            } else if scheme == Scheme::Local && !uri.starts_with('/') {
                continue; // relative to the job's working directory: only the job can tell
            } else if view == PathView::Container && scheme != Scheme::Lustre {
                continue; // a path inside the image or a mount: the job's, not ours
            } else {
                let p = hoist_core::staging::local_path(&uri).unwrap_or(&uri);
                match platform.check_path(p).await {
                    Ok(found) => found,
                    Err(PlatformError::Input(e)) => return Err(e.into()),
                    Err(_) => continue,
                }
            };
            if !found {
                return Err(InputError::new(
                    format!("input {key}: {uri} does not exist; nothing was submitted"),
                    "check the URI (hoist ls-path on its parent lists what is there) and the credentials in this shell",
                )
                .into());
            }
        }
        Ok(())
    }
}
