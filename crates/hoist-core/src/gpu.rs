//! GPU requests (`--gpus`) and the choice of the least-used devices.

use crate::spec::InputError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How many GPUs a job asks for, per node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GpuSpec {
    /// No GPU; containers get `NVIDIA_VISIBLE_DEVICES=void`.
    #[default]
    None,
    /// Any N devices; shared hosts prefer the least used.
    Count(u32),
    /// Every device on the host.
    All,
    /// Exactly these device indexes.
    Ids(Vec<u32>),
}

impl GpuSpec {
    /// Number of devices requested, when it is known without asking the host.
    pub fn count(&self) -> Option<u32> {
        match self {
            GpuSpec::None => Some(0),
            GpuSpec::Count(n) => Some(*n),
            GpuSpec::All => None,
            GpuSpec::Ids(ids) => Some(ids.len() as u32),
        }
    }

    /// True when the job asks for at least one GPU.
    pub fn wants_gpu(&self) -> bool {
        !matches!(self, GpuSpec::None)
    }
}

impl fmt::Display for GpuSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuSpec::None => f.write_str("0"),
            GpuSpec::Count(n) => write!(f, "{n}"),
            GpuSpec::All => f.write_str("all"),
            GpuSpec::Ids(ids) => {
                let s: Vec<String> = ids.iter().map(u32::to_string).collect();
                write!(f, "{}", s.join(","))
            }
        }
    }
}

impl FromStr for GpuSpec {
    type Err = InputError;

    /// `0`, `N`, `all`, a comma list of ids (`0,1`, or `3,` for one id), or docker's `device=0,1`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            InputError::new(
                format!("bad --gpus value {raw:?}: {why}"),
                "use 0, a count such as 2, all, or device ids such as 0,1 (one id: device=3)",
            )
        };
        let s = raw.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(GpuSpec::All);
        }
        let (list, explicit) = match s.strip_prefix("device=") {
            Some(rest) => (rest, true),
            None => (s, s.contains(',')),
        };
        if explicit {
            let mut ids = Vec::new();
            // One trailing comma is how a single id is written (`3,`); any other empty slot
            // is a typo, not an id to drop.
            let list = list.strip_suffix(',').unwrap_or(list);
            for part in list.split(',').map(str::trim) {
                if part.is_empty() {
                    return Err(bad("an empty slot between commas"));
                }
                let id: u32 = part
                    .parse()
                    .map_err(|_| bad("device ids are whole numbers"))?;
                if ids.contains(&id) {
                    return Err(bad("a device id is listed twice"));
                }
                ids.push(id);
            }
            if ids.is_empty() {
                return Err(bad("no device id given"));
            }
            return Ok(GpuSpec::Ids(ids));
        }
        match s.parse::<u32>() {
            Ok(0) => Ok(GpuSpec::None),
            Ok(n) => Ok(GpuSpec::Count(n)),
            Err(_) => Err(bad("not a number, 'all' or a list of ids")),
        }
    }
}

/// Whether a GPU model as a user writes it (`A100`, `H100-80GB`) names the model in a
/// platform's label (`NVIDIA-A100-SXM4-80GB`, `nvidia-tesla-a100`, a GRES type `a100_80g`):
/// the model's words must appear together, case aside, so `A10` never matches `A100`.
pub fn model_matches(model: &str, label: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let (m, l) = (words(model), words(label));
    !m.is_empty() && l.windows(m.len()).any(|w| w == m.as_slice())
}

/// One device as `nvidia-smi --query-gpu=index,memory.used,utilization.gpu` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuUsage {
    /// Device index.
    pub index: u32,
    /// Memory in use, MiB.
    pub memory_used_mib: u64,
    /// Utilization, percent.
    pub utilization_pct: u32,
}

/// The query whose output [`parse_nvidia_smi`] reads; shared so that every platform asks the same.
pub const NVIDIA_SMI_QUERY: &[&str] = &[
    "--query-gpu=index,memory.used,utilization.gpu",
    "--format=csv,noheader,nounits",
];

/// Parse the CSV that [`NVIDIA_SMI_QUERY`] produces. Lines it cannot read are reported.
pub fn parse_nvidia_smi(out: &str) -> Result<Vec<GpuUsage>, String> {
    let mut gpus = Vec::new();
    for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let num = |i: usize| -> Option<u64> {
            // "[N/A]" is what nvidia-smi prints for utilization on some MIG/vGPU setups.
            f.get(i).and_then(|v| {
                if v.starts_with('[') {
                    Some(0)
                } else {
                    v.parse().ok()
                }
            })
        };
        match (num(0), num(1), num(2)) {
            (Some(index), Some(mem), Some(util)) => gpus.push(GpuUsage {
                index: index as u32,
                memory_used_mib: mem,
                utilization_pct: util as u32,
            }),
            _ => return Err(format!("unexpected nvidia-smi line: {line:?}")),
        }
    }
    Ok(gpus)
}

