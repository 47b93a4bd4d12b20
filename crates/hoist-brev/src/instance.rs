//! An instance's life as hoist sees it: found or created or started, waited on until it is
//! reachable (shell READY, then `brev refresh`, then an ssh probe), and deleted when hoist
//! created it and its jobs are done.

use crate::cli::Workspace;
use crate::{BrevOptions, BrevPlatform, BrevSettings};
use hoist_core::{InputError, PlatformError, ReportEvent};
use std::time::{Duration, Instant};

/// How a job got its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// Hoist created it for this job.
    Created,
    /// It was running.
    Reused,
    /// It was stopped and hoist started it.
    Started,
}

impl Acquired {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Acquired::Created => "created",
            Acquired::Reused => "reused",
            Acquired::Started => "started",
        }
    }
}

/// What picks the machine of an instance hoist creates: the `gpu_type` option, else the
/// `instance_type` option, else the job's GPU model (`--gpus A100:1`), else nothing (brev's
/// default search). The brev options win because they are this platform's own words.
pub(crate) fn create_with(
    settings: &BrevSettings,
    opts: &BrevOptions,
    job_gpu: Option<&str>,
) -> Option<(&'static str, String)> {
    let gpu = opts.gpu_type.clone().or(settings.gpu_type.clone());
    let itype = opts
        .instance_type
        .clone()
        .or(settings.instance_type.clone());
    match (gpu, itype) {
        (Some(g), _) => Some(("--gpu-name", g)),
        (None, Some(t)) => Some(("--type", t)),
        (None, None) => job_gpu
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| ("--gpu-name", g.to_string())),
    }
}

impl BrevPlatform {
    fn step(&self, key: &str, message: &str) {
        self.ctx.reporter.report(ReportEvent::Step { key, message });
    }

    fn phase(&self, key: &str, message: &str) {
        self.ctx
            .reporter
            .report(ReportEvent::Phase { key, message });
    }

    /// The instance `name` as brev lists it now.
    pub(crate) async fn find(&self, name: &str) -> Result<Option<Workspace>, PlatformError> {
        Ok(self.cli.list().await?.into_iter().find(|w| w.name == name))
    }

    /// Find `name` (starting it when stopped) or create it, then wait until it answers ssh.
    pub(crate) async fn acquire(
        &self,
        name: &str,
        opts: &BrevOptions,
        job_gpu: Option<&str>,
    ) -> Result<(Workspace, Acquired), PlatformError> {
        let timeout = Duration::from_secs(
            opts.ready_timeout_seconds
                .or(self.settings.ready_timeout_seconds)
                .unwrap_or(600),
        );
        let deadline = Instant::now() + timeout;
        let key = format!("brev instance {name}");
        let acquired = match self.find(name).await? {
            None => {
                self.create(name, opts, job_gpu).await?;
                Acquired::Created
            }
            Some(w) if w.status == "DELETING" => {
                return Err(InputError::new(
                    format!("Brev instance {name} is being deleted"),
                    "wait until brev ls no longer lists it, or pick another --instance",
                )
                .into());
            }
            Some(w) if matches!(w.status.as_str(), "STOPPED" | "STOPPING") => {
                if w.status == "STOPPING" {
                    self.wait_for(name, deadline, &key, |w| w.status == "STOPPED")
                        .await?;
                }
                self.phase(
                    &key,
                    &format!("brev instance {name} is stopped: starting it"),
                );
                self.cli.run(&["start", name]).await?;
                Acquired::Started
            }
            Some(_) => Acquired::Reused,
        };
        let ws = self
            .wait_for(name, deadline, &key, Workspace::ready)
            .await?;
        self.reachable(name, deadline, &key, acquired == Acquired::Reused)
            .await?;
        self.ctx.reporter.report(ReportEvent::Done { key: &key });
        Ok((ws, acquired))
    }

