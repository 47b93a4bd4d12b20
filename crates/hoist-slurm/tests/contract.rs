//! The SLURM platform honours the platform contract, on the testbed cluster reached over ssh
//! as a user would configure it (scripts/testbed.sh: Host hoist-testbed-slurm, user
//! hoistuser, partition debug).

use hoist_core::{BuildContext, MapEnv, PlatformDescriptor, SettingsMap, Silent};
use hoist_testkit::contract::{ContractJobs, shell, unique_id};
use hoist_testkit::platform_contract;
use std::sync::Arc;
use std::time::Duration;

const LOGIN: &str = "hoist-testbed-slurm";

fn settings(v: serde_json::Value) -> SettingsMap {
    v.as_object().cloned().unwrap_or_default()
}

fn require_login_host() {
    let out = std::process::Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            LOGIN,
            "sinfo -h -p debug",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the testbed cluster does not answer on ssh {LOGIN} ({}); run scripts/testbed.sh as root",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("ssh cannot be run ({e}); run scripts/testbed.sh as root"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn slurm_platform_honours_the_contract() {
    require_login_host();
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = BuildContext {
        home: dir.path().join("home"),
        exe: "/bin/true".into(),
        env: Arc::new(MapEnv::default()),
        reporter: Arc::new(Silent),
    };
    let here = settings(serde_json::json!({
        "hosts": [LOGIN],
        "partition": "debug",
        "cpus_per_task": 1,
    }));
    let p = hoist_slurm::Descriptor
        .build(&ctx, &here, None)
        .expect("slurm platform");
    let jobs = ContractJobs {
        succeeds: shell(&unique_id("ok"), "echo starting; echo hoist-contract-ok"),
        output: "hoist-contract-ok".into(),
        exits_3: shell(&unique_id("fail"), "echo failing; exit 3"),
        runs_until_canceled: Some(shell(&unique_id("long"), "sleep 300")),
        deadline: Duration::from_secs(180),
        // A later shell naming a login host that does not exist: the pinned hosts must win.
        rebuild: Some(Box::new(move |pin| {
            let elsewhere = settings(serde_json::json!({
                "hosts": ["login.invalid"],
                "partition": "debug",
            }));
            hoist_slurm::Descriptor.build(&ctx, &elsewhere, pin)
        })),
        clean_up: true,
    };
    platform_contract(p.as_ref(), &jobs).await;
}
