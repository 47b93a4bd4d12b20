//! The fake platform honours the platform contract (with its answers scripted as a real
//! backend would give them), and behaves as the facade's tests rely on.

use hoist_core::{
    BuildContext, JobStatus, LaunchRecovery, MapEnv, Platform, PlatformDescriptor, Silent,
    Submitted,
};
use hoist_testkit::contract::{ContractJobs, record, shell, unique_id, unlaunched};
use hoist_testkit::{Fake, platform_contract, reports};
use std::sync::Arc;
use std::time::Duration;

fn ctx() -> BuildContext {
    BuildContext {
        home: std::env::temp_dir(),
        exe: "/bin/true".into(),
        env: Arc::new(MapEnv::default()),
        reporter: Arc::new(Silent),
    }
}

fn settings(v: serde_json::Value) -> hoist_core::SettingsMap {
    v.as_object().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "current_thread")]
async fn the_fake_honours_the_contract() {
    let fake = Fake::new();
    let d = fake.descriptor();
    let p = d
        .build(
            &ctx(),
            &settings(serde_json::json!({"endpoint": "e1"})),
            None,
        )
        .expect("build");
    let ok = shell(&unique_id("ok"), "echo hoist-contract-ok");
    let fails = shell(&unique_id("fail"), "exit 3");
    let long = shell(&unique_id("long"), "sleep 300");
    fake.script(&ok.job_id, [reports::running(), reports::complete()]);
    fake.set_logs(&ok.job_id, "starting\nhoist-contract-ok\n");
    fake.script(&fails.job_id, [reports::pending(), reports::exited(3)]);
    fake.script(&long.job_id, [reports::pending(), reports::running()]);
    let jobs = ContractJobs {
        succeeds: ok.clone(),
        output: "hoist-contract-ok".into(),
        exits_3: fails,
        runs_until_canceled: Some(long.clone()),
        deadline: Duration::from_secs(10),
        // Settings that point elsewhere: the pin must win.
        rebuild: Some(Box::new(move |pin| {
            d.build(
                &ctx(),
                &settings(serde_json::json!({"endpoint": "elsewhere"})),
                pin,
            )
        })),
        clean_up: true,
    };
    platform_contract(p.as_ref(), &jobs).await;

    let s = fake.state();
    let submitted: Vec<&str> = s.submitted.iter().map(|r| r.job_id.as_str()).collect();
    assert_eq!(submitted.len(), 3, "{submitted:?}");
    assert!(
        !submitted.iter().any(|id| id.ends_with("-dry")),
        "a dry run submitted: {submitted:?}"
    );
    assert_eq!(s.dry_runs.len(), 1);
    assert_eq!(s.cancels.iter().filter(|j| **j == long.job_id).count(), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn scripts_repeat_their_last_answer_and_calls_are_recorded() {
    let fake = Fake::new();
    let p = fake.platform("e1");
    let req = shell("j1", "true");
    let sub = p.submit(&req).await.expect("submit");
    assert_eq!(sub.backend_identity, "fake@e1");
    let job = record(&p, &req, &sub);
    fake.script("j1", [reports::pending(), reports::running()]);
    let seen: Vec<JobStatus> = {
        let mut v = vec![];
        for _ in 0..4 {
            let r = p.status(std::slice::from_ref(&job)).await;
            v.push(r[0].as_ref().expect("report").status);
        }
        v
    };
    assert_eq!(
        seen,
        [
            JobStatus::Pending,
            JobStatus::Running,
            JobStatus::Running,
            JobStatus::Running
        ]
    );
    assert_eq!(fake.status_calls_for("j1"), 4);
    assert_eq!(fake.status_calls()[0].endpoint, "e1");

    // Retries follow the switch; cancel follows `cancel_takes_effect`.
    assert!(p.retry(&job).await.expect("retry").is_some());
    fake.state().retry_succeeds = false;
    assert!(p.retry(&job).await.expect("retry").is_none());
    assert_eq!(fake.retries("j1"), 2);
    fake.state().cancel_takes_effect = false;
    p.cancel(&job).await.expect("cancel");
    assert_eq!(fake.state().peek("j1").status, JobStatus::Running);
    fake.state().cancel_takes_effect = true;
    p.cancel(&job).await.expect("cancel");
    assert_eq!(fake.state().peek("j1").status, JobStatus::Canceled);
    p.release(&job).await.expect("release");
    assert_eq!(fake.releases("j1"), 1);

    // Identity: scripted over the setting over the endpoint.
    fake.set_identity("moved");
    assert_eq!(p.identity().await.expect("identity"), "moved");
}

#[tokio::test(flavor = "current_thread")]
async fn recovery_answers_by_launch_token_and_the_pin_wins() {
    let fake = Fake::new();
    let d = fake.descriptor();
    let p = fake.platform("e1");
    let req = shell("j2", "true");
    let adopted = Submitted {
        backend_job_id: "b-7".into(),
        backend_identity: "fake@e1".into(),
        results_location: None,
        status: JobStatus::Running,
        message: "adopted".into(),
    };
    fake.recover_as(&req.launch_token, LaunchRecovery::Adopted(adopted.clone()));
    assert_eq!(
        p.recover_launch(&unlaunched(&p, &req))
            .await
            .expect("recover"),
        LaunchRecovery::Adopted(adopted)
    );
    let mut other = unlaunched(&p, &req);
    other.launch_token = "unknown".into();
    assert_eq!(
        p.recover_launch(&other).await.expect("recover"),
        LaunchRecovery::NotLaunched
    );

    let pinned = p.pin();
    let again = d
        .build(
            &ctx(),
            &settings(serde_json::json!({"endpoint": "e2", "identity": "x"})),
            pinned.as_ref(),
        )
        .expect("build");
    assert_eq!(again.pin(), pinned, "the pinned endpoint wins");
    assert_eq!(
        again.identity().await.expect("identity"),
        "x",
        "the identity setting is read anew"
    );
    assert!(
        d.check(&settings(serde_json::json!({"endpoint": ""})))
            .is_err(),
        "an empty endpoint is refused"
    );
}
