#!/usr/bin/env bash
# hoist's brev platform on an instance that is already ready, against plain ssh to the same
# instance, each anchor measured in the same run. Prints absolute means and ratios (hoist /
# anchor), no pass/fail:
#   1. submit -> running: `hoist run -d --platform brev --instance bench-box` then poll
#      `hoist status --json` until Running, against `ssh bench-box docker run -d` of the same
#      image then poll `ssh bench-box docker inspect` (N rounds, alternating who goes first)
#   2. `hoist status ID --json` of a running Brev job against one `ssh bench-box docker inspect`
# The instance is the brev stand-in's (crates/hoist-brev/tests/fake-brev: a Python script, so
# each brev call hoist makes costs a Python start here; the real CLI is a Go binary that calls
# Brev's API); its ssh alias points at the testbed's sshd, whose host runs the real Docker
# engine. Both sides use the ssh config `brev refresh` writes. Needs scripts/testbed.sh and
# hyperfine (Debian). HOIST_BIN=path measures that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
IMAGE=${IMAGE:-hoist-test/busybox:latest}
work=$(mktemp -d)
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
fake=$PWD/crates/hoist-brev/tests/fake-brev
bench_label="hoist-bench=$$"

cleanup() {
  set +e
  docker ps -aq --filter "label=hoist.platform=brev" --filter "label=hoist.job-id" | while read -r c; do
    [[ -n $(docker inspect -f '{{index .Config.Labels "hoist.job-id"}}' "$c" | grep -Ff "$work/jobs" 2>/dev/null) ]] && docker rm -f "$c" >/dev/null
  done
  docker ps -aq --filter "label=$bench_label" | xargs -r docker rm -f >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
[[ -f /root/.ssh/hoist_testbed_ed25519 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1 || scripts/testbed.sh
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
export HOIST_HOME="$work/home" HOME="$work/user" FAKE_BREV_STATE="$work/brev" PATH="$fake:$PATH"
mkdir -p "$HOME" "$FAKE_BREV_STATE"
touch "$work/jobs"
cat >"$FAKE_BREV_STATE/setup.json" <<JSON
{"logged_in": true,
 "instances": [{"name": "bench-box", "id": "bnchbx001", "status": "RUNNING", "instance_type": "g5.xlarge", "gpu": "A10G"}],
 "ssh": {"host": "127.0.0.1", "port": 2222, "user": "root", "key": "/root/.ssh/hoist_testbed_ed25519"}}
JSON
brev refresh </dev/null >/dev/null
cfg="$HOME/.brev/ssh_config"
# The anchor's ssh: brev's config as written, with a ControlMaster of its own (as brev's config
# asks, under this run's directory) so both sides reuse a connection.
assh() { ssh -F "$cfg" -T -o ControlPath="$work/anchor-%C" -o ControlMaster=auto -o ControlPersist=300 bench-box "$@" </dev/null; }
assh true

python3 - "$hoist" "$IMAGE" "$N" "$bench_label" "$work/jobs" "$work/latency.json" "$cfg" "$work" <<'PY'
import json, subprocess, sys, time
hoist, image, n, label, jobs_file, out, cfg, work = sys.argv[1:9]
n = int(n)
TERMINAL = {"Complete", "Error", "Canceled"}
SSH = ["ssh", "-F", cfg, "-T", "-o", f"ControlPath={work}/anchor-%C", "-o", "ControlMaster=auto", "-o", "ControlPersist=300", "bench-box"]

def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {r.returncode}): {r.stderr.strip()}")
    return r.stdout

def poll(what, check, limit=60):
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"{what}: not running after {limit} s")

def hoist_round():
    t0 = time.perf_counter()
    job = [l.split()[0] for l in run(hoist, "run", "-d", "--platform", "brev", "--instance", "bench-box", "--image", image, "--", "sleep", "30").splitlines() if l.strip()][-1]
    open(jobs_file, "a").write(job + "\n")
    def running():
        s = json.loads(run(hoist, "status", job, "--json"))
        if s["status"] in TERMINAL:
            sys.exit(f"hoist job {job} ended before it was seen running: {s}")
        return s["status"] == "Running"
    poll(f"hoist job {job}", running)
    dt = time.perf_counter() - t0
    subprocess.run([hoist, "rm", "--force", job], capture_output=True, stdin=subprocess.DEVNULL)
    subprocess.run(["docker", "rm", "-f", f"hoist-job-{job}"], capture_output=True)
    return dt

def ssh_round():
    t0 = time.perf_counter()
    cid = run(*SSH, f"docker run -d --label {label} --network hoist_default --init {image} sleep 30").strip()
    poll(f"container {cid[:12]}", lambda: run(*SSH, f"docker inspect -f '{{{{.State.Running}}}}' {cid}").strip() == "true")
    dt = time.perf_counter() - t0
    subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    return dt

h, a = [], []
for i in range(n):
    order = [lambda: h.append(hoist_round()), lambda: a.append(ssh_round())]
    for k in range(2):
        order[(i + k) % 2]()
json.dump({"hoist": h, "ssh": a}, open(out, "w"))
PY

sid=$("$hoist" run -d --platform brev --instance bench-box --image "$IMAGE" -- sleep 600 | awk 'NF { id = $1 } END { print id }')
echo "$sid" >>"$work/jobs"
for _ in $(seq 600); do
  [[ $("$hoist" status "$sid" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])') == Running ]] && break
done
hyperfine -N --warmup 3 --min-runs 20 --export-json "$work/status.json" \
  -n "hoist status" "$hoist status $sid --json" \
  -n "ssh docker inspect" "ssh -F $cfg -T -o ControlPath=$work/anchor-%C -o ControlMaster=auto -o ControlPersist=300 bench-box docker inspect hoist-job-$sid" >/dev/null
"$hoist" rm --force "$sid" >/dev/null 2>&1 || true
docker rm -f "hoist-job-$sid" >/dev/null 2>&1 || true
# What one brev call costs here (the stand-in's share of hoist's time).
hyperfine -N --warmup 3 --min-runs 20 --export-json "$work/brevls.json" -n "brev ls --json (stand-in)" "$fake/brev ls --json" >/dev/null

python3 - "$work" "$N" <<'PY'
import json, statistics, sys
work, n = sys.argv[1], sys.argv[2]
lat = json.load(open(f"{work}/latency.json"))
def hf(name):
    return {x["command"]: (x["mean"] * 1e3, x["stddev"] * 1e3) for x in json.load(open(f"{work}/{name}.json"))["results"]}
st, bl = hf("status"), hf("brevls")
def ms(xs):
    return statistics.mean(xs) * 1e3, (statistics.stdev(xs) * 1e3 if len(xs) > 1 else 0.0)
rows = [
    (f"submit->running (n={n})", ms(lat["hoist"]), "ssh docker run -d + ssh inspect", ms(lat["ssh"])),
    ("hoist status ID --json", st["hoist status"], "ssh docker inspect", st["ssh docker inspect"]),
]
print(f"{'hoist (brev)':<26}{'mean ms':>10}{'stddev':>9}   {'anchor':<34}{'mean ms':>10}{'stddev':>9}{'hoist/anchor':>14}")
for hn, (hm, hs), an, (am, as_) in rows:
    print(f"{hn:<26}{hm:>10.2f}{hs:>9.2f}   {an:<34}{am:>10.2f}{as_:>9.2f}{hm / am:>13.2f}x")
m, s = bl["brev ls --json (stand-in)"]
print(f"one brev ls --json call of the stand-in: {m:.2f} ms (sd {s:.2f}); each hoist command above makes one")
PY
