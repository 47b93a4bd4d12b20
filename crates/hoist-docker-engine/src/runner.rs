//! The runner: the static hoist binary jobs run data staging with, delivered in a volume
//! (filled once per binary and daemon) or as an image.

use crate::{Engine, body};
use futures::StreamExt;
use hoist_core::PlatformError;
use std::collections::HashMap;

impl Engine {
    /// Build an image holding only the static hoist binary (`FROM scratch`, entrypoint
    /// `/hoist`), for platforms that fetch the runner as an image: a Kubernetes init container
    /// runs `/hoist __install /opt/hoist` to copy it into a volume the job container shares.
    /// Returns the image id.
    pub async fn build_runner_image(
        &self,
        tag: &str,
        binary: &[u8],
    ) -> Result<String, PlatformError> {
        let d = self.client().await?;
        let dockerfile = b"FROM scratch\nCOPY hoist /hoist\nENTRYPOINT [\"/hoist\"]\n";
        let context = body::build_context(binary, dockerfile)
            .map_err(|e| PlatformError::io("packing the build context", e))?;
        let opts = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .build();
        let mut stream = d.build_image(opts, None, Some(bollard::body_full(context.into())));
        let mut id = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| PlatformError::Failed {
                message: format!("building {tag} failed: {e}"),
                hint: self.check_daemon_hint(),
            })?;
            if let Some(err) = info.error_detail.and_then(|e| e.message) {
                return Err(PlatformError::Failed {
                    message: format!("building {tag} failed: {err}"),
                    hint: "check the daemon's disk space and logs".into(),
                });
            }
            if let Some(a) = info.aux.and_then(|a| a.id) {
                id = Some(a);
            }
        }
        match id {
            Some(id) => Ok(id),
            None => d
                .inspect_image(tag)
                .await
                .ok()
                .and_then(|i| i.id)
                .ok_or_else(|| PlatformError::Failed {
                    message: format!("the daemon built nothing for {tag}"),
                    hint: "check the daemon's logs".into(),
                }),
        }
    }

    /// The volume holding this runner binary on this daemon, filled on first use. A marker
    /// under `$HOIST_HOME/docker-runner/` (daemon id + hash) saves later submits from this
    /// machine everything but one inspect; another machine fills it again, harmlessly, since
    /// `hoist __install` replaces the file atomically.
    pub async fn runner_volume(
        &self,
        daemon_id: &str,
        image: &str,
        bin: &hoist_core::staging::RunnerBinary,
    ) -> Result<String, PlatformError> {
        let d = self.client().await?;
        let volume = body::runner_volume_name(bin);
        let marker = self.home.join("docker-runner").join(format!(
            "{}-{}",
            daemon_id.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            bin.short_hash()
        ));
        if marker.exists() && d.inspect_volume(&volume).await.is_ok() {
            return Ok(volume);
        }
        let binary = tokio::fs::read(&bin.path).await.map_err(|e| {
            PlatformError::io(format!("reading the runner {}", bin.path.display()), e)
        })?;
        d.create_volume(bollard::models::VolumeCreateRequest {
            name: Some(volume.clone()),
            labels: Some(HashMap::from([
                ("hoist.managed".to_string(), "true".to_string()),
                ("hoist.runner.sha256".to_string(), bin.sha256.clone()),
            ])),
            ..Default::default()
        })
        .await
        .map_err(|e| self.unreachable(&e))?;
        let tar = body::runner_src_tar(&binary)
            .map_err(|e| PlatformError::io("packing the runner", e))?;
        let (code, out) = self
            .run_throwaway(
                "hoist-runner-fill",
                body::runner_fill_body(image, &volume),
                Some(tar),
            )
            .await
            .map_err(|e| PlatformError::Failed {
                message: format!("could not fill the runner volume {volume}: {e}"),
                hint: self.check_daemon_hint(),
            })?;
        if code != 0 {
            return Err(PlatformError::Failed {
                message: format!(
                    "could not fill the runner volume {volume} (exit {code}): {}",
                    out.trim()
                ),
                hint: "the job's image must let a root process write to a volume".into(),
            });
        }
        if let Some(dir) = marker.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&marker, &bin.sha256);
        Ok(volume)
    }
}
