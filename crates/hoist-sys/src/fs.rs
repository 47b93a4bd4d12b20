//! File-system facts the store needs to say what went wrong (who we are, how much room is
//! left), without each crate calling libc itself.

use std::path::Path;

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Bytes an unprivileged writer can still use on the file system holding `path`; `None` when
/// it cannot be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated string and `st` is written by statvfs on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

#[cfg(test)]
mod tests {
    #[test]
    fn asks_the_file_system() {
        assert!(super::free_bytes(std::path::Path::new("/")).is_some());
        assert!(super::free_bytes(std::path::Path::new("/no/such/dir")).is_none());
        let _ = super::euid();
    }
}
