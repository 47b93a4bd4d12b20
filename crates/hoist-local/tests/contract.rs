//! The local platform honours the platform contract. This test binary has its own `main`
//! (harness = false) so it can also be the supervisor the platform starts for each job
//! (`EXE __supervise DIR`): no hoist binary has to be found or built for it.

use hoist_core::{BuildContext, MapEnv, PlatformDescriptor, SettingsMap, Silent};
use hoist_testkit::contract::{ContractJobs, shell, unique_id};
use hoist_testkit::platform_contract;
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "local_platform_honours_the_contract";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, verb, dir, ..] = args.as_slice()
        && verb == "__supervise"
    {
        std::process::exit(hoist_local::supervisor::supervise(std::path::Path::new(
            dir,
        )));
    }
    if args.iter().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    // A name filter that does not match this test runs nothing, as libtest would.
    if let Some(filter) = args.iter().skip(1).find(|a| !a.starts_with('-'))
        && !NAME.contains(filter.as_str())
    {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(contract());
    println!("test {NAME} ... ok\n\ntest result: ok. 1 passed; 0 failed");
}

async fn contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = BuildContext {
        home: dir.path().join("home"),
        exe: std::env::current_exe().expect("this test binary"),
        env: Arc::new(MapEnv::default()),
        reporter: Arc::new(Silent),
    };
    let p = hoist_local::Descriptor
        .build(&ctx, &SettingsMap::new(), None)
        .expect("local platform");
    let jobs = ContractJobs {
        succeeds: shell(&unique_id("ok"), "echo starting; echo hoist-contract-ok"),
        output: "hoist-contract-ok".into(),
        exits_3: shell(&unique_id("fail"), "echo failing; exit 3"),
        runs_until_canceled: Some(shell(&unique_id("long"), "sleep 300")),
        deadline: Duration::from_secs(60),
        rebuild: Some(Box::new(move |pin| {
            hoist_local::Descriptor.build(&ctx, &SettingsMap::new(), pin)
        })),
        clean_up: true,
    };
    platform_contract(p.as_ref(), &jobs).await;
}
