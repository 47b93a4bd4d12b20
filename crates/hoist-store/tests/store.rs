//! The store against real SQLite files: migrations, transition rules, the launch fence, and
//! concurrent writers.

use hoist_core::{Command, JobRecord, JobSpec, JobStatus, LaunchState, StatusReport, Submitted};
use hoist_store::{ListFilter, SCHEMA_VERSION, Store, StoreError};

fn job(id: &str, name: &str) -> JobRecord {
    let mut spec = JobSpec::new(Command::Argv(vec!["true".into()]));
    spec.name = name.into();
    JobRecord::pending(id.into(), "local".into(), spec, format!("tok-{id}"))
}

fn rep(status: JobStatus) -> StatusReport {
    StatusReport {
        status,
        message: status.to_string(),
        exit_code: None,
        started_at: None,
        finished_at: None,
        retriable: false,
        restarts: None,
    }
}

fn submitted(id: &str) -> Submitted {
    Submitted {
        backend_job_id: format!("b-{id}"),
        backend_identity: "test".into(),
        results_location: None,
        status: JobStatus::Pending,
        message: String::new(),
    }
}

#[test]
fn migrates_an_old_store_keeping_its_rows() {
    let d = tempfile::tempdir().expect("tmp");
    {
        let old = Store::open_at_version(d.path(), 1).expect("v1");
        assert_eq!(old.schema_version().ok(), Some(1));
        // A v1 store has no history table; write the row the way v1 did.
        let conn = rusqlite_insert_v1(d.path());
        drop(conn);
    }
    let s = Store::open(d.path()).expect("current");
    assert_eq!(s.schema_version().ok(), Some(SCHEMA_VERSION));
    let j = s.resolve("old-job").expect("row kept");
    assert_eq!(j.name, "legacy");
    assert!(s.events(&j.job_id).expect("events").is_empty());
    s.set_status(&j.job_id, JobStatus::Running, "")
        .expect("usable after migration");
    assert_eq!(s.events(&j.job_id).expect("events").len(), 1);
}

fn rusqlite_insert_v1(home: &std::path::Path) -> std::process::Output {
    let spec =
        serde_json::to_string(&JobSpec::new(Command::Argv(vec!["true".into()]))).expect("spec");
    let sql = format!(
        "INSERT INTO jobs (id, name, platform, status, created_at, updated_at, spec, launch_state, launch_token) VALUES ('old-job', 'legacy', 'local', 'Pending', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', '{}', 'launched', 't');",
        spec.replace('\'', "''")
    );
    let out = std::process::Command::new("sqlite3")
        .arg(home.join("hoist.db"))
        .arg(sql)
        .output()
        .expect("sqlite3 is needed (the test set-up installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn refuses_newer_and_damaged_stores() {
    let d = tempfile::tempdir().expect("tmp");
    drop(Store::open(d.path()).expect("create"));
    let out = std::process::Command::new("sqlite3")
        .arg(d.path().join("hoist.db"))
        .arg("PRAGMA user_version = 42;")
        .output()
        .expect("sqlite3");
    assert!(out.status.success());
    assert!(matches!(
        Store::open(d.path()),
        Err(StoreError::NewerSchema { found: 42, .. })
    ));

    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(d.path().join("hoist.db"), vec![0x42u8; 8192]).expect("write");
    assert!(matches!(
        Store::open(d.path()),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(
        std::fs::read(d.path().join("hoist.db")).expect("read"),
        vec![0x42u8; 8192],
        "never reset"
    );
}

#[test]
fn transitions_follow_the_rules() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Store::open(d.path()).expect("open");
    s.insert(&job("a", "a")).expect("insert");
    assert_eq!(
        s.set_status("a", JobStatus::Running, "")
            .expect("run")
            .status,
        JobStatus::Running
    );
    assert_eq!(
        s.request_cancel("a").expect("cancel").status,
        JobStatus::Canceling
    );
    assert!(
        matches!(
            s.set_status("a", JobStatus::Running, ""),
            Err(StoreError::Transition { .. })
        ),
        "Canceling goes only to a terminal state"
    );
    assert_eq!(
        s.set_status("a", JobStatus::Complete, "finished first")
            .expect("natural")
            .status,
        JobStatus::Complete
    );
    for next in [
        JobStatus::Error,
        JobStatus::Canceled,
        JobStatus::Running,
        JobStatus::Unknown,
    ] {
        assert!(
            s.set_status("a", next, "").is_err(),
            "terminal is final ({next})"
        );
    }
    assert_eq!(
        s.request_cancel("a").expect("idempotent").status,
        JobStatus::Complete
    );
    // compare-and-set: a stale expectation changes nothing
    s.insert(&job("b", "b")).expect("insert");
    let (changed, rec) = s
        .apply_report("b", Some(JobStatus::Running), &rep(JobStatus::Error))
        .expect("cas");
    assert!(!changed);
    assert_eq!(rec.status, JobStatus::Pending);
    let kinds: Vec<String> = s
        .events("a")
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["submit", "status", "cancel", "status"]);
}

#[test]
fn launch_fence_needs_the_token() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Store::open(d.path()).expect("open");
    s.insert(&job("a", "a")).expect("insert");
    assert!(
        !s.mark_launched("a", "wrong-token", &submitted("a"))
            .expect("mark")
    );
    assert_eq!(s.launching().expect("launching").len(), 1);
    assert!(
        s.mark_launched("a", "tok-a", &submitted("a"))
            .expect("mark")
    );
    assert!(
        !s.mark_abandoned("a", "tok-a", "late").expect("abandon"),
        "a launched job cannot be abandoned"
    );
    assert!(s.launching().expect("launching").is_empty());
    s.insert(&job("b", "b")).expect("insert");
    assert!(
        s.mark_abandoned("b", "tok-b", "never launched")
            .expect("abandon")
    );
    let b = s.get("b").expect("get").expect("row");
    assert_eq!(
        (b.status, b.launch_state),
        (JobStatus::Error, LaunchState::Abandoned)
    );
    assert!(
        !s.mark_launched("b", "tok-b", &submitted("b"))
            .expect("mark"),
        "an abandoned launch stays abandoned"
    );
}

