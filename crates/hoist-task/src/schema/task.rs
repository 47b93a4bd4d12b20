//! The top level: documents → tasks (`dag_utils.load_chain_dag_from_yaml`), and one task
//! document → [`Task`] in the order of SkyPilot's `Task.from_yaml_config`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::hoist_fields::{self, TASK_KEYS, default_task_name, task_subject};
use super::jsonschema::{Schema, Ty, validate};
use super::pyvalue::{Py, str_repr};
use super::{
    FileMount, Task, TaskError, TaskFile, Workdir, WorkflowHeader, resources, storage, substitution,
};

const ENV_KEY: &str = "^[a-zA-Z_][a-zA-Z0-9_]*$";
const DOCKER_LOGIN_VARS: [&str; 3] = [
    "SKYPILOT_DOCKER_PASSWORD",
    "SKYPILOT_DOCKER_SERVER",
    "SKYPILOT_DOCKER_USERNAME",
];

/// The task-overridable part of `~/.sky/config.yaml`. SkyPilot checks each section in depth;
/// hoist checks the sections' shapes and the keys it reads (`docker.run_options`,
/// `kubernetes.pod_config`, `hooks`), and leaves the rest to the platforms.
fn config_schema() -> Schema {
    Schema::of(Ty::Object).props(vec![
        (
            "docker",
            Schema::of(Ty::Object).no_additional().props(vec![(
                "run_options",
                Schema::new().any_of(vec![
                    Schema::of(Ty::String),
                    Schema::of(Ty::Array).items(Schema::of(Ty::String)),
                ]),
            )]),
        ),
        (
            "nvidia_gpus",
            Schema::of(Ty::Object)
                .no_additional()
                .props(vec![("disable_ecc", Schema::of(Ty::Boolean))]),
        ),
        ("active_workspace", Schema::of(Ty::String)),
        ("gcp", Schema::of(Ty::Object)),
        ("azure", Schema::of(Ty::Object)),
        (
            "kubernetes",
            Schema::of(Ty::Object).props(vec![
                ("pod_config", Schema::of(Ty::Object).required(&[])),
                ("provision_timeout", Schema::of(Ty::Integer)),
                ("custom_metadata", Schema::of(Ty::Object).required(&[])),
            ]),
        ),
        ("ssh", Schema::of(Ty::Object)),
        ("slurm", Schema::of(Ty::Object)),
        (
            "vast",
            Schema::of(Ty::Object).no_additional().props(vec![
                ("datacenter_only", Schema::of(Ty::Boolean)),
                ("create_instance_kwargs", Schema::of(Ty::Object)),
            ]),
        ),
        (
            "hooks",
            Schema::of(Ty::Array).items(
                Schema::of(Ty::Object)
                    .required(&["run"])
                    .no_additional()
                    .props(vec![
                        ("run", Schema::of(Ty::String)),
                        (
                            "events",
                            Schema::of(Ty::Array).min_items(1).unique_items().items(
                                Schema::of(Ty::String).case_insensitive_enum(&[
                                    "stop",
                                    "preemption",
                                    "down",
                                ]),
                            ),
                        ),
                        ("timeout", Schema::of(Ty::Integer).minimum(1)),
                    ]),
            ),
        ),
    ])
}

