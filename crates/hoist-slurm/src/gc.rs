//! `hoist gc` on SLURM: an ended job's folder on the shared file system (its batch script,
//! env file and logs) is removed once its output is saved on this machine, where `logs`,
//! `why` and `show` read it afterwards.

use crate::SlurmPlatform;
use hoist_core::spec::sh_quote;
use hoist_core::{JobRecord, PlatformError};
use std::collections::HashSet;
use std::path::PathBuf;

/// The saved output of a collected job, under `$HOIST_HOME/jobs/<id>/`.
const SAVED_LOG: &str = "output.log";
/// Lines of the listing script: a job folder that exists, a job still in the queue.
const HAS: &str = "hoist:has ";
const QUEUED: &str = "hoist:queued ";

impl SlurmPlatform {
    fn saved_log(&self, job_id: &str) -> PathBuf {
        self.saved_dir.join(job_id).join(SAVED_LOG)
    }

    /// The output saved when `gc` removed the job's folder, `tail` lines of it.
    pub(crate) fn saved_logs(&self, job: &JobRecord, tail: Option<usize>) -> Option<String> {
        let text = std::fs::read_to_string(self.saved_log(&job.job_id)).ok()?;
        Some(match tail {
            Some(n) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                lines[lines.len().saturating_sub(n)..].concat()
            }
            None => text,
        })
    }

    /// Remove the folders of ended `jobs` after saving their output: one round trip finds
    /// which folders exist (and which jobs SLURM still holds in its queue: the store may lag,
    /// and those are left alone), one per job reads its logs, one removes what was saved.
    pub(crate) async fn collect_ended(
        &self,
        jobs: &[JobRecord],
        dry_run: bool,
    ) -> Vec<Result<bool, PlatformError>> {
        let dirs: Vec<Option<String>> = jobs
            .iter()
            .map(|j| Self::pinned_base(j).map(|b| Self::job_dir(&b, &j.job_id)))
            .collect();
        let listed: Vec<String> = dirs.iter().flatten().map(|d| sh_quote(d)).collect();
        if listed.is_empty() {
            return jobs.iter().map(|_| Ok(false)).collect();
        }
        let ids: Vec<&str> = jobs
            .iter()
            .filter_map(|j| j.backend_job_id.as_deref())
            .collect();
        let script = format!(
            "for d in {}; do [ -d \"$d\" ] && echo \"{HAS}$d\"; done; \
             squeue -h -u \"$(id -un)\" -o %i 2>/dev/null | awk -v ids={} \
             'BEGIN {{ n = split(ids, a, \" \"); for (i = 1; i <= n; i++) w[a[i]] = 1 }} ($1 in w) {{ print \"{QUEUED}\" $1 }}'; true",
            listed.join(" "),
            sh_quote(&ids.join(" ")),
        );
        let out = match self.run(&script).await {
            Ok(o) => o.stdout,
            Err(e) => {
                let msg = e.to_string();
                return jobs
                    .iter()
                    .map(|_| Err(PlatformError::failed(msg.clone(), "")))
                    .collect();
            }
        };
        let present: HashSet<&str> = out.lines().filter_map(|l| l.strip_prefix(HAS)).collect();
        let queued: HashSet<&str> = out.lines().filter_map(|l| l.strip_prefix(QUEUED)).collect();
        let mut answers = Vec::with_capacity(jobs.len());
        let mut saved = Vec::new();
        for (job, dir) in jobs.iter().zip(&dirs) {
            let Some(dir) = dir.as_deref().filter(|d| present.contains(d)) else {
                answers.push(Ok(false));
                continue;
            };
            if job
                .backend_job_id
                .as_deref()
                .is_some_and(|i| queued.contains(i))
            {
                answers.push(Ok(false));
                continue;
            }
            if dry_run {
                answers.push(Ok(true));
                continue;
            }
            match self.save_output(job).await {
                Ok(()) => {
                    saved.push(sh_quote(dir));
                    answers.push(Ok(true));
                }
                Err(e) => answers.push(Err(e)),
            }
        }
        if !saved.is_empty()
            && let Err(e) = self.run(&format!("rm -rf -- {}", saved.join(" "))).await
        {
            let msg = format!("the job's folder on the cluster could not be removed: {e}");
            for a in answers.iter_mut().filter(|a| matches!(a, Ok(true))) {
                *a = Err(PlatformError::failed(msg.clone(), "run hoist gc again"));
            }
        }
        answers
    }

    /// Write the job's output (both log files, as `logs` shows them) to this machine, whole
    /// or not at all: a temporary file renamed into place.
    async fn save_output(&self, job: &JobRecord) -> Result<(), PlatformError> {
        let text = self.remote_logs(job, None).await?;
        let path = self.saved_log(&job.job_id);
        let io = |e| PlatformError::io("saving the job's output before removing its folder", e);
        let dir = path.parent().unwrap_or(&self.saved_dir);
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io)?;
        }
        let tmp = dir.join(format!(".{SAVED_LOG}.tmp"));
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
