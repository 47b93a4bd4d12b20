#!/usr/bin/env bash
# hoist's docker platform against the docker CLI on the same daemon, each anchor measured in the
# same run. Prints absolute means and ratios (hoist / docker), no pass/fail:
#   1. submit -> running: `hoist run -d` then poll `hoist status --json` until Running, against
#      `docker run -d` then poll `docker inspect` until Running (N rounds, alternating who goes first)
#   2. `hoist status ID --json` of a running job against `docker inspect` of its container
#   3. `hoist logs ID` of a finished job that wrote 100 MB against `docker logs` of its container
# Needs the testbed (scripts/testbed.sh: the image hoist-test/busybox:latest) and hyperfine (Debian).
# Set DOCKER_HOST (e.g. tcp://127.0.0.1:23750, ssh://hoist-testbed-ssh) to measure another
# transport: both sides use it. HOIST_BIN=path measures that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
IMAGE=${IMAGE:-hoist-test/busybox:latest}
LOG_BYTES=$((100 * 1024 * 1024))
work=$(mktemp -d)
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
bench_label="hoist-bench=$$"     # on the anchor containers, so cleanup finds them all

# Every job and container this run made goes, whatever happens. Jobs are listed in $work/jobs.
cleanup() {
  set +e
  if [[ -s $work/jobs ]]; then
    while read -r id; do
      "$hoist" rm --force "$id" >/dev/null 2>&1
      docker rm -f "hoist-job-$id" >/dev/null 2>&1
    done <"$work/jobs"
  fi
  docker ps -aq --filter "label=$bench_label" | xargs -r docker rm -f >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || scripts/testbed.sh
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
export HOIST_HOME="$work/home"
touch "$work/jobs"

# submit CMD...: a detached docker job; prints the id `hoist run -d` printed (its last non-empty line).
submit() { "$hoist" run -d --platform docker --image "$IMAGE" -- "$@" | awk 'NF { id = $1 } END { print id }'; }
job_status() { "$hoist" status "$1" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])'; }

# --- 1. submit -> running ----------------------------------------------------------------------
# Python for the clock (perf_counter) and the polling; each poll is one process, as a user's
# script would do. Cleanup between rounds is not timed.
python3 - "$hoist" "$IMAGE" "$N" "$bench_label" "$work/jobs" "$work/latency.json" <<'PY'
import json, subprocess, sys, time
hoist, image, n, label, jobs_file, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
TERMINAL = {"Complete", "Error", "Canceled"}

def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
    return r.stdout

def poll(what, check, limit=60):
    deadline = time.monotonic() + limit
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            sys.exit(f"{what}: not running after {limit} s")

def hoist_round():
    t0 = time.perf_counter()
    # The id is the last non-empty line `hoist run -d` prints.
    job = [l.split()[0] for l in run(hoist, "run", "-d", "--platform", "docker", "--image", image, "--", "sleep", "30").splitlines() if l.strip()][-1]
    with open(jobs_file, "a") as f:
        f.write(job + "\n")
    def running():
        s = json.loads(run(hoist, "status", job, "--json"))
        if s["status"] in TERMINAL:
            sys.exit(f"hoist job {job} ended before it was seen running: {s}")
        return s["status"] == "Running"
    poll(f"hoist job {job}", running)
    dt = time.perf_counter() - t0
    subprocess.run([hoist, "rm", "--force", job], capture_output=True)
    subprocess.run(["docker", "rm", "-f", f"hoist-job-{job}"], capture_output=True)
    return dt

def docker_round(*flags):
    t0 = time.perf_counter()
    cid = run("docker", "run", "-d", "--label", label, *flags, image, "sleep", "30").strip()
    poll(f"container {cid[:12]}", lambda: run("docker", "inspect", "-f", "{{.State.Running}}", cid).strip() == "true")
    dt = time.perf_counter() - t0
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return dt

# Two anchors: plain `docker run -d` (default bridge), and the same container hoist makes (its
# user-defined network hoist_default and an init process), which is the like-for-like one: on
# this daemon attaching to a user-defined bridge alone costs tens of milliseconds.
h, d, same = [], [], []
for i in range(n):
    # Rotate who goes first so no side always runs on a daemon just warmed by another.
    order = [lambda: h.append(hoist_round()), lambda: d.append(docker_round()), lambda: same.append(docker_round("--network", "hoist_default", "--init"))]
    for k in range(3):
        order[(i + k) % 3]()
