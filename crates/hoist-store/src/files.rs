//! The store's files: private directory and database modes, and SQLite errors that mean the
//! file is damaged or unreadable.

use crate::{Result, StoreError};
use std::path::Path;

pub(crate) fn corrupt_or(path: &Path, e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi::ErrorCode;
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if matches!(f.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: msg.clone().unwrap_or_else(|| e.to_string()),
            }
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly
            ) =>
        {
            StoreError::Open {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()),
            }
        }
        _ => StoreError::Sqlite(e),
    }
}

pub(crate) fn ensure_private_dir(home: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let open_err = |source| StoreError::Open {
        path: home.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(home) {
        Ok(m) if m.file_type().is_symlink() => {
            // A symlinked store could be redirected into a directory another user controls.
            let target = std::fs::metadata(home).map_err(open_err)?;
            if !target.is_dir() {
                return Err(open_err(std::io::Error::other(
                    "it is a symlink to something that is not a directory",
                )));
            }
        }
        Ok(m) if !m.is_dir() => {
            return Err(open_err(std::io::Error::other(
                "it exists and is not a directory",
            )));
        }
        Ok(m) => {
            if m.permissions().mode() & 0o077 != 0 {
                let _ = std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700));
            }
        }
        Err(_) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(home)
                .map_err(open_err)?;
        }
    }
    Ok(())
}

pub(crate) fn restrict_file(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}
