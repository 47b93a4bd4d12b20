//! The brev platform end to end: a scripted stand-in for the `brev` CLI first on PATH
//! (crates/hoist-brev/tests/fake-brev, shaped as brev-cli's outputs), whose `refresh` points
//! each instance's ssh alias at the testbed's real sshd on loopback, whose host runs the real
//! Docker engine. So instances are imitated; ssh, Docker and the job's container are real.
//! A missing piece fails with the fix (scripts/testbed.sh), never a skip.

#[path = "harness/brev.rs"]
mod brev_world;
mod harness;
use brev_world::*;
use harness::*;
use serde_json::{Value, json};

#[test]
fn a_job_runs_on_a_created_instance_then_reuses_it() {
    let b = Brev::new(json!({"logged_in": false, "steps": 2}));
    let run = b.hoist(&[
        "run",
        "--platform",
        "brev",
        "--image",
        IMG,
        "--gpu-type",
        "A100",
        "--",
        "sh",
        "-c",
        "echo hello-from-brev; exit 3",
    ]);
    assert_eq!(run.code(), 3, "{}\n{}", run.stdout(), run.stderr());
    assert!(run.stdout().contains("hello-from-brev"), "{}", run.stdout());
    // One line per state change when piped.
    let err = run.stderr();
    for phase in [
        "creating brev instance hoist-",
        "DEPLOYING",
        "BUILDING",
        "shell READY",
    ] {
        assert!(err.contains(phase), "no {phase:?} in:\n{err}");
    }
    let jobs = b.ls();
    let first = jobs[0]["job_id"].as_str().expect("id").to_string();
    let name = format!("hoist-{}", &first[..8]);
    assert!(
        jobs[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&name),
        "{}",
        jobs[0]
    );
    let creates = b.calls_of("create");
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0][..2], ["create".to_string(), name.clone()]);
    assert!(
        creates[0].contains(&"--gpu-name".to_string()) && creates[0].contains(&"A100".to_string())
    );
    assert_eq!(
        b.calls_of("login").len(),
        1,
        "logged in once, when brev said logged out"
    );
    assert!(
        b.calls_of("exec").is_empty(),
        "brev exec must never be used"
    );
    let logs = b.hoist(&["logs", &first]);
    assert!(
        logs.stdout().contains("hello-from-brev"),
        "{}",
        logs.stdout()
    );
    let why = b.hoist(&["why", &first]);
    assert_eq!(why.code(), 0, "{}", why.stderr());

    // Reuse: the same instance, no second create; a long job, then canceled.
    let o = b.hoist(&[
        "run",
        "-d",
        "--platform",
        "brev",
        "--instance",
        &name,
        "--image",
        IMG,
        "--",
        "sleep",
        "300",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let second = o.stdout().trim().to_string();
    b.wait_status(&second, "Running");
    assert_eq!(b.calls_of("create").len(), 1, "reused, not created again");
    let show = b.hoist(&["show", &second, "--json"]);
    assert!(show.stdout().contains(&name), "{}", show.stdout());
    let inst = b.hoist(&["instances", "--platform", "brev", "--json"]);
    assert_eq!(inst.code(), 0, "{}", inst.stderr());
    let v: Vec<Value> = serde_json::from_str(&inst.stdout()).expect("instances json");
    let mine = v
        .iter()
        .find(|i| i["name"] == name.as_str())
        .expect("listed");
    assert_eq!(mine["jobs"].as_array().map(Vec::len), Some(2), "{mine}");
    assert_eq!(mine["active_jobs"], json!([second]));
    let c = b.hoist(&["cancel", &second]);
    assert_eq!(c.code(), 0, "{}", c.stderr());
    b.wait_status(&second, "Canceled");
    b.assert_token_nowhere(&[&run, &logs, &why, &o, &show, &inst, &c]);
}

#[test]
fn a_stopped_instance_is_started_and_the_old_ls_shape_read() {
    let b = Brev::new(json!({
        "logged_in": true,
        "ls_shape": "array",
        "instances": [{"name": "box-1", "id": "abcdefghi", "status": "STOPPED", "instance_type": "g5.xlarge", "gpu": "A10G"}],
    }));
    let run = b.hoist(&[
        "run",
        "--platform",
        "brev",
        "--instance",
        "box-1",
        "--image",
        IMG,
        "--",
        "echo",
        "started-ok",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stdout().contains("started-ok"));
    assert_eq!(
        b.calls_of("start"),
        vec![vec!["start".to_string(), "box-1".into()]]
    );
    assert!(b.calls_of("create").is_empty());
    let job = &b.ls()[0];
    assert_eq!(job["status"], "Complete");
}

#[test]
fn an_expired_session_is_logged_in_again_once() {
    // Logged in, but the session expires every three commands (brev's hourly token expiry,
    // sped up): each command that meets it logs in again once and goes on.
    let b = Brev::new(json!({"logged_in": true, "expire_after": 3}));
    let run = b.hoist(&[
        "run",
        "--platform",
        "brev",
        "--image",
        IMG,
        "--",
        "echo",
        "after-relogin",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert!(run.stdout().contains("after-relogin"));
    let calls = b.calls();
    assert!(!b.calls_of("login").is_empty(), "{calls:?}");
    for (i, c) in calls.iter().enumerate() {
        if c[0] == "login" {
            // Right after the command that found the session expired, which then ran again.
            assert!(i > 0 && calls.get(i + 1) == calls.get(i - 1), "{calls:?}");
        }
    }
    b.assert_token_nowhere(&[&run]);

    // Without a token, a logged-out brev is one clear error with the fix.
    let b = Brev::new(json!({"logged_in": false}));
    let o = Out(b
        .command(
            &["run", "--platform", "brev", "--image", IMG, "--", "true"],
            false,
        )
        .output()
        .expect("hoist"));
    assert_ne!(o.code(), 0);
    assert!(
        o.stderr().contains("logged out")
            && o.stderr().contains("brev login")
            && o.stderr().contains("BREV_API_TOKEN"),
        "{}",
        o.stderr()
    );
}

#[test]
fn a_failed_instance_ends_the_job_error_and_is_given_back() {
    let b = Brev::new(json!({"logged_in": true, "fail_create": ["doomed"]}));
    let run = b.hoist(&[
        "run",
        "--platform",
        "brev",
        "--instance",
        "doomed",
        "--delete-instance",
        "--image",
        IMG,
        "--",
        "true",
    ]);
    assert_ne!(run.code(), 0);
    assert!(run.stderr().contains("FAILURE"), "{}", run.stderr());
    let job = &b.ls()[0];
    assert_eq!(job["status"], "Error", "{job}");
    let id = job["job_id"].as_str().expect("id");
    let why = b.hoist(&["why", id, "--json"]);
    assert_eq!(why.code(), 0, "{}", why.stderr());
    assert!(why.stdout().contains("FAILURE"), "{}", why.stdout());
    // Created by hoist for a job that asked to give it back: deleted after the failure.
    assert_eq!(
        b.calls_of("delete"),
        vec![vec!["delete".to_string(), "doomed".into()]]
    );
}

#[test]
fn bad_input_creates_and_stores_nothing() {
    let b = Brev::new(json!({"logged_in": true}));
    let cases: &[(&[&str], &str)] = &[
        (&["--nodes", "2"], "one host"),
        (
            &["--gpu-type", "A100", "--instance-type", "g5.xlarge"],
            "--gpu-type and --instance-type",
        ),
        (
            &["--instance", "bad name!"],
            "not a valid Brev instance name",
        ),
        (&["--gpu-type", "Z9000"], "Z9000"),
        (&["--instance-type", "no.such.type"], "no.such.type"),
        (&["--namespace", "ml"], "applies to the kubernetes platform"),
    ];
    for (extra, want) in cases {
        let mut a = vec!["run", "--platform", "brev", "--image", IMG];
        a.extend_from_slice(extra);
        a.extend(["--", "true"]);
        let o = b.hoist(&a);
        assert_eq!(o.code(), 2, "{extra:?}: {}", o.stderr());
        assert!(o.stderr().contains(want), "{extra:?}: {}", o.stderr());
    }
    assert!(b.ls().is_empty(), "nothing stored");
    assert!(b.listed().is_empty(), "nothing created");
    // Shared container flags mean the same on brev.
    let dry = b.hoist(&[
        "run",
        "--dry-run",
        "--json",
        "--platform",
        "brev",
        "--image",
        IMG,
        "--mount",
        "/srv:/data:ro",
        "--shm-size",
        "1g",
        "--",
        "true",
    ]);
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    let v: Value = serde_json::from_str(&dry.stdout()).expect("dry-run json");
    assert_eq!(
        v["container"]["create"]["HostConfig"]["Mounts"][0],
        json!({"ReadOnly": true, "Source": "/srv", "Target": "/data", "Type": "bind"}),
        "{v}"
    );
    assert_eq!(
        v["container"]["create"]["HostConfig"]["ShmSize"],
        1u64 << 30,
        "{v}"
    );
    // brev missing: the error names HOIST_BREV_BIN.
    let o = Out(b
        .command(
            &["run", "--platform", "brev", "--image", IMG, "--", "true"],
            true,
        )
        .env("HOIST_BREV_BIN", "/nonexistent/brev")
        .output()
        .expect("hoist"));
    assert_ne!(o.code(), 0);
    assert!(o.stderr().contains("HOIST_BREV_BIN"), "{}", o.stderr());
}

#[test]
fn the_gpu_model_of_gpus_creates_the_instance_unless_a_brev_option_says_otherwise() {
    let b = Brev::new(json!({"logged_in": true}));
    let create_of = |extra: &[&str]| -> Vec<String> {
        let mut a = vec![
            "run",
            "--dry-run",
            "--json",
            "--platform",
            "brev",
            "--image",
            IMG,
        ];
        a.extend_from_slice(extra);
        a.extend(["--", "true"]);
        let o = b.hoist(&a);
        assert_eq!(o.code(), 0, "{extra:?}: {}", o.stderr());
        let v: Value = serde_json::from_str(&o.stdout()).expect("dry-run json");
        serde_json::from_value(v["create_if_missing"].clone()).expect("create argv")
    };
    let tail = |argv: Vec<String>| argv[4..].to_vec();
    assert_eq!(
        tail(create_of(&["--gpus", "A100:1"])),
        ["--gpu-name", "A100"]
    );
    assert_eq!(
        tail(create_of(&["--gpus", "A100:1", "--gpu-type", "H100"])),
        ["--gpu-name", "H100"]
    );
    assert_eq!(
        tail(create_of(&[
            "--gpus",
            "A100:1",
            "--instance-type",
            "g5.xlarge"
        ])),
        ["--type", "g5.xlarge"]
    );
    assert!(
        tail(create_of(&["--gpus", "1"])).is_empty(),
        "no model: brev's default search"
    );
    assert!(b.calls_of("create").is_empty(), "a dry run creates nothing");

    // A real submit hands the model to brev create, and brev's refusal is the user's to fix.
    let o = b.hoist(&[
        "run",
        "--platform",
        "brev",
        "--image",
        IMG,
        "--gpus",
        "Z9000:1",
        "--",
        "true",
    ]);
    assert_eq!(o.code(), 2, "{}", o.stderr());
    assert!(o.stderr().contains("Z9000"), "{}", o.stderr());
    let creates = b.calls_of("create");
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert!(
        creates[0].windows(2).any(|w| w == ["--gpu-name", "Z9000"]),
        "{creates:?}"
    );
}

#[test]
fn instances_are_removed_only_when_idle_or_forced_and_given_back_when_done() {
    let b = Brev::new(json!({"logged_in": true}));
    let o = b.hoist(&[
        "run",
        "-d",
        "--platform",
        "brev",
        "--instance",
        "busy",
        "--image",
        IMG,
        "--",
        "sleep",
        "300",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    b.wait_status(&id, "Running");
    let refused = b.hoist(&["instances", "rm", "busy", "--platform", "brev"]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(refused.stderr().contains("active") && refused.stderr().contains("--force"));
    assert!(b.calls_of("delete").is_empty());
    let forced = b.hoist(&["instances", "rm", "busy", "--platform", "brev", "--force"]);
    assert_eq!(forced.code(), 0, "{}", forced.stderr());
    assert_eq!(b.status(&id)["status"], "Canceled");
    assert_eq!(b.calls_of("delete").len(), 1);

    // delete_when_done: the attached run gives back the instance it created, at once.
    let run = b.hoist(&[
        "run",
        "--platform",
        "brev",
        "--delete-instance",
        "--image",
        IMG,
        "--",
        "echo",
        "done",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let deletes = b.calls_of("delete");
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert!(deletes[1][1].starts_with("hoist-"), "{deletes:?}");
    assert!(
        run.stderr().contains("deleted brev instance"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_deleted_instance_reads_unknown_with_the_reason() {
    let b = Brev::new(json!({"logged_in": true}));
    let o = b.hoist(&[
        "run",
        "-d",
        "--platform",
        "brev",
        "--instance",
        "gone-soon",
        "--image",
        IMG,
        "--",
        "sleep",
        "300",
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    b.wait_status(&id, "Running");
    b.brev(&["delete", "gone-soon"]);
    // DELETING first (not running: unreachable), then gone (not found): never an end.
    let mut last = Value::Null;
    wait_for("the instance to be gone from brev ls", || {
        last = b.status(&id);
        last["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer lists it")
    });
    assert_eq!(last["status"], "Unknown", "{last}");
    // wait does not wait for a machine that is gone.
    let w = b.hoist(&["wait", &id]);
    assert_ne!(w.code(), 0);
    assert!(w.stderr().contains("no longer lists it"), "{}", w.stderr());
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &format!("hoist-job-{id}")])
        .output();
}

#[test]
fn preflight_checks_brev_login_instance_ssh_and_docker() {
    let b = Brev::new(json!({
        "logged_in": true,
        "instances": [{"name": "ready-box", "id": "rdybox123", "status": "RUNNING", "instance_type": "g5.xlarge", "gpu": "A10G"}],
    }));
    let o = b.hoist(&[
        "preflight",
        "--platform",
        "brev",
        "--instance",
        "ready-box",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&o.stdout()).unwrap_or(Value::Null);
    let checks = v["checks"].as_array().cloned().unwrap_or_default();
    let ok = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["ok"] == true)
            .unwrap_or_else(|| panic!("no check {name}: {v}"))
    };
    for name in [
        "brev cli",
        "logged in",
        "instance",
        "ssh",
        "instance daemon",
    ] {
        assert!(ok(name), "{name}: {v}\n{}", o.stderr());
    }
    let cli = checks
        .iter()
        .find(|c| c["name"] == "brev cli")
        .expect("cli");
    assert!(
        cli["detail"].as_str().unwrap_or_default().contains("v0.6"),
        "{cli}"
    );
}

/// Opt-in: a real Brev account (`HOIST_BREV_E2E=1`, the brev CLI on PATH, logged in or
/// BREV_API_TOKEN; `HOIST_BREV_E2E_GPU` picks the GPU, default the cheapest). Creates an
/// instance, runs `nvidia-smi -L` in a CUDA image on it, and deletes it.
#[test]
fn live_brev_end_to_end() {
    if std::env::var("HOIST_BREV_E2E").is_err() {
        eprintln!(
            "live_brev_end_to_end: not run (set HOIST_BREV_E2E=1 with a Brev login to run it)"
        );
        return;
    }
    let e = Env::new();
    let mut a = vec![
        "run",
        "--platform",
        "brev",
        "--delete-instance",
        "--gpus",
        "1",
    ];
    let gpu = std::env::var("HOIST_BREV_E2E_GPU").ok();
    if let Some(g) = &gpu {
        a.extend(["--gpu-type", g.as_str()]);
    }
    a.extend([
        "--image",
        "nvidia/cuda:12.4.1-base-ubuntu22.04",
        "--",
        "nvidia-smi",
        "-L",
    ]);
    let o = e.run(&a);
    assert_eq!(o.code(), 0, "{}\n{}", o.stdout(), o.stderr());
    assert!(o.stdout().contains("GPU 0"), "{}", o.stdout());
}
