//! Workflow files end to end through the loader: one fixture per case under
//! `tests/fixtures/workflow/`. `invalid/`: each fails with exactly the message below (exit 2 in
//! the CLI), naming the task and the field. `valid/`: each loads into the DAG, jobs and
//! substitutions asserted here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hoist_task::schema::{FileMount, TaskFile, load};
use hoist_task::workflow::{MatrixCell, Workflow, job_name, workflow};

fn fixture(kind: &str, name: &str) -> (String, String) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "workflow",
        kind,
        name,
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    (text, format!("workflow/{kind}/{name}"))
}

fn loaded(kind: &str, name: &str) -> Result<Workflow, String> {
    let (text, path) = fixture(kind, &format!("{name}.yaml"));
    load(&text, &path, &BTreeMap::new(), &BTreeMap::new())
        .and_then(|f: TaskFile| workflow(&f))
        .map_err(|e| e.message)
}

fn valid(name: &str) -> Workflow {
    loaded("valid", name).unwrap_or_else(|e| panic!("{name} should load: {e}"))
}

fn cell(pairs: &[(&str, &str)]) -> MatrixCell {
    MatrixCell::of(pairs.iter().copied())
}

/// (fixture under `invalid/`, its message).
const MESSAGES: &[(&str, &str)] = &[
    (
        "duplicate_task_names",
        "task 'step': name: tasks 0 and 1 are both named 'step'; needs and ${{ needs.TASK.results }} refer to tasks by name, so names must be unique. Rename one.",
    ),
    (
        "header_max_parallel",
        "workflow header: max_parallel: must be a whole number of jobs, at least 1; got -1. Write e.g. max_parallel: 2, or remove it for no bound.",
    ),
    (
        "hook_in_task",
        "task 'a': on_complete: belongs to the workflow, not to one task: put it in the header document (the first document, next to the workflow's name, followed by ---).",
    ),
    (
        "matrix_bad_key",
        "task 'sweep': matrix: 'learning-rate' is not a valid environment variable name (letters, digits and _, not starting with a digit); each matrix key becomes one. Rename it, e.g. LR or lr.",
    ),
    (
        "matrix_empty",
        "task 'sweep': matrix: is empty. Give each key its values, e.g. matrix: {lr: [0.1, 0.01]}, or remove matrix.",
    ),
    (
        "matrix_key_no_values",
        "task 'sweep': matrix.bs: has no values. List at least one, e.g. bs: [a, b], or remove the key.",
    ),
    (
        "max_parallel_zero",
        "task 'sweep': max_parallel: must be a whole number of jobs, at least 1; got 0. Write e.g. max_parallel: 2, or remove it for no bound.",
    ),
    (
        "needs_cycle",
        "task 'a': needs: a cycle: a -> c -> b -> a (each needs the next), so none of them could ever start. Remove one of these needs.",
    ),
    (
        "needs_unknown",
        "task 'eval': needs: no task is named 'trian' (did you mean 'train'?). The file's tasks: train, eval.",
    ),
    (
        "ref_malformed",
        "task 'eval': envs.CKPT: malformed reference ${{ needs.train.outputs }}: it must end in .results (an upstream job's results location); write ${{ needs.TASK.results }}, or ${{ needs.TASK[KEY=VALUE,...].results }} for one job of a matrix task.",
    ),
    (
        "ref_needs_selector",
        "task 'eval': file_mounts./ckpt: ${{ needs.train.results }}: 'train' runs 2 matrix jobs; pick one with [KEY=VALUE], e.g. ${{ needs.train[lr=0.1].results }}.",
    ),
    (
        "ref_not_upstream",
        "task 'eval': run: ${{ needs.train.results }}: 'train' is not upstream of 'eval' (it needs no task), so its results may not exist when 'eval' runs. Add 'train' to the needs of 'eval'.",
    ),
    (
        "ref_selector_no_job",
        "task 'eval': run: ${{ needs.train[lr=0.5].results }}: lr=0.5 is not a value 'train' runs (lr: 0.1, 0.01).",
    ),
];

#[test]
fn invalid_fixtures_fail_naming_task_and_field() {
    for (name, expected) in MESSAGES {
        match loaded("invalid", name) {
            Err(got) => assert_eq!(got, *expected, "fixture {name}"),
            Ok(w) => panic!("{name} should fail, got {w:?}"),
        }
    }
}

#[test]
fn every_invalid_fixture_is_checked() {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "workflow",
        "invalid",
    ]
    .iter()
    .collect();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert!(
            MESSAGES.iter().any(|(n, _)| *n == stem),
            "fixture {stem} has no expected message"
        );
        count += 1;
    }
    assert_eq!(count, MESSAGES.len());
}

