//! A create that lands after its launch was fenced off, against the in-memory API server in
//! `fake_api`: the launcher died with its POST in flight, `recover_launch` looked first and
//! found nothing, then the Job arrived. Every Job is created suspended and resumed only by the
//! submit that saw it created or by the reconcile that adopts it, and neither resumes one
//! whose launch the facade noted as fenced (`$HOIST_HOME/fenced/<id>.json`): a late Job runs
//! no pod. `remove_unlaunched` (reconcile's sweep, `rm --force`) deletes it and what it owns.

mod fake_api;

use fake_api::{FakeApi, Res};
use hoist_core::{JobRecord, JobStatus, LaunchRecovery, MapEnv, Platform, SubmitRequest};
use hoist_kube::manifest::job_name;
use hoist_kube::{KubePlatform, KubeSettings};
use hoist_testkit::contract::{shell, unique_id};
use std::path::PathBuf;
use std::sync::Arc;

fn platform(api: &FakeApi) -> KubePlatform {
    KubePlatform::with_client(
        KubeSettings::default(),
        kube::Client::new(api.clone(), "default"),
        "https://k8s.example:6443/",
    )
    .with_env(Arc::new(MapEnv::default()))
}

#[tokio::test]
async fn a_job_created_after_the_fence_is_deleted_with_what_it_owns() {
    let api = FakeApi::new();
    let p = platform(&api);
    let mut req = shell(&unique_id("late"), "sleep 600");
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    req.env.insert("MODE".into(), "fast".into());
    let job = JobRecord::pending(
        req.job_id.clone(),
        "kubernetes".into(),
        req.spec.clone(),
        req.launch_token.clone(),
    );

    // Reconcile looks before the dead launcher's create lands: nothing there, so it fences.
    assert_eq!(
        p.recover_launch(&job).await.expect("recover"),
        LaunchRecovery::NotLaunched
    );
    // Then the create lands, and the Job runs its pod.
    p.submit(&req).await.expect("the in-flight create");
    let name = job_name(&req.job_id);
    assert!(api.object(Res::Jobs, "default", &name).is_some());

    assert!(
        p.remove_unlaunched(&job).await.expect("removed"),
        "it was there"
    );
    // Deletions the garbage collector does happen at the next request.
    assert!(
        !p.remove_unlaunched(&job).await.expect("again"),
        "nothing left"
    );
    assert!(api.object(Res::Jobs, "default", &name).is_none());
    let owned = |res| {
        api.names(res, "default")
            .into_iter()
            .filter(|n| n.starts_with(&name))
            .collect::<Vec<_>>()
    };
    assert_eq!(owned(Res::Secrets), Vec::<String>::new());
    assert_eq!(owned(Res::Services), Vec::<String>::new());
    // Its pods go with it: a running one stops after its grace period, marked meanwhile.
    let live: Vec<String> = api
        .names(Res::Pods, "default")
        .into_iter()
        .filter(|p| {
            api.object(Res::Pods, "default", p).is_some_and(|o| {
                o["metadata"]["labels"]["job-name"] == name.as_str()
                    && o["metadata"]["deletionTimestamp"].is_null()
            })
        })
        .collect();
    assert!(live.is_empty(), "pods not being deleted: {live:?}");
}

#[tokio::test]
async fn nothing_to_remove_is_not_an_error() {
    let api = FakeApi::new();
    let p = platform(&api);
    let req = shell(&unique_id("none"), "true");
    let job = JobRecord::pending(
        req.job_id.clone(),
        "kubernetes".into(),
        req.spec.clone(),
        req.launch_token.clone(),
    );
    assert!(!p.remove_unlaunched(&job).await.expect("nothing there"));
}

/// A `$HOIST_HOME` of its own, removed at the end.
struct Home(PathBuf);

impl Home {
    fn new() -> Home {
        let dir = std::env::temp_dir().join(unique_id("hoist-kube-fence"));
        std::fs::create_dir_all(&dir).expect("home");
        Home(dir)
    }

