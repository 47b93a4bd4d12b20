//! Jobs as containers on one Docker engine: submit, status, logs, cancel, why, paths and
//! results, each on the job's container. The `docker` platform is these verbs on a daemon the
//! user names; the `brev` platform is the same verbs on the daemon of a cloud instance it sets
//! up and reaches over ssh. Platform crates never depend on each other, so what every
//! container platform shares lives here, parameterized by a [`Flavor`]: whose jobs the
//! containers are (their label, the key their options are stored under) and what the platform
//! can do.
#![deny(missing_docs)]

mod fence;
pub mod options;
mod pending;
mod preflight;
pub mod retry;
pub mod spec;
mod status;
mod verbs;

pub use hoist_docker_engine as engine;
pub use hoist_docker_engine::{Engine, Hints, labels, map_state};
pub use options::{BindMount, ContainerOptions, PullPolicy};

use hoist_core::{Capabilities, JobRecord, JobStatus, PlatformError, StatusReport};
use std::path::{Path, PathBuf};

/// Container name of a job.
pub fn container_name(job_id: &str) -> String {
    format!("hoist-job-{job_id}")
}

/// Which platform's jobs these containers are.
#[derive(Debug, Clone, Copy)]
pub struct Flavor {
    /// The platform's name: the `hoist.platform` label of its containers, and the key of its
    /// options in a job's spec.
    pub platform: &'static str,
    /// What the platform can do.
    pub capabilities: Capabilities,
}

/// Jobs as containers on one Docker daemon.
pub struct ContainerJobs {
    engine: Engine,
    network: String,
    helper_image: Option<String>,
    flavor: Flavor,
    retain: Option<std::time::Duration>,
}

impl ContainerJobs {
    /// Jobs of `flavor` on `engine`, joining `network` (default `hoist_default`) unless a job
    /// names another; `helper_image` runs path checks on a remote daemon's host.
    pub fn new(
        engine: Engine,
        flavor: Flavor,
        network: Option<String>,
        helper_image: Option<String>,
    ) -> Self {
        ContainerJobs {
            engine,
            network: network.unwrap_or_else(|| options::DEFAULT_NETWORK.into()),
            helper_image,
            flavor,
            retain: None,
        }
    }

    /// Keep ended jobs' containers this long before `hoist gc` removes them (the platform's
    /// `retain` setting).
    pub fn with_retention(mut self, retain: Option<std::time::Duration>) -> Self {
        self.retain = retain;
        self
    }

    /// How long ended jobs' containers are kept, when the platform says.
    pub fn retention(&self) -> Option<std::time::Duration> {
        self.retain
    }

    /// The engine jobs run on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whose jobs these are.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Build an image holding only the static hoist binary (`FROM scratch`, entrypoint
    /// `/hoist`) on this daemon; see [`Engine::build_runner_image`]. Returns the image id.
    pub async fn build_runner_image(
        &self,
        tag: &str,
        binary: &[u8],
    ) -> Result<String, PlatformError> {
        self.engine.build_runner_image(tag, binary).await
    }

    /// Ids of this flavor's jobs whose containers run on the daemon now: what tells whether a
    /// machine still has work before it is given back.
    pub async fn running_jobs(&self) -> Result<Vec<String>, PlatformError> {
        let listed = self.list(false).await?;
        Ok(listed
            .into_iter()
            .filter(|(_, state)| state == "running")
            .map(|(id, _)| id)
            .collect())
    }

