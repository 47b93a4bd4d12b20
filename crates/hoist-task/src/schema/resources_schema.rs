//! The `resources` schema (SkyPilot 0.14.1's `get_resources_schema`): the clouds it knows,
//! the `infra` pattern, and each field's type, as the validator checks them before the
//! fields are read ([`super::resources`]).

use std::sync::LazyLock;

use super::jsonschema::{Schema, Ty};

/// Clouds SkyPilot 0.14.1 knows (`cloud:` enum and `infra` pattern), with their display names
/// (its messages print the cloud object, e.g. `cloud=AWS`).
pub(super) const CLOUDS: &[(&str, &str)] = &[
    ("aws", "AWS"),
    ("azure", "Azure"),
    ("gcp", "GCP"),
    ("ibm", "IBM"),
    ("lambda", "Lambda"),
    ("scp", "SCP"),
    ("oci", "OCI"),
    ("kubernetes", "Kubernetes"),
    ("runpod", "RunPod"),
    ("vast", "Vast"),
    ("vsphere", "vSphere"),
    ("cudo", "Cudo"),
    ("fluidstack", "Fluidstack"),
    ("paperspace", "Paperspace"),
    ("primeintellect", "PrimeIntellect"),
    ("do", "DO"),
    ("nebius", "Nebius"),
    ("ssh", "SSH"),
    ("slurm", "Slurm"),
    ("hyperbolic", "Hyperbolic"),
    ("seeweb", "Seeweb"),
    ("shadeform", "Shadeform"),
    ("yotta", "Yotta"),
    ("mithril", "Mithril"),
    ("verda", "Verda"),
];

pub(super) fn cloud_names() -> Vec<&'static str> {
    CLOUDS.iter().map(|(n, _)| *n).collect()
}

pub(super) fn display(cloud: &str) -> &'static str {
    CLOUDS
        .iter()
        .find(|(n, _)| *n == cloud)
        .map_or("None", |(_, d)| *d)
}

/// Clouds whose "region" is a context or node pool rather than a public-cloud region.
pub(super) fn cluster_cloud(cloud: &str) -> bool {
    matches!(cloud, "kubernetes" | "ssh" | "slurm")
}

const INFRA_PATTERN: &str = "^(?:(?i:(aws|azure|gcp|ibm|lambda|scp|oci|runpod|vast|vsphere|cudo|fluidstack|paperspace|primeintellect|do|nebius|ssh|slurm|hyperbolic|seeweb|shadeform|yotta|mithril|verda))(?:/[^/]+(?:/[^/]+)?)?|\\*(?:/[^/]+(?:/[^/]+)?)?|(?i:kubernetes|k8s)(?:/.+)?)$";
pub(crate) const SIZE_PATTERN: &str = "^[0-9]+(kb|ki|mb|mi|gb|gi|tb|ti|pb|pi|KB|KI|MB|MI|GB|GI|TB|TI|PB|PI|Kb|Ki|Mb|Mi|Gb|Gi|Tb|Ti|Pb|Pi)?$";

/// A disk size: unit string or integer.
pub(crate) fn size_schema() -> Schema {
    Schema::new().any_of(vec![
        Schema::of(Ty::String).pattern(SIZE_PATTERN),
        Schema::of(Ty::Integer),
    ])
}

