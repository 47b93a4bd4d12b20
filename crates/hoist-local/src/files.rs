//! The files of one local job, under `$HOIST_HOME/jobs/<id>/`. The supervisor and every hoist
//! process talk only through them, so each is written atomically (temp file + rename) or
//! created exclusively (the claim).

use crate::proc::ProcId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What the supervisor runs, written by submit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchFile {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// SIGTERM-to-SIGKILL grace on cancel.
    pub grace_seconds: u32,
    /// CPU cores to pin to.
    pub cpus: Option<f64>,
    /// Data-segment limit in bytes.
    pub memory_bytes: Option<u64>,
}

/// Written by the supervisor once the command runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateFile {
    /// The supervisor.
    pub supervisor: ProcId,
    /// The command's main process.
    pub child: ProcId,
    /// Its process group (the child's pid).
    pub pgid: i32,
    /// When it started.
    pub started_at: Timestamp,
}

/// Written by whoever learns how the job ended (normally the supervisor).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitFile {
    /// Exit code (128 + signal for a signal death, as shells report it).
    pub exit_code: Option<i32>,
    /// Terminating signal.
    pub signal: Option<i32>,
    /// A cancel was requested before the command ended.
    pub canceled: bool,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Detail (spawn failure, lost supervisor).
    pub message: String,
}

/// Who holds a job's launch: exactly one of these wins the exclusive create of `claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The supervisor runs the command.
    Supervisor(ProcId),
    /// Reconcile fenced the launch off: the command must never start.
    Reconcile,
    /// Canceled before the supervisor started.
    Canceled,
}

impl Claim {
    fn encode(&self) -> String {
        match self {
            Claim::Supervisor(p) => format!("supervisor {}\n", p.encode()),
            Claim::Reconcile => "reconcile\n".into(),
            Claim::Canceled => "canceled\n".into(),
        }
    }

    fn decode(s: &str) -> Option<Claim> {
        let s = s.trim();
        match s {
            "reconcile" => Some(Claim::Reconcile),
            "canceled" => Some(Claim::Canceled),
            _ => s
                .strip_prefix("supervisor ")
                .and_then(ProcId::decode)
                .map(Claim::Supervisor),
        }
    }
}

/// Paths of one job.
#[derive(Debug, Clone)]
pub struct JobDir(pub PathBuf);

