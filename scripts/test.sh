#!/usr/bin/env bash
# The whole test suite: set up the testbed, then format, lint and every test. CI runs exactly
# this (.ci/run). A missing component fails the run and names itself; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/testbed.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one per binary, the last often a
# doc-test run of 0).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
