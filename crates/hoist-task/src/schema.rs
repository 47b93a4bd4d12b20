//! SkyPilot task YAMLs, loaded and validated the way SkyPilot 0.14.1 does it, with its messages.
//!
//! [`load`] follows SkyPilot's loader order: duplicate keys → YAML 1.1 parsing → envs/secrets
//! stringified → task schema → `--env`/`--secret` overrides → required envs → `${VAR}`
//! substitution (file mounts, workdir, volumes, service; never setup/run/image_id) → storage
//! entries → resources. Checks SkyPilot leaves to launch time (names, mount paths) are in
//! [`validate_names`]; whether local paths exist is the launcher's business.
//!
//! Layout: YAML loading and the Python value model it yields (`yaml`, `scalars`, `pyvalue`), the schema
//! machinery (`jsonschema`, `difflib`), and one module per section (`task`, `resources`,
//! `accelerators`, `storage`, `substitution`); hoist's own workflow fields in `hoist_fields`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

mod accelerators;
pub(crate) mod difflib;
mod hoist_fields;
mod jsonschema;
mod pyvalue;
mod resource_fields;
mod resources;
mod resources_schema;
mod scalars;
mod storage;
mod substitution;
mod task;
mod yaml;

pub use accelerators::parse_accelerator;
pub use hoist_fields::default_task_name;
pub(crate) use hoist_fields::{field_error, is_env_name, task_subject};

/// One load error, worded as SkyPilot 0.14 words it (the CLI prints `message` and exits 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    /// The message, verbatim.
    pub message: String,
    /// 1-based line when the YAML parser knows it.
    pub line: Option<usize>,
    /// 1-based column when the YAML parser knows it.
    pub column: Option<usize>,
}

impl TaskError {
    /// As a front door reports it: the message with where in `path` it is, and what to do.
    pub fn at(self, path: &str) -> hoist::core::InputError {
        let at = match (self.line, self.column) {
            (Some(l), Some(c)) if !self.message.contains("line") => {
                format!(" (at {path} line {l}, column {c})")
            }
            _ => String::new(),
        };
        hoist::core::InputError::new(
            format!("{}{at}", self.message),
            "fix the task YAML (SkyPilot 0.14's schema: hoist launch --dry-run --json shows how hoist reads it)",
        )
    }
}

/// What a task file holds.
// The agreed interface holds the task inline; a file is loaded once, so the size is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum TaskFile {
    /// One task (one document, or a header and one task, as `sky launch` runs them).
    Single(Task),
    /// Several documents run one after another (`sky jobs launch`'s pipeline).
    Pipeline {
        /// The header document's `name`, when the first document is a header.
        name: Option<String>,
        /// The tasks, in file order.
        tasks: Vec<Task>,
    },
}

/// One task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Task {
    /// Display name (checked by [`validate_names`], as SkyPilot checks it at launch).
    pub name: Option<String>,
    /// Directory synced (or repository cloned) to `~/sky_workdir`.
    pub workdir: Option<Workdir>,
    /// Nodes to run on; 1 when not given.
    pub num_nodes: u32,
    /// Per-node requirements.
    pub resources: Resources,
    /// Environment, values stringified as SkyPilot does (`true` → `"True"`). After [`load`]
    /// every value is `Some`: a null one must be filled by `--env` or loading fails.
    pub envs: BTreeMap<String, Option<String>>,
    /// Secrets: inline values, or `None` for a reference the launcher must resolve (a null
    /// value, a `secrets:NAME` item or key), filled by `--secret` when given.
    pub secrets: BTreeMap<String, Option<String>>,
    /// Destination → source, after `${VAR}` substitution.
    pub file_mounts: BTreeMap<String, FileMount>,
    /// Setup script, verbatim (variables are expanded by bash on the node).
    pub setup: Option<String>,
    /// Run script, verbatim.
    pub run: Option<String>,
    /// The task's `config` overrides (e.g. `kubernetes.pod_config`, `docker.run_options`).
    pub config: Option<serde_json::Value>,
    /// `volumes` (after substitution), as written.
    pub volumes: Option<serde_json::Value>,
    /// Managed-jobs state-change callback script.
    pub event_callback: Option<String>,
    /// A `service:` section was present (launch ignores it with a warning).
    pub service: bool,
    /// hoist's own workflow fields of this task (`needs`, `matrix`, …).
    pub hoist: HoistFields,
    /// The file's header document (the same on every task of a file; default when it has
    /// none). Kept here so that a header with one task, which loads as
    /// [`TaskFile::Single`], still carries its hooks.
    pub workflow: WorkflowHeader,
}

