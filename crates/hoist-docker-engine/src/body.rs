//! Create requests that are about containers in general, not about one platform's jobs:
//! bind mounts, GPU requests, the runner's volume, fill container and build context, the
//! path-check and GPU-smoke helpers, and the redacted form `--dry-run` shows. Pure: no daemon
//! contact.

use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType};
use hoist_core::spec::is_secret_name;
use hoist_core::staging::{RUNNER_DIR, RunnerBinary};
use std::collections::HashMap;

/// The volume holding one runner binary on a daemon: `hoist-runner-<hash>`.
pub fn runner_volume_name(b: &RunnerBinary) -> String {
    format!("hoist-runner-{}", b.short_hash())
}

/// The runner's volume mounted where the runner looks for itself ([`RUNNER_DIR`]).
pub fn runner_mount(volume: &str, read_only: bool) -> Mount {
    Mount {
        typ: Some(MountType::VOLUME),
        source: Some(volume.into()),
        target: Some(RUNNER_DIR.into()),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// Where the fill container finds the binary before copying it into the volume.
const RUNNER_SRC: &str = "/.hoist-src/hoist";

/// The tar uploaded into the fill container: the binary at [`RUNNER_SRC`].
pub fn runner_src_tar(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    tar_of(&[(RUNNER_SRC.trim_start_matches('/'), binary, 0o755)])
}

/// A tar of regular files (name, contents, mode), for the archive and build APIs.
fn tar_of(files: &[(&str, &[u8], u32)]) -> std::io::Result<Vec<u8>> {
    let size: usize = files.iter().map(|(_, d, _)| d.len() + 1024).sum();
    let mut b = tar::Builder::new(Vec::with_capacity(size + 1024));
    for (name, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data)?;
    }
    b.into_inner()
}

/// A throwaway container from the job's image (already on the daemon) that copies the runner
/// into its volume with `hoist __install`: atomic (write, then rename), as root so the
/// volume's root is writable, with no network.
pub fn runner_fill_body(image: &str, volume: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.into()),
        entrypoint: Some(vec![RUNNER_SRC.into()]),
        cmd: Some(vec!["__install".into(), RUNNER_DIR.into()]),
        user: Some("0:0".into()),
        labels: Some(HashMap::from([(
            "hoist.managed".to_string(),
            "true".to_string(),
        )])),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            mounts: Some(vec![runner_mount(volume, false)]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A build context: the hoist binary and a Dockerfile.
pub fn build_context(binary: &[u8], dockerfile: &[u8]) -> std::io::Result<Vec<u8>> {
    tar_of(&[("Dockerfile", dockerfile, 0o644), ("hoist", binary, 0o755)])
}

/// A bind mount of `source` (a path on the daemon's host) at `target`.
pub fn bind(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        typ: Some(MountType::BIND),
        source: Some(source.into()),
        target: Some(target.into()),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// A request for GPUs as `docker run --gpus` sends it; set `count` or `device_ids` on it.
pub fn gpu_request() -> DeviceRequest {
    // What `docker run --gpus` sends: the default driver, the "gpu" capability.
    DeviceRequest {
        driver: Some(String::new()),
        capabilities: Some(vec![vec!["gpu".into()]]),
        ..Default::default()
    }
}

/// A container that prints GPU usage with nvidia-smi (injected by the NVIDIA runtime).
pub fn smoke_body(image: &str) -> ContainerCreateBody {
    let mut cmd = vec!["nvidia-smi".to_string()];
    cmd.extend(
        hoist_core::gpu::NVIDIA_SMI_QUERY
            .iter()
            .map(|s| s.to_string()),
    );
    ContainerCreateBody {
        image: Some(image.into()),
        entrypoint: Some(vec![]),
        cmd: Some(cmd),
        labels: Some(HashMap::from([(
            "hoist.helper".to_string(),
            "gpu-smoke".to_string(),
        )])),
        host_config: Some(HostConfig {
            device_requests: Some(vec![DeviceRequest {
                count: Some(-1),
                capabilities: Some(vec![vec!["gpu".into(), "utility".into()]]),
                ..gpu_request()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A throwaway container with `path` (on the daemon's host) mounted read-only at /hoist-check.
pub fn helper_body(image: &str, path: &str, cmd: &[&str]) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.into()),
        entrypoint: Some(vec![]),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        labels: Some(HashMap::from([(
            "hoist.helper".to_string(),
            "path-check".to_string(),
        )])),
        host_config: Some(HostConfig {
            mounts: Some(vec![bind(path, "/hoist-check", true)]),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The create request as JSON with secret values masked, for `--dry-run`: those whose names
/// look secret, and those `secret` says are.
pub fn redact_body(body: &ContainerCreateBody, secret: impl Fn(&str) -> bool) -> serde_json::Value {
    let mut b = body.clone();
    if let Some(env) = b.env.as_mut() {
        for e in env.iter_mut() {
            if let Some((k, _)) = e.split_once('=')
                && (is_secret_name(k) || secret(k))
            {
                *e = format!("{k}=<secret>");
            }
        }
    }
    serde_json::to_value(&b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &[u8]) -> Vec<(String, u32)> {
        tar::Archive::new(tar)
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").display().to_string(),
                    e.header().mode().expect("mode"),
                )
            })
            .collect()
    }

    #[test]
    fn tars_and_bodies() {
        assert_eq!(
            names(&build_context(b"bin", b"FROM scratch").expect("tar")),
            [("Dockerfile".into(), 0o644), ("hoist".into(), 0o755)]
        );
        assert_eq!(
            names(&runner_src_tar(b"bin").expect("tar")),
            [(".hoist-src/hoist".into(), 0o755)]
        );
        let fill = runner_fill_body("img", "hoist-runner-x");
        let mounts = fill.host_config.and_then(|h| h.mounts).expect("mounts");
        assert_eq!(mounts, [runner_mount("hoist-runner-x", false)]);
        let body = ContainerCreateBody {
            env: Some(vec!["HF_TOKEN=hf_x".into(), "PLAIN=1".into()]),
            ..Default::default()
        };
        let shown = redact_body(&body, |_| false).to_string();
        assert!(
            !shown.contains("hf_x")
                && shown.contains("HF_TOKEN=<secret>")
                && shown.contains("PLAIN=1"),
            "{shown}"
        );
    }
}
