//! Handing a workflow run to a detached driver: the run folder is written before anything
//! runs (`run.json`, `workflow.yaml`), then `hoist __workflow RUN_DIR` starts in a session of
//! its own and takes the run's lock. The CLI's `launch -d` and Python's `launch()` both come
//! through here, so a run outlives the shell or interpreter that started it either way.

use crate::runspec::{DRIVER_LOCK, DRIVER_LOG, RunSpec};
use hoist::sys::lock::FileLock;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Why a detached driver did not take over its run.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The binary could not be started (or its log not opened).
    #[error("cannot start the workflow driver {exe}: {source}")]
    Start {
        /// The binary.
        exe: String,
        /// Why.
        source: std::io::Error,
    },
    /// It exited before taking the lock (its last log lines say why).
    #[error("the workflow driver stopped before it began ({status}): {tail}")]
    Stopped {
        /// Its exit status.
        status: String,
        /// The last lines of `driver.log`.
        tail: String,
    },
    /// It is alive but never took the lock.
    #[error("the workflow driver did not take the run's lock within 60 s; see {log}")]
    Slow {
        /// `driver.log`.
        log: String,
    },
}

/// The folder of a new run: `given` (made absolute), else
/// `HOME/runs/NAME/<UTC timestamp>`. Absolute, so the driver, `hoist runs` and a printed path
/// never depend on a working directory.
pub fn new_run_dir(home: &Path, name: &str, given: Option<PathBuf>) -> std::io::Result<PathBuf> {
    std::path::absolute(given.unwrap_or_else(|| {
        let stamp = hoist::core::now().strftime("%Y%m%dT%H%M%S%.3fZ");
        home.join("runs").join(name).join(stamp.to_string())
    }))
}

/// Write what a driver (and a later resume) reads: the run's spec and the workflow file.
pub fn write_run(run_dir: &Path, spec: &RunSpec, source: &str) -> std::io::Result<()> {
    spec.save(run_dir)?;
    std::fs::write(run_dir.join("workflow.yaml"), source)
}

/// Start `EXE --home HOME __workflow RUN_DIR` in its own session, its stderr appended to the
/// run's `driver.log`, and return its pid once it holds the run's lock and the folder reads as
/// a run. `handed` reaches the driver through its environment only (secret values: never an
/// argument or a file).
pub fn spawn(
    exe: &Path,
    home: &Path,
    run_dir: &Path,
    handed: &[(String, String)],
) -> Result<i32, DriverError> {
    let log_path = run_dir.join(DRIVER_LOG);
    let start = |source| DriverError::Start {
        exe: exe.display().to_string(),
        source,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(start)?;
    let mut cmd = Command::new(exe);
    cmd.arg("--home")
        .arg(home)
        .arg("__workflow")
        .arg(run_dir)
        .envs(handed.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    hoist::sys::proc::in_new_session(&mut cmd);
    let mut child = cmd.spawn().map_err(start)?;
    let lock = run_dir.join(DRIVER_LOCK);
    let runs = home.join("runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(p) = FileLock::holder(&lock).filter(|p| p.pid == child.id() as i32)
            && crate::runs::read(&runs, run_dir).is_some()
        {
            return Ok(p.pid);
        }
        if let Some(st) = child.try_wait().map_err(start)? {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let mut tail: Vec<&str> = text.lines().rev().take(5).collect();
            tail.reverse();
            return Err(DriverError::Stopped {
                status: st.to_string(),
                tail: tail.join(" | "),
            });
        }
        if Instant::now() > deadline {
            return Err(DriverError::Slow {
                log: log_path.display().to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
