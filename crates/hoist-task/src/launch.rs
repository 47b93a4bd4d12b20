//! From a loaded SkyPilot task to a hoist [`JobRequest`]: where it runs, the GPUs it asks
//! for, its envs and secrets, and one shell script that runs `setup` then `run` the way
//! SkyPilot does (bash when the image has it, in the workdir, with the `SKYPILOT_*` variables
//! and hoist's rendezvous env), so a task YAML runs unchanged.

use crate::schema::{FileMount, ImageId, StorageMode, Task, Workdir};
use hoist::core::spec::{DataBinding, sh_quote};
use hoist::core::{Command, GpuSpec, InputError, PathView, Upload};
use hoist::{Hoist, JobRequest};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the command line adds to a task (flags as `sky launch` spells them).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LaunchOptions {
    /// `--platform`: wins over the task's `infra`/`cloud`.
    pub platform: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--gpus`: wins over `resources.accelerators`.
    pub gpus: Option<String>,
    /// `--image-id`: wins over `resources.image_id`.
    pub image_id: Option<String>,
    /// `--num-nodes`.
    pub num_nodes: Option<u32>,
    /// `--name`.
    pub name: Option<String>,
}

/// A task made ready to submit.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The request.
    pub request: JobRequest,
    /// The platform it will run on (`None`: the library's default for the request).
    pub platform: Option<String>,
    /// Things the task asked for that hoist leaves aside, said once each.
    pub warnings: Vec<String>,
    /// The normalized task, as `--dry-run --json` prints it (secret values masked).
    pub normalized: Value,
    /// `SKYPILOT_DOCKER_USERNAME/PASSWORD/SERVER`: the image's registry login, for the library
    /// to pull with (a `$(cmd)` password is run on this machine there). Never in the job.
    pub registry: BTreeMap<String, String>,
}

/// The three variables of a private registry's login.
pub const REGISTRY_VARS: [&str; 3] = [
    "SKYPILOT_DOCKER_USERNAME",
    "SKYPILOT_DOCKER_PASSWORD",
    "SKYPILOT_DOCKER_SERVER",
];

/// The registry login from envs or secrets: all three in one of them, as SkyPilot requires.
fn registry(task: &Task) -> Result<BTreeMap<String, String>, InputError> {
    let in_envs: Vec<&str> = REGISTRY_VARS
        .iter()
        .copied()
        .filter(|k| task.envs.contains_key(*k))
        .collect();
    let in_secrets: Vec<&str> = REGISTRY_VARS
        .iter()
        .copied()
        .filter(|k| task.secrets.contains_key(*k))
        .collect();
    if in_envs.is_empty() && in_secrets.is_empty() {
        return Ok(BTreeMap::new());
    }
    if !in_envs.is_empty() && !in_secrets.is_empty() {
        return Err(InputError::new(
            "Docker login variables must be specified together either in envs OR secrets, not split across both.",
            "move SKYPILOT_DOCKER_USERNAME, SKYPILOT_DOCKER_PASSWORD and SKYPILOT_DOCKER_SERVER into one of them",
        ));
    }
    let (place, from) = if in_envs.is_empty() {
        ("secrets", &task.secrets)
    } else {
        ("envs", &task.envs)
    };
    let missing: Vec<String> = REGISTRY_VARS
        .iter()
        .filter(|k| !from.contains_key(**k))
        .map(|k| format!("'{k}'"))
        .collect();
    if !missing.is_empty() {
        return Err(InputError::new(
            format!(
                "Docker login variables must be specified together in {place}. Missing from {place}: [{}]",
                missing.join(", ")
            ),
            "give all three: SKYPILOT_DOCKER_USERNAME, SKYPILOT_DOCKER_PASSWORD, SKYPILOT_DOCKER_SERVER",
        ));
    }
    Ok(REGISTRY_VARS
        .iter()
        .map(|k| {
            (
                k.to_string(),
                from.get(*k).cloned().flatten().unwrap_or_default(),
            )
        })
        .collect())
}

/// Where a container job finds the workdir.
const CONTAINER_WORKDIR: &str = "/sky_workdir";

/// The platform the task names in `infra` / `cloud`, when hoist has it.
fn named_platform(h: &Hoist, task: &Task) -> Option<String> {
    let r = &task.resources;
    let first = r
        .infra
        .as_deref()
        .map(|i| i.split('/').next().unwrap_or(i).to_string())
        .or_else(|| r.cloud.clone())?;
    let first = first.trim().to_ascii_lowercase();
    if first == "*" || first.is_empty() {
        return None;
    }
    h.canonical(&first).ok().map(str::to_string)
}

/// The docker image the task runs in: `--image-id`, else `resources.image_id: docker:…`.
fn docker_image(task: &Task, opts: &LaunchOptions) -> Option<String> {
    if let Some(i) = &opts.image_id {
        return Some(i.strip_prefix("docker:").unwrap_or(i).to_string());
    }
    match &task.resources.image_id {
        Some(ImageId::Docker(i)) => Some(i.clone()),
        _ => None,
    }
}

/// Build the request for one task. `base` resolves relative paths (the caller's directory);
/// `workflow_id` links a pipeline's tasks.
pub fn plan(
    h: &Hoist,
    task: &Task,
    opts: &LaunchOptions,
    base: &Path,
    workflow_id: Option<&str>,
) -> Result<Planned, InputError> {
    let mut warnings = Vec::new();
    let named = named_platform(h, task);
    let r = &task.resources;
    let mut cloud_only = r.cloud_only.clone();
    if named.is_none()
        && let Some(c) = r.infra.as_deref().or(r.cloud.as_deref())
        && c.trim() != "*"
    {
        cloud_only.insert(0, format!("resources.infra ({c})"));
    }
    let platform = match (&opts.platform, &named) {
        (Some(p), _) => Some(h.canonical(p)?.to_string()),
        (None, Some(n)) => Some(n.clone()),
        (None, None) => None,
    };
    if !cloud_only.is_empty() {
        if opts.platform.is_none() {
            return Err(InputError::new(
                format!(
                    "this task asks for what only a cloud's provisioner gives: {}",
                    cloud_only.join(", ")
                ),
                "run it on a platform hoist has with --platform (docker, slurm, kubernetes, brev, lepton, local: those fields are then left aside), or drop them",
            ));
        }
        for f in &cloud_only {
            warnings.push(format!(
                "{f} is left aside on --platform {}",
                platform.as_deref().unwrap_or("?")
            ));
        }
    }
    if task.service {
        warnings.push("the task's service section is left aside (hoist runs the task once)".into());
    }
    let registry = registry(task)?;
    // SkyPilot pulls `SERVER/IMAGE` unless the image names the server already.
    let image = docker_image(task, opts).map(|i| match registry.get("SKYPILOT_DOCKER_SERVER") {
        Some(srv) if !srv.is_empty() && !i.starts_with(srv.as_str()) => {
            format!("{}/{i}", srv.trim_end_matches('/'))
        }
        _ => i,
    });
    let mut req = JobRequest::new(Command::Shell(String::new()));
    req.platform = platform.clone();
    req.profile = opts.profile.clone();
    req.image = image.clone();
    req.name = opts
        .name
        .clone()
        .or(task.name.clone())
        .map(|n| n.replace(['/', ' '], "-"));
    req.workflow_id = workflow_id.map(str::to_string);
    let nodes = opts.num_nodes.unwrap_or(task.num_nodes.max(1));
    req.nodes = Some(nodes);
    let first = r.accelerators.first();
    match (&opts.gpus, first) {
        (Some(g), _) => {
            let (count, model) = hoist::request::parse_gpus(g)?;
            req.gpus = Some(count);
            req.gpu_type = model;
        }
        (None, Some(a)) => {
            req.gpus = Some(GpuSpec::Count(a.count.ceil().max(1.0) as u32));
            req.gpu_type = Some(a.name.clone());
        }
        (None, None) => {}
    }
    let gpus_per_node = match &req.gpus {
        Some(GpuSpec::Count(n)) => *n,
        Some(GpuSpec::Ids(i)) => i.len() as u32,
        _ => 0,
    };
    if let Some(a) = first
        && opts.gpus.is_none()
        && r.accelerators.len() > 1
    {
        warnings.push(format!(
            "accelerators: the first choice ({}:{}) is used",
            a.name, a.count
        ));
    }
    if r.cpus.is_some() || r.memory.is_some() {
        warnings.push(
            "resources.cpus and memory are minimums in SkyPilot; hoist leaves the size to the platform".into(),
        );
    }
    req.labels = r.labels.clone();

    // Envs, then secrets (which win on a name both have); secrets are never stored. The
    // registry login is the library's, for the pull, not the job's.
    if !registry.is_empty() && image.is_none() {
        warnings.push("SKYPILOT_DOCKER_* are left aside: the task runs no docker image".into());
    }
    for (k, v) in &task.envs {
        if registry.contains_key(k) {
            continue;
        }
        req.env
            .push((k.clone(), Some(v.clone().unwrap_or_default())));
    }
    for (k, v) in &task.secrets {
        if registry.contains_key(k) {
            continue;
        }
        let Some(v) = v else {
            return Err(InputError::new(
                format!("secret {k} has no value"),
                format!("pass --secret {k}=VALUE, or --secret {k} to take it from this shell"),
            ));
        };
        req.env.retain(|(n, _)| n != k);
        req.env.push((k.clone(), Some(v.clone())));
        req.secret_env.push(k.clone());
    }

    let is_local = platform.as_deref() == Some("local") || (platform.is_none() && image.is_none());
    let is_docker =
        platform.as_deref() == Some("docker") || (platform.is_none() && image.is_some());
    let where_ = platform.clone().unwrap_or_else(|| {
        if is_local {
            "local".into()
        } else {
            "docker".into()
        }
    });
    let mut prelude = String::new();
    let mut mounts: Vec<String> = Vec::new();

    // Containers as tasks: `docker run` inside `run` needs a daemon where the job runs.
    if calls_docker(task) {
        match where_.as_str() {
            "local" => {}
            "docker" | "brev" => {
                mounts.push("/var/run/docker.sock:/var/run/docker.sock".into());
                warnings.push(format!(
                    "the task calls docker: the {where_} host's daemon socket is mounted into the job (its image needs the docker CLI)"
                ));
            }
            other => {
                return Err(InputError::new(
                    format!(
                        "this task calls docker in setup or run, and {other} jobs have no Docker daemon at hand"
                    ),
                    "run it with --platform local (this host's daemon) or --platform brev (the instance's), or give the image as resources.image_id: docker:IMAGE so the task runs in it",
                ));
            }
        }
    }

    // The workdir: SkyPilot's ~/sky_workdir, where relative paths resolve.
    match &task.workdir {
        Some(Workdir::Path(p)) => {
            let abs = resolve(base, p);
            if !abs.is_dir() {
                return Err(InputError::new(
                    format!("workdir {p} does not exist (looked for {})", abs.display()),
                    "fix workdir in the task, or run hoist launch from the directory it is relative to",
                ));
            }
            if is_local {
                prelude.push_str(&format!(
                    "cd {} || exit $?\n",
                    sh_quote(&abs.display().to_string())
                ));
            } else if is_docker {
                mounts.push(format!("{}:{CONTAINER_WORKDIR}", abs.display()));
                prelude.push_str(&format!("cd {CONTAINER_WORKDIR} || exit $?\n"));
            } else {
                // Shipped by the library: into the job's directory where jobs share a
                // cluster file system, else to the container's /sky_workdir.
                let dest = ship_dest(h, &where_, CONTAINER_WORKDIR)?;
                prelude.push_str(&format!("cd {} || exit $?\n", sh_quote(&dest)));
                req.uploads.push(Upload {
                    src: abs.display().to_string(),
                    dest,
                });
            }
        }
        Some(Workdir::Git { url, reference }) => {
            prelude.push_str(&format!(
                "w=\"$HOME/sky_workdir\"; if [ ! -d \"$w/.git\" ]; then git clone -q {} \"$w\" || exit $?; fi; cd \"$w\" || exit $?\n",
                sh_quote(url)
            ));
            if let Some(r) = reference {
                prelude.push_str(&format!("git checkout -q {} || exit $?\n", sh_quote(r)));
            }
        }
        None if is_local => {
            req.workdir = Some(base.display().to_string());
        }
        None => {
            // Where relative file_mounts land (and a shipped workdir would): `run` must start
            // there to find them. On a cluster that is the job's own directory, not $HOME.
            let w = if is_docker {
                CONTAINER_WORKDIR.to_string()
            } else {
                ship_dest(h, &where_, CONTAINER_WORKDIR)?
            };
            prelude.push_str(&format!(
                "mkdir -p {w} 2>/dev/null && cd {w}\n",
                w = sh_quote(&w)
            ));
        }
    }

    // file_mounts: object stores through hoist's input staging (COPY), local paths in place.
    let mut shown_mounts = serde_json::Map::new();
    for (dst, m) in &task.file_mounts {
        let (src, mode) = match m {
            FileMount::Source(s) => (s.clone(), StorageMode::Copy),
            FileMount::Storage {
                source, mode, name, ..
            } => {
                let src = source
                    .clone()
                    .or_else(|| name.as_ref().map(|n| format!("s3://{n}")))
                    .ok_or_else(|| {
                        InputError::new(
                            format!("file_mounts {dst} has neither source nor name"),
                            "give the bucket's source: s3://BUCKET/PATH",
                        )
                    })?;
                (src, *mode)
            }
        };
        shown_mounts.insert(dst.clone(), Value::String(src.clone()));
        let remote = src.contains("://");
        if remote && mode != StorageMode::Copy {
            return Err(InputError::new(
                format!(
                    "file_mounts {dst}: mounting a bucket ({src}) needs FUSE in the job, which hoist does not set up"
                ),
                "add `mode: COPY` (hoist downloads it before the job starts)",
            ));
        }
        if dst.starts_with('~') && !is_local {
            return Err(InputError::new(
                format!("file_mounts {dst}: `~` is not known before the job starts on {where_}"),
                "give an absolute destination, or one relative to the workdir",
            ));
        }
        let dest = if let Some(rest) = dst.strip_prefix("~/") {
            format!(
                "{}/{rest}",
                std::env::var("HOME").unwrap_or_else(|_| "/root".into())
            )
        } else {
            dst.clone()
        };
        if src.starts_with("lustre://") && h.capabilities_of(&where_)?.paths == PathView::Container
        {
            // A cluster path (an upstream SLURM job's results) is out of a container's
            // sight: the library fetches it here and ships it like a local path.
            let dest = if dest.starts_with('/') {
                dest
            } else {
                format!("{}/{dest}", ship_dest(h, &where_, CONTAINER_WORKDIR)?)
            };
            req.uploads.push(Upload { src, dest });
        } else if remote {
            req.inputs.push(DataBinding {
                key: dest,
                uri: src,
            });
        } else {
            let abs = resolve(base, &src);
            if !abs.exists() {
                return Err(InputError::new(
                    format!("File mount source '{src}' does not exist locally"),
                    "fix the path in file_mounts (relative paths are from where hoist launch runs)",
                ));
            }
            if is_local {
                prelude.push_str(&format!(
                    "mkdir -p \"$(dirname {d})\" && ln -sfn {s} {d} || exit $?\n",
                    d = sh_quote(&dest),
                    s = sh_quote(&abs.display().to_string())
                ));
            } else if is_docker {
                let target = if dest.starts_with('/') {
                    dest.clone()
                } else {
                    format!("{CONTAINER_WORKDIR}/{dest}")
                };
                mounts.push(format!("{}:{target}", abs.display()));
            } else {
                let dest = if dest.starts_with('/') {
                    dest.clone()
                } else {
                    format!("{}/{dest}", ship_dest(h, &where_, CONTAINER_WORKDIR)?)
                };
                req.uploads.push(Upload {
                    src: abs.display().to_string(),
                    dest,
                });
            }
        }
    }
    if !mounts.is_empty() {
        req.platform_options
            .entry("docker".into())
            .or_default()
            .insert("mounts".into(), json!(mounts));
    }

    req.command = Command::Shell(script(task, nodes, gpus_per_node, &where_, &prelude));
    let normalized = normalized(task, &req, &where_, image.as_deref(), &shown_mounts);
    Ok(Planned {
        request: req,
        platform,
        warnings,
        normalized,
        registry,
    })
}

/// Whether setup or run calls the docker CLI (`docker run …`, `sudo docker build …`).
fn calls_docker(task: &Task) -> bool {
    const VERBS: &[&str] = &["run", "build", "pull", "compose", "exec", "create", "start"];
    [task.setup.as_deref(), task.run.as_deref()]
        .into_iter()
        .flatten()
        .any(|text| {
            let words: Vec<&str> = text
                .split(|c: char| c.is_whitespace() || ";|&()`$".contains(c))
                .filter(|w| !w.is_empty())
                .collect();
            words
                .windows(2)
                .any(|w| w[0] == "docker" && VERBS.contains(&w[1]))
        })
}

