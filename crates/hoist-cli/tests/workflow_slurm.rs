//! A workflow across three platforms with results handed downstream: `prepare` on this host
//! writes a file, `train` on the SLURM testbed reads it through `${{ needs.prepare.results }}`
//! (shipped over the ssh session) and writes its own result, `evaluate` in a Docker container
//! reads that through `${{ needs.train.results }}` and prints it. Needs scripts/testbed.sh (the
//! SLURM cluster on loopback, the S3 server, the Docker daemon and the busybox image).

mod harness;
use harness::docker::IMG;
use harness::slurm::*;
use harness::*;
use serde_json::Value;

/// A test store whose SLURM jobs are cancelled and containers removed when the test ends,
/// pass or fail.
struct SlurmStore(Env);

impl Drop for SlurmStore {
    fn drop(&mut self) {
        let jobs: Vec<Value> = self
            .0
            .cmd(&["ls", "--json"])
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or_default();
        scancel_all(&self.0);
        for j in jobs.iter().filter(|j| j["platform"] == "docker") {
            if let Some(id) = j["job_id"].as_str() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f", &format!("hoist-job-{id}")])
                    .output();
            }
        }
    }
}

/// `hoist ARGS` with the SLURM variables a user exports and the S3 server's credentials and
/// staging bucket.
fn cmd(e: &Env, bucket: &str, args: &[&str]) -> std::process::Command {
    let mut c = e.cmd(args);
    slurm_vars(c.current_dir(e.dir.path()))
        // The container reaches the loopback S3 server only on the host's network.
        .env("DOCKER_NETWORK", "host")
        .env_remove("DOCKER_HOST");
    s3::env(&mut c).env("S3_BUCKET_NAME", bucket);
    c
}

fn testbed_up() {
    assert_cluster_up();
}

/// `train` writes under `$TAO_RESULTS_ROOT/$TAO_JOB_ID`: SLURM jobs are not given
/// `HOIST_RESULTS_DIR` (only local ones are), though it names the same directory.
const WORKFLOW: &str = r#"name: handoff
---
name: prepare
run: echo prepared-on-the-host > $HOIST_RESULTS_DIR/ds.txt
---
name: train
needs: [prepare]
resources:
  infra: slurm
file_mounts:
  data: ${{ needs.prepare.results }}
run: echo "trained-on-slurm from $(cat data/ds.txt)" > $TAO_RESULTS_ROOT/$TAO_JOB_ID/model.txt
---
name: evaluate
needs: [train]
resources:
  image_id: docker:IMAGE
file_mounts:
  /model: ${{ needs.train.results }}
run: cat /model/model.txt
"#;

#[test]
fn results_travel_from_local_through_slurm_to_docker() {
    testbed_up();
    let store = SlurmStore(Env::new());
    let e = &store.0;
    let bucket = s3::bucket();
    std::fs::write(e.path("wf.yaml"), WORKFLOW.replace("IMAGE", IMG)).expect("workflow file");
    let o = Out(cmd(e, &bucket, &["launch", "wf.yaml", "--run-dir", "run"])
        .output()
        .expect("hoist launch"));
    assert_eq!(o.code(), 0, "{}\n{}", o.stdout(), o.stderr());
    assert!(
        o.stdout()
            .contains("[evaluate] trained-on-slurm from prepared-on-the-host"),
        "{}\n{}",
        o.stdout(),
        o.stderr()
    );
    let status: Value = serde_json::from_str(
        &std::fs::read_to_string(e.path("run/status.json")).expect("run/status.json"),
    )
    .expect("status JSON");
    assert_eq!(status["state"], "complete", "{status}");

    let ls = Out(cmd(e, &bucket, &["ls", "--json"]).output().expect("ls"));
    assert_eq!(ls.code(), 0, "{}", ls.stderr());
    let jobs: Vec<Value> = serde_json::from_str(&ls.stdout()).expect("ls json");
    let mut platforms: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap_or_default(),
                j["platform"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    platforms.sort();
    assert_eq!(
        platforms,
        [
            ("evaluate", "docker"),
            ("prepare", "local"),
            ("train", "slurm")
        ],
        "{jobs:?}"
    );

    // train's results reached the container through the staging bucket, and the copy
    // fetched from the cluster on the way is gone.
    let evaluate = jobs
        .iter()
        .find(|j| j["name"] == "evaluate")
        .and_then(|j| j["job_id"].as_str())
        .expect("evaluate's id");
    let staged = s3::path(&bucket, &format!("hoist/uploads/{evaluate}"));
    let copies: Vec<String> = all_bytes(&staged)
        .into_iter()
        .filter(|(p, _)| p.ends_with("model.txt"))
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .collect();
    assert_eq!(
        copies,
        ["trained-on-slurm from prepared-on-the-host\n"],
        "under {}",
        staged.display()
    );
    assert!(!e.job_dir(evaluate).join("fetched").exists());
}
