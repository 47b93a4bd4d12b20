//! The rules of data staging, shared by the submitting side and the in-job runner: what a
//! URI means, where results go, which credentials a job needs, how a spec is addressed and
//! rewritten. The runner itself (downloads, archives, the child process) lives in
//! `hoist-staging`; everything here is a pure function of its arguments.
//!
//! This module holds the runner's plan (what a platform hands the in-job runner); the rules
//! it is built from live in the submodules and are re-exported here, so every item keeps its
//! `hoist_core::staging::X` path.

mod command_line;
mod files;
mod results;
mod spec_values;
mod uri;

pub use command_line::{args_words, final_argv};
pub use files::{
    Archive, WEIGHTS_EXTENSIONS, archive_of, exclude_matches, file_safe, ignore_file_excludes,
    is_weights_file, key_dir_name, safe_member_path,
};
pub use results::{ResultsKind, credential_env_names};
pub use spec_values::{get_at, remote_values, set_at};
pub use uri::{HfRepo, NgcModel, Scheme, local_path, parse_hf, parse_ngc, parse_s3};

use crate::spec::{Command, DataBinding, EntryMode, JobSpec, SpecFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Where, inside a container, the runner binary is mounted.
pub const RUNNER_DIR: &str = "/.hoist";

/// The environment variable that carries the plan (JSON) when no plan file is given.
pub const RUNNER_PLAN_ENV: &str = "HOIST_PLAN";

/// The static hoist binary a platform puts in front of a job's command, with its content
/// hash (what SLURM staging and the docker runner volume are keyed by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerBinary {
    /// Where it is on the submitting machine.
    pub path: std::path::PathBuf,
    /// Hex SHA-256 of its contents.
    pub sha256: String,
}

impl RunnerBinary {
    /// The short form used in file and volume names.
    pub fn short_hash(&self) -> &str {
        &self.sha256[..self.sha256.len().min(16)]
    }
}

/// What the in-job runner does for one job, written next to it as JSON. It never holds a
/// secret: credentials reach the job as environment only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerPlan {
    /// The hoist job id (TAO_JOB_ID).
    pub job_id: String,
    /// How data is wired into the command.
    pub mode: EntryMode,
    /// The user's command, before `{config_path}` or args are put in.
    pub command: Command,
    /// Shell for a shell-string command.
    pub shell: Option<String>,
    /// Config mode: the spec to write.
    pub spec: Option<Value>,
    /// Format of the written spec.
    pub spec_format: SpecFormat,
    /// Args mode: flags for the command.
    pub args: BTreeMap<String, Value>,
    /// Inputs to fetch first.
    pub inputs: Vec<DataBinding>,
    /// Outputs to route and upload at the end.
    pub outputs: Vec<DataBinding>,
    /// Globs of files never uploaded.
    pub upload_excludes: Vec<String>,
}

impl RunnerPlan {
    /// The runner's plan for a job, or `None` when the job needs no staging at all (then no
    /// runner is put in front of the command and start-up costs nothing).
    pub fn for_job(job_id: &str, spec: &JobSpec) -> Option<RunnerPlan> {
        let needed = !spec.inputs.is_empty()
            || !spec.outputs.is_empty()
            || spec.spec.is_some()
            || !spec.args.is_empty()
            || spec.mode != EntryMode::Passthrough;
        needed.then(|| RunnerPlan {
            job_id: job_id.to_string(),
            mode: spec.mode,
            command: spec.command.clone(),
            shell: spec.shell.clone(),
            spec: spec.spec.clone(),
            spec_format: spec.spec_format.unwrap_or(SpecFormat::Yaml),
            args: spec.args.clone(),
            inputs: spec.inputs.clone(),
            outputs: spec.outputs.clone(),
            upload_excludes: spec.upload_excludes.clone(),
        })
    }

    /// Every URI the plan reads or writes, spec values included.
    pub fn uris(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inputs
            .iter()
            .chain(&self.outputs)
            .map(|b| b.uri.clone())
            .filter(|u| !u.is_empty())
            .collect();
        if let Some(spec) = &self.spec {
            out.extend(remote_values(spec).into_iter().map(|(_, u)| u));
        }
        for v in self.args.values() {
            if let Some(s) = v.as_str()
                && Scheme::of(s).is_remote()
            {
                out.push(s.to_string());
            }
        }
        out
    }
}

/// Exit codes the runner uses when it, not the command, fails (sysexits.h names).
pub mod exit {
    /// An input could not be fetched (missing object, denied, unreachable).
    pub const INPUT: i32 = 66;
    /// The plan or spec cannot be carried out as written.
    pub const CONFIG: i32 = 78;
    /// The command could not be started.
    pub const EXEC: i32 = 126;
    /// The command succeeded but its outputs could not be uploaded.
    pub const UPLOAD: i32 = 74;
}
