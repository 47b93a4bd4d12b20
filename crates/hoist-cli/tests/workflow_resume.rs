//! Workflows that outlive their shell: `hoist launch -d` (a detached driver holding the run's
//! lock), `hoist launch --resume RUN_DIR` after a failure and after the driver was killed
//! with -9 (at a random point and in the middle of a submit), `hoist runs cancel` of a
//! detached run, and a detached sweep. The invariant throughout: every step's job is
//! submitted once, unless it failed and was asked to run again.

mod harness;
use harness::*;
use serde_json::Value;

fn write(e: &Env, name: &str, body: &str) {
    std::fs::write(e.path(name), body).expect("write");
}

fn launch(e: &Env, args: &[&str]) -> Out {
    let mut a = vec!["launch"];
    a.extend_from_slice(args);
    let mut c = e.cmd(&a);
    c.current_dir(e.dir.path());
    Out(c.output().expect("hoist launch"))
}

fn runs(e: &Env) -> Vec<Value> {
    serde_json::from_str(&e.run(&["runs", "--json"]).stdout()).unwrap_or_default()
}

fn run_of(e: &Env, dir: &str) -> Value {
    let show = e.run(&["runs", "show", &e.path(dir).display().to_string(), "--json"]);
    assert_eq!(show.code(), 0, "{}", show.stderr());
    serde_json::from_str(&show.stdout()).expect("runs show --json")
}

fn job<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["jobs"]
        .as_array()
        .and_then(|j| j.iter().find(|j| j["name"] == name))
        .unwrap_or_else(|| panic!("no job {name} in {run}"))
}

/// Jobs in the store by name.
fn count(e: &Env, name: &str) -> usize {
    e.ls().iter().filter(|j| j["name"] == name).count()
}