impl JobDir {
    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }
    /// Combined stdout and stderr.
    pub fn log(&self) -> PathBuf {
        self.0.join("output.log")
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Try to take the launch. `Ok(None)` means this caller won; `Ok(Some(c))` that `c` had.
    pub fn claim(&self, who: &Claim) -> io::Result<Option<Claim>> {
        let path = self.file("claim");
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(who.encode().as_bytes())?;
                f.sync_all()?;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // The winner may be between create and write: give it a moment to finish
                // writing (bounded), since an empty claim still means "taken".
                for _ in 0..200 {
                    if let Some(c) = self.read_claim() {
                        return Ok(Some(c));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(io::Error::other(format!(
                    "{} exists but names no owner",
                    path.display()
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// The current claim, if any.
    pub fn read_claim(&self) -> Option<Claim> {
        std::fs::read_to_string(self.file("claim"))
            .ok()
            .and_then(|s| Claim::decode(&s))
    }

    /// Read a JSON file, `None` if absent or not yet complete.
    fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Option<T> {
        let bytes = std::fs::read(self.file(name)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write_json<T: Serialize>(&self, name: &str, v: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(v).map_err(io::Error::other)?;
        write_atomic(&self.file(name), &bytes)
    }

    /// The launch request.
    pub fn launch(&self) -> Option<LaunchFile> {
        self.read_json("launch.json")
    }
    /// Write the launch request.
    pub fn write_launch(&self, l: &LaunchFile) -> io::Result<()> {
        self.write_json("launch.json", l)
    }
    /// The running state.
    pub fn state(&self) -> Option<StateFile> {
        self.read_json("state.json")
    }
    /// Write the running state.
    pub fn write_state(&self, s: &StateFile) -> io::Result<()> {
        self.write_json("state.json", s)
    }
    /// The exit record.
    pub fn exit(&self) -> Option<ExitFile> {
        self.read_json("exit.json")
    }
    /// Write the exit record. The first writer wins (a hard link cannot replace an existing
    /// name), so a late "lost" verdict never overwrites the supervisor's real result.
    pub fn write_exit(&self, e: &ExitFile) -> io::Result<()> {
        let target = self.file("exit.json");
        if target.exists() {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(e).map_err(io::Error::other)?;
        let tmp = self.file(&format!("exit.json.tmp.{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        let linked = std::fs::hard_link(&tmp, &target);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }
    /// Mark that a cancel was asked for.
    pub fn mark_cancel(&self) -> io::Result<()> {
        write_atomic(
            &self.file("cancel"),
            jiff::Timestamp::now().to_string().as_bytes(),
        )
    }
    /// Whether a cancel was asked for.
    pub fn cancel_requested(&self) -> bool {
        self.file("cancel").exists()
    }
}

/// Write a file so that readers see the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The end of a log the failure analysis reads: at most `max_lines` lines and `max_bytes`
/// bytes, found by reading backwards, so a 100 MB log costs what a short one does. Returns
/// the text and the 1-based line number of its first line when that is known (the whole log
/// was read); a line cut by the byte bound is dropped rather than quoted in part.
pub(crate) fn read_log_tail(
    path: &Path,
    max_lines: usize,
    max_bytes: u64,
) -> io::Result<(String, Option<usize>)> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((String::new(), Some(1))),
        Err(e) => return Err(e),
    };
    let len = f.seek(SeekFrom::End(0))?;
    let floor = len.saturating_sub(max_bytes);
    let mut start = floor;
    let mut newlines = 0usize;
    let mut pos = len;
    let mut buf = vec![0u8; 64 * 1024];
    'scan: while pos > floor {
        let step = ((pos - floor) as usize).min(buf.len());
        pos -= step as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..step])?;
        for i in (0..step).rev() {
            // A final newline ends the last line rather than starting an empty one.
            if buf[i] == b'\n' && pos + (i as u64) + 1 != len {
                newlines += 1;
                if newlines == max_lines {
                    start = pos + i as u64 + 1;
                    break 'scan;
                }
            }
        }
    }
    let mut bytes = Vec::with_capacity((len - start) as usize);
    f.seek(SeekFrom::Start(start))?;
    f.take(len - start).read_to_end(&mut bytes)?;
    let cut = start > 0 && start == floor;
    if cut && let Some(nl) = bytes.iter().position(|b| *b == b'\n') {
        bytes.drain(..=nl);
    }
    let first = (start == 0).then_some(1);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), first))
}

/// Byte offset where the last `n` lines start, reading backwards in blocks so a long log is
/// never read whole.
pub(crate) fn tail_offset(f: &mut std::fs::File, n: usize) -> std::io::Result<u64> {
    let len = f.seek(SeekFrom::End(0))?;
    if n == 0 {
        return Ok(len);
    }
    let mut pos = len;
    let mut newlines = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    // A final newline ends the last line rather than starting an empty one.
    let mut skip_last = true;
    while pos > 0 {
        let step = (pos as usize).min(buf.len());
        pos -= step as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..step])?;
        for i in (0..step).rev() {
            if buf[i] == b'\n' {
                if skip_last && pos + i as u64 == len - 1 {
                    skip_last = false;
                    continue;
                }
                newlines += 1;
                if newlines == n {
                    return Ok(pos + i as u64 + 1);
                }
            }
        }
        skip_last = false;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tail_is_bounded_by_lines_and_bytes() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("output.log");
        std::fs::write(&p, "a\nb\nc\n").expect("write");
        assert_eq!(
            read_log_tail(&p, 10, 1024).expect("read"),
            ("a\nb\nc\n".to_string(), Some(1))
        );
        assert_eq!(read_log_tail(&p, 2, 1024).expect("read").0, "b\nc\n");
        let long = format!("{}\nlast line\n", "x".repeat(5000));
        std::fs::write(&p, &long).expect("write");
        assert_eq!(
            read_log_tail(&p, 10, 100).expect("read"),
            ("last line\n".to_string(), None)
        );
        assert_eq!(
            read_log_tail(&d.path().join("none"), 10, 100).expect("read"),
            (String::new(), Some(1))
        );
    }

    #[test]
    fn claim_is_exclusive() {
        let d = tempfile::tempdir().expect("tmp");
        let jd = JobDir(d.path().to_path_buf());
        let me = ProcId::current().expect("self");
        assert_eq!(jd.claim(&Claim::Supervisor(me)).ok(), Some(None));
        assert_eq!(
            jd.claim(&Claim::Reconcile).ok(),
            Some(Some(Claim::Supervisor(me)))
        );
        assert_eq!(jd.read_claim(), Some(Claim::Supervisor(me)));
    }

    #[test]
    fn exit_is_written_once() {
        let d = tempfile::tempdir().expect("tmp");
        let jd = JobDir(d.path().to_path_buf());
        let mk = |code| ExitFile {
            exit_code: Some(code),
            signal: None,
            canceled: false,
            finished_at: Timestamp::now(),
            message: String::new(),
        };
        jd.write_exit(&mk(3)).expect("write");
        jd.write_exit(&mk(0)).expect("write");
        assert_eq!(jd.exit().and_then(|e| e.exit_code), Some(3));
    }

    fn tail(content: &str, n: usize) -> String {
        let mut f = tempfile::tempfile().expect("tmp");
        f.write_all(content.as_bytes()).expect("write");
        let off = tail_offset(&mut f, n).expect("tail");
        content[off as usize..].to_string()
    }

    #[test]
    fn tails() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail("a\nb\nc\n", 0), "");
        assert_eq!(tail("", 3), "");
        let big: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(tail(&big, 2), "line 99998\nline 99999\n");
    }
}