/// Resolve a request against the devices present: the `n` least-used for a count (by memory,
/// then utilization, then index), every one for `all`, and the named ones checked to exist.
pub fn choose_gpus(spec: &GpuSpec, present: &[GpuUsage]) -> Result<Vec<u32>, InputError> {
    let have: Vec<u32> = present.iter().map(|g| g.index).collect();
    match spec {
        GpuSpec::None => Ok(vec![]),
        GpuSpec::All => {
            if have.is_empty() {
                Err(InputError::new(
                    "--gpus all was asked for, but the host reports no GPU",
                    "run with --gpus 0, or on a host where nvidia-smi lists devices",
                ))
            } else {
                Ok(have)
            }
        }
        GpuSpec::Ids(ids) => {
            if let Some(missing) = ids.iter().find(|i| !have.contains(i)) {
                return Err(InputError::new(
                    format!(
                        "GPU {missing} was asked for, but the host has {}",
                        describe(&have)
                    ),
                    "pick ids that nvidia-smi lists, or ask for a count",
                ));
            }
            Ok(ids.clone())
        }
        GpuSpec::Count(n) => {
            let n = *n as usize;
            if n > present.len() {
                return Err(InputError::new(
                    format!(
                        "{n} GPUs were asked for, but the host has {}",
                        describe(&have)
                    ),
                    "ask for fewer GPUs, or run on a bigger host",
                ));
            }
            let mut sorted: Vec<&GpuUsage> = present.iter().collect();
            sorted.sort_by_key(|g| (g.memory_used_mib, g.utilization_pct, g.index));
            let mut chosen: Vec<u32> = sorted.into_iter().take(n).map(|g| g.index).collect();
            chosen.sort_unstable();
            Ok(chosen)
        }
    }
}

fn describe(have: &[u32]) -> String {
    match have.len() {
        0 => "none".to_string(),
        1 => format!("1 (id {})", have[0]),
        n => format!(
            "{n} (ids {})",
            have.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_match_on_words() {
        assert!(model_matches("A100", "NVIDIA-A100-SXM4-80GB"));
        assert!(model_matches("a100", "nvidia-tesla-a100"));
        assert!(model_matches("H100-80GB", "NVIDIA-H100-80GB-HBM3"));
        assert!(!model_matches("A10", "NVIDIA-A100-SXM4-80GB"));
        assert!(model_matches("A10G", "nvidia-a10g"));
        assert!(!model_matches("", "a100"));
    }

    #[test]
    fn parses_every_form() {
        assert_eq!("0".parse::<GpuSpec>().ok(), Some(GpuSpec::None));
        assert_eq!("2".parse::<GpuSpec>().ok(), Some(GpuSpec::Count(2)));
        assert_eq!("ALL".parse::<GpuSpec>().ok(), Some(GpuSpec::All));
        assert_eq!(
            "0,1".parse::<GpuSpec>().ok(),
            Some(GpuSpec::Ids(vec![0, 1]))
        );
        assert_eq!("3,".parse::<GpuSpec>().ok(), Some(GpuSpec::Ids(vec![3])));
        assert_eq!(
            "device=2".parse::<GpuSpec>().ok(),
            Some(GpuSpec::Ids(vec![2]))
        );
        for bad in [
            "", "-1", "two", "0,x", "1,1", "device=", "1.5", "0,,1", ",1", "1,,",
        ] {
            let e = bad.parse::<GpuSpec>().expect_err(bad);
            assert!(e.message.contains("--gpus"), "{}", e.message);
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["0", "4", "all", "0,2"] {
            let g: GpuSpec = s.parse().expect(s);
            assert_eq!(g.to_string(), s);
        }
    }

    fn usage(csv: &str) -> Vec<GpuUsage> {
        parse_nvidia_smi(csv).expect("csv")
    }

    #[test]
    fn least_used_first() {
        let present = usage("0, 40000, 90\n1, 10, 0\n2, 10, 5\n3, 500, 0\n");
        assert_eq!(
            choose_gpus(&GpuSpec::Count(2), &present).ok(),
            Some(vec![1, 2])
        );
        assert_eq!(
            choose_gpus(&GpuSpec::Count(3), &present).ok(),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            choose_gpus(&GpuSpec::All, &present).ok(),
            Some(vec![0, 1, 2, 3])
        );
        assert_eq!(
            choose_gpus(&GpuSpec::Ids(vec![0]), &present).ok(),
            Some(vec![0])
        );
        assert!(choose_gpus(&GpuSpec::Count(5), &present).is_err());
        assert!(choose_gpus(&GpuSpec::Ids(vec![7]), &present).is_err());
    }

    #[test]
    fn smi_quirks() {
        assert_eq!(
            usage("0, 12, [N/A]").first().map(|g| g.utilization_pct),
            Some(0)
        );
        assert!(parse_nvidia_smi("garbage").is_err());
        assert!(usage("").is_empty());
    }
}