/// The per-candidate fields, shared by the top level and `any_of`/`ordered` entries.
/// `accelerators_after_memory`: entries list `accelerators` right after `memory`, the top
/// level lists it last (the order decides which of two bad fields is reported).
fn candidate_props(accelerators_after_memory: bool) -> Vec<(&'static str, Schema)> {
    let accelerators = || {
        Schema::new().any_of(vec![
            Schema::of(Ty::String),
            Schema::of(Ty::Object).required(&[]).additional(
                Schema::new().any_of(vec![Schema::of(Ty::Null), Schema::of(Ty::Number)]),
            ),
            Schema::of(Ty::Array).items(Schema::of(Ty::String)),
        ])
    };
    let mut p: Vec<(&'static str, Schema)> = vec![
        (
            "cloud",
            Schema::of(Ty::String).case_insensitive_enum(&cloud_names()),
        ),
        ("region", Schema::of(Ty::String)),
        ("zone", Schema::of(Ty::String)),
        ("infra", Schema::of(Ty::String).pattern(INFRA_PATTERN)),
        (
            "cpus",
            Schema::new().any_of(vec![Schema::of(Ty::String), Schema::of(Ty::Number)]),
        ),
        (
            "memory",
            Schema::new().any_of(vec![Schema::of(Ty::String), Schema::of(Ty::Number)]),
        ),
    ];
    if accelerators_after_memory {
        p.push(("accelerators", accelerators()));
    }
    p.extend(vec![
        ("instance_type", Schema::of(Ty::String)),
        ("use_spot", Schema::of(Ty::Boolean)),
        (
            "job_recovery",
            Schema::new().any_of(vec![
                Schema::of(Ty::String),
                Schema::of(Ty::Object).required(&[]).props(vec![
                    (
                        "strategy",
                        Schema::new().any_of(vec![Schema::of(Ty::String), Schema::of(Ty::Null)]),
                    ),
                    ("max_restarts_on_errors", Schema::of(Ty::Integer).minimum(0)),
                    (
                        "recover_on_exit_codes",
                        Schema::new().any_of(vec![
                            Schema::of(Ty::Integer).minimum(0).maximum(255),
                            Schema::of(Ty::Array)
                                .items(Schema::of(Ty::Integer).minimum(0).maximum(255))
                                .unique_items(),
                        ]),
                    ),
                ]),
            ]),
        ),
        (
            "volumes",
            Schema::of(Ty::Array).items(Schema::of(Ty::Object).props(vec![
                ("disk_size", size_schema()),
                ("disk_tier", Schema::of(Ty::String)),
                ("path", Schema::of(Ty::String)),
                ("auto_delete", Schema::of(Ty::Boolean)),
                ("storage_type", Schema::of(Ty::String)),
                ("name", Schema::of(Ty::String)),
                ("attach_mode", Schema::of(Ty::String)),
            ])),
        ),
        ("disk_size", size_schema()),
        ("ephemeral_storage", size_schema()),
        ("disk_tier", Schema::of(Ty::String)),
        ("network_tier", Schema::of(Ty::String)),
        ("local_disk", Schema::of(Ty::String)),
        (
            "max_hourly_cost",
            Schema::of(Ty::Number).exclusive_minimum(0),
        ),
        (
            "ports",
            Schema::new().any_of(vec![
                Schema::of(Ty::String),
                Schema::of(Ty::Integer),
                Schema::of(Ty::Array).items(
                    Schema::new().any_of(vec![Schema::of(Ty::String), Schema::of(Ty::Integer)]),
                ),
                Schema::of(Ty::Null),
            ]),
        ),
        (
            "labels",
            Schema::of(Ty::Object).additional(Schema::of(Ty::String)),
        ),
        (
            "accelerator_args",
            Schema::of(Ty::Object)
                .required(&[])
                .no_additional()
                .props(vec![
                    ("runtime_version", Schema::of(Ty::String)),
                    ("tpu_name", Schema::of(Ty::String)),
                    ("tpu_vm", Schema::of(Ty::Boolean)),
                    ("gcp_queued_resource", Schema::of(Ty::Boolean)),
                ]),
        ),
        ("_no_missing_accel_warnings", Schema::of(Ty::Boolean)),
        (
            "image_id",
            Schema::new().any_of(vec![
                Schema::of(Ty::String),
                Schema::of(Ty::Object).required(&[]),
                Schema::of(Ty::Null),
            ]),
        ),
        (
            "autostop",
            Schema::new().any_of(vec![
                Schema::of(Ty::Boolean),
                Schema::new().any_of(vec![
                    Schema::of(Ty::String)
                        .pattern("^[0-9]+(m|h|d|w|M|H|D|W)?$")
                        .minimum(0),
                    Schema::of(Ty::Integer),
                ]),
                Schema::of(Ty::Object)
                    .required(&[])
                    .no_additional()
                    .props(vec![
                        ("idle_minutes", Schema::of(Ty::Integer).minimum(0)),
                        ("down", Schema::of(Ty::Boolean)),
                        (
                            "wait_for",
                            Schema::of(Ty::String).case_insensitive_enum(&[
                                "jobs_and_ssh",
                                "jobs",
                                "none",
                            ]),
                        ),
                        ("hook", Schema::of(Ty::String)),
                        ("hook_timeout", Schema::of(Ty::Integer).minimum(1)),
                    ]),
            ]),
        ),
        (
            "priority",
            Schema::of(Ty::Integer).minimum(-1000).maximum(1000),
        ),
        ("priority_class", Schema::of(Ty::String)),
        (
            "_docker_login_config",
            Schema::of(Ty::Object)
                .required(&["username", "password", "server"])
                .no_additional()
                .props(vec![
                    ("username", Schema::of(Ty::String)),
                    ("password", Schema::of(Ty::String)),
                    ("server", Schema::of(Ty::String)),
                ]),
        ),
        ("_is_image_managed", Schema::of(Ty::Boolean)),
        ("_requires_fuse", Schema::of(Ty::Boolean)),
        ("_cluster_config_overrides", Schema::of(Ty::Object)),
    ]);
    if !accelerators_after_memory {
        p.push(("accelerators", accelerators()));
    }
    p
}

pub(super) static RESOURCES_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let entry = || {
        Schema::of(Ty::Array).items(
            Schema::of(Ty::Object)
                .required(&[])
                .no_additional()
                .props(candidate_props(true)),
        )
    };
    let mut props = candidate_props(false);
    props.push(("any_of", entry()));
    props.push(("ordered", entry()));
    Schema::of(Ty::Object)
        .required(&[])
        .no_additional()
        .props(props)
});
