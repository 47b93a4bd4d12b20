#!/usr/bin/env bash
# Status of 200 active Lepton jobs on the recorded-response server on loopback
# (crates/hoist-lepton/tests/fake-lepton/server.py): `hoist ls --json` (which refreshes every
# live job) against the anchor measured in the same run, one GET per job as the TAO SDK's
# get_job_status makes them (a Python client on one kept-alive connection, so the anchor pays
# no process start per job). Prints API calls and wall time, no pass/fail. Needs hyperfine
# (Debian). N=jobs (default 200); HOIST_BIN=path measures that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
work=$(mktemp -d)
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
server=""
cleanup() { [[ -n $server ]] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
mkdir -p "$work/state"
echo '{"script": [["Running", 0]]}' >"$work/state/setup.json"
python3 crates/hoist-lepton/tests/fake-lepton/server.py --port 0 --state "$work/state" >"$work/server.out" &
server=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
port=$(awk '/listening on/ {print $3}' "$work/server.out")
export HOIST_HOME="$work/home" LEPTON_WORKSPACE_ID=ws1 LEPTON_WORKSPACE_TOKEN=lepton-test-token
export LEPTON_WORKSPACE_URL="http://127.0.0.1:$port/api/v2/workspaces/ws1"
for i in $(seq "$N"); do
  "$hoist" run -d --platform lepton --image busybox:1.36 --name "bench-$i" -- sleep 1000 >>"$work/ids"
done
echo "submitted $N jobs"
# The Lepton ids, for the anchor.
"$hoist" ls --json | python3 -c 'import json,sys; [print(j["backend_job_id"]) for j in json.load(sys.stdin)]' >"$work/lepton-ids"

calls() { wc -l <"$work/state/requests.log"; }
before=$(calls); "$hoist" ls --json >/dev/null; hoist_calls=$(( $(calls) - before ))

cat >"$work/anchor.py" <<'PY'
import http.client, sys
port, ids = int(sys.argv[1]), open(sys.argv[2]).read().split()
c = http.client.HTTPConnection("127.0.0.1", port)
for i in ids:
    c.request("GET", f"/api/v2/workspaces/ws1/jobs/{i}?job_query_mode=alive_and_archive", headers={"authorization": "Bearer lepton-test-token"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
before=$(calls); python3 "$work/anchor.py" "$port" "$work/lepton-ids"; anchor_calls=$(( $(calls) - before ))

hyperfine -N --warmup 2 --min-runs 10 --export-json "$work/h.json" \
  -n "hoist ls --json" "$hoist ls --json" \
  -n "one GET per job" "python3 $work/anchor.py $port $work/lepton-ids" >/dev/null

python3 - "$work/h.json" "$N" "$hoist_calls" "$anchor_calls" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
n, hc, ac = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
h, a = r["hoist ls --json"], r["one GET per job"]
print(f"{'status of ' + n + ' active jobs':<34}{'API calls':>10}{'mean ms':>10}{'stddev':>9}")
print(f"{'hoist ls --json (refresh all)':<34}{hc:>10}{h['mean']*1e3:>10.1f}{h['stddev']*1e3:>9.1f}")
print(f"{'anchor: one GET per job (Python)':<34}{ac:>10}{a['mean']*1e3:>10.1f}{a['stddev']*1e3:>9.1f}")
print(f"hoist/anchor: {h['mean']/a['mean']:.2f}x time, {hc}/{ac} calls")
PY
