//! The `resources` fields that are values with a grammar of their own, parsed and refused
//! with SkyPilot's words: `infra`, `image_id`, sizes (`memory`, `disk_size`), `cpus`, `ports`.

use std::collections::BTreeMap;

use super::accelerators::{python_float, python_int};
use super::pyvalue::{Py, float_repr, str_repr};
use super::resources::err;
use super::{ImageId, TaskError};

/// (cloud, region, zone).
pub(super) type Place = (Option<String>, Option<String>, Option<String>);

/// `InfraInfo.from_str` → (cloud, region, zone), `*` meaning "any".
pub(super) fn parse_infra(infra: &str) -> Result<Place, TaskError> {
    let trimmed = infra.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok((None, None, None));
    }
    let parts: Vec<&str> = trimmed.split('/').map(str::trim).collect();
    if parts.contains(&"") {
        return Err(err(format!(
            "Invalid infra format: {trimmed}. Format should not contain empty parts (e.g., double slashes \"//\")."
        )));
    }
    let cloud = parts[0].to_ascii_lowercase();
    let rest = &parts[1..];
    let (cloud, region, zone) = match cloud.as_str() {
        "k8s" | "kubernetes" => (
            "kubernetes".to_string(),
            (!rest.is_empty()).then(|| rest.join("/")),
            None,
        ),
        "ssh" => (
            "ssh".to_string(),
            (!rest.is_empty()).then(|| format!("ssh-{}", rest.join("/"))),
            None,
        ),
        _ => {
            if rest.len() > 2 {
                return Err(err(format!(
                    "Invalid infra format: {trimmed}. Expected format is \"cloud\", \"cloud/region\", or \"cloud/region/zone\"."
                )));
            }
            (
                cloud,
                rest.first().map(|s| s.to_string()),
                rest.get(1).map(|s| s.to_string()),
            )
        }
    };
    let any = |s: Option<String>| s.filter(|v| v != "*");
    Ok((any(Some(cloud)), any(region), any(zone)))
}

pub(super) fn image_id(v: Option<&Py>, cloud: Option<&str>) -> Result<Option<ImageId>, TaskError> {
    let on_k8s = cloud == Some("kubernetes");
    match v {
        None => Ok(None),
        Some(Py::Str(s)) => {
            let s = s.trim();
            Ok(Some(match s.strip_prefix("docker:") {
                Some(image) => ImageId::Docker(image.to_string()),
                // Kubernetes runs every image as a container: a bare name is a docker image.
                None if on_k8s => ImageId::Docker(s.to_string()),
                None => ImageId::Vm(s.to_string()),
            }))
        }
        Some(Py::Dict(d)) => {
            let docker = d
                .iter()
                .find(|(k, _)| k.as_str() == Some("docker"))
                .map(|(_, v)| {
                    let s = v.py_str();
                    let s = s.trim();
                    s.strip_prefix("docker:").unwrap_or(s).to_string()
                });
            let regions: BTreeMap<String, String> = d
                .iter()
                .filter(|(k, _)| k.as_str() != Some("docker"))
                .map(|(k, v)| (k.py_str().trim().to_string(), v.py_str().trim().to_string()))
                .collect();
            if let Some(image) = docker {
                let prefixed: Vec<String> = regions
                    .iter()
                    .filter(|(_, v)| v.starts_with("docker:"))
                    .map(|(k, v)| format!("{v} (region: {k})"))
                    .collect();
                if !prefixed.is_empty() {
                    return Err(err(format!(
                        "image_id has both a 'docker' key and docker:-prefixed region values: {}. \
                         Please use only one mechanism to specify the Docker image.",
                        prefixed.join(", ")
                    )));
                }
                return Ok(Some(ImageId::Docker(image)));
            }
            if regions.is_empty() {
                return Ok(None);
            }
            Ok(Some(ImageId::PerRegion(regions)))
        }
        Some(_) => Ok(None),
    }
}

/// `parse_memory_resource`: a number, or number + KB/MB/GB/TB/PB (binary units), converted to
/// GB; `integral` = `ret_type=int` (no rounding allowed).
pub(crate) fn parse_memory(
    qty: &Py,
    field: &str,
    allow_plus: bool,
    integral: bool,
) -> Result<String, TaskError> {
    parse_memory_x(qty, field, allow_plus, false, integral)
}

