//! Loader-level unit tests: one per rule of the load order.

use super::*;

fn none() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn single(text: &str) -> Task {
    match load(text, "task.yaml", &none(), &none()) {
        Ok(TaskFile::Single(t)) => t,
        other => panic!("expected one task, got {other:?}"),
    }
}

fn fails(text: &str) -> String {
    load(text, "task.yaml", &none(), &none())
        .expect_err("should fail")
        .message
}

#[test]
fn envs_are_stringified_like_python() {
    let t = single(
        "envs:\n  N: 3\n  F: 1.5\n  E: 1e-6\n  B: true\n  Y: yes\n  O: off\n  S: hi\n  Z: ''\nrun: x\n",
    );
    let get = |k: &str| t.envs.get(k).cloned().flatten();
    assert_eq!(get("N").as_deref(), Some("3"));
    assert_eq!(get("F").as_deref(), Some("1.5"));
    assert_eq!(get("E").as_deref(), Some("1e-6"));
    assert_eq!(get("B").as_deref(), Some("True"));
    assert_eq!(get("Y").as_deref(), Some("True"));
    assert_eq!(get("O").as_deref(), Some("False"));
    assert_eq!(get("S").as_deref(), Some("hi"));
    assert_eq!(get("Z").as_deref(), Some(""));
}

#[test]
fn required_env_must_be_filled() {
    assert_eq!(
        fails("envs:\n  HF_TOKEN:\nrun: x\n"),
        "Environment variable 'HF_TOKEN' is None. Please set a value for it in task YAML or with \
         --env flag. To set it to be empty, use an empty string (HF_TOKEN: \"\" in task YAML or \
         --env HF_TOKEN=\"\" in CLI)."
    );
    let mut env = BTreeMap::new();
    env.insert("HF_TOKEN".to_string(), "abc".to_string());
    let Ok(TaskFile::Single(t)) = load("envs:\n  HF_TOKEN:\nrun: x\n", "t", &env, &none()) else {
        panic!("override should fill it");
    };
    assert_eq!(t.envs.get("HF_TOKEN"), Some(&Some("abc".to_string())));
}

#[test]
fn env_keys_must_be_identifiers() {
    assert_eq!(
        fails("envs:\n  bad key: 1\n"),
        "Invalid task YAML: The `envs` field contains invalid keys:\n'bad key' does not match any \
         of the regexes: '^[a-zA-Z_][a-zA-Z0-9_]*$'"
    );
}

#[test]
fn unknown_top_level_fields() {
    assert_eq!(
        fails("runn: x\n"),
        "Invalid task YAML: Instead of 'runn', did you mean 'run'?"
    );
    assert_eq!(
        fails("foo: x\n"),
        "Invalid task YAML: Found unsupported field 'foo'."
    );
    assert_eq!(
        fails("setpu: x\nenvss: {}\nfoo: 1\n"),
        "Invalid task YAML: Instead of 'setpu', did you mean 'setup'? Instead of 'envss', did you \
         mean 'envs'? Found unsupported field 'foo'."
    );
    assert!(task::task_fields().contains(&"run"));
}

#[test]
fn type_errors() {
    assert_eq!(
        fails("num_nodes: '2'\n"),
        "Invalid task YAML: '2' is not of type 'integer'. Check problematic field(s): $.num_nodes"
    );
    assert_eq!(
        fails("setup: [a, b]\n"),
        "Invalid task YAML: ['a', 'b'] is not of type 'string'. Check problematic field(s): $.setup"
    );
    assert_eq!(
        fails("num_nodes: 0\n"),
        "num_nodes should be a positive int. Got: 0"
    );
    assert_eq!(
        fails("resources: [a]\n"),
        "Invalid task YAML: ['a'] is not of type 'dict'. Check problematic field(s): $.resources"
    );
}

#[test]
fn secrets_both_forms() {
    let t = single("secrets:\n  - secrets:HF_TOKEN\n  - secrets:workspace.WANDB\nrun: x\n");
    assert_eq!(t.secrets.get("HF_TOKEN"), Some(&None));
    assert_eq!(t.secrets.get("WANDB"), Some(&None));
    let t = single("secrets:\n  API_KEY: abc\n  OTHER:\nrun: x\n");
    assert_eq!(t.secrets.get("API_KEY"), Some(&Some("abc".into())));
    assert_eq!(t.secrets.get("OTHER"), Some(&None));
    assert_eq!(
        fails("secrets:\n  - HF_TOKEN\n"),
        "Invalid secret in array form: 'HF_TOKEN'. Array items must use the secrets: prefix \
         (e.g., secrets:HF_TOKEN). For inline secrets with values, use dict form: secrets: \
         {MY_SECRET: \"value\"}"
    );
}