/// Where a shipped directory appears in the job: `container` on platforms whose jobs run in
/// containers, else (a cluster's shared file system) that name in the job's own directory.
fn ship_dest(h: &Hoist, platform: &str, container: &str) -> Result<String, InputError> {
    Ok(match h.capabilities_of(platform)?.paths {
        PathView::Cluster => container.trim_start_matches('/').to_string(),
        _ => container.to_string(),
    })
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = match p.strip_prefix("~/") {
        Some(rest) => {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/".into())).join(rest)
        }
        None => PathBuf::from(p),
    };
    let p = if p.is_absolute() { p } else { base.join(p) };
    // `./proj` reads as `proj` in every message and path hoist shows.
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// The job's script: SkyPilot's variables, then `setup` (its failure ends the job with its
/// exit code, said to be setup's), then `run`, each in bash when the image has it (else sh).
fn script(task: &Task, nodes: u32, gpus: u32, platform: &str, prelude: &str) -> String {
    let name = task.name.clone().unwrap_or_else(|| "task".into());
    let info = json!({"cluster_name": format!("hoist-{name}"), "cloud": platform, "region": null, "zone": null}).to_string();
    let mut s = String::new();
    s.push_str("HOIST_SH=\"$(command -v bash || command -v sh)\"\n");
    s.push_str(prelude);
    s.push_str(&format!(
        "export SKYPILOT_NUM_NODES={nodes} SKYPILOT_NUM_GPUS_PER_NODE={gpus} SKYPILOT_CLUSTER_INFO={} PYTHONUNBUFFERED=1\n",
        sh_quote(&info)
    ));
    s.push_str("export SKYPILOT_TASK_ID=\"sky-hoist_${TAO_JOB_ID:-task}\" SKYPILOT_USER=\"$(id -un 2>/dev/null || echo user)\"\n");
    // Rank and addresses from hoist's rendezvous env where the platform sets it (several
    // nodes), else this one host.
    s.push_str("export SKYPILOT_NODE_RANK=\"${NODE_RANK:-0}\"\n");
    s.push_str("export SKYPILOT_NODE_IPS=\"${HOIST_NODE_IPS:-$(hostname -i 2>/dev/null | cut -d' ' -f1)}\"\n");
    if let Some(setup) = task.setup.as_deref().filter(|t| !t.trim().is_empty()) {
        s.push_str(&format!(
            "SKYPILOT_SETUP_NODE_RANK=\"$SKYPILOT_NODE_RANK\" SKYPILOT_SETUP_NODE_IPS=\"$SKYPILOT_NODE_IPS\" SKYPILOT_SETUP_NUM_GPUS_PER_NODE={gpus} \"$HOIST_SH\" -c {}\n",
            sh_quote(setup)
        ));
        s.push_str("rc=$?; if [ \"$rc\" -ne 0 ]; then echo \"hoist: the task's setup failed with exit code $rc; run did not start\" >&2; exit \"$rc\"; fi\n");
    }
    match task.run.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(run) => s.push_str(&format!("exec \"$HOIST_SH\" -c {}\n", sh_quote(run))),
        None => s.push_str("exit 0\n"),
    }
    s
}

