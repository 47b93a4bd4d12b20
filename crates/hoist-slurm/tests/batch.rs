//! `submit_batch` on the testbed cluster (scripts/testbed.sh: Host hoist-testbed-slurm, user
//! hoistuser, partition debug): many jobs in one ssh round trip, each with its own answer.

use hoist_core::{
    BuildContext, JobStatus, MapEnv, Platform, PlatformDescriptor, PlatformError, SettingsMap,
    Silent,
};
use hoist_testkit::contract::{record, shell, unique_id};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LOGIN: &str = "hoist-testbed-slurm";

fn platform(home: &std::path::Path) -> Box<dyn Platform> {
    let ok = std::process::Command::new("ssh")
        .args(["-o", "BatchMode=yes", LOGIN, "sinfo -h -p debug"])
        .output()
        .expect("ssh");
    assert!(
        ok.status.success(),
        "the SLURM testbed is not up ({}): run scripts/testbed.sh",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ctx = BuildContext {
        home: home.to_path_buf(),
        exe: "/bin/true".into(),
        env: Arc::new(MapEnv::default()),
        reporter: Arc::new(Silent),
    };
    let settings: SettingsMap = serde_json::json!({
        "hosts": [LOGIN],
        "user": "hoistuser",
        "partition": "debug",
        "cpus_per_task": 1,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    hoist_slurm::Descriptor
        .build(&ctx, &settings, None)
        .expect("slurm platform")
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_is_one_round_trip_and_a_refused_job_fails_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = platform(&dir.path().join("home"));
    // Warm-up: the cluster probe (name, home, partitions) and the account are asked once per
    // platform instance (the account once a day), so the batch below pays only its own trip.
    let warm = p.submit_batch(&[shell(&unique_id("warm"), "true")]).await;
    assert!(warm[0].is_ok(), "{:?}", warm[0]);

    let mut reqs: Vec<_> = (0..5)
        .map(|i| shell(&unique_id("batch"), &format!("echo batch-{i}; exit {i}")))
        .collect();
    // More memory than any node has: sbatch refuses this one job.
    reqs[2].spec.memory_bytes = Some(1 << 50);
    let before = hoist_ssh::round_trips();
    let answers = p.submit_batch(&reqs).await;
    assert_eq!(
        hoist_ssh::round_trips() - before,
        1,
        "five jobs, one ssh process"
    );
    assert_eq!(answers.len(), 5);
    assert!(
        matches!(&answers[2], Err(PlatformError::Input(e)) if e.message.contains("SLURM refused the job")),
        "{:?}",
        answers[2]
    );
    let mut jobs = Vec::new();
    for (i, (req, a)) in reqs.iter().zip(&answers).enumerate() {
        if i == 2 {
            continue;
        }
        let sub = a.as_ref().expect("submitted");
        assert!(sub.backend_job_id.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(sub.backend_identity, "slurm:ci@hoistuser");
        jobs.push((i, record(p.as_ref(), req, sub)));
    }
    let ids: std::collections::BTreeSet<_> =
        jobs.iter().map(|(_, j)| j.backend_job_id.clone()).collect();
    assert_eq!(ids.len(), 4, "every job its own SLURM id");

    // Each job ran as itself: its own output and exit code.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let records: Vec<_> = jobs.iter().map(|(_, j)| j.clone()).collect();
        let st = p.status(&records).await;
        if st
            .iter()
            .all(|s| s.as_ref().is_ok_and(|r| r.status.is_terminal()))
        {
            for ((i, job), s) in jobs.iter().zip(st) {
                let s = s.expect("status");
                let want = if *i == 0 {
                    JobStatus::Complete
                } else {
                    JobStatus::Error
                };
                assert_eq!((s.status, s.exit_code), (want, Some(*i as i32)), "job {i}");
                let logs = p.logs(job, None).await.expect("logs");
                assert!(logs.contains(&format!("batch-{i}")), "job {i}: {logs}");
            }
            break;
        }
        assert!(Instant::now() < deadline, "jobs did not end: {st:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for (_, job) in &jobs {
        let _ = p.remove(job).await;
    }
}
