//! The Lepton flags of `hoist run`, read into settings. `--mount` (the docker platform's flag)
//! and `--image-pull-secret` (Kubernetes') mean the same settings here: the library hands
//! them to every platform that declares them.

use hoist_core::InputError;
use hoist_core::settings::SettingsMap;
use serde_json::Value;

/// Lepton's `hoist run` flags.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Lepton")]
#[group(id = "lepton_flags")]
pub struct Flags {
    /// Lepton: dedicated node group to run in (name or id).
    #[arg(long = "node-group", id = "lepton_node_group", value_name = "NAME")]
    pub node_group: Option<String>,
    /// Lepton: resource shape of each worker (default: resolved from --gpus).
    #[arg(
        long = "resource-shape",
        id = "lepton_resource_shape",
        value_name = "SHAPE"
    )]
    pub resource_shape: Option<String>,
}

/// Add the flags to a command.
pub fn augment(cmd: clap::Command) -> clap::Command {
    <Flags as clap::Args>::augment_args(cmd)
}

/// The flags that were given, keyed by setting.
pub fn read(m: &clap::ArgMatches) -> Result<SettingsMap, InputError> {
    let mut out = SettingsMap::new();
    for (id, key, flag) in [
        ("lepton_node_group", "node_group", "--node-group"),
        (
            "lepton_resource_shape",
            "resource_shape",
            "--resource-shape",
        ),
    ] {
        if let Some(v) = m.try_get_one::<String>(id).ok().flatten() {
            let v = v.trim();
            if v.is_empty() {
                return Err(InputError::new(
                    format!("{flag} is empty"),
                    format!("give a value, or leave {flag} out"),
                ));
            }
            out.insert(key.into(), Value::String(v.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_flags_become_settings() {
        let m = hoist_testkit::parse_flags(
            augment,
            read,
            &[
                "--node-group",
                "my-h100s",
                "--resource-shape",
                "gpu.8xh100-sxm",
            ],
        )
        .expect("read");
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"node_group": "my-h100s", "resource_shape": "gpu.8xh100-sxm"})
        );
        for flag in [
            "--node-group",
            "--resource-shape",
            "--mount",
            "--image-pull-secret",
        ] {
            assert!(
                crate::settings::SETTINGS
                    .iter()
                    .any(|d| d.flag == Some(flag)),
                "{flag}"
            );
        }
    }
}
