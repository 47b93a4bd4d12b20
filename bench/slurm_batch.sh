#!/usr/bin/env bash
# A SLURM matrix of N jobs submitted by hoist in one batch (Hoist::create_jobs, through
# crates/hoist/examples/submit_many.rs) against what a user does by hand, in the same run on
# the testbed cluster (scripts/testbed.sh):
#   1. hoist, cold (fresh HOIST_HOME: no ssh ControlMaster, no account cache) and warm (again)
#   2. a sequential `ssh LOGIN sbatch --wrap ...` loop of N trivial scripts
#   3. `hoist run -d --platform slurm` per job (M=RUN_N of them, default 50, scaled to N)
# Prints wall times, ssh round trips (hoist's from HOIST_SSH_TRACE, one line per ssh process)
# and ratios. Jobs sleep (no CPU taken from the measurement) and are cancelled after each part.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
M=${RUN_N:-50}
((M > N)) && M=$N
LOGIN=${SLURM_HOSTNAME:-hoist-testbed-slurm}
export SLURM_HOSTNAME=$LOGIN SLURM_USER=${SLURM_USER:-hoistuser} SLURM_PARTITION=${SLURM_PARTITION:-debug} SLURM_CPUS_PER_TASK=1
export HOIST_PLATFORM=slurm
work=$(mktemp -d)
export HOIST_HOME="$work/home"
cancel_all() { ssh -n -o BatchMode=yes "$LOGIN" 'scancel -u "$(id -un)"' >/dev/null 2>&1 || true; }
cleanup() {
  cancel_all
  # The ControlMaster of this run's HOIST_HOME, so nothing outlives the bench.
  for s in "$HOIST_HOME"/ssh/cm-*; do [[ -S $s ]] && ssh -o ControlPath="$s" -O exit "$LOGIN" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
bin=target/x86_64-unknown-linux-gnu/release
if [[ -z ${HOIST_BIN:-} ]]; then
  cargo build -q --release -p hoist-cli
  cargo build -q --release -p hoist --example submit_many
fi
hoist=${HOIST_BIN:-$PWD/$bin/hoist}
many=${SUBMIT_MANY_BIN:-$PWD/$bin/examples/submit_many}
ssh -n -o BatchMode=yes "$LOGIN" true
cancel_all

now() { date +%s%N; }
trips() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }

t0=$(now)
HOIST_SSH_TRACE="$work/cold.trace" "$many" "$N" sleep 600 >"$work/cold.json"
t1=$(now)
cancel_all
t2=$(now)
HOIST_SSH_TRACE="$work/warm.trace" "$many" "$N" sleep 600 >"$work/warm.json"
t3=$(now)
cancel_all
t4=$(now)
for _ in $(seq "$N"); do ssh -n -o BatchMode=yes "$LOGIN" "sbatch --parsable -p $SLURM_PARTITION -c 1 --wrap 'sleep 600'" >>"$work/anchor_ids"; done
t5=$(now)
cancel_all
t6=$(now)
for i in $(seq "$M"); do HOIST_SSH_TRACE="$work/run.trace" "$hoist" run -d --platform slurm --name "one-$i" -- sleep 600 >>"$work/run_ids"; done
t7=$(now)
[[ $(wc -l <"$work/anchor_ids") -eq $N && $(wc -l <"$work/run_ids") -eq $M ]] || { echo "bench: a submit failed" >&2; exit 1; }

python3 - "$N" "$M" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$t6" "$t7" \
  "$(trips "$work/cold.trace")" "$(trips "$work/warm.trace")" "$(trips "$work/run.trace")" \
  "$work/cold.json" "$work/warm.json" <<'PY'
import json, sys
n, m, t0, t1, t2, t3, t4, t5, t6, t7, cold_rt, warm_rt, run_rt = map(int, sys.argv[1:14])
cold, warm = (json.load(open(p)) for p in sys.argv[14:16])
for r in (cold, warm):
    assert r["submitted"] == n, r
ms = lambda a, b: (b - a) / 1e6
anchor = ms(t4, t5)
run_scaled = ms(t6, t7) * n / m
rows = [
    (f"hoist create_jobs, cold ({n} jobs)", ms(t0, t1), cold_rt),
    (f"hoist create_jobs, warm ({n} jobs)", ms(t2, t3), warm_rt),
    (f"ssh LOGIN sbatch loop ({n} jobs)", anchor, n),
    (f"hoist run -d x {m}, scaled to {n}", run_scaled, run_rt * n / m),
]
print(f"{'what':<42}{'wall ms':>10}{'ssh trips':>11}{'anchor/this':>13}")
for what, t, rt in rows:
    print(f"{what:<42}{t:>10.0f}{rt:>11.0f}{anchor / t:>12.1f}x")
print(f"inside the process, create_jobs took {cold['create_jobs_ms']:.0f} ms cold, {warm['create_jobs_ms']:.0f} ms warm")
print(f"batch vs per-job hoist run -d: {run_scaled / ms(t2, t3):.1f}x faster warm")
PY