fn results(task: &str, c: &MatrixCell) -> Option<String> {
    Some(format!("s3://bucket/results/{}", job_name(task, c)))
}

#[test]
fn a_dag_across_platforms() {
    let w = valid("dag_across_platforms");
    assert_eq!(w.name.as_deref(), Some("prepare-train-eval"));
    assert!(
        w.on_complete
            .as_ref()
            .and_then(|h| h.command.as_deref())
            .is_some_and(|c| c.contains("all done"))
    );
    assert!(w.on_failure.is_some());
    assert_eq!(w.max_parallel, Some(8));
    let order: Vec<&str> = w.in_order().map(|t| t.name.as_str()).collect();
    assert_eq!(order, ["prepare", "train", "eval"]);
    let train = w.get("train").expect("train");
    assert_eq!((train.cells.len(), train.max_parallel), (4, Some(2)));
    assert_eq!(train.task.resources.cloud.as_deref(), Some("slurm"));
    assert_eq!(w.jobs().count(), 1 + 4 + 2);

    let job = cell(&[("bs", "16"), ("lr", "0.01")]);
    let t = w.render("train", &job, &results).expect("train job");
    assert_eq!(
        t.run.as_deref(),
        Some("python train.py --data \"$DATA\" --lr 0.01 --bs 16\n")
    );
    assert_eq!(
        t.envs.get("DATA"),
        Some(&Some("s3://bucket/results/prepare/data".into()))
    );
    assert_eq!(
        t.file_mounts.get("/data"),
        Some(&FileMount::Source(
            "s3://bucket/results/prepare/data".into()
        ))
    );
    assert_eq!(t.envs.get("bs"), Some(&Some("16".into())));

    let e = w
        .render("eval", &cell(&[("lr", "0.01")]), &results)
        .expect("eval job");
    assert_eq!(
        e.envs.get("CKPT"),
        Some(&Some("s3://bucket/results/train[bs=16,lr=0.01]".into())),
        "each eval job reads its own train job"
    );
    assert_eq!(
        e.run.as_deref(),
        Some(
            "python eval.py --ckpt \"$CKPT\" --baseline 's3://bucket/results/train[bs=8,lr=0.1]'\n"
        )
    );
    assert_eq!(
        w.reads("eval", &cell(&[("lr", "0.1")])).expect("reads"),
        [
            ("train".to_string(), cell(&[("bs", "8"), ("lr", "0.1")])),
            ("train".to_string(), cell(&[("bs", "16"), ("lr", "0.1")])),
        ]
    );
    assert_eq!(w.downstream("prepare").len(), 2);
}

#[test]
fn a_sweep_with_include_and_exclude() {
    let w = valid("sweep_include_exclude");
    let t = &w.tasks[0];
    let labels: Vec<String> = t.cells.iter().map(MatrixCell::label).collect();
    assert_eq!(
        labels,
        [
            "lr=0.1,model=small",
            "lr=0.01,model=small",
            "gpus=8,lr=0.01,model=large",
            "lr=1,model=tiny",
        ]
    );
    assert_eq!(t.max_parallel, Some(2));
    let job = w
        .render("sweep", &t.cells[3], &|_, _| None)
        .expect("no references");
    assert_eq!(
        job.run.as_deref(),
        Some("python train.py --model tiny --lr 1")
    );
}

#[test]
fn a_pipeline_without_needs_runs_in_file_order() {
    let w = valid("pipeline_in_file_order");
    let needs: Vec<(&str, Vec<String>)> = w
        .in_order()
        .map(|t| (t.name.as_str(), t.needs.clone()))
        .collect();
    assert_eq!(
        needs,
        [
            ("fetch", vec![]),
            ("task-1", vec!["fetch".to_string()]),
            ("report", vec!["task-1".to_string()]),
        ]
    );
    // `fetch` is upstream of `report` through the unnamed task.
    let r = w
        .render("report", &MatrixCell::default(), &results)
        .expect("report");
    assert_eq!(r.run.as_deref(), Some("echo s3://bucket/results/fetch"));
}

#[test]
fn a_fan_in() {
    let w = valid("fan_in");
    let order: Vec<&str> = w.in_order().map(|t| t.name.as_str()).collect();
    assert_eq!(order, ["a", "b", "join"]);
    assert_eq!(
        w.get("join").map(|t| t.needs.clone()),
        Some(vec!["b".into(), "a".into()])
    );
    assert!(w.get("a").is_some_and(|t| t.needs.is_empty()));
    assert_eq!(w.downstream("a").into_iter().collect::<Vec<_>>(), ["join"]);
}
