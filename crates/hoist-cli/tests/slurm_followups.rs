//! SLURM behaviours found side by side with the TAO SDK on a real cluster (issue 16, item 10),
//! against the testbed cluster on loopback (scripts/testbed.sh: Host hoist-testbed-slurm,
//! user hoistuser): how a log follow ends, the modes of job files, the release of a requeued
//! run, a job cancelled behind hoist's back, and how many ssh round trips the verbs take.

mod harness;
use harness::slurm::*;
use harness::*;

/// A `KEY=value` field of `scontrol show job -o ID`.
fn scontrol_field(id: &str, key: &str) -> String {
    remote(&format!("scontrol show job -o {id}"))
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn an_attached_run_ends_with_the_job_not_with_the_poll_and_its_files_are_private() {
    let e = senv();
    // squeue is asked only every 10 minutes: the follow can only end this test by the job's
    // own end marker. The bound below stops a hung test; it is no performance check.
    let mut child = e
        .scmd(&[
            "run",
            "--platform",
            "slurm",
            "--name",
            "quick",
            "--",
            "sh",
            "-c",
            "echo hi; echo to-err >&2",
        ])
        .env("HOIST_SLURM_FOLLOW_POLL", "600")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hoist run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the follow did not end when the job did: it waited for its squeue poll");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("hi") && text.contains("to-err"),
        "every line arrives before the stream ends: {text}"
    );
    // Everything the follower, the batch script and SLURM made for the job is the user's
    // alone: no file or folder under the job's directory grants anything to group or others.
    let job = e.show("quick");
    let dir = job["results_location"]
        .as_str()
        .and_then(|r| r.strip_prefix("lustre://"))
        .and_then(|r| r.rsplit_once("/results/"))
        .map(|(base, id)| format!("{base}/jobs/{id}"))
        .expect("job dir");
    let listing = remote(&format!("find {dir} -printf '%m %p\\n'"));
    assert!(listing.contains("/main.out"), "{listing}");
    let open: Vec<&str> = listing
        .lines()
        .filter(|l| {
            let mode = l.split(' ').next().unwrap_or("777");
            u32::from_str_radix(mode, 8).map_or(true, |m| m & 0o077 != 0)
        })
        .collect();
    assert!(open.is_empty(), "readable by others: {open:?}");
}

#[test]
fn a_run_requeued_for_an_infrastructure_failure_is_released_within_seconds() {
    let e = senv();
    // The first run fails the way a flaky network does; the job script requeues it, and SLURM
    // holds the requeued job until a BeginTime about two minutes away.
    let job = e.ssubmit(
        &["--name", "flaky"],
        &[
            "sh",
            "-c",
            "if [ \"${SLURM_RESTART_COUNT:-0}\" -eq 0 ]; then echo 'misc/socket.cc:50 NCCL WARN Net : Connect to node2 failed' >&2; exit 1; fi; echo recovered",
        ],
    );
    let id = e.slurm_id(&job);
    wait_for("the requeued run to be held for its BeginTime", || {
        scontrol_field(&id, "Restarts") == "1"
            && scontrol_field(&id, "JobState") == "PENDING"
            && scontrol_field(&id, "Reason") == "BeginTime"
    });
    // SubmitTime is the requeue's time.
    let requeued = scontrol_field(&id, "SubmitTime");
    // Status calls lift the hold: well inside SLURM's two minutes (wait_for gives up after
    // one), but not in the requeue's own second or the next, when the nodes would refuse the
    // run's launch (the credential they revoked at the requeue is no older than its own).
    wait_for("a status call to lift the hold", || {
        assert_eq!(e.srun(&["status", &job]).code(), 0);
        scontrol_field(&id, "Reason") != "BeginTime"
    });
    let w = e.srun(&["wait", &job]);
    assert_eq!(w.code(), 0, "{}\n{}", w.stderr(), e.evidence(&job));
    let start = scontrol_field(&id, "StartTime");
    let gap = remote(&format!(
        "echo $(( $(date -d {start} +%s) - $(date -d {requeued} +%s) ))"
    ));
    assert!(
        gap.trim()
            .parse::<i64>()
            .is_ok_and(|g| (2..100).contains(&g)),
        "requeued at {requeued}, the second run started at {start}: {gap}"
    );
    assert!(e.srun(&["logs", &job]).stdout().contains("recovered"));
    assert_eq!(e.show(&job)["retry_count"], 1);
}

#[test]
fn a_job_cancelled_outside_hoist_has_no_exit_code() {
    let e = senv();
    let job = e.ssubmit(&[], &["sleep", "300"]);
    e.wait_status(&job, "Running");
    remote(&format!("scancel {}", e.slurm_id(&job)));
    wait_for("the cancel to show", || {
        let o = e.srun(&["status", &job, "--json"]);
        serde_json::from_str::<serde_json::Value>(&o.stdout())
            .is_ok_and(|s| s["status"] == "Canceled")
    });
    let s = e.show(&job);
    assert!(s["exit_code"].is_null(), "{s}");
    assert!(
        !e.srun(&["status", &job]).stdout().contains("exit 0"),
        "a cancelled job shows no exit"
    );
}

