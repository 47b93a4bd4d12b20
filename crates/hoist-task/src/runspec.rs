//! What a workflow run was launched with (`run.json` in its folder): enough for a detached
//! driver to run it without the shell that launched it, and for `hoist launch --resume` to
//! run it again. Secret values are never written: a secret is kept by name, and the process
//! that drives the run takes its value from its own environment.

use crate::launch::LaunchOptions;
use hoist::JobRequest;
use hoist::core::InputError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in a run folder.
pub const RUN_SPEC_FILE: &str = "run.json";
/// The lock the run's driver holds while it runs (flock: released when it dies).
pub const DRIVER_LOCK: &str = "driver.lock";
/// The detached driver's own output.
pub const DRIVER_LOG: &str = "driver.log";

/// How the run's jobs are planned.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Plan {
    /// A task file (`workflow.yaml` in the folder), with what the command line added.
    Task {
        /// `--platform`, `--gpus`, … as given.
        launch: LaunchOptions,
        /// `--env K=V` values (names that look secret are in `env_names` instead).
        envs: BTreeMap<String, String>,
        /// `--env` names whose value the driver takes from its environment.
        env_names: Vec<String>,
        /// `--secret` names (values from the driver's environment).
        secrets: Vec<String>,
    },
    /// `hoist run --matrix`: one command over the axes.
    Sweep {
        /// The request of every cell before its values go in (secret values left out: they
        /// are taken from the environment at submit).
        template: Box<JobRequest>,
        /// `KEY` → values, in the order given.
        axes: Vec<(String, Vec<String>)>,
    },
}

/// A run's launch, as `run.json` keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// How jobs are planned.
    pub plan: Plan,
    /// Where the workflow's relative paths resolve (the directory it was launched from).
    pub base: PathBuf,
    /// Jobs at once (over the file's `max_parallel`).
    pub max_parallel: Option<u32>,
    /// Stop at the first failure.
    pub fail_fast: bool,
}

impl RunSpec {
    /// Write it into the run folder `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".{RUN_SPEC_FILE}.tmp"));
        std::fs::write(&tmp, format!("{text}\n"))?;
        std::fs::rename(&tmp, dir.join(RUN_SPEC_FILE))
    }

    /// Read the one in the run folder `dir`.
    pub fn load(dir: &Path) -> Result<RunSpec, InputError> {
        let p = dir.join(RUN_SPEC_FILE);
        let text = std::fs::read_to_string(&p).map_err(|e| {
            InputError::new(
                format!("{} is not a resumable run folder: {e}", dir.display()),
                "give the folder hoist launch printed (hoist runs lists them); runs started before hoist kept run.json cannot be resumed",
            )
        })?;
        serde_json::from_str(&text).map_err(|e| {
            InputError::new(
                format!("{} is damaged: {e}", p.display()),
                "launch the workflow again (hoist launch FILE)",
            )
        })
    }

    /// The names whose values the driving process must have in its environment.
    pub fn names_from_env(&self) -> Vec<String> {
        match &self.plan {
            Plan::Task {
                env_names, secrets, ..
            } => env_names.iter().chain(secrets).cloned().collect(),
            Plan::Sweep { template, .. } => template
                .env
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.clone())
                .collect(),
        }
    }
}

/// Split `--env` values into what may be written down and what stays in the environment.
pub fn split_envs(given: &BTreeMap<String, String>) -> (BTreeMap<String, String>, Vec<String>) {
    let mut kept = BTreeMap::new();
    let mut names = Vec::new();
    for (k, v) in given {
        if hoist::core::spec::is_secret_name(k) {
            names.push(k.clone());
        } else {
            kept.insert(k.clone(), v.clone());
        }
    }
    (kept, names)
}

/// A sweep's request with every secret value taken out (`None`: from the environment).
pub fn without_secret_values(mut req: JobRequest) -> JobRequest {
    let secret = req.secret_env.clone();
    for (k, v) in req.env.iter_mut() {
        if secret.contains(k) || hoist::core::spec::is_secret_name(k) {
            *v = None;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_kept_by_name_only() {
        let given = BTreeMap::from([
            ("LR".to_string(), "0.1".to_string()),
            ("WANDB_API_KEY".to_string(), "s3cr3t".to_string()),
        ]);
        let (kept, names) = split_envs(&given);
        assert_eq!(kept.get("LR").map(String::as_str), Some("0.1"));
        assert_eq!(names, ["WANDB_API_KEY"]);
        let spec = RunSpec {
            plan: Plan::Task {
                launch: LaunchOptions::default(),
                envs: kept,
                env_names: names,
                secrets: vec!["HF_TOKEN".into()],
            },
            base: PathBuf::from("/w"),
            max_parallel: Some(2),
            fail_fast: false,
        };
        let d = tempfile::tempdir().expect("tmp");
        spec.save(d.path()).expect("save");
        let text = std::fs::read_to_string(d.path().join(RUN_SPEC_FILE)).expect("read");
        assert!(!text.contains("s3cr3t"), "{text}");
        let back = RunSpec::load(d.path()).expect("load");
        assert_eq!(back.names_from_env(), ["WANDB_API_KEY", "HF_TOKEN"]);
        assert!(RunSpec::load(&d.path().join("nothing")).is_err());
    }
}
