//! `Hoist::create_jobs` on the testbed SLURM cluster (scripts/testbed.sh: Host
//! hoist-testbed-slurm, user hoistuser, partition debug): six jobs submitted in one ssh round
//! trip, each ending with its own exit code and output.

use hoist::core::{Command, JobStatus, MapEnv};
use hoist::{Hoist, HoistOptions, JobRequest};
use std::sync::Arc;
use std::time::Duration;

const LOGIN: &str = "hoist-testbed-slurm";

fn request(name: &str, text: &str) -> JobRequest {
    let mut r = JobRequest::new(Command::Shell(text.into()));
    r.name = Some(name.into());
    r.platform = Some("slurm".into());
    r
}

fn trace_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Cancels what the test submitted, pass or fail.
struct Cancel(Vec<String>);

impl Drop for Cancel {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let _ = std::process::Command::new("ssh")
                .args([
                    "-o",
                    "BatchMode=yes",
                    LOGIN,
                    &format!("scancel {}", self.0.join(" ")),
                ])
                .output();
        }
    }
}

// The only test of this binary: it sets the process environment before anything else runs.
#[test]
fn six_jobs_one_round_trip_each_with_its_own_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("ssh-trace");
    // SAFETY: no other thread exists yet (this is the binary's only test, and the runtime
    // is built below), so nothing reads the environment while it changes.
    unsafe { std::env::set_var("HOIST_SSH_TRACE", &trace) };
    let up = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", LOGIN, "sinfo -h -p debug"])
        .output()
        .expect("ssh");
    assert!(
        up.status.success(),
        "the SLURM testbed is not up ({}): run scripts/testbed.sh",
        String::from_utf8_lossy(&up.stderr)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let h = Hoist::open_with(HoistOptions {
            home: Some(dir.path().join("home")),
            exe: Some("/bin/true".into()),
            env: Some(Arc::new(MapEnv::of([
                ("SLURM_HOSTNAME", LOGIN),
                ("SLURM_USER", "hoistuser"),
                ("SLURM_PARTITION", "debug"),
                ("SLURM_CPUS_PER_TASK", "1"),
            ]))),
            ..Default::default()
        })
        .expect("open hoist");
        let mut cancel = Cancel(Vec::new());

        // Warm-up: fills what a process asks of a cluster once (its name, the remote home
        // and the partition limits, kept per process) and the account (sacctmgr, kept a day
        // under $HOIST_HOME/cache).
        let warm = h.create_jobs(vec![request("warm", "true")]).await;
        let warm = warm
            .into_iter()
            .next()
            .expect("one answer")
            .expect("warm-up");
        cancel.0.extend(warm.backend_job_id.clone());

        // What is counted: every ssh process hoist starts while create_jobs runs (hoist-ssh
        // appends one trace line per process, whatever it runs). Preparing, the rows and the
        // launch fences are local; the six jobs' staging and sbatch are one `sh -s`.
        let before = trace_lines(&trace).len();
        let reqs: Vec<JobRequest> = (0..6)
            .map(|i| request(&format!("b{i}"), &format!("echo out-{i}; exit {i}")))
            .collect();
        let answers = h.create_jobs(reqs).await;
        let during = trace_lines(&trace)[before..].to_vec();
        assert_eq!(
            during.len(),
            1,
            "one ssh round trip for six jobs: {during:?}"
        );
        assert!(
            during[0].ends_with(&format!(" hoistuser@{LOGIN} sh")),
            "{during:?}"
        );

        let jobs: Vec<_> = answers.into_iter().map(|a| a.expect("submitted")).collect();
        cancel
            .0
            .extend(jobs.iter().filter_map(|j| j.backend_job_id.clone()));
        let ids: std::collections::BTreeSet<_> =
            jobs.iter().map(|j| j.backend_job_id.clone()).collect();
        assert_eq!(ids.len(), 6, "every job its own SLURM id");
        for (i, job) in jobs.iter().enumerate() {
            assert_eq!(job.name, format!("b{i}"), "answers in request order");
            let done = tokio::time::timeout(Duration::from_secs(180), h.wait(&job.job_id))
                .await
                .expect("the job ends within 3 minutes")
                .expect("wait");
            let want = if i == 0 {
                JobStatus::Complete
            } else {
                JobStatus::Error
            };
            assert_eq!(
                (done.status, done.exit_code),
                (want, Some(i as i32)),
                "b{i}"
            );
            let logs = h.logs(&done, None).await.expect("logs");
            assert!(logs.contains(&format!("out-{i}")), "b{i}: {logs}");
        }
    });
}
