//! The store behind the local platform: names and prefixes, rm, listing filters, privacy,
//! damaged or newer stores, and rows that survive kill -9 and concurrent submits.

mod harness;
use harness::*;

#[test]
fn prefixes_and_names_resolve_or_are_ambiguous() {
    let e = Env::new();
    let mut ids: Vec<String> = (0..17)
        .map(|_| e.submit(&["--name", "twin", "--", "true"]))
        .collect();
    ids.sort();
    // 17 ids over 16 hex digits: two share a first character.
    let pair = ids
        .windows(2)
        .find(|w| w[0][..1] == w[1][..1])
        .expect("pigeonhole");
    let o = e.run(&["status", &pair[0][..1]]);
    assert_eq!(o.code(), 2);
    assert!(o.stderr().contains("matches"), "{}", o.stderr());
    let named = e.run(&["status", "twin"]);
    assert_eq!(named.code(), 2, "a reused name is ambiguous");
    let unique = pair[0].chars().take(12).collect::<String>();
    assert_eq!(e.status_json(&unique)["job_id"], pair[0].as_str());
}

#[test]
fn rm_removes_finished_jobs_only() {
    let e = Env::new();
    let done = e.submit(&["--", "echo", "x"]);
    e.run(&["wait", &done]);
    assert!(e.job_dir(&done).exists());
    let o = e.run(&["rm", &done]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(!e.job_dir(&done).exists());
    assert_eq!(e.run(&["status", &done]).code(), 2);
    let live = e.submit(&["--", "sleep", "600"]);
    e.wait_status(&live, "Running");
    let refused = e.run(&["rm", &live]);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(refused.stderr().contains("--force"));
    let forced = e.run(&["rm", "--force", &live]);
    assert_eq!(forced.code(), 0, "{}", forced.stderr());
    assert!(e.ls().is_empty());
}

#[test]
fn kill_9_during_submit_is_reconciled_without_orphans_or_duplicates() {
    let e = Env::new();
    // Crash after the platform launched the job, before the store heard back: adopt it.
    crash_at(
        e.cmd(&[
            "run",
            "-d",
            "--name",
            "adoptee",
            "--",
            "sh",
            "-c",
            "echo survived",
        ]),
        "after-submit",
    );
    let r = e.run(&["reconcile"]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert!(r.stdout().contains("adoptee adopted"), "{}", r.stdout());
    assert_eq!(e.run(&["wait", "adoptee"]).code(), 0);
    assert_eq!(e.run(&["logs", "adoptee"]).stdout(), "survived\n");

    // Crash after the row, before the platform: fence the launch off; nothing may ever run.
    let marker = e.path("must-not-exist");
    let script = format!("touch {}", marker.display());
    crash_at(
        e.cmd(&["run", "-d", "--name", "ghost", "--", "sh", "-c", &script]),
        "after-insert",
    );
    // Any later command reconciles on its way in.
    let ls = e.run(&["ls", "--json"]);
    assert!(ls.stderr().contains("abandoned"), "{}", ls.stderr());
    let s = e.status_json("ghost");
    assert_eq!(s["status"], "Error");
    assert!(
        s["message"]
            .as_str()
            .is_some_and(|m| m.contains("died before the job was launched"))
    );
    assert!(!marker.exists());
    let jobs = e.ls();
    assert_eq!(jobs.len(), 2, "no duplicate rows");
    assert_eq!(
        e.run(&["reconcile"]).stdout().trim(),
        "nothing to reconcile"
    );
}

#[test]
fn twenty_concurrent_submits_lose_no_rows() {
    let e = Env::new();
    let kids: Vec<_> = (0..20)
        .map(|i| e.spawn(&["run", "-d", "--name", &format!("c{i}"), "--", "true"]))
        .collect();
    let mut ids = Vec::new();
    for k in kids {
        let o = k.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ids.push(String::from_utf8_lossy(&o.stdout).trim().to_string());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    let jobs = e.ls();
    assert_eq!(jobs.len(), 20);
    for id in &ids {
        let w = e.run(&["wait", id]);
        assert_eq!(w.code(), 0, "{id}: {} {}", w.stderr(), e.status_json(id));
    }
}

#[test]
fn ls_filters_and_store_is_private() {
    let e = Env::new();
    let a = e.submit(&["--", "true"]);
    let b = e.submit(&["--", "false"]);
    e.run(&["wait", &a]);
    e.run(&["wait", &b]);
    let o = e.run(&["ls", "--status", "Error", "--json"]);
    let v: Vec<serde_json::Value> = serde_json::from_str(&o.stdout()).expect("json");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["job_id"], b.as_str());
    let o = e.run(&["ls", "--platform", "local", "--json"]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&o.stdout())
            .expect("json")
            .len(),
        2
    );
    let table = e.run(&["ls"]).stdout();
    assert!(
        table.starts_with("ID") && !table.contains('\x1b'),
        "plain text when piped: {table}"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(e.home()).expect("home").permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn corrupt_or_newer_store_is_a_clear_error() {
    let e = Env::new();
    std::fs::create_dir_all(e.home()).expect("home");
    let db = e.home().join("hoist.db");
    std::fs::write(
        &db,
        b"this is not a database, but somebody's file".repeat(200),
    )
    .expect("write");
    let o = e.run(&["ls"]);
    assert_eq!(o.code(), 1);
    assert!(o.stderr().contains("damaged"), "{}", o.stderr());
    assert!(
        std::fs::read(&db)
            .expect("db")
            .starts_with(b"this is not a database"),
        "never a silent reset"
    );

    let e2 = Env::new();
    assert_eq!(e2.run(&["ls"]).code(), 0);
    e2.sql("PRAGMA user_version = 99;");
    let o = e2.run(&["ls"]);
    assert_eq!(o.code(), 1);
    assert!(o.stderr().contains("newer"), "{}", o.stderr());
}

#[test]
fn ls_filters_by_parent() {
    let e = Env::new();
    let a = e.submit(&["--name", "first", "--", "true"]);
    let b = e.submit(&["--name", "second", "--parent", "first", "--", "true"]);
    e.submit(&["--name", "other", "--", "true"]);
    let o = e.run(&["ls", "--parent", &a[..8], "--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: Vec<serde_json::Value> = serde_json::from_str(&o.stdout()).expect("json");
    let ids: Vec<&str> = v.iter().filter_map(|j| j["job_id"].as_str()).collect();
    assert_eq!(ids, [b.as_str()]);
    let none = e.run(&["ls", "--workflow", "wf-nope", "--json"]);
    assert_eq!(none.stdout().trim(), "[]");
}
