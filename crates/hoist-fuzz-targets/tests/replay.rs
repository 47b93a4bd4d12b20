//! The fuzz corpora as ordinary tests: every file kept under `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` (inputs that once crashed a parser) is fed to its target on
//! the stable toolchain. A panic names the file, so a regression is reproducible with
//! `cargo +nightly fuzz run <target> <file>`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else {
            continue;
        };
        files.extend(
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, body) = hoist_fuzz_targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let files = inputs(target);
    assert!(
        !files.is_empty(),
        "fuzz/corpus/{target}/ has no seed inputs; a target without a corpus tests nothing here"
    );
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target} panicked on {} of {} inputs: {failed:?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn every_target_is_replayed_here() {
    let here = include_str!("replay.rs");
    for (name, _) in hoist_fuzz_targets::TARGETS {
        assert!(
            here.contains(&format!("fn {name}() {{")),
            "add a replay test for target {name}"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
}

#[test]
fn task_yaml() {
    replay("task_yaml");
}

#[test]
fn spec_files() {
    replay("spec_files");
}

#[test]
fn env_file() {
    replay("env_file");
}

#[test]
fn cli_values() {
    replay("cli_values");
}

#[test]
fn slurm_output() {
    replay("slurm_output");
}

#[test]
fn status_mappings() {
    replay("status_mappings");
}

#[test]
fn archive_paths() {
    replay("archive_paths");
}

#[test]
fn log_rules() {
    replay("log_rules");
}