static TASK_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let size_map = || {
        Schema::of(Ty::Object)
            .required(&[])
            .max_properties(1)
            .additional(Schema::of(Ty::Number))
    };
    Schema::of(Ty::Object)
        .required(&[])
        .no_additional()
        .props(vec![
            ("name", Schema::of(Ty::String)),
            (
                "workdir",
                Schema::new().any_of(vec![
                    Schema::of(Ty::String),
                    Schema::of(Ty::Object)
                        .required(&["url"])
                        .no_additional()
                        .props(vec![
                            ("url", Schema::of(Ty::String)),
                            ("ref", Schema::of(Ty::String)),
                        ]),
                ]),
            ),
            ("event_callback", Schema::of(Ty::String)),
            ("num_nodes", Schema::of(Ty::Integer)),
            ("resources", Schema::of(Ty::Object)),
            ("file_mounts", Schema::of(Ty::Object)),
            ("service", Schema::of(Ty::Object)),
            ("pool", Schema::of(Ty::Object)),
            ("setup", Schema::of(Ty::String)),
            ("run", Schema::of(Ty::String)),
            (
                "envs",
                Schema::of(Ty::Object)
                    .required(&[])
                    .pattern_props(vec![(ENV_KEY, Schema::new().ty(&[Ty::String, Ty::Null]))])
                    .no_additional(),
            ),
            (
                "secrets",
                Schema::new().one_of(vec![
                    Schema::of(Ty::Object).additional(Schema::new().ty(&[Ty::String, Ty::Null])),
                    Schema::of(Ty::Array).items(Schema::of(Ty::String)),
                ]),
            ),
            (
                "managed_secrets",
                Schema::of(Ty::Array).items(Schema::new().one_of(vec![
                    Schema::of(Ty::String),
                    Schema::of(Ty::Object).max_properties(1).additional(
                        Schema::of(Ty::Object)
                            .props(vec![("mount_path", Schema::of(Ty::String))])
                            .no_additional(),
                    ),
                ])),
            ),
            ("inputs", size_map()),
            ("outputs", size_map()),
            ("file_mounts_mapping", Schema::of(Ty::Object)),
            ("config", config_schema()),
            ("volumes", Schema::of(Ty::Object)),
            (
                "volume_mounts",
                Schema::of(Ty::Array).items(
                    Schema::of(Ty::Object)
                        .required(&[])
                        .no_additional()
                        .props(vec![
                            ("path", Schema::of(Ty::String)),
                            ("volume_name", Schema::of(Ty::String)),
                            ("is_ephemeral", Schema::of(Ty::Boolean)),
                            (
                                "sub_path",
                                Schema::of(Ty::String).pattern("^[a-zA-Z0-9._-][a-zA-Z0-9./_-]*$"),
                            ),
                            ("volume_config", Schema::of(Ty::Object).required(&[])),
                        ]),
                ),
            ),
            ("api_server_access", Schema::of(Ty::Boolean)),
            ("_metadata", Schema::of(Ty::Object)),
            // hoist's own fields: any shape passes here, `hoist_fields` checks them with
            // messages naming the task.
            ("needs", Schema::new()),
            ("matrix", Schema::new()),
            ("matrix_include", Schema::new()),
            ("matrix_exclude", Schema::new()),
            ("max_parallel", Schema::new()),
        ])
});

/// Field names of the task schema (the unknown-field suggestions come from these).
#[cfg(test)]
pub(crate) fn task_fields() -> Vec<&'static str> {
    TASK_SCHEMA.property_names()
}

fn err(message: String) -> TaskError {
    TaskError {
        message,
        line: None,
        column: None,
    }
}

/// The loaded documents → a task or a pipeline, as `load_chain_dag_from_yaml` splits them.
pub(crate) fn from_documents(
    mut docs: Vec<Py>,
    text: &str,
    env_overrides: &BTreeMap<String, String>,
    secret_overrides: &BTreeMap<String, String>,
) -> Result<TaskFile, TaskError> {
    if docs.is_empty() {
        docs.push(Py::Dict(Vec::new()));
    }
    // A job group: a header whose `execution` is `parallel`, then at least one task.
    if docs.len() >= 2 && docs[0].get("execution").and_then(Py::as_str) == Some("parallel") {
        return Err(err(
            "This YAML is a SkyPilot job group (`execution: parallel`): its tasks run together as \
             one group, which hoist does not support yet. Run the tasks as separate `hoist launch` \
             calls, or as a pipeline (`execution: serial`, one task after another)."
                .into(),
        ));
    }
    if docs.iter().all(|d| !d.truthy()) {
        // Nothing at all: an empty task (it has nothing to run; the launcher says so).
        return Ok(TaskFile::Single(Task {
            num_nodes: 1,
            ..Task::default()
        }));
    }

    let header = hoist_fields::is_header(&docs[0]);
    let mut dag_name = None;
    let mut workflow = WorkflowHeader::default();
    let mut configs: Vec<Py> = docs;
    if header {
        let first = configs.remove(0);
        if let Some(execution) = first.get("execution").filter(|e| !matches!(e, Py::None))
            && execution.as_str() != Some("serial")
        {
            return Err(err(format!(
                "Invalid execution mode for pipeline: {}. Pipelines must use execution: serial \
                 (or omit it). Use execution: parallel for job groups.",
                execution.repr()
            )));
        }
        dag_name = first.get("name").map(Py::py_str);
        workflow = hoist_fields::header(&first)?;
        if configs.is_empty() {
            // A header alone still makes one task, named after it.
            configs.push(Py::Dict(vec![(
                Py::Str("name".into()),
                first.get("name").cloned().unwrap_or(Py::None),
            )]));
        }
    }

    let mut tasks = Vec::new();
    for config in &configs {
        if matches!(config, Py::None) {
            continue;
        }
        let mut task = from_config(config, tasks.len(), text, env_overrides, secret_overrides)?;
        task.workflow = workflow.clone();
        tasks.push(task);
    }
    if tasks.len() == 1 {
        // `sky launch` runs a one-task DAG as that task.
        if let Some(task) = tasks.pop() {
            return Ok(TaskFile::Single(task));
        }
    }
    Ok(TaskFile::Pipeline {
        name: dag_name,
        tasks,
    })
}

