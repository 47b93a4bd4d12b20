#!/usr/bin/env bash
# The task layer's cost, each anchor measured in the same run. Prints means and ratios, no
# pass/fail:
#   1. `hoist launch task.yaml` of a docker task to its first output line, against `hoist run`
#      of the same command on the same image (the anchor: what the task layer adds);
#   2. `hoist launch --dry-run --json` of a 200-line task YAML (parse + validate + plan), against
#      `hoist run --dry-run --json` of one command (the process and planning floor).
# Needs the testbed (scripts/testbed.sh: the image hoist-test/busybox:latest) and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-hoist-test/busybox:latest}
work=$(mktemp -d)
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
trap 'docker ps -aq --filter label=hoist.platform=docker --filter "label=hoist.job-name=bench-launch" | xargs -r docker rm -f >/dev/null 2>&1; rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
export HOIST_HOME="$work/home"
cat >"$work/task.yaml" <<YAML
name: bench-launch
resources:
  image_id: docker:$IMAGE
envs:
  GREETING: ready
run: echo \$GREETING
YAML
# A 200-line task: many envs, file mounts and a long run script.
{
  echo "name: big"; echo "resources:"; echo "  accelerators: {A100: 8}"; echo "  image_id: docker:$IMAGE"
  echo "envs:"; for i in $(seq 80); do echo "  VAR_$i: value-$i"; done
  echo "file_mounts:"; for i in $(seq 30); do echo "  /data/f$i: s3://bucket/path/f$i"; done
  echo "setup: |"; for i in $(seq 40); do echo "  echo setup step $i"; done
  echo "run: |"; for i in $(seq 43); do echo "  echo run step $i"; done
} >"$work/big.yaml"
echo "big.yaml: $(wc -l <"$work/big.yaml") lines"
hyperfine -N --warmup 2 --min-runs 10 --export-json "$work/h.json" \
  -n "hoist launch task.yaml" "$hoist launch $work/task.yaml" \
  -n "hoist run (same command)" "$hoist run --platform docker --image $IMAGE --name bench-launch -e GREETING=ready -- sh -c 'echo \$GREETING'" \
  -n "launch --dry-run --json (200 lines)" "$hoist launch $work/big.yaml --dry-run --json" \
  -n "run --dry-run --json (floor)" "$hoist run --dry-run --json --platform docker --image $IMAGE -- true" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
def row(a, b):
    ha, hb = r[a], r[b]
    print(f"{a:<38}{ha['mean']*1e3:>9.1f} ms   vs {b:<28}{hb['mean']*1e3:>9.1f} ms   {ha['mean']/hb['mean']:.2f}x")
row("hoist launch task.yaml", "hoist run (same command)")
row("launch --dry-run --json (200 lines)", "run --dry-run --json (floor)")
PY
