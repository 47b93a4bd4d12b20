#!/usr/bin/env bash
# hoist on SLURM against what a user does by hand, measured in the same run on the testbed
# cluster (scripts/testbed.sh):
#   1. a 200-job sweep: `hoist run -d --platform slurm` x N against a sequential
#      `ssh LOGIN sbatch --wrap ...` loop
#   2. one status poll of the N active jobs: `hoist ls --json` (one squeue for all) against one
#      `ssh LOGIN squeue -j ID` per job
#   3. (first, on an idle cluster) an attached `hoist run --platform slurm -- echo hi`, submit
#      to exit, against `run -d` and the same poll by hand; the median of ATTACHED runs (5)
# Prints wall times, ssh round trips and ratios. All jobs are cancelled at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
LOGIN=${SLURM_HOSTNAME:-hoist-testbed-slurm}
export SLURM_HOSTNAME=$LOGIN SLURM_USER=${SLURM_USER:-hoistuser} SLURM_PARTITION=${SLURM_PARTITION:-debug} SLURM_CPUS_PER_TASK=1
work=$(mktemp -d)
export HOIST_HOME="$work/home"
cleanup() {
  ssh -o BatchMode=yes "$LOGIN" 'scancel -u "$(id -un)"' >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
ssh -o BatchMode=yes "$LOGIN" true

now() { date +%s%N; }
# 3. attached echo: how long the follow takes to notice the end (before the sweep fills the queue)
"$hoist" run -d --platform slurm --name warm -- true >/dev/null
attached=()
for i in $(seq "${ATTACHED:-5}"); do
  a=$(now); "$hoist" run --platform slurm --name "echo-$i" -- echo hi >/dev/null 2>&1; b=$(now)
  attached+=($(( (b - a) / 1000000 )))
done
median=$(printf '%s\n' "${attached[@]}" | sort -n | sed -n "$(( (${#attached[@]} + 1) / 2 ))p")
echo "attached hoist run -- echo hi: median ${median} ms (runs: ${attached[*]})"
t0=$(now)
for i in $(seq "$N"); do "$hoist" run -d --platform slurm --name "sweep-$i" -- sleep 600 >>"$work/ids"; done
t1=$(now)
for i in $(seq "$N"); do ssh -n -o BatchMode=yes "$LOGIN" "sbatch --parsable -p $SLURM_PARTITION -c 1 --wrap 'sleep 600'" >>"$work/anchor_ids"; done
t2=$(now)
"$hoist" ls --json >/dev/null # warm: identity and ControlMaster, as every later poll finds them
t3=$(now)
"$hoist" ls --json >"$work/ls.json"
t4=$(now)
while read -r id; do ssh -n -o BatchMode=yes "$LOGIN" "squeue -h -j $id -o %T" >/dev/null; done <"$work/anchor_ids"
t5=$(now)
active=$(python3 -c 'import json,sys; print(sum(j["status"] in ("Pending","Running") for j in json.load(open(sys.argv[1]))))' "$work/ls.json")
python3 - "$N" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$active" <<'PY'
import sys
n, t0, t1, t2, t3, t4, t5, active = map(int, sys.argv[1:])
ms = lambda a, b: (b - a) / 1e6
print(f"{'what':<44}{'hoist ms':>10}{'anchor ms':>11}{'hoist/anchor':>14}")
print(f"{f'submit {n} jobs (vs ssh sbatch loop)':<44}{ms(t0, t1):>10.0f}{ms(t1, t2):>11.0f}{ms(t0, t1) / ms(t1, t2):>13.2f}x")
print(f"{f'status of {n} active jobs (vs squeue per job)':<44}{ms(t3, t4):>10.0f}{ms(t4, t5):>11.0f}{ms(t3, t4) / ms(t4, t5):>13.3f}x")
print(f"ssh round trips for the poll: hoist 1 squeue (+0 sacct: none left the queue), anchor {n}; jobs seen active by hoist: {active}")
PY
