//! `resources`: validated separately from the task (SkyPilot's `get_resources_schema`), then
//! read field by field in the order `Resources.__init__` checks them, so the first error a
//! user sees is the one SkyPilot would show.

use std::collections::BTreeMap;

use super::accelerators::{is_gke_tpu, is_tpu, parse_accelerator};
use super::jsonschema::validate;
use super::pyvalue::{Py, str_repr};
pub(crate) use super::resource_fields::parse_memory;
use super::resource_fields::{cpus, image_id, memory, parse_infra, ports};
pub(crate) use super::resources_schema::size_schema;
use super::resources_schema::{RESOURCES_SCHEMA, cluster_cloud, display};
use super::{Accelerator, ImageId, Resources, TaskError};

pub(super) fn err(message: String) -> TaskError {
    TaskError {
        message,
        line: None,
        column: None,
    }
}

fn dict_get<'a>(d: &'a [(Py, Py)], key: &str) -> Option<&'a Py> {
    d.iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Py::None))
}

/// `resources` of a task (null/absent = `{}`) → the flattened [`Resources`].
pub(crate) fn from_yaml(config: &Py) -> Result<Resources, TaskError> {
    let mut entries: Vec<(Py, Py)> = match config {
        Py::Dict(d) => d.clone(),
        _ => Vec::new(),
    };
    apply_aliases(&mut entries)?;
    for list_key in ["any_of", "ordered"] {
        if let Some((_, Py::List(items))) = entries
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some(list_key))
        {
            for item in items.iter_mut() {
                if let Py::Dict(d) = item {
                    apply_aliases(d)?;
                }
            }
        }
    }
    from_config(entries)
}

/// `gpus` is an alias of `accelerators`.
fn apply_aliases(d: &mut Vec<(Py, Py)>) -> Result<(), TaskError> {
    if let Some(pos) = d.iter().position(|(k, _)| k.as_str() == Some("gpus")) {
        if d.iter().any(|(k, _)| k.as_str() == Some("accelerators")) {
            return Err(err(
                "Cannot specify both gpus and accelerators in config.".into()
            ));
        }
        let (_, v) = d.remove(pos);
        d.push((Py::Str("accelerators".into()), v));
    }
    Ok(())
}

fn from_config(entries: Vec<(Py, Py)>) -> Result<Resources, TaskError> {
    let config = Py::Dict(entries);
    validate(&config, &RESOURCES_SCHEMA, "Invalid resources YAML: ")?;
    let Py::Dict(mut base) = config else {
        return Ok(Resources::default());
    };
    let take = |base: &mut Vec<(Py, Py)>, key: &str| {
        base.iter()
            .position(|(k, _)| k.as_str() == Some(key))
            .map(|p| base.remove(p).1)
            .filter(|v| !matches!(v, Py::None))
    };
    let any_of = take(&mut base, "any_of");
    let ordered = take(&mut base, "ordered");
    if any_of.is_some() && ordered.is_some() {
        return Err(err(
            "Cannot specify both \"any_of\" and \"ordered\" in resources.".into(),
        ));
    }
    let accelerators = dict_get(&base, "accelerators").cloned();
    let mut strings = Vec::new();
    if !base.is_empty()
        && let Some(acc) = &accelerators
    {
        strings = candidate_strings(acc)?;
        if strings.len() > 1 && ordered.as_ref().is_some_and(Py::truthy) {
            return Err(err(
                "Cannot specify multiple \"accelerators\" with \"ordered\" in resources.".into(),
            ));
        }
        if strings.len() > 1
            && any_of.as_ref().is_some_and(Py::truthy)
            && matches!(acc, Py::List(_))
        {
            return Err(err("Cannot specify multiple \"accelerators\" with preferred order (i.e., list of accelerators) with \"any_of\" in resources.".into()));
        }
    }

    let (label, overrides) = match (any_of, ordered) {
        (Some(a), _) => ("any_of", a),
        (None, Some(o)) => ("ordered", o),
        (None, None) => ("", Py::None),
    };
    if let Py::List(items) = &overrides
        && !items.is_empty()
    {
        return merge_overrides(&base, items, label);
    }

    let mut out = single(&base, strings.first().map(String::as_str))?;
    for s in strings.iter().skip(1) {
        // Every candidate is built (and can fail) in SkyPilot; only its accelerator differs.
        let other = single(&base, Some(s))?;
        out.accelerators.extend(other.accelerators);
        for c in other.cloud_only {
            if !out.cloud_only.contains(&c) {
                out.cloud_only.push(c);
            }
        }
    }
    Ok(out)
}

