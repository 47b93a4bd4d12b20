//! Workflow unit tests: hoist's fields at load, the DAG, matrices, references, substitution.

use super::*;
use crate::schema::{HoistFields, load};

fn none() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn file(text: &str) -> TaskFile {
    load(text, "wf.yaml", &none(), &none()).unwrap_or_else(|e| panic!("loads: {}", e.message))
}

fn wf(text: &str) -> Workflow {
    workflow(&file(text)).unwrap_or_else(|e| panic!("a workflow: {}", e.message))
}

/// The error of loading and then building the workflow.
fn fails(text: &str) -> String {
    match load(text, "wf.yaml", &none(), &none()).and_then(|f| workflow(&f)) {
        Err(e) => e.message,
        Ok(w) => panic!("should fail, got {w:?}"),
    }
}

fn cell(pairs: &[(&str, &str)]) -> MatrixCell {
    MatrixCell::of(pairs.iter().copied())
}

fn labels(t: &WorkflowTask) -> Vec<String> {
    t.cells.iter().map(MatrixCell::label).collect()
}

fn names(w: &Workflow) -> Vec<&str> {
    w.in_order().map(|t| t.name.as_str()).collect()
}

#[test]
fn hoist_fields_load_in_every_form() {
    let TaskFile::Single(t) = file(
        "name: a\nneeds: prep\nmatrix:\n  lr: [0.1, 1e-3, 2]\n  flag: [true]\nmatrix_include:\n  \
         - {lr: 0.1, extra: x}\nmatrix_exclude:\n  - {lr: 2}\nmax_parallel: 3\nrun: x\n",
    ) else {
        panic!("one task");
    };
    assert_eq!(t.hoist.needs, Some(vec!["prep".to_string()]));
    // Stringified as envs are: PyYAML's 1e-3 is a string, true is "True".
    assert_eq!(
        t.hoist.matrix,
        [
            (
                "lr".to_string(),
                vec!["0.1".into(), "1e-3".into(), "2".into()]
            ),
            ("flag".to_string(), vec!["True".into()]),
        ]
    );
    assert_eq!(t.hoist.matrix_include.len(), 1);
    assert_eq!(
        t.hoist.matrix_exclude[0].get("lr").map(String::as_str),
        Some("2")
    );
    assert_eq!(t.hoist.max_parallel, Some(3));
    let TaskFile::Single(t) = file("needs:\nrun: x\n") else {
        panic!("one task");
    };
    assert_eq!(t.hoist.needs, Some(vec![]), "an empty needs is needs: []");
    let TaskFile::Single(t) = file("run: x\n") else {
        panic!("one task");
    };
    assert_eq!(t.hoist, HoistFields::default());
}

#[test]
fn unknown_fields_are_still_refused_and_hoists_suggested() {
    assert_eq!(
        fails("need: [a]\nrun: x\n"),
        "Invalid task YAML: Instead of 'need', did you mean 'needs'?"
    );
    assert_eq!(
        fails("foo: 1\nrun: x\n"),
        "Invalid task YAML: Found unsupported field 'foo'."
    );
}

#[test]
fn header_carries_hooks_and_bound() {
    let text = "name: wf\non_complete: echo ok\non_failure: echo bad\nmax_parallel: 4\n---\nname: a\nrun: x\n";
    let f = file(text);
    assert!(
        matches!(f, TaskFile::Single(_)),
        "a header and one task is one task"
    );
    let w = workflow(&f).expect("workflow");
    assert_eq!(w.name.as_deref(), Some("wf"));
    let command = |c: &str| {
        Some(Hook {
            command: Some(c.into()),
            webhook_env: None,
        })
    };
    assert_eq!(w.on_complete, command("echo ok"));
    assert_eq!(w.on_failure, command("echo bad"));
    assert_eq!(w.max_parallel, Some(4));
    let w = wf("name: p\n---\nrun: a\n---\nrun: b\n");
    assert_eq!(w.name.as_deref(), Some("p"));
    assert_eq!((w.on_complete.clone(), w.max_parallel), (None, None));
}

