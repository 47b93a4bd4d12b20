//! The Lepton stand-in the end-to-end tests talk to (tests/fake-lepton/server.py) answers in
//! the shapes the official client parses: honesty.py drives it with leptonai 0.47.1's own
//! APIClient and models, so a change to the stand-in that drifts from the real API fails CI.

#[test]
fn the_lepton_stand_in_parses_with_the_official_client() {
    const PYTHON: &str = "/var/lib/hoist-testbed/lepton-venv/bin/python";
    assert!(
        std::path::Path::new(PYTHON).exists(),
        "{PYTHON} is missing: run scripts/testbed.sh (as root) to install leptonai 0.47.1 there"
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-lepton");
    let out = std::process::Command::new(PYTHON)
        .arg(dir.join("honesty.py"))
        .current_dir(&dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON}: {e} (run scripts/testbed.sh to recreate the venv)"));
    assert!(
        out.status.success(),
        "the fake Lepton server fails its honesty check against the official client ({}; exit 2 \
         means the venv is broken: run scripts/testbed.sh):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
