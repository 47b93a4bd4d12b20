//! Why a container job waits: its image still being pulled (no container yet), or a
//! container created but not started.

use crate::{ContainerJobs, container_name};
use bollard::models::ContainerStateStatusEnum;
use hoist_core::pending::{self, PendingAnalysis};
use hoist_core::{JobRecord, PlatformError};

impl ContainerJobs {
    /// What the daemon shows of a job that has not started. `None`: its container runs or
    /// ended, or it has none and the image is there (the wait is the submit's own).
    pub async fn pending(&self, job: &JobRecord) -> Result<Option<PendingAnalysis>, PlatformError> {
        let name = container_name(&job.job_id);
        match self.engine().inspect(&name).await? {
            Some(c) => {
                let st = c.state.unwrap_or_default();
                let error = st.error.unwrap_or_default();
                Ok(
                    (st.status == Some(ContainerStateStatusEnum::CREATED) && error.is_empty())
                        .then(|| {
                            pending::docker_created(&format!(
                                "container {name}: created, not started"
                            ))
                        }),
                )
            }
            None => {
                let Some(image) = job.spec.image.as_deref().filter(|i| !i.is_empty()) else {
                    return Ok(None);
                };
                let d = self.engine().client().await?;
                if d.inspect_image(image).await.is_ok() {
                    return Ok(None);
                }
                Ok(Some(pending::docker_pulling(
                    image,
                    &format!("no container {name} yet, and the daemon has no image {image}"),
                )))
            }
        }
    }
}
