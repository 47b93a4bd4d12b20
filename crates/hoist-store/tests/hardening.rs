//! Stores hoist must refuse, or open without changing: a shared HOIST_HOME, an empty or
//! foreign database file, a newer store in rollback-journal mode, a read-only store; and
//! errors that say what happened once.

use hoist_core::{Command, JobRecord, JobSpec};
use hoist_store::{Store, StoreError};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn job(id: &str) -> JobRecord {
    let spec = JobSpec::new(Command::Argv(vec!["true".into()]));
    JobRecord::pending(id.into(), "local".into(), spec, format!("tok-{id}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").mode() & 0o7777
}

fn sqlite3(db: &Path, sql: &str) {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 (Debian: apt-get install sqlite3)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_shared_directory_is_refused_and_left_as_it_was() {
    let d = tempfile::tempdir().expect("tmp");
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let e = Store::open(&shared).err().expect("refused");
    assert!(matches!(e, StoreError::UnsafeHome { .. }), "{e}");
    assert!(e.to_string().contains("every user may write"), "{e}");
    assert_eq!(mode(&shared), 0o1777, "never chmod-ed");
    assert!(!shared.join("hoist.db").exists(), "nothing created");

    // A directory that is not ours: another user's (as root), else one root owns.
    let theirs = if hoist_sys::fs::euid() == 0 {
        let p = d.path().join("theirs");
        std::fs::create_dir(&p).expect("mkdir");
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).expect("chown");
        p
    } else {
        Path::new("/").to_path_buf()
    };
    let e = Store::open(&theirs).err().expect("refused");
    assert!(
        matches!(e, StoreError::UnsafeHome { .. }) && e.to_string().contains("belongs to uid"),
        "{e}"
    );

    // An existing directory of our own keeps its mode; a new one is made 0700.
    let mine = d.path().join("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    drop(Store::open(&mine).expect("open"));
    assert_eq!(mode(&mine), 0o755);
    assert_eq!(mode(&mine.join("hoist.db")), 0o600);
    let fresh = d.path().join("a/b/home");
    drop(Store::open(&fresh).expect("open"));
    assert_eq!(mode(&fresh), 0o700);
}

#[test]
fn an_empty_or_foreign_file_is_not_a_new_store() {
    let d = tempfile::tempdir().expect("tmp");
    let db = d.path().join("hoist.db");
    std::fs::write(&db, b"").expect("write");
    let e = Store::open(d.path()).err().expect("refused");
    assert!(
        matches!(e, StoreError::Corrupt { .. }) && e.to_string().contains("empty"),
        "{e}"
    );
    assert!(e.to_string().contains(&db.display().to_string()), "{e}");
    assert_eq!(std::fs::metadata(&db).expect("db").len(), 0, "left empty");

    let d = tempfile::tempdir().expect("tmp");
    let db = d.path().join("hoist.db");
    sqlite3(
        &db,
        "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');",
    );
    let before = std::fs::read(&db).expect("read");
    let e = Store::open(d.path()).err().expect("refused");
    assert!(e.to_string().contains("without hoist's tables"), "{e}");
    assert_eq!(std::fs::read(&db).expect("read"), before, "untouched");
}

#[test]
fn a_newer_store_is_refused_before_any_write() {
    let d = tempfile::tempdir().expect("tmp");
    drop(Store::open(d.path()).expect("create"));
    let db = d.path().join("hoist.db");
    sqlite3(&db, "PRAGMA journal_mode=DELETE; PRAGMA user_version = 42;");
    let before = std::fs::read(&db).expect("read");
    // Bytes 18-19 of the header: 1 = rollback journal, 2 = WAL.
    assert_eq!(&before[18..20], &[1, 1]);
    let e = Store::open(d.path()).err().expect("refused");
    assert!(
        matches!(e, StoreError::NewerSchema { found: 42, .. }),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "still rollback-journal"
    );
}

#[test]
fn a_read_only_store_reads_and_refuses_writes_without_changing_its_mode() {
    let d = tempfile::tempdir().expect("tmp");
    let s = Store::open(d.path()).expect("create");
    s.insert(&job("11111111-0000-0000-0000-000000000000"))
        .expect("insert");
    drop(s);
    let db = d.path().join("hoist.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let s = Store::open(d.path()).expect("a read-only store opens");
    assert_eq!(s.list(&Default::default()).expect("list").len(), 1);
    let e = s
        .insert(&job("22222222-0000-0000-0000-000000000000"))
        .expect_err("refused");
    assert!(
        matches!(e, StoreError::ReadOnly { .. }) && e.to_string().contains("read-only"),
        "{e}"
    );
    assert_eq!(mode(&db), 0o444, "never chmod-ed");
    drop(s);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(
        Store::open(d.path())
            .expect("open")
            .list(&Default::default())
            .expect("list")
            .len(),
        1,
        "nothing was written while read-only"
    );
}

#[test]
fn errors_say_it_once() {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::write(d.path().join("hoist.db"), vec![0x42u8; 8192]).expect("write");
    let e = Store::open(d.path()).err().expect("refused");
    // Nothing below the message repeats it when a caller prints the whole chain.
    assert!(std::error::Error::source(&e).is_none(), "{e}");
    let e = Store::open(Path::new("/proc/self/no/such"))
        .err()
        .expect("refused");
    assert!(std::error::Error::source(&e).is_none(), "{e}");
}

#[test]
fn a_new_store_appears_whole_however_many_open_it_at_once() {
    let d = tempfile::tempdir().expect("tmp");
    let home = d.path().join("home");
    let opened: Vec<_> = (0..8)
        .map(|_| {
            let home = home.clone();
            std::thread::spawn(move || Store::open(&home).map(|_| ()))
        })
        .collect();
    for t in opened {
        t.join()
            .expect("thread")
            .expect("every opener gets the store");
    }
    let names: Vec<String> = std::fs::read_dir(&home)
        .expect("home")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".new-")),
        "no half-made store left behind: {names:?}"
    );
    // Bytes 18-19 of the header: 2 = WAL, set before the file took its name.
    let head = std::fs::read(home.join("hoist.db")).expect("db");
    assert_eq!(&head[18..20], &[2, 2]);
}
