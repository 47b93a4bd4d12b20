#!/usr/bin/env bash
# What shipping a task's workdir to SLURM costs, each anchor measured in the same run. Prints
# means and ratios, no pass/fail:
#   `hoist launch -d` of a SLURM task with a 20 MB, 200-file workdir, minus the same launch
#   without a workdir (what the shipping adds), against `tar -cf - . | ssh LOGIN 'tar -xf -'` of
#   that directory (the floor: one stream over ssh, which is what hoist sends).
# Needs the testbed (scripts/testbed.sh: ssh hoist-testbed-slurm) and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
LOGIN=${LOGIN:-hoist-testbed-slurm}
work=$(mktemp -d)
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
trap 'ssh -o BatchMode=yes "$LOGIN" "rm -rf /tmp/bench-ship-*" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
export HOIST_HOME="$work/home" SLURM_HOSTNAME=$LOGIN SLURM_USER=hoistuser SLURM_PARTITION=debug SLURM_CPUS_PER_TASK=1
mkdir -p "$work/proj/src"
for i in $(seq 200); do head -c 102400 /dev/urandom >"$work/proj/src/f$i.bin"; done
echo "workdir: $(du -sh "$work/proj" | cut -f1), $(find "$work/proj" -type f | wc -l) files"
printf 'resources:\n  infra: slurm\nworkdir: %s\nrun: ls src | wc -l\n' "$work/proj" >"$work/with.yaml"
printf 'resources:\n  infra: slurm\nrun: ls src | wc -l\n' >"$work/without.yaml"
hyperfine -N --warmup 1 --min-runs 8 --export-json "$work/h.json" \
  -n "launch -d with workdir" "$hoist launch $work/with.yaml -d" \
  -n "launch -d without" "$hoist launch $work/without.yaml -d" \
  -n "tar | ssh (floor)" "bash -c 'tar -C $work/proj -cf - . | ssh -o BatchMode=yes $LOGIN \"d=\\\$(mktemp -d /tmp/bench-ship-XXXX) && tar -C \\\$d -xf -\"'" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
w, wo, floor = r["launch -d with workdir"], r["launch -d without"], r["tar | ssh (floor)"]
print(f"launch -d with workdir {w*1e3:9.1f} ms, without {wo*1e3:9.1f} ms")
print(f"shipping adds          {(w-wo)*1e3:9.1f} ms   vs tar | ssh {floor*1e3:9.1f} ms   {(w-wo)/floor:.2f}x")
PY