#[test]
fn substitution_reaches_mounts_and_workdir_only() {
    let t = single(
        "envs:\n  SIZE: 13b\n  IMG: ubuntu\nworkdir: ./w-$SIZE\nfile_mounts:\n  /ckpt/${SIZE}: s3://b/$SIZE\n  \
         /data:\n    name: bucket-$SIZE\n    mode: COPY\nresources:\n  image_id: docker:$IMG\nrun: echo $SIZE\n",
    );
    assert_eq!(t.workdir, Some(Workdir::Path("./w-13b".into())));
    assert_eq!(
        t.file_mounts.get("/ckpt/13b"),
        Some(&FileMount::Source("s3://b/13b".into()))
    );
    assert!(matches!(
        t.file_mounts.get("/data"),
        Some(FileMount::Storage { name: Some(n), mode: StorageMode::Copy, .. }) if n == "bucket-13b"
    ));
    assert_eq!(t.run.as_deref(), Some("echo $SIZE"));
    assert_eq!(t.resources.image_id, Some(ImageId::Docker("$IMG".into())));
}

#[test]
fn documents_pipelines_and_job_groups() {
    let empty = load("", "t", &none(), &none()).expect("empty");
    assert!(matches!(empty, TaskFile::Single(ref t) if t.num_nodes == 1 && t.run.is_none()));
    let p = load(
        "name: pipe\n---\nrun: a\n---\nrun: b\n",
        "t",
        &none(),
        &none(),
    )
    .expect("ok");
    assert!(
        matches!(p, TaskFile::Pipeline { name: Some(ref n), ref tasks } if n == "pipe" && tasks.len() == 2)
    );
    let p = load("run: a\n---\nrun: b\n", "t", &none(), &none()).expect("ok");
    assert!(matches!(p, TaskFile::Pipeline { name: None, ref tasks } if tasks.len() == 2));
    let one = load("name: only\n", "t", &none(), &none()).expect("ok");
    assert!(matches!(one, TaskFile::Single(ref t) if t.name.as_deref() == Some("only")));
    let e = fails("name: g\nexecution: parallel\n---\nname: a\nrun: x\n");
    assert!(e.contains("job group") && e.contains("not support"), "{e}");
    assert!(
        fails("name: p\nexecution: fast\n---\nrun: a\n")
            .starts_with("Invalid execution mode for pipeline: 'fast'.")
    );
    assert!(
        fails("just a string\n")
            .starts_with("YAML loaded as str, not as dict. Is it correct? content:\njust a string")
    );
}

#[test]
fn names_and_mount_paths_at_launch() {
    let t = single("name: bad name!\nrun: x\n");
    assert!(
        validate_names(&t)
            .expect_err("bad")
            .message
            .starts_with("Invalid task name bad name!.")
    );
    let t = single("file_mounts:\n  /a/: /tmp\n");
    assert_eq!(
        validate_names(&t).expect_err("slash").message,
        "Mount paths cannot end with a slash Found: /a/ in file_mounts./a/: /tmp"
    );
    let t = single("workdir: .\nfile_mounts:\n  ~/sky_workdir: /tmp\n");
    assert!(validate_names(&t).is_err());
    let t = single("name: my-task_1.v2\nfile_mounts:\n  /a: /tmp\n");
    assert!(validate_names(&t).is_ok());
}

#[test]
fn docker_login_vars_travel_together() {
    assert_eq!(
        fails("envs:\n  SKYPILOT_DOCKER_USERNAME: u\n"),
        "Docker login variables must be specified together in envs. Missing from envs: \
         ['SKYPILOT_DOCKER_PASSWORD', 'SKYPILOT_DOCKER_SERVER']"
    );
}

#[test]
fn pipelines_share_env_overrides() {
    let mut env = BTreeMap::new();
    env.insert("A".to_string(), "1".to_string());
    let Ok(TaskFile::Pipeline { tasks, .. }) =
        load("envs: {A:}\nrun: a\n---\nrun: b\n", "t", &env, &none())
    else {
        panic!("pipeline");
    };
    assert!(
        tasks
            .iter()
            .all(|t| t.envs.get("A") == Some(&Some("1".into())))
    );
}

#[test]
fn null_unknown_keys_are_left_over() {
    // The schema skips null values; SkyPilot then finds the key unread.
    assert_eq!(
        fails("setpu:\nfoo:\nrun: x\n"),
        "Invalid task args: dict_keys(['setpu', 'foo'])"
    );
    assert_eq!(
        fails("resources:\n  foo:\n  cpus: 2\n"),
        "Invalid resource args: dict_keys(['foo'])"
    );
    assert_eq!(
        fails("file_mounts:\n  /d:\n    name: x\n    foo:\n"),
        "Invalid storage args: dict_keys(['foo'])"
    );
}

#[test]
fn any_of_entries_pinning_a_public_cloud_are_cloud_only() {
    let t =
        single("resources:\n  any_of:\n    - infra: k8s\n    - infra: aws\n      use_spot: true\n");
    assert_eq!(
        t.resources.cloud_only,
        [
            "resources.any_of[1].use_spot",
            "resources.any_of[1].infra (aws)"
        ]
    );
}