fn stringify(map: &[(Py, Py)]) -> Py {
    Py::Dict(
        map.iter()
            .map(|(k, v)| {
                let v = match v {
                    Py::None => Py::None,
                    other => Py::Str(other.py_str()),
                };
                (Py::Str(k.py_str()), v)
            })
            .collect(),
    )
}

fn set(d: &mut Vec<(Py, Py)>, key: &str, value: Py) {
    match d.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
        Some(slot) => slot.1 = value,
        None => d.push((Py::Str(key.into()), value)),
    }
}

fn string_map(v: Option<&Py>) -> Vec<(String, Option<String>)> {
    match v {
        Some(Py::Dict(d)) => d
            .iter()
            .map(|(k, v)| (k.py_str(), v.as_str().map(str::to_string)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Strip `secrets:` and a `personal.`/`workspace.`/`global.` scope: the variable's name.
fn secret_name(raw: &str) -> String {
    let raw = raw.strip_prefix("secrets:").unwrap_or(raw);
    for scope in ["personal.", "workspace.", "global."] {
        if let Some(name) = raw.strip_prefix(scope) {
            return name.to_string();
        }
    }
    raw.to_string()
}

/// One task document; `index` is its place among the file's tasks (for the default name in
/// messages).
fn from_config(
    config: &Py,
    index: usize,
    text: &str,
    env_overrides: &BTreeMap<String, String>,
    secret_overrides: &BTreeMap<String, String>,
) -> Result<Task, TaskError> {
    let mut d = match config {
        Py::Dict(d) => d.clone(),
        Py::Str(_) => {
            return Err(err(format!(
                "YAML loaded as str, not as dict. Is it correct? content:\n{text}"
            )));
        }
        other => {
            return Err(err(format!(
                "Invalid task YAML: {} is not of type 'dict'. Check problematic field(s): $",
                other.repr()
            )));
        }
    };

    // SkyPilot stringifies envs and secrets before validating, so `N: 3` is the string "3".
    if let Some(Py::Dict(envs)) = Py::Dict(d.clone()).get("envs") {
        let s = stringify(envs);
        set(&mut d, "envs", s);
    }
    match Py::Dict(d.clone()).get("secrets") {
        Some(Py::Dict(secrets)) => {
            let s = stringify(secrets);
            set(&mut d, "secrets", s);
        }
        Some(Py::List(items)) => {
            let s = Py::List(items.iter().map(|i| Py::Str(i.py_str())).collect());
            set(&mut d, "secrets", s);
        }
        _ => {}
    }
    let doc = Py::Dict(d);
    let subject = task_subject(
        &doc.get("name")
            .filter(|n| !matches!(n, Py::None))
            .map_or_else(|| default_task_name(index), Py::py_str),
    );
    // Before the schema, so that a header-only field in a task is pointed at the header
    // rather than called unsupported.
    let hoist = hoist_fields::task_fields(&doc, &subject)?;
    validate(&doc, &TASK_SCHEMA, "Invalid task YAML: ")?;
    let get = |k: &str| doc.get(k).filter(|v| !matches!(v, Py::None));

    // --env overrides YAML envs (and fills required ones); --secret likewise.
    let mut envs = string_map(get("envs"));
    for (k, v) in env_overrides {
        match envs.iter_mut().find(|(ek, _)| ek == k) {
            Some(slot) => slot.1 = Some(v.clone()),
            None => envs.push((k.clone(), Some(v.clone()))),
        }
    }
    let list_secrets: Option<Vec<String>> = match get("secrets") {
        Some(Py::List(items)) => Some(items.iter().map(Py::py_str).collect()),
        _ => None,
    };
    let mut secrets: Vec<(String, Option<String>)> = match &list_secrets {
        Some(items) => items.iter().map(|i| (i.clone(), None)).collect(),
        None => string_map(get("secrets")),
    };
    for (k, v) in secret_overrides {
        match secrets.iter_mut().find(|(sk, _)| sk == k) {
            Some(slot) => slot.1 = Some(v.clone()),
            None => secrets.push((k.clone(), Some(v.clone()))),
        }
    }

    for (k, v) in &envs {
        if v.is_none() {
            return Err(err(format!(
                "Environment variable {} is None. Please set a value for it in task YAML or with \
                 --env flag. To set it to be empty, use an empty string ({k}: \"\" in task YAML or \
                 --env {k}=\"\" in CLI).",
                str_repr(k)
            )));
        }
    }

    // Substitution sees envs, then inline secrets (null ones have no value yet).
    let mut vars: BTreeMap<String, String> = envs
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    for (k, v) in &secrets {
        if let Some(v) = v {
            vars.insert(k.clone(), v.clone());
        }
    }
    let file_mounts_raw = get("file_mounts")
        .map(|f| substitution::fill(f, &vars))
        .transpose()?;
    let service = get("service")
        .map(|s| substitution::fill(s, &vars))
        .transpose()?;
    let workdir_raw = get("workdir")
        .map(|w| substitution::fill(w, &vars))
        .transpose()?;
    let volumes = get("volumes")
        .map(|v| substitution::fill(v, &vars))
        .transpose()?;

    // Secrets: array items must be `secrets:NAME` references; dict keys with the prefix must
    // be null. Both become NAME → None unless --secret filled them.
    if let Some(items) = &list_secrets {
        for item in items {
            if !item.starts_with("secrets:") {
                return Err(err(format!(
                    "Invalid secret in array form: {}. Array items must use the secrets: prefix \
                     (e.g., secrets:HF_TOKEN). For inline secrets with values, use dict form: \
                     secrets: {{MY_SECRET: \"value\"}}",
                    str_repr(item)
                )));
            }
        }
    } else {
        for (k, v) in string_map(get("secrets")) {
            if k.starts_with("secrets:") && v.is_some() {
                return Err(err(format!(
                    "Invalid secret {}: secret references (secrets: prefix) must have a null \
                     value in dict form. To provide an inline secret value, remove the \
                     'secrets:' prefix.",
                    str_repr(&k)
                )));
            }
        }
    }
    let mut secret_map: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (k, v) in &secrets {
        let name = secret_name(k);
        let slot = secret_map.entry(name).or_insert(None);
        if v.is_some() {
            *slot = v.clone();
        }
    }

    // Docker login variables travel together, all in envs or all in (inline) secrets.
    let in_envs: Vec<&str> = DOCKER_LOGIN_VARS
        .iter()
        .copied()
        .filter(|n| envs.iter().any(|(k, _)| k == n))
        .collect();
    let in_secrets: Vec<&str> = DOCKER_LOGIN_VARS
        .iter()
        .copied()
        .filter(|n| secrets.iter().any(|(k, v)| k == n && v.is_some()))
        .collect();
    let list_repr = |names: &[&str]| {
        format!(
            "[{}]",
            names
                .iter()
                .map(|n| str_repr(n))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let missing = |present: &[&str]| -> Vec<&str> {
        DOCKER_LOGIN_VARS
            .iter()
            .copied()
            .filter(|n| !present.contains(n))
            .collect()
    };
    if !in_envs.is_empty() && !in_secrets.is_empty() {
        return Err(err(format!(
            "Docker login variables must be specified together either in envs OR secrets, not \
             split across both. Found in envs: {}, Found in secrets: {}",
            list_repr(&in_envs),
            list_repr(&in_secrets)
        )));
    }
    if !in_envs.is_empty() && in_envs.len() != 3 {
        return Err(err(format!(
            "Docker login variables must be specified together in envs. Missing from envs: {}",
            list_repr(&missing(&in_envs))
        )));
    }
    if !in_secrets.is_empty() && in_secrets.len() != 3 {
        return Err(err(format!(
            "Docker login variables must be specified together in secrets. Missing from secrets: {}",
            list_repr(&missing(&in_secrets))
        )));
    }

    let num_nodes = match get("num_nodes") {
        None => 1,
        Some(Py::Int(i)) => match i.parse::<i128>() {
            Ok(n) if n > 0 => u32::try_from(n).map_err(|_| {
                err(format!(
                    "num_nodes should be a positive int. Got: {i} (more than hoist can place)"
                ))
            })?,
            _ => {
                return Err(err(format!("num_nodes should be a positive int. Got: {i}")));
            }
        },
        Some(other) => {
            return Err(err(format!(
                "num_nodes should be a positive int. Got: {}",
                other.py_str()
            )));
        }
    };

    let workdir = match workdir_raw {
        Some(Py::Str(p)) => Some(Workdir::Path(p)),
        Some(w @ Py::Dict(_)) => Some(Workdir::Git {
            url: w.get("url").map(Py::py_str).unwrap_or_default(),
            reference: w
                .get("ref")
                .filter(|r| !matches!(r, Py::None))
                .map(Py::py_str),
        }),
        _ => None,
    };

    let mut file_mounts = BTreeMap::new();
    let mut storages = Vec::new();
    if let Some(Py::Dict(entries)) = &file_mounts_raw {
        for (dst, src) in entries {
            let dst = dst.py_str();
            match src {
                Py::Str(s) => {
                    file_mounts.insert(dst, FileMount::Source(s.clone()));
                }
                Py::Dict(_) if src.get("store").and_then(Py::as_str) == Some("volume") => {
                    file_mounts.insert(dst, storage::volume_entry(src));
                }
                Py::Dict(_) => storages.push((dst, src.clone())),
                other => {
                    return Err(err(format!(
                        "Unable to parse file_mount {dst}:{}",
                        other.py_str()
                    )));
                }
            }
        }
    }
    for (dst, src) in storages {
        file_mounts.insert(dst, storage::from_yaml(&src)?);
    }

    let config_field = get("config").cloned();
    let resources_raw = get("resources").cloned().unwrap_or(Py::Dict(Vec::new()));
    if resources_raw.get("hooks").is_some() {
        return Err(err(
            "Lifecycle hooks live under top-level `config.hooks:`, not `resources.hooks:`. Move \
             the list to `config.hooks` at the top level of the task YAML."
                .into(),
        ));
    }
    let resources = resources::from_yaml(&resources_raw)?;

    if service.is_some() && get("pool").is_some() {
        return Err(err(
            "Cannot set both service and pool in the same task.".into()
        ));
    }
    // A null-valued unknown key passes the schema; SkyPilot then trips on it as leftover.
    // `inputs`/`outputs` are only consumed when set.
    let mut read: Vec<&str> = vec![
        "name",
        "run",
        "workdir",
        "setup",
        "num_nodes",
        "envs",
        "secrets",
        "volumes",
        "event_callback",
        "api_server_access",
        "file_mounts_mapping",
        "_metadata",
        "managed_secrets",
        "file_mounts",
        "config",
        "resources",
        "service",
        "pool",
        "volume_mounts",
    ];
    read.extend(TASK_KEYS);
    for k in ["inputs", "outputs"] {
        if get(k).is_some() {
            read.push(k);
        }
    }
    if let Py::Dict(entries) = &doc
        && let Some(keys) = super::pyvalue::leftover_keys(entries, &read)
    {
        return Err(err(format!("Invalid task args: {keys}")));
    }

    Ok(Task {
        name: get("name").map(Py::py_str),
        workdir,
        num_nodes,
        resources,
        envs: envs.into_iter().collect(),
        secrets: secret_map,
        file_mounts,
        setup: get("setup").map(Py::py_str),
        run: get("run").map(Py::py_str),
        config: config_field.map(|c| c.to_json()),
        volumes: volumes.map(|v| v.to_json()),
        event_callback: get("event_callback").map(Py::py_str),
        service: service.is_some(),
        hoist,
        workflow: WorkflowHeader::default(),
    })
}