#[test]
fn header_fields_are_checked() {
    assert_eq!(
        fails("name: wf\nmax_parallel: 0\n---\nrun: a\n---\nrun: b\n"),
        "workflow header: max_parallel: must be a whole number of jobs, at least 1; got 0. Write \
         e.g. max_parallel: 2, or remove it for no bound."
    );
    assert!(
        fails("name: wf\non_complete: [a]\n---\nrun: a\n").starts_with(
            "workflow header: on_complete: must be a shell command (a string) or a mapping of \
             command and/or webhook_env, got ['a']."
        )
    );
    assert!(
        fails("name: a\non_failure: echo\nrun: x\n")
            .starts_with("task 'a': on_failure: belongs to the workflow, not to one task")
    );
}

#[test]
fn a_hook_is_a_command_or_a_mapping() {
    let w = wf(
        "name: wf\non_complete:\n  command: echo ok\n  webhook_env: HOIST_WEBHOOK\n\
         on_failure: {webhook_env: _FAIL_HOOK}\n---\nrun: a\n---\nrun: b\n",
    );
    assert_eq!(
        w.on_complete,
        Some(Hook {
            command: Some("echo ok".into()),
            webhook_env: Some("HOIST_WEBHOOK".into()),
        })
    );
    assert_eq!(
        w.on_failure,
        Some(Hook {
            command: None,
            webhook_env: Some("_FAIL_HOOK".into()),
        })
    );
    let env = |k: &str| (k == "HOIST_WEBHOOK").then(|| "http://127.0.0.1:9/h".to_string());
    assert_eq!(w.missing_webhook_envs(&env), [("on_failure", "_FAIL_HOOK")]);
    assert!(w.missing_webhook_envs(&|_| Some("x".into())).is_empty());
    // A command-only hook needs no variable.
    let w = wf("name: wf\non_failure: {command: echo bad}\n---\nrun: a\n---\nrun: b\n");
    assert_eq!(
        w.on_failure.as_ref().and_then(|h| h.command.as_deref()),
        Some("echo bad")
    );
    assert!(w.missing_webhook_envs(&|_| None).is_empty());
}

#[test]
fn bad_hook_mappings_name_the_field() {
    let header = |hook: &str| fails(&format!("name: wf\non_failure: {hook}\n---\nrun: a\n"));
    assert_eq!(
        header("{}"),
        "workflow header: on_failure: is an empty mapping. Give it command and/or webhook_env, \
         e.g. on_failure: {webhook_env: HOIST_WEBHOOK}, or remove on_failure."
    );
    assert_eq!(
        header("{webhook: HOIST_WEBHOOK}"),
        "workflow header: on_failure: 'webhook' is not a hook field; a hook has command and/or \
         webhook_env. Did you mean webhook_env?"
    );
    assert!(header("{command: [a, b]}").starts_with(
        "workflow header: on_failure.command: must be a non-empty shell command (a string), \
             got ['a', 'b']."
    ));
    assert!(header("{webhook_env: 3}").starts_with(
        "workflow header: on_failure.webhook_env: must be an environment variable's name (a \
             string), got 3."
    ));
    assert!(header("{webhook_env: HOIST-WEBHOOK}").starts_with(
        "workflow header: on_failure.webhook_env: is not a valid environment variable name"
    ));
    // The URL written in place of the variable's name is refused and not repeated.
    let url = "https://hooks.example.com/services/T0/B0/SECRET";
    let e = header(&format!("{{webhook_env: '{url}'}}"));
    assert!(
        e.starts_with("workflow header: on_failure.webhook_env: looks like a URL."),
        "{e}"
    );
    assert!(!e.contains("SECRET"), "{e}");
}

#[test]
fn without_needs_tasks_run_in_file_order() {
    let w = wf("run: a\n---\nname: second\nrun: b\n---\nrun: c\n");
    assert_eq!(names(&w), ["task-0", "second", "task-2"]);
    assert_eq!(w.tasks[0].needs, Vec::<String>::new());
    assert_eq!(w.tasks[1].needs, ["task-0"]);
    assert_eq!(w.tasks[2].needs, ["second"]);
}

