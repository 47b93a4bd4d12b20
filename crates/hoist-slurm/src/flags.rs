//! The SLURM flags of `hoist run`, read into settings.

use hoist_core::InputError;
use hoist_core::settings::SettingsMap;
use serde_json::Value;

/// SLURM's `hoist run` flags.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "SLURM")]
#[group(id = "slurm_flags")]
pub struct Flags {
    /// SLURM: container runtime for --image: pyxis (default with an image), enroot,
    /// charliecloud, or none.
    #[arg(long = "container", id = "slurm_container", value_name = "KIND")]
    pub container: Option<String>,
    /// SLURM: partition(s) to submit to (default SLURM_PARTITION).
    #[arg(long = "partition", id = "slurm_partition", value_name = "NAME")]
    pub partition: Option<String>,
    /// SLURM: account to charge (default SLURM_ACCOUNT, else sacctmgr's).
    #[arg(long = "account", id = "slurm_account", value_name = "NAME")]
    pub account: Option<String>,
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
    if let Some(c) = get("slurm_container") {
        crate::settings::check_container(&c)?;
        out.insert("container".into(), Value::String(c));
    }
    for (id, key, flag) in [
        ("slurm_partition", "partition", "--partition"),
        ("slurm_account", "account", "--account"),
    ] {
        if let Some(v) = get(id) {
            if v.is_empty() {
                return Err(InputError::new(
                    format!("{flag} is empty"),
                    format!("give a name, or leave {flag} out"),
                ));
            }
            out.insert(key.into(), Value::String(v));
        }
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
        let m = parse(&[
            "--container",
            "enroot",
            "--partition",
            "a,b",
            "--account",
            "x",
        ])
        .expect("read");
        assert_eq!(
            serde_json::Value::Object(m),
            json!({"container": "enroot", "partition": "a,b", "account": "x"})
        );
        assert!(parse(&[]).expect("none").is_empty());
        let e = parse(&["--container", "docker"]).expect_err("unknown runtime");
        assert!(e.message.contains("--container"), "{}", e.message);
        assert!(parse(&["--partition", " "]).is_err());
    }
}
