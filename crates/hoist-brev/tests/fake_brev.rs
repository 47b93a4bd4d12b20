//! The brev stand-in the end-to-end tests put on PATH (tests/fake-brev/brev) behaves as the
//! notes on brev-cli record: its own self-test, run here so a change to it that drifts from
//! the real CLI's shapes fails CI.

#[test]
fn the_brev_stand_in_passes_its_self_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-brev");
    let out = std::process::Command::new("bash")
        .arg(dir.join("selftest.sh"))
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash (and python3: scripts/testbed.sh installs it)");
    assert!(
        out.status.success(),
        "fake brev self-test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
