//! Snapshot tests of the loader: one fixture per case under `tests/fixtures/`.
//!
//! `invalid/`: each file must fail with exactly the message SkyPilot 0.14.1 prints for it (the
//! expected strings were produced by running `sky.utils.dag_utils.load_chain_dag_from_yaml`
//! from the 0.14.1 wheel on the same files), except the few cases where hoist words its own
//! message, which are checked separately below.
//! `valid/`: tasks written in SkyPilot's documented style; each must load, with the fields the
//! launcher relies on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hoist_task::schema::{
    Accelerator, FileMount, ImageId, StorageMode, Task, TaskFile, Workdir, load, validate_names,
};

fn fixture(kind: &str, name: &str) -> (String, String) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", kind, name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    (text, format!("{kind}/{name}"))
}

fn no_overrides() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn error_of(name: &str) -> hoist_task::schema::TaskError {
    let (text, path) = fixture("invalid", &format!("{name}.yaml"));
    match load(&text, &path, &no_overrides(), &no_overrides()) {
        Err(e) => e,
        Ok(t) => panic!("{name} should not load, got {t:?}"),
    }
}

fn task_of(name: &str, envs: &[(&str, &str)]) -> Task {
    match file_of(name, envs) {
        TaskFile::Single(t) => t,
        other => panic!("{name}: expected one task, got {other:?}"),
    }
}

fn file_of(name: &str, envs: &[(&str, &str)]) -> TaskFile {
    let (text, path) = fixture("valid", &format!("{name}.yaml"));
    let envs: BTreeMap<String, String> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&text, &path, &envs, &no_overrides())
        .unwrap_or_else(|e| panic!("{name} should load: {}", e.message))
}

fn acc(name: &str, count: f64) -> Accelerator {
    Accelerator {
        name: name.to_string(),
        count,
    }
}

