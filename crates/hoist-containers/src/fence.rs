//! The edges of a launch: what is refused before a job's row is written, and what a launch
//! fenced off mid-create may have left on the daemon.

use crate::{ContainerJobs, ContainerOptions, PullPolicy, labels};
use bollard::errors::Error as DockerError;
use bollard::query_parameters::ListContainersOptions;
use hoist_core::{InputError, JobRecord, PlatformError, SubmitRequest};
use hoist_docker_engine::force_remove;

impl ContainerJobs {
    /// Refuse what the daemon would refuse only after the row exists: an image that is not
    /// there when `--pull never` forbids pulling it, and a bind mount whose source is missing
    /// (checked where the daemon's host is this host). A daemon that cannot answer here is
    /// left to the submit, which reports it as such.
    pub(crate) async fn check_before_row(&self, req: &SubmitRequest) -> Result<(), PlatformError> {
        let opts = req
            .spec
            .options_of::<ContainerOptions>(self.flavor.platform)?;
        if self.engine.endpoint().url.starts_with("unix://") {
            for m in &opts.mounts {
                if !std::path::Path::new(&m.source).exists() {
                    return Err(InputError::new(
                        format!(
                            "--mount {m}: {} does not exist on the daemon's host; nothing was submitted",
                            m.source
                        ),
                        "create the directory first or correct the path (the source is a path on the host that runs Docker)",
                    )
                    .into());
                }
            }
        }
        if let (PullPolicy::Never, Some(image)) = (opts.pull, req.spec.image.as_deref()) {
            let d = self.engine.client().await?;
            // Any other answer (present, or the daemon not answering) is the submit's to meet.
            if let Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) = d.inspect_image(image).await
            {
                return Err(InputError::new(
                    format!(
                        "image {image} is not on the daemon at {}, and --pull never forbids pulling it; nothing was submitted",
                        self.engine.endpoint().url
                    ),
                    "load or build the image on the daemon's host (docker pull / docker load), or use --pull missing",
                )
                .into());
            }
        }
        Ok(())
    }

    /// Remove every container of this flavor labelled with the job's id, whatever its state:
    /// the job's launch was fenced off, so nothing of it may start (or keep running). Found by
    /// label, not by name, so a container renamed by hand is found too.
    pub(crate) async fn remove_leftovers(&self, job: &JobRecord) -> Result<bool, PlatformError> {
        let d = self.engine.client().await?;
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            vec![
                format!("{}={}", labels::PLATFORM, self.flavor.platform),
                format!("{}={}", labels::JOB_ID, job.job_id),
            ],
        )]);
        let found = d
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.engine.unreachable(&e))?;
        let mut removed = false;
        for c in found {
            let Some(id) = c.id else { continue };
            force_remove(d, &id)
                .await
                .map_err(|e| self.engine.unreachable(&e))?;
            removed = true;
        }
        let _ = std::fs::remove_dir_all(self.job_files(&job.job_id));
        Ok(removed)
    }
}
