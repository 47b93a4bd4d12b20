//! An exclusive lock on a file that the kernel releases when its holder dies, however it dies
//! (flock(2)): a workflow run has one driver at a time, and a driver killed with -9 leaves
//! nothing to clean up before the next one takes over.

use crate::proc::ProcId;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Take the lock on `path` (created if missing) without waiting, and write this process's
    /// identity into it. `Ok(None)`: another process holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: flock on a descriptor this function owns; no memory is shared with the kernel.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                Ok(None)
            } else {
                Err(e)
            };
        }
        let me = ProcId::current().map(|p| p.encode()).unwrap_or_default();
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(me.as_bytes())?;
        file.flush()?;
        Ok(Some(FileLock {
            file,
            path: path.to_path_buf(),
        }))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The process holding the lock on `path`, if any process does (its identity as it wrote
    /// it; `None` for a free or missing lock).
    pub fn holder(path: &Path) -> Option<ProcId> {
        let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        // SAFETY: as in try_acquire; a shared probe that is released at once.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
        if rc == 0 {
            // SAFETY: releasing the probe just taken on the same descriptor.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            return None;
        }
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        ProcId::decode(&text)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking the descriptor this value owns.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = std::env::temp_dir().join(format!("hoist-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("driver.lock");
        assert!(FileLock::holder(&p).is_none());
        let held = FileLock::try_acquire(&p).expect("lock").expect("free");
        // flock locks belong to the open file description: a second open in this process
        // conflicts as another process's would.
        assert!(FileLock::try_acquire(&p).expect("try").is_none());
        assert_eq!(FileLock::holder(&p), ProcId::current());
        drop(held);
        assert!(FileLock::holder(&p).is_none());
        assert!(FileLock::try_acquire(&p).expect("again").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