/// (fixture under `invalid/`, SkyPilot 0.14.1's message for it).
const SKYPILOT_MESSAGES: &[(&str, &str)] = &[
    (
        "accelerators_bad_count",
        "The \"accelerators\" field as a str should be <name> or <name>:<cnt>. Found: 'A100:x'",
    ),
    (
        "accelerators_list_of_mappings",
        "Invalid resources YAML: {'T4': 1} is not of type 'string'. Check problematic field(s): $.accelerators[0]",
    ),
    (
        "accelerators_zero_count",
        "Accelerator count must be a positive number. Got: 'A100': 0.",
    ),
    (
        "any_of_and_ordered",
        "Cannot specify both \"any_of\" and \"ordered\" in resources.",
    ),
    (
        "cpus_not_a_number",
        "The \"cpus\" field should be either a number or a string \"<number>+\". Found: 'lots'",
    ),
    (
        "disk_size_fraction",
        "\"disk_size\" field should be a number (e.g. \"16\") or \"<number><unit>\" where unit is one of KB/MB/GB/TB/PB (e.g. \"16GB\"). Got: '512MB'",
    ),
    (
        "docker_login_partial",
        "Docker login variables must be specified together in envs. Missing from envs: ['SKYPILOT_DOCKER_PASSWORD', 'SKYPILOT_DOCKER_SERVER']",
    ),
    (
        "duplicate_key",
        "Duplicate key 'run' in YAML at line 5 (also defined at line 4). Remove one of the entries so the intended value is unambiguous.",
    ),
    (
        "env_required",
        "Environment variable 'HF_TOKEN' is None. Please set a value for it in task YAML or with --env flag. To set it to be empty, use an empty string (HF_TOKEN: \"\" in task YAML or --env HF_TOKEN=\"\" in CLI).",
    ),
    (
        "envs_bad_key",
        "Invalid task YAML: The `envs` field contains invalid keys:\n'bad key' does not match any of the regexes: '^[a-zA-Z_][a-zA-Z0-9_]*$'",
    ),
    (
        "file_mount_unparsable",
        "Unable to parse file_mount /data:5",
    ),
    (
        "gpus_and_accelerators",
        "Cannot specify both gpus and accelerators in config.",
    ),
    (
        "image_id_docker_conflict",
        "image_id has both a 'docker' key and docker:-prefixed region values: docker:pytorch/pytorch (region: us-east-1). Please use only one mechanism to specify the Docker image.",
    ),
    (
        "infra_and_cloud",
        "Cannot specify both `infra` and `cloud`, `region`, or `zone` parameters. Got: infra=aws, cloud=AWS, region=None, zone=None",
    ),
    (
        "memory_zero",
        "The \"memory\" field should be positive. Found: '0'",
    ),
    (
        "num_nodes_negative",
        "num_nodes should be a positive int. Got: -1",
    ),
    (
        "num_nodes_string",
        "Invalid task YAML: '2' is not of type 'integer'. Check problematic field(s): $.num_nodes",
    ),
    (
        "num_nodes_zero",
        "num_nodes should be a positive int. Got: 0",
    ),
    (
        "pipeline_bad_execution",
        "Invalid execution mode for pipeline: 'fast'. Pipelines must use execution: serial (or omit it). Use execution: parallel for job groups.",
    ),
    (
        "ports_out_of_range",
        "Invalid port 70000. Please use a port number between 1 and 65535.",
    ),
    (
        "resources_hooks",
        "Lifecycle hooks live under top-level `config.hooks:`, not `resources.hooks:`. Move the list to `config.hooks` at the top level of the task YAML.",
    ),
    (
        "secret_reference_with_value",
        "Invalid secret 'secrets:HF_TOKEN': secret references (secrets: prefix) must have a null value in dict form. To provide an inline secret value, remove the 'secrets:' prefix.",
    ),
    (
        "secrets_list_unprefixed",
        "Invalid secret in array form: 'HF_TOKEN'. Array items must use the secrets: prefix (e.g., secrets:HF_TOKEN). For inline secrets with values, use dict form: secrets: {MY_SECRET: \"value\"}",
    ),
    (
        "setup_list",
        "Invalid task YAML: ['a', 'b'] is not of type 'string'. Check problematic field(s): $.setup",
    ),
    (
        "storage_mode_enum",
        "Invalid storage YAML: 'SYNC' is not one of ['MOUNT', 'COPY', 'MOUNT_CACHED']. Check problematic field(s): $.mode",
    ),
    (
        "unknown_field_close",
        "Invalid task YAML: Instead of 'runn', did you mean 'run'?",
    ),
    (
        "unknown_field_none",
        "Invalid task YAML: Found unsupported field 'foo'.",
    ),
    (
        "unknown_fields_several",
        "Invalid task YAML: Instead of 'setpu', did you mean 'setup'? Instead of 'envss', did you mean 'envs'? Found unsupported field 'foo'.",
    ),
    (
        "unknown_resources_field_close",
        "Invalid resources YAML: Instead of 'accelerator', did you mean 'accelerators'?",
    ),
    (
        "unknown_resources_field_none",
        "Invalid resources YAML: Found unsupported field 'gpu_type'.",
    ),
    (
        "unknown_storage_field",
        "Invalid storage YAML: Instead of 'moed', did you mean 'mode'?",
    ),
    (
        "workdir_extra_key",
        "Invalid task YAML: Additional properties are not allowed ('branch' was unexpected). Check problematic field(s): $.workdir",
    ),
];

#[test]
fn invalid_fixtures_fail_with_skypilots_messages() {
    for (name, expected) in SKYPILOT_MESSAGES {
        assert_eq!(error_of(name).message, *expected, "fixture {name}");
    }
}

#[test]
fn every_invalid_fixture_is_checked() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "invalid"]
        .iter()
        .collect();
    let own = ["yaml_syntax", "plain_string", "job_group"];
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            own.contains(&stem.as_str()) || SKYPILOT_MESSAGES.iter().any(|(n, _)| *n == stem),
            "fixture {stem} has no expected message"
        );
        count += 1;
    }
    assert!(count >= 20, "only {count} invalid fixtures");
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let e = error_of("yaml_syntax");
    assert_eq!(
        e.message,
        "unclosed bracket '['\n  in \"invalid/yaml_syntax.yaml\", line 2, column 6"
    );
    assert_eq!((e.line, e.column), (Some(2), Some(6)));
}

#[test]
fn duplicate_key_points_at_the_second_line() {
    let e = error_of("duplicate_key");
    assert_eq!(e.line, Some(5));
}

#[test]
fn plain_string_document() {
    assert_eq!(
        error_of("plain_string").message,
        "YAML loaded as str, not as dict. Is it correct? content:\npython train.py --epochs 3\n"
    );
}

