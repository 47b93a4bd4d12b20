//! The facade's orchestration over a scripted in-memory platform (hoist-testkit's fake): which
//! status calls a refresh makes, retries, the Canceling rule, identity checks, reconcile,
//! release, watch and list filters. No daemon, no cluster.

use futures::StreamExt;
use hoist::core::{
    Command, JobRecord, JobSpec, JobStatus, LaunchRecovery, LaunchState, MapEnv, PlatformError,
    Submitted,
};
use hoist::store::ListFilter;
use hoist::{Hoist, HoistError, HoistOptions, JobRequest};
use hoist_sys::proc::{ProcId, hostname};
use hoist_testkit::{Fake, StatusCall, reports};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

struct World {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
    fake: Fake,
    h: Hoist,
}

/// A store in a temp dir, the fake platform registered, `env` as the whole environment and
/// `config` (when not empty) as `config.toml`.
fn world_with(env: &[(&str, &str)], config: &str) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    if !config.is_empty() {
        std::fs::write(home.join("config.toml"), config).expect("config");
    }
    let fake = Fake::new();
    let h = open(&home, &fake, env);
    World {
        _dir: dir,
        home,
        fake,
        h,
    }
}

fn world(env: &[(&str, &str)]) -> World {
    world_with(env, "")
}

/// Another handle on the same store and fake backend, as a later shell would open it.
fn open(home: &std::path::Path, fake: &Fake, env: &[(&str, &str)]) -> Hoist {
    Hoist::open_with(HoistOptions {
        home: Some(home.to_path_buf()),
        exe: Some("/bin/true".into()),
        env: Some(Arc::new(MapEnv::of(env.iter().copied()))),
        platforms: vec![fake.descriptor()],
        ..Default::default()
    })
    .expect("open hoist")
}

fn req(name: &str) -> JobRequest {
    let mut r = JobRequest::new(Command::Argv(vec!["true".into()]));
    r.name = Some(name.into());
    r.platform = Some("fake".into());
    r
}

fn on_endpoint(mut r: JobRequest, endpoint: &str) -> JobRequest {
    let opts = serde_json::json!({ "endpoint": endpoint });
    r.platform_options
        .insert("fake".into(), opts.as_object().cloned().unwrap_or_default());
    r
}

async fn submit(h: &Hoist, r: JobRequest) -> JobRecord {
    h.create_job(r).await.expect("create_job")
}