/// hoist's own per-task fields, which SkyPilot has no equivalent for. Each is checked for its
/// shape at load (with a message naming the task and field); how tasks relate is checked by
/// [`crate::workflow::workflow`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HoistFields {
    /// `needs`: the tasks this one runs after, as written (a single string is a one-item
    /// list; duplicates dropped). `None` when absent: then, if no task of the file has `needs`,
    /// the task runs after the previous one, as SkyPilot's pipelines do.
    pub needs: Option<Vec<String>>,
    /// `matrix`: each key (a valid env name) with its values, stringified as envs are
    /// (`true` → `"True"`), in the order written. Empty = no matrix.
    pub matrix: Vec<(String, Vec<String>)>,
    /// `matrix_include`: combinations added or extended (GitHub Actions' `include`).
    pub matrix_include: Vec<BTreeMap<String, String>>,
    /// `matrix_exclude`: partial combinations removed (GitHub Actions' `exclude`).
    pub matrix_exclude: Vec<BTreeMap<String, String>>,
    /// `max_parallel`: at most this many of the task's jobs at once (>= 1).
    pub max_parallel: Option<u32>,
}

/// The header document's fields (`name`, and hoist's hooks and bound).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkflowHeader {
    /// The header's `name`.
    pub name: Option<String>,
    /// `on_complete`: what runs when every job completed.
    pub on_complete: Option<Hook>,
    /// `on_failure`: what runs when a job did not complete.
    pub on_failure: Option<Hook>,
    /// `max_parallel`: at most this many jobs of the whole workflow at once (>= 1).
    pub max_parallel: Option<u32>,
}

/// One completion hook (`on_complete` / `on_failure`): a string is a `command`; a mapping
/// gives `command` and/or `webhook_env`. At least one is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hook {
    /// A shell command run on this machine, in the run folder, with `status.json` on stdin.
    pub command: Option<String>,
    /// The environment variable holding a URL the run's status is POSTed to. The file names
    /// the variable, never the URL: a webhook URL is a secret.
    pub webhook_env: Option<String>,
}

/// `workdir`: a local directory or a git repository.
#[derive(Debug, Clone, PartialEq)]
pub enum Workdir {
    /// A local path (relative to the caller's directory).
    Path(String),
    /// A repository to clone, at `ref` when given.
    Git {
        /// Clone URL.
        url: String,
        /// Branch, tag or commit.
        reference: Option<String>,
    },
}

/// One `file_mounts` source.
#[derive(Debug, Clone, PartialEq)]
pub enum FileMount {
    /// A local path or a bucket URI (`s3://…`), copied to every node.
    Source(String),
    /// A storage dict (a bucket, or with `store: VOLUME` a volume).
    Storage {
        /// Bucket name.
        name: Option<String>,
        /// Local path or bucket URI; a list of paths is kept as its JSON array text.
        source: Option<String>,
        /// Store type, upper-case (`S3`, `GCS`, …, `VOLUME`).
        store: Option<String>,
        /// How it appears on the node.
        mode: StorageMode,
    },
}

/// How a storage entry appears on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageMode {
    /// Mounted (FUSE), the default.
    #[default]
    Mount,
    /// Copied once.
    Copy,
    /// Mounted with a local cache that uploads asynchronously.
    MountCached,
}

