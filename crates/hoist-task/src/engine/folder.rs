//! A workflow run's folder: the files TAO's ActionWorkflow keeps (`metadata.json`,
//! `status.json`, `status_events.jsonl`, `active_jobs.json`, `latest_logs.txt`,
//! `failure_analysis.json`), plus the workflow file as submitted. Whole files are written to
//! a temporary name and renamed, so a reader never sees half of one while the run goes on.

use serde_json::Value;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Lines of output `latest_logs.txt` keeps.
const LATEST_LINES: usize = 200;

/// The folder of one run.
pub struct RunFolder {
    dir: PathBuf,
    latest: std::sync::Mutex<VecDeque<String>>,
}

impl RunFolder {
    /// Create `dir` (and its parents) for a new run.
    pub fn create(dir: &Path) -> std::io::Result<RunFolder> {
        std::fs::create_dir_all(dir)?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            latest: std::sync::Mutex::new(VecDeque::new()),
        })
    }

    /// Where it is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replace `name` with `text`, atomically.
    pub fn write(&self, name: &str, text: &str) -> std::io::Result<()> {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join(name))
    }

    /// Replace `name` with `value` as pretty JSON, atomically.
    pub fn write_json(&self, name: &str, value: &Value) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        self.write(name, &format!("{text}\n"))
    }

    /// Append one event to `status_events.jsonl` (one line, written in one call).
    pub fn event(&self, value: &Value) -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("status_events.jsonl"))?;
        f.write_all(format!("{value}\n").as_bytes())
    }

    /// Keep the output's last lines, each prefixed by its job, in `latest_logs.txt`.
    pub fn output(&self, job: &str, chunk: &str) -> std::io::Result<()> {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        for line in chunk.lines() {
            if latest.len() == LATEST_LINES {
                latest.pop_front();
            }
            latest.push_back(format!("[{job}] {line}"));
        }
        let mut text = latest.iter().cloned().collect::<Vec<_>>().join("\n");
        text.push('\n');
        self.write("latest_logs.txt", &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_whole_and_logs_keep_the_tail() {
        let d = tempfile::tempdir().expect("tmp");
        let f = RunFolder::create(&d.path().join("r/1")).expect("create");
        f.write_json("status.json", &serde_json::json!({"state": "running"}))
            .expect("write");
        f.event(&serde_json::json!({"a": 1})).expect("event");
        f.event(&serde_json::json!({"a": 2})).expect("event");
        for i in 0..300 {
            f.output("t", &format!("line {i}\n")).expect("out");
        }
        let logs = std::fs::read_to_string(f.dir().join("latest_logs.txt")).expect("logs");
        assert_eq!(logs.lines().count(), LATEST_LINES);
        assert!(logs.ends_with("[t] line 299\n"));
        let events = std::fs::read_to_string(f.dir().join("status_events.jsonl")).expect("ev");
        assert_eq!(events.lines().count(), 2);
        let names: Vec<String> = std::fs::read_dir(f.dir())
            .expect("ls")
            .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }
}
