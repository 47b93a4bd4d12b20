//! From a hoist request to the container the Docker API creates. Pure: no daemon contact, so
//! `--dry-run` shows exactly this.

use crate::labels;
use crate::options::ContainerOptions;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig};
use hoist_core::spec::{rendezvous_env, sh_quote_checked};
use hoist_core::staging::{RUNNER_DIR, RUNNER_PLAN_ENV};
use hoist_core::{Command, GpuSpec, InputError, SubmitRequest};
use hoist_docker_engine::body::{bind, gpu_request, runner_mount, runner_volume_name};
use std::collections::HashMap;

/// Appended to a results location on a remote daemon's host, which this machine cannot read.
pub const ON_DAEMON_HOST: &str = " (on the daemon's host)";

/// What submit creates.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The create request.
    pub body: ContainerCreateBody,
    /// Detail for the status message.
    pub note: String,
    /// Where results land on the daemon's host, when a writable bind targets /results.
    pub results_location: Option<String>,
}

/// Build the create request. `tegra` switches GPUs to the nvidia runtime (Jetson); `chosen`
/// are the least-used device ids measured on the daemon, if any.
pub fn plan(
    platform: &str,
    req: &SubmitRequest,
    network: &str,
    endpoint: &str,
    tegra: bool,
    chosen: Option<Vec<u32>>,
) -> Result<Plan, InputError> {
    let spec = &req.spec;
    let opts: ContainerOptions = spec.options_of(platform)?;
    if spec.nodes > 1 {
        return Err(InputError::new(
            format!(
                "--nodes {} cannot run on the {platform} platform: its jobs run on one host, under one Docker daemon",
                spec.nodes
            ),
            "multi-node jobs run on --platform slurm or --platform kubernetes (hoist platforms lists what each can do)",
        ));
    }
    let Some(image) = spec.image.clone() else {
        return Err(InputError::new(
            format!("the {platform} platform needs an image"),
            "add --image IMAGE (e.g. nvcr.io/nvidia/pytorch:24.05-py3)",
        ));
    };
    let shell = spec.shell.clone().unwrap_or_else(|| "/bin/sh".into());
    let cmd = match (&spec.command, shell.as_str()) {
        // `--shell none` runs the argv as the container's command, no shell in between.
        (Command::Argv(a), "none") => a.clone(),
        (Command::Shell(_), "none") => {
            return Err(InputError::new(
                "--shell none needs the command as separate words",
                "drop --shell none, or split the command after --",
            ));
        }
        (Command::Argv(a), _) => vec![
            shell,
            "-c".into(),
            a.iter()
                .map(|w| sh_quote_checked(w))
                .collect::<Result<Vec<_>, _>>()?
                .join(" "),
        ],
        (Command::Shell(s), _) => vec![shell, "-c".into(), s.clone()],
    };
    // With data staging the runner is the command: the static hoist from a volume filled
    // once per binary (see `runner_volume_name`), its plan in the environment. It runs the
    // user's command itself, so the image's entrypoint is bypassed as `sh -c` would be.
    let runner = match (&req.runner, &req.runner_binary) {
        (Some(p), Some(b)) => Some((
            runner_volume_name(b),
            serde_json::to_string(p).map_err(|e| {
                InputError::new(format!("cannot encode the runner plan: {e}"), "report this")
            })?,
        )),
        (Some(_), None) => {
            return Err(InputError::new(
                "this job stages data but no runner binary was given",
                "set HOIST_RUNNER_BIN to a statically linked hoist",
            ));
        }
        _ => None,
    };
    let (entrypoint, cmd) = match &runner {
        Some(_) => (
            Some(vec![format!("{RUNNER_DIR}/hoist")]),
            vec!["__run".to_string()],
        ),
        None => (None, cmd),
    };
    let mut env: Vec<(String, String)> = req
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some((_, plan)) = &runner {
        env.push((RUNNER_PLAN_ENV.into(), plan.clone()));
    }
    env.push(("TAO_JOB_ID".into(), req.job_id.clone()));
    env.push(("HOIST_JOB_ID".into(), req.job_id.clone()));
    env.push(("PYTHONNOUSERSITE".into(), "1".into()));
    env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    let mut host = HostConfig {
        // A real init as PID 1: a cancel's SIGTERM reaches the command (PID 1 ignores signals it
        // does not handle) and zombies of worker processes are reaped.
        init: Some(true),
        network_mode: Some(network.to_string()),
        memory: spec.memory_bytes.map(|m| m as i64),
        nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
        // The Mounts API, not Binds: Binds silently creates a missing source directory on the
        // daemon's host, hiding a typo; a bind mount refuses to start instead.
        mounts: Some(
            opts.mounts
                .iter()
                .map(|m| bind(&m.source, &m.target, m.read_only))
                .chain(runner.as_ref().map(|(vol, _)| runner_mount(vol, true)))
                .collect(),
        ),
        ..Default::default()
    };
    match opts.shm_size {
        Some(size) => host.shm_size = Some(size as i64),
        // Data loaders need more than Docker's 64 MiB default; a tmpfs grows with use.
        None => {
            host.tmpfs = Some(HashMap::from([(
                "/dev/shm".to_string(),
                "rw,nosuid,nodev,exec".to_string(),
            )]))
        }
    }
    let mut note = String::new();
    let gpu_count = match (&spec.gpus, &chosen) {
        (GpuSpec::None, _) => {
            env.push(("NVIDIA_VISIBLE_DEVICES".into(), "void".into()));
            0
        }
        (g, _) if tegra => {
            host.runtime = Some("nvidia".into());
            let visible = match g {
                GpuSpec::Ids(ids) => ids.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
                _ => "all".into(),
            };
            env.push(("NVIDIA_VISIBLE_DEVICES".into(), visible));
            env.push(("NVIDIA_DRIVER_CAPABILITIES".into(), "all".into()));
            note = "Jetson host: nvidia runtime".into();
            g.count().unwrap_or(1)
        }
        (g, chosen) => {
            let ids = match (g, chosen) {
                (GpuSpec::Ids(ids), _) => Some(ids.clone()),
                (_, Some(c)) => Some(c.clone()),
                _ => None,
            };
            let req = match (&ids, g) {
                (Some(ids), _) => DeviceRequest {
                    device_ids: Some(ids.iter().map(u32::to_string).collect()),
                    ..gpu_request()
                },
                (None, GpuSpec::All) => DeviceRequest {
                    count: Some(-1),
                    ..gpu_request()
                },
                (None, g) => DeviceRequest {
                    count: Some(i64::from(g.count().unwrap_or(1))),
                    ..gpu_request()
                },
            };
            host.device_requests = Some(vec![req]);
            ids.map(|i| i.len() as u32).or(g.count()).unwrap_or(1)
        }
    };
    if gpu_count > 1 || matches!(spec.gpus, GpuSpec::All) {
        // One host: torchrun's rendezvous is local.
        env.extend(rendezvous_env(1, gpu_count.max(1), "0", "localhost"));
    }
    let mut results_location = None;
    if let Some(m) = opts
        .mounts
        .iter()
        .find(|m| m.target.trim_end_matches('/') == "/results" && !m.read_only)
    {
        env.push(("TAO_RESULTS_ROOT".into(), "/results".into()));
        results_location = Some(format!("{}/{}", m.source.trim_end_matches('/'), req.job_id));
        if !endpoint.starts_with("unix://") {
            results_location = results_location.map(|p| format!("{p}{ON_DAEMON_HOST}"));
        }
    }
    let mut lbl: HashMap<String, String> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    lbl.insert(labels::JOB_ID.into(), req.job_id.clone());
    lbl.insert(labels::PLATFORM.into(), platform.into());
    lbl.insert(labels::NAME.into(), spec.name.clone());
    lbl.insert(labels::LAUNCH_TOKEN.into(), req.launch_token.clone());
    lbl.insert(labels::TAO_JOB_ID.into(), req.job_id.clone());
    let body = ContainerCreateBody {
        image: Some(image),
        entrypoint,
        cmd: Some(cmd),
        env: Some(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(lbl),
        working_dir: spec.workdir.clone(),
        user: opts.user.clone(),
        stop_timeout: opts.stop_timeout.map(i64::from),
        host_config: Some(host),
        ..Default::default()
    };
    Ok(Plan {
        body,
        note,
        results_location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::JobSpec;
    use hoist_docker_engine::body::redact_body;
    use std::collections::BTreeMap;

    fn req(gpus: GpuSpec, cmd: Command) -> SubmitRequest {
        let mut spec = JobSpec::new(cmd);
        spec.image = Some("img:1".into());
        spec.gpus = gpus;
        SubmitRequest {
            job_id: "j1".into(),
            launch_token: "t".into(),
            spec,
            env: BTreeMap::from([("HF_TOKEN".to_string(), "hf_x".to_string())]),
            runner: None,
            runner_binary: None,
        }
    }

    fn env_of(p: &Plan) -> Vec<String> {
        p.body.env.clone().unwrap_or_default()
    }

    #[test]
    fn commands_are_quoted_for_the_shell() {
        let p = plan(
            "docker",
            &req(
                GpuSpec::None,
                Command::Argv(vec!["echo".into(), "a b; rm -rf /".into(), "$(id)".into()]),
            ),
            "n",
            "unix:///s",
            false,
            None,
        )
        .expect("plan");
        assert_eq!(
            p.body.cmd,
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo 'a b; rm -rf /' '$(id)'".into()
            ])
        );
        let mut r = req(
            GpuSpec::None,
            Command::Argv(vec!["python".into(), "x.py".into()]),
        );
        r.spec.shell = Some("none".into());
        assert_eq!(
            plan("docker", &r, "n", "unix:///s", false, None)
                .expect("plan")
                .body
                .cmd,
            Some(vec!["python".into(), "x.py".into()])
        );
        let nul = req(
            GpuSpec::None,
            Command::Argv(vec!["echo".into(), "a\0b".into()]),
        );
        assert!(plan("docker", &nul, "n", "unix:///s", false, None).is_err());
    }

    #[test]
    fn gpu_requests() {
        let two = plan(
            "docker",
            &req(GpuSpec::Count(2), Command::Shell("x".into())),
            "n",
            "unix:///s",
            false,
            None,
        )
        .expect("plan");
        let dr = two
            .body
            .host_config
            .as_ref()
            .and_then(|h| h.device_requests.clone())
            .expect("requests");
        assert_eq!(
            (dr[0].count, dr[0].capabilities.clone()),
            (Some(2), Some(vec![vec!["gpu".to_string()]]))
        );
        assert!(
            env_of(&two).contains(&"NPROC_PER_NODE=2".to_string())
                && env_of(&two).contains(&"MASTER_ADDR=localhost".to_string())
        );
        let ids = plan(
            "docker",
            &req(GpuSpec::Ids(vec![0, 3]), Command::Shell("x".into())),
            "n",
            "unix:///s",
            false,
            None,
        )
        .expect("plan");
        assert_eq!(
            ids.body
                .host_config
                .and_then(|h| h.device_requests)
                .map(|d| d[0].device_ids.clone()),
            Some(Some(vec!["0".into(), "3".into()]))
        );
        let chosen = plan(
            "docker",
            &req(GpuSpec::Count(1), Command::Shell("x".into())),
            "n",
            "unix:///s",
            false,
            Some(vec![5]),
        )
        .expect("plan");
        assert_eq!(
            chosen
                .body
                .host_config
                .and_then(|h| h.device_requests)
                .map(|d| d[0].device_ids.clone()),
            Some(Some(vec!["5".into()]))
        );
        let all = plan(
            "docker",
            &req(GpuSpec::All, Command::Shell("x".into())),
            "n",
            "unix:///s",
            false,
            None,
        )
        .expect("plan");
        assert_eq!(
            all.body
                .host_config
                .and_then(|h| h.device_requests)
                .map(|d| d[0].count),
            Some(Some(-1))
        );
        let none = plan(
            "docker",
            &req(GpuSpec::None, Command::Shell("x".into())),
            "n",
            "unix:///s",
            false,
            None,
        )
        .expect("plan");
        assert!(env_of(&none).contains(&"NVIDIA_VISIBLE_DEVICES=void".to_string()));
        let jetson = plan(
            "docker",
            &req(GpuSpec::Count(1), Command::Shell("x".into())),
            "n",
            "unix:///s",
            true,
            None,
        )
        .expect("plan");
        let h = jetson.body.host_config.clone().expect("host");
        assert_eq!(
            (h.runtime.as_deref(), h.device_requests),
            (Some("nvidia"), None)
        );
        assert!(env_of(&jetson).contains(&"NVIDIA_DRIVER_CAPABILITIES=all".to_string()));
    }

    #[test]
    fn labels_results_and_redaction() {
        let mut r = req(GpuSpec::None, Command::Shell("x".into()));
        r.spec.platform_options.insert(
            "docker".into(),
            serde_json::json!({"mounts": ["/srv/out:/results"]}),
        );
        let p = plan("docker", &r, "net1", "unix:///s", false, None).expect("plan");
        let l = p.body.labels.clone().expect("labels");
        assert_eq!(
            (
                l.get(labels::JOB_ID).map(String::as_str),
                l.get(labels::PLATFORM).map(String::as_str)
            ),
            (Some("j1"), Some("docker"))
        );
        assert_eq!(p.results_location.as_deref(), Some("/srv/out/j1"));
        assert_eq!(
            plan("docker", &r, "net1", "tcp://box:2375", false, None)
                .expect("plan")
                .results_location
                .as_deref(),
            Some("/srv/out/j1 (on the daemon's host)")
        );
        assert!(env_of(&p).contains(&"TAO_RESULTS_ROOT=/results".to_string()));
        assert_eq!(
            p.body
                .host_config
                .as_ref()
                .and_then(|h| h.network_mode.clone())
                .as_deref(),
            Some("net1")
        );
        let shown = redact_body(&p.body, |_| false).to_string();
        assert!(!shown.contains("hf_x") && shown.contains("HF_TOKEN=<secret>"));
        let mut multi = r.clone();
        multi.spec.nodes = 2;
        assert!(plan("docker", &multi, "n", "unix:///s", false, None).is_err());
        let mut noimg = r;
        noimg.spec.image = None;
        assert!(plan("docker", &noimg, "n", "unix:///s", false, None).is_err());
    }
}
