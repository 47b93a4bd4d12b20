#!/usr/bin/env bash
# Fuzz every parser of outside text for a bounded time: each cargo-fuzz target in fuzz/
# (task YAML, spec files, env files, command-line values, SLURM output, backend status JSON,
# archive member paths, log rules) runs FUZZ_SECONDS (default 60), one after another, with
# overflow checks and AddressSanitizer. Prints per target the executions, the new corpus
# entries found, and the crashes (a panic, a timeout, an out-of-memory), with the input that
# caused each under fuzz/artifacts/<target>/. Exits 1 when any target crashed.
#
# The seeds in fuzz/corpus/<target>/ are read, never written: what a run finds goes to
# fuzz/target/corpus/<target>/ (git-ignored, kept between runs). Worth keeping? Minimize it
# into the seeds with `cargo +nightly fuzz cmin <target> fuzz/corpus/<target>` after copying.
# An input that crashed a parser, once fixed, goes to fuzz/regressions/<target>/: the
# replay test (crates/hoist-fuzz-targets/tests/replay.rs) runs both folders on stable.
#
# FUZZ_TARGETS="a b" runs only those. Needs the nightly toolchain; installs cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-60}

rustup toolchain list | grep -q '^nightly' || {
    echo "fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
cargo +nightly fuzz build

crashed=()
printf '%-16s %12s %8s %8s\n' target executions new crashes
for t in $targets; do
    found=target/corpus/$t
    mkdir -p "$found" "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log=$(mktemp)
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb: memory a parser should
    # never need. Both count as crashes.
    rc=0
    cargo +nightly fuzz run "$t" "$found" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    new=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    if ((rc != 0 && crashes == 0)); then
        crashes=1 # it stopped without leaving an input (a build or start failure)
    fi
    printf '%-16s %12s %8s %8s\n' "$t" "${execs:-?}" "${new:-?}" "$crashes"
    if ((crashes > 0)); then
        crashed+=("$t")
        # The panic's place and message, else the sanitizer's or libFuzzer's verdict.
        { grep -m 1 -A 1 "panicked at" "$log" || grep -m 1 -E "==ERROR|^error" "$log"; } |
            sed 's/^/    /' || true
        find "artifacts/$t" -type f -newer "$log" | sed 's/^/    input: fuzz\//'
        echo "    log: $log"
    else
        rm -f "$log"
    fi
done

if ((${#crashed[@]} > 0)); then
    echo "crashed: ${crashed[*]}" >&2
    echo "reproduce with: cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/FILE" >&2
    exit 1
fi