/// Per-node requirements, flattened from SkyPilot's candidate set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resources {
    /// Candidate accelerators in preference order (a list's order; a set/mapping's key order;
    /// any_of/ordered entries' accelerators appended in order). Empty = none.
    pub accelerators: Vec<Accelerator>,
    /// `"4"` or `"4+"`.
    pub cpus: Option<String>,
    /// GB, normalized like SkyPilot (`"64.0"`, `"8+"`).
    pub memory: Option<String>,
    /// GB; 256 (SkyPilot's default) reads as unspecified.
    pub disk_size: Option<u64>,
    /// The image.
    pub image_id: Option<ImageId>,
    /// Ports, merged into sorted ranges (`["7000-7001", "8080"]`).
    pub ports: Vec<String>,
    /// Pod labels / tags.
    pub labels: BTreeMap<String, String>,
    /// `infra` as written.
    pub infra: Option<String>,
    /// Cloud, lower-case (`kubernetes` for `k8s`), from `infra` or `cloud`; `*` = none.
    pub cloud: Option<String>,
    /// Region (a Kubernetes context for `k8s/<ctx>`), from `infra` or `region`.
    pub region: Option<String>,
    /// Zone, from `infra` or `zone`.
    pub zone: Option<String>,
    /// Spot instances asked for.
    pub use_spot: bool,
    /// A cloud instance type.
    pub instance_type: Option<String>,
    /// `autostop`, as written.
    pub autostop: Option<serde_json::Value>,
    /// Fields that need a cloud's provisioner hoist does not have, each as `resources.FIELD`
    /// (e.g. "resources.instance_type", "resources.use_spot", "resources.zone",
    /// "resources.disk_tier", "resources.accelerator_args", "resources.image_id (a VM image)",
    /// "resources.accelerators (TPU tpu-v4-8)"): the launcher refuses them unless the user names
    /// a platform. The base `infra`/`cloud` is not listed (the launcher classifies it).
    pub cloud_only: Vec<String>,
}

/// One accelerator candidate: `"A100:8"` → `{A100, 8.0}`; `"A100"` → count 1.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Accelerator {
    /// Name as written (a memory selector such as `80GB+` stays as written).
    pub name: String,
    /// Count per node (may be fractional).
    pub count: f64,
}

/// `resources.image_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageId {
    /// A container image (`docker:` stripped).
    Docker(String),
    /// A cloud VM image (AMI, GCP image path, `skypilot:<tag>`).
    Vm(String),
    /// Region → VM image.
    PerRegion(BTreeMap<String, String>),
}

/// Load a task file's text. `path` is for messages. `env_overrides`: `--env K=V` values (apply
/// to every task; override YAML envs; fill required ones); `secret_overrides` likewise for
/// secrets.
pub fn load(
    text: &str,
    path: &str,
    env_overrides: &BTreeMap<String, String>,
    secret_overrides: &BTreeMap<String, String>,
) -> Result<TaskFile, TaskError> {
    let docs = yaml::load_all(text, path)?;
    task::from_documents(docs, text, env_overrides, secret_overrides)
}

/// SkyPilot's task-name rule (`sky/task.py`).
static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-zA-Z0-9]+(?:[._-]{1,2}[a-zA-Z0-9]+)*$").expect("static regex")
});

/// The checks SkyPilot makes at launch rather than at load (`Task.validate`): the name, mount
/// paths ending in `/`, and `~/sky_workdir` as a destination when a workdir is set. Whether
/// sources exist is left to the launcher.
pub fn validate_names(task: &Task) -> Result<(), TaskError> {
    let fail = |message: String| {
        Err(TaskError {
            message,
            line: None,
            column: None,
        })
    };
    if let Some(name) = &task.name
        && !NAME_RE.is_match(name)
    {
        return fail(format!(
            "Invalid task name {name}. Valid name: ASCII characters and may contain lowercase and \
             uppercase letters, digits, underscores, periods, and dashes. Must start and end with \
             alphanumeric characters. No triple dashes or underscores."
        ));
    }
    for (dst, mount) in &task.file_mounts {
        let FileMount::Source(src) = mount else {
            continue;
        };
        let location = format!("file_mounts.{dst}: {src}");
        let slash =
            |path: &str| format!("Mount paths cannot end with a slash Found: {path} in {location}");
        if dst.ends_with('/') {
            return fail(slash(dst));
        }
        if dst == "~/sky_workdir" && task.workdir.is_some() {
            return fail(
                "Cannot use '~/sky_workdir' as a destination path of a file mount, as it will be \
                 used by the workdir. If uploading a file/folder to the workdir is needed, please \
                 specify the full path to the file/folder."
                    .into(),
            );
        }
        if src.ends_with('/') {
            return fail(slash(src));
        }
        if is_cloud_url(dst) {
            return fail("File mount destination paths cannot be cloud storage".into());
        }
    }
    Ok(())
}

/// `data_utils.is_cloud_store_url`: a URL with a host part (`s3://bucket/...`).
fn is_cloud_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !rest.split(['/', '?', '#']).next().unwrap_or("").is_empty()
    })
}

#[cfg(test)]
mod tests;