#[test]
fn job_groups_are_refused() {
    assert_eq!(
        error_of("job_group").message,
        "This YAML is a SkyPilot job group (`execution: parallel`): its tasks run together as one \
         group, which hoist does not support yet. Run the tasks as separate `hoist launch` calls, \
         or as a pipeline (`execution: serial`, one task after another)."
    );
}

#[test]
fn minimal() {
    let t = task_of("minimal", &[]);
    assert_eq!(t.resources.accelerators, [acc("L4", 1.0)]);
    assert_eq!(t.workdir, Some(Workdir::Path(".".into())));
    assert_eq!(t.num_nodes, 1);
    assert_eq!(t.setup.as_deref(), Some("echo \"Running setup.\"\n"));
    assert_eq!(
        t.run.as_deref(),
        Some("echo \"Hello, SkyPilot!\"\nconda env list\n")
    );
    assert!(t.resources.cloud_only.is_empty());
    assert!(validate_names(&t).is_ok());
}

#[test]
fn docker_image() {
    let t = task_of("docker_image", &[]);
    assert_eq!(
        t.resources.image_id,
        Some(ImageId::Docker("nvcr.io/nvidia/pytorch:24.07-py3".into()))
    );
    assert_eq!(t.resources.cpus.as_deref(), Some("8+"));
    assert_eq!(t.resources.memory.as_deref(), Some("32+"));
    assert_eq!(t.resources.disk_size, None, "256 GB is the default");
    assert!(t.resources.cloud_only.is_empty());
}

#[test]
fn distributed_torchrun() {
    let t = task_of("distributed_torchrun", &[]);
    assert_eq!(t.num_nodes, 2);
    assert_eq!(t.resources.accelerators, [acc("H100", 8.0)]);
    let run = t.run.unwrap_or_default();
    // setup/run are never substituted: bash expands them on the node.
    assert!(run.contains("--node_rank=${SKYPILOT_NODE_RANK}"), "{run}");
}

#[test]
fn envs_required_and_override() {
    let (text, path) = fixture("valid", "envs_required_override.yaml");
    let e = load(&text, &path, &no_overrides(), &no_overrides()).expect_err("HF_TOKEN unset");
    assert!(
        e.message
            .starts_with("Environment variable 'HF_TOKEN' is None.")
    );
    let t = task_of(
        "envs_required_override",
        &[("HF_TOKEN", "hf_abc"), ("EPOCHS", "5")],
    );
    let env = |k: &str| t.envs.get(k).cloned().flatten();
    assert_eq!(env("HF_TOKEN").as_deref(), Some("hf_abc"));
    assert_eq!(env("EPOCHS").as_deref(), Some("5"));
    assert_eq!(env("LR").as_deref(), Some("2e-05"));
    assert_eq!(env("USE_LORA").as_deref(), Some("True"));
    assert_eq!(
        env("MODEL_NAME").as_deref(),
        Some("meta-llama/Llama-3.1-8B")
    );
}

#[test]
fn file_mounts_with_buckets_and_storage() {
    let t = task_of("file_mounts_storage", &[]);
    let fm = &t.file_mounts;
    assert_eq!(
        fm.get("/datasets/imagenet"),
        Some(&FileMount::Source("s3://my-datasets/imagenet".into()))
    );
    assert_eq!(
        fm.get("~/.netrc"),
        Some(&FileMount::Source("~/.netrc".into()))
    );
    assert_eq!(
        fm.get("/checkpoint/13b"),
        Some(&FileMount::Source("gs://my-checkpoints/llama-13b".into()))
    );
    assert_eq!(
        fm.get("/outputs"),
        Some(&FileMount::Storage {
            name: Some("my-datasets-outputs".into()),
            source: None,
            store: Some("S3".into()),
            mode: StorageMode::Mount,
        })
    );
    assert_eq!(
        fm.get("/code"),
        Some(&FileMount::Storage {
            name: Some("my-code-bucket".into()),
            source: Some("./src".into()),
            store: None,
            mode: StorageMode::Copy,
        })
    );
    assert!(
        t.run
            .unwrap_or_default()
            .contains("/checkpoint/$MODEL_SIZE")
    );
}