#[test]
fn needs_make_a_dag_in_topological_order() {
    let w = wf(
        "name: eval\nneeds: [train, prep]\nrun: e\n---\nname: train\nneeds: prep\nrun: t\n---\n\
         name: prep\nrun: p\n---\nname: other\nrun: o\n",
    );
    assert_eq!(names(&w), ["prep", "train", "eval", "other"]);
    assert!(
        w.get("other").is_some_and(|t| t.needs.is_empty()),
        "no needs = a root"
    );
    assert_eq!(w.upstream("eval"), BTreeSet::from(["prep", "train"]));
    assert_eq!(w.downstream("prep"), BTreeSet::from(["eval", "train"]));
    assert!(w.downstream("other").is_empty());
    let jobs: Vec<String> = w.jobs().map(|(t, c)| job_name(&t.name, c)).collect();
    assert_eq!(jobs, ["prep", "train", "eval", "other"]);
}

#[test]
fn bad_needs_are_named() {
    assert_eq!(
        fails("name: train\nrun: a\n---\nname: eval\nneeds: trian\nrun: b\n"),
        "task 'eval': needs: no task is named 'trian' (did you mean 'train'?). The file's tasks: \
         train, eval."
    );
    assert_eq!(
        fails(
            "name: a\nneeds: c\nrun: x\n---\nname: b\nneeds: a\nrun: x\n---\nname: c\nneeds: b\nrun: x\n---\nname: d\nneeds: c\nrun: x\n"
        ),
        "task 'a': needs: a cycle: a -> c -> b -> a (each needs the next), so none of them could \
         ever start. Remove one of these needs."
    );
    assert!(fails("name: a\nneeds: a\nrun: x\n").starts_with("task 'a': needs: a cycle: a -> a "));
    assert!(
        fails("name: a\nneeds: [3]\nrun: x\n")
            .starts_with("task 'a': needs[0]: 3 is not a task name.")
    );
    assert!(
        fails("name: a\nrun: x\n---\nname: a\nrun: y\n")
            .starts_with("task 'a': name: tasks 0 and 1 are both named 'a';")
    );
    // An unnamed task's default name is taken like any other.
    assert!(fails("run: x\n---\nname: task-0\nrun: y\n").starts_with("task 'task-0': name:"));
}

#[test]
fn matrix_expands_first_key_slowest() {
    let w = wf("name: t\nmatrix:\n  lr: [0.1, 0.01]\n  bs: [8, 16]\nrun: x\n");
    let t = &w.tasks[0];
    assert_eq!(
        labels(t),
        [
            "bs=8,lr=0.1",
            "bs=16,lr=0.1",
            "bs=8,lr=0.01",
            "bs=16,lr=0.01"
        ]
    );
    assert_eq!(wf("run: x\n").tasks[0].cells, [MatrixCell::default()]);
}

/// GitHub Actions' documented include example, result for result.
#[test]
fn include_and_exclude_follow_github_actions() {
    let w = wf(
        "name: t\nmatrix:\n  fruit: [apple, pear]\n  animal: [cat, dog]\nmatrix_include:\n  \
         - color: green\n  - color: pink\n    animal: cat\n  - fruit: apple\n    shape: circle\n  \
         - fruit: banana\n  - fruit: banana\n    animal: cat\nrun: x\n",
    );
    assert_eq!(
        labels(&w.tasks[0]),
        [
            "animal=cat,color=pink,fruit=apple,shape=circle",
            "animal=dog,color=green,fruit=apple,shape=circle",
            "animal=cat,color=pink,fruit=pear",
            "animal=dog,color=green,fruit=pear",
            "fruit=banana",
            "animal=cat,fruit=banana",
        ]
    );
    let w = wf(
        "name: t\nmatrix:\n  os: [a, b]\n  v: [1, 2, 3]\nmatrix_exclude:\n  - {os: a, v: 2}\n  \
         - {v: 3}\nrun: x\n",
    );
    assert_eq!(labels(&w.tasks[0]), ["os=a,v=1", "os=b,v=1", "os=b,v=2"]);
    let w = wf("name: t\nmatrix_include:\n  - {a: 1}\n  - {a: 2, b: x}\nrun: x\n");
    assert_eq!(
        labels(&w.tasks[0]),
        ["a=1", "a=2,b=x"],
        "include alone makes the jobs"
    );
}

