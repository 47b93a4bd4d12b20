//! hoist as a library: the verbs of the CLI (and of the TAO SDK) over the durable store and
//! every platform.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hoist::HoistError> {
//! use hoist::{Hoist, JobRequest};
//! use hoist::core::Command;
//! let h = Hoist::open(None)?;
//! let job = h.create_job(JobRequest::new(Command::Argv(vec!["echo".into(), "hi".into()]))).await?;
//! let done = h.wait(&job.job_id).await?;
//! println!("{} {}", done.status, h.logs(&done, None).await?);
//! # Ok(()) }
//! ```
//!
//! One [`Hoist`] serves many tasks at once (it is `Send + Sync`, and so are its verbs'
//! futures). Front doors (the CLI, task files, Python, the web) build a [`JobRequest`], call a
//! verb, and print a view from [`views`]; progress reaches them through the
//! [`core::Reporter`] they pass in [`HoistOptions`].
#![deny(missing_docs)]

pub mod config;
mod error;
pub mod flags;
mod platforms;
mod prepare;
mod registry;
pub mod request;
mod runner;
mod verbs;
pub mod views;

pub use error::{HoistError, Result};
pub use hoist_core as core;
pub use hoist_store as store;
pub use hoist_sys as sys;
pub use prepare::Prepared;
pub use request::JobRequest;
pub use runner::{install_runner, load_spec, run_plan};
pub use verbs::gc::{Collected, GcOptions};
pub use verbs::instances::{InstanceView, RemovedInstance};
pub use verbs::track::WatchEvent;

use config::Config;
use hoist_core::{EnvSource, PlatformError, ProcessEnv, SharedEnv, SharedReporter, Silent};
use hoist_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The library entry point: a store plus the configured platforms.
pub struct Hoist {
    home: PathBuf,
    store: Store,
    config: Config,
    exe: PathBuf,
    runner: Option<PathBuf>,
    env: SharedEnv,
    reporter: SharedReporter,
    extra: Vec<registry::Entry>,
}

/// How to open a [`Hoist`] when the defaults (this process's environment, `~/.hoist`, this
/// executable) are not right, e.g. inside a Python interpreter or a server.
#[derive(Default, Clone)]
pub struct HoistOptions {
    /// `$HOIST_HOME` (default: the `HOIST_HOME` variable of `env`, else `~/.hoist`).
    pub home: Option<PathBuf>,
    /// The hoist executable that supervises local jobs (default: this executable).
    pub exe: Option<PathBuf>,
    /// The static hoist binary jobs run as their runner (default: `HOIST_RUNNER_BIN` of
    /// `env`, else `exe`).
    pub runner: Option<PathBuf>,
    /// Where settings and credentials are read (default: this process's environment).
    pub env: Option<SharedEnv>,
    /// Where progress goes (default: nowhere).
    pub reporter: Option<SharedReporter>,
    /// Platforms besides the built-in ones (a test's fake platform, an embedder's own),
    /// found first by name.
    pub platforms: Vec<&'static dyn hoist_core::PlatformDescriptor>,
}

/// The default `$HOIST_HOME`: the variable, else `~/.hoist`.
pub fn default_home() -> PathBuf {
    home_from(&ProcessEnv)
}

fn home_from(env: &dyn EnvSource) -> PathBuf {
    if let Some(h) = env.get("HOIST_HOME") {
        return PathBuf::from(h);
    }
    PathBuf::from(env.get("HOME").unwrap_or_else(|| "/tmp".into())).join(".hoist")
}

impl Hoist {
    /// Open the store under `home` (default [`default_home`]) with this executable as the
    /// local supervisor and the process environment.
    pub fn open(home: Option<PathBuf>) -> Result<Hoist> {
        Self::open_with(HoistOptions {
            home,
            ..Default::default()
        })
    }

    /// Open with an explicit binary for the local supervisor (tests, embedding programs).
    pub fn open_with_exe(home: PathBuf, exe: PathBuf) -> Result<Hoist> {
        Self::open_with(HoistOptions {
            home: Some(home),
            exe: Some(exe),
            ..Default::default()
        })
    }

    /// Open with everything explicit.
    pub fn open_with(opts: HoistOptions) -> Result<Hoist> {
        let env = opts.env.unwrap_or_else(|| Arc::new(ProcessEnv));
        let home = opts.home.unwrap_or_else(|| home_from(env.as_ref()));
        let exe = match opts.exe {
            Some(e) => e,
            None => std::env::current_exe()
                .map_err(|e| PlatformError::io("locating the hoist binary", e))?,
        };
        let store = Store::open(&home)?;
        let config = Config::load(&home)?;
        Ok(Hoist {
            home,
            store,
            config,
            exe,
            runner: opts.runner,
            env,
            reporter: opts.reporter.unwrap_or_else(|| Arc::new(Silent)),
            extra: opts
                .platforms
                .into_iter()
                .map(registry::Entry::without_flags)
                .collect(),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `$HOIST_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The environment this handle reads.
    pub fn env(&self) -> &dyn EnvSource {
        self.env.as_ref()
    }

    /// The profiles.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// Canonical platform name for a name or alias.
pub fn canonical_platform(name: &str) -> std::result::Result<&'static str, hoist_core::InputError> {
    platforms::entry(name).map(|e| e.descriptor.info().name)
}

/// The description of every platform this build has.
pub fn platform_infos() -> Vec<&'static hoist_core::PlatformInfo> {
    registry::ENTRIES
        .iter()
        .map(|e| e.descriptor.info())
        .collect()
}

/// Where this process's data transfers (inputs, outputs, `results --download`) report their
/// progress. Set once, by the program.
pub fn set_transfer_reporter(r: SharedReporter) {
    hoist_staging::progress::set_reporter(r);
}

/// The local platform's supervisor (`hoist __supervise DIR`), for the binary's hidden verb.
pub fn supervise(dir: &Path) -> i32 {
    registry::supervise(dir)
}

/// Test hook: `HOIST_FAILPOINT=<name>` makes the process stop dead at that point of a submit
/// (it prints `failpoint <name>` and waits to be killed), so tests can crash it there.
fn failpoint(name: &str) {
    if std::env::var("HOIST_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}");
        loop {
            std::thread::park();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_handle_is_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::Hoist>();
    }
}