    /// What the facade writes when it fences a launch off.
    fn fence(&self, job: &JobRecord) {
        let marker = hoist_core::job::fence_marker(&self.0, &job.job_id);
        std::fs::create_dir_all(marker.parent().expect("a folder")).expect("fenced/");
        std::fs::write(marker, serde_json::to_vec(job).expect("json")).expect("marker");
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn at_home(api: &FakeApi, home: &Home) -> KubePlatform {
    platform(api).with_home(home.0.clone())
}

fn unlaunched(req: &SubmitRequest) -> JobRecord {
    JobRecord::pending(
        req.job_id.clone(),
        "kubernetes".into(),
        req.spec.clone(),
        req.launch_token.clone(),
    )
}

/// The pods of the job's Job.
fn pods_of(api: &FakeApi, req: &SubmitRequest) -> Vec<String> {
    let name = job_name(&req.job_id);
    api.names(Res::Pods, "default")
        .into_iter()
        .filter(|p| p.starts_with(&name))
        .collect()
}

#[tokio::test]
async fn a_job_that_lands_after_the_fence_runs_no_pod_until_the_sweep_deletes_it() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = at_home(&api, &home);
    let mut req = shell(&unique_id("late"), "sleep 600");
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    let job = unlaunched(&req);
    // Reconcile looks first, finds nothing, and fences (noting the job for the sweep).
    assert_eq!(
        p.recover_launch(&job).await.expect("recover"),
        LaunchRecovery::NotLaunched
    );
    home.fence(&job);
    // The dead launcher's create lands; its answer reaches no one.
    api.lose_next_answer(Res::Jobs);
    assert!(p.submit(&req).await.is_err(), "the answer was lost");
    let name = job_name(&req.job_id);
    let landed = api
        .object(Res::Jobs, "default", &name)
        .expect("the Job landed");
    assert_eq!(landed["spec"]["suspend"], true);
    assert_eq!(pods_of(&api, &req), Vec::<String>::new(), "no pod runs");
    // What status would say of it meanwhile.
    let launched = hoist_testkit::contract::record(
        &p,
        &req,
        &hoist_core::Submitted {
            backend_job_id: name.clone(),
            backend_identity: String::new(),
            results_location: None,
            status: JobStatus::Pending,
            message: String::new(),
        },
    );
    let rep = p.status(&[launched]).await.remove(0).expect("status");
    assert_eq!(rep.status, JobStatus::Pending);
    assert!(rep.message.contains("held"), "{}", rep.message);
    // The next command's sweep.
    assert!(
        p.remove_unlaunched(&job).await.expect("sweep"),
        "it was there"
    );
    assert!(api.object(Res::Jobs, "default", &name).is_none());
}

#[tokio::test]
async fn a_launcher_that_died_after_its_create_landed_is_adopted_and_its_job_runs() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = at_home(&api, &home);
    let mut req = shell(&unique_id("adopt"), "echo adopted");
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    api.lose_next_answer(Res::Jobs);
    assert!(
        p.submit(&req).await.is_err(),
        "the launcher never saw the answer"
    );
    assert_eq!(
        pods_of(&api, &req),
        Vec::<String>::new(),
        "held until settled"
    );
    let sub = match p.recover_launch(&unlaunched(&req)).await.expect("recover") {
        LaunchRecovery::Adopted(sub) => sub,
        other => panic!("not adopted: {other:?}"),
    };
    let job = hoist_testkit::contract::record(&p, &req, &sub);
    let rep = p
        .status(std::slice::from_ref(&job))
        .await
        .remove(0)
        .expect("status");
    assert_eq!(rep.status, JobStatus::Complete);
    assert_eq!(p.logs(&job, None).await.expect("logs"), "adopted\n");
}

#[tokio::test]
async fn a_held_job_whose_launch_was_fenced_meanwhile_is_deleted_not_adopted() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = at_home(&api, &home);
    let mut req = shell(&unique_id("raced"), "sleep 600");
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    api.lose_next_answer(Res::Jobs);
    assert!(p.submit(&req).await.is_err());
    // Another reconciler looked before the Job landed and fenced the row.
    let job = unlaunched(&req);
    home.fence(&job);
    assert_eq!(
        p.recover_launch(&job).await.expect("recover"),
        LaunchRecovery::NotLaunched
    );
    assert!(
        api.object(Res::Jobs, "default", &job_name(&req.job_id))
            .is_none()
    );
    assert_eq!(pods_of(&api, &req), Vec::<String>::new());
}

#[tokio::test]
async fn a_submit_fenced_off_while_it_created_deletes_its_job_before_any_pod() {
    let (api, home) = (FakeApi::new(), Home::new());
    let p = at_home(&api, &home);
    let mut req = shell(&unique_id("rm"), "sleep 600");
    req.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
    req.env.insert("HF_TOKEN".into(), "hf_secret_value".into());
    // `hoist rm --force` of the launching row, while its launcher still creates.
    home.fence(&unlaunched(&req));
    let e = p.submit(&req).await.expect_err("fenced");
    assert!(e.to_string().contains("fenced off"), "{e}");
    let name = job_name(&req.job_id);
    assert!(api.object(Res::Jobs, "default", &name).is_none());
    let secrets: Vec<String> = api
        .names(Res::Secrets, "default")
        .into_iter()
        .filter(|n| n.starts_with(&name))
        .collect();
    assert_eq!(secrets, Vec::<String>::new());
    assert_eq!(pods_of(&api, &req), Vec::<String>::new());
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.starts_with("PATCH /apis/batch/v1/namespaces/default/jobs/")),
        "never resumed"
    );
}
