//! What a user asks to run: [`JobSpec`] and the parsing and validation of its parts.

use crate::gpu::GpuSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A mistake in what the user typed: shown as one line plus a fix, exit code 2, nothing stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// What is wrong, naming the bad value.
    pub message: String,
    /// What to do instead.
    pub hint: String,
}

impl InputError {
    /// An input error with its fix.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        InputError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

pub use crate::command::{
    Command, EnvValue, is_secret_name, parse_env_arg, parse_env_file, parse_memory, sh_quote,
    sh_quote_checked, validate_env_name,
};
pub use crate::data::{
    DataBinding, EntryMode, KeyStep, SCHEMES, SpecFormat, find_flat_dotted_keys, parse_key_path,
    validate_uri,
};

/// The variable a multi-node job finds every node's address in: one per line, in rank
/// order (what SkyPilot's `SKYPILOT_NODE_IPS` and MPI host files need). Each multi-node
/// platform sets it, as a literal or a shell expansion the job evaluates.
pub const NODE_IPS_ENV: &str = "HOIST_NODE_IPS";

/// The rendezvous variables torchrun and TAO containers read, for `nodes` nodes of
/// `gpus_per_node` GPUs. `node_rank` and `master_addr` are what the platform can say (a
/// literal, or a shell expansion the job's shell evaluates).
pub fn rendezvous_env(
    nodes: u32,
    gpus_per_node: u32,
    node_rank: &str,
    master_addr: &str,
) -> Vec<(String, String)> {
    [
        ("WORLD_SIZE", nodes.to_string()),
        ("NNODES", nodes.to_string()),
        ("NUM_GPU_PER_NODE", gpus_per_node.to_string()),
        ("NPROC_PER_NODE", gpus_per_node.max(1).to_string()),
        ("NODE_RANK", node_rank.to_string()),
        ("MASTER_ADDR", master_addr.to_string()),
        ("MASTER_PORT", "29500".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A file or directory on this machine that a job needs where it runs (a task's workdir).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Absolute path on this machine.
    pub src: String,
    /// Where the job sees it: an absolute path in the container, or a path relative to the
    /// job's working directory.
    pub dest: String,
}

/// Everything a user asks for when submitting a job. Stored (with secret values removed) so
/// that a retry or a `hoist show` sees the same request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Human name; JOB arguments may use it.
    pub name: String,
    /// Container image; `None` runs on the host.
    pub image: Option<String>,
    /// What to run.
    pub command: Command,
    /// GPUs per node.
    pub gpus: GpuSpec,
    /// Number of nodes.
    pub nodes: u32,
    /// CPU limit (cores, fractional allowed).
    pub cpus: Option<f64>,
    /// Memory limit in bytes.
    pub memory_bytes: Option<u64>,
    /// Environment for the job.
    pub env: BTreeMap<String, EnvValue>,
    /// Free-form labels, carried to the backend where it has them.
    pub labels: BTreeMap<String, String>,
    /// Shell for a shell-string command (default `/bin/sh`).
    pub shell: Option<String>,
    /// Working directory of the command.
    pub workdir: Option<String>,
    /// Inputs to fetch before the command runs.
    pub inputs: Vec<DataBinding>,
    /// Outputs to upload when it ends.
    pub outputs: Vec<DataBinding>,
    /// A spec (nested map) written for the command in config mode.
    pub spec: Option<serde_json::Value>,
    /// Format of the written spec.
    pub spec_format: Option<SpecFormat>,
    /// Entry mode for the runner.
    pub mode: EntryMode,
    /// Args mode: flags for the command (`--key value`).
    #[serde(default)]
    pub args: BTreeMap<String, serde_json::Value>,
    /// Globs of result files never uploaded.
    #[serde(default)]
    pub upload_excludes: Vec<String>,
    /// The GPU model the job needs (`A100`, `H100-80GB`): a node selector, GRES type or
    /// shape where the platform can choose; `None` takes what the platform has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_type: Option<String>,
    /// This machine's files the job needs where it runs. The library ships them before
    /// submit and turns each into an input, so a platform sees inputs only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<Upload>,
    /// Per-job options of the job's platform, keyed by platform name. Each platform reads
    /// its own entry ([`JobSpec::options_of`]); nothing else looks inside.
    #[serde(default)]
    pub platform_options: BTreeMap<String, serde_json::Value>,
}

impl JobSpec {
    /// A spec with defaults for everything but the command.
    pub fn new(command: Command) -> Self {
        JobSpec {
            name: default_name(&command),
            image: None,
            command,
            gpus: GpuSpec::None,
            nodes: 1,
            cpus: None,
            memory_bytes: None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            shell: None,
            workdir: None,
            inputs: vec![],
            outputs: vec![],
            spec: None,
            spec_format: None,
            mode: EntryMode::Passthrough,
            args: BTreeMap::new(),
            upload_excludes: vec![],
            gpu_type: None,
            uploads: vec![],
            platform_options: BTreeMap::new(),
        }
    }

    /// The platform `name`'s options, read into its own type. A missing entry is the
    /// type's default; unknown keys are ignored, because rows written by other hoist
    /// versions carry keys this one may not know (user input is checked strictly before it
    /// gets here, by the platform's settings).
    pub fn options_of<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, InputError> {
        match self.platform_options.get(name) {
            None | Some(serde_json::Value::Null) => Ok(T::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                InputError::new(
                    format!("the job's {name} options cannot be read: {e}"),
                    "the job was written by an incompatible hoist; submit it again",
                )
            }),
        }
    }

    /// Add an env var, classifying secrets by name so their value is never stored.
    pub fn set_env(&mut self, name: &str, value: Option<String>) {
        let v = match value {
            _ if is_secret_name(name) => EnvValue::Secret,
            Some(v) => EnvValue::Literal(v),
            None => EnvValue::FromHost,
        };
        self.env.insert(name.to_string(), v);
    }

    /// Check everything that can be checked without touching the world.
    pub fn validate(&self) -> Result<(), InputError> {
        validate_name(&self.name)?;
        let empty = match &self.command {
            Command::Argv(a) => a.first().is_none_or(|w| w.is_empty()),
            Command::Shell(sh) => sh.trim().is_empty(),
        };
        if empty {
            return Err(InputError::new(
                "no command given",
                "put the command after --",
            ));
        }
        if self.nodes == 0 {
            return Err(InputError::new(
                "--nodes 0 asks for no node",
                "use --nodes 1 or more",
            ));
        }
        if let Some(c) = self.cpus
            && !(c.is_finite() && c > 0.0)
        {
            return Err(InputError::new(
                format!("bad --cpus value {c}"),
                "use a positive number such as 4 or 0.5",
            ));
        }
        if let Some(img) = &self.image
            && (img.trim().is_empty() || img.chars().any(char::is_whitespace))
        {
            return Err(InputError::new(
                format!("bad --image value {img:?}"),
                "an image reference has no spaces, e.g. nvcr.io/nvidia/pytorch:24.05-py3",
            ));
        }
        for name in self.env.keys() {
            validate_env_name(name)?;
        }
        for k in self.labels.keys() {
            if k.is_empty()
                || k.len() > 63
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
            {
                return Err(InputError::new(
                    format!("bad label key {k:?}"),
                    "label keys are 1-63 characters of letters, digits, - _ . /",
                ));
            }
        }
        if self.spec.is_some() && !self.args.is_empty() {
            return Err(InputError::new(
                "both a spec and args were given",
                "a job takes its settings either as a spec file (config mode) or as flags (args mode), not both",
            ));
        }
        for b in &self.inputs {
            validate_uri(&b.uri)?;
        }
        for b in self.inputs.iter().chain(&self.outputs) {
            // An output without a URI goes to the job's results location.
            if !b.uri.is_empty() {
                validate_uri(&b.uri)?;
            }
            if self.mode != EntryMode::Passthrough {
                parse_key_path(&b.key)?;
            } else if !b.key.starts_with('/') {
                return Err(InputError::new(
                    format!("passthrough path {:?} is not absolute", b.key),
                    "in passthrough mode bind data to absolute paths, e.g. --input /data/train.json=s3://bucket/train.json",
                ));
            }
        }
        if let Some(spec) = &self.spec {
            if !spec.is_object() {
                return Err(InputError::new(
                    "the spec is not a map",
                    "a spec file holds a map (YAML mapping, TOML table, JSON object) at its top",
                ));
            }
            let flat = find_flat_dotted_keys(spec);
            if !flat.is_empty() {
                return Err(InputError::new(
                    format!(
                        "the spec has flat dotted keys ({}): they are written as literal keys and the job sees an empty section",
                        flat.join(", ")
                    ),
                    "nest them: {\"a\": {\"b\": 1}} rather than {\"a.b\": 1}",
                ));
            }
        }
        Ok(())
    }

    /// Whether the variable `name` is a secret: by its name, or because the request said so
    /// (a SkyPilot task's `secrets`). Its value is never stored, printed or put in a job body.
    pub fn is_secret(&self, name: &str) -> bool {
        matches!(self.env.get(name), Some(EnvValue::Secret)) || is_secret_name(name)
    }

    /// The same spec with the values of secret variables removed, for storage and display.
    pub fn redacted(&self) -> JobSpec {
        let mut s = self.clone();
        for (k, v) in s.env.iter_mut() {
            if is_secret_name(k) {
                *v = EnvValue::Secret;
            }
        }
        s
    }
}

/// Check a job name: 1-63 characters of letters, digits, `-`, `_`, `.`, starting alphanumeric.
pub fn validate_name(name: &str) -> Result<(), InputError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(InputError::new(
            format!("bad job name {name:?}"),
            "names are 1-63 letters, digits, - _ . and start with a letter or digit",
        ))
    }
}

