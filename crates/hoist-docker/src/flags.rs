//! The Docker platform's `hoist run` flags, for a front door to flatten into its command.

use crate::settings::{BindMount, PullPolicy};
use hoist_core::InputError;
use hoist_core::settings::SettingsMap;
use serde_json::Value;

/// Flags that set Docker settings. Ids carry the platform's name because these are flattened
/// into one command with every other platform's flags.
#[derive(clap::Args, Debug, Default)]
#[command(next_help_heading = "Docker")]
#[group(id = "docker_flags")]
pub struct Flags {
    /// Docker daemon: unix:///path, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT] (default:
    /// DOCKER_HOST, DOCKER_CONTEXT, the current docker context, the local socket).
    #[arg(long = "docker-host", id = "docker_host", value_name = "URL")]
    pub docker_host: Option<String>,
    /// Docker: pull the image when it is missing (default), always, or never.
    #[arg(long = "pull", id = "docker_pull", value_name = "POLICY")]
    pub pull: Option<String>,
    /// Docker: bind mount SRC:DST[:ro]; SRC is a path on the daemon's host (repeatable).
    #[arg(
        long = "mount",
        short = 'v',
        id = "docker_mount",
        value_name = "SRC:DST[:ro]"
    )]
    pub mounts: Vec<String>,
    /// Docker: size of /dev/shm (default: a tmpfs that grows with use).
    #[arg(long = "shm-size", id = "docker_shm_size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// Docker: user to run as (uid[:gid] or name).
    #[arg(long = "user", short = 'u', id = "docker_user", value_name = "USER")]
    pub user: Option<String>,
    /// Docker: remove the container after saving its logs and exit code.
    #[arg(long = "rm", id = "docker_rm")]
    pub rm: bool,
    /// Docker: network (default DOCKER_NETWORK, else hoist_default, created if missing).
    #[arg(long = "network", id = "docker_network", value_name = "NETWORK")]
    pub network: Option<String>,
}

/// Add the Docker flags to a command.
pub fn augment(cmd: clap::Command) -> clap::Command {
    <Flags as clap::Args>::augment_args(cmd)
}

/// The Docker settings given as flags, keyed by setting, checked and in canonical form (an
/// endpoint URL, a pull policy's name, `SRC:DST[:ro]` mounts, a size in bytes).
pub fn read(m: &clap::ArgMatches) -> Result<SettingsMap, InputError> {
    let text = |id: &str| m.get_one::<String>(id).cloned();
    let mut out = SettingsMap::new();
    if let Some(h) = text("docker_host") {
        out.insert(
            "docker_host".into(),
            hoist_docker_engine::endpoint::normalize(&h)?.into(),
        );
    }
    if let Some(p) = text("docker_pull") {
        out.insert("pull".into(), p.parse::<PullPolicy>()?.as_str().into());
    }
    // `--mount` is shared with other platforms whose mounts read differently (Lepton's
    // VOLUME:PATH:MOUNT_PATH): a bind mount is put in canonical form here, anything else is
    // left to the platform the job runs on to accept or refuse.
    let mounts: Vec<String> = m
        .get_many::<String>("docker_mount")
        .into_iter()
        .flatten()
        .map(|s| {
            s.parse::<BindMount>()
                .map(|b| b.to_string())
                .unwrap_or(s.clone())
        })
        .collect();
    if !mounts.is_empty() {
        out.insert("mounts".into(), mounts.into());
    }
    if let Some(s) = text("docker_shm_size") {
        let bytes = hoist_core::spec::parse_memory(&s)
            .map_err(|e| InputError::new(e.message.replace("--memory", "--shm-size"), e.hint))?;
        out.insert("shm_size".into(), bytes.into());
    }
    if let Some(u) = text("docker_user") {
        out.insert("user".into(), u.into());
    }
    if m.get_flag("docker_rm") {
        out.insert("auto_remove".into(), Value::Bool(true));
    }
    if let Some(n) = text("docker_network") {
        out.insert("network".into(), n.into());
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
    fn only_given_flags_in_canonical_form() {
        assert_eq!(parse(&[]).expect("none"), SettingsMap::new());
        let got = parse(&[
            "--docker-host",
            "tcp://box",
            "--pull",
            "Always",
            "-v",
            "/a:/b:rw",
            "--mount",
            "/c:/d:ro",
            "--shm-size",
            "1g",
            "-u",
            "1000:1000",
            "--rm",
            "--network",
            "net1",
        ])
        .expect("flags");
        assert_eq!(
            serde_json::Value::Object(got),
            json!({
                "docker_host": "tcp://box:2375",
                "pull": "always",
                "mounts": ["/a:/b", "/c:/d:ro"],
                "shm_size": 1u64 << 30,
                "user": "1000:1000",
                "auto_remove": true,
                "network": "net1",
            })
        );
        let e = parse(&["--shm-size", "lots"]).expect_err("size");
        assert!(e.message.contains("--shm-size"), "{}", e.message);
        assert!(parse(&["--pull", "sometimes"]).is_err());
        // Not a bind mount: left for the job's platform to refuse (docker does, at check).
        assert_eq!(
            parse(&["-v", "rel:/x"]).expect("raw")["mounts"],
            json!(["rel:/x"])
        );
        use hoist_core::PlatformDescriptor;
        assert!(
            crate::Descriptor
                .check(&parse(&["-v", "rel:/x"]).expect("raw"))
                .is_err()
        );
        assert!(parse(&["--docker-host", "ftp://x"]).is_err());
    }

    #[test]
    fn every_flag_names_its_setting() {
        let docs = crate::settings::SETTINGS;
        for flag in [
            "--docker-host",
            "--pull",
            "--mount",
            "--shm-size",
            "--user",
            "--rm",
            "--network",
        ] {
            assert!(docs.iter().any(|d| d.flag == Some(flag)), "{flag}");
        }
    }
}
