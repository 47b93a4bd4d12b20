//! A real-binary test harness: every test gets its own HOIST_HOME and runs the built `hoist`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Env {
    pub dir: tempfile::TempDir,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A `hoist` command with this test's store and a clean environment for stderr checks.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env("HOIST_HOME", self.home())
            .env_remove("RUST_BACKTRACE")
            .env_remove("HOIST_PROFILE")
            .env_remove("HOIST_PLATFORM")
            .env_remove("TAO_RESULTS_ROOT")
            .env_remove("HOIST_FAILPOINT")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        Out(self.cmd(args).output().expect("spawn hoist"))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hoist")
    }

    /// Submit detached; returns the job id.
    pub fn submit(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let o = self.run(&a);
        assert_eq!(o.code(), 0, "submit failed: {}", o.stderr());
        o.stdout().trim().to_string()
    }

    pub fn status_json(&self, job: &str) -> serde_json::Value {
        let o = self.run(&["status", job, "--json"]);
        assert_eq!(o.code(), 0, "status failed: {}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("status json")
    }

    pub fn status(&self, job: &str) -> String {
        self.status_json(job)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn wait_status(&self, job: &str, want: &str) {
        wait_for(&format!("job {job} to be {want}"), || {
            self.status(job) == want
        });
    }

    pub fn ls(&self) -> Vec<serde_json::Value> {
        let o = self.run(&["ls", "--json"]);
        assert_eq!(o.code(), 0, "ls failed: {}", o.stderr());
        serde_json::from_str(&o.stdout()).expect("ls json")
    }

    /// Run SQL on this test's store with the sqlite3 CLI (installed by scripts/testbed.sh).
    pub fn sql(&self, stmt: &str) {
        let ok = Command::new("sqlite3")
            .arg(self.home().join("hoist.db"))
            .arg(stmt)
            .status()
            .expect("sqlite3 is needed (scripts/testbed.sh installs it)")
            .success();
        assert!(ok, "sqlite3 failed on: {stmt}");
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.home().join("jobs").join(id)
    }
}

pub struct Out(pub Output);

impl Out {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

/// Wait for a condition. The bound only stops a hung test; it is not a performance check.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Read a pipe until what was read contains `needle`; returns everything read. EOF first is a
/// test failure.
pub fn read_until(r: &mut impl std::io::Read, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = r.read(&mut buf).expect("read");
        assert!(
            n > 0,
            "the stream ended before {needle:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Run `cmd` (a submit) with `HOIST_FAILPOINT=point`, wait until it stops there, kill -9 it.
pub fn crash_at(mut cmd: Command, point: &str) {
    let mut c = cmd
        .env("HOIST_FAILPOINT", point)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hoist");
    let mut err = c.stderr.take().expect("stderr");
    read_until(&mut err, &format!("failpoint {point}"));
    c.kill().expect("kill -9");
    let _ = c.wait();
}

pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_string));
            !matches!(state.as_deref(), Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

/// Every file under `dir`, recursively, as bytes (to prove a secret is nowhere).
pub fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}