/// `any_of` / `ordered`: each entry is the base with the entry's fields laid over it (labels
/// merged key-wise), loaded again.
fn merge_overrides(base: &[(Py, Py)], items: &[Py], label: &str) -> Result<Resources, TaskError> {
    let mut out = single(base, None)?;
    let base_cloud_only = out.cloud_only.clone();
    out.accelerators.clear();
    for (i, item) in items.iter().enumerate() {
        let Py::Dict(over) = item else { continue };
        let mut merged: Vec<(Py, Py)> = base.to_vec();
        let mut over = over.clone();
        let pins_cloud = over
            .iter()
            .any(|(k, _)| matches!(k.as_str(), Some("infra" | "cloud")));
        let over_labels = over
            .iter()
            .position(|(k, _)| k.as_str() == Some("labels"))
            .map(|p| over.remove(p).1);
        for (k, v) in over {
            match merged.iter_mut().find(|(mk, _)| mk.py_eq(&k)) {
                Some(slot) => slot.1 = v,
                None => merged.push((k, v)),
            }
        }
        let labels = match (dict_get(base, "labels"), over_labels) {
            (Some(Py::Dict(b)), Some(Py::Dict(o))) => {
                let mut l = b.clone();
                for (k, v) in o {
                    match l.iter_mut().find(|(lk, _)| lk.py_eq(&k)) {
                        Some(slot) => slot.1 = v,
                        None => l.push((k, v)),
                    }
                }
                Py::Dict(l)
            }
            (_, Some(o)) => o,
            (Some(b), None) => b.clone(),
            (None, None) => Py::None,
        };
        match merged
            .iter_mut()
            .find(|(k, _)| k.as_str() == Some("labels"))
        {
            Some(slot) => slot.1 = labels,
            None => merged.push((Py::Str("labels".into()), labels)),
        }
        let entry = from_config(merged)?;
        for a in entry.accelerators {
            if !out.accelerators.contains(&a) {
                out.accelerators.push(a);
            }
        }
        for c in entry.cloud_only {
            if base_cloud_only.contains(&c) {
                continue;
            }
            let renamed = c.replacen("resources.", &format!("resources.{label}[{i}]."), 1);
            if !out.cloud_only.contains(&renamed) {
                out.cloud_only.push(renamed);
            }
        }
        // The launcher only reads the base infra; an entry pinning a public cloud needs one.
        if let Some(cloud) = entry.cloud
            && !cluster_cloud(&cloud)
            && pins_cloud
        {
            let note = format!("resources.{label}[{i}].infra ({cloud})");
            if !out.cloud_only.contains(&note) {
                out.cloud_only.push(note);
            }
        }
    }
    Ok(out)
}

