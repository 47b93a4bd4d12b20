//! `Hoist::create_jobs` over the scripted fake platform: one answer per request in order,
//! each request's own errors, groups by pinned endpoint, every launch fence closed.

use hoist::core::{Command, LaunchState, MapEnv};
use hoist::store::ListFilter;
use hoist::{Hoist, HoistOptions, JobRequest};
use hoist_testkit::Fake;
use std::sync::Arc;

fn open(home: &std::path::Path, fake: &Fake) -> Hoist {
    Hoist::open_with(HoistOptions {
        home: Some(home.to_path_buf()),
        exe: Some("/bin/true".into()),
        env: Some(Arc::new(MapEnv::default())),
        platforms: vec![fake.descriptor()],
        ..Default::default()
    })
    .expect("open hoist")
}

fn req(name: &str, endpoint: Option<&str>) -> JobRequest {
    let mut r = JobRequest::new(Command::Argv(vec!["true".into()]));
    r.name = Some(name.into());
    r.platform = Some("fake".into());
    r.workflow_id = Some("wf-1".into());
    if let Some(e) = endpoint {
        let opts = serde_json::json!({ "endpoint": e });
        r.platform_options
            .insert("fake".into(), opts.as_object().cloned().unwrap_or_default());
    }
    r
}

#[tokio::test(flavor = "current_thread")]
async fn each_request_gets_its_own_answer_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Fake::new();
    let h = open(dir.path(), &fake);
    let mut bad_env = req("bad-env", None);
    bad_env.env.push(("1BAD".into(), Some("x".into())));
    let mut no_platform = req("no-platform", None);
    no_platform.platform = Some("nope".into());
    let answers = h
        .create_jobs(vec![
            req("a", None),
            req("b", Some("other")),
            bad_env,
            req("c", None),
            no_platform,
        ])
        .await;
    assert_eq!(answers.len(), 5);
    let names: Vec<Result<String, i32>> = answers
        .iter()
        .map(|a| {
            a.as_ref()
                .map(|j| j.name.clone())
                .map_err(|e| e.exit_code())
        })
        .collect();
    assert_eq!(
        names,
        vec![
            Ok("a".into()),
            Ok("b".into()),
            Err(2),
            Ok("c".into()),
            Err(2)
        ],
        "bad requests fail alone, with the exit code of bad input"
    );
    let ok: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    for j in &ok {
        assert_eq!(j.launch_state, LaunchState::Launched, "{j:?}");
        assert!(j.backend_job_id.is_some() && j.workflow_id.as_deref() == Some("wf-1"));
    }
    let endpoint = |j: &hoist::core::JobRecord| j.pinned.clone();
    assert_eq!(endpoint(ok[0]), endpoint(ok[2]), "a and c share a group");
    assert_eq!(
        endpoint(ok[1]),
        Some(serde_json::json!({"endpoint": "other"}))
    );
    assert_eq!(ok[1].backend_identity.as_deref(), Some("fake@other"));
    let submitted: Vec<String> = fake
        .state()
        .submitted
        .iter()
        .map(|s| s.spec.name.clone())
        .collect();
    let pos = |n: &str| submitted.iter().position(|s| s == n);
    assert_eq!(submitted.len(), 3, "{submitted:?}");
    assert!(pos("a") < pos("c"), "a group keeps the request order");
    let rows = h.store().list(&ListFilter::default()).expect("list");
    assert_eq!(rows.len(), 3, "no row for a request that failed to prepare");
}

#[tokio::test(flavor = "current_thread")]
async fn nothing_asked_nothing_done_and_the_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = Fake::new();
    let h = open(dir.path(), &fake);
    let f = h.create_jobs(vec![]);
    is_send(&f);
    assert!(f.await.is_empty());
    assert!(fake.state().log.is_empty());
}
