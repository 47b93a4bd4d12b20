//! Retries follow the failure class on the docker platform, on the real engine (local socket
//! and over ssh): a run whose log shows the infrastructure's fault is run again in a fresh
//! container, with the cause recorded; a program failure never is. The image and sshd come
//! from scripts/testbed.sh; a missing piece fails with the fix, never a skip.

mod harness;
use harness::docker::*;
use harness::*;

const XID: &str = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.";

/// A command that fails its first run with `line` in its log and succeeds on the next: the
/// marker lives in a bind mount, which outlives the container.
fn flaky(line: &str) -> String {
    format!(
        "if [ -f /work/ran ]; then echo second run; exit 0; fi; touch /work/ran; echo step 1; echo '{line}'; exit 1"
    )
}

fn submit(e: &DEnv, extra: &[&str], script: &str) -> String {
    let mut a = vec!["--platform", "docker", "--image", IMG];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["--", "sh", "-c", script]);
    e.submit(&a)
}

fn work_mount(e: &DEnv, name: &str) -> String {
    let dir = e.path(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    format!("{}:/work", dir.display())
}

fn wait(e: &DEnv, id: &str) -> serde_json::Value {
    let o = e.run(&["wait", id]);
    assert!(o.code() >= 0, "wait: {}", o.stderr());
    e.status_json(id)
}

fn show(e: &DEnv, id: &str) -> serde_json::Value {
    let o = e.run(&["show", id, "--json"]);
    assert_eq!(o.code(), 0, "show: {}", o.stderr());
    serde_json::from_str(&o.stdout()).expect("show json")
}

fn why(e: &DEnv, id: &str) -> serde_json::Value {
    let o = e.run(&["why", id, "--json"]);
    assert_eq!(o.code(), 0, "why: {}", o.stderr());
    serde_json::from_str(&o.stdout()).expect("why json")
}

#[test]
fn an_infrastructure_failure_runs_again_in_a_fresh_container_locally_and_over_ssh() {
    let e = denv();
    for (n, host) in [None, Some(SSH_HOST)].into_iter().enumerate() {
        let mount = work_mount(&e, &format!("work{n}"));
        // A secret value lives only in the container's environment: the fresh container gets
        // it from the failed one, never from the store.
        let mut extra = vec!["--mount", mount.as_str(), "-e", "API_TOKEN=s3cret"];
        if let Some(h) = host {
            extra.extend(["--docker-host", h]);
        }
        let script = format!("test \"$API_TOKEN\" = s3cret || exit 9; {}", flaky(XID));
        let id = submit(&e, &extra, &script);
        let s = wait(&e, &id);
        assert_eq!(
            (s["status"].as_str(), s["exit_code"].as_i64()),
            (Some("Complete"), Some(0)),
            "{host:?}: {s}"
        );
        let j = show(&e, &id);
        assert_eq!(j["retry_count"].as_u64(), Some(1), "{j}");
        let h = &j["retry_history"][0];
        let reason = h["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("fell off the PCIe bus") && reason.contains("Xid"),
            "the retry is recorded with the rule's cause: {reason}"
        );
        assert!(
            h["backend_job_id"].as_str().is_some_and(|b| b.len() == 12)
                && h["backend_job_id"] != j["backend_job_id"],
            "a fresh container: {j}"
        );
        // The secret reached the fresh container too (it exited 0, not 9), and the job's
        // logs are the latest run's; the failed run's are kept beside the job.
        assert_eq!(e.run(&["logs", &id]).stdout(), "second run\n");
        let kept = std::fs::read_to_string(e.job_dir(&id).join("attempt-1.log")).expect("kept");
        assert!(kept.contains(XID) && kept.contains("step 1"), "{kept}");
        let text = e.run(&["show", &id]).stdout();
        assert!(
            text.lines()
                .any(|l| l.starts_with("retries") && l.trim_end().ends_with('1'))
                && text.contains("fell off the PCIe bus"),
            "show lists the retry and its cause:\n{text}"
        );
        let w = why(&e, &id);
        assert!(
            w["cause"].as_str().is_some_and(|c| c.contains("fell off")),
            "why tells the completed job's retry: {w}"
        );
        assert_eq!(e.run(&["rm", &id]).code(), 0);
    }
}

#[test]
fn program_failures_are_never_retried() {
    let e = denv();
    let py = "echo 'Traceback (most recent call last):'; echo '  File \"train.py\", line 3, in <module>'; echo 'ValueError: learning rate must be positive' >&2; exit 1";
    for (name, script) in [("py", py.to_string()), ("plain", "echo bye; exit 1".into())] {
        let mount = work_mount(&e, name);
        let id = submit(&e, &["--mount", &mount, "--name", name], &script);
        let s = wait(&e, &id);
        assert_eq!(
            (s["status"].as_str(), s["exit_code"].as_i64()),
            (Some("Error"), Some(1)),
            "{name}: {s}"
        );
        let j = show(&e, &id);
        assert_eq!(j["retry_count"].as_u64(), Some(0), "{name}: {j}");
        let w = why(&e, &id);
        assert_ne!(w["err_class"].as_str(), Some("ERR_INFRA"), "{name}: {w}");
        assert_eq!(w["retriable"].as_bool(), Some(false), "{name}: {w}");
    }
}

#[test]
fn max_retries_zero_keeps_the_failure_and_rm_keeps_the_runs_output() {
    let e = denv();
    let nccl = "node1:12:40 [0] NCCL WARN NET/IB : Got completion with error 12, opcode 0, len 0";
    let mount = work_mount(&e, "none");
    let mut a = vec!["run", "-d", "--platform", "docker", "--image", IMG];
    let script = flaky(nccl);
    a.extend_from_slice(&["--mount", &mount, "--", "sh", "-c", &script]);
    let o = Out(e
        .cmd(&a)
        .env("HOIST_MAX_RETRIES", "0")
        .output()
        .expect("spawn"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    let o = e
        .cmd(&["wait", &id])
        .env("HOIST_MAX_RETRIES", "0")
        .output()
        .expect("wait");
    assert_eq!(o.status.code(), Some(1));
    let j = show(&e, &id);
    assert_eq!(
        (j["status"].as_str(), j["retry_count"].as_u64()),
        (Some("Error"), Some(0)),
        "{j}"
    );
    let w = why(&e, &id);
    assert_eq!(
        (w["err_class"].as_str(), w["retriable"].as_bool()),
        (Some("ERR_INFRA"), Some(true)),
        "{w}"
    );

    // --rm: the failed run is kept for the retry to copy, and the last run's container is
    // removed once the job's end is recorded, its output saved first.
    let mount = work_mount(&e, "rm");
    let id = submit(&e, &["--mount", &mount, "--rm"], &flaky(XID));
    let s = wait(&e, &id);
    assert_eq!(s["status"].as_str(), Some("Complete"), "{s}");
    assert_eq!(show(&e, &id)["retry_count"].as_u64(), Some(1));
    let gone = std::process::Command::new("docker")
        .args(["inspect", &format!("hoist-job-{id}")])
        .output()
        .expect("docker");
    assert!(
        !gone.status.success(),
        "the last run's container is removed"
    );
    assert_eq!(e.run(&["logs", &id]).stdout(), "second run\n");
}
