//! Running a task file: one task as one job, a pipeline's tasks one after another, each a
//! job of one workflow; a failed task stops the pipeline and is named.

use crate::launch::{LaunchOptions, Planned, plan};
use crate::schema::{Task, TaskFile};
use hoist::core::{EnvSource, InputError, JobRecord, JobStatus, SharedEnv};
use hoist::{Hoist, HoistOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// An environment with a task's registry login laid over it (what a handle that pulls the
/// task's image must see).
pub struct WithRegistry {
    /// What the login does not name.
    pub base: SharedEnv,
    /// The task's registry login (`SKYPILOT_DOCKER_*` keys to values).
    pub login: BTreeMap<String, String>,
}

impl EnvSource for WithRegistry {
    fn get(&self, key: &str) -> Option<String> {
        self.login
            .get(key)
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| self.base.get(key))
    }
}

/// The tasks of a file, with the pipeline's name.
pub fn tasks(file: &TaskFile) -> (Option<String>, Vec<&Task>) {
    match file {
        TaskFile::Single(t) => (None, vec![t]),
        TaskFile::Pipeline { name, tasks } => (name.clone(), tasks.iter().collect()),
    }
}

/// Plan every task of a file before anything is submitted, so a bad one stops all of them.
pub fn plan_all(
    h: &Hoist,
    file: &TaskFile,
    opts: &LaunchOptions,
    base: &Path,
    workflow_id: Option<&str>,
) -> Result<Vec<Planned>, InputError> {
    let (_, ts) = tasks(file);
    ts.into_iter()
        .map(|t| plan(h, t, opts, base, workflow_id))
        .collect()
}

/// The handle a planned task is submitted through: `h` itself, or one that also sees the
/// task's registry login.
pub fn handle_for(
    h: &Hoist,
    p: &Planned,
    base_env: SharedEnv,
    reporter: hoist::core::SharedReporter,
) -> Result<Option<Hoist>, hoist::HoistError> {
    if p.registry.is_empty() {
        return Ok(None);
    }
    Hoist::open_with(HoistOptions {
        home: Some(h.home().to_path_buf()),
        env: Some(Arc::new(WithRegistry {
            base: base_env,
            login: p.registry.clone(),
        })),
        reporter: Some(reporter),
        ..Default::default()
    })
    .map(Some)
}

/// Whether a pipeline goes on after this job.
pub fn succeeded(j: &JobRecord) -> bool {
    j.status == JobStatus::Complete
}
