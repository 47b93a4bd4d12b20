//! The Docker platform: one container per job on a local or remote daemon.
//!
//! The daemon is reached over `unix://`, `tcp://` (TLS with DOCKER_TLS_VERIFY) or `ssh://`
//! through [`hoist_docker_engine`]; the job verbs are [`hoist_containers`]', which this
//! platform shares with others that run jobs through Docker. This crate owns what is the
//! docker platform's own: which daemon (its settings, flags and pinned endpoint). Every job
//! records the daemon's identity (daemon ID + endpoint) and goes back to the same endpoint on
//! later verbs; a different daemon there is refused.
#![deny(missing_docs)]

pub mod flags;
pub mod settings;

pub use hoist_containers::{ContainerJobs as DockerPlatform, container_name, spec};
pub use hoist_docker_engine as engine;
pub use hoist_docker_engine::{Engine, labels, map_state};
pub use settings::{BindMount, Descriptor, DockerOptions, DockerSettings, Pinned, PullPolicy};

use hoist_containers::{ContainerJobs, Flavor};
use hoist_core::{BuildContext, PlatformError, ProcessEnv, Silent};
use std::path::Path;
use std::sync::Arc;

/// The docker platform's jobs on the daemon its settings name.
pub(crate) fn jobs(ctx: &BuildContext, s: DockerSettings) -> Result<ContainerJobs, PlatformError> {
    let engine = Engine::resolve(
        s.docker_host.as_deref(),
        &ctx.home,
        ctx.env.clone(),
        ctx.reporter.clone(),
    )?
    .with_hints(engine::Hints::DOCKER);
    let retain = s
        .retain
        .as_deref()
        .map(|r| hoist_core::age::parse_age("docker setting retain", r))
        .transpose()?;
    Ok(ContainerJobs::new(
        engine,
        Flavor {
            platform: settings::INFO.name,
            capabilities: settings::INFO.capabilities,
        },
        s.network,
        s.helper_image,
    )
    .with_retention(retain))
}

/// The docker platform's jobs on the daemon at `host` (`unix://`, `tcp://`, `ssh://`), with
/// the process environment and no progress reports: for tests and small tools.
pub fn for_host(home: &Path, host: &str) -> Result<DockerPlatform, PlatformError> {
    let ctx = BuildContext {
        home: home.to_path_buf(),
        exe: "hoist".into(),
        env: Arc::new(ProcessEnv),
        reporter: Arc::new(Silent),
    };
    jobs(
        &ctx,
        DockerSettings {
            docker_host: Some(host.into()),
            ..Default::default()
        },
    )
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
    let p = jobs(
        ctx,
        DockerSettings {
            docker_host,
            ..Default::default()
        },
    )?;
    p.build_runner_image(tag, binary).await
}
