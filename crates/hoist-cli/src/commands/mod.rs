//! One module per subcommand: resolve its arguments, call the library verb, print the view.

pub mod cancel;
pub mod config;
pub mod gc;
pub mod instances;
pub mod launch;
pub mod logs;
pub mod ls;
pub mod paths;
pub mod platforms;
pub mod preflight;
pub mod reconcile;
pub mod results;
pub mod rm;
pub mod run;
pub mod runner_image;
pub mod runs;
pub mod show;
pub mod status;
pub mod sweep;
pub mod ui;
pub mod wait;
pub mod why;
pub mod why_pending;
pub mod workflow;

use hoist::HoistError;
use hoist::core::InputError;
use std::io::Write;

/// Platform flags given on the command line, by platform.
pub type Flags = std::collections::BTreeMap<String, hoist::core::SettingsMap>;

pub fn input(e: InputError) -> anyhow::Error {
    HoistError::Input(e).into()
}

pub fn write_chunk(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(s.as_bytes())?;
    out.flush()
}

pub fn exit_suffix(j: &hoist::core::JobRecord) -> String {
    match j.exit_code {
        Some(c) if j.status.is_terminal() => format!(" (exit {c})"),
        _ => String::new(),
    }
}

/// The line an attached submit prints once the job is in.
pub fn say_submitted(job: &hoist::core::JobRecord) {
    eprintln!(
        "hoist: job {} ({}) submitted on {}{}",
        job.short_id(),
        job.name,
        job.platform,
        if job.message.is_empty() {
            String::new()
        } else {
            format!(", {}", job.message)
        }
    );
}

/// Print a view as pretty JSON.
pub fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
