//! The store's files: whose directory it may live in, the modes of what hoist creates, and
//! SQLite errors turned into what they mean for the user (damaged, read-only, disk full).

use crate::{Result, StoreError};
use std::cell::RefCell;
use std::path::{Path, PathBuf};

thread_local! {
    // The database a statement on this thread runs against, so an SQLite error converted by
    // `?` can still name its file (every Store call locks its connection first).
    static CURRENT: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

pub(crate) fn set_current(path: &Path) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_deref() != Some(path) {
            *c = Some(path.to_path_buf());
        }
    });
}

fn current() -> Option<PathBuf> {
    CURRENT.with(|c| c.borrow().clone())
}

/// What an SQLite error means. `path`: the database, when the caller knows it.
pub(crate) fn classify(path: Option<&Path>, e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    let path = path.map(Path::to_path_buf).or_else(current);
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    let full = |p: &Path| {
        p.parent()
            .and_then(hoist_sys::fs::free_bytes)
            .is_some_and(|b| b < 64 * 1024)
    };
    match (code, path) {
        (Some(ErrorCode::DiskFull), Some(path)) => StoreError::NoSpace { path },
        // SQLite reports a write the file system refused for room as a plain I/O error
        // (SQLITE_IOERR_SHMSIZE, _WRITE …); the free space tells which it was.
        (Some(ErrorCode::SystemIoFailure), Some(path)) if full(&path) => {
            StoreError::NoSpace { path }
        }
        (Some(ErrorCode::ReadOnly), Some(path)) => StoreError::ReadOnly {
            path,
            why: "SQLite may not write it".into(),
        },
        (Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt), Some(path)) => {
            StoreError::Corrupt {
                path,
                detail: sqlite_detail(&e),
            }
        }
        (Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied), Some(path)) => {
            StoreError::Open {
                path,
                reason: std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    sqlite_detail(&e),
                ),
            }
        }
        _ => StoreError::Sqlite(e),
    }
}

/// SQLite's own words, once (rusqlite's Display repeats the code's name before them).
fn sqlite_detail(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        rusqlite::Error::SqliteFailure(f, None) => f.to_string(),
        other => other.to_string(),
    }
}

/// Make sure `home` can hold a store: create it (0700) when it does not exist; an existing
/// directory must be this user's and not writable by everyone. An existing directory's mode
/// is never changed: HOIST_HOME=/tmp must not lock other users out of /tmp.
pub(crate) fn check_home(home: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let open_err = |reason| StoreError::Open {
        path: home.to_path_buf(),
        reason,
    };
    let unsafe_home = |why: String| StoreError::UnsafeHome {
        path: home.to_path_buf(),
        why,
    };
    let m = match std::fs::symlink_metadata(home) {
        Ok(m) if m.file_type().is_symlink() => {
            // A symlinked store could be redirected into a directory another user controls:
            // the target is what must be ours.
            let target = std::fs::metadata(home).map_err(open_err)?;
            if !target.is_dir() {
                return Err(open_err(std::io::Error::other(
                    "it is a symlink to something that is not a directory",
                )));
            }
            target
        }
        Ok(m) if !m.is_dir() => {
            return Err(open_err(std::io::Error::other(
                "it exists and is not a directory",
            )));
        }
        Ok(m) => m,
        Err(_) => {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(home)
                .map_err(open_err);
        }
    };
    let me = hoist_sys::fs::euid();
    if m.uid() != me {
        return Err(unsafe_home(format!(
            "it belongs to uid {}, not to you (uid {me})",
            m.uid()
        )));
    }
    if m.mode() & 0o002 != 0 {
        return Err(unsafe_home(format!(
            "every user may write in it (mode {:o})",
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Give a database file hoist just created mode 0600, whatever the umask said.
pub(crate) fn restrict_new_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

/// Whether this process may write the existing file at `path`. The owner's write bit counts
/// even for root (who could write anyway): a store made read-only is meant to stay so.
pub(crate) fn writable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let owner_may = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o200 != 0);
    owner_may && std::fs::OpenOptions::new().write(true).open(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_codes_read_as_what_they_mean() {
        let db = Path::new("/var/lib/h/hoist.db");
        let full = classify(Some(db), failure(ffi::SQLITE_FULL)).to_string();
        assert!(
            full.starts_with(
                "no space left on the device holding the job store (/var/lib/h/hoist.db)"
            ) && full.contains("df -h /var/lib/h"),
            "{full}"
        );
        let ro = classify(Some(db), failure(ffi::SQLITE_READONLY)).to_string();
        assert!(ro.contains("/var/lib/h/hoist.db is read-only"), "{ro}");
        // The path comes from the store a statement on this thread last used.
        set_current(db);
        assert!(matches!(
            StoreError::from(failure(ffi::SQLITE_FULL)),
            StoreError::NoSpace { .. }
        ));
        // An I/O error on a file system with room is not called a full disk.
        set_current(Path::new("/hoist.db"));
        let io = StoreError::from(failure(ffi::SQLITE_IOERR_SHMSIZE));
        let root_full = hoist_sys::fs::free_bytes(Path::new("/")).is_some_and(|b| b < 64 * 1024);
        assert_eq!(matches!(io, StoreError::NoSpace { .. }), root_full, "{io}");
    }
}
