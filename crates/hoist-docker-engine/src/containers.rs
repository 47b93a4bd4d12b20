//! Containers: inspecting, logs, OOM events, and short-lived helper containers (path checks,
//! GPU measuring, the runner's fill).

use crate::{Engine, body};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, LogsOptions, RemoveContainerOptions,
};
use futures::{StreamExt, TryStreamExt};
use hoist_core::PlatformError;
use std::collections::HashMap;

impl Engine {
    /// Whether the daemon recorded an OOM event for the container during its run.
    pub async fn oom_event(&self, c: &ContainerInspectResponse) -> bool {
        let (Ok(d), Some(id), Some(started)) = (
            self.client().await,
            c.id.as_deref(),
            c.state.as_ref().and_then(|s| s.started_at.as_deref()),
        ) else {
            return false;
        };
        let Ok(since) = started.parse::<jiff::Timestamp>() else {
            return false;
        };
        let filters = HashMap::from([("container", vec![id]), ("event", vec!["oom"])]);
        let opts = bollard::query_parameters::EventsOptionsBuilder::new()
            .since(&since.as_second().to_string())
            .until(&(jiff::Timestamp::now().as_second() + 1).to_string())
            .filters(&filters)
            .build();
        let read = d.events(Some(opts)).try_collect::<Vec<_>>();
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), read).await,
            Ok(Ok(events)) if !events.is_empty()
        )
    }

    /// The container `name`, or `None` when there is none.
    pub async fn inspect(
        &self,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, PlatformError> {
        match self
            .client()
            .await?
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Ok(Some(c)),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.unreachable(&e)),
        }
    }

    /// Block until the container `name` is not running (it exited, or was never started), or
    /// `max` passes: the daemon answers the wait request when the container stops, so the
    /// caller hears of the exit as it happens, whichever transport reaches the daemon.
    /// `Ok(true)`: the container stopped or is gone; `Ok(false)`: `max` passed first.
    pub async fn wait_stopped(
        &self,
        name: &str,
        max: std::time::Duration,
    ) -> Result<bool, PlatformError> {
        let opts = bollard::query_parameters::WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut answer = self.client().await?.wait_container(name, Some(opts));
        match tokio::time::timeout(max, answer.next()).await {
            Err(_) => Ok(false),
            // bollard turns a non-zero exit code into this error: the container stopped.
            Ok(None | Some(Ok(_)) | Some(Err(DockerError::DockerContainerWaitError { .. }))) => {
                Ok(true)
            }
            Ok(Some(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }))) => Ok(true),
            Ok(Some(Err(e))) => Err(self.unreachable(&e)),
        }
    }

    /// The least-used GPUs of the daemon's host, measured by a short-lived container running
    /// nvidia-smi on that daemon (never this machine's nvidia-smi). `None` when it cannot be
    /// measured; the job then asks for a count and the daemon picks.
    pub async fn measure_gpus(&self, image: &str) -> Option<Vec<hoist_core::gpu::GpuUsage>> {
        let (code, out) = self
            .run_throwaway("hoist-gpu-smoke", body::smoke_body(image), None)
            .await
            .ok()?;
        if code != 0 {
            return None;
        }
        hoist_core::gpu::parse_nvidia_smi(&out)
            .ok()
            .filter(|g| !g.is_empty())
    }

    /// The container's stdout and stderr, all of it or the last `tail` lines.
    pub async fn container_logs(
        &self,
        name: &str,
        tail: Option<usize>,
    ) -> Result<Vec<u8>, PlatformError> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into()),
            ..Default::default()
        };
        let mut s = self.client().await?.logs(name, Some(opts));
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            out.extend_from_slice(&item.map_err(|e| self.unreachable(&e))?.into_bytes());
        }
        Ok(out)
    }

    /// Run `cmd` in a throwaway container with `path` bind-mounted read-only at /hoist-check.
    pub async fn run_helper(
        &self,
        image: &str,
        path: &str,
        cmd: &[&str],
    ) -> Result<(i64, String), PlatformError> {
        match self
            .run_throwaway("hoist-check", body::helper_body(image, path, cmd), None)
            .await
        {
            Ok(r) => Ok(r),
            // The daemon checks a bind source when the container is created.
            Err(DockerError::DockerResponseServerError { message, .. })
                if message.contains("does not exist") =>
            {
                Ok((1, String::new()))
            }
            Err(e) => Err(PlatformError::Failed {
                message: format!("cannot create the path-check container from {image}: {e}"),
                hint: "use an image present on the daemon".into(),
            }),
        }
    }

    /// Create, start and wait for a short-lived container, collect its stdout and remove it.
    /// The exit code is -1 when the container could not start; a create error is returned.
    pub async fn run_throwaway(
        &self,
        prefix: &str,
        body: bollard::models::ContainerCreateBody,
        upload: Option<Vec<u8>>,
    ) -> Result<(i64, String), DockerError> {
        let d = match self.client().await {
            Ok(d) => d,
            Err(e) => {
                return Err(DockerError::DockerStreamError {
                    error: e.to_string(),
                });
            }
        };
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_microsecond()
        );
        d.create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            body,
        )
        .await?;
        if let Some(tar) = upload
            && let Err(e) = d
                .upload_to_container(
                    &name,
                    Some(
                        bollard::query_parameters::UploadToContainerOptionsBuilder::default()
                            .path("/")
                            .build(),
                    ),
                    bollard::body_full(tar.into()),
                )
                .await
        {
            let _ = force_remove(d, &name).await;
            return Err(e);
        }
        let code = match d.start_container(&name, None).await {
            Err(_) => -1,
            // bollard reports a non-zero exit as an error carrying the code.
            Ok(()) => match d.wait_container(&name, None).try_collect::<Vec<_>>().await {
                Ok(v) => v.last().map(|w| w.status_code).unwrap_or(0),
                Err(DockerError::DockerContainerWaitError { code, .. }) => code,
                Err(_) => -1,
            },
        };
        let mut out = String::new();
        if code != -1 {
            let mut logs = d.logs(
                &name,
                Some(LogsOptions {
                    stdout: true,
                    tail: "all".into(),
                    ..Default::default()
                }),
            );
            while let Some(Ok(c)) = logs.next().await {
                out.push_str(&String::from_utf8_lossy(&c.into_bytes()));
            }
        }
        let _ = force_remove(d, &name).await;
        Ok((code, out))
    }

    /// Remove the container `name` whatever its state; one that is already gone is not an
    /// error.
    pub async fn remove_container(&self, name: &str) -> Result<(), PlatformError> {
        force_remove(self.client().await?, name)
            .await
            .map_err(|e| self.unreachable(&e))
    }
}

/// Remove a container whatever its state; one that is already gone is not an error.
pub async fn force_remove(d: &Docker, name: &str) -> Result<(), DockerError> {
    match d
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
    {
        Err(DockerError::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        r => r,
    }
}
