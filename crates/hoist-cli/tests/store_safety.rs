//! What a user sees when HOIST_HOME points somewhere a store must not be, or at a store that
//! cannot be used as it is: one clear message, and the directory or file left as it was.

mod harness;
use harness::*;
use std::os::unix::fs::PermissionsExt;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o7777
}

#[test]
fn a_shared_home_is_refused_untouched() {
    let e = Env::new();
    std::fs::create_dir_all(e.home()).expect("home");
    std::fs::set_permissions(e.home(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let o = e.run(&["ls"]);
    assert_ne!(o.code(), 0);
    assert!(
        o.stderr().contains("refusing to keep the job store")
            && o.stderr().contains("every user may write"),
        "{}",
        o.stderr()
    );
    assert_eq!(mode(&e.home()), 0o1777);
    let o = e.run(&["run", "-d", "--", "true"]);
    assert_ne!(o.code(), 0);
    assert!(!e.home().join("hoist.db").exists(), "nothing stored");
}

#[test]
fn an_empty_store_file_is_not_a_fresh_start() {
    let e = Env::new();
    std::fs::create_dir_all(e.home()).expect("home");
    std::fs::write(e.home().join("hoist.db"), b"").expect("empty");
    let o = e.run(&["ls"]);
    assert_ne!(o.code(), 0);
    assert!(o.stderr().contains("the file is empty"), "{}", o.stderr());
    // Said once: no "caused by" repeating the message.
    assert_eq!(
        o.stderr().matches("the file is empty").count(),
        1,
        "{}",
        o.stderr()
    );
}

#[test]
fn a_read_only_store_lists_and_refuses_to_submit() {
    let e = Env::new();
    let id = e.submit(&["--", "true"]);
    wait_for("the job ends", || {
        e.ls().first().is_some_and(|j| j["status"] == "Complete")
    });
    let db = e.home().join("hoist.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let o = e.run(&["status", &id]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let o = e.run(&["run", "-d", "--", "true"]);
    assert_ne!(o.code(), 0);
    assert!(o.stderr().contains("read-only"), "{}", o.stderr());
    assert_eq!(mode(&db), 0o444);
}
