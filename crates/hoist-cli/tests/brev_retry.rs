//! Retries follow the failure class on the brev platform: the scripted `brev` stand-in
//! (crates/hoist-brev/tests/fake-brev) first on PATH, each instance's ssh alias at the
//! testbed's sshd, whose host runs the real Docker engine. A run whose log shows the
//! infrastructure's fault runs again in a fresh container on the same instance; a program
//! failure never does. A missing piece fails with the fix (scripts/testbed.sh), never a skip.

#[path = "harness/brev.rs"]
mod brev_world;
mod harness;
use brev_world::*;
use harness::*;
use serde_json::{Value, json};

const XID: &str = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.";

/// A world with one RUNNING instance, `box`, already there.
fn world() -> Brev {
    Brev::new(json!({
        "logged_in": true,
        "instances": [{"name": "box", "status": "RUNNING"}],
    }))
}

fn submit(b: &Brev, name: &str, script: &str) -> String {
    let dir = b.env.path(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mount = format!("{}:/work", dir.display());
    let o = b.hoist(&[
        "run",
        "-d",
        "--platform",
        "brev",
        "--instance",
        "box",
        "--image",
        IMG,
        "--name",
        name,
        "--mount",
        &mount,
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    o.stdout().trim().to_string()
}

fn show(b: &Brev, id: &str) -> Value {
    let o = b.hoist(&["show", id, "--json"]);
    assert_eq!(o.code(), 0, "show: {}", o.stderr());
    serde_json::from_str(&o.stdout()).expect("show json")
}

#[test]
fn an_infrastructure_failure_runs_again_on_the_same_instance_and_a_program_failure_does_not() {
    let b = world();
    let flaky = submit(
        &b,
        "flaky",
        &format!(
            "if [ -f /work/ran ]; then echo second run; exit 0; fi; touch /work/ran; echo '{XID}'; exit 1"
        ),
    );
    let bug = submit(
        &b,
        "bug",
        "echo 'Traceback (most recent call last):'; echo 'KeyError: lr'; exit 1",
    );
    let done = b.wait_status(&flaky, "Complete");
    assert_eq!(done["exit_code"], 0, "{done}");
    let j = show(&b, &flaky);
    assert_eq!(j["retry_count"], 1, "{j}");
    let reason = j["retry_history"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("fell off the PCIe bus") && reason.contains("on brev instance box"),
        "{reason}"
    );
    assert!(
        j["backend_identity"]
            .as_str()
            .is_some_and(|i| i.starts_with("brev:")),
        "{j}"
    );
    assert_eq!(b.hoist(&["logs", &flaky]).stdout(), "second run\n");
    let s = b.wait_status(&bug, "Error");
    assert_eq!(show(&b, &bug)["retry_count"], 0, "{s}");
    let creates = std::fs::read_to_string(b.env.path("brev-state").join("calls.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"create\""))
        .count();
    assert_eq!(creates, 0, "the instance was reused, never created");
}
