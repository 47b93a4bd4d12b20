//! The Brev platform: NVIDIA Brev cloud GPU instances, managed through the `brev` CLI (Brev
//! has no job API), each job a container on one.
//!
//! An instance is found or created (`brev ls --json`, `brev create -d`, `brev start`), waited
//! on until brev calls its shell READY, its ssh alias written (`brev refresh`) and probed
//! (`ssh -F ~/.brev/ssh_config NAME true`). The job then runs through [`hoist_containers`] on
//! the instance's Docker daemon at `ssh://NAME`, with the same ssh config: not through
//! `brev exec`, which runs a failed command a second time and hides its exit code. Every
//! docker feature (GPUs, the runner and data staging, secrets, mounts, logs, cancel, why)
//! therefore works on Brev unchanged. A job pins its instance's name and id; later verbs find
//! the instance through brev again, and one that is gone or was recreated reads `Unknown`
//! with the reason.
#![deny(missing_docs)]

pub mod cli;
pub mod flags;
mod instance;
mod platform;
mod preflight;
pub mod settings;

pub use cli::{BrevCli, Workspace};
pub use settings::{BrevOptions, BrevSettings, Descriptor, Pinned};

use hoist_containers::{ContainerJobs, Engine, Flavor, Hints};
use hoist_core::{BuildContext, EnvSource, PlatformError};
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::OnceCell;

/// What the engine's errors tell a Brev user to check.
const HINTS: Hints = Hints {
    platform: "brev",
    endpoint: "the instance: brev ls, brev refresh, ssh -F ~/.brev/ssh_config NAME",
    network: "set network in the brev profile or DOCKER_NETWORK",
};

/// The brev CLI to run: the setting (brev_bin, HOIST_BREV_BIN), else `brev` on PATH; `None`
/// when neither is there.
pub fn find_bin(setting: Option<&str>, env: &dyn EnvSource) -> Option<PathBuf> {
    if let Some(b) = setting {
        let p = PathBuf::from(b);
        return p.is_file().then_some(p);
    }
    let path = env.get("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("brev"))
        .find(|p| p.is_file())
}

/// Jobs on Brev instances.
pub struct BrevPlatform {
    ctx: BuildContext,
    settings: BrevSettings,
    cli: BrevCli,
    /// The instance the job is on: set when built for an existing job, and by submit.
    pinned: Mutex<Option<Pinned>>,
    /// The pinned instance as brev lists it now (asked once per handle).
    workspace: OnceCell<Workspace>,
    /// The jobs on the pinned instance's daemon.
    jobs: OnceCell<ContainerJobs>,
}

impl BrevPlatform {
    /// Configure; contacts nothing.
    pub fn new(ctx: &BuildContext, settings: BrevSettings, pinned: Option<Pinned>) -> Self {
        let cli = BrevCli::new(
            settings.brev_bin.as_deref(),
            ctx.env.get("BREV_API_TOKEN"),
            ctx.env.get("HOME"),
        );
        BrevPlatform {
            ctx: ctx.clone(),
            settings,
            cli,
            pinned: Mutex::new(pinned),
            workspace: OnceCell::new(),
            jobs: OnceCell::new(),
        }
    }

    /// The CLI this platform drives.
    pub fn cli(&self) -> &BrevCli {
        &self.cli
    }

    fn pinned(&self) -> Option<Pinned> {
        self.pinned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_pinned(&self, p: Pinned) {
        *self.pinned.lock().unwrap_or_else(|p| p.into_inner()) = Some(p);
    }

    /// `~/.brev`, where brev keeps its ssh config and key.
    fn brev_dir(&self) -> PathBuf {
        PathBuf::from(self.ctx.env.get("HOME").unwrap_or_else(|| "/root".into())).join(".brev")
    }

    /// The ssh config `brev refresh` writes: each running instance's alias.
    fn ssh_config(&self) -> PathBuf {
        self.brev_dir().join("ssh_config")
    }

    /// Container jobs on the daemon of instance `name`, reached over ssh with brev's config.
    fn jobs_on(&self, name: &str) -> Result<ContainerJobs, PlatformError> {
        let ep = hoist_docker_engine::endpoint::resolve(
            Some(&format!("ssh://{name}")),
            &*self.ctx.env,
            &hoist_docker_engine::endpoint::docker_config_dir(&*self.ctx.env),
        )?;
        let engine = Engine::new(
            hoist_docker_engine::Endpoint {
                source: format!("brev instance {name}"),
                ..ep
            },
            &self.ctx.home,
            self.ctx.env.clone(),
            self.ctx.reporter.clone(),
        )
        .with_hints(HINTS)
        .with_ssh_config(self.ssh_config());
        Ok(ContainerJobs::new(
            engine,
            Flavor {
                platform: settings::INFO.name,
                capabilities: settings::INFO.capabilities,
            },
            self.settings.network.clone(),
            None,
        ))
    }

    /// The pinned instance as brev lists it now: gone, recreated under the same name, or not
    /// running are errors that say so (status reads them as Unknown, never as an end).
    async fn workspace(&self) -> Result<&Workspace, PlatformError> {
        self.workspace
            .get_or_try_init(|| async {
                let p = self.pinned().unwrap_or_default();
                let Some(name) = p.instance.clone() else {
                    return Err(PlatformError::failed(
                        "this Brev job has no instance recorded (its submit never finished)",
                        "hoist reconcile settles interrupted submits",
                    ));
                };
                let listed = self.cli.list().await?;
                let Some(ws) = listed.into_iter().find(|w| w.name == name) else {
                    return Err(PlatformError::NotFound {
                        what: format!("Brev instance {name}"),
                        why: "brev ls no longer lists it (deleted outside this job?)".into(),
                        hint: "its jobs' containers went with it; hoist instances shows what is left".into(),
                    });
                };
                if let Some(id) = p.id.as_deref().filter(|id| *id != ws.id) {
                    return Err(PlatformError::NotFound {
                        what: format!("Brev instance {name} (id {id})"),
                        why: format!("an instance of that name now has id {}: it was deleted and created again", ws.id),
                        hint: "the job's container went with the old instance".into(),
                    });
                }
                if ws.status != "RUNNING" {
                    return Err(PlatformError::Unreachable {
                        what: format!("Brev instance {name}"),
                        why: format!("it is {}", ws.state_line()),
                        hint: format!("brev start {name} (hoist finds its jobs again once it runs)"),
                    });
                }
                Ok(ws)
            })
            .await
    }

    /// The container jobs on the pinned instance, once brev says it runs.
    async fn jobs(&self) -> Result<&ContainerJobs, PlatformError> {
        self.workspace().await?;
        self.jobs_unchecked().await
    }

    /// The container jobs on the pinned instance, before brev has said it runs: for asking
    /// brev and the instance's daemon at once (the first error wins, the other is dropped).
    async fn jobs_unchecked(&self) -> Result<&ContainerJobs, PlatformError> {
        self.jobs
            .get_or_try_init(|| async {
                let name = self.pinned().and_then(|p| p.instance).ok_or_else(|| {
                    PlatformError::failed(
                        "this Brev job has no instance recorded (its submit never finished)",
                        "hoist reconcile settles interrupted submits",
                    )
                })?;
                self.jobs_on(&name)
            })
            .await
    }

    /// Where hoist remembers the instances it created (so it deletes only those).
    fn created_marker(&self, name: &str) -> PathBuf {
        self.ctx.home.join("brev").join("created").join(name)
    }
}
