//! The Kubernetes platform honours the platform contract, against the in-memory API server in
//! `fake_api` (no cluster can run on this machine): the platform's real requests, answered
//! in the real API's shapes, with a Job controller that runs `sh -c` text at once.

mod fake_api;

use fake_api::{FakeApi, KUBE_SYSTEM_UID, Res};
use hoist_core::{Platform, SubmitRequest};
use hoist_kube::{KubePlatform, KubeSettings, Pinned};
use hoist_testkit::contract::{ContractJobs, shell, unique_id};
use hoist_testkit::platform_contract;
use std::time::Duration;

const SERVER: &str = "https://k8s.example:6443/";

fn platform(api: &FakeApi, settings: KubeSettings) -> KubePlatform {
    KubePlatform::with_client(settings, kube::Client::new(api.clone(), "default"), SERVER)
}

/// `text` under `sh -c` in busybox (Kubernetes needs an image).
fn job(prefix: &str, text: &str) -> SubmitRequest {
    let mut r = shell(&unique_id(prefix), text);
    r.spec.image = Some("busybox".into());
    r
}

/// The contract's jobs; `live` adds the one that runs until canceled.
fn jobs(api: &FakeApi, live: bool) -> ContractJobs {
    let later = api.clone();
    ContractJobs {
        succeeds: job("ok", "echo starting; echo hoist-contract-ok"),
        output: "hoist-contract-ok".into(),
        exits_3: job("fail", "echo failing; exit 3"),
        runs_until_canceled: live.then(|| job("long", "sleep 300")),
        deadline: Duration::from_secs(10),
        // A later shell set to another namespace: the pinned one must win. The pin is applied
        // as Descriptor::build applies it; Descriptor itself would read a kubeconfig.
        rebuild: Some(Box::new(move |pin| {
            let pinned = Pinned::from_value(pin);
            let settings = KubeSettings {
                namespace: pinned.namespace.or(Some("elsewhere".into())),
                context: pinned.context,
                ..Default::default()
            };
            Ok(Box::new(platform(&later, settings)) as Box<dyn Platform>)
        })),
        clean_up: true,
    }
}

/// After the contract (which cleans up): the identity names the cluster, and `remove` took
/// everything hoist created (Jobs, their pods, companions).
async fn check_after(api: &FakeApi, p: &KubePlatform) {
    // Let the pods of a canceled job finish their grace period.
    tokio::time::sleep(fake_api::POD_GRACE * 2).await;
    assert!(
        p.identity()
            .await
            .expect("identity")
            .ends_with(&format!("#ks={KUBE_SYSTEM_UID}")),
        "the identity carries kube-system's uid"
    );
    for res in [Res::Jobs, Res::Pods, Res::Secrets, Res::Services] {
        assert_eq!(
            api.names(res, "default"),
            Vec::<String>::new(),
            "{res:?} left behind; requests: {:#?}",
            api.requests()
        );
    }
}

#[tokio::test]
async fn kubernetes_platform_honours_the_contract() {
    let api = FakeApi::new();
    let p = platform(&api, KubeSettings::default());
    platform_contract(&p, &jobs(&api, true)).await;
    check_after(&api, &p).await;
}

/// The contract without the live-cancel checks, so the rest stays guarded on its own.
#[tokio::test]
async fn kubernetes_platform_honours_the_contract_for_jobs_that_end_by_themselves() {
    let api = FakeApi::new();
    let p = platform(&api, KubeSettings::default());
    platform_contract(&p, &jobs(&api, false)).await;
    check_after(&api, &p).await;
}
