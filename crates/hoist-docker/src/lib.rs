//! The Docker platform: one container per job on a local or remote daemon.
//!
//! The daemon is reached over `unix://`, `tcp://` (TLS with DOCKER_TLS_VERIFY) or `ssh://`
//! through [`hoist_docker_engine`], which this platform shares with others that run jobs
//! through Docker. Every job records the daemon's identity (daemon ID + endpoint) and goes
//! back to the same endpoint on later verbs; a different daemon there is refused.
#![deny(missing_docs)]

pub mod flags;
mod platform;
mod preflight;
pub mod settings;
pub mod spec;

pub use hoist_docker_engine as engine;
pub use hoist_docker_engine::{Engine, labels, map_state};
pub use settings::{BindMount, Descriptor, DockerOptions, DockerSettings, Pinned, PullPolicy};

use hoist_core::{
    BuildContext, JobRecord, JobStatus, PlatformError, ProcessEnv, SharedEnv, SharedReporter,
    Silent, StatusReport,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Container name of a job.
pub fn container_name(job_id: &str) -> String {
    format!("hoist-job-{job_id}")
}

/// Jobs as containers on one Docker daemon.
pub struct DockerPlatform {
    engine: Engine,
    network: String,
    helper_image: Option<String>,
}

impl DockerPlatform {
    /// Configure from resolved settings; `env` is read for the docker CLI's config (contexts,
    /// TLS, registry logins) and `reporter` hears about pulls. Contacts nothing.
    pub fn new(
        home: &Path,
        settings: DockerSettings,
        env: SharedEnv,
        reporter: SharedReporter,
    ) -> Result<Self, PlatformError> {
        let engine = Engine::resolve(settings.docker_host.as_deref(), home, env, reporter)?
            .with_hints(engine::Hints::DOCKER);
        Ok(DockerPlatform {
            engine,
            network: settings
                .network
                .unwrap_or_else(|| settings::DEFAULT_NETWORK.into()),
            helper_image: settings.helper_image,
        })
    }

    /// Configure from resolved settings and what the library hands a platform.
    pub fn from_context(
        ctx: &BuildContext,
        settings: DockerSettings,
    ) -> Result<Self, PlatformError> {
        Self::new(&ctx.home, settings, ctx.env.clone(), ctx.reporter.clone())
    }

    /// The daemon at `host` (`unix://`, `tcp://`, `ssh://`), with the process environment and
    /// no progress reports: for tests and small tools.
    pub fn for_host(home: &Path, host: &str) -> Result<Self, PlatformError> {
        Self::new(
            home,
            DockerSettings {
                docker_host: Some(host.into()),
                ..Default::default()
            },
            Arc::new(ProcessEnv),
            Arc::new(Silent),
        )
    }

    /// The engine this platform runs its jobs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Build an image holding only the static hoist binary (`FROM scratch`, entrypoint
    /// `/hoist`) on this platform's daemon; see [`Engine::build_runner_image`]. Returns the
    /// image id.
    pub async fn build_runner_image(
        &self,
        tag: &str,
        binary: &[u8],
    ) -> Result<String, PlatformError> {
        self.engine.build_runner_image(tag, binary).await
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

    fn options(&self, job: &JobRecord) -> Result<DockerOptions, PlatformError> {
        Ok(job.spec.options_of::<DockerOptions>("docker")?)
    }

    /// The network a job joins: its own option, else this platform's setting.
    fn network_of(&self, opts: &DockerOptions) -> String {
        opts.network.clone().unwrap_or_else(|| self.network.clone())
    }
}

/// Build the runner image (`FROM scratch`, the static hoist as `/hoist`) on the daemon at
/// `docker_host`, else the one jobs use (DOCKER_HOST, docker context, the local socket);
/// returns the image id. For `hoist runner-image`.
pub async fn build_runner_image_on(
    ctx: &BuildContext,
    docker_host: Option<String>,
    tag: &str,
    binary: &[u8],
) -> Result<String, PlatformError> {
    let p = DockerPlatform::from_context(
        ctx,
        DockerSettings {
            docker_host,
            ..Default::default()
        },
    )?;
    p.build_runner_image(tag, binary).await
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
