//! The requeue decision at the end of a batch script, run by bash as the cluster runs it.

use super::tests::{req, settings};
use super::{ConversionSettings, render};
use hoist_core::{Command, GpuSpec};
use std::path::Path;

/// Runs the script's end (from `rc=$?`) with the given exit code and logs, a `scontrol` on PATH
/// that records its arguments and answers with `scontrol_rc`; returns bash's exit code and
/// the recorded `scontrol` calls.
fn run_end(timeout: bool, rc: i32, err: &str, out: &str, scontrol_fails: u32) -> (i32, String) {
    let mut s = settings();
    if !timeout {
        s.timeout_hours = None;
    }
    let r = render(
        &req(
            Command::Argv(vec!["python".into(), "train.py".into()]),
            1,
            GpuSpec::Count(1),
        ),
        "/base/jobs/job-1",
        "/base/results",
        &ConversionSettings::default(),
        &s,
    )
    .expect("render");
    let (_, end) = r.sbatch.split_once("rc=$?\n").expect("the script keeps rc");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).expect("bin");
    std::fs::write(d.join("main.err"), err).expect("err");
    std::fs::write(d.join("main.out"), out).expect("out");
    // Fails the first `scontrol_fails` calls, as a controller that is busy would.
    let fake = format!(
        "#!/bin/bash\necho \"$*\" >>{calls}\nn=$(wc -l <{calls})\n[ \"$n\" -gt {scontrol_fails} ]\n",
        calls = d.join("calls").display()
    );
    write_exe(&bin.join("scontrol"), &fake);
    write_exe(&bin.join("sleep"), "#!/bin/sh\nexit 0\n");
    let script = format!("set -uo pipefail\nLOGDIR={}\nrc={rc}\n{end}", d.display());
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("SLURM_JOB_ID", "42")
        .env_remove("SLURM_RESTART_COUNT")
        .status()
        .expect("bash");
    let calls = std::fs::read_to_string(d.join("calls")).unwrap_or_default();
    (status.code().unwrap_or(-1), calls)
}

fn write_exe(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).expect("write");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

const NCCL: &str = "misc/socket.cc:50 NCCL WARN Net : Connect to node2 failed\n";

#[test]
fn an_infrastructure_failure_is_requeued_even_behind_a_long_log() {
    // More output than a pipe holds: a grep that stopped at the first match would leave tail
    // writing into a closed pipe, and pipefail would call the test false.
    let out = format!("{}\n", "step 1 loss 0.25 ".repeat(60)).repeat(600);
    let (code, calls) = run_end(false, 1, NCCL, &out, 0);
    assert_eq!((code, calls.as_str()), (0, "requeue 42\n"));
}

#[test]
fn a_controller_that_refuses_for_a_moment_is_asked_again() {
    let (code, calls) = run_end(false, 1, NCCL, "", 2);
    assert_eq!(code, 0, "{calls}");
    assert_eq!(calls.lines().count(), 3, "{calls}");
}

#[test]
fn a_program_failure_is_not_requeued_and_keeps_its_exit_code() {
    let (code, calls) = run_end(false, 3, "ZeroDivisionError: division by zero\n", "", 0);
    assert_eq!((code, calls.as_str()), (3, ""));
}

#[test]
fn an_inner_timeout_requeues_and_a_refused_requeue_ends_with_the_exit_code() {
    let (code, calls) = run_end(true, 124, "", "", 0);
    assert_eq!((code, calls.as_str()), (124, "requeue 42\n"));
    let (code, calls) = run_end(false, 1, NCCL, "", 100);
    assert_eq!(code, 1);
    assert_eq!(calls.lines().count(), 10, "{calls}");
}
