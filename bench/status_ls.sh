#!/usr/bin/env bash
# hoist status / hoist ls --json with 10,000 jobs in the store, against the anchor measured in
# the same run: importing the Python TAO SDK's Kubernetes platform (what the SDK pays before it
# does anything). Prints absolute times and ratios. Needs hyperfine (Debian) and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
venv=target/bench-venv
if ! "$venv/bin/python" -c 'import tao_sdk' 2>/dev/null; then
  echo "installing nvidia-tao-sdk[kubernetes] into $venv (the anchor)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'nvidia-tao-sdk[kubernetes]'
fi
cargo build -q --release -p hoist-cli
cargo build -q --release -p hoist-store --example seed
export HOIST_HOME="$work/home"
mid=$(target/x86_64-unknown-linux-gnu/release/examples/seed "$HOIST_HOME" "$N")
echo "seeded $N jobs; status target ${mid:0:8}"

anchor="$venv/bin/python -c 'from tao_sdk.platforms.kubernetes import KubernetesSDK; import kubernetes.client'"
hyperfine -N --warmup 3 --min-runs 20 --export-json "$work/h.json" \
  -n anchor "$anchor" \
  -n status "target/x86_64-unknown-linux-gnu/release/hoist status ${mid:0:8} --json" \
  -n ls "target/x86_64-unknown-linux-gnu/release/hoist ls --json" >/dev/null

python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
a = r["anchor"]["mean"]
print(f"{'command':<28}{'mean ms':>10}{'stddev':>9}{'vs anchor':>15}{'goal':>9}")
for name, goal in (("anchor", None), ("status", 10), ("ls", 30)):
    m, s = r[name]["mean"] * 1e3, r[name]["stddev"] * 1e3
    label = {"anchor": "python import tao_sdk k8s", "status": "hoist status ID --json", "ls": "hoist ls --json (10k)"}[name]
    ratio = f"{a / r[name]['mean']:.1f}x faster" if name != "anchor" else "1.0x"
    print(f"{label:<28}{m:>10.2f}{s:>9.2f}{ratio:>15}{(str(goal)+' ms') if goal else '':>9}")
PY
