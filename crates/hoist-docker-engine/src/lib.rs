//! The Docker engine as hoist's platforms use it, whichever platform that is: the `docker`
//! platform talks to a daemon the user names, others (a cloud VM reached over ssh) to the
//! daemon on a machine they set up. Platform crates never depend on each other, so what is
//! about Docker and not about one platform lives here.
//!
//! The daemon is reached over `unix://`, `tcp://` (TLS with DOCKER_TLS_VERIFY) or `ssh://`
//! ([`endpoint`], [`ssh`]). An [`Engine`] is one daemon: it connects on first use, pulls
//! images with registry credentials ([`auth`]), ensures networks, runs throwaway containers,
//! fills the runner volume and builds the runner image. The create requests themselves are
//! pure ([`body`]), and so is reading a container's state ([`map_state`]).
#![deny(missing_docs)]

pub mod auth;
pub mod body;
mod containers;
mod daemon_cache;
pub mod endpoint;
mod image;
mod network;
mod runner;
pub mod ssh;
mod state;

pub use containers::force_remove;
pub use daemon_cache::DAEMON_INFO_TTL;
pub use endpoint::Endpoint;
pub use image::PullPolicy;
pub use state::map_state;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use hoist_core::{PlatformError, SharedEnv, SharedReporter};
use std::path::{Path, PathBuf};
use tokio::sync::OnceCell;

/// Label keys on every hoist job container.
pub mod labels {
    /// The hoist job id.
    pub const JOB_ID: &str = "hoist.job-id";
    /// The platform that created the container (`docker` for the docker platform).
    pub const PLATFORM: &str = "hoist.platform";
    /// The job's name.
    pub const NAME: &str = "hoist.job-name";
    /// The launch token (settles interrupted submits).
    pub const LAUNCH_TOKEN: &str = "hoist.launch-token";
    /// The TAO SDK's label, so its tooling sees hoist jobs too.
    pub const TAO_JOB_ID: &str = "tao-sdk-job-id";
}

/// The parts of the engine's error hints that depend on the platform using it: how the user
/// points hoist at the daemon, checks it, and picks another network. Each platform names its
/// own flags and settings, so a hint never sends a user to another platform's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// The platform's name, for `hoist preflight --platform NAME`.
    pub platform: &'static str,
    /// Where the daemon's endpoint comes from, e.g. `DOCKER_HOST, --docker-host, docker context`.
    pub endpoint: &'static str,
    /// How to make jobs join another network, e.g. `set DOCKER_NETWORK`.
    pub network: &'static str,
}

impl Hints {
    /// The docker platform's.
    pub const DOCKER: Hints = Hints {
        platform: "docker",
        endpoint: "DOCKER_HOST, --docker-host, docker context",
        network: "set DOCKER_NETWORK",
    };
}

/// What the daemon says about itself, asked once per [`Engine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonInfo {
    /// The daemon's ID: what tells one daemon from another behind the same endpoint.
    pub id: String,
    /// The engine's version.
    pub version: String,
    /// A Jetson (Tegra kernel): GPUs go through the nvidia runtime, not device requests.
    pub tegra: bool,
    /// Registered runtimes (`runc`, `nvidia`, ...).
    pub runtimes: Vec<String>,
}

/// One Docker daemon. Nothing is contacted until a method needs the daemon; the client and
/// the daemon's [`DaemonInfo`] are then kept for the engine's life.
pub struct Engine {
    endpoint: Endpoint,
    client: OnceCell<Docker>,
    info: OnceCell<DaemonInfo>,
    home: PathBuf,
    docker_config_dir: PathBuf,
    env: SharedEnv,
    reporter: SharedReporter,
    hints: Hints,
    ssh_config: Option<PathBuf>,
}

impl Engine {
    /// The daemon at `endpoint`. `home` is hoist's home (ssh control sockets under `ssh/`,
    /// runner-volume markers under `docker-runner/`); `env` is read for the docker CLI's
    /// config and registry logins; `reporter` hears about pulls. Hints are the docker
    /// platform's until [`Engine::with_hints`].
    pub fn new(endpoint: Endpoint, home: &Path, env: SharedEnv, reporter: SharedReporter) -> Self {
        Engine {
            docker_config_dir: endpoint::docker_config_dir(&*env),
            endpoint,
            client: OnceCell::new(),
            info: OnceCell::new(),
            home: home.to_path_buf(),
            env,
            reporter,
            hints: Hints::DOCKER,
            ssh_config: None,
        }
    }

    /// The daemon `explicit` names (`unix://`, `tcp://`, `ssh://`), else the one DOCKER_HOST,
    /// DOCKER_CONTEXT or the docker CLI's current context names, else the local socket (see
    /// [`endpoint::resolve`]). Contacts nothing.
    pub fn resolve(
        explicit: Option<&str>,
        home: &Path,
        env: SharedEnv,
        reporter: SharedReporter,
    ) -> Result<Self, PlatformError> {
        let dir = endpoint::docker_config_dir(&*env);
        let ep = endpoint::resolve(explicit, &*env, &dir)?;
        Ok(Engine::new(ep, home, env, reporter))
    }

