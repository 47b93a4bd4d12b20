//! The platforms this build has. The only file of the facade that names platform crates:
//! adding a platform is its crate plus one line in [`ENTRIES`].

use hoist_core::settings::SettingsMap;
use hoist_core::{InputError, PlatformDescriptor};

/// One platform: how to build it and the flags it adds to `hoist run`.
pub struct Entry {
    /// Construction, settings and description.
    pub descriptor: &'static dyn PlatformDescriptor,
    /// Adds the platform's flags (under its own help heading) to a command.
    pub augment: fn(clap::Command) -> clap::Command,
    /// The platform's flags that were given, as its settings.
    pub read: fn(&clap::ArgMatches) -> Result<SettingsMap, InputError>,
}

impl Entry {
    /// A platform with no command-line flags (one added when opening a handle).
    pub fn without_flags(descriptor: &'static dyn PlatformDescriptor) -> Entry {
        Entry {
            descriptor,
            augment: no_flags,
            read: no_values,
        }
    }
}

/// Every platform, in the order `hoist platforms` lists them.
pub static ENTRIES: &[Entry] = &[
    Entry {
        descriptor: &hoist_local::Descriptor,
        augment: no_flags,
        read: no_values,
    },
    Entry {
        descriptor: &hoist_docker::Descriptor,
        augment: hoist_docker::flags::augment,
        read: hoist_docker::flags::read,
    },
    Entry {
        descriptor: &hoist_slurm::Descriptor,
        augment: hoist_slurm::flags::augment,
        read: hoist_slurm::flags::read,
    },
    Entry {
        descriptor: &hoist_kube::Descriptor,
        augment: hoist_kube::flags::augment,
        read: hoist_kube::flags::read,
    },
    Entry {
        descriptor: &hoist_brev::Descriptor,
        augment: hoist_brev::flags::augment,
        read: hoist_brev::flags::read,
    },
    Entry {
        descriptor: &hoist_lepton::Descriptor,
        augment: hoist_lepton::flags::augment,
        read: hoist_lepton::flags::read,
    },
];

/// The platform of a job that names none.
pub const DEFAULT: &str = "local";

/// The platform of a job that names an image but no platform.
pub const DEFAULT_WITH_IMAGE: &str = "docker";

/// The local platform's supervisor (`hoist __supervise DIR`): the process that outlives the
/// CLI and owns one job.
pub fn supervise(dir: &std::path::Path) -> i32 {
    hoist_local::supervisor::supervise(dir)
}

fn no_flags(cmd: clap::Command) -> clap::Command {
    cmd
}

fn no_values(_: &clap::ArgMatches) -> Result<SettingsMap, InputError> {
    Ok(SettingsMap::new())
}

/// Build the runner image (FROM scratch + the static hoist) on a Docker daemon.
pub async fn build_runner_image(
    ctx: &hoist_core::BuildContext,
    docker_host: Option<String>,
    tag: &str,
    binary: &[u8],
) -> Result<String, hoist_core::PlatformError> {
    hoist_docker::build_runner_image_on(ctx, docker_host, tag, binary).await
}
