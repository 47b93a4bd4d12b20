//! From a submit request to the objects hoist creates: a Secret for secret env values, an
//! image pull Secret from the environment's registry login, a headless Service for
//! multi-node jobs, and the Job (Indexed when multi-node). Pure: the same code serves
//! `--dry-run`, the snapshots in the tests and the real submit.

mod show;

pub use show::{dry_run_objects, redacted, to_yaml_stream};

use crate::placement::GpuPlacement;
use crate::pull::{PullLogin, pull_secret_name};
use crate::settings::KubeOptions;
use hoist_core::spec::{Command, InputError, NODE_IPS_ENV, rendezvous_env, sh_quote_checked};
use hoist_core::staging::RUNNER_PLAN_ENV;
use hoist_core::{GpuSpec, SubmitRequest};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, LocalObjectReference,
    ObjectFieldSelector, PodSpec, PodTemplateSpec, ResourceRequirements, Secret, SecretKeySelector,
    Service, ServicePort, ServiceSpec, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// Labels hoist puts on everything it creates.
pub mod labels {
    /// The hoist job id.
    pub const JOB_ID: &str = "hoist.dev/job-id";
    /// The launch token (the store's fence).
    pub const LAUNCH_TOKEN: &str = "hoist.dev/launch-token";
    /// The TAO SDK's own label, kept for tools that look for it.
    pub const TAO_JOB_ID: &str = "tao-sdk-job-id";
    /// `app.kubernetes.io/managed-by`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// Set by the Job controller on every pod of a Job.
    pub const JOB_NAME: &str = "job-name";
}

/// The Job's (and Service's) name: `hoist-<job id>`, a valid DNS label.
pub fn job_name(job_id: &str) -> String {
    let safe: String = job_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut n = format!("hoist-{safe}");
    n.truncate(60);
    n.trim_end_matches('-').to_string()
}

/// The Secret holding the job's secret env values.
pub fn secret_name(job_id: &str) -> String {
    format!("{}-env", job_name(job_id))
}

/// Port torchrun's rendezvous listens on.
pub const MASTER_PORT: u16 = 29500;
/// Where the runner binary is installed in the pod (an emptyDir shared with the init container).
pub const RUNNER_MOUNT: &str = "/opt/hoist";

/// Cluster-wide settings the manifests need.
#[derive(Debug, Clone, Default)]
pub struct ManifestSettings {
    /// Namespace.
    pub namespace: String,
    /// Image of the init container that installs the runner (`hoist runner-image`).
    pub runner_image: Option<String>,
    /// Seconds a finished Job is kept before the cluster deletes it.
    pub ttl_seconds: i32,
    /// The registry login the job's image pull Secret is made from (resolved for a submit,
    /// as written for a dry run); `None`: no pull Secret.
    pub pull_login: Option<PullLogin>,
    /// Where a job asking for a GPU model runs; `None`: as a dry run shows it
    /// ([`GpuPlacement::as_given`]).
    pub gpu_placement: Option<GpuPlacement>,
}

/// What [`render`] makes.
#[derive(Clone)]
pub struct Manifests {
    /// Secret with the secret env values (none when there are none).
    pub secret: Option<Secret>,
    /// Image pull Secret made from the registry login (none when the job names its own or
    /// the environment has no login for the image).
    pub pull_secret: Option<Secret>,
    /// Headless Service (multi-node only).
    pub service: Option<Service>,
    /// The Job.
    pub job: Job,
    /// GPUs per node asked for.
    pub gpus_per_node: u32,
}

/// Shown as [`redacted`] shows them: the Secrets hold values that must not reach a log.
impl std::fmt::Debug for Manifests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Manifests({})", redacted(self))
    }
}

fn common_labels(req: &SubmitRequest) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = req
        .spec
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with("hoist.dev/"))
        .map(|(k, v)| (k.clone(), label_value(v)))
        .collect();
    l.insert(labels::JOB_ID.into(), req.job_id.clone());
    l.insert(labels::LAUNCH_TOKEN.into(), label_value(&req.launch_token));
    l.insert(labels::TAO_JOB_ID.into(), req.job_id.clone());
    l.insert(labels::MANAGED_BY.into(), "hoist".into());
    l
}