    /// Use `hints` in error messages.
    pub fn with_hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }

    /// Reach an `ssh://` daemon with this ssh config file instead of the user's (`ssh -F`).
    pub fn with_ssh_config(mut self, file: PathBuf) -> Self {
        self.ssh_config = Some(file);
        self
    }

    /// How ssh is run for this engine's `ssh://` daemon (and for anything a platform runs on
    /// the same host, sharing its connection).
    pub fn ssh_options(&self) -> hoist_ssh::SshOptions {
        hoist_ssh::SshOptions {
            config_file: self.ssh_config.clone(),
            ..hoist_ssh::SshOptions::new(&self.home.join("ssh"))
        }
    }

    /// The daemon's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Hoist's home this engine keeps its files under.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The environment the engine reads.
    pub fn env(&self) -> &SharedEnv {
        &self.env
    }

    /// Where pulls are reported.
    pub fn reporter(&self) -> &SharedReporter {
        &self.reporter
    }

    /// The docker CLI's config directory (DOCKER_CONFIG, else ~/.docker).
    pub fn docker_config_dir(&self) -> &Path {
        &self.docker_config_dir
    }

    /// The hints in this engine's errors.
    pub fn hints(&self) -> Hints {
        self.hints
    }

    /// The client, opened on first use (opening sends nothing).
    pub async fn client(&self) -> Result<&Docker, PlatformError> {
        self.client
            .get_or_try_init(|| async {
                endpoint::connect(&self.endpoint, &self.ssh_options()).map_err(|e| match e {
                    PlatformError::Unreachable { what, why, .. } => PlatformError::Unreachable {
                        what,
                        why,
                        hint: format!(
                            "check the endpoint ({}) and that the daemon runs",
                            self.hints.endpoint
                        ),
                    },
                    e => e,
                })
            })
            .await
    }

    /// The error for a daemon that did not answer (or answered what only a broken daemon
    /// would).
    pub fn unreachable(&self, e: &DockerError) -> PlatformError {
        PlatformError::Unreachable {
            what: format!(
                "Docker daemon {} ({})",
                self.endpoint.url, self.endpoint.source
            ),
            why: e.to_string(),
            hint: format!(
                "check that the daemon runs and the endpoint is right ({}); hoist preflight --platform {}",
                self.hints.endpoint, self.hints.platform
            ),
        }
    }

    /// The daemon's identity and features, asked on first use. Every verb compares the
    /// daemon's identity, and one command builds several engines for the same endpoint, so
    /// the answer is also kept for the process, per endpoint, for [`DAEMON_INFO_TTL`].
    pub async fn daemon(&self) -> Result<&DaemonInfo, PlatformError> {
        self.info
            .get_or_try_init(|| async {
                let key = self.daemon_key();
                if let Some(known) = daemon_cache::get(&key) {
                    return Ok(known);
                }
                let d = self.client().await?;
                let info = d.info().await.map_err(|e| self.unreachable(&e))?;
                let info = DaemonInfo {
                    id: info.id.unwrap_or_default(),
                    version: info.server_version.unwrap_or_default(),
                    tegra: info
                        .kernel_version
                        .unwrap_or_default()
                        .to_ascii_lowercase()
                        .contains("tegra"),
                    runtimes: info
                        .runtimes
                        .map(|r| r.into_keys().collect())
                        .unwrap_or_default(),
                };
                daemon_cache::put(key, &info);
                Ok(info)
            })
            .await
    }

    /// What tells this engine's daemon apart in the process cache: the endpoint and how it
    /// is reached (an ssh config file can send the same URL to another machine).
    fn daemon_key(&self) -> String {
        match &self.ssh_config {
            Some(f) => format!("{} -F {}", self.endpoint.url, f.display()),
            None => self.endpoint.url.clone(),
        }
    }

    /// Advice to check the daemon: `check the daemon (hoist preflight --platform NAME)`.
    fn check_daemon_hint(&self) -> String {
        format!(
            "check the daemon (hoist preflight --platform {})",
            self.hints.platform
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::{MapEnv, Silent};
    use std::sync::Arc;

    fn engine(host: &str, home: &Path) -> Engine {
        Engine::resolve(
            Some(host),
            home,
            Arc::new(MapEnv::default()),
            Arc::new(Silent),
        )
        .expect("engine")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_missing_daemon_is_unreachable_with_the_platforms_hints() {
        let d = tempfile::tempdir().expect("tmp");
        let sock = format!("unix://{}/none.sock", d.path().display());
        let hint = |e: PlatformError| match e {
            PlatformError::Unreachable { hint, .. } => hint,
            e => panic!("not unreachable: {e:?}"),
        };
        let docker = engine(&sock, d.path());
        let h = hint(docker.daemon().await.expect_err("no daemon"));
        assert!(h.contains("DOCKER_HOST, --docker-host"), "{h}");
        let refused = DockerError::DockerResponseServerError {
            status_code: 500,
            message: "boom".into(),
        };
        let h = hint(docker.unreachable(&refused));
        assert!(
            h.contains("--docker-host") && h.ends_with("--platform docker"),
            "{h}"
        );

        let brev = engine(&sock, d.path()).with_hints(Hints {
            platform: "brev",
            endpoint: "the brev_instance setting",
            network: "set BREV_NETWORK",
        });
        let h = hint(brev.daemon().await.expect_err("no daemon"));
        assert!(
            h.contains("brev_instance") && !h.contains("docker-host"),
            "{h}"
        );
        let h = hint(brev.unreachable(&refused));
        assert!(
            h.contains("brev_instance") && h.ends_with("--platform brev"),
            "{h}"
        );
    }
}
