//! `hoist why` on jobs that have not ended, and `hoist ls`'s hint for jobs pending a while,
//! against the real SLURM testbed (scripts/testbed.sh) and the Docker engine. The
//! Kubernetes reasons are tested against the recorded API in hoist-kube/tests/pending.rs.

mod harness;
#[path = "harness/lepton.rs"]
mod lepton_world;
use harness::docker::IMG;
use harness::slurm::*;
use harness::*;
use lepton_world::Lepton;
use serde_json::json;

/// A store whose SLURM jobs are cancelled and whose containers are removed when the test
/// ends, pass or fail.
struct PEnv(Env);

impl std::ops::Deref for PEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for PEnv {
    fn drop(&mut self) {
        let jobs: Vec<serde_json::Value> = self
            .0
            .cmd(&["ls", "--json"])
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or_default();
        scancel_all(&self.0);
        let containers: Vec<String> = jobs
            .iter()
            .filter(|j| j["platform"] == "docker")
            .filter_map(|j| j["job_id"].as_str())
            .map(|id| format!("hoist-job-{id}"))
            .collect();
        if !containers.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f"])
                .args(&containers)
                .output();
        }
    }
}

impl PEnv {
    /// hoist with the SLURM testbed's variables, as a user would export them.
    fn scmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.0.cmd(args);
        slurm_vars(&mut c);
        c
    }

    fn srun(&self, args: &[&str]) -> Out {
        Out(self.scmd(args).output().expect("hoist"))
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let o = self.srun(args);
        assert_eq!(o.code(), 0, "{args:?}: {}", o.stderr());
        serde_json::from_str(&o.stdout())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", o.stdout()))
    }
}

fn slurm_env() -> PEnv {
    assert_cluster_up();
    PEnv(Env::new())
}