/// The accelerator strings SkyPilot derives from the field, deduplicated in first-seen order.
/// Memory selectors are checked here, as `_parse_accelerators_from_str` does before any
/// `Resources` is built; names and counts are checked when each candidate is built.
fn candidate_strings(value: &Py) -> Result<Vec<String>, TaskError> {
    let strings: Vec<String> = match value {
        Py::Str(s) => vec![s.clone()],
        Py::Dict(d) => d
            .iter()
            .map(|(k, v)| match v {
                Py::None => k.py_str(),
                v => format!("{}:{}", k.py_str(), v.py_str()),
            })
            .collect(),
        Py::List(items) => items.iter().map(Py::py_str).collect(),
        other => vec![other.py_str()],
    };
    let mut out: Vec<String> = Vec::new();
    for s in strings {
        let parts: Vec<&str> = s.split(':').collect();
        let memory_form = match parts.as_slice() {
            [_, _, _] => true,
            [a, b] => is_memory(a) || is_memory(b),
            [a] => is_memory(a),
            _ => false,
        };
        if memory_form {
            parse_accelerator(&s)?;
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

fn is_memory(s: &str) -> bool {
    super::accelerators::is_memory_selector(s)
}

/// One `Resources(...)` construction: the checks of `Resources.__init__`, in its order.
fn single(base: &[(Py, Py)], accelerator: Option<&str>) -> Result<Resources, TaskError> {
    let get = |k: &str| dict_get(base, k);
    let string = |k: &str| get(k).and_then(Py::as_str).map(str::to_string);
    let mut r = Resources::default();
    let mut cloud_only = Vec::new();

    let infra = string("infra");
    let cloud_field = string("cloud").map(|c| c.to_ascii_lowercase());
    let region_field = string("region");
    let zone_field = string("zone");
    if let Some(infra) = &infra
        && (cloud_field.is_some() || region_field.is_some() || zone_field.is_some())
    {
        return Err(err(format!(
            "Cannot specify both `infra` and `cloud`, `region`, or `zone` parameters. \
             Got: infra={infra}, cloud={}, region={}, zone={}",
            cloud_field.as_deref().map_or("None", display),
            region_field.as_deref().unwrap_or("None"),
            zone_field.as_deref().unwrap_or("None"),
        )));
    }
    let (cloud, region, zone) = match &infra {
        Some(i) => parse_infra(i)?,
        None => (cloud_field, region_field.clone(), zone_field.clone()),
    };
    // Explicit region/zone pins a public cloud's placement unless the cloud is a cluster one.
    let pins_place = !cloud.as_deref().is_some_and(cluster_cloud);
    if pins_place && (infra.is_none() || cloud.is_none()) {
        if region.is_some() {
            cloud_only.push("resources.region".to_string());
        }
        if zone.is_some() {
            cloud_only.push("resources.zone".to_string());
        }
    }
    r.infra = infra;
    r.region = region;
    r.zone = zone;

    r.instance_type = string("instance_type");
    if r.instance_type.is_some() {
        cloud_only.push("resources.instance_type".into());
    }
    r.use_spot = matches!(get("use_spot"), Some(Py::Bool(true)));
    if r.use_spot {
        cloud_only.push("resources.use_spot".into());
    }
    let job_recovery = get("job_recovery");

    if let Some(d) = get("disk_size") {
        // SkyPilot hands the stringified value on, so messages quote it as a string.
        let parsed = parse_memory(&Py::Str(d.py_str()), "disk_size", false, true)?;
        let gb: i64 = parsed.parse().unwrap_or(0);
        if gb <= 0 {
            return Err(err(format!(
                "\"disk_size\" must be a positive integer (in GB). Got: {}.",
                str_repr(&d.py_str())
            )));
        }
        // 256 GB is SkyPilot's default: asking for it says nothing.
        r.disk_size = (gb != 256).then_some(gb as u64);
    }

    r.image_id = image_id(get("image_id"), cloud.as_deref())?;
    if matches!(
        r.image_id,
        Some(ImageId::Vm(_)) | Some(ImageId::PerRegion(_))
    ) || matches!(get("image_id"), Some(Py::Dict(d)) if d.iter().any(|(k, _)| k.as_str() != Some("docker")))
    {
        cloud_only.push("resources.image_id (a VM image)".into());
    }

    if let Some(t) = get("disk_tier").and_then(Py::as_str) {
        let lower = t.to_lowercase();
        if !["low", "medium", "high", "ultra", "best"].contains(&lower.as_str()) {
            return Err(err(format!(
                "Invalid disk_tier {}. Disk tier must be one of low, medium, high, ultra, best.",
                str_repr(&lower)
            )));
        }
        cloud_only.push("resources.disk_tier".into());
    }
    if let Some(t) = get("network_tier").and_then(Py::as_str) {
        let lower = t.to_lowercase();
        if !["standard", "best"].contains(&lower.as_str()) {
            return Err(err(format!(
                "Invalid network_tier {}. Network tier must be one of standard, best.",
                str_repr(&lower)
            )));
        }
        if lower == "best" {
            cloud_only.push("resources.network_tier (best)".into());
        }
    }
    if let Some(p) = get("ports") {
        r.ports = ports(p)?;
    }
    if let Some(Py::Dict(labels)) = get("labels") {
        r.labels = labels
            .iter()
            .map(|(k, v)| (k.py_str(), v.py_str()))
            .collect::<BTreeMap<_, _>>();
    }
    if let Some(c) = get("cpus") {
        r.cpus = Some(cpus(c)?);
    }
    if let Some(m) = get("memory") {
        r.memory = Some(memory(m, cloud.as_deref() == Some("slurm"))?);
    }

    let mut cloud = cloud;
    if let Some(s) = accelerator {
        let acc: Accelerator = parse_accelerator(s)?;
        if is_tpu(&acc.name) {
            match cloud.as_deref() {
                None if is_gke_tpu(&acc.name) => cloud = Some("kubernetes".into()),
                None => cloud = Some("gcp".into()),
                Some("gcp" | "kubernetes") => {}
                Some(_) => {
                    return Err(err(
                        "Cloud must be GCP or Kubernetes for TPU accelerators.".into()
                    ));
                }
            }
            if cloud.as_deref() == Some("gcp") {
                cloud_only.push(format!("resources.accelerators (TPU {})", acc.name));
            }
        }
        r.accelerators.push(acc);
    }
    r.cloud = cloud;

    if get("accelerator_args").is_some() {
        cloud_only.push("resources.accelerator_args".into());
    }
    if job_recovery.is_some() {
        cloud_only.push("resources.job_recovery".into());
    }
    r.autostop = get("autostop").map(Py::to_json);
    r.cloud_only = cloud_only;
    // A null-valued unknown key passes the schema and is then left over in SkyPilot.
    let known = RESOURCES_SCHEMA.property_names();
    if let Some(keys) = super::pyvalue::leftover_keys(base, &known) {
        return Err(err(format!("Invalid resource args: {keys}")));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Resources, TaskError> {
        let docs = super::super::yaml::load_all(yaml, "t").expect("yaml");
        from_yaml(docs.first().unwrap_or(&Py::None))
    }

    fn msg(yaml: &str) -> String {
        load(yaml).expect_err("should fail").message
    }

    #[test]
    fn cpus_memory_disk_normalise_like_skypilot() {
        let r = load("cpus: 4+\nmemory: 64GB\ndisk_size: 1TB\n").expect("ok");
        assert_eq!(r.cpus.as_deref(), Some("4+"));
        assert_eq!(r.memory.as_deref(), Some("64.0"));
        assert_eq!(r.disk_size, Some(1024));
        let r = load("cpus: 8\nmemory: 32+\ndisk_size: 256\n").expect("ok");
        assert_eq!(r.cpus.as_deref(), Some("8"));
        assert_eq!(r.memory.as_deref(), Some("32+"));
        assert_eq!(r.disk_size, None);
    }

    #[test]
    fn cpus_and_memory_errors() {
        assert_eq!(
            msg("cpus: lots\n"),
            "The \"cpus\" field should be either a number or a string \"<number>+\". Found: 'lots'"
        );
        assert_eq!(
            msg("memory: 0\n"),
            "The \"memory\" field should be positive. Found: '0'"
        );
        assert!(load("infra: slurm\nmemory: 0\n").is_ok());
    }

    #[test]
    fn infra_and_cloud_conflict() {
        assert_eq!(
            msg("infra: aws\ncloud: aws\n"),
            "Cannot specify both `infra` and `cloud`, `region`, or `zone` parameters. Got: infra=aws, cloud=AWS, region=None, zone=None"
        );
    }

    #[test]
    fn infra_parses_clouds_contexts_and_wildcards() {
        let r = load("infra: k8s/my-ctx/with/slash\n").expect("ok");
        assert_eq!(r.cloud.as_deref(), Some("kubernetes"));
        assert_eq!(r.region.as_deref(), Some("my-ctx/with/slash"));
        assert!(r.cloud_only.is_empty());
        let r = load("infra: aws/us-east-1/us-east-1a\n").expect("ok");
        assert_eq!(
            (r.cloud.as_deref(), r.region.as_deref(), r.zone.as_deref()),
            (Some("aws"), Some("us-east-1"), Some("us-east-1a"))
        );
        let r = load("infra: '*/us-east-1'\n").expect("ok");
        assert_eq!(r.cloud, None);
        assert_eq!(r.cloud_only, vec!["resources.region".to_string()]);
    }

    #[test]
    fn any_of_and_ordered_together() {
        assert_eq!(
            msg("any_of:\n  - cpus: 2\nordered:\n  - cpus: 4\n"),
            "Cannot specify both \"any_of\" and \"ordered\" in resources."
        );
    }

    #[test]
    fn accelerator_forms_keep_order() {
        let names = |y: &str| {
            load(y)
                .expect("ok")
                .accelerators
                .into_iter()
                .map(|a| format!("{}:{}", a.name, a.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(names("accelerators: A100:8\n"), ["A100:8"]);
        assert_eq!(
            names("accelerators: {A100: 8, H100: 8}\n"),
            ["A100:8", "H100:8"]
        );
        assert_eq!(names("accelerators: {L4, A10}\n"), ["L4:1", "A10:1"]);
        assert_eq!(
            names("accelerators: ['H100:8', 'A100:8']\n"),
            ["H100:8", "A100:8"]
        );
        assert_eq!(names("gpus: T4\n"), ["T4:1"]);
        assert_eq!(
            names("accelerators: A100:8\nany_of:\n  - infra: k8s\n  - accelerators: H100:8\n"),
            ["A100:8", "H100:8"]
        );
        assert_eq!(
            msg("accelerators:\n  - T4: 1\n"),
            "Invalid resources YAML: {'T4': 1} is not of type 'string'. Check problematic field(s): $.accelerators[0]"
        );
        assert_eq!(
            msg("gpus: T4\naccelerators: T4\n"),
            "Cannot specify both gpus and accelerators in config."
        );
    }

    #[test]
    fn tpus_and_cloud_features_are_recorded() {
        let r = load("accelerators: tpu-v4-8\n").expect("ok");
        assert_eq!(r.cloud.as_deref(), Some("gcp"));
        assert_eq!(r.cloud_only, ["resources.accelerators (TPU tpu-v4-8)"]);
        let r = load("accelerators: tpu-v5-lite-podslice:4\n").expect("ok");
        assert_eq!(r.cloud.as_deref(), Some("kubernetes"));
        assert!(r.cloud_only.is_empty());
        let r = load(
            "instance_type: p3.2xlarge\nuse_spot: true\nregion: us-east-1\ndisk_tier: high\n\
             network_tier: best\njob_recovery: FAILOVER\nimage_id: ami-123\n",
        )
        .expect("ok");
        assert_eq!(
            r.cloud_only,
            [
                "resources.region",
                "resources.instance_type",
                "resources.use_spot",
                "resources.image_id (a VM image)",
                "resources.disk_tier",
                "resources.network_tier (best)",
                "resources.job_recovery"
            ]
        );
    }

    #[test]
    fn image_id_forms() {
        let r = load("image_id: docker:nvcr.io/nvidia/pytorch:24.07-py3\n").expect("ok");
        assert_eq!(
            r.image_id,
            Some(ImageId::Docker("nvcr.io/nvidia/pytorch:24.07-py3".into()))
        );
        let r = load("infra: k8s\nimage_id: ubuntu:22.04\n").expect("ok");
        assert_eq!(r.image_id, Some(ImageId::Docker("ubuntu:22.04".into())));
        let r = load("image_id: {docker: 'docker:img'}\n").expect("ok");
        assert_eq!(r.image_id, Some(ImageId::Docker("img".into())));
        assert!(r.cloud_only.is_empty());
        let r = load("image_id: {us-east-1: ami-1, us-west-2: ami-2}\n").expect("ok");
        assert!(matches!(r.image_id, Some(ImageId::PerRegion(ref m)) if m.len() == 2));
        assert!(
            msg("image_id: {us-east-1: 'docker:a', docker: b}\n")
                .starts_with("image_id has both a 'docker' key")
        );
    }

    #[test]
    fn ports_merge_into_ranges() {
        let r = load("ports: [8080, '9000-9010', '7000,7001']\n").expect("ok");
        assert_eq!(r.ports, ["7000-7001", "8080", "9000-9010"]);
        assert_eq!(
            msg("ports: 70000\n"),
            "Invalid port 70000. Please use a port number between 1 and 65535."
        );
        assert!(msg("ports: '9-3'\n").starts_with("Invalid port range 9-3."));
    }

    #[test]
    fn unknown_resource_fields() {
        assert_eq!(
            msg("accelerator: A100\n"),
            "Invalid resources YAML: Instead of 'accelerator', did you mean 'accelerators'?"
        );
        assert_eq!(
            msg("gpu_type: A100\n"),
            "Invalid resources YAML: Found unsupported field 'gpu_type'."
        );
    }
}
