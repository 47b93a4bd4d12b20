//! Process identity on Linux: a pid plus its start time, so a recycled pid is never mistaken
//! for the process hoist started.

use std::io;

/// A process as hoist remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcId {
    /// Process id.
    pub pid: i32,
    /// Start time in clock ticks since boot (field 22 of /proc/PID/stat).
    pub start: u64,
}

impl ProcId {
    /// This process.
    pub fn current() -> Option<ProcId> {
        let pid = std::process::id() as i32;
        stat(pid).map(|(start, _)| ProcId { pid, start })
    }

    /// Another process by pid, if it exists now.
    pub fn of(pid: i32) -> Option<ProcId> {
        stat(pid).map(|(start, _)| ProcId { pid, start })
    }

    /// Still running (not exited, not a zombie, pid not reused).
    pub fn alive(&self) -> bool {
        matches!(stat(self.pid), Some((start, state)) if start == self.start && state != 'Z' && state != 'X')
    }

    /// `pid:start`, the form kept in files and the store.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.pid, self.start)
    }

    /// Inverse of [`ProcId::encode`].
    pub fn decode(s: &str) -> Option<ProcId> {
        let (p, t) = s.trim().split_once(':')?;
        Some(ProcId {
            pid: p.parse().ok()?,
            start: t.parse().ok()?,
        })
    }
}

fn stat(pid: i32) -> Option<(u64, char)> {
    if pid <= 0 {
        return None;
    }
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')': fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// The polite stop: what a driver or supervisor is asked to end with.
pub const SIGTERM: i32 = libc::SIGTERM;

/// Send `sig` to a process group. A group that is already gone is not an error.
pub fn kill_group(pgid: i32, sig: i32) -> io::Result<()> {
    kill(-pgid, sig)
}

/// Send `sig` to one process (or group, for a negative pid). ESRCH is not an error.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    if pid == 0 || pid == -1 {
        // 0 and -1 would signal our own group or every process we may signal.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal pid 0 or -1",
        ));
    }
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(e)
    }
}

/// Whether any process of a group is left.
pub fn group_exists(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::kill(-pgid, 0) } == 0
}

/// Make `cmd` start in a session of its own (setsid), so a closed terminal or a ^C in the
/// shell that started it never reaches it: what a process meant to outlive its parent needs.
pub fn in_new_session(cmd: &mut std::process::Command) {
    // SAFETY: setsid is async-signal-safe, as a pre_exec hook must be.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The host's name, for the backend identity.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_round_trips() {
        let me = ProcId::current().expect("self");
        assert!(me.alive());
        assert_eq!(ProcId::decode(&me.encode()), Some(me));
        let stale = ProcId {
            pid: me.pid,
            start: me.start + 1,
        };
        assert!(
            !stale.alive(),
            "a different start time is a different process"
        );
        assert!(ProcId::decode("garbage").is_none());
    }

    #[test]
    fn refuses_dangerous_pids() {
        assert!(kill(0, 0).is_err());
        assert!(kill(-1, 0).is_err());
    }
}