#[test]
fn a_held_slurm_job_says_why_it_waits_and_how_to_release_it() {
    let e = slurm_env();
    let o = e.srun(&[
        "run",
        "-d",
        "--platform",
        "slurm",
        "--name",
        "held",
        "--",
        "sleep",
        "300",
    ]);
    assert_eq!(o.code(), 0, "submit: {}", o.stderr());
    let id = o.stdout().trim().to_string();
    let slurm_id = e.json(&["status", &id, "--json"])["backend_job_id"]
        .as_str()
        .expect("a SLURM id")
        .to_string();
    // Hold it while it is queued, or put it back in the queue held if it already started.
    let held = ssh(&format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do \
           r=$(squeue -h -j {slurm_id} -o '%T|%r'); \
           case \"$r\" in PENDING*held*|PENDING*Held*) exit 0;; PENDING*) scontrol hold {slurm_id};; *) scontrol requeuehold {slurm_id};; esac; \
           sleep 1; \
         done; exit 1"
    ));
    assert!(
        held.status.success(),
        "{}",
        String::from_utf8_lossy(&held.stderr)
    );
    // A queued job held reads JobHeldUser; a running one requeued held, SLURM's own phrase.
    wait_for("SLURM to report the job held", || {
        let v = e.json(&["status", &id, "--json"]);
        v["status"] == "Pending"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("JobHeldUser") || m.contains("requeued in held state"))
    });
    let v = e.json(&["why", &id, "--json"]);
    assert_eq!(v["state"], "Pending", "{v}");
    let reason = v["reason"].as_str().expect("a reason").to_string();
    assert!(
        ["JobHeldUser", "job requeued in held state"].contains(&reason.as_str()),
        "{v}"
    );
    assert_eq!(
        v["unblock"].as_str(),
        Some(format!("release it: scontrol release {slurm_id}").as_str()),
        "{v}"
    );
    assert_eq!(v["stuck"], true, "{v}");
    assert!(
        v["evidence"]
            .as_str()
            .is_some_and(|ev| ev.starts_with(&format!(
                "squeue -j {slurm_id}: state PENDING, reason {reason}"
            ))),
        "{v}"
    );
    // status carries the short form, in words.
    let st = e.json(&["status", &id, "--json"]);
    assert_eq!(
        st["message"].as_str(),
        Some(
            format!(
                "PENDING ({reason}: {})",
                v["explanation"].as_str().unwrap_or("")
            )
            .as_str()
        ),
        "{st}"
    );
    let text = e.srun(&["why", &id]);
    assert_eq!(text.code(), 0, "{}", text.stderr());
    let out = text.stdout();
    for want in [
        &format!("reason: {reason}\n"),
        "\nwaiting because: ",
        "(it will not start by waiting)\n",
        &format!("what would unblock it: release it: scontrol release {slurm_id}\n"),
        &format!("evidence: squeue -j {slurm_id}: state PENDING"),
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    // ls marks a job pending past the threshold, with why.
    let ls = Out(e
        .scmd(&["ls"])
        .env("HOIST_PENDING_HINT_SECS", "0")
        .output()
        .expect("hoist"));
    assert!(
        ls.stdout().contains("pending ") && ls.stdout().contains(&format!(": PENDING ({reason}: ")),
        "{}",
        ls.stdout()
    );
    let quiet = Out(e
        .scmd(&["ls"])
        .env("HOIST_PENDING_HINT_SECS", "86400")
        .output()
        .expect("hoist"));
    assert!(!quiet.stdout().contains("pending "), "{}", quiet.stdout());
    // Released with a start time an hour away, it waits for that.
    let later = ssh(&format!(
        "scontrol update JobId={slurm_id} StartTime=now+3600 && scontrol release {slurm_id}"
    ));
    assert!(
        later.status.success(),
        "{}",
        String::from_utf8_lossy(&later.stderr)
    );
    wait_for("SLURM to report the begin time", || {
        e.json(&["why", &id, "--json"])["reason"] == "BeginTime"
    });
    let b = e.json(&["why", &id, "--json"]);
    assert_eq!(
        b["explanation"], "its earliest start time (--begin) has not come yet",
        "{b}"
    );
    assert!(
        b["unblock"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("scontrol update JobId={slurm_id} StartTime=now"))),
        "{b}"
    );
    assert_eq!(b["stuck"], false, "{b}");
    // Doing what it says starts it, and why then says it runs.
    let now = ssh(&format!("scontrol update JobId={slurm_id} StartTime=now"));
    assert!(
        now.status.success(),
        "{}",
        String::from_utf8_lossy(&now.stderr)
    );
    wait_for("the released job to run", || {
        e.json(&["status", &id, "--json"])["status"] == "Running"
    });
    let r = e.json(&["why", &id, "--json"]);
    assert_eq!(r["state"], "Running", "{r}");
    assert!(r["reason"].is_null(), "{r}");
    assert!(
        r["explanation"]
            .as_str()
            .is_some_and(|x| x.contains("it is running") && x.contains("on slurm")),
        "{r}"
    );
}

