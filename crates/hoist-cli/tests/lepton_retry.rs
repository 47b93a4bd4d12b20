//! Retries follow the failure class on the lepton platform, against the recorded-response
//! server (crates/hoist-lepton/tests/fake-lepton/server.py): a Failed job whose log or events
//! show the infrastructure's fault is created again with its spec, the cause recorded; a
//! program failure never is.

mod harness;
#[path = "harness/lepton.rs"]
mod lepton_world;
use harness::*;
use lepton_world::*;
use serde_json::{Value, json};

const XID: &str = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.";

/// Jobs created from now on run once and complete.
fn next_runs_complete(l: &Lepton) {
    std::fs::write(
        l.env.path("lepton-state").join("setup.json"),
        json!({"script": [["Running", 1], ["Completed", 0]]}).to_string(),
    )
    .expect("setup");
}

/// Fail the job's current run with `lines` in its log and `events` on it.
fn fail(l: &Lepton, backend: &str, lines: &[&str], events: Value) {
    l.admin(&format!("/jobs/{backend}/logs"), json!({ "lines": lines }));
    l.admin(
        &format!("/jobs/{backend}/events"),
        json!({ "events": events }),
    );
    l.admin(
        &format!("/jobs/{backend}"),
        json!({"state": "Failed", "failed": 1}),
    );
}

fn show(l: &Lepton, id: &str) -> Value {
    let o = l.hoist(&["show", id, "--json"]);
    assert_eq!(o.code(), 0, "show: {}", o.stderr());
    serde_json::from_str(&o.stdout()).expect("show json")
}

fn warning(reason: &str, message: &str) -> Value {
    json!({"type": "Warning", "reason": reason, "message": message, "count": 1,
           "last_observed_time": "2026-07-01T00:10:00Z"})
}

#[test]
fn an_infrastructure_failure_is_created_again_with_its_spec_and_rm_deletes_every_run() {
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let o = Out(l
        .command(&[
            "run",
            "-d",
            "--platform",
            "lepton",
            "--image",
            IMG,
            "--name",
            "train",
            "--env",
            "HF_TOKEN",
            "--",
            "python",
            "train.py",
        ])
        .env("HF_TOKEN", "hf_secret_value_123")
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let id = o.stdout().trim().to_string();
    let first = l.backend_id(&id);
    let first_body = l.created_body();
    next_runs_complete(&l);
    fail(&l, &first, &["step 1", XID], json!([]));
    let done = l.wait_status(&id, "Complete");
    assert_eq!(done["exit_code"], 0, "{done}");

    let j = show(&l, &id);
    assert_eq!(j["retry_count"], 1, "{j}");
    let h = &j["retry_history"][0];
    assert_eq!(h["backend_job_id"].as_str(), Some(first.as_str()));
    let reason = h["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("fell off the PCIe bus") && reason.contains("Xid"),
        "recorded with the rule's cause: {reason}"
    );
    let second = j["backend_job_id"].as_str().expect("new id").to_string();
    let posts = l.requests_to("POST", "/jobs");
    assert_eq!(posts.len(), 2, "one new job");
    let body = &posts[1]["body"];
    assert_eq!(
        body["metadata"]["id"],
        format!("train-{}-r2", &id[..8]),
        "{body}"
    );
    assert!(second.starts_with(&format!("train-{}-r2", &id[..8])));
    // The same spec: the secret is still a reference to the job's workspace secret, and no
    // new secret was made (its value is not in this process any more).
    assert_eq!(body["spec"]["envs"], first_body["spec"]["envs"]);
    assert_eq!(body["spec"]["container"], first_body["spec"]["container"]);
    assert_eq!(l.requests_to("POST", "/usersecrets").len(), 1);
    let w: Value =
        serde_json::from_str(&l.hoist(&["why", &id, "--json"]).stdout()).expect("why json");
    assert!(
        w["cause"].as_str().is_some_and(|c| c.contains("fell off")),
        "{w}"
    );

    assert_eq!(l.hoist(&["rm", &id]).code(), 0);
    for b in [&first, &second] {
        assert_eq!(
            l.requests_to("DELETE", &format!("/jobs/{b}")).len(),
            1,
            "hoist rm deletes run {b}"
        );
    }
}

#[test]
fn an_evicted_worker_is_retried_and_program_failures_never_are() {
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let evicted = l.submit(&["--name", "ev"], &["python", "train.py"]);
    let py = l.submit(&["--name", "py"], &["python", "train.py"]);
    let oom = l.submit(&["--name", "oom"], &["python", "train.py"]);
    let (e, p, m) = (
        l.backend_id(&evicted),
        l.backend_id(&py),
        l.backend_id(&oom),
    );
    next_runs_complete(&l);
    fail(
        &l,
        &e,
        &["epoch 3"],
        json!([warning("Evicted", "The node was low on resource: memory.")]),
    );
    fail(
        &l,
        &p,
        &[
            "Traceback (most recent call last):",
            "  File \"train.py\", line 3, in <module>",
            "ValueError: learning rate must be positive",
        ],
        json!([]),
    );
    // A worker killed for memory: its peers' NCCL errors follow from it, not from the network.
    fail(
        &l,
        &m,
        &["node1:12:40 [0] NCCL WARN NET/IB : Got completion with error 12"],
        json!([warning("OOMKilled", "container job was OOM killed")]),
    );
    l.wait_status(&evicted, "Complete");
    let j = show(&l, &evicted);
    assert!(
        j["retry_history"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Evicted")),
        "{j}"
    );
    for id in [&py, &oom] {
        let s = l.wait_status(id, "Error");
        assert_eq!(show(&l, id)["retry_count"], 0, "{s}");
    }
    assert_eq!(l.requests_to("POST", "/jobs").len(), 4, "one retry in all");
}

#[test]
fn max_retries_zero_keeps_the_failure() {
    let l = Lepton::new(json!({"script": [["Running", 0]]}));
    let id = l.submit(&[], &["python", "train.py"]);
    let b = l.backend_id(&id);
    fail(&l, &b, &[XID], json!([]));
    wait_for("the job to end Error", || {
        let o = l
            .command(&["status", &id, "--json"])
            .env("HOIST_MAX_RETRIES", "0")
            .output()
            .expect("status");
        serde_json::from_slice::<Value>(&o.stdout).is_ok_and(|v| v["status"] == "Error")
    });
    let j = show(&l, &id);
    assert_eq!(j["retry_count"], 0, "{j}");
    assert!(
        j["message"]
            .as_str()
            .is_some_and(|m| m.contains("fell off")),
        "the cause is the job's message: {j}"
    );
    assert_eq!(l.requests_to("POST", "/jobs").len(), 1);
}
