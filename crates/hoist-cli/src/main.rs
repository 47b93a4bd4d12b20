//! The `hoist` binary: parses flags and hands each verb to the hoist library. Each subcommand
//! is a module of `commands/`; this file only parses, opens the store and dispatches.

mod cli;
mod commands;
mod output;
mod reporter;

use clap::{CommandFactory, FromArgMatches};
use cli::{Cli, Cmd, ConfigCmd};
use hoist::{Hoist, HoistError, HoistOptions};
use std::process::ExitCode;
use std::sync::Arc;

/// The command line with every platform's flags added to the verbs that take them.
fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("run", hoist::flags::augment)
        .mut_subcommand("preflight", hoist::flags::augment)
        .mut_subcommand("config", |c| {
            c.mut_subcommand("show", hoist::flags::augment)
        })
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // The platform flags given to whichever verb takes them.
    let sub = match matches.subcommand() {
        Some(("config", m)) => m.subcommand_matches("show"),
        Some(("run" | "preflight", m)) => Some(m),
        _ => None,
    };
    let flags = match sub.map(hoist::flags::read).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => return fail(&HoistError::Input(e).into()),
    };
    let reporter: hoist::core::SharedReporter = Arc::new(reporter::Terminal::default());
    hoist::set_transfer_reporter(reporter.clone());
    match &cli.command {
        Cmd::Supervise { dir } => {
            // The supervisor needs no runtime, store or config: keep it small and independent.
            return ExitCode::from(hoist::supervise(dir).clamp(0, 255) as u8);
        }
        Cmd::Runner { plan } => {
            // Inside the job: no store, no config, only the plan and the environment.
            return ExitCode::from(hoist::run_plan(plan.as_deref()).clamp(0, 255) as u8);
        }
        Cmd::Install { dir } => {
            return match hoist::install_runner(dir) {
                Ok(p) => {
                    println!("{}", p.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Cmd::Completions { shell } => {
            clap_complete::generate(*shell, &mut command(), "hoist", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli, flags, reporter)) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS, // the reader left (`| head`): not an error
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    let (code, hint) = match e.downcast_ref::<HoistError>() {
        Some(h) => (h.exit_code(), h.hint()),
        None => (1, None),
    };
    eprintln!("error: {e:#}");
    if let Some(h) = hint.filter(|h| !h.is_empty()) {
        eprintln!("  hint: {h}");
    }
    ExitCode::from(code as u8)
}

async fn run(
    cli: Cli,
    flags: commands::Flags,
    reporter: hoist::core::SharedReporter,
) -> anyhow::Result<i32> {
    let h = Hoist::open_with(HoistOptions {
        home: cli.home.clone(),
        reporter: Some(reporter.clone()),
        ..Default::default()
    })?;
    // Settle interrupted submits before anything reads the store ("automatic on next access").
    let settled = h.reconcile().await?;
    if !matches!(cli.command, Cmd::Reconcile) {
        for (job, what) in &settled {
            eprintln!(
                "hoist: reconciled interrupted submit of {} ({}): {what}",
                job.short_id(),
                job.name
            );
        }
    }
    use commands as c;
    match cli.command {
        Cmd::Run(a) => c::run::run(&h, *a, flags, reporter.clone()).await,
        Cmd::Launch(a) => c::launch::run(&h, a, reporter.clone()).await,
        Cmd::Workflow { dir } => c::workflow::drive_detached(&h, &dir, reporter.clone()).await,
        Cmd::Status(a) => c::status::run(&h, a).await,
        Cmd::Logs(a) => c::logs::run(&h, a).await,
        Cmd::Cancel(a) => c::cancel::run(&h, a).await,
        Cmd::Wait(a) => c::wait::run(&h, a).await,
        Cmd::Ls(a) => c::ls::run(&h, a).await,
        Cmd::Show(a) => c::show::run(&h, a).await,
        Cmd::Why(a) => c::why::run(&h, a).await,
        Cmd::Results(a) => c::results::run(&h, a).await,
        Cmd::RunnerImage(a) => c::runner_image::run(&h, a).await,
        Cmd::CheckPath(a) => c::paths::check(&h, a).await,
        Cmd::LsPath(a) => c::paths::list(&h, a).await,
        Cmd::Preflight(a) => c::preflight::run(&h, a, flags).await,
        Cmd::Rm(a) => c::rm::run(&h, a).await,
        Cmd::Gc(a) => c::gc::run(&h, a).await,
        Cmd::Reconcile => c::reconcile::run(settled),
        Cmd::Platforms(a) => c::platforms::run(&h, a),
        Cmd::Instances(a) => c::instances::run(&h, a).await,
        Cmd::Runs(a) => c::runs::run(&h, a).await,
        Cmd::Ui(a) => c::ui::run(h, a).await,
        Cmd::Config(ConfigCmd::Show(a)) => c::config::show(&h, a, &flags),
        Cmd::Completions { .. }
        | Cmd::Supervise { .. }
        | Cmd::Runner { .. }
        | Cmd::Install { .. } => Ok(0),
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
