//! A job's output on the cluster: read once, or followed through one ssh session.

use crate::{SlurmPlatform, queue};
use futures::StreamExt;
use hoist_core::spec::sh_quote;
use hoist_core::{BoxLogStream, JobRecord, PlatformError};

impl SlurmPlatform {
    /// Both log files on the cluster (`tail` lines of each).
    pub(crate) async fn remote_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<String, PlatformError> {
        let Some(dir) = Self::log_dir(job) else {
            return Ok(String::new());
        };
        let files = format!("{d}/main.out {d}/main.err", d = sh_quote(&dir));
        let cmd = match tail {
            Some(n) => {
                format!("for f in {files}; do [ -f \"$f\" ] && tail -n {n} \"$f\"; done; true")
            }
            None => format!("for f in {files}; do [ -f \"$f\" ] && cat \"$f\"; done; true"),
        };
        Ok(self.run(&cmd).await?.stdout)
    }

    /// One ssh session that streams the logs until the job leaves the queue.
    pub(crate) async fn follow(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let Some(dir) = Self::log_dir(job) else {
            return Ok(futures::stream::empty().boxed());
        };
        let id = job.backend_job_id.clone().unwrap_or_default();
        let start = tail.map(|n| n.to_string()).unwrap_or_else(|| "+1".into());
        let remote = queue::follow_script(&dir, &id, &start, self.settings.follow_poll());
        // The first login host that answers (failover), then one long-lived session on it.
        let alive = self.run("true").await?;
        let target = self
            .hosts
            .targets
            .iter()
            .find(|t| t.display() == alive.host)
            .cloned()
            .ok_or_else(|| self.unreachable("no login host answered"))?;
        let mut child = self
            .hosts
            .options
            .command(&target, &remote)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| PlatformError::io("running ssh", e))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| self.unreachable("no output pipe"))?;
        let reader = tokio::io::BufReader::new(stdout);
        let stream = futures::stream::unfold((reader, child), |(mut r, child)| async move {
            use tokio::io::AsyncBufReadExt;
            let mut line = String::new();
            match r.read_line(&mut line).await {
                Ok(0) | Err(_) => None,
                Ok(_) => Some((Ok(line), (r, child))),
            }
        });
        Ok(stream.boxed())
    }
}
