//! Opening the store: a new one is made only where no file exists, and an existing file is
//! read (schema version, journal mode, whether it is hoist's at all) before anything writes
//! to it, so a store hoist refuses is left exactly as it was found.

use crate::files::{check_home, classify, restrict_new_file, writable};
use crate::{Result, SCHEMA_VERSION, Store, StoreError, schema};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) fn open(home: &Path, version: i64) -> Result<Store> {
    check_home(home)?;
    let path = home.join("hoist.db");
    let corrupt = |detail: &str| StoreError::Corrupt {
        path: path.clone(),
        detail: detail.into(),
    };
    // A store comes into being whole: made under `store.lock` at a temporary path and renamed
    // into place, so `hoist.db` is either missing or a store. An empty one (a store whose
    // contents were lost) is therefore never taken for a fresh start.
    let mut setup_lock = None;
    if std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
        setup_lock = Some(lock_setup(home)?);
        match std::fs::metadata(&path) {
            Err(_) => create(home, &path, version)?,
            Ok(m) if m.len() == 0 => return Err(corrupt("the file is empty")),
            Ok(_) => {}
        }
    }
    let read_only = !writable(&path);
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(&path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| classify(Some(&path), e))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(|e| classify(Some(&path), e))?;
    let (mode, found) = header(&conn, &path)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path,
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Every hoist store has been migrated at least once: version 0 is some other SQLite
    // database.
    if found == 0 {
        return Err(corrupt("an SQLite database without hoist's tables"));
    }
    let ready = mode.eq_ignore_ascii_case("wal") && found >= version;
    if !ready {
        if read_only {
            return Err(StoreError::ReadOnly {
                path,
                why: format!(
                    "its file has no write permission, and it needs set-up first (schema {found}, journal {mode})"
                ),
            });
        }
        // Set-up (switching to WAL, migrating) runs under the file lock: SQLite answers
        // "database is locked" at once, not after the busy timeout, to a second process
        // switching journal modes concurrently.
        if setup_lock.is_none() {
            setup_lock = Some(lock_setup(home)?);
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| classify(Some(&path), e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(corrupt(&format!(
                "cannot switch to WAL journal mode (got {mode})"
            )));
        }
    }
    // mmap: listings read the whole table; copying it through read() was a third of `ls`.
    let pragmas = if read_only {
        "PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;"
    } else {
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;"
    };
    conn.execute_batch(pragmas)
        .map_err(|e| classify(Some(&path), e))?;
    let mut conn = conn;
    if !ready {
        migrate(&mut conn, &path, version)?;
    }
    drop(setup_lock);
    Ok(Store {
        conn: Mutex::new(conn),
        path,
        read_only,
    })
}

/// The journal mode and schema version, read without writing (the first read of the header:
/// a file that is not a database fails here, as damaged).
fn header(conn: &Connection, path: &Path) -> Result<(String, i64)> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| classify(Some(path), e))?;
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| classify(Some(path), e))?;
    Ok((mode, found))
}

/// Make a new store at `path`: built (WAL, schema) at a temporary path beside it, closed, and
/// renamed into place. The caller holds `store.lock`.
fn create(home: &Path, path: &Path, version: i64) -> Result<()> {
    let tmp = home.join(format!(".hoist.db.new-{}", std::process::id()));
    for leftover in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{leftover}", tmp.display()));
    }
    let mut conn = Connection::open_with_flags(
        &tmp,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(Some(path), e))?;
    restrict_new_file(&tmp);
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| classify(Some(path), e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("a new store cannot use WAL journal mode (got {mode})"),
        });
    }
    migrate(&mut conn, path, version)?;
    // Closing the last connection checkpoints the WAL into the file and removes it, so the
    // renamed file is complete on its own.
    conn.close().map_err(|(_, e)| classify(Some(path), e))?;
    std::fs::rename(&tmp, path).map_err(|reason| StoreError::Open {
        path: path.to_path_buf(),
        reason,
    })
}

fn lock_setup(home: &Path) -> Result<File> {
    let p: PathBuf = home.join("store.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .and_then(|f| f.lock().map(|_| f))
        .map_err(|reason| StoreError::Open { path: p, reason })
}

fn migrate(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| classify(Some(path), e))?;
    // Re-read under the lock: another process may have migrated meanwhile.
    let now: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if now > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: now,
            supported: SCHEMA_VERSION,
        });
    }
    for (v, sql) in schema::MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, s)| (i as i64 + 1, s))
    {
        if v > now && v <= target {
            tx.execute_batch(sql)?;
            tx.execute_batch(&format!("PRAGMA user_version = {v}"))?;
        }
    }
    tx.commit().map_err(|e| classify(Some(path), e))?;
    Ok(())
}