/// The normalized task, secret values masked.
fn normalized(
    task: &Task,
    req: &JobRequest,
    platform: &str,
    image: Option<&str>,
    mounts: &serde_json::Map<String, Value>,
) -> Value {
    let mut envs = serde_json::Map::new();
    for (k, v) in &req.env {
        let shown = if req.secret_env.contains(k) || hoist::core::spec::is_secret_name(k) {
            Value::String("<secret>".into())
        } else {
            v.clone().map(Value::String).unwrap_or(Value::Null)
        };
        envs.insert(k.clone(), shown);
    }
    let image_id = match &task.resources.image_id {
        Some(ImageId::Docker(i)) => Value::String(format!("docker:{i}")),
        Some(ImageId::Vm(i)) => Value::String(i.clone()),
        Some(ImageId::PerRegion(m)) => json!(m),
        None => Value::Null,
    };
    json!({
        "name": req.name,
        "num_nodes": req.nodes.unwrap_or(1),
        "image_id": image_id,
        "docker_image": image,
        "accelerators": task.resources.accelerators.iter().map(|a| format!("{}:{}", a.name, a.count)).collect::<Vec<_>>(),
        "cpus": task.resources.cpus,
        "memory": task.resources.memory,
        "envs": envs,
        "setup": task.setup,
        "run": task.run,
        "workdir": match &task.workdir {
            Some(Workdir::Path(p)) => json!(p),
            Some(Workdir::Git { url, reference }) => json!({"url": url, "ref": reference}),
            None => Value::Null,
        },
        "file_mounts": mounts,
        "platform": platform,
    })
}