    async fn create(
        &self,
        name: &str,
        opts: &BrevOptions,
        job_gpu: Option<&str>,
    ) -> Result<(), PlatformError> {
        let key = format!("brev instance {name}");
        let with = create_with(&self.settings, opts, job_gpu);
        let mut args = vec!["create", name, "--detached"];
        let how = match &with {
            Some((flag, v)) => {
                args.extend([*flag, v.as_str()]);
                if *flag == "--gpu-name" {
                    format!("with a {v} GPU")
                } else {
                    format!("of type {v}")
                }
            }
            None => {
                "with brev's default search (no --gpu-type, --instance-type or --gpus MODEL:N: the cheapest type with ≥ 20 GB GPU memory)".to_string()
            }
        };
        self.phase(&key, &format!("creating brev instance {name} {how}"));
        // brev's own words decide whether the request was wrong (exit 2) or brev failed.
        match self.cli.output(&args).await {
            Ok(out) if out.code == 0 => {}
            Ok(out) => {
                let words = self.cli.redact(out.stderr.trim());
                let lower = words.to_ascii_lowercase();
                if lower.contains("no instance types match")
                    || lower.contains("not found")
                    || lower.contains("invalid")
                    || lower.contains("already exists")
                {
                    return Err(InputError::new(
                        format!("brev could not create instance {name}: {words}"),
                        "brev search lists GPU names and instance types; brev ls lists the names in use",
                    )
                    .into());
                }
                return Err(self.cli.failure(&args, &out));
            }
            Err(e) => return Err(e),
        }
        // Remembered before waiting, so an instance that fails later is still known as
        // hoist's own when the user asks to delete what hoist created.
        let marker = self.created_marker(name);
        if let Some(dir) = marker.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| PlatformError::io(format!("creating {}", dir.display()), e))?;
        }
        std::fs::write(&marker, b"")
            .map_err(|e| PlatformError::io(format!("writing {}", marker.display()), e))?;
        Ok(())
    }

    /// Poll `brev ls` until `done` holds for the instance: each state change is a phase of
    /// its own (one line in a log), FAILURE ends the wait with brev's words, and so does the
    /// deadline.
    async fn wait_for(
        &self,
        name: &str,
        deadline: Instant,
        key: &str,
        done: impl Fn(&Workspace) -> bool,
    ) -> Result<Workspace, PlatformError> {
        let mut delay = Duration::from_millis(200);
        let mut last = String::new();
        loop {
            let ws = self
                .find(name)
                .await?
                .ok_or_else(|| PlatformError::NotFound {
                    what: format!("Brev instance {name}"),
                    why: "brev ls stopped listing it while hoist waited for it".into(),
                    hint: "someone deleted it; run the job again to create a new one".into(),
                })?;
            let line = ws.state_line();
            if line != last {
                self.phase(key, &format!("brev instance {name}: {line}"));
                last = line;
            }
            if done(&ws) {
                return Ok(ws);
            }
            if ws.status == "FAILURE" || ws.build_status == "CREATE_FAILED" {
                return Err(PlatformError::failed(
                    format!("Brev instance {name} failed: {}", ws.state_line()),
                    format!(
                        "brev ls shows it; delete it (hoist instances rm {name} --platform brev) and try another --gpu-type or --instance-type"
                    ),
                ));
            }
            if Instant::now() >= deadline {
                return Err(PlatformError::failed(
                    format!(
                        "Brev instance {name} was not ready within the ready timeout: it is {}",
                        ws.state_line()
                    ),
                    "raise ready_timeout_seconds, or check the instance in the Brev console",
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(5));
        }
    }

    /// `brev refresh` (aliases exist only for instances that were running then), then
    /// `ssh NAME true` until it answers: RUNNING comes before sshd and DNS are up.
    async fn reachable(
        &self,
        name: &str,
        deadline: Instant,
        key: &str,
        reused: bool,
    ) -> Result<(), PlatformError> {
        let mut delay = Duration::from_millis(200);
        // An instance that was running already keeps the alias an earlier refresh wrote; a
        // created or restarted one may have a new address.
        let mut refreshed = reused && self.has_alias(name);
        loop {
            if !refreshed {
                self.step(
                    key,
                    &format!("brev instance {name}: writing its ssh alias (brev refresh)"),
                );
                self.cli.run(&["refresh"]).await?;
                refreshed = true;
            }
            self.step(key, &format!("brev instance {name}: waiting for ssh"));
            let (code, err) = self.probe(name).await?;
            if code == 0 {
                return Ok(());
            }
            if err.contains("Could not resolve hostname") {
                refreshed = false; // the alias is missing: refresh again
            }
            if Instant::now() >= deadline {
                return Err(PlatformError::Unreachable {
                    what: format!("Brev instance {name} over ssh"),
                    why: err.trim().to_string(),
                    hint: format!(
                        "brev refresh, then ssh -F {} {name} true shows what ssh says",
                        self.ssh_config().display()
                    ),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(5));
        }
    }

    /// Whether brev's ssh config has an entry for `name`.
    fn has_alias(&self, name: &str) -> bool {
        std::fs::read_to_string(self.ssh_config()).is_ok_and(|text| {
            text.lines().any(|l| {
                l.trim()
                    .strip_prefix("Host ")
                    .is_some_and(|h| h.trim() == name)
            })
        })
    }

    /// `ssh -F ~/.brev/ssh_config NAME true`: exit code and stderr.
    pub(crate) async fn probe(&self, name: &str) -> Result<(i32, String), PlatformError> {
        let opts = hoist_ssh::SshOptions {
            config_file: Some(self.ssh_config()),
            connect_timeout: 10,
            ..hoist_ssh::SshOptions::new(&self.ctx.home.join("ssh"))
        };
        let target = hoist_ssh::SshTarget {
            user: None,
            host: name.to_string(),
            port: None,
        };
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            opts.command(&target, "true")
                .stdin(std::process::Stdio::null())
                .output(),
        )
        .await
        .map_err(|_| PlatformError::Unreachable {
            what: format!("Brev instance {name} over ssh"),
            why: "ssh did not finish within 30 s".into(),
            hint: "check the instance in the Brev console".into(),
        })?
        .map_err(|e| PlatformError::io("running ssh", e))?;
        Ok((
            out.status.code().unwrap_or(255),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Delete instance `name` when hoist created it and no hoist job runs on it any more.
    /// Returns whether it was deleted.
    pub(crate) async fn delete_if_idle(&self, name: &str) -> Result<bool, PlatformError> {
        let marker = self.created_marker(name);
        if !marker.exists() {
            return Ok(false); // the user's instance: never deleted for them
        }
        if let Ok(jobs) = self.jobs().await
            && !jobs.running_jobs().await?.is_empty()
        {
            return Ok(false);
        }
        self.cli.run(&["delete", name]).await?;
        let _ = std::fs::remove_file(marker);
        self.phase(
            &format!("brev instance {name}"),
            &format!("deleted brev instance {name} (hoist created it and its jobs are done)"),
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jobs_gpu_model_creates_when_no_brev_option_does() {
        let none = BrevSettings::default();
        let opts = BrevOptions::default();
        let gpu = |flag: &'static str, v: &str| Some((flag, v.to_string()));
        assert_eq!(
            create_with(&none, &opts, Some("A100")),
            gpu("--gpu-name", "A100")
        );
        assert_eq!(create_with(&none, &opts, None), None);
        assert_eq!(create_with(&none, &opts, Some(" ")), None);
        let h100 = BrevOptions {
            gpu_type: Some("H100".into()),
            ..Default::default()
        };
        assert_eq!(
            create_with(&none, &h100, Some("A100")),
            gpu("--gpu-name", "H100")
        );
        let profile = BrevSettings {
            gpu_type: Some("L40S".into()),
            ..Default::default()
        };
        assert_eq!(
            create_with(&profile, &opts, Some("A100")),
            gpu("--gpu-name", "L40S")
        );
        let typed = BrevOptions {
            instance_type: Some("g5.xlarge".into()),
            ..Default::default()
        };
        assert_eq!(
            create_with(&none, &typed, Some("A100")),
            gpu("--type", "g5.xlarge")
        );
    }
}