/// Label values are at most 63 characters of `[A-Za-z0-9._-]`, starting and ending
/// alphanumeric.
fn label_value(v: &str) -> String {
    let mut s: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.truncate(63);
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// `KEY[=VALUE][:EFFECT]` → a toleration (no value: `Exists`).
pub fn parse_toleration(s: &str) -> Result<Toleration, InputError> {
    let (kv, effect) = match s.rsplit_once(':') {
        Some((kv, e)) => (kv, Some(e)),
        None => (s, None),
    };
    if let Some(e) = effect
        && !matches!(e, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
    {
        return Err(InputError::new(
            format!("bad toleration effect {e:?} in {s:?}"),
            "use NoSchedule, PreferNoSchedule or NoExecute, e.g. --toleration nvidia.com/gpu:NoSchedule",
        ));
    }
    let (key, value) = match kv.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (kv, None),
    };
    if key.is_empty() {
        return Err(InputError::new(
            format!("bad toleration {s:?}: no key"),
            "write KEY[=VALUE][:EFFECT]",
        ));
    }
    Ok(Toleration {
        key: Some(key.into()),
        operator: Some(if value.is_some() { "Equal" } else { "Exists" }.into()),
        value: value.map(str::to_string),
        effect: effect.map(str::to_string),
        ..Default::default()
    })
}

/// Render everything for `req`.
pub fn render(req: &SubmitRequest, s: &ManifestSettings) -> Result<Manifests, InputError> {
    let spec = &req.spec;
    let opts = spec.options_of::<KubeOptions>("kubernetes")?;
    let Some(image) = spec.image.clone() else {
        return Err(InputError::new(
            "the kubernetes platform needs an image",
            "add --image IMAGE (e.g. nvcr.io/nvidia/pytorch:24.05-py3)",
        ));
    };
    let gpus = match &spec.gpus {
        GpuSpec::None => 0,
        GpuSpec::Count(n) => *n,
        GpuSpec::All => {
            return Err(InputError::new(
                "--gpus all cannot be asked of Kubernetes: the scheduler needs a count",
                "give a count per node, e.g. --gpus 8",
            ));
        }
        GpuSpec::Ids(_) => {
            return Err(InputError::new(
                "--gpus with device ids cannot be honoured on Kubernetes: the device plugin assigns devices",
                "give a count per node, e.g. --gpus 2",
            ));
        }
    };
    let name = job_name(&req.job_id);
    let nodes = spec.nodes.max(1);
    let multi = nodes > 1;
    let labels = common_labels(req);
    let meta = |n: &str| ObjectMeta {
        name: Some(n.to_string()),
        namespace: Some(s.namespace.clone()),
        labels: Some(labels.clone()),
        ..Default::default()
    };

    // Env: literals inline, secret values through the Secret (never in the Job object).
    let mut env: Vec<EnvVar> = Vec::new();
    let mut secret_data = BTreeMap::new();
    for (k, v) in &req.env {
        if req.spec.is_secret(k) {
            secret_data.insert(k.clone(), k8s_openapi::ByteString(v.as_bytes().to_vec()));
            env.push(EnvVar {
                name: k.clone(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret_name(&req.job_id),
                        key: k.clone(),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
        } else {
            env.push(EnvVar {
                name: k.clone(),
                value: Some(v.clone()),
                ..Default::default()
            });
        }
    }
    let lit = |k: &str, v: String| EnvVar {
        name: k.into(),
        value: Some(v),
        ..Default::default()
    };
    env.push(lit("TAO_JOB_ID", req.job_id.clone()));
    env.push(lit("HOIST_JOB_ID", req.job_id.clone()));
    env.push(lit("PYTHONNOUSERSITE", "1".into()));
    if gpus == 0 {
        env.push(lit("NVIDIA_VISIBLE_DEVICES", "void".into()));
    }
    if multi {
        for (k, v) in rendezvous_env(nodes, gpus.max(1), "0", &format!("{name}-0.{name}")) {
            match k.as_str() {
                // Each pod's rank is its completion index, from the pod's own annotation.
                "NODE_RANK" => env.push(EnvVar {
                    name: k,
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path:
                                "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                                    .into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                "MASTER_PORT" => env.push(lit("MASTER_PORT", MASTER_PORT.to_string())),
                _ => env.push(lit(&k, v)),
            }
        }
        // Every pod's stable name in rank order, the same form as MASTER_ADDR.
        let addresses: Vec<String> = (0..nodes).map(|i| format!("{name}-{i}.{name}")).collect();
        env.push(lit(NODE_IPS_ENV, addresses.join("\n")));
    } else if gpus > 1 {
        env.extend(
            rendezvous_env(1, gpus, "0", "localhost")
                .into_iter()
                .map(|(k, v)| lit(&k, v)),
        );
    }

    let mut limits = BTreeMap::new();
    let mut requests = BTreeMap::new();
    if gpus > 0 {
        limits.insert("nvidia.com/gpu".to_string(), Quantity(gpus.to_string()));
    }
    if let Some(c) = spec.cpus {
        let q = Quantity(format!("{}m", (c * 1000.0).round() as u64));
        limits.insert("cpu".into(), q.clone());
        requests.insert("cpu".into(), q);
    }
    if let Some(m) = spec.memory_bytes {
        let q = Quantity(format!("{}Mi", m.div_ceil(1 << 20)));
        limits.insert("memory".into(), q.clone());
        requests.insert("memory".into(), q);
    }

    let mut volumes = vec![Volume {
        // Data loaders need more than the container runtime's 64 MiB /dev/shm.
        name: "dshm".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let mut mounts = vec![VolumeMount {
        name: "dshm".into(),
        mount_path: "/dev/shm".into(),
        ..Default::default()
    }];
    let mut init_containers = None;
    let (command, args) = match &req.runner {
        Some(plan) => {
            let Some(runner_image) = &s.runner_image else {
                return Err(InputError::new(
                    "this job stages data, which on Kubernetes needs the hoist runner image",
                    "build and push it (hoist runner-image --tag REGISTRY/hoist-runner:TAG; docker push …), then set HOIST_K8S_RUNNER_IMAGE or the profile's runner_image",
                ));
            };
            env.push(lit(
                RUNNER_PLAN_ENV,
                serde_json::to_string(plan).map_err(|e| {
                    InputError::new(format!("cannot encode the runner plan: {e}"), "report this")
                })?,
            ));
            volumes.push(Volume {
                name: "hoist-bin".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
            let bin = VolumeMount {
                name: "hoist-bin".into(),
                mount_path: RUNNER_MOUNT.into(),
                ..Default::default()
            };
            mounts.push(VolumeMount {
                read_only: Some(true),
                ..bin.clone()
            });
            init_containers = Some(vec![Container {
                name: "hoist-runner".into(),
                image: Some(runner_image.clone()),
                args: Some(vec!["__install".into(), RUNNER_MOUNT.into()]),
                volume_mounts: Some(vec![bin]),
                ..Default::default()
            }]);
            (vec![format!("{RUNNER_MOUNT}/hoist"), "__run".into()], None)
        }
        None => {
            let line = match &spec.command {
                Command::Shell(sh) => sh.clone(),
                Command::Argv(a) => a
                    .iter()
                    .map(|w| sh_quote_checked(w))
                    .collect::<Result<Vec<_>, _>>()?
                    .join(" "),
            };
            let shell = spec.shell.clone().unwrap_or_else(|| "sh".into());
            match (&spec.command, shell.as_str()) {
                // `--shell none`: the argv is the container's command, no shell in between.
                (Command::Argv(a), "none") => (a.clone(), None),
                _ => (vec![shell, "-c".into(), line], None),
            }
        }
    };

    let container = Container {
        name: "job".into(),
        image: Some(image),
        command: Some(command),
        args,
        env: Some(env),
        working_dir: spec.workdir.clone(),
        resources: Some(ResourceRequirements {
            limits: (!limits.is_empty()).then_some(limits),
            requests: (!requests.is_empty()).then_some(requests),
            ..Default::default()
        }),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let tolerations = opts
        .tolerations
        .iter()
        .map(|t| parse_toleration(t))
        .collect::<Result<Vec<_>, _>>()?;
    // A pull Secret the job names wins over the one made from the environment's login.
    let pull_secret = match (&opts.image_pull_secret, &s.pull_login) {
        (None, Some(login)) => Some(login.secret(meta(&pull_secret_name(&req.job_id)))),
        _ => None,
    };
    let pull_secret_ref = opts
        .image_pull_secret
        .clone()
        .or_else(|| pull_secret.as_ref().and_then(|p| p.metadata.name.clone()));
    let mut pod = PodSpec {
        restart_policy: Some("Never".into()),
        containers: vec![container],
        init_containers,
        volumes: Some(volumes),
        node_selector: (!opts.node_selector.is_empty()).then(|| opts.node_selector.clone()),
        tolerations: (!tolerations.is_empty()).then_some(tolerations),
        image_pull_secrets: pull_secret_ref.map(|name| vec![LocalObjectReference { name }]),
        subdomain: multi.then(|| name.clone()),
        ..Default::default()
    };
    if let Some(model) = gpu_model(spec)
        && gpus > 0
    {
        match &s.gpu_placement {
            Some(p) => p.apply(&mut pod),
            None => GpuPlacement::as_given(model).apply(&mut pod),
        }
    }
    let mut pod_labels = labels.clone();
    pod_labels.insert(labels::JOB_NAME.into(), name.clone());
    let job = Job {
        metadata: meta(&name),
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(s.ttl_seconds),
            completion_mode: multi.then(|| "Indexed".to_string()),
            completions: multi.then_some(nodes as i32),
            parallelism: multi.then_some(nodes as i32),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        status: None,
    };
    let service = multi.then(|| Service {
        metadata: meta(&name),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(BTreeMap::from([(
                labels::JOB_NAME.to_string(),
                name.clone(),
            )])),
            ports: Some(vec![ServicePort {
                name: Some("rendezvous".into()),
                port: i32::from(MASTER_PORT),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    });
    let secret = (!secret_data.is_empty()).then(|| Secret {
        metadata: meta(&secret_name(&req.job_id)),
        data: Some(secret_data),
        type_: Some("Opaque".into()),
        ..Default::default()
    });
    Ok(Manifests {
        secret,
        pull_secret,
        service,
        job,
        gpus_per_node: gpus,
    })
}

/// The GPU model the job asks for, if it names one.
pub fn gpu_model(spec: &hoist_core::JobSpec) -> Option<&str> {
    spec.gpu_type
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
}

/// A merge patch that makes an object owned by the Job `name` (so deleting the Job deletes it).
pub fn owned_by(name: &str, uid: &str) -> serde_json::Value {
    serde_json::json!({"metadata": {"ownerReferences": [{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
        "blockOwnerDeletion": false, "controller": false}]}})
}

/// The Job to create again for a re-run: the same spec without what the server filled in
/// (uid, resourceVersion, status, the generated selector and the controller-uid labels it
/// matches).
pub fn rerun(old: &Job) -> Job {
    const SERVER_LABELS: &[&str] = &["controller-uid", "batch.kubernetes.io/controller-uid"];
    let mut spec = old.spec.clone().unwrap_or_default();
    spec.selector = None;
    spec.manual_selector = None;
    if let Some(m) = spec.template.metadata.as_mut()
        && let Some(l) = m.labels.as_mut()
    {
        l.retain(|k, _| !SERVER_LABELS.contains(&k.as_str()));
    }
    Job {
        metadata: ObjectMeta {
            name: old.metadata.name.clone(),
            namespace: old.metadata.namespace.clone(),
            labels: old.metadata.labels.clone().map(|mut l| {
                l.retain(|k, _| !SERVER_LABELS.contains(&k.as_str()));
                l
            }),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}
