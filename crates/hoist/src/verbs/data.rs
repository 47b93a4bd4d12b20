//! A job's data from this machine: where its results are and fetching them, and paths and
//! URIs where jobs run.

use crate::{Hoist, Result};
use hoist_core::staging::Scheme;
use hoist_core::{InputError, JobRecord, JobSpec};
use std::collections::BTreeMap;
use std::path::Path;

impl Hoist {
    /// Where a job's results are.
    pub fn results_dir(&self, job: &JobRecord) -> Option<String> {
        job.results_location.clone()
    }

    /// Copy a job's results into `dir`; returns the number of files. S3 results come from
    /// the bucket, the platform fetches what only it reaches (a cluster's shared file system
    /// over ssh, a remote daemon's host), and paths of this machine are copied.
    pub async fn download_results(&self, job: &JobRecord, dir: &Path) -> Result<usize> {
        let Some(loc) = job.results_location.clone() else {
            return Err(InputError::new(
                format!("job {} has no results location", job.short_id()),
                "hoist show JOB tells what happened",
            )
            .into());
        };
        std::fs::create_dir_all(dir).map_err(|e| {
            hoist_staging::StagingError::io(format!("creating {}", dir.display()), e)
        })?;
        if loc.starts_with("s3://") {
            let env = self.job_credentials(&job.spec);
            hoist_staging::download(&loc, dir, &env).await?;
            return Ok(hoist_staging::walk(dir, &[])?.len());
        }
        let platform = self.checked_platform(job).await?;
        if let Some(n) = platform.fetch_results(job, dir).await? {
            return Ok(n);
        }
        let path = hoist_core::staging::local_path(&loc).unwrap_or(&loc);
        if !Path::new(path).is_dir() {
            return Err(InputError::new(
                format!("the results of job {} are at {loc}, which this machine cannot read", job.short_id()),
                "run hoist where that path is mounted, or give jobs S3_BUCKET_NAME so results go to S3",
            )
            .into());
        }
        Ok(hoist_staging::upload(
            Path::new(path),
            &dir.display().to_string(),
            &[],
            self.env.as_ref(),
        )
        .await?)
    }

    /// Whether a path exists where jobs of `platform` run. Object stores and model hubs are
    /// asked directly (credentials from this environment); `lustre://` and plain paths are
    /// the platform's (over ssh for SLURM).
    pub async fn check_path(&self, platform: &str, path: &str) -> Result<bool> {
        hoist_core::spec::validate_uri(path)?;
        if Scheme::of(path).is_remote() {
            return Ok(hoist_staging::check_path(path, self.env.as_ref()).await?);
        }
        let p = hoist_core::staging::local_path(path).unwrap_or(path);
        Ok(self.platform(platform, None)?.check_path(p).await?)
    }

    /// Entries under a path where jobs of `platform` run (same routing as
    /// [`Hoist::check_path`]).
    pub async fn list_path(&self, platform: &str, path: &str) -> Result<Vec<String>> {
        hoist_core::spec::validate_uri(path)?;
        if Scheme::of(path).is_remote() {
            return Ok(hoist_staging::list_path(path, self.env.as_ref()).await?);
        }
        let p = hoist_core::staging::local_path(path).unwrap_or(path);
        Ok(self.platform(platform, None)?.list_path(p).await?)
    }

    /// The job's credentials and endpoints as this shell has them now (the store keeps names
    /// only), for host-side transfers of its data.
    fn job_credentials(&self, spec: &JobSpec) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> =
            hoist_core::staging::credential_env_names(&[], true)
                .into_iter()
                .filter_map(|k| Some((k.to_string(), self.env.get(k)?)))
                .collect();
        for (k, v) in &spec.env {
            let val = match v {
                hoist_core::EnvValue::Literal(v) => Some(v.clone()),
                _ => self.env.get(k),
            };
            if let Some(v) = val {
                env.insert(k.clone(), v);
            }
        }
        env
    }
}
