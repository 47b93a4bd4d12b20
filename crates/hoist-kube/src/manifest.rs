//! From a submit request to the objects hoist creates: a Secret for secret env values, a
//! headless Service for multi-node jobs, and the Job (Indexed when multi-node). Pure: the same
//! code serves `--dry-run`, the snapshots in the tests and the real submit.

use crate::settings::KubeOptions;
use hoist_core::spec::{Command, InputError, rendezvous_env, sh_quote_checked};
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
}

/// What [`render`] makes.
#[derive(Debug, Clone)]
pub struct Manifests {
    /// Secret with the secret env values (none when there are none).
    pub secret: Option<Secret>,
    /// Headless Service (multi-node only).
    pub service: Option<Service>,
    /// The Job.
    pub job: Job,
    /// GPUs per node asked for.
    pub gpus_per_node: u32,
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
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        containers: vec![container],
        init_containers,
        volumes: Some(volumes),
        node_selector: (!opts.node_selector.is_empty()).then(|| opts.node_selector.clone()),
        tolerations: (!tolerations.is_empty()).then_some(tolerations),
        image_pull_secrets: opts
            .image_pull_secret
            .as_ref()
            .map(|n| vec![LocalObjectReference { name: n.clone() }]),
        subdomain: multi.then(|| name.clone()),
        ..Default::default()
    };
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
        service,
        job,
        gpus_per_node: gpus,
    })
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

/// What a secret value is replaced with wherever manifests are shown.
const MASK: &str = "<secret>";

/// The Secret with every value replaced by [`MASK`]: the one place masking happens, so
/// `redacted` and the dry-run stream cannot drift apart and leak a value through either.
fn masked(secret: Option<&Secret>) -> Option<Secret> {
    let mut s = secret.cloned()?;
    for v in s.data.iter_mut().flat_map(|d| d.values_mut()) {
        *v = k8s_openapi::ByteString(MASK.as_bytes().to_vec());
    }
    for v in s.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        *v = MASK.into();
    }
    Some(s)
}

/// The manifests as they may be shown: secret values replaced.
pub fn redacted(m: &Manifests) -> serde_json::Value {
    let secret = masked(m.secret.as_ref());
    serde_json::json!({"secret": secret, "service": m.service, "job": m.job})
}

/// The objects `--dry-run` shows, in the order they must be applied (the Job's pods refer to
/// the Secret and the Service by name), each a complete object `kubectl apply` takes as is.
/// Secret values are masked as in [`redacted`]: a dry run is printed, logged and pasted, so the
/// real value must never reach it.
pub fn dry_run_objects(m: &Manifests) -> Vec<serde_json::Value> {
    let mut objects = Vec::with_capacity(3);
    if let Some(s) = masked(m.secret.as_ref()) {
        objects.push(applyable(&s));
    }
    if let Some(s) = &m.service {
        objects.push(applyable(s));
    }
    objects.push(applyable(&m.job));
    objects
}

/// One object as `kubectl apply` wants it.
///
/// apiVersion and kind are set from the type even though k8s-openapi writes them for top-level
/// resources: without them apply refuses the document, so this does not rest on a serializer
/// detail. Owner references are dropped because the only owner hoist ever sets is the Job,
/// patched in after create once its UID exists; on a dry run there is no UID to point at.
fn applyable<K>(k: &K) -> serde_json::Value
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
{
    let mut v = match serde_json::to_value(k) {
        Ok(v) => v,
        // k8s-openapi objects only have string-keyed maps, so this cannot happen; were it to,
        // a stub that names the object and the reason beats a panic or a silently missing
        // document in what the user is about to apply.
        Err(e) => serde_json::json!({
            "metadata": {
                "name": k.metadata().name,
                "namespace": k.metadata().namespace,
                "annotations": {"hoist.dev/dry-run-error": e.to_string()},
            },
        }),
    };
    drop_nulls(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), K::API_VERSION.into());
        o.insert("kind".into(), K::KIND.into());
        if o.get("status")
            .is_some_and(|s| s.as_object().is_some_and(serde_json::Map::is_empty))
        {
            o.remove("status");
        }
        if let Some(meta) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("ownerReferences");
        }
    }
    v
}

/// Removes null members at every depth. A null means "unset" to the API server, so in a
/// manifest meant for review or a repository it only reads as a value someone chose. Empty
/// maps stay: `emptyDir: {}` means something.
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// `objects` as one multi-document YAML stream, the form `kubectl apply -f -` reads and people
/// paste into files: each document a mapping, documents separated by `---` lines.
///
/// serde-saphyr quotes every string a YAML 1.1 reader (Go's, in kubectl) would take for
/// something else, so env values like `1`, `true`, `yes` or `0x10` stay strings. Multi-line
/// strings go out double-quoted rather than as block scalars: with one physical line per
/// value, a `---` line or trailing spaces inside a script cannot be taken for a document
/// separator or trimmed by a tool that splits the stream by lines.
pub fn to_yaml_stream(objects: &[serde_json::Value]) -> String {
    let opts = || {
        let mut o = serde_saphyr::SerializerOptions::default();
        o.prefer_block_scalars = false;
        o
    };
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        // JSON is YAML too, so if the YAML writer ever refuses a value the document goes out
        // as JSON: still one valid document, never a missing one.
        let doc = serde_saphyr::to_string_with_options(o, opts())
            .or_else(|_| serde_json::to_string_pretty(o))
            .unwrap_or_else(|_| "{}".into());
        out.push_str(&doc);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
