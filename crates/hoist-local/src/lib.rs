//! The local platform: each job is a host process under a detached supervisor
//! ([`supervisor::supervise`]), its output in `$HOIST_HOME/jobs/<id>/output.log` and its exit
//! code in `exit.json`. Status, logs and cancel read and signal through those files, so any
//! later hoist process can re-attach.
#![deny(missing_docs)]

pub mod files;
pub mod settings;
pub mod supervisor;

mod platform;
mod status;

pub use hoist_sys::proc;
pub use settings::{Descriptor, LocalOptions, LocalSettings};

use files::{JobDir, LaunchFile};
use hoist_core::gpu::{NVIDIA_SMI_QUERY, choose_gpus, parse_nvidia_smi};
use hoist_core::{Command, InputError, PlatformError, SubmitRequest};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Host processes on this machine.
#[derive(Debug, Clone)]
pub struct LocalPlatform {
    home: PathBuf,
    supervisor_exe: PathBuf,
    nvidia_smi: String,
    pub(crate) results_root: PathBuf,
}

impl LocalPlatform {
    /// A platform keeping job files under `home/jobs`, starting supervisors with
    /// `supervisor_exe __supervise DIR` (the hoist binary; tests may pass another build).
    pub fn new(home: &Path, supervisor_exe: PathBuf) -> Self {
        let results_root = home.join("results");
        LocalPlatform {
            home: home.to_path_buf(),
            supervisor_exe,
            nvidia_smi: "nvidia-smi".into(),
            results_root,
        }
    }

    /// Use another `nvidia-smi` (a path or a name on PATH).
    pub fn with_nvidia_smi(mut self, program: impl Into<String>) -> Self {
        self.nvidia_smi = program.into();
        self
    }

    fn job_dir(&self, job_id: &str) -> JobDir {
        JobDir(self.home.join("jobs").join(job_id))
    }

    fn results_dir(&self, job_id: &str) -> PathBuf {
        self.results_root.join(job_id)
    }

    /// Resolve the request into what the supervisor runs, plus the env it adds.
    async fn plan(
        &self,
        req: &SubmitRequest,
    ) -> Result<(LaunchFile, BTreeMap<String, String>, String), PlatformError> {
        let spec = &req.spec;
        if spec.nodes > 1 {
            return Err(InputError::new(
                format!(
                    "--nodes {} cannot run on the local platform: it runs on this one host",
                    spec.nodes
                ),
                "use --platform slurm or --platform kubernetes for multi-node jobs",
            )
            .into());
        }
        if let Some(img) = &spec.image {
            return Err(InputError::new(
                format!("--image {img} was given, but the local platform runs host processes, not containers"),
                "add --platform docker to run the image, or drop --image",
            )
            .into());
        }
        if let Some(c) = spec.cpus {
            let have = supervisor::available_cpus();
            if c.ceil() as usize > have {
                return Err(InputError::new(
                    format!("--cpus {c} asks for more CPUs than this host has ({have})"),
                    format!("use --cpus {have} or fewer"),
                )
                .into());
            }
        }
        let mut env = req.env.clone();
        let mut note = String::new();
        if spec.gpus.wants_gpu() {
            let usage = self.gpu_usage().await?;
            let ids = choose_gpus(&spec.gpus, &usage)?;
            let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            note = format!("GPUs {list}");
            env.insert("CUDA_VISIBLE_DEVICES".into(), list.clone());
            env.insert("NVIDIA_VISIBLE_DEVICES".into(), list);
        }
        let results = self.results_dir(&req.job_id);
        env.insert("TAO_JOB_ID".into(), req.job_id.clone());
        env.insert("HOIST_JOB_ID".into(), req.job_id.clone());
        env.insert(
            "TAO_RESULTS_ROOT".into(),
            self.results_root.display().to_string(),
        );
        env.insert("HOIST_RESULTS_DIR".into(), results.display().to_string());
        let mut argv = match &spec.command {
            Command::Argv(a) => a.clone(),
            Command::Shell(s) => vec![
                spec.shell.clone().unwrap_or_else(|| "/bin/sh".into()),
                "-c".into(),
                s.clone(),
            ],
        };
        if req.runner.is_some() {
            // The runner (this same binary) fetches, writes the spec, then runs the command.
            argv = vec![
                self.supervisor_exe.display().to_string(),
                "__run".into(),
                "--plan".into(),
                self.job_dir(&req.job_id)
                    .path()
                    .join("plan.json")
                    .display()
                    .to_string(),
            ];
        }
        let launch = LaunchFile {
            argv,
            cwd: spec.workdir.clone(),
            grace_seconds: spec.options_of::<LocalOptions>("local")?.grace_seconds,
            cpus: spec.cpus,
            memory_bytes: spec.memory_bytes,
        };
        Ok((launch, env, note))
    }

    async fn gpu_usage(&self) -> Result<Vec<hoist_core::gpu::GpuUsage>, PlatformError> {
        let out = tokio::process::Command::new(&self.nvidia_smi)
            .args(NVIDIA_SMI_QUERY)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    PlatformError::Input(InputError::new(
                        format!(
                            "GPUs were asked for, but {} was not found on this host",
                            self.nvidia_smi
                        ),
                        "install the NVIDIA driver (it ships nvidia-smi), or run with --gpus 0",
                    ))
                } else {
                    PlatformError::io(format!("running {}", self.nvidia_smi), e)
                }
            })?;
        if !out.status.success() {
            return Err(PlatformError::Failed {
                message: format!(
                    "{} failed: {}",
                    self.nvidia_smi,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                hint: "check the NVIDIA driver on this host (nvidia-smi must list the GPUs)".into(),
            });
        }
        parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)).map_err(|m| PlatformError::Failed {
            message: m,
            hint: "check the NVIDIA driver on this host".into(),
        })
    }
}
