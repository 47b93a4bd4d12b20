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

# The Python package (python/): built from this checkout into a venv kept under target/ (reused
# when present), then mypy on its sources and pytest against the installed wheel, on the same
# testbed. The dev profile reuses the debug CLI binary the Rust tests just built.
python_part() {
  local venv=target/pytest-venv
  if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv" || {
      echo "error: python3 -m venv failed: install Python >= 3.10 with its venv module (Debian: apt-get install python3-venv)" >&2
      return 1
    }
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin pytest mypy || return 1
  # One wheel, as `pip wheel ./python` makes it: installed alone into a clean venv (it must
  # import and open a store with nothing else there), then into the test venv.
  local wheels=target/python-wheel
  rm -rf "$wheels"
  HOIST_BUILD_PROFILE=dev "$venv/bin/python" -m pip wheel --quiet --disable-pip-version-check \
    --no-deps -w "$wheels" ./python || return 1
  local wheel
  wheel=$(ls "$wheels"/hoist-*.whl) || return 1
  rm -rf target/wheel-venv
  python3 -m venv target/wheel-venv || return 1
  target/wheel-venv/bin/python -m pip install --quiet --disable-pip-version-check "$wheel" || return 1
  HOIST_HOME=$(mktemp -d) target/wheel-venv/bin/python -c \
    'import hoist; h = hoist.Hoist(); assert h.ls() == []; print("python: the wheel installs and runs in a clean venv")' ||
    return 1
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
    --no-deps "$wheel" || return 1
  local rc=0
  # python/mypy.ini holds the settings (strict).
  (cd python && "../$venv/bin/python" -m mypy hoist) || rc=1
  # Its last line is pytest's closing line: "==== N passed in Ts ====".
  "$venv/bin/python" -m pytest python/tests || rc=1
  return "$rc"
}
set +e
python_part
py_status=$?
set -e
if [[ $py_status -ne 0 ]]; then
  echo "python: the package's build, mypy or pytest failed (see above)" >&2
fi
if [[ $status -ne 0 ]]; then
  exit "$status"
fi
exit "$py_status"