    /// This flavor's containers: job id and state.
    async fn list(&self, all: bool) -> Result<Vec<(String, String)>, PlatformError> {
        use bollard::query_parameters::ListContainersOptions;
        let d = self.engine.client().await?;
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("{}={}", labels::PLATFORM, self.flavor.platform)],
        )]);
        let listed = d
            .list_containers(Some(ListContainersOptions {
                all,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.engine.unreachable(&e))?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let id = c.labels?.get(labels::JOB_ID)?.clone();
                Some((id, c.state.map(|s| s.to_string()).unwrap_or_default()))
            })
            .collect())
    }

    fn job_files(&self, job_id: &str) -> PathBuf {
        self.engine.home().join("jobs").join(job_id)
    }

    /// Save a finished container's output and exit, then remove it (`--rm`).
    async fn save_and_remove(
        &self,
        job: &JobRecord,
        rep: &StatusReport,
    ) -> Result<(), PlatformError> {
        let dir = self.job_files(&job.job_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| PlatformError::io("creating the job directory", e))?;
        let logs = self
            .engine
            .container_logs(&container_name(&job.job_id), None)
            .await?;
        std::fs::write(dir.join("output.log"), logs)
            .map_err(|e| PlatformError::io("saving logs", e))?;
        let saved = serde_json::to_vec(rep).map_err(|e| PlatformError::Failed {
            message: e.to_string(),
            hint: String::new(),
        })?;
        std::fs::write(dir.join("exit.json"), saved)
            .map_err(|e| PlatformError::io("saving the exit record", e))?;
        let _ = self
            .engine
            .remove_container(&container_name(&job.job_id))
            .await;
        Ok(())
    }

    fn saved_report(&self, job_id: &str) -> Option<StatusReport> {
        serde_json::from_slice(&std::fs::read(self.job_files(job_id).join("exit.json")).ok()?).ok()
    }

    /// A container that vanished: the saved result when hoist removed it (`--rm`), else an
    /// Error that says someone else removed it.
    fn gone(&self, job: &JobRecord) -> StatusReport {
        if let Some(saved) = self.saved_report(&job.job_id) {
            return saved;
        }
        let status = if job.cancel_requested {
            JobStatus::Canceled
        } else {
            JobStatus::Error
        };
        StatusReport {
            status,
            message: "the container was removed outside hoist; its exit code is unknown".into(),
            exit_code: None,
            started_at: None,
            finished_at: None,
            retriable: false,
            restarts: None,
        }
    }

    fn saved_logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        match std::fs::read_to_string(self.job_files(&job.job_id).join("output.log")) {
            Ok(s) => Ok(match tail {
                Some(n) => {
                    let lines: Vec<&str> = s.split_inclusive('\n').collect();
                    lines[lines.len().saturating_sub(n)..].concat()
                }
                None => s,
            }),
            Err(_) => Err(PlatformError::Failed {
                message: format!("the container of job {} is gone and no logs were saved", job.job_id),
                hint: "logs are kept when hoist removes a container itself (--rm); a container removed by hand takes them with it".into(),
            }),
        }
    }

    fn options(&self, job: &JobRecord) -> Result<ContainerOptions, PlatformError> {
        Ok(job
            .spec
            .options_of::<ContainerOptions>(self.flavor.platform)?)
    }

    /// The network a job joins: its own option, else this platform's setting.
    fn network_of(&self, opts: &ContainerOptions) -> String {
        opts.network.clone().unwrap_or_else(|| self.network.clone())
    }
}

/// Copy the directory tree `src` into `dest`; returns the number of files copied.
fn copy_tree(src: &Path, dest: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dest)?;
    let mut n = 0;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            n += copy_tree(&from, &to)?;
        } else if kind.is_file() || (kind.is_symlink() && from.is_file()) {
            // A link to a directory is not followed: it could loop back up the tree.
            std::fs::copy(&from, &to)?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use hoist_core::{PathView, RunnerDelivery};
    use std::sync::Arc;

    /// Docker-flavored jobs on `host`, with no environment and no reports.
    pub fn jobs_on(home: &Path, host: &str) -> ContainerJobs {
        let engine = Engine::resolve(
            Some(host),
            home,
            Arc::new(hoist_core::MapEnv::default()),
            Arc::new(hoist_core::Silent),
        )
        .expect("engine");
        let flavor = Flavor {
            platform: "docker",
            capabilities: Capabilities {
                runner: RunnerDelivery::StaticBinary,
                paths: PathView::Container,
                images: true,
                multi_node: false,
                watch: false,
                instances: false,
            },
        };
        ContainerJobs::new(engine, flavor, None, None)
    }
}