#[test]
fn resolve_by_id_prefix_and_name() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Store::open(d.path()).expect("open");
    for (id, name) in [("abc1", "train"), ("abd2", "eval"), ("f%_3", "x")] {
        s.insert(&job(id, name)).expect("insert");
    }
    assert_eq!(s.resolve("abc").expect("prefix").job_id, "abc1");
    assert_eq!(s.resolve("eval").expect("name").job_id, "abd2");
    assert!(matches!(s.resolve("ab"), Err(StoreError::Ambiguous { .. })));
    assert!(matches!(s.resolve("zz"), Err(StoreError::NotFound(_))));
    assert_eq!(
        s.resolve("f%").expect("LIKE characters are literal").job_id,
        "f%_3"
    );
    assert!(matches!(s.resolve("%"), Err(StoreError::NotFound(_))));
}

#[test]
fn concurrent_writers_lose_nothing() {
    let d = tempfile::tempdir().expect("tmp");
    drop(Store::open(d.path()).expect("create"));
    let home = d.path().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let home = home.clone();
            std::thread::spawn(move || {
                let s = Store::open(&home).expect("open");
                for i in 0..25 {
                    let id = format!("t{t}-{i}");
                    s.insert(&job(&id, &id)).expect("insert");
                    s.set_status(&id, JobStatus::Running, "").expect("running");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let s = Store::open(&home).expect("open");
    let all = s.list(&ListFilter::default()).expect("list");
    assert_eq!(all.len(), 200);
    assert!(all.iter().all(|j| j.status == JobStatus::Running));
    // Racing a cancel against completion: exactly one terminal state wins, never both.
    s.insert(&job("race", "race")).expect("insert");
    s.set_status("race", JobStatus::Running, "")
        .expect("running");
    let h1 = {
        let home = home.clone();
        std::thread::spawn(move || {
            Store::open(&home)
                .expect("open")
                .request_cancel("race")
                .map(|r| r.status)
        })
    };
    let h2 = {
        let home = home.clone();
        std::thread::spawn(move || {
            Store::open(&home)
                .expect("open")
                .set_status("race", JobStatus::Complete, "done")
                .map(|r| r.status)
        })
    };
    let _ = h1.join().expect("t1");
    let _ = h2.join().expect("t2");
    let fin = s.get("race").expect("get").expect("row");
    assert_eq!(
        fin.status,
        JobStatus::Complete,
        "either completion came first, or Canceling then Complete"
    );
}

#[test]
fn list_is_newest_first_with_filters() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Store::open(d.path()).expect("open");
    let mut jobs = Vec::new();
    for i in 0..5 {
        let mut j = job(&format!("j{i}"), &format!("n{i}"));
        j.created_at = j
            .created_at
            .checked_add(jiff::SignedDuration::from_secs(i))
            .expect("time");
        if i % 2 == 0 {
            j.status = JobStatus::Complete;
        }
        jobs.push(j);
    }
    s.insert_many(&jobs).expect("insert");
    let ids: Vec<String> = s
        .list(&ListFilter::default())
        .expect("list")
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(ids, ["j4", "j3", "j2", "j1", "j0"]);
    let done = s
        .list(&ListFilter {
            status: Some(JobStatus::Complete),
            limit: Some(2),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(
        done.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(),
        ["j4", "j2"]
    );
    assert_eq!(s.active().expect("active").len(), 2);
}

#[test]
fn one_store_serves_many_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
}