json.dump({"hoist": h, "docker": d, "same": same}, open(out, "w"))
PY

# --- 2. status of a running job ----------------------------------------------------------------
sid=$(submit sleep 600)
[[ -n $sid ]] || { echo "hoist run -d printed no job id" >&2; exit 1; }
echo "$sid" >>"$work/jobs"
for _ in $(seq 600); do [[ $(job_status "$sid") == Running ]] && break; sleep 0.1; done
[[ $(job_status "$sid") == Running ]] || { echo "job $sid is not running: $("$hoist" status "$sid" --json)" >&2; exit 1; }
hyperfine -N --warmup 3 --min-runs 20 --export-json "$work/status.json" \
  -n "hoist status" "$hoist status $sid --json" \
  -n "docker inspect" "docker inspect hoist-job-$sid" >/dev/null
"$hoist" rm --force "$sid" >/dev/null 2>&1 || true

# --- 3. logs of a job that wrote 100 MB -------------------------------------------------------
lid=$(submit sh -c "yes 0123456789012345678901234567890123456789 | head -c $LOG_BYTES")
[[ -n $lid ]] || { echo "hoist run -d printed no job id" >&2; exit 1; }
echo "$lid" >>"$work/jobs"
"$hoist" wait "$lid" >/dev/null || { echo "log job $lid failed: $("$hoist" status "$lid" --json)" >&2; exit 1; }
# What each side prints. The daemon may keep less than the job wrote: json-file with the
# log-opts max-size/max-file (this project's machines: 10m x 3) rotates the oldest output away,
# and `docker logs` then prints only what is left. Sizes are reported with the times.
hb=$("$hoist" logs "$lid" 2>&1 | wc -c)
db=$(docker logs "hoist-job-$lid" 2>&1 | wc -c)
((hb > 0 && db > 0)) || { echo "no log output: hoist logs printed $hb bytes, docker logs $db" >&2; exit 1; }
echo "$hb $db $(docker inspect -f '{{json .HostConfig.LogConfig}}' "hoist-job-$lid")" >"$work/logsizes"
hyperfine -N --warmup 1 --min-runs 10 --output=null --export-json "$work/logs.json" \
  -n "hoist logs" "$hoist logs $lid" \
  -n "docker logs" "docker logs hoist-job-$lid" >/dev/null

python3 - "$work" "$N" <<'PY'
import json, statistics, sys
work, n = sys.argv[1], sys.argv[2]
lat = json.load(open(f"{work}/latency.json"))
def hf(name):
    return {x["command"]: (x["mean"] * 1e3, x["stddev"] * 1e3) for x in json.load(open(f"{work}/{name}.json"))["results"]}
st, lg = hf("status"), hf("logs")
def ms(xs):
    return statistics.mean(xs) * 1e3, (statistics.stdev(xs) * 1e3 if len(xs) > 1 else 0.0)
rows = [
    (f"submit->running (n={n})", ms(lat["hoist"]), "docker run -d + inspect", ms(lat["docker"]), "<= 1.15x"),
    (f"submit->running (n={n})", ms(lat["hoist"]), "same, --network hoist_default --init", ms(lat["same"]), "<= 1.15x"),
    ("hoist status ID --json", st["hoist status"], "docker inspect", st["docker inspect"], ""),
    ("hoist logs ID (100 MB)", lg["hoist logs"], "docker logs", lg["docker logs"], ""),
]
hb, db, logcfg = open(f"{work}/logsizes").read().split(" ", 2)
print(f"{'hoist':<26}{'mean ms':>10}{'stddev':>9}   {'anchor':<38}{'mean ms':>10}{'stddev':>9}{'hoist/anchor':>14}{'goal':>10}")
for hn, (hm, hs), an, (am, as_), goal in rows:
    print(f"{hn:<26}{hm:>10.2f}{hs:>9.2f}   {an:<38}{am:>10.2f}{as_:>9.2f}{hm / am:>13.2f}x{goal:>10}")
print(f"log bytes printed: hoist {int(hb):,}, docker {int(db):,}, of {100 * 1024 * 1024:,} written (container log config {logcfg.strip()})")
PY
