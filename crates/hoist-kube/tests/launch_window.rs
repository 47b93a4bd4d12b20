//! A create that lands after its launch was fenced off, against the in-memory API server in
//! `fake_api`: the launcher died with its POST in flight, `recover_launch` looked first and
//! found nothing, then the Job arrived. `remove_unlaunched` (reconcile's sweep, `rm --force`)
//! must delete it and what it owns, since a Job starts its pods by itself.

mod fake_api;

use fake_api::{FakeApi, Res};
use hoist_core::{JobRecord, LaunchRecovery, MapEnv, Platform};
use hoist_kube::manifest::job_name;
use hoist_kube::{KubePlatform, KubeSettings};
use hoist_testkit::contract::{shell, unique_id};
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