#[test]
fn a_slurm_job_past_its_time_limit_is_explained() {
    let e = slurm_env();
    // One minute, SLURM's smallest limit; the job would sleep for five.
    let o = Out(e
        .scmd(&[
            "run",
            "-d",
            "--platform",
            "slurm",
            "--name",
            "slow",
            "--",
            "sleep",
            "300",
        ])
        .env("SLURM_TIME_HOURS", "0.0167")
        .output()
        .expect("hoist"));
    assert_eq!(o.code(), 0, "submit: {}", o.stderr());
    let id = o.stdout().trim().to_string();
    let w = e.srun(&["wait", &id]);
    assert_ne!(w.code(), 0, "{}", w.stderr());
    let st = e.json(&["status", &id, "--json"]);
    assert_eq!(st["status"], "Error", "{st}");
    assert!(
        st["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("TIMEOUT")),
        "{st}"
    );
    let v = e.json(&["why", &id, "--json"]);
    assert!(
        v["cause"]
            .as_str()
            .is_some_and(|c| c.contains("wall-time limit")),
        "{v}"
    );
    assert!(
        v["suggestion"]
            .as_str()
            .is_some_and(|s| s.contains("SLURM_TIME_HOURS")),
        "{v}"
    );
    assert_eq!(v["retriable"], false, "{v}");
}

#[test]
fn a_running_docker_job_is_running_with_nothing_to_explain() {
    let e = PEnv(Env::new());
    let id = e.submit(&[
        "--platform",
        "docker",
        "--image",
        IMG,
        "--name",
        "busy",
        "--",
        "sleep",
        "300",
    ]);
    e.wait_status(&id, "Running");
    let v = e.json(&["why", &id, "--json"]);
    assert_eq!(v["state"], "Running", "{v}");
    assert!(v["reason"].is_null(), "{v}");
    assert!(
        v["explanation"]
            .as_str()
            .is_some_and(|x| x.starts_with("it is running") && x.contains("on docker")),
        "{v}"
    );
    let text = e.run(&["why", &id]);
    assert!(text.stdout().contains("it is running"), "{}", text.stdout());
}

#[test]
fn a_docker_container_created_but_not_started_is_explained() {
    let e = PEnv(Env::new());
    // A container left between create and start (as a launcher that died there leaves it):
    // the job's container is replaced by one only created, with the same labels.
    let id = e.submit(&[
        "--platform",
        "docker",
        "--image",
        IMG,
        "--name",
        "created",
        "--",
        "sleep",
        "300",
    ]);
    e.wait_status(&id, "Running");
    let name = format!("hoist-job-{id}");
    let labels = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{json .Config.Labels}}", &name])
        .output()
        .expect("docker");
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&labels.stdout).expect("labels");
    let rm = std::process::Command::new("docker")
        .args(["rm", "-f", &name])
        .output()
        .expect("docker");
    assert!(rm.status.success());
    let mut create = std::process::Command::new("docker");
    create.args(["create", "--name", &name]);
    for (k, v) in &labels {
        create.args(["--label", &format!("{k}={v}")]);
    }
    create.args([IMG, "sleep", "300"]);
    let c = create.output().expect("docker");
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    e.wait_status(&id, "Pending");
    let v = e.json(&["why", &id, "--json"]);
    assert_eq!(v["reason"], "Created", "{v}");
    assert!(
        v["explanation"]
            .as_str()
            .is_some_and(|x| x.contains("has not been started")),
        "{v}"
    );
    assert!(
        v["evidence"]
            .as_str()
            .is_some_and(|x| x.contains(&format!("container {name}: created, not started"))),
        "{v}"
    );
}

#[test]
fn a_queued_lepton_job_says_what_the_scheduler_said() {
    let l = Lepton::new(json!({"script": [["Queueing", 0]]}));
    let id = l.submit(&["--gpus", "8"], &["python", "train.py"]);
    let b = l.backend_id(&id);
    l.admin(
        &format!("/jobs/{b}/events"),
        json!({"events": [{"type": "Warning", "reason": "FailedScheduling", "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", "count": 3, "last_observed_time": "2026-07-01T00:00:05Z"}]}),
    );
    let o = l.hoist(&["why", &id, "--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: serde_json::Value = serde_json::from_str(&o.stdout()).expect("why json");
    assert_eq!(v["state"], "Pending", "{v}");
    assert_eq!(v["reason"], "Queueing", "{v}");
    assert!(
        v["explanation"]
            .as_str()
            .is_some_and(|x| x.contains("2 node(s) lack free GPUs (nvidia.com/gpu)")),
        "{v}"
    );
    assert!(
        v["unblock"]
            .as_str()
            .is_some_and(|u| u.contains("--node-group")),
        "{v}"
    );
    assert!(
        v["evidence"].as_str().is_some_and(|x| x.starts_with("state Queueing, 0/1 workers ready; last event: FailedScheduling: 0/2 nodes are available")),
        "{v}"
    );
}