/// Status calls as (endpoint, sorted job ids), sorted: the grouping, whatever the order.
fn calls(v: &[StatusCall]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = v
        .iter()
        .map(|c| {
            let mut ids = c.job_ids.clone();
            ids.sort();
            (c.endpoint.clone(), ids)
        })
        .collect();
    out.sort();
    out
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Refresh a job until its status is `want`, at most `rounds` times (each round asks the
/// fake once, so the count is exact, not a timing guess).
async fn status_until(h: &Hoist, id: &str, want: JobStatus, rounds: usize) -> JobRecord {
    let mut last = None;
    for _ in 0..rounds {
        let j = h.status(id).await.expect("status");
        if j.status == want {
            return j;
        }
        last = Some(j);
    }
    panic!("job never became {want} in {rounds} refreshes: {last:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_refresh_asks_each_backend_once_for_all_its_jobs() {
    let config = "[profiles.p1]\nplatform = \"fake\"\n";
    let w = world_with(&[], config);
    let a = submit(&w.h, req("a")).await;
    let b = submit(&w.h, req("b")).await;
    let c = submit(&w.h, req("c")).await;
    let other = submit(&w.h, on_endpoint(req("other"), "other")).await;
    let mut r = req("profiled");
    r.profile = Some("p1".into());
    let profiled = submit(&w.h, r).await;
    let finished = submit(&w.h, req("finished")).await;
    w.fake.script(&finished.job_id, [reports::complete()]);
    w.h.status(&finished.job_id).await.expect("status");
    assert_eq!(
        w.h.status(&finished.job_id).await.expect("status").status,
        JobStatus::Complete
    );
    w.fake.clear_calls();

    let listed = w.h.list(&ListFilter::default()).await.expect("list");
    assert_eq!(listed.len(), 6);
    let mut want = vec![
        (
            "default".to_string(),
            sorted(&[&a.job_id, &b.job_id, &c.job_id]),
        ),
        ("default".to_string(), vec![profiled.job_id.clone()]),
        ("other".to_string(), vec![other.job_id.clone()]),
    ];
    want.sort();
    assert_eq!(
        calls(&w.fake.status_calls()),
        want,
        "one call per platform, profile and pinned endpoint; none for the finished job"
    );
    assert_eq!(other.pinned, Some(serde_json::json!({"endpoint": "other"})));
}

#[tokio::test(flavor = "current_thread")]
async fn later_verbs_go_to_the_pinned_endpoint() {
    let w = world(&[("HOIST_FAKE_ENDPOINT", "e1")]);
    let mut r = req("pinned");
    r.platform_options.insert(
        "fake".into(),
        serde_json::json!({"tag": "t-1"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let job = submit(&w.h, r).await;
    assert_eq!(
        job.spec.platform_options.get("fake"),
        Some(&serde_json::json!({"tag": "t-1"})),
        "per-job settings are stored with the job, platform-level ones are not"
    );
    // A later shell points at another endpoint: the job is still asked where it went.
    let later = open(&w.home, &w.fake, &[("HOIST_FAKE_ENDPOINT", "e2")]);
    w.fake.clear_calls();
    let j = later.status(&job.job_id).await.expect("status");
    assert_eq!(j.status, JobStatus::Running);
    assert_eq!(
        calls(&w.fake.status_calls()),
        vec![("e1".to_string(), vec![job.job_id.clone()])]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn retriable_failures_are_retried_within_the_budget() {
    let w = world(&[("HOIST_MAX_RETRIES", "2")]);
    let job = submit(&w.h, req("flaky")).await;
    w.fake
        .script(&job.job_id, [reports::retriable("node lost")]);
    let end = status_until(&w.h, &job.job_id, JobStatus::Error, 5).await;
    assert_eq!(w.fake.retries(&job.job_id), 2, "retried exactly the budget");
    assert_eq!(end.retry_count, 2);
    let history: Vec<(u32, Option<&str>, &str)> = end
        .retry_history
        .iter()
        .map(|a| (a.attempt, a.backend_job_id.as_deref(), a.reason.as_str()))
        .collect();
    assert_eq!(
        history,
        vec![
            (1, job.backend_job_id.as_deref(), "node lost"),
            (2, Some("fake-retry-1"), "node lost"),
        ]
    );
    assert_eq!(end.backend_job_id.as_deref(), Some("fake-retry-2"));
    // Error is final: more refreshes neither retry nor ask.
    let asked = w.fake.status_calls_for(&job.job_id);
    let again = w.h.status(&job.job_id).await.expect("status");
    assert_eq!((again.status, again.retry_count), (JobStatus::Error, 2));
    assert_eq!(w.fake.status_calls_for(&job.job_id), asked);
    assert_eq!(w.fake.retries(&job.job_id), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn failures_that_cannot_be_retried_stay_errors() {
    let w = world(&[("HOIST_MAX_RETRIES", "3")]);
    let program = submit(&w.h, req("program")).await;
    w.fake.script(&program.job_id, [reports::exited(1)]);
    let j = w.h.status(&program.job_id).await.expect("status");
    assert_eq!(
        (j.status, j.exit_code, j.retry_count),
        (JobStatus::Error, Some(1), 0)
    );
    assert_eq!(
        w.fake.retries(&program.job_id),
        0,
        "the program's own failure"
    );

    // A platform that declines to rerun leaves the infrastructure failure standing.
    w.fake.state().retry_succeeds = false;
    let infra = submit(&w.h, req("infra")).await;
    w.fake
        .script(&infra.job_id, [reports::retriable("node lost")]);
    let j = w.h.status(&infra.job_id).await.expect("status");
    assert_eq!((j.status, j.retry_count), (JobStatus::Error, 0));
    assert!(j.retry_history.is_empty());
    assert_eq!(w.fake.retries(&infra.job_id), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_canceled_job_stays_canceling_until_the_backend_says_so() {
    let w = world(&[]);
    w.fake.state().cancel_takes_effect = false;
    let job = submit(&w.h, req("long")).await;
    w.fake.script(&job.job_id, [reports::running()]);
    let (after, outcome) = w.h.cancel(&job.job_id).await.expect("cancel");
    assert_eq!(outcome, hoist::core::CancelOutcome::Requested);
    assert_eq!(after.status, JobStatus::Canceling);
    assert!(after.cancel_requested);
    assert_eq!(w.fake.cancels(&job.job_id), 1);
    for _ in 0..3 {
        let j = w.h.status(&job.job_id).await.expect("status");
        assert_eq!(j.status, JobStatus::Canceling, "the backend still runs it");
    }
    w.fake.script(&job.job_id, [reports::canceled()]);
    let j = w.h.status(&job.job_id).await.expect("status");
    assert_eq!(j.status, JobStatus::Canceled);
    let (again, outcome) = w.h.cancel(&job.job_id).await.expect("cancel again");
    assert_eq!(
        (again.status, outcome),
        (
            JobStatus::Canceled,
            hoist::core::CancelOutcome::AlreadyFinished
        )
    );
    assert_eq!(
        w.fake.cancels(&job.job_id),
        1,
        "a finished job is not canceled again"
    );
    assert_eq!(w.fake.releases(&job.job_id), 1);

    // A job that ends on its own before the cancel lands keeps its natural result.
    let racing = submit(&w.h, req("racing")).await;
    w.fake.script(&racing.job_id, [reports::running()]);
    w.h.cancel(&racing.job_id).await.expect("cancel");
    w.fake.script(&racing.job_id, [reports::complete()]);
    let j = w.h.status(&racing.job_id).await.expect("status");
    assert_eq!(j.status, JobStatus::Complete);
}

#[tokio::test(flavor = "current_thread")]
async fn a_job_on_another_backend_reads_unknown_and_is_not_looked_up() {
    let w = world(&[]);
    let job = submit(&w.h, req("moved")).await;
    assert_eq!(job.backend_identity.as_deref(), Some("fake@default"));
    w.fake.set_identity("fake@elsewhere");
    let asked = w.fake.status_calls_for(&job.job_id);
    let j = w.h.status(&job.job_id).await.expect("status");
    assert_eq!(j.status, JobStatus::Unknown);
    assert!(
        j.message.contains("fake@default") && j.message.contains("fake@elsewhere"),
        "the message names both backends: {}",
        j.message
    );
    assert_eq!(
        w.fake.status_calls_for(&job.job_id),
        asked,
        "a job is never looked up on the wrong backend"
    );
    match w.h.logs(&j, None).await {
        Err(HoistError::Platform(PlatformError::IdentityMismatch {
            recorded, current, ..
        })) => assert_eq!(
            (recorded.as_str(), current.as_str()),
            ("fake@default", "fake@elsewhere")
        ),
        other => panic!("logs on another backend: {other:?}"),
    }
    match w.h.wait(&job.job_id).await {
        Err(HoistError::Platform(PlatformError::IdentityMismatch { .. })) => {}
        other => panic!("wait must give up on another backend, not wait forever: {other:?}"),
    }
    // The backend comes back: the job is found again.
    w.fake.set_identity("fake@default");
    assert_eq!(
        w.h.status(&job.job_id).await.expect("status").status,
        JobStatus::Running
    );
}

fn launching(id: &str, token: &str, launcher: Option<String>) -> JobRecord {
    let mut j = JobRecord::pending(
        id.into(),
        "fake".into(),
        JobSpec::new(Command::Argv(vec!["true".into()])),
        token.into(),
    );
    j.launcher = launcher;
    j
}

#[tokio::test(flavor = "current_thread")]
async fn reconcile_settles_launches_whose_launcher_died() {
    let w = world(&[]);
    let me = ProcId::current().expect("this process");
    // Same pid, another start time: a process that is gone (the pid was reused).
    let dead = ProcId {
        pid: me.pid,
        start: me.start + 1,
    };
    let here = |p: ProcId| Some(format!("{}/{}", hostname(), p.encode()));
    let rows = [
        launching("adopt-me", "tok-adopt", here(dead)),
        launching("abandon-me", "tok-unknown", here(dead)),
        launching(
            "elsewhere",
            "tok-elsewhere",
            Some(format!("another-host-{}/1:1", me.pid)),
        ),
        launching("alive", "tok-alive", here(me)),
    ];
    for r in &rows {
        w.h.store().insert(r).expect("insert");
    }
    w.fake.recover_as(
        "tok-adopt",
        LaunchRecovery::Adopted(Submitted {
            backend_job_id: "b-42".into(),
            backend_identity: "fake@default".into(),
            results_location: None,
            status: JobStatus::Running,
            message: "adopted".into(),
        }),
    );
    let settled: BTreeSet<(String, &str)> =
        w.h.reconcile()
            .await
            .expect("reconcile")
            .into_iter()
            .map(|(j, verdict)| (j.job_id, verdict))
            .collect();
    assert_eq!(
        settled,
        BTreeSet::from([
            ("adopt-me".to_string(), "adopted"),
            ("abandon-me".to_string(), "abandoned"),
        ])
    );
    let recovered: BTreeSet<String> = w.fake.state().recovered.iter().cloned().collect();
    assert_eq!(
        recovered,
        BTreeSet::from(["adopt-me".to_string(), "abandon-me".to_string()]),
        "live launchers (here or on another host) are left alone"
    );
    let get = |id: &str| w.h.store().get(id).expect("get").expect("row");
    let adopted = get("adopt-me");
    assert_eq!(adopted.launch_state, LaunchState::Launched);
    assert_eq!(adopted.backend_job_id.as_deref(), Some("b-42"));
    let abandoned = get("abandon-me");
    assert_eq!(
        (abandoned.launch_state, abandoned.status),
        (LaunchState::Abandoned, JobStatus::Error)
    );
    assert_eq!(get("elsewhere").launch_state, LaunchState::Launching);
    assert_eq!(get("alive").launch_state, LaunchState::Launching);
    // The adopted job is tracked from now on; reconciling again changes nothing.
    assert_eq!(
        w.h.status("adopt-me").await.expect("status").status,
        JobStatus::Running
    );
    assert!(w.h.reconcile().await.expect("reconcile").is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn release_runs_once_when_a_job_ends() {
    let w = world(&[]);
    let job = submit(&w.h, req("billed")).await;
    w.fake
        .script(&job.job_id, [reports::running(), reports::complete()]);
    assert_eq!(
        w.h.status(&job.job_id).await.expect("status").status,
        JobStatus::Running
    );
    assert_eq!(w.fake.releases(&job.job_id), 0, "not while it runs");
    assert_eq!(
        w.h.status(&job.job_id).await.expect("status").status,
        JobStatus::Complete
    );
    w.h.status(&job.job_id).await.expect("status");
    w.h.list(&ListFilter::default()).await.expect("list");
    w.h.wait(&job.job_id).await.expect("wait");
    assert_eq!(w.fake.releases(&job.job_id), 1);
}

#[test]
fn release_runs_once_when_many_threads_see_the_end() {
    let w = world(&[]);
    let job = {
        let rt = runtime();
        rt.block_on(submit(&w.h, req("raced")))
    };
    w.fake.script(&job.job_id, [reports::complete()]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let j = runtime().block_on(w.h.status(&job.job_id)).expect("status");
                assert_eq!(j.status, JobStatus::Complete);
            });
        }
    });
    assert_eq!(w.fake.releases(&job.job_id), 1);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[tokio::test(flavor = "current_thread")]
async fn watch_yields_each_change_and_ends_when_all_are_terminal() {
    let w = world(&[]);
    let a = submit(&w.h, req("a")).await;
    let b = submit(&w.h, req("b")).await;
    w.fake.script(
        &a.job_id,
        [reports::pending(), reports::running(), reports::complete()],
    );
    w.fake
        .script(&b.job_id, [reports::running(), reports::exited(2)]);
    let ids = [a.job_id.clone(), b.job_id.clone()];
    // The stream ends by itself; the limit only turns a hang into a failure.
    let events = tokio::time::timeout(Duration::from_secs(60), w.h.watch(&ids).collect::<Vec<_>>())
        .await
        .expect("watch never ended although every job is terminal");
    let of = |id: &str| -> Vec<(Option<JobStatus>, JobStatus)> {
        events
            .iter()
            .map(|e| e.as_ref().expect("watch event"))
            .filter(|e| e.job.job_id == id)
            .map(|e| (e.previous, e.job.status))
            .collect()
    };
    use JobStatus::*;
    assert_eq!(
        of(&a.job_id),
        vec![
            (None, Pending),
            (Some(Pending), Running),
            (Some(Running), Complete)
        ]
    );
    assert_eq!(of(&b.job_id), vec![(None, Running), (Some(Running), Error)]);
    assert_eq!(events.len(), 5);
}

#[tokio::test(flavor = "current_thread")]
async fn list_filters_by_workflow_and_parent() {
    let w = world(&[]);
    let mut r = req("first");
    r.workflow_id = Some("wf-1".into());
    let first = submit(&w.h, r).await;
    let mut r = req("second");
    r.workflow_id = Some("wf-1".into());
    r.parent_job_id = Some(first.job_id.clone());
    let second = submit(&w.h, r).await;
    let mut r = req("other");
    r.workflow_id = Some("wf-2".into());
    let other = submit(&w.h, r).await;
    let loose = submit(&w.h, req("loose")).await;
    let ids = |f: ListFilter| {
        let h = &w.h;
        async move {
            let mut v: Vec<String> = h
                .list(&f)
                .await
                .expect("list")
                .into_iter()
                .map(|s| s.job_id)
                .collect();
            v.sort();
            v
        }
    };
    assert_eq!(
        ids(ListFilter {
            workflow_id: Some("wf-1".into()),
            ..Default::default()
        })
        .await,
        sorted(&[&first.job_id, &second.job_id])
    );
    assert_eq!(
        ids(ListFilter {
            parent_job_id: Some(first.job_id.clone()),
            ..Default::default()
        })
        .await,
        vec![second.job_id.clone()]
    );
    assert_eq!(
        ids(ListFilter {
            workflow_id: Some("wf-2".into()),
            parent_job_id: Some(first.job_id.clone()),
            ..Default::default()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids(ListFilter {
            platform: Some("fake".into()),
            ..Default::default()
        })
        .await,
        sorted(&[&first.job_id, &second.job_id, &other.job_id, &loose.job_id])
    );
}

/// One handle serves many tasks: it and its verbs' futures can cross threads.
#[test]
fn the_handle_and_its_futures_are_send() {
    fn send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>(_: &T) {}
    send_sync::<Hoist>();
    let w = world(&[]);
    let status = w.h.status("x");
    assert_send(&status);
    let create = w.h.create_job(req("x"));
    assert_send(&create);
    let wait = w.h.wait("x");
    assert_send(&wait);
    let watch = w.h.watch(&["x".to_string()]);
    assert_send(&watch);
    let all = ListFilter::default();
    let list = w.h.list(&all);
    assert_send(&list);
    let cancel = w.h.cancel("x");
    assert_send(&cancel);
    let reconcile = w.h.reconcile();
    assert_send(&reconcile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reconcilers_report_an_adoption_once() {
    let w = world(&[]);
    let me = ProcId::current().expect("this process");
    let dead = ProcId {
        pid: me.pid,
        start: me.start + 1,
    };
    let ids: Vec<String> = (0..20).map(|i| format!("race-{i}")).collect();
    for id in &ids {
        let token = format!("tok-{id}");
        let launcher = Some(format!("{}/{}", hostname(), dead.encode()));
        w.h.store()
            .insert(&launching(id, &token, launcher))
            .expect("insert");
        w.fake.recover_as(
            &token,
            LaunchRecovery::Adopted(Submitted {
                backend_job_id: format!("b-{id}"),
                backend_identity: "fake@default".into(),
                results_location: None,
                status: JobStatus::Running,
                message: "adopted".into(),
            }),
        );
    }
    let a = Arc::new(open(&w.home, &w.fake, &[]));
    let b = Arc::new(open(&w.home, &w.fake, &[]));
    let ra = tokio::spawn({
        let a = a.clone();
        async move { a.reconcile().await.expect("reconcile a") }
    });
    let rb = tokio::spawn({
        let b = b.clone();
        async move { b.reconcile().await.expect("reconcile b") }
    });
    let mut said: Vec<String> = Vec::new();
    for r in [ra.await.expect("join a"), rb.await.expect("join b")] {
        said.extend(
            r.into_iter()
                .map(|(j, verdict)| format!("{} {verdict}", j.job_id)),
        );
    }
    said.sort();
    let expected: Vec<String> = {
        let mut e: Vec<String> = ids.iter().map(|id| format!("{id} adopted")).collect();
        e.sort();
        e
    };
    assert_eq!(
        said, expected,
        "each adoption reported by exactly one reconciler"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_retry_a_failed_run_once() {
    let env = [("HOIST_MAX_RETRIES", "1")];
    let w = world(&env);
    let mut ids = Vec::new();
    for i in 0..80 {
        let job = submit(&w.h, req(&format!("flaky-{i}"))).await;
        w.fake
            .script(&job.job_id, [reports::retriable("node lost")]);
        ids.push(job.job_id);
    }
    let a = Arc::new(open(&w.home, &w.fake, &env));
    let b = Arc::new(open(&w.home, &w.fake, &env));
    let mut tasks = Vec::new();
    for id in &ids {
        for h in [a.clone(), b.clone()] {
            let id = id.clone();
            tasks.push(tokio::spawn(async move { h.status(&id).await }));
        }
    }
    for t in tasks {
        t.await.expect("join").expect("status");
    }
    for id in &ids {
        assert_eq!(w.fake.retries(id), 1, "one failed run, one retry: {id}");
        assert_eq!(w.h.resolve(id).expect("row").retry_count, 1);
    }
}