#[test]
fn accelerators_in_each_form() {
    let accs = |name: &str| task_of(name, &[]).resources.accelerators;
    assert_eq!(accs("accelerators_string"), [acc("V100", 4.0)]);
    assert_eq!(accs("accelerators_mapping"), [acc("A100", 8.0)]);
    assert_eq!(
        accs("accelerators_set"),
        [acc("L4", 1.0), acc("A10g", 1.0), acc("A100", 1.0)]
    );
    assert_eq!(
        accs("accelerators_list"),
        [acc("H100", 8.0), acc("A100-80GB", 8.0), acc("A100", 8.0)]
    );
    assert_eq!(accs("accelerators_fractional"), [acc("T4", 0.5)]);
    assert_eq!(
        accs("resources_any_of"),
        [acc("A100", 8.0), acc("H100", 8.0)]
    );
    assert_eq!(
        accs("resources_ordered"),
        [acc("H100", 8.0), acc("A100", 8.0)]
    );
}

#[test]
fn any_of_keeps_base_fields() {
    let r = task_of("resources_any_of", &[]).resources;
    assert_eq!(r.labels.get("team").map(String::as_str), Some("research"));
    assert!(r.cloud_only.is_empty(), "{:?}", r.cloud_only);
}

#[test]
fn pipeline_with_header() {
    let TaskFile::Pipeline { name, tasks } = file_of("pipeline_header", &[("X", "1")]) else {
        panic!("a pipeline");
    };
    assert_eq!(name.as_deref(), Some("train-then-eval"));
    let names: Vec<_> = tasks
        .iter()
        .map(|t| t.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(names, ["train", "eval"]);
    assert!(
        tasks
            .iter()
            .all(|t| t.envs.get("X") == Some(&Some("1".into())))
    );
    assert_eq!(tasks[1].resources.memory.as_deref(), Some("16+"));
}

#[test]
fn secrets_in_both_forms() {
    let t = task_of("secrets_dict", &[]);
    assert_eq!(
        t.secrets.get("WANDB_API_KEY"),
        Some(&Some("my-inline-key".into()))
    );
    assert_eq!(t.secrets.get("HF_TOKEN"), Some(&None));
    let t = task_of("secrets_list", &[]);
    assert_eq!(t.secrets.get("HF_TOKEN"), Some(&None));
    assert_eq!(t.secrets.get("WANDB_API_KEY"), Some(&None));
    let (text, path) = fixture("valid", "secrets_list.yaml");
    let mut secrets = BTreeMap::new();
    secrets.insert("HF_TOKEN".to_string(), "hf_x".to_string());
    let Ok(TaskFile::Single(t)) = load(&text, &path, &no_overrides(), &secrets) else {
        panic!("loads with --secret");
    };
    assert_eq!(t.secrets.get("HF_TOKEN"), Some(&Some("hf_x".into())));
}

#[test]
fn kubernetes_task() {
    let t = task_of("kubernetes_config", &[]);
    let r = &t.resources;
    assert_eq!(r.infra.as_deref(), Some("k8s/my-context"));
    assert_eq!(r.cloud.as_deref(), Some("kubernetes"));
    assert_eq!(r.region.as_deref(), Some("my-context"));
    assert_eq!(r.image_id, Some(ImageId::Docker("ubuntu:22.04".into())));
    assert_eq!(r.memory.as_deref(), Some("8.0"));
    assert_eq!(r.ports, ["8080", "9000-9002"]);
    let config = t.config.unwrap_or_default();
    assert_eq!(
        config["kubernetes"]["pod_config"]["spec"]["tolerations"][0]["key"],
        "gpu"
    );
}

/// The loader benchmark's input: a 200-line task must load, completely.
#[test]
fn two_hundred_line_task() {
    let (text, _) = fixture("valid", "big_task.yaml");
    assert!(text.lines().count() >= 200);
    let t = task_of("big_task", &[]);
    assert_eq!(t.num_nodes, 4);
    assert_eq!(t.envs.len(), 60);
    assert_eq!(t.file_mounts.len(), 30);
    assert_eq!(
        t.file_mounts.get("/data/shard7"),
        Some(&FileMount::Source("s3://bucket-value-7/shard7".into()))
    );
    assert_eq!(t.resources.disk_size, Some(1024));
    assert_eq!(t.resources.labels.len(), 10);
    assert_eq!(
        t.resources.accelerators,
        [acc("H100", 8.0), acc("A100", 8.0)]
    );
}