/// A name from the command's program (`python train.py` -> `python`), made valid.
pub fn default_name(cmd: &Command) -> String {
    let first = match cmd {
        Command::Argv(a) => a.first().cloned().unwrap_or_default(),
        Command::Shell(s) => s.split_whitespace().next().unwrap_or_default().to_string(),
    };
    let base = first.rsplit('/').next().unwrap_or("");
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if name.is_empty() {
        "job".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }
    use serde_json::json;

    #[test]
    fn flat_keys_are_caught() {
        assert_eq!(
            find_flat_dotted_keys(&json!({"a": {"b.c": 1}, "l": [{"x.y": 2}]})),
            vec!["a.b.c".to_string(), "l[0].x.y".to_string()]
        );
        let mut spec = JobSpec::new(Command::Argv(s(&["x"])));
        spec.spec = Some(json!({"dataset.train": "s3://bkt/a"}));
        let e = spec.validate().expect_err("flat");
        assert!(e.message.contains("dataset.train"));
        spec.spec = Some(json!({"dataset": {"train": "s3://bkt/a"}}));
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn rendezvous() {
        let env: BTreeMap<String, String> =
            rendezvous_env(1, 4, "0", "localhost").into_iter().collect();
        assert_eq!(env["NPROC_PER_NODE"], "4");
        assert_eq!(env["WORLD_SIZE"], "1");
        assert_eq!(env["MASTER_ADDR"], "localhost");
        assert_eq!(env["MASTER_PORT"], "29500");
    }

    #[test]
    fn names() {
        assert_eq!(
            default_name(&Command::Argv(s(&["/usr/bin/Python3", "x"]))),
            "python3"
        );
        assert_eq!(default_name(&Command::Shell("  ".into())), "job");
        assert!(validate_name("train-1.b_2").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name(&"a".repeat(64)).is_err());
    }
}