#[test]
fn bad_matrices_are_named() {
    let cases = [
        (
            "matrix:\n  bad key: [1]\n",
            "task 'a': matrix: 'bad key' is not a valid environment variable name",
        ),
        (
            "matrix:\n  1x: [1]\n",
            "task 'a': matrix: '1x' is not a valid environment variable name",
        ),
        ("matrix: {}\n", "task 'a': matrix: is empty."),
        ("matrix:\n", "task 'a': matrix: is empty."),
        (
            "matrix: [1, 2]\n",
            "task 'a': matrix: must be a mapping of KEY: [values], got [1, 2].",
        ),
        ("matrix:\n  lr: []\n", "task 'a': matrix.lr: has no values."),
        (
            "matrix:\n  lr: 0.1\n",
            "task 'a': matrix.lr: must be a list of values, got 0.1.",
        ),
        (
            "matrix:\n  lr: [[1]]\n",
            "task 'a': matrix.lr[0]: [1] is not a value",
        ),
        (
            "matrix:\n  lr: [1, '1']\n",
            "task 'a': matrix.lr[1]: lists '1' twice",
        ),
        (
            "max_parallel: 0\n",
            "task 'a': max_parallel: must be a whole number of jobs, at least 1; got 0.",
        ),
        (
            "max_parallel: two\n",
            "task 'a': max_parallel: must be a whole number of jobs, at least 1; got 'two'.",
        ),
        (
            "matrix:\n  lr: [1]\nmatrix_exclude:\n  - {bs: 1}\n",
            "task 'a': matrix_exclude[0].bs: bs is not a key of matrix (lr)",
        ),
        (
            "matrix:\n  lr: [1]\nmatrix_exclude:\n  - {lr: 2}\n",
            "task 'a': matrix_exclude[0].lr: '2' is not one of matrix.lr's values (1)",
        ),
        (
            "matrix:\n  lr: [1]\nmatrix_exclude:\n  - {lr: 1}\n",
            "task 'a': matrix_exclude: removes every combination of matrix",
        ),
        (
            "matrix_include:\n  - {}\n",
            "task 'a': matrix_include[0]: must be a non-empty mapping",
        ),
        (
            "matrix_include:\n  - {a b: 1}\n",
            "task 'a': matrix_include[0]: 'a b' is not a valid environment variable name",
        ),
        (
            "matrix_include:\n  - {a: 1}\n  - {a: 1}\n",
            "task 'a': matrix_include[1]: adds [a=1], which the matrix already runs",
        ),
        (
            "matrix:\n  a: [1, 2]\n  b: [1, 2]\n  c: [1, 2]\n  d: [1, 2]\n  e: [1, 2]\n  f: [1, 2]\n  g: [1, 2]\n  h: [1, 2]\n  i: [1, 2]\n  j: [1, 2]\n  k: [1, 2]\n  l: [1, 2]\n  m: [1, 2]\n  n: [1, 2]\n",
            "task 'a': matrix: makes more than 10000 jobs (2 a x 2 b",
        ),
    ];
    for (body, want) in cases {
        let got = fails(&format!("name: a\n{body}run: x\n"));
        assert!(got.starts_with(want), "{body:?}\n got: {got}\nwant: {want}");
    }
    // An unnamed task is named by its place.
    assert!(fails("run: a\n---\nmatrix: {}\n").starts_with("task 'task-1': matrix: is empty."));
}

#[test]
fn substitute_matrix_quotes_values_and_leaves_the_rest() {
    let c = cell(&[("lr", "0.1"), ("name", "a b"), ("q", "it's")]);
    assert_eq!(
        substitute_matrix(
            "train --lr {lr} --name {name} --q {q} {other} ${lr} {} { lr }",
            &c
        ),
        "train --lr 0.1 --name 'a b' --q 'it'\"'\"'s' {other} ${lr} {} { lr }"
    );
    assert_eq!(
        substitute_matrix("{lr}/${{ needs.t[lr={lr}].results }}/{lr}", &c),
        "0.1/${{ needs.t[lr={lr}].results }}/0.1",
        "references are the resolver's"
    );
    assert_eq!(substitute_matrix("{lr}", &MatrixCell::default()), "{lr}");
    assert_eq!(
        c.envs().collect::<Vec<_>>(),
        [("lr", "0.1"), ("name", "a b"), ("q", "it's")]
    );
}

