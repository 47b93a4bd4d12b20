//! Platform flags for command-line front doors: each platform's flags, under its own help
//! heading, added to a clap command, and read back as that platform's settings.

use crate::registry::ENTRIES;
use hoist_core::InputError;
use hoist_core::settings::SettingsMap;
use std::collections::BTreeMap;

/// `cmd` with every platform's flags added.
pub fn augment(cmd: clap::Command) -> clap::Command {
    ENTRIES.iter().fold(cmd, |c, e| (e.augment)(c))
}

/// The platform flags given on the command line, by platform name (platforms with none given
/// are left out), ready for [`crate::JobRequest::platform_options`].
pub fn read(m: &clap::ArgMatches) -> Result<BTreeMap<String, SettingsMap>, InputError> {
    let mut out = BTreeMap::new();
    for e in ENTRIES {
        let given = (e.read)(m)?;
        if !given.is_empty() {
            out.insert(e.descriptor.info().name.to_string(), given);
        }
    }
    Ok(out)
}