#[test]
fn submit_and_cancel_take_one_round_trip_each_after_the_status() {
    let e = senv();
    // The first command learns the cluster (name, home, partitions) once; later processes
    // read it back, and the cluster's name travels inside each submit script.
    e.ssubmit(&["--name", "warm"], &["true"]);
    let (o, trips) = e.traced(
        "submit.trace",
        &["run", "-d", "--platform", "slurm", "--", "sleep", "300"],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(trips, ["sh"], "one round trip per submit");
    let job = o.stdout().trim().to_string();
    assert_eq!(
        e.show(&job)["backend_identity"],
        "slurm:ci@hoistuser",
        "the identity the submit script reported"
    );
    e.wait_status(&job, "Running");
    let (o, trips) = e.traced("cancel.trace", &["cancel", &job]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains("Canceled"), "{}", o.stdout());
    assert_eq!(
        trips.len(),
        2,
        "the status, then scancel with the state after it: {trips:?}"
    );
    assert!(e.show(&job)["exit_code"].is_null());
}

#[test]
fn a_home_too_deep_for_a_socket_path_still_shares_one_connection() {
    let e = senv();
    // `$HOIST_HOME/ssh/cm-<40 hex>` plus ssh's temporary suffix would pass the 107 bytes a
    // socket path may have: the sockets move to a short private directory instead.
    let deep = e.path(&format!("{}/home", "d".repeat(100)));
    let run = |args: &[&str]| {
        Out(e
            .scmd(args)
            .env("HOIST_HOME", &deep)
            .output()
            .expect("hoist"))
    };
    let o = run(&["run", "-d", "--platform", "slurm", "--", "true"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let job = o.stdout().trim().to_string();
    let w = run(&["wait", &job]);
    assert_eq!(w.code(), 0, "{}", w.stderr());
    let ls = Out(e
        .scmd(&["ls", "--json"])
        .env("HOIST_HOME", &deep)
        .output()
        .expect("hoist"));
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&ls.stdout()).expect("json");
    if let Some(id) = jobs[0]["backend_job_id"].as_str() {
        remote(&format!("scancel {id}"));
    }
}

#[test]
fn gc_removes_an_ended_jobs_folder_on_the_cluster_and_keeps_logs_why_and_show() {
    let e = senv();
    let old = e.ssubmit(
        &["--name", "gc-old"],
        &[
            "sh",
            "-c",
            "echo from-old; echo 'ValueError: bad' >&2; exit 3",
        ],
    );
    assert_eq!(e.srun(&["wait", &old]).code(), 3);
    let live = e.ssubmit(&["--name", "gc-live"], &["sleep", "600"]);
    let base = e.show(&old)["results_location"]
        .as_str()
        .and_then(|r| r.strip_prefix("lustre://"))
        .and_then(|r| r.strip_suffix(&format!("/results/{old}")))
        .map(str::to_string)
        .expect("results location under the base");
    let folder = format!("{base}/jobs/{old}");
    let exists = |d: &str| remote(&format!("test -d {d} && echo yes")).contains("yes");
    assert!(exists(&folder));
    let why_before = e.srun(&["why", &old, "--json"]).stdout();

    // The default retention (7d) keeps it; a dry run names it and removes nothing.
    assert_eq!(e.srun(&["gc", "--platform", "slurm"]).code(), 0);
    assert!(exists(&folder));
    let o = e.srun(&[
        "gc",
        "--platform",
        "slurm",
        "--older-than",
        "0",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&o.stdout()).expect("json");
    assert!(
        listed
            .iter()
            .any(|c| c["job_id"] == old.as_str() && c["removed"] == false),
        "{listed:?}"
    );
    assert!(exists(&folder));

    let o = e.srun(&["gc", "--platform", "slurm", "--older-than", "0", "--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&o.stdout()).expect("json");
    assert!(
        listed
            .iter()
            .any(|c| c["job_id"] == old.as_str() && c["removed"] == true),
        "{listed:?}"
    );
    assert!(
        !listed.iter().any(|c| c["job_id"] == live.as_str()),
        "a running job is never collected: {listed:?}"
    );
    assert!(!exists(&folder), "the ended job's folder is gone");
    assert!(exists(&format!("{base}/jobs/{live}")));

    // What was saved answers for it, with no remote folder left.
    let logs = e.srun(&["logs", &old]).stdout();
    assert!(
        logs.contains("from-old") && logs.contains("ValueError: bad"),
        "{logs}"
    );
    let last = e.srun(&["logs", &old, "--tail", "1"]).stdout();
    assert_eq!(last.lines().count(), 1, "{last}");
    assert!(logs.ends_with(&last), "{last} of {logs}");
    let st = e.show(&old);
    assert_eq!(
        (st["status"].as_str(), st["exit_code"].as_i64()),
        (Some("Error"), Some(3))
    );
    let why = e.srun(&["why", &old, "--json"]);
    assert_eq!(why.code(), 0, "{}", why.stderr());
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&why_before).expect("why before"),
        serde_json::from_str(&why.stdout()).expect("why after"),
    );
    assert_eq!(a, b, "the same answer from the saved output");
    e.srun(&["cancel", &live]);
}