const DAG: &str = "name: prep\nrun: p\n---\nname: train\nneeds: prep\nmatrix:\n  lr: [0.1, 0.01]\n  \
bs: [8]\nenvs:\n  DATA: ${{ needs.prep.results }}/data\nrun: train --data $DATA --lr {lr}\n---\n\
name: eval\nneeds: train\nmatrix:\n  lr: [0.1, 0.01]\nfile_mounts:\n  /ckpt: ${{needs.train[lr={lr}, bs=8].results}}\n  \
/in/${{ needs.prep.results }}: /tmp\nrun: |\n  eval --ckpt ${{ needs.train[lr=0.1].results }}/m.pt --lr {lr}\n";

fn results(task: &str, c: &MatrixCell) -> Option<String> {
    match (task, c.get("lr")) {
        ("prep", None) => Some("/r/prep".into()),
        ("train", Some(lr)) => Some(format!("s3://b/train {lr}")),
        _ => None,
    }
}

#[test]
fn references_resolve_per_job() {
    let w = wf(DAG);
    let train = w
        .render("train", &cell(&[("bs", "8"), ("lr", "0.01")]), &results)
        .expect("train");
    assert_eq!(train.envs.get("DATA"), Some(&Some("/r/prep/data".into())));
    assert_eq!(
        train.envs.get("lr"),
        Some(&Some("0.01".into())),
        "cell values are envs"
    );
    assert_eq!(train.run.as_deref(), Some("train --data $DATA --lr 0.01"));

    let c = cell(&[("lr", "0.01")]);
    let eval = w.render("eval", &c, &results).expect("eval");
    assert_eq!(
        eval.file_mounts.get("/ckpt"),
        Some(&FileMount::Source("s3://b/train 0.01".into())),
        "raw in mounts; {{lr}} in a selector is the job's own value"
    );
    assert!(
        eval.file_mounts.contains_key("/in//r/prep"),
        "{:?}",
        eval.file_mounts
    );
    assert_eq!(
        eval.run.as_deref(),
        Some("eval --ckpt 's3://b/train 0.1'/m.pt --lr 0.01\n"),
        "quoted in shell text"
    );
    assert_eq!(
        w.reads("eval", &c).expect("reads"),
        [
            ("train".to_string(), cell(&[("bs", "8"), ("lr", "0.1")])),
            ("train".to_string(), cell(&[("bs", "8"), ("lr", "0.01")])),
            ("prep".to_string(), MatrixCell::default()),
        ],
        "run first, then file mounts"
    );
    assert_eq!(
        w.resolve(
            "eval",
            &c,
            "x=${{ needs.prep.results }} {lr}",
            Quoting::Shell,
            &results
        )
        .expect("resolve"),
        "x=/r/prep {lr}",
        "resolve leaves {{KEY}} alone"
    );
    let e = w
        .render("eval", &c, &|_, _| None)
        .expect_err("no results yet");
    assert!(
        e.message.starts_with("task 'eval': run: ${{ needs.train[lr=0.1].results }}: the job train[bs=8,lr=0.1] has no results location"),
        "{}",
        e.message
    );
}

