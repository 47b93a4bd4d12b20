//! `hoist preflight` on SLURM: ssh to every login host, the SLURM tools, the partition's
//! limits, container runtimes, GPU gres, the account and the base directory.

use crate::{SlurmPlatform, script};
use hoist_core::platform::PreflightRequest;
use hoist_core::spec::sh_quote;
use hoist_core::{Platform, PreflightCheck};
use hoist_ssh::{Failover, Hosts, SshTarget};

impl SlurmPlatform {
    /// Every check, in the order they are shown; a failed ssh check ends the list.
    pub(crate) async fn preflight_checks(&self, req: &PreflightRequest) -> Vec<PreflightCheck> {
        let ck = PreflightCheck::new;
        let mut checks = Vec::new();
        let who = self
            .hosts
            .targets
            .iter()
            .map(SshTarget::display)
            .collect::<Vec<_>>()
            .join(", ");
        // Asked of the cluster now, never answered from what an earlier command remembered.
        let cluster = match self.probe_cluster().await {
            Ok(c) => c.name,
            Err(e) => {
                let hint = e.hint().unwrap_or_default();
                checks.push(ck("ssh", false, true, e.to_string(), &hint));
                return checks;
            }
        };
        checks.push(ck(
            "ssh",
            true,
            true,
            format!("{who}: cluster {cluster}"),
            "",
        ));
        if self.hosts.targets.len() > 1 {
            // Each login host on its own: failover only helps if the others work too.
            for t in &self.hosts.targets {
                let one = Hosts {
                    targets: vec![t.clone()],
                    options: self.hosts.options.clone(),
                };
                let ok = one
                    .run("true", None, Failover::Always)
                    .await
                    .map(|o| o.code == 0)
                    .unwrap_or(false);
                checks.push(ck(&format!("login {}", t.display()), ok, false, if ok { "reachable".into() } else { "unreachable with BatchMode ssh".into() }, "check the key (SSH_KEY_PATH or the agent), authorized_keys on that host, and its entry in known_hosts"));
            }
        }
        let tools = self.run("for c in sbatch squeue scancel sacct scontrol; do command -v $c >/dev/null || echo $c; done").await;
        match tools {
            Ok(o) if o.stdout.trim().is_empty() => checks.push(ck("slurm tools", true, true, "sbatch, squeue, scancel, sacct, scontrol".into(), "")),
            Ok(o) => checks.push(ck("slurm tools", false, true, format!("missing on the login host: {}", o.stdout.split_whitespace().collect::<Vec<_>>().join(", ")), "make them available to non-interactive ssh sessions (PATH in ~/.bashrc before the interactive guard)")),
            Err(e) => checks.push(ck("slurm tools", false, true, e.to_string(), "")),
        }
        let s = self.settings.script(self.account().await);
        match self.check_request(&s, 0).await {
            Ok(()) => checks.push(ck(
                "partition",
                true,
                true,
                format!(
                    "{} fits {} of wall time",
                    s.partition
                        .clone()
                        .unwrap_or_else(|| "default partition".into()),
                    script::slurm_time(s.time_hours)
                ),
                "",
            )),
            Err(e) => checks.push(ck(
                "partition",
                false,
                true,
                e.to_string(),
                &e.hint().unwrap_or_default(),
            )),
        }
        let runtimes = self.run("command -v ch-run >/dev/null && echo charliecloud; command -v enroot >/dev/null && echo enroot; srun --help 2>/dev/null | grep -q container-image && echo pyxis; true").await;
        match runtimes {
            Ok(o) => {
                let have: Vec<&str> = o.stdout.split_whitespace().collect();
                checks.push(ck("containers", !have.is_empty(), false, if have.is_empty() { "no container runtime (pyxis, enroot, charliecloud) on the login host".into() } else { have.join(", ") }, "--image jobs need pyxis (srun --container-image), enroot or charliecloud (ch-run); --container none runs on the bare nodes"));
            }
            Err(e) => checks.push(ck("containers", false, false, e.to_string(), "")),
        }
        match self.run("sinfo -h -o '%G'").await {
            Ok(o) => {
                let gres: Vec<&str> = o
                    .stdout
                    .lines()
                    .map(str::trim)
                    .filter(|l| l.contains("gpu"))
                    .collect();
                checks.push(ck(
                    "gpu gres",
                    !gres.is_empty(),
                    false,
                    if gres.is_empty() {
                        "no node advertises gres/gpu".into()
                    } else {
                        gres.join(", ")
                    },
                    "GPU jobs need nodes with Gres=gpu:N (and gres.conf); CPU jobs run without",
                ));
            }
            Err(e) => checks.push(ck("gpu gres", false, false, e.to_string(), "")),
        }
        checks.push(ck(
            "account",
            s.account.is_some(),
            false,
            s.account
                .clone()
                .unwrap_or_else(|| "none (the cluster's default applies)".into()),
            "set SLURM_ACCOUNT if your site requires one",
        ));
        match self.base_dir().await {
            Ok(base) => {
                let ok = self
                    .run(&format!("mkdir -p {b} && test -w {b}", b = sh_quote(&base)))
                    .await
                    .map(|o| o.code == 0)
                    .unwrap_or(false);
                checks.push(ck(
                    "base dir",
                    ok,
                    true,
                    base,
                    "set SLURM_BASE_RESULTS_DIR to a writable directory on the shared filesystem",
                ));
            }
            Err(e) => checks.push(ck("base dir", false, true, e.to_string(), "")),
        }
        for (name, path) in &req.paths {
            let (ok, detail) = match self.check_path(path).await {
                Ok(ok) => (
                    ok,
                    format!(
                        "{path} {} on the cluster",
                        if ok { "exists" } else { "does not exist" }
                    ),
                ),
                Err(e) => (false, e.to_string()),
            };
            checks.push(ck(
                &format!("path {name}"),
                ok,
                true,
                detail,
                "stage the data onto the cluster's shared filesystem, or fix the path",
            ));
        }
        checks
    }
}
