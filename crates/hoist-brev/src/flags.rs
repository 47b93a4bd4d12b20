//! The Brev flags of `hoist run`, read into settings. The container flags (`--mount`,
//! `--pull`, `--shm-size`, `--user`, `--rm`, `--network`) are the docker platform's, and mean
//! the same here: the library hands them to every platform that declares those settings.

use crate::cli::check_name;
use hoist_core::InputError;
use hoist_core::settings::SettingsMap;
use serde_json::Value;

/// Brev's `hoist run` flags.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Brev")]
#[group(id = "brev_flags")]
pub struct Flags {
    /// Brev: instance to run on (reused when it exists, a stopped one started; else created
    /// with this name; default hoist-<job id>).
    #[arg(long = "instance", id = "brev_instance", value_name = "NAME")]
    pub instance: Option<String>,
    /// Brev: GPU model of an instance hoist creates (brev create --gpu-name: A100, H100 …).
    #[arg(long = "gpu-type", id = "brev_gpu_type", value_name = "GPU")]
    pub gpu_type: Option<String>,
    /// Brev: machine type of an instance hoist creates (brev create --type, e.g. g5.xlarge).
    #[arg(long = "instance-type", id = "brev_instance_type", value_name = "TYPE")]
    pub instance_type: Option<String>,
    /// Brev: delete an instance hoist created once its last job ends.
    #[arg(long = "delete-instance", id = "brev_delete_instance")]
    pub delete_instance: bool,
}

/// Add the flags to a command.
pub fn augment(cmd: clap::Command) -> clap::Command {
    <Flags as clap::Args>::augment_args(cmd)
}

/// The flags that were given, keyed by setting.
pub fn read(m: &clap::ArgMatches) -> Result<SettingsMap, InputError> {
    let mut out = SettingsMap::new();
    let get = |id: &str| {
        m.try_get_one::<String>(id)
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
    };
    for (id, key, flag) in [
        ("brev_instance", "instance", "--instance"),
        ("brev_gpu_type", "gpu_type", "--gpu-type"),
        ("brev_instance_type", "instance_type", "--instance-type"),
    ] {
        if let Some(v) = get(id) {
            if v.is_empty() {
                return Err(InputError::new(
                    format!("{flag} is empty"),
                    format!("give a value, or leave {flag} out"),
                ));
            }
            if key == "instance" {
                check_name(&v)?;
            }
            out.insert(key.into(), Value::String(v));
        }
    }
    if m.try_get_one::<bool>("brev_delete_instance").ok().flatten() == Some(&true) {
        out.insert("delete_when_done".into(), Value::Bool(true));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(args: &[&str]) -> Result<SettingsMap, InputError> {
        hoist_testkit::parse_flags(augment, read, args)
    }

    #[test]
    fn given_flags_become_settings() {
        assert_eq!(parse(&[]).expect("none"), SettingsMap::new());
        let m = parse(&[
            "--instance",
            "box-1",
            "--gpu-type",
            "A100",
            "--delete-instance",
        ])
        .expect("read");
        assert_eq!(
            Value::Object(m),
            json!({"instance": "box-1", "gpu_type": "A100", "delete_when_done": true})
        );
        assert!(parse(&["--instance", "bad name"]).is_err());
        for flag in [
            "--instance",
            "--gpu-type",
            "--instance-type",
            "--delete-instance",
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
