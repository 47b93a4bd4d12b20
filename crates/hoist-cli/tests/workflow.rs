//! Workflows through `hoist launch`: a DAG with a matrix on the local platform, a failure that
//! stops what needs it while a sibling branch completes, the run folder, results passed from
//! one task to the next across platforms (local → Docker), and the completion hooks.

mod harness;
use harness::docker::IMG;
use harness::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn launch(e: &Env, file: &str, body: &str, extra: &[&str]) -> Out {
    std::fs::write(e.path(file), body).expect("workflow file");
    let mut a = vec!["launch", file, "--run-dir", "run"];
    a.extend_from_slice(extra);
    let mut c = e.cmd(&a);
    c.current_dir(e.dir.path());
    Out(c.output().expect("hoist launch"))
}

fn json_file(e: &Env, name: &str) -> Value {
    let text = std::fs::read_to_string(e.path(&format!("run/{name}")))
        .unwrap_or_else(|err| panic!("run/{name}: {err}"));
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn a_matrix_dag_with_a_failing_branch_and_its_run_folder() {
    let e = Env::new();
    let wf = "name: sweep\non_failure: cat > failed-hook.json\n---\nname: prep\nrun: echo data-v1 > $HOIST_RESULTS_DIR/data.txt\n---\nname: train\nneeds: [prep]\nmax_parallel: 2\nmatrix:\n  lr: [0.1, 0.01]\n  bs: [8, 16]\nenvs:\n  DATA: ${{ needs.prep.results }}\nrun: |\n  echo \"train lr={lr} bs=$bs data=$(cat $DATA/data.txt)\"\n---\nname: bad\nneeds: [prep]\nrun: |\n  echo 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB'\n  exit 3\n---\nname: after-bad\nneeds: [bad]\nrun: echo must-not-run\n";
    let o = launch(&e, "wf.yaml", wf, &[]);
    assert_eq!(o.code(), 3, "the failed job's exit code\n{}", o.stderr());
    let out = o.stdout();
    for (lr, bs) in [("0.1", "8"), ("0.1", "16"), ("0.01", "8"), ("0.01", "16")] {
        let line = format!("[train[bs={bs},lr={lr}]] train lr={lr} bs={bs} data=data-v1");
        assert_eq!(out.matches(&line).count(), 1, "{line} once in\n{out}");
    }
    assert!(!out.contains("must-not-run"));
    assert!(
        o.stderr().contains("[after-bad] not run: bad ended Error"),
        "{}",
        o.stderr()
    );

    // The run folder: every job once, its state, the events, the failure's analysis.
    let status = json_file(&e, "status.json");
    assert_eq!(status["state"], "failed");
    assert_eq!(
        status["counts"],
        serde_json::json!({"complete": 5, "failed": 1, "skipped": 1})
    );
    let ids: Vec<&str> = status["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .filter_map(|j| j["job_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(e.ls().len(), 6, "each job submitted exactly once");
    let analysis = json_file(&e, "failure_analysis.json");
    assert_eq!(analysis["bad"]["class"], "ERR_PROGRAM", "{analysis}");
    assert!(
        analysis["bad"]["decisive_line"]
            .as_str()
            .is_some_and(|l| l.contains("CUDA out of memory"))
    );
    assert!(
        json_file(&e, "active_jobs.json")
            .as_array()
            .is_some_and(Vec::is_empty)
    );
    let meta = json_file(&e, "metadata.json");
    assert_eq!(meta["name"], "sweep");
    assert_eq!(
        std::fs::read_to_string(e.path("run/workflow.yaml")).expect("copy"),
        wf
    );
    assert!(
        std::fs::read_to_string(e.path("run/latest_logs.txt"))
            .expect("logs")
            .contains("[bad] RuntimeError: CUDA out of memory")
    );
    // max_parallel: 2 — replay the events: never more than two train jobs at once.
    let events = std::fs::read_to_string(e.path("run/status_events.jsonl")).expect("events");
    let mut running: BTreeMap<String, bool> = BTreeMap::new();
    let mut most = 0;
    for ev in events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("event"))
    {
        let job = ev["job"].as_str().unwrap_or_default().to_string();
        if !job.starts_with("train[") {
            continue;
        }
        match ev["event"].as_str() {
            Some("submitted") => {
                running.insert(job, true);
            }
            _ => {
                running.remove(&job);
            }
        }
        most = most.max(running.len());
    }
    assert_eq!(most, 2, "{events}");
    // on_failure got the run's status on stdin, in the run folder.
    let hook: Value = serde_json::from_str(
        &std::fs::read_to_string(e.path("run/failed-hook.json")).expect("hook ran"),
    )
    .expect("status JSON");
    assert_eq!(hook["state"], "failed");
}

#[test]
fn results_flow_from_a_local_task_to_a_docker_task() {
    let e = Env::new();
    let wf = format!(
        "name: flow\non_complete: touch completed\n---\nname: prepare\nrun: echo prepared-on-the-host > $HOIST_RESULTS_DIR/ds.txt\n---\nname: evaluate\nneeds: prepare\nresources:\n  image_id: docker:{IMG}\nfile_mounts:\n  /data: ${{{{ needs.prepare.results }}}}\nrun: cat /data/ds.txt\n"
    );
    let o = launch(&e, "flow.yaml", &wf, &[]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(
        o.stdout().contains("[evaluate] prepared-on-the-host"),
        "{}",
        o.stdout()
    );
    let platforms: Vec<String> = e
        .ls()
        .iter()
        .map(|j| j["platform"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(platforms.contains(&"local".to_string()) && platforms.contains(&"docker".to_string()));
    assert!(e.path("run/completed").exists(), "on_complete ran");
    assert_eq!(json_file(&e, "status.json")["state"], "complete");
}

#[test]
fn bad_workflows_submit_nothing() {
    let e = Env::new();
    for (body, want) in [
        (
            "name: w\n---\nname: a\nneeds: [b]\nrun: echo ok\n---\nname: b\nneeds: [a]\nrun: echo ok\n",
            "cycle",
        ),
        (
            "name: w\n---\nname: a\nneeds: [nope]\nrun: echo ok\n",
            "nope",
        ),
        (
            "name: w\n---\nname: a\nmatrix:\n  lr: []\nrun: echo ok\n",
            "lr",
        ),
        (
            "name: w\n---\nname: a\nrun: echo ok\n---\nname: b\nneeds: [a]\nrun: cat ${{ needs.c.results }}\n",
            "needs.c",
        ),
    ] {
        let o = launch(&e, "bad.yaml", body, &[]);
        assert_eq!(o.code(), 2, "{body}\n{}", o.stderr());
        assert!(o.stderr().contains(want), "{want} in {}", o.stderr());
    }
    assert!(e.ls().is_empty());
    assert!(!e.path("run").exists());
}

/// Runs as objects: listed, shown as a tree, their jobs filtered, canceled while the engine
/// runs (the attached launch then ends with the cancellation), removed once nothing is active.
#[test]
fn runs_are_listed_shown_canceled_and_removed() {
    let e = Env::new();
    std::fs::write(
        e.path("w.yaml"),
        "name: nightly\n---\nname: fetch\nrun: echo fetched\n---\nname: train\nneeds: [fetch]\nrun: sleep 600\n",
    )
    .expect("file");
    let mut c = e.cmd(&["launch", "w.yaml"]);
    c.current_dir(e.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut engine = c.spawn().expect("launch");
    let runs = || -> Vec<Value> {
        serde_json::from_str(&e.run(&["runs", "--json"]).stdout()).unwrap_or_default()
    };
    wait_for("train running", || {
        runs().first().is_some_and(|r| {
            r["jobs"].as_array().is_some_and(|j| {
                j.iter()
                    .any(|j| j["task"] == "train" && j["job_id"].is_string())
            })
        })
    });
    let listed = runs();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "nightly");
    let id = listed[0]["id"].as_str().expect("run id").to_string();
    assert!(id.starts_with("nightly/"), "{id}");

    let show = e.run(&["runs", "show", "nightly"]);
    assert_eq!(show.code(), 0, "{}", show.stderr());
    let text = show.stdout();
    assert!(
        text.contains("\nfetch\n") && text.contains("\n  train (needs fetch)\n"),
        "{text}"
    );
    assert!(text.contains("Complete exit 0"), "{text}");
    let ls: Vec<Value> =
        serde_json::from_str(&e.run(&["ls", "--run", "nightly", "--json"]).stdout()).expect("ls");
    assert_eq!(ls.len(), 2);

    let rm = e.run(&["runs", "rm", &id]);
    assert_eq!(rm.code(), 2, "refused while train runs: {}", rm.stderr());
    let cancel = e.run(&["runs", "cancel", "nightly"]);
    assert_eq!(cancel.code(), 0, "{}", cancel.stderr());
    assert!(
        cancel.stderr().contains("1 active job(s) canceled"),
        "{}",
        cancel.stderr()
    );
    let status = engine.wait().expect("engine ends");
    assert_eq!(status.code(), Some(130), "a canceled job's exit code");
    let rm = e.run(&["runs", "rm", &id]);
    assert_eq!(rm.code(), 0, "{}", rm.stderr());
    assert!(runs().is_empty());
    assert_eq!(e.run(&["runs", "show", "nightly"]).code(), 2);
}

/// `hoist run --matrix`: a sweep of one command through the same engine and run folder.
#[test]
fn a_sweep_from_the_command_line() {
    let e = Env::new();
    let o = e.run(&[
        "run",
        "--name",
        "lrsweep",
        "--matrix",
        "lr=0.1,0.01",
        "--matrix",
        "bs=8,16",
        "--max-parallel",
        "2",
        "--",
        "sh",
        "-c",
        "echo lr={lr} bs=$bs",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    for (lr, bs) in [("0.1", "8"), ("0.1", "16"), ("0.01", "8"), ("0.01", "16")] {
        let line = format!("[lrsweep[bs={bs},lr={lr}]] lr={lr} bs={bs}");
        assert_eq!(
            o.stdout().matches(&line).count(),
            1,
            "{line} in\n{}",
            o.stdout()
        );
    }
    assert_eq!(e.ls().len(), 4);
    let runs: Vec<Value> =
        serde_json::from_str(&e.run(&["runs", "--json"]).stdout()).expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["state"], "complete");
    assert_eq!(runs[0]["counts"]["complete"], 4);
    let bad = e.run(&["run", "--matrix", "1lr=1", "--", "true"]);
    assert_eq!(bad.code(), 2, "{}", bad.stderr());
    assert_eq!(e.ls().len(), 4);
}
