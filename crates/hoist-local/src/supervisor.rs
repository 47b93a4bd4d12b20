//! The supervisor: a small process, detached from the CLI in its own session, that owns one
//! job's command. It outlives the CLI, forwards a cancel as SIGTERM then SIGKILL to the whole
//! process group, and records the exit code atomically. It is the hoist binary itself
//! (`hoist __supervise DIR`), so nothing else has to be installed.

use crate::files::{Claim, ExitFile, JobDir, LaunchFile, StateFile};
use crate::proc::{self, ProcId};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

/// Environment variables meant for the supervisor, not the job.
pub(crate) const PRIVATE_ENV: &[&str] = &["HOIST_SUPERVISOR_LOG"];

/// Run the job in `dir` to completion. Returns the supervisor's own exit code (0 unless the
/// job directory itself is unusable); the job's result goes to `exit.json`.
pub fn supervise(dir: &Path) -> i32 {
    let jd = JobDir(dir.to_path_buf());
    let Some(me) = ProcId::current() else {
        return 70;
    };
    let Some(launch) = jd.launch() else {
        eprintln!(
            "hoist supervisor: {} has no readable launch.json",
            dir.display()
        );
        return 66;
    };
    // Signals first: a cancel that lands between the claim and the spawn must not be lost.
    let canceled = Arc::new(AtomicBool::new(false));
    let pgid = Arc::new(AtomicI32::new(0));
    let mut signals = match Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hoist supervisor: cannot install signal handlers: {e}");
            return 71;
        }
    };
    match jd.claim(&Claim::Supervisor(me)) {
        Ok(None) => {}
        Ok(Some(_)) => return 0, // fenced off by reconcile or canceled before start
        Err(e) => {
            eprintln!("hoist supervisor: cannot claim {}: {e}", dir.display());
            return 73;
        }
    }
    {
        let canceled = canceled.clone();
        let pgid = pgid.clone();
        let grace = Duration::from_secs(u64::from(launch.grace_seconds));
        let jd = jd.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if canceled.swap(true, Ordering::SeqCst) {
                    continue; // already escalating
                }
                let _ = jd.mark_cancel();
                let g = pgid.load(Ordering::SeqCst);
                if g > 0 {
                    terminate(g, grace);
                }
            }
        });
    }
    let started_at = jiff::Timestamp::now();
    let mut child = match spawn(&jd, &launch) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::PermissionDenied {
                126
            } else {
                127
            };
            let prog = launch.argv.first().map(String::as_str).unwrap_or("");
            // Worded as shells word it, so the same failure rules read it the same way.
            let msg = match e.kind() {
                std::io::ErrorKind::NotFound => format!("{prog}: command not found"),
                std::io::ErrorKind::PermissionDenied => format!("{prog}: Permission denied"),
                _ => format!("cannot start {prog}: {e}"),
            };
            if let Ok(mut log) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(jd.log())
            {
                let _ = writeln!(log, "hoist: {msg}");
            }
            let _ = jd.write_exit(&ExitFile {
                exit_code: Some(code),
                signal: None,
                canceled: false,
                finished_at: jiff::Timestamp::now(),
                message: msg,
            });
            return 0;
        }
    };
    let child_pid = child.id() as i32;
    pgid.store(child_pid, Ordering::SeqCst);
    let child_id = ProcId::of(child_pid).unwrap_or(ProcId {
        pid: child_pid,
        start: 0,
    });
    let _ = jd.write_state(&StateFile {
        supervisor: me,
        child: child_id,
        pgid: child_pid,
        started_at,
    });
    if canceled.load(Ordering::SeqCst) {
        terminate(
            child_pid,
            Duration::from_secs(u64::from(launch.grace_seconds)),
        );
    }
    let status = child.wait();
    // The main process is gone; whatever it left behind in its group goes too, so a finished
    // job never leaves orphans holding GPUs.
    let _ = proc::kill_group(child_pid, libc::SIGKILL);
    let was_canceled = canceled.load(Ordering::SeqCst);
    let exit = match status {
        Ok(st) => {
            let signal = st.signal();
            let code = st.code().or(signal.map(|s| 128 + s));
            let message = match (signal, code) {
                (Some(s), _) if was_canceled => format!(
                    "canceled; the command ended on {}",
                    hoist_core::failure::signal_name(s)
                ),
                (_, _) if was_canceled => format!(
                    "canceled; the command exited with code {}",
                    code.unwrap_or(-1)
                ),
                (Some(s), _) => format!("killed by {}", hoist_core::failure::signal_name(s)),
                (None, Some(0)) => String::new(),
                (None, Some(c)) => format!("exited with code {c}"),
                (None, None) => "ended without a status".into(),
            };
            ExitFile {
                exit_code: code,
                signal,
                canceled: was_canceled,
                finished_at: jiff::Timestamp::now(),
                message,
            }
        }
        Err(e) => ExitFile {
            exit_code: None,
            signal: None,
            canceled: was_canceled,
            finished_at: jiff::Timestamp::now(),
            message: format!("lost the command's exit status: {e}"),
        },
    };
    if let Err(e) = jd.write_exit(&exit) {
        eprintln!("hoist supervisor: cannot record the exit status: {e}");
        return 74;
    }
    0
}

/// SIGTERM the group now, SIGKILL whatever is left after the grace period.
fn terminate(pgid: i32, grace: Duration) {
    let _ = proc::kill_group(pgid, libc::SIGTERM);
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if !proc::group_exists(pgid) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = proc::kill_group(pgid, libc::SIGKILL);
    });
}

fn spawn(jd: &JobDir, launch: &LaunchFile) -> std::io::Result<std::process::Child> {
    let (prog, args) = launch
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(jd.log())?;
    let err = log.try_clone()?;
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0);
    for k in PRIVATE_ENV {
        cmd.env_remove(k);
    }
    if let Some(cwd) = &launch.cwd {
        cmd.current_dir(cwd);
    }
    let cpus = launch.cpus.map(|c| c.ceil().max(1.0) as usize);
    let mem = launch.memory_bytes;
    // SAFETY: the closure runs between fork and exec and only calls async-signal-safe libc
    // functions (sched_getaffinity/sched_setaffinity, setrlimit) on stack data.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(n) = cpus {
                limit_cpus(n)?;
            }
            if let Some(bytes) = mem {
                let lim = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_DATA, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Pin to the first `n` CPUs this process may use.
fn limit_cpus(n: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; the libc calls get valid pointers and sizes.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut keep: libc::cpu_set_t = std::mem::zeroed();
        let mut taken = 0;
        for cpu in 0..libc::CPU_SETSIZE as usize {
            if taken == n {
                break;
            }
            if libc::CPU_ISSET(cpu, &set) {
                libc::CPU_SET(cpu, &mut keep);
                taken += 1;
            }
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &keep) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Available CPUs, for checking `--cpus` before launch.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
