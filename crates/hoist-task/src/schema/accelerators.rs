//! `resources.accelerators`: the string, mapping and list forms, turned into the ordered
//! candidate list SkyPilot builds (`Resources.from_yaml_config`, `_set_accelerators`).

use std::sync::LazyLock;

use regex::Regex;

use super::pyvalue::{Py, float_repr, str_repr};
use super::{Accelerator, TaskError};

/// A GPU memory selector (`80GB`, `24GB+`): SkyPilot expands it through its catalog.
static MEMORY_SELECTOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]+[GgMmTt][Bb]\+?$").expect("static regex"));

fn err(message: String) -> TaskError {
    TaskError {
        message,
        line: None,
        column: None,
    }
}

/// One candidate string (`A100`, `A100:8`, `K80:0.5`, `NVIDIA:80GB+:8`, `80GB:4`) → accelerator.
///
/// Memory selectors stay as written in `name` (`NVIDIA:80GB+`, `80GB+`): SkyPilot resolves them
/// against its GPU catalog, which hoist does not have; the launcher decides what they mean.
pub fn parse_accelerator(s: &str) -> Result<Accelerator, TaskError> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [manufacturer, memory, count] => {
            let n = python_int(count).ok_or_else(|| {
                err(format!(
                    "invalid literal for int() with base 10: {}",
                    str_repr(count)
                ))
            })?;
            if !MEMORY_SELECTOR.is_match(memory) {
                // SkyPilot asserts this (and its message lacks the space, verbatim).
                return Err(err(
                    "If specifying a GPU manufacturer, you must alsospecify the memory size".into(),
                ));
            }
            check_memory_selector(memory)?;
            positive(&format!("{manufacturer}:{memory}"), n as f64)
        }
        [memory, count] if MEMORY_SELECTOR.is_match(memory) => {
            let n = python_int(count).ok_or_else(|| {
                err(format!(
                    "invalid literal for int() with base 10: {}",
                    str_repr(count)
                ))
            })?;
            check_memory_selector(memory)?;
            positive(memory, n as f64)
        }
        [_, memory] if MEMORY_SELECTOR.is_match(memory) => {
            check_memory_selector(memory)?;
            positive(s, 1.0)
        }
        [name] => positive(name, 1.0),
        [name, count] => {
            let parse_error = || {
                err(format!(
                    "The \"accelerators\" field as a str should be <name> or <name>:<cnt>. Found: {}",
                    str_repr(s)
                ))
            };
            let n = python_float(count).ok_or_else(parse_error)?;
            positive(name, n)
        }
        _ => Err(err(format!(
            "The \"accelerators\" field as a str should be <name> or <name>:<cnt>. Found: {}",
            str_repr(s)
        ))),
    }
}

/// `80GB`, `24gb+`: a GPU memory selector rather than a GPU name.
pub(crate) fn is_memory_selector(s: &str) -> bool {
    MEMORY_SELECTOR.is_match(s)
}

fn positive(name: &str, count: f64) -> Result<Accelerator, TaskError> {
    // `count <= 0` is false for NaN in Python too, so NaN slips through there as here.
    if count <= 0.0 {
        return Err(err(format!(
            "Accelerator count must be a positive number. Got: {}: {}.",
            str_repr(name),
            count_repr(count)
        )));
    }
    Ok(Accelerator {
        name: name.to_string(),
        count,
    })
}

/// SkyPilot turns integral counts back into ints (`8.0` → `8`) before quoting them.
fn count_repr(count: f64) -> String {
    if count.is_finite() && count.fract() == 0.0 {
        format!("{}", count as i64)
    } else {
        float_repr(count)
    }
}

/// `parse_memory_resource(memory, 'accelerators', allow_plus=True)`: the selector's size must
/// convert to whole GB.
fn check_memory_selector(memory: &str) -> Result<(), TaskError> {
    super::resources::parse_memory(&Py::Str(memory.to_string()), "accelerators", true, false)
        .map(|_| ())
}

/// Python's `int(str)`: optional sign, digits with single underscores, surrounding spaces.
pub(crate) fn python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body.is_empty()
        || body.starts_with('_')
        || body.ends_with('_')
        || body.contains("__")
        || !body.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    t.replace('_', "").parse().ok()
}

/// Python's `float(str)`: also `inf`, `nan`, `1e3`, `1_000.5`, surrounding spaces.
pub(crate) fn python_float(s: &str) -> Option<f64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let negative = lower.starts_with('-');
    match body {
        "inf" | "infinity" => {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    // Underscores are allowed only between digits.
    let bytes = t.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'_' {
            let before = i.checked_sub(1).and_then(|p| bytes.get(p));
            let after = bytes.get(i + 1);
            if !before.is_some_and(u8::is_ascii_digit) || !after.is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
    }
    let cleaned = t.replace('_', "");
    if !cleaned
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        return None;
    }
    cleaned.parse().ok()
}

/// A TPU forces GCP (or GKE for the GKE slice names) in SkyPilot.
pub(crate) fn is_tpu(name: &str) -> bool {
    name.to_ascii_lowercase().contains("tpu")
}

/// TPU names GKE serves; SkyPilot sends these to Kubernetes instead of GCP.
pub(crate) fn is_gke_tpu(name: &str) -> bool {
    matches!(
        name,
        "tpu-v4-podslice"
            | "tpu-v5-lite-device"
            | "tpu-v5-lite-podslice"
            | "tpu-v5p-slice"
            | "tpu-v6e-slice"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(name: &str, count: f64) -> Accelerator {
        Accelerator {
            name: name.into(),
            count,
        }
    }

    #[test]
    fn string_forms() {
        assert_eq!(parse_accelerator("A100").ok(), Some(acc("A100", 1.0)));
        assert_eq!(parse_accelerator("A100:8").ok(), Some(acc("A100", 8.0)));
        assert_eq!(parse_accelerator("K80:0.5").ok(), Some(acc("K80", 0.5)));
        assert_eq!(
            parse_accelerator("NVIDIA:80GB+:8").ok(),
            Some(acc("NVIDIA:80GB+", 8.0))
        );
        assert_eq!(parse_accelerator("80GB:4").ok(), Some(acc("80GB", 4.0)));
        assert_eq!(parse_accelerator("24GB+").ok(), Some(acc("24GB+", 1.0)));
    }

    #[test]
    fn bad_strings_are_worded_like_skypilot() {
        assert_eq!(
            parse_accelerator("A100:x").map_err(|e| e.message),
            Err("The \"accelerators\" field as a str should be <name> or <name>:<cnt>. Found: 'A100:x'".into())
        );
        assert_eq!(
            parse_accelerator("A100:0").map_err(|e| e.message),
            Err("Accelerator count must be a positive number. Got: 'A100': 0.".into())
        );
        assert_eq!(
            parse_accelerator("A100:-0.5").map_err(|e| e.message),
            Err("Accelerator count must be a positive number. Got: 'A100': -0.5.".into())
        );
        assert!(parse_accelerator("A100:8:2").is_err());
        assert!(parse_accelerator("a:b:c:d").is_err());
    }

    #[test]
    fn python_number_parsing() {
        assert_eq!(python_float("1_0.5"), Some(10.5));
        assert_eq!(python_float(" 2 "), Some(2.0));
        assert_eq!(python_float("x"), None);
        assert_eq!(python_float("1__0"), None);
        assert_eq!(python_int("8"), Some(8));
        assert_eq!(python_int("8.0"), None);
    }
}
