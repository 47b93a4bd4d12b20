#!/usr/bin/env bash
# hoist's Python package against the real TAO SDK (nvidia-tao-sdk 7.2.0 from PyPI), both on the
# local Docker daemon, in the same run. Prints absolute times and ratios (hoist / TAO), no
# pass/fail:
#   1. a fresh interpreter: import the SDK, construct DockerSDK(), one get_job_status of an
#      existing job (median of N runs, alternating who goes first)
#   2. 1,000 get_job_status calls in one process, after construction
# each for a job that ended (Complete) and one still running. Each side gets its own store
# (HOIST_HOME; TAO_SDK_STATE_DIR) with its own jobs, made by itself.
#
# The venv is target/bench-python-venv (reused): hoist built from this checkout (release
# profile; HOIST_BUILD_PROFILE=dev for a quick look, not for numbers) and
# nvidia-tao-sdk[docker]==7.2.0. Needs the Docker daemon and scripts/testbed.sh's busybox image
# (BASE_IMAGE), from which it builds hoist-bench/busybox-bash:latest (TAO runs /bin/bash -c;
# busybox has only sh, so /bin/bash there is a two-line script that execs it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
CALLS=${CALLS:-1000}
BASE_IMAGE=${BASE_IMAGE:-hoist-test/busybox:latest}
IMAGE=hoist-bench/busybox-bash:latest
venv=target/bench-python-venv
work=$(mktemp -d /tmp/hoist-bench-py.XXXXXX)

had_network=$(docker network inspect tao_default >/dev/null 2>&1 && echo yes || echo no)

cleanup() {
  set +e
  # Only what this run made: the containers of the jobs whose ids it wrote down.
  if [[ -s $work/tao-jobs ]]; then
    while read -r id; do docker rm -f "tao-job-$id" >/dev/null 2>&1; done <"$work/tao-jobs"
  fi
  if [[ -x $venv/bin/python && -d $work/hoist ]]; then
    HOIST_HOME=$work/hoist "$venv/bin/python" -c '
import hoist
h = hoist.Hoist()
for j in h.ls():
    h.remove(j.id, force=True)
' >/dev/null 2>&1
  fi
  # TAO's DockerSDK creates its network when it is missing.
  [[ $had_network == no ]] && docker network rm tao_default >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || {
  echo "error: the image $BASE_IMAGE is missing: run scripts/testbed.sh (or set BASE_IMAGE)" >&2
  exit 1
}
# TAO runs every command as /bin/bash -c: the test image plus a /bin/bash that execs busybox's
# sh, built here from the local base image (no registry).
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  printf 'FROM %s\nRUN printf "#!/bin/sh\\nexec /bin/sh \\"\\$@\\"\\n" >/bin/bash && chmod 755 /bin/bash\n' \
    "$BASE_IMAGE" | DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" - >/dev/null 2>&1
fi
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "nvidia-tao-sdk[docker]==7.2.0"
echo "bench: building and installing hoist's package (${HOIST_BUILD_PROFILE:-release} profile)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python

mkdir -m 700 "$work/tao"
export HOIST_HOME=$work/hoist TAO_SDK_STATE_DIR=$work/tao
# Neither side should pick up credentials or settings from this shell.
unset ACCESS_KEY SECRET_KEY S3_BUCKET_NAME S3_ENDPOINT_URL HF_TOKEN NGC_KEY HOIST_PROFILE HOIST_PLATFORM

"$venv/bin/python" - "$N" "$CALLS" "$IMAGE" "$work" <<'EOF'
import statistics
import subprocess
import sys
import time

n, calls, image, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

SIDES = {
    "hoist": "hoist.tao_sdk.platforms.docker",
    "tao": "tao_sdk.platforms.docker",
}


def make_jobs(side):
    """One ended and one running job, made by the side's own DockerSDK."""
    out = subprocess.run(
        [sys.executable, "-c", f"""
import time
from {SIDES[side]} import DockerSDK
sdk = DockerSDK()
ended = sdk.create_job(image={image!r}, command="true", gpu_count=0)
running = sdk.create_job(image={image!r}, command="sleep 3600", gpu_count=0)
print(ended.id, running.id, flush=True)
def settle(job_id, want):
    deadline = time.monotonic() + 120
    while sdk.get_job_status(job_id).status not in want:
        assert time.monotonic() < deadline, (job_id, sdk.get_job_status(job_id))
        time.sleep(0.1)
settle(ended.id, ("Complete",))
settle(running.id, ("Running",))
"""],
        capture_output=True, text=True, check=False,
    )
    ids = out.stdout.split()
    if side == "tao" and ids:
        # For the cleanup: TAO's containers are named after the job ids.
        with open(f"{work}/tao-jobs", "w") as f:
            f.write("\n".join(ids) + "\n")
    if out.returncode != 0:
        sys.exit(f"bench: making {side}'s jobs failed:\n{out.stderr}")
    return {"ended": ids[0], "running": ids[1]}


def fresh(side, job_id):
    """Seconds for one interpreter to import, construct and ask once."""
    code = (
        f"from {SIDES[side]} import DockerSDK\n"
        f"s = DockerSDK().get_job_status({job_id!r})\n"
        "assert s.status in ('Complete', 'Running'), s\n"
    )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t


def in_process(side, job_id):
    """Seconds for `calls` get_job_status calls in one process (after construction)."""
    code = f"""
import time
from {SIDES[side]} import DockerSDK
sdk = DockerSDK()
sdk.get_job_status({job_id!r})
t = time.perf_counter()
for _ in range({calls}):
    s = sdk.get_job_status({job_id!r})
print(time.perf_counter() - t, s.status)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[0])


jobs = {side: make_jobs(side) for side in SIDES}
print(f"python bench: DockerSDK on the local daemon, image {image}; N={n} fresh runs, {calls} calls")
for state in ("ended", "running"):
    times = {side: [] for side in SIDES}
    for i in range(n):
        order = list(SIDES) if i % 2 == 0 else list(reversed(SIDES))
        for side in order:
            times[side].append(fresh(side, jobs[side][state]))
    med = {side: statistics.median(v) for side, v in times.items()}
    print(
        f"  fresh interpreter, import + DockerSDK() + get_job_status ({state} job): "
        f"hoist {med['hoist'] * 1e3:.1f} ms, TAO {med['tao'] * 1e3:.1f} ms, "
        f"ratio {med['hoist'] / med['tao']:.3f}"
    )
    total = {side: in_process(side, jobs[side][state]) for side in SIDES}
    print(
        f"  {calls} get_job_status calls in one process ({state} job): "
        f"hoist {total['hoist'] * 1e3:.1f} ms ({total['hoist'] / calls * 1e6:.0f} us/call), "
        f"TAO {total['tao'] * 1e3:.1f} ms ({total['tao'] / calls * 1e6:.0f} us/call), "
        f"ratio {total['hoist'] / total['tao']:.3f}"
    )
EOF
