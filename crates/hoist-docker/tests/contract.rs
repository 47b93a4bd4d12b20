//! The Docker platform honours the platform contract, on the local daemon with the test image
//! scripts/testbed.sh builds.

use hoist_core::{BuildContext, MapEnv, PlatformDescriptor, SettingsMap, Silent, SubmitRequest};
use hoist_testkit::contract::{ContractJobs, shell, unique_id};
use hoist_testkit::platform_contract;
use std::sync::Arc;
use std::time::Duration;

const IMAGE: &str = "hoist-test/busybox:latest";
const SOCKET: &str = "unix:///var/run/docker.sock";

fn settings(v: serde_json::Value) -> SettingsMap {
    v.as_object().cloned().unwrap_or_default()
}

/// `text` in the test image, with a short stop timeout so the cancel check is quick.
fn job(prefix: &str, text: &str) -> SubmitRequest {
    let mut r = shell(&unique_id(prefix), text);
    r.spec.image = Some(IMAGE.into());
    r.spec
        .platform_options
        .insert("docker".into(), serde_json::json!({ "stop_timeout": 1 }));
    r
}

fn require_image() {
    let out = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", IMAGE])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the test image {IMAGE} is missing on the local Docker daemon ({}); run scripts/testbed.sh as root to build it",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "the docker CLI cannot be run ({e}); run scripts/testbed.sh as root to set up the daemon and {IMAGE}"
        ),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn docker_platform_honours_the_contract() {
    require_image();
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = BuildContext {
        home: dir.path().join("home"),
        exe: "/bin/true".into(),
        env: Arc::new(MapEnv::default()),
        reporter: Arc::new(Silent),
    };
    let p = hoist_docker::Descriptor
        .build(
            &ctx,
            &settings(serde_json::json!({ "docker_host": SOCKET })),
            None,
        )
        .expect("docker platform");
    let jobs = ContractJobs {
        succeeds: job("ok", "echo starting; echo hoist-contract-ok"),
        output: "hoist-contract-ok".into(),
        exits_3: job("fail", "echo failing; exit 3"),
        runs_until_canceled: Some(job("long", "sleep 300")),
        deadline: Duration::from_secs(120),
        // A later shell pointing at a daemon that is not there: the pinned socket must win.
        rebuild: Some(Box::new(move |pin| {
            let elsewhere = settings(serde_json::json!({ "docker_host": "tcp://127.0.0.1:9" }));
            hoist_docker::Descriptor.build(&ctx, &elsewhere, pin)
        })),
        clean_up: true,
    };
    platform_contract(p.as_ref(), &jobs).await;
}
