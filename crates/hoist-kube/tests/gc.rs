//! `hoist gc` on Kubernetes against the in-memory API server in `fake_api`: an ended job's
//! Job, pods, Service and Secrets are deleted after its logs and findings are saved under the
//! job's files, and `logs`, `why`, `show` and `status` answer the same from the saved copy; a
//! job that still runs is never touched, whatever its record says; a dry run removes nothing.

mod fake_api;

use fake_api::{FakeApi, Res};
use hoist_core::{JobRecord, JobStatus, MapEnv, Platform, SubmitRequest};
use hoist_kube::manifest::job_name;
use hoist_kube::{KubePlatform, KubeSettings};
use hoist_testkit::contract::{record, shell, unique_id};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A `$HOIST_HOME` of its own, removed at the end.
struct Home(PathBuf);

impl Home {
    fn new() -> Home {
        let dir = std::env::temp_dir().join(unique_id("hoist-kube-gc"));
        std::fs::create_dir_all(&dir).expect("home");
        Home(dir)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn platform(api: &FakeApi, home: &Home) -> KubePlatform {
    KubePlatform::with_client(
        KubeSettings::default(),
        kube::Client::new(api.clone(), "default"),
        "https://k8s.example:6443/",
    )
    .with_env(Arc::new(MapEnv::default()))
    .with_home(home.0.clone())
}

/// A two-node job with a secret env value: a Job, two pods, a headless Service and a Secret.
fn two_node(text: &str) -> SubmitRequest {
    let mut req = shell(&unique_id("gc"), text);
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    req.spec.nodes = 2;
    req.spec
        .env
        .insert("HF_TOKEN".into(), hoist_core::EnvValue::Secret);
    req.env.insert("HF_TOKEN".into(), "hf_secret_value".into());
    req
}

/// Submit, and the record as the store has it once the job's status was read.
async fn launched(p: &KubePlatform, req: &SubmitRequest) -> JobRecord {
    let sub = p.submit(req).await.expect("submit");
    let mut job = record(p, req, &sub);
    let rep = p
        .status(std::slice::from_ref(&job))
        .await
        .remove(0)
        .expect("status");
    job.status = rep.status;
    job.exit_code = rep.exit_code;
    job.message = rep.message;
    job
}

/// The job's objects still on the cluster, by kind.
fn left(api: &FakeApi, job: &JobRecord) -> Vec<(Res, String)> {
    let name = job_name(&job.job_id);
    [Res::Jobs, Res::Pods, Res::Secrets, Res::Services]
        .into_iter()
        .flat_map(|res| {
            api.names(res, "default")
                .into_iter()
                .filter(|n| n.starts_with(&name))
                .map(move |n| (res, n))
        })
        .collect()
}

#[tokio::test]
async fn gc_removes_an_ended_jobs_objects_and_its_verbs_answer_from_the_saved_copy() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = platform(&api, &home);
    let job = launched(&p, &two_node("echo step one; echo step two; exit 3")).await;
    assert_eq!(job.status, JobStatus::Error);
    let kinds: Vec<Res> = left(&api, &job).into_iter().map(|(r, _)| r).collect();
    assert!(
        [Res::Jobs, Res::Pods, Res::Secrets, Res::Services]
            .iter()
            .all(|r| kinds.contains(r)),
        "a Job, its pods, Secret and Service: {kinds:?}"
    );
    let logs = p.logs(&job, None).await.expect("logs");
    assert!(logs.contains("[0] step two"), "{logs}");
    let details = p.details(&job).await.expect("details");
    let why = p.failure_input(&job).await.expect("why");
    assert_eq!(why.exit_code, Some(3));

    assert!(
        p.collect(std::slice::from_ref(&job), false)
            .await
            .remove(0)
            .expect("gc"),
        "it had objects to remove"
    );
    assert_eq!(left(&api, &job), vec![], "everything of the job is gone");
    // The verbs answer as before, from the copy.
    assert_eq!(p.logs(&job, None).await.expect("logs after"), logs);
    assert_eq!(p.logs(&job, Some(1)).await.expect("tail"), "[1] step two\n");
    assert_eq!(p.details(&job).await.expect("details after"), details);
    let after = p.failure_input(&job).await.expect("why after");
    assert_eq!(
        (after.exit_code, after.findings, after.events),
        (why.exit_code, why.findings, why.events)
    );
    assert!(after.log_tail.contains("step two"), "{}", after.log_tail);
    let rep = p
        .status(std::slice::from_ref(&job))
        .await
        .remove(0)
        .expect("status");
    assert_eq!(
        (rep.status, rep.exit_code),
        (JobStatus::Error, job.exit_code)
    );
    // The copy is the user's alone, and holds no secret value.
    use std::os::unix::fs::PermissionsExt;
    let dir = home.0.join("jobs").join(&job.job_id);
    for f in ["output.log", "kube.json"] {
        let meta = std::fs::metadata(dir.join(f)).expect("saved file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{f}");
        let text = std::fs::read_to_string(dir.join(f)).expect("read");
        assert!(!text.contains("hf_secret_value"), "{f}");
    }
    // Collected once: nothing left to collect.
    assert!(
        !p.collect(std::slice::from_ref(&job), false)
            .await
            .remove(0)
            .expect("again"),
        "nothing left to collect"
    );
    // hoist rm forgets the copy.
    p.remove(&job).await.expect("rm");
    assert!(!dir.exists());
}

#[tokio::test]
async fn a_job_that_still_runs_is_never_collected_whatever_its_record_says() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = platform(&api, &home);
    let mut job = launched(&p, &two_node("sleep 600")).await;
    assert_eq!(job.status, JobStatus::Running);
    // A record that got ahead of the cluster (or a store edited by hand).
    job.status = JobStatus::Complete;
    let before = left(&api, &job);
    for dry_run in [true, false] {
        assert!(
            !p.collect(std::slice::from_ref(&job), dry_run)
                .await
                .remove(0)
                .expect("gc"),
            "dry_run {dry_run}"
        );
    }
    assert_eq!(left(&api, &job), before);
    assert!(
        !home.0.join("jobs").join(&job.job_id).exists(),
        "nothing saved"
    );
}

#[tokio::test]
async fn a_dry_run_says_what_it_would_remove_and_removes_nothing() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = platform(&api, &home);
    let done = launched(&p, &two_node("echo done")).await;
    assert_eq!(done.status, JobStatus::Complete);
    let gone = JobRecord::pending(
        unique_id("never"),
        "kubernetes".into(),
        done.spec.clone(),
        "tok".into(),
    );
    let before = left(&api, &done);
    let answers: Vec<bool> = p
        .collect(&[done.clone(), gone], true)
        .await
        .into_iter()
        .map(|a| a.expect("dry gc"))
        .collect();
    assert_eq!(answers, vec![true, false]);
    assert_eq!(left(&api, &done), before);
    assert!(!home.0.join("jobs").join(&done.job_id).exists());
    assert!(p.logs(&done, None).await.expect("logs").contains("done"));
}

#[test]
fn retention_is_the_retain_setting() {
    let with = |retain: Option<&str>| {
        KubePlatform::new(KubeSettings {
            retain: retain.map(str::to_string),
            ..Default::default()
        })
        .retention()
    };
    assert_eq!(with(Some("12h")), Some(Duration::from_secs(12 * 3600)));
    assert_eq!(with(None), None);
}