/// `parse_memory` with SkyPilot's internal `x` suffix (memory as a multiple of vCPUs, which
/// its jobs controller uses and a task may write too).
fn parse_memory_x(
    qty: &Py,
    field: &str,
    allow_plus: bool,
    allow_x: bool,
    integral: bool,
) -> Result<String, TaskError> {
    let plus_hint = if allow_plus {
        " or \"<number>+\" for \"at least\""
    } else {
        ""
    };
    let error = || {
        err(format!(
            "\"{field}\" field should be a number (e.g. \"16\") or \"<number><unit>\" where unit is \
             one of KB/MB/GB/TB/PB (e.g. \"16GB\"){plus_hint}. Got: {}",
            qty.repr()
        ))
    };
    let mut s = qty.py_str();
    let mut plus = "";
    if let Some(stripped) = s.strip_suffix('+') {
        if !allow_plus {
            return Err(error());
        }
        s = stripped.to_string();
        plus = "+";
    }
    let mut x = "";
    if let Some(stripped) = s.strip_suffix('x') {
        if !allow_x {
            return Err(error());
        }
        s = stripped.to_string();
        x = "x";
    }
    let number = |t: &str| -> Option<f64> {
        if integral {
            python_int(t).map(|i| i as f64)
        } else {
            python_float(t)
        }
    };
    if number(&s).is_some() {
        return Ok(format!("{s}{plus}{x}"));
    }
    let lower = s.to_lowercase();
    const UNITS: &[(&str, f64)] = &[
        ("kb", 1024.0),
        ("ki", 1024.0),
        ("mb", 1_048_576.0),
        ("mi", 1_048_576.0),
        ("gb", 1_073_741_824.0),
        ("gi", 1_073_741_824.0),
        ("tb", 1_099_511_627_776.0),
        ("ti", 1_099_511_627_776.0),
        ("pb", 1_125_899_906_842_624.0),
        ("pi", 1_125_899_906_842_624.0),
    ];
    for (unit, mult) in UNITS {
        if let Some(head) = lower.strip_suffix(unit)
            && let Some(v) = number(head)
        {
            let converted = v * mult / 1_073_741_824.0;
            if integral {
                if converted.fract() != 0.0 {
                    continue;
                }
                return Ok(format!("{}{plus}{x}", converted as i64));
            }
            return Ok(format!("{}{plus}{x}", float_repr(converted)));
        }
    }
    Err(error())
}

pub(super) fn cpus(v: &Py) -> Result<String, TaskError> {
    let text = v.py_str();
    let n = match v {
        Py::Str(s) => python_float(s.strip_suffix('+').unwrap_or(s)).ok_or_else(|| {
            err(format!(
                "The \"cpus\" field should be either a number or a string \"<number>+\". Found: {}",
                v.repr()
            ))
        })?,
        other => other.as_number().unwrap_or(0.0),
    };
    if n <= 0.0 {
        return Err(err(format!(
            "The \"cpus\" field should be positive. Found: {}",
            // SkyPilot quotes the stringified value here.
            str_repr(&text)
        )));
    }
    Ok(text)
}

pub(super) fn memory(v: &Py, slurm: bool) -> Result<String, TaskError> {
    let parsed = parse_memory_x(&Py::Str(v.py_str()), "memory", true, true, false).map_err(|_| {
        // The message quotes the value as given (SkyPilot passes `str(memory)` in).
        err(format!(
            "\"memory\" field should be a number (e.g. \"16\") or \"<number><unit>\" where unit is \
             one of KB/MB/GB/TB/PB (e.g. \"16GB\") or \"<number>+\" for \"at least\". Got: {}",
            str_repr(&v.py_str())
        ))
    })?;
    let number = parsed
        .strip_suffix('+')
        .or_else(|| parsed.strip_suffix('x'))
        .unwrap_or(&parsed);
    let gb = python_float(number).unwrap_or(0.0);
    if gb < 0.0 || (gb == 0.0 && !slurm) {
        return Err(err(format!(
            "The \"memory\" field should be positive. Found: {}",
            str_repr(&parsed)
        )));
    }
    Ok(parsed)
}

/// Ports as SkyPilot stores them: every token checked, then merged into sorted ranges.
pub(super) fn ports(v: &Py) -> Result<Vec<String>, TaskError> {
    let items: Vec<String> = match v {
        Py::List(items) => items.iter().map(Py::py_str).collect(),
        other => vec![other.py_str()],
    };
    let mut set: Vec<u32> = Vec::new();
    for item in &items {
        for token in item.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if token.chars().all(|c| c.is_ascii_digit()) {
                set.push(check_port(token, token)?);
            } else {
                let bad_range = || {
                    err(format!(
                        "Invalid port range {token}. Please use the format \"from-to\", in which \
                         from <= to. e.g. \"1-3\"."
                    ))
                };
                let bounds: Vec<&str> = token.split('-').collect();
                let [from, to] = bounds.as_slice() else {
                    return Err(bad_range());
                };
                let (from, to) = (check_port(from, from)?, check_port(to, to)?);
                if from > to {
                    return Err(bad_range());
                }
                set.extend(from..=to);
            }
        }
    }
    set.sort_unstable();
    set.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < set.len() {
        let start = set[i];
        let mut end = start;
        while i + 1 < set.len() && set[i + 1] == end + 1 {
            i += 1;
            end = set[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    Ok(out)
}

fn check_port(port: &str, shown: &str) -> Result<u32, TaskError> {
    let bad = || {
        err(format!(
            "Invalid port {shown}. Please use a port number between 1 and 65535."
        ))
    };
    if port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}