#[test]
fn references_must_name_one_upstream_job() {
    let base = "name: up\nmatrix:\n  lr: [1, 2]\n  bs: [8, 16]\nrun: u\n---\nname: side\nneeds: []\nrun: s\n---\nname: mid\nneeds: up\nrun: m\n---\nname: down\nneeds: mid\n";
    let case = |body: &str| fails(&format!("{base}{body}"));
    assert_eq!(
        case("run: echo ${{ needs.side.results }}\n"),
        "task 'down': run: ${{ needs.side.results }}: 'side' is not upstream of 'down' (its \
         upstream tasks: mid, up), so its results may not exist when 'down' runs. Add 'side' to \
         the needs of 'down'."
    );
    assert_eq!(
        case("envs:\n  X: ${{ needs.up.results }}\n"),
        "task 'down': envs.X: ${{ needs.up.results }}: 'up' runs 4 matrix jobs; pick one with \
         [KEY=VALUE], e.g. ${{ needs.up[bs=8,lr=1].results }}."
    );
    assert!(case("run: ${{ needs.up[lr=1].results }}\n").contains(
        "lr=1 matches 2 jobs of 'up' ([bs=8,lr=1], [bs=16,lr=1]); add keys to pick one."
    ));
    assert!(
        case("run: ${{ needs.up[lr=3, bs=8].results }}\n")
            .contains(": lr=3 is not a value 'up' runs (lr: 1, 2).")
    );
    assert!(
        case("run: ${{ needs.up[seed=1].results }}\n")
            .contains(": 'up' has no matrix key seed (its keys: bs, lr).")
    );
    assert!(
        case("run: ${{ needs.mid[lr=1].results }}\n")
            .contains("'mid' has no matrix, so there is nothing to select")
    );
    assert!(
        case("run: ${{ needs.up[lr={lr},bs=8].results }}\n")
            .contains("{lr} in the selector names no matrix key of 'down'.")
    );
    assert!(
        case("run: ${{ needs.upp.results }}\n")
            .contains("no task is named 'upp' (did you mean 'up'?)")
    );
    // Transitive upstream and quoted selector values are fine.
    let w = wf(&format!(
        "{base}run: ${{{{ needs.up[ lr = '2' , bs=\"16\" ].results }}}}\n"
    ));
    assert_eq!(
        w.reads("down", &MatrixCell::default()).expect("reads"),
        [("up".to_string(), cell(&[("bs", "16"), ("lr", "2")]))]
    );
}

#[test]
fn malformed_references_are_named() {
    let cases = [
        ("${{ needs.a.result }}", "it must end in .results"),
        (
            "${{ matrix.lr }}",
            "the only expression hoist knows is needs.TASK.results",
        ),
        ("${{ needs.a.results", "it has no closing }}"),
        ("${{ needs..results }}", "\"\" is not a task name"),
        ("${{ needs.a[].results }}", "its [selector] is empty"),
        (
            "${{ needs.a[lr].results }}",
            "selector item \"lr\" has no '='",
        ),
        (
            "${{ needs.a[lr=1,lr=2].results }}",
            "selector names lr twice",
        ),
        (
            "${{ needs.a[lr='1].results }}",
            "selector value of lr has no closing '",
        ),
        (
            "${{ needs.a[lr=1.results }}",
            "its [selector] must end with ]",
        ),
        ("${{ needs.a b.results }}", "\"a b\" is not a task name"),
    ];
    for (written, why) in cases {
        let got = fails(&format!(
            "name: a\nrun: x\n---\nname: b\nrun: echo {written}\n"
        ));
        assert!(
            got.starts_with("task 'b': run: malformed reference ${{") && got.contains(why)
                && got.ends_with("write ${{ needs.TASK.results }}, or ${{ needs.TASK[KEY=VALUE,...].results }} for one job of a matrix task."),
            "{written}: {got}"
        );
    }
    assert!(
        fails("name: a\nrun: x\n---\nname: b\nsetup: ${{ x }}\n")
            .starts_with("task 'b': setup: malformed reference ${{ x }}:")
    );
}

#[test]
fn references_reach_mount_destinations_and_storage() {
    let e = fails(
        "name: a\nrun: x\n---\nname: b\nneeds: []\nfile_mounts:\n  /d:\n    source: ${{ needs.a.results }}\n    mode: COPY\nrun: y\n",
    );
    assert!(
        e.starts_with(
            "task 'b': file_mounts./d.source: ${{ needs.a.results }}: 'a' is not upstream"
        ),
        "{e}"
    );
    let e = fails(
        "name: a\nrun: x\n---\nname: b\nneeds: []\nfile_mounts:\n  /x/${{ needs.a.results }}: /tmp\nrun: y\n",
    );
    assert!(
        e.starts_with("task 'b': file_mounts./x/${{ needs.a.results }}: "),
        "{e}"
    );
}
