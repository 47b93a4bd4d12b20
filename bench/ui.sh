#!/usr/bin/env bash
# hoist ui over 10,000 stored jobs: time to first byte and full render of the jobs page (the
# HTML, then its CSS and JS on the same connection, as a browser fetches them), page 1 and a
# deep page, against the anchor measured in the same run on the same store: `hoist ls --json`
# (what a script pays to read the same table). Then the SSE latency: a local job's end (its
# recorded finished_at) to the `job` event on /api/events, against `hoist wait` noticing the
# same kind of end. Prints absolute times and ratios. Needs curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
RUNS=${RUNS:-30}
JOBS=${JOBS:-15}
work=$(mktemp -d)
ui_pid=
cleanup() {
  [[ -n $ui_pid ]] && kill "$ui_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --release -p hoist-cli
cargo build -q --release -p hoist-store --example seed
bin=target/x86_64-unknown-linux-gnu/release
export HOIST_HOME="$work/home"
"$bin/examples/seed" "$HOIST_HOME" "$N" >/dev/null
echo "seeded $N jobs"

"$bin/hoist" ui --listen 127.0.0.1:0 --token bench-token-0123 >"$work/url" 2>"$work/ui.err" &
ui_pid=$!
for _ in $(seq 100); do [[ -s $work/url ]] && break; sleep 0.05; done
url=$(head -n1 "$work/url")
[[ -n $url ]] || { echo "hoist ui did not start: $(cat "$work/ui.err")" >&2; exit 1; }
base=${url%%/\?token=*}
auth="Authorization: Bearer bench-token-0123"

python3 - "$base" "$bin/hoist" "$RUNS" "$JOBS" <<'PY'
import json, statistics, subprocess, sys, threading, time, urllib.request
from datetime import datetime

base, hoist, runs, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
auth = {"Authorization": "Bearer bench-token-0123"}

def curl(*paths):
    """Seconds to first byte and to the last byte of everything, one keep-alive connection."""
    fmt = "%{time_starttransfer} %{time_total}\n"
    args = ["curl", "-s", "-H", "Authorization: Bearer bench-token-0123", "-w", fmt]
    for p in paths:
        args += ["-o", "/dev/null", base + p]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split("\n")
    first = float(out[0].split()[0])
    # Each transfer's time_total counts from its own start: their sum is the whole fetch.
    total = sum(float(l.split()[1]) for l in out if l.strip())
    return first, total

def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t

def mean(xs):
    return statistics.mean(xs) * 1e3

for _ in range(3):
    curl("/", "/static/app.css", "/static/app.js")
    timed([hoist, "ls", "--json"])
anchor = [timed([hoist, "ls", "--json"]) for _ in range(runs)]
p1 = [curl("/", "/static/app.css", "/static/app.js") for _ in range(runs)]
deep = [curl("/?page=150&per=50", "/static/app.css", "/static/app.js") for _ in range(runs)]
a = mean(anchor)
print(f"{'what':<44}{'mean ms':>10}{'vs anchor':>16}   (anchor time / this: above 1 is faster)")
print(f"{'anchor: hoist ls --json (10k jobs)':<44}{a:>10.2f}{'1.0x':>16}")
for label, xs in (("jobs page 1: time to first byte", [f for f, _ in p1]),
                  ("jobs page 1: full render (html+css+js)", [t for _, t in p1]),
                  ("jobs page 150: time to first byte", [f for f, _ in deep]),
                  ("jobs page 150: full render", [t for _, t in deep])):
    m = mean(xs)
    print(f"{label:<44}{m:>10.2f}{a / m:>15.1f}x")

# SSE latency: the job's recorded end to the event's arrival, against `hoist wait`.
def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

seen = {}
def listen():
    req = urllib.request.Request(base + "/api/events", headers=auth)
    with urllib.request.urlopen(req) as r:
        event = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "job":
                j = json.loads(line[6:])
                if j["status"] == "Complete" and j["job_id"] not in seen:
                    seen[j["job_id"]] = time.time()
threading.Thread(target=listen, daemon=True).start()
time.sleep(0.5)  # the stream is open before the first job is submitted

def submit():
    out = subprocess.run([hoist, "run", "-d", "--", "sleep", "0.5"], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out

def finished(job):
    s = json.loads(subprocess.run([hoist, "status", job, "--json"], check=True,
                                  capture_output=True, text=True).stdout)
    return ts(s["finished_at"])

sse, wait = [], []
for _ in range(jobs):
    job = submit()
    deadline = time.time() + 30
    while job not in seen and time.time() < deadline:
        time.sleep(0.01)
    if job not in seen:
        sys.exit(f"no event for job {job} within 30 s")
    sse.append(seen[job] - finished(job))
    job = submit()
    subprocess.run([hoist, "wait", job], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait.append(time.time() - finished(job))
w, s = mean(wait), mean(sse)
print(f"{'anchor: hoist wait, end to return':<44}{w:>10.1f}{'1.0x':>16}")
print(f"{'SSE: local job end to /api/events':<44}{s:>10.1f}{w / s:>15.1f}x")
print(f"(SSE median {statistics.median(sse) * 1e3:.0f} ms, max {max(sse) * 1e3:.0f} ms over {jobs} jobs)")
PY
