#!/usr/bin/env bash
# How soon each side notices that a Docker job ended, and what a status of a running job costs,
# on the same daemon in the same run. Prints absolute numbers and ratios, no pass/fail:
#   1. wait latency: the container's exit (the daemon's State.FinishedAt) -> the waiter returns,
#      for `hoist wait ID`, `docker wait ID`, and the TAO SDK (nvidia-tao-sdk 7.2.0) polling
#      DockerSDK.get_job_status in-process as fast as it answers (N rounds each, alternating
#      who goes first; every job is `sleep 1`, the waiter starts while it runs)
#   2. `hoist status ID --json` of a running job against `docker inspect` of its container
#      (hyperfine), with LEFTOVERS ended hoist containers on the daemon (default 50), which a
#      status must not pay for
# Needs the testbed (scripts/testbed.sh: hoist-test/busybox:latest) and hyperfine. The TAO SDK
# comes from the venv bench/python.sh makes (target/bench-python-venv); without it, part 1
# compares against `docker wait` only and says so. HOIST_BIN=path measures that binary instead
# of building the release one. Set DOCKER_HOST to measure another transport (both sides use it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
LEFTOVERS=${LEFTOVERS:-50}
BASE_IMAGE=${BASE_IMAGE:-hoist-test/busybox:latest}
TAO_IMAGE=hoist-bench/busybox-bash:latest
venv=target/bench-python-venv
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
work=$(mktemp -d /tmp/hoist-bench-wait.XXXXXX)
label="hoist-bench-wait=$$"
had_network=$(docker network inspect tao_default >/dev/null 2>&1 && echo yes || echo no)

