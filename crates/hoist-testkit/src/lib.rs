//! hoist's test kit: [`fake::FakePlatform`], an in-memory platform a test scripts and
//! inspects (for the facade's orchestration), and [`contract::platform_contract`], the rules
//! every real platform must honour, run against each of them.
#![deny(missing_docs)]

pub mod contract;
pub mod fake;

pub use contract::{ContractJobs, platform_contract};
pub use fake::{Fake, FakeDescriptor, FakePlatform, FakeState, StatusCall, reports};

/// A platform's flags as `hoist run ARGS` would give them: `augment` adds them to a command,
/// `read` returns the settings they set. What every platform's flag tests start from.
pub fn parse_flags(
    augment: fn(clap::Command) -> clap::Command,
    read: fn(&clap::ArgMatches) -> Result<hoist_core::SettingsMap, hoist_core::InputError>,
    args: &[&str],
) -> Result<hoist_core::SettingsMap, hoist_core::InputError> {
    let m = augment(clap::Command::new("run"))
        .try_get_matches_from(std::iter::once("run").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("hoist run {args:?} does not parse: {e}"));
    read(&m)
}