fn lines(e: &Env, file: &str) -> usize {
    std::fs::read_to_string(e.path(file))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn resume_after_a_failure_keeps_what_completed_and_reruns_the_rest() {
    let e = Env::new();
    let d = e.dir.path().display().to_string();
    write(
        &e,
        "wf.yaml",
        &format!(
            "name: flaky\n---\nname: prep\nrun: echo ran >> {d}/prep.count\n---\nname: train\nneeds: [prep]\nmatrix:\n  x: [1, 2]\nrun: |\n  echo ran >> {d}/train{{x}}.count\n  test -e {d}/fixed || [ {{x}} = 1 ]\n---\nname: report\nneeds: [train]\nrun: echo \"report $MODE\"\n"
        ),
    );
    let first = launch(
        &e,
        &[
            "wf.yaml",
            "--run-dir",
            "run",
            "--env",
            "MODE=first",
            "--env",
            "WANDB_API_KEY=wb-s3cr3t-value",
        ],
    );
    assert_eq!(first.code(), 1, "{}", first.stderr());
    assert!(
        first.stderr().contains("[report] not run"),
        "{}",
        first.stderr()
    );
    let failures = std::fs::read_to_string(e.path("run/failure_analysis.json")).unwrap_or_default();
    assert!(failures.contains("train[x=2]"), "{failures}");
    let saved = std::fs::read_to_string(e.path("run/run.json")).expect("run.json");
    assert!(saved.contains("MODE"), "{saved}");
    assert!(
        !saved.contains("wb-s3cr3t-value"),
        "a secret-looking value is kept by name only: {saved}"
    );

    // Resuming needs the secret again: it was never written down.
    let missing = launch(&e, &["--resume", "run"]);
    assert_eq!(missing.code(), 2, "{}", missing.stderr());
    assert!(
        missing.stderr().contains("WANDB_API_KEY"),
        "{}",
        missing.stderr()
    );

    write(&e, "fixed", "");
    let again = launch(
        &e,
        &[
            "--resume",
            "run",
            "--env",
            "MODE=second",
            "--env",
            "WANDB_API_KEY=wb-s3cr3t-value",
        ],
    );
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert!(
        again.stdout().contains("[report] report second"),
        "the override reached the rerun: {}",
        again.stdout()
    );
    let said = again.stderr();
    assert!(said.contains("[prep] kept: job"), "{said}");
    assert!(
        said.contains("[train[x=2]] runs again, after: job"),
        "{said}"
    );
    let failures = std::fs::read_to_string(e.path("run/failure_analysis.json")).unwrap_or_default();
    assert!(
        !failures.contains("train[x=2]"),
        "the rerun completed: {failures}"
    );
    assert_eq!(lines(&e, "prep.count"), 1, "prep completed: kept");
    assert_eq!(lines(&e, "train1.count"), 1, "train[x=1] completed: kept");
    assert_eq!(lines(&e, "train2.count"), 2, "train[x=2] failed: rerun");
    assert_eq!(count(&e, "prep"), 1);
    assert_eq!(count(&e, "train-x-2"), 2);
    assert_eq!(count(&e, "report"), 1);
    let r = run_of(&e, "run");
    assert_eq!(r["state"], "complete");
    assert_eq!(job(&r, "train[x=2]")["status"], "Complete");
    let events = std::fs::read_to_string(e.path("run/status_events.jsonl")).expect("events");
    assert!(events.contains("\"kept\"") && events.contains("\"rerun\""));
    assert!(!events.contains("wb-s3cr3t-value"));

    // A completed run resumed again submits nothing.
    let idle = launch(&e, &["--resume", "run", "--env", "WANDB_API_KEY=x"]);
    assert_eq!(idle.code(), 0, "{}", idle.stderr());
    assert_eq!(e.ls().len(), 5);

    let bad = launch(&e, &["--resume", "no-such-run"]);
    assert_eq!(bad.code(), 2, "{}", bad.stderr());
    assert!(bad.stderr().contains("not a resumable run folder"));
}

#[test]
fn a_detached_driver_killed_mid_run_loses_nothing_and_runs_nothing_twice() {
    let e = Env::new();
    let d = e.dir.path().display().to_string();
    write(
        &e,
        "wf.yaml",
        &format!(
            "name: gated\n---\nname: first\nrun: |\n  echo ran >> {d}/first.count\n  while [ ! -e {d}/go ]; do sleep 0.05; done\n---\nname: second\nneeds: [first]\nrun: echo ran >> {d}/second.count\n"
        ),
    );
    let o = launch(&e, &["wf.yaml", "-d", "--run-dir", "run"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(o.stdout().trim(), e.path("run").display().to_string());
    wait_for("first running", || {
        job(&run_of(&e, "run"), "first")["status"] == "Running"
    });
    let driver = run_of(&e, "run")["driver"].as_i64().expect("a live driver") as i32;

    // One driver per run.
    let twice = launch(&e, &["--resume", "run"]);
    assert_eq!(twice.code(), 2, "{}", twice.stderr());
    assert!(
        twice.stderr().contains("being driven by process"),
        "{}",
        twice.stderr()
    );

    // SAFETY-free: kill(1) the way a user (or the OOM killer) would.
    let killed = std::process::Command::new("kill")
        .args(["-9", &driver.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for("driver gone", || !pid_alive(driver));
    let r = run_of(&e, "run");
    assert_eq!(r["state"], "interrupted", "{r}");
    assert_eq!(job(&r, "first")["status"], "Running", "the job outlives it");

    // Resume detached while `first` still runs: it is adopted, not submitted again.
    let o = launch(&e, &["--resume", "run", "-d"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    wait_for("first adopted", || {
        std::fs::read_to_string(e.path("run/status_events.jsonl"))
            .is_ok_and(|t| t.contains("\"adopted\""))
    });
    write(&e, "go", "");
    wait_for("run complete", || run_of(&e, "run")["state"] == "complete");
    assert_eq!(lines(&e, "first.count"), 1);
    assert_eq!(lines(&e, "second.count"), 1);
    assert_eq!(count(&e, "first"), 1);
    assert_eq!(count(&e, "second"), 1);
    let events = std::fs::read_to_string(e.path("run/status_events.jsonl")).expect("events");
    assert!(!events.contains("\"kept\""), "{events}");
    let log = std::fs::read_to_string(e.path("run/driver.log")).expect("driver.log");
    assert!(log.contains("run ended, exit 0"), "{log}");
}

#[test]
fn a_driver_killed_in_the_middle_of_a_submit_is_reconciled_not_repeated() {
    let e = Env::new();
    let d = e.dir.path().display().to_string();
    write(
        &e,
        "wf.yaml",
        &format!(
            "name: mid\n---\nname: only\nrun: echo ran >> {d}/only.count\n---\nname: after\nneeds: [only]\nrun: echo ran >> {d}/after.count\n"
        ),
    );
    // The driver stops between writing the job's row and handing it to the platform.
    let mut c = e.cmd(&["launch", "wf.yaml", "-d", "--run-dir", "run"]);
    c.current_dir(e.dir.path())
        .env("HOIST_FAILPOINT", "after-insert");
    let o = Out(c.output().expect("launch -d"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    wait_for("the driver at the failpoint", || {
        std::fs::read_to_string(e.path("run/driver.log"))
            .is_ok_and(|l| l.contains("failpoint after-insert"))
    });
    let driver = run_of(&e, "run")["driver"].as_i64().expect("driver") as i32;
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &driver.to_string()])
            .status()
            .expect("kill")
            .success()
    );
    wait_for("driver gone", || !pid_alive(driver));

    let again = launch(&e, &["--resume", "run"]);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    assert_eq!(lines(&e, "only.count"), 1, "the step ran once");
    assert_eq!(lines(&e, "after.count"), 1);
    let r = run_of(&e, "run");
    assert_eq!(r["state"], "complete");
}

#[test]
fn a_detached_sweep_is_canceled_with_its_driver() {
    let e = Env::new();
    let mut c = e.cmd(&[
        "run",
        "-d",
        "--name",
        "sw",
        "--matrix",
        "i=1,2,3",
        "--max-parallel",
        "1",
        "--",
        "sleep",
        "600",
    ]);
    c.current_dir(e.dir.path());
    let o = Out(c.output().expect("run -d --matrix"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let dir = o.stdout().trim().to_string();
    assert!(
        std::path::Path::new(&dir).join("run.json").exists(),
        "{dir}"
    );
    wait_for("one cell running", || {
        runs(&e)
            .first()
            .is_some_and(|r| r["counts"]["running"] == 1 && r["driver"].is_i64())
    });
    let cancel = e.run(&["runs", "cancel", "sw"]);
    assert_eq!(cancel.code(), 0, "{}", cancel.stderr());
    let r = &runs(&e)[0];
    assert_eq!(r["state"], "canceled", "{r}");
    assert!(r["driver"].is_null(), "the driver ended: {r}");
    let statuses: Vec<String> = e
        .ls()
        .iter()
        .map(|j| j["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(statuses, ["Canceled"], "one cell ran, none started after");
}
