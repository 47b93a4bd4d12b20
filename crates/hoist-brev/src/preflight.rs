//! Preflight: whether jobs can run on Brev from here, checked without creating anything.

use crate::BrevPlatform;
use hoist_core::platform::PreflightRequest;
use hoist_core::{Platform, PlatformError, PreflightCheck};

impl BrevPlatform {
    /// The brev CLI and its version, the login, and when an instance is named: its state,
    /// ssh, and what the container platform checks on its daemon (Docker, the NVIDIA
    /// runtime, the GPUs a container sees).
    pub(crate) async fn preflight_checks(
        &self,
        req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        let ck = PreflightCheck::new;
        let mut checks = Vec::new();
        match self.cli.raw(&["--version"]).await {
            Ok(out) => {
                let v = out
                    .stdout
                    .lines()
                    .chain(out.stderr.lines())
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("version unknown")
                    .to_string();
                checks.push(ck(
                    "brev cli",
                    true,
                    true,
                    format!("{} ({v})", self.cli.bin().display()),
                    "",
                ));
            }
            Err(e) => {
                checks.push(ck(
                    "brev cli",
                    false,
                    true,
                    e.to_string(),
                    &e.hint().unwrap_or_default(),
                ));
                return Ok(checks);
            }
        }
        let listed = match self.cli.list().await {
            Ok(l) => {
                checks.push(ck(
                    "logged in",
                    true,
                    true,
                    format!("brev ls answers ({} instance(s))", l.len()),
                    "",
                ));
                l
            }
            Err(e) => {
                checks.push(ck(
                    "logged in",
                    false,
                    true,
                    e.to_string(),
                    &e.hint()
                        .unwrap_or_else(|| "run brev login, or set BREV_API_TOKEN".into()),
                ));
                return Ok(checks);
            }
        };
        checks.push(ck(
            "BREV_API_TOKEN",
            self.cli.has_token(),
            false,
            if self.cli.has_token() {
                "set: hoist logs in again when brev's session expires (about hourly)".into()
            } else {
                "not set: an expired brev session stops jobs until you run brev login".into()
            },
            "export BREV_API_TOKEN (from the Brev console) for unattended use",
        ));
        let Some(name) = self.settings.instance.clone() else {
            checks.push(ck(
                "instance",
                true,
                false,
                "none named: each job creates hoist-<job id> (name one with --instance to check it)".into(),
                "",
            ));
            return Ok(checks);
        };
        let Some(ws) = listed.into_iter().find(|w| w.name == name) else {
            checks.push(ck(
                "instance",
                true,
                false,
                format!("{name} does not exist: the first job creates it"),
                "",
            ));
            return Ok(checks);
        };
        let usable = ws.ready() || matches!(ws.status.as_str(), "STOPPED" | "STOPPING");
        checks.push(ck(
            "instance",
            usable,
            true,
            format!("{name} ({}): {}", ws.id, ws.state_line()),
            &format!("a FAILURE or UNHEALTHY instance runs nothing: delete it (hoist instances rm {name} --platform brev)"),
        ));
        if !ws.ready() {
            return Ok(checks);
        }
        if let Err(e) = self.cli.run(&["refresh"]).await {
            checks.push(ck(
                "ssh",
                false,
                true,
                e.to_string(),
                "run brev refresh by hand to see why",
            ));
            return Ok(checks);
        }
        let (code, err) = self.probe(&name).await?;
        checks.push(ck(
            "ssh",
            code == 0,
            true,
            if code == 0 {
                format!("ssh -F {} {name} answers", self.ssh_config().display())
            } else {
                format!("ssh exits {code}: {}", err.trim())
            },
            "a fresh instance takes a minute after READY; an UNHEALTHY one may refuse the key after a brev login (delete it)",
        ));
        if code != 0 {
            return Ok(checks);
        }
        let jobs = self.jobs_on(&name)?;
        for mut c in jobs.preflight(req).await? {
            c.name = format!("instance {}", c.name);
            checks.push(c);
        }
        Ok(checks)
    }
}
