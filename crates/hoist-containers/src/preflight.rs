//! Preflight: whether this daemon can run the job, checked without running it.

use crate::ContainerJobs;
use hoist_core::platform::PreflightRequest;
use hoist_core::{EnvSource, InputError, Platform, PlatformError, PreflightCheck};

impl ContainerJobs {
    /// What `hoist preflight` checks of a container platform: the daemon, its nvidia runtime and
    /// GPUs, the network, the image and the job's paths, as seen from the daemon's host.
    pub(crate) async fn preflight_checks(
        &self,
        req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        let mut checks = Vec::new();
        let ck = PreflightCheck::new;
        let info = match self.engine.daemon().await {
            Ok(i) => i.clone(),
            Err(e) => {
                checks.push(ck(
                    "daemon",
                    false,
                    true,
                    e.to_string(),
                    &format!(
                        "start dockerd, or point hoist at a running daemon ({})",
                        self.engine.hints().endpoint
                    ),
                ));
                return Ok(checks);
            }
        };
        checks.push(ck(
            "daemon",
            true,
            true,
            format!(
                "{} (Docker {}, from {})",
                self.engine.endpoint().url,
                info.version,
                self.engine.endpoint().source
            ),
            "",
        ));
        let nvidia = info.runtimes.iter().any(|r| r == "nvidia") || info.tegra;
        checks.push(ck(
            "nvidia runtime",
            nvidia,
            false,
            if nvidia { "registered".into() } else { format!("not registered (runtimes: {})", info.runtimes.join(", ")) },
            "GPU jobs need it: install nvidia-container-toolkit on the daemon's host, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd",
        ));
        let smoke = req.gpu_smoke_image.clone().or_else(|| req.image.clone());
        match smoke {
            Some(img) if nvidia => match self.engine.measure_gpus(&img).await {
                Some(g) => checks.push(ck("gpus", true, false, format!("{} GPU(s) seen by a container on the daemon", g.len()), "")),
                None => checks.push(ck("gpus", false, false, format!("nvidia-smi in {img} found no GPU"), "check the driver on the daemon's host (nvidia-smi) and that the image is pullable")),
            },
            Some(_) => {}
            None => checks.push(ck("gpus", nvidia, false, "not measured: give --gpu-smoke-image IMG (or --image) to run nvidia-smi in a container".into(), "pass --gpu-smoke-image")),
        }
        match self.engine.ensure_network(&self.network).await {
            Ok(_) => checks.push(ck(
                "network",
                true,
                true,
                format!("{} present", self.network),
                "",
            )),
            Err(e) => checks.push(ck(
                "network",
                false,
                true,
                e.to_string(),
                &format!(
                    "create it (docker network create NAME), or {}",
                    self.engine.hints().network
                ),
            )),
        }
        if let Some(img) = &req.image {
            let present = match self.engine.client().await {
                Ok(d) => d.inspect_image(img).await.is_ok(),
                Err(_) => false,
            };
            checks.push(ck("image", present, false, if present { format!("{img} present on the daemon") } else { format!("{img} not on the daemon yet; it will be pulled") }, "pulling needs registry access from the daemon's host and credentials for private registries"));
        }
        for (name, path) in &req.paths {
            if path.starts_with("s3://") {
                let env = self.engine.env();
                let ok = (env.get("ACCESS_KEY").is_some() && env.get("SECRET_KEY").is_some())
                    || (env.get("AWS_ACCESS_KEY_ID").is_some()
                        && env.get("AWS_SECRET_ACCESS_KEY").is_some());
                checks.push(ck(&format!("path {name}"), ok, true, format!("{path}: S3 credentials {}", if ok { "present" } else { "missing" }), "export ACCESS_KEY and SECRET_KEY (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"));
                continue;
            }
            let helper = req.image.clone().or_else(|| self.helper_image.clone());
            let res = if self.engine.endpoint().url.starts_with("unix://") {
                self.check_path(path).await
            } else if let Some(img) = helper {
                self.engine
                    .run_helper(&img, path, &["test", "-e", "/hoist-check"])
                    .await
                    .map(|(c, _)| c == 0)
            } else {
                Err(PlatformError::Input(InputError::new(
                    "no image to check paths on the remote host",
                    "pass --image",
                )))
            };
            match res {
                Ok(ok) => checks.push(ck(&format!("path {name}"), ok, true, format!("{path} {} on the daemon's host", if ok { "exists" } else { "does not exist" }), "create it on the host that runs the daemon (for a remote daemon, not this machine)")),
                Err(e) => checks.push(ck(&format!("path {name}"), false, true, e.to_string(), "pass --image so hoist can check paths on the remote host")),
            }
        }
        Ok(checks)
    }
}