cleanup() {
  set +e
  if [[ -s $work/jobs ]]; then
    while read -r id; do docker rm -f "hoist-job-$id" >/dev/null 2>&1; done <"$work/jobs"
  fi
  if [[ -s $work/tao-jobs ]]; then
    while read -r id; do docker rm -f "tao-job-$id" >/dev/null 2>&1; done <"$work/tao-jobs"
  fi
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1
  [[ $had_network == no ]] && docker network rm tao_default >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

command -v hyperfine >/dev/null || { echo "error: hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || { echo "error: $BASE_IMAGE is missing: run scripts/testbed.sh" >&2; exit 1; }
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
export HOIST_HOME=$work/home TAO_SDK_STATE_DIR=$work/tao
mkdir -m 700 "$work/tao"
touch "$work/jobs" "$work/tao-jobs"
unset HOIST_PROFILE HOIST_PLATFORM

py=python3
if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import tao_sdk.platforms.docker' 2>/dev/null; then
  py=$venv/bin/python
  # TAO runs every command as /bin/bash -c; busybox has only sh (as in bench/python.sh).
  if ! docker image inspect "$TAO_IMAGE" >/dev/null 2>&1; then
    printf 'FROM %s\nRUN printf "#!/bin/sh\\nexec /bin/sh \\"\\$@\\"\\n" >/bin/bash && chmod 755 /bin/bash\n' \
      "$BASE_IMAGE" | DOCKER_BUILDKIT=0 docker build -q -t "$TAO_IMAGE" - >/dev/null 2>&1
  fi
else
  echo "bench: no TAO SDK venv ($venv; bench/python.sh makes it): comparing against docker wait only" >&2
fi

# --- 1. wait latency --------------------------------------------------------------------------
"$py" - "$hoist" "$BASE_IMAGE" "$TAO_IMAGE" "$N" "$label" "$work" <<'PY'
import json, subprocess, sys, time
from datetime import datetime
hoist, image, tao_image, n, label, work = sys.argv[1:7]
n = int(n)

def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0,):
        sys.exit(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
    return r.stdout

def finished_at(container):
    """The daemon's record of the exit, as Unix seconds (same host clock as time.time())."""
    s = run("docker", "inspect", "-f", "{{.State.FinishedAt}}", container).strip()
    # 2026-12-06T03:01:02.123456789Z: Python's fromisoformat takes at most microseconds.
    head, frac = s.rstrip("Z").split(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + frac)

def hoist_round():
    out = run(hoist, "run", "-d", "--platform", "docker", "--image", image, "--", "sleep", "1")
    job = [l.split()[0] for l in out.splitlines() if l.strip()][-1]
    open(f"{work}/jobs", "a").write(job + "\n")
    subprocess.run([hoist, "wait", job], capture_output=True)
    back = time.time()
    return back - finished_at(f"hoist-job-{job}")

def docker_round():
    cid = run("docker", "run", "-d", "--label", label, image, "sleep", "1").strip()
    run("docker", "wait", cid)
    back = time.time()
    return back - finished_at(cid)

tao = None
try:
    from tao_sdk.platforms.docker import DockerSDK
    tao = DockerSDK()
except Exception:
    pass

def tao_round():
    job = tao.create_job(image=tao_image, command="sleep 1", gpu_count=0)
    open(f"{work}/tao-jobs", "a").write(job.id + "\n")
    while tao.get_job_status(job.id).status not in ("Complete", "Error", "Canceled"):
        pass
    back = time.time()
    return back - finished_at(f"tao-job-{job.id}")

sides = {"hoist": hoist_round, "docker": docker_round}
if tao is not None:
    sides["tao"] = tao_round
res = {k: [] for k in sides}
for i in range(n):
    names = list(sides)
    names = names[i % len(names):] + names[:i % len(names)]
    for k in names:
        res[k].append(sides[k]())
json.dump(res, open(f"{work}/wait.json", "w"))
PY

# --- 2. status of a running job, with leftovers on the daemon ---------------------------------
for _ in $(seq "$LEFTOVERS"); do
  "$hoist" run -d --platform docker --image "$BASE_IMAGE" -- true 2>/dev/null | awk 'NF { id = $1 } END { print id }' >>"$work/jobs"
done
sid=$("$hoist" run -d --platform docker --image "$BASE_IMAGE" -- sleep 600 | awk 'NF { id = $1 } END { print id }')
echo "$sid" >>"$work/jobs"
for _ in $(seq 100); do
  [[ $("$hoist" status "$sid" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])') == Running ]] && break
  sleep 0.1
done
hyperfine -N --warmup 3 --min-runs 30 --export-json "$work/status.json" \
  -n "hoist status" "$hoist status $sid --json" \
  -n "docker inspect" "docker inspect hoist-job-$sid" >/dev/null

python3 - "$work" "$N" "$LEFTOVERS" <<'PY'
import json, statistics, sys
work, n, left = sys.argv[1], sys.argv[2], sys.argv[3]
w = json.load(open(f"{work}/wait.json"))
med = {k: statistics.median(v) * 1e3 for k, v in w.items()}
print(f"docker wait bench: N={n} rounds per side, job `sleep 1`, exit (State.FinishedAt) -> waiter returns (median)")
print(f"  hoist wait   {med['hoist']:7.1f} ms  (min {min(w['hoist'])*1e3:.1f}, max {max(w['hoist'])*1e3:.1f})")
print(f"  docker wait  {med['docker']:7.1f} ms  (min {min(w['docker'])*1e3:.1f}, max {max(w['docker'])*1e3:.1f})")
if "tao" in med:
    print(f"  TAO SDK poll {med['tao']:7.1f} ms  (in-process get_job_status loop)")
    print(f"  ratio hoist / TAO SDK: {med['hoist'] / med['tao']:.2f}")
print(f"  ratio hoist / docker wait: {med['hoist'] / med['docker']:.2f}")
st = {x["command"]: x for x in json.load(open(f"{work}/status.json"))["results"]}
h, d = st["hoist status"], st["docker inspect"]
print(f"status of a running job ({left} ended hoist containers on the daemon), hyperfine mean:")
print(f"  hoist status --json {h['mean']*1e3:6.1f} ms +- {h['stddev']*1e3:.1f}")
print(f"  docker inspect      {d['mean']*1e3:6.1f} ms +- {d['stddev']*1e3:.1f}")
print(f"  ratio hoist / docker inspect: {h['mean'] / d['mean']:.3f} (target <= 1.1)")
PY
