#!/usr/bin/env bash
# `hoist why` on a finished local job whose log is 100 MB (training-step lines, ending in a
# CUDA OOM traceback), against anchors measured in the same run:
#   - `tail -c 1M LOG | grep -c .`: reading the same bounded tail with coreutils;
#   - `hoist status ID --json`: the same binary's start-up and store read, without the log.
# `why` reads at most the last 1 MiB / 5,000 lines of a log (hoist_core::failure::LOG_TAIL_*),
# seeking from the end, so its time should not grow with the log. Prints absolute means and
# ratios (why / anchor), no pass/fail. Needs hyperfine (Debian). HOIST_BIN=path measures that
# binary instead of building one; LOG_MB sets the log size.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_MB=${LOG_MB:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}

command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli
export HOIST_HOME="$work/home"

# The log: LOG_MB of step lines, then the traceback PyTorch prints on a CUDA OOM.
log="$work/train.log"
python3 - "$log" "$LOG_MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
line = "step {:>9} | loss 2.{:04d} | lr 3.0e-04 | grad_norm 1.02 | tokens/s 412345 | mem 71.2 GiB\n"
with open(path, "w") as f:
    n, size = 0, 0
    while size < mb * 1024 * 1024:
        s = line.format(n, n % 10000)
        f.write(s)
        size += len(s)
        n += 1
    f.write("""Traceback (most recent call last):
  File "/workspace/train.py", line 212, in <module>
    main()
  File "/workspace/train.py", line 187, in main
    loss = model(**batch).loss
  File "/usr/local/lib/python3.10/dist-packages/torch/nn/modules/module.py", line 1736, in _wrapped_call_impl
    return self._call_impl(*args, **kwargs)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB of which 1.06 GiB is free.
""")
PY
id=$("$hoist" run -d -- "cat '$log'; exit 1" | awk 'NF { id = $1 } END { print id }')
"$hoist" wait "$id" >/dev/null 2>&1 || true
out="$HOIST_HOME/jobs/$id/output.log"
printf 'job %s, log %s bytes\n' "${id:0:8}" "$(stat -c %s "$out")"
"$hoist" why "$id" | sed -n '1,4p'

hyperfine -N --warmup 3 --min-runs 20 --export-json "$work/h.json" \
  -n tail "bash -c 'tail -c 1M $out | grep -c . >/dev/null'" \
  -n status "$hoist status $id --json" \
  -n why "$hoist why $id --json" >/dev/null

python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
w = r["why"]["mean"]
print(f"{'command':<34}{'mean ms':>10}{'stddev':>9}{'why / it':>10}")
for name, label in (("tail", "tail -c 1M LOG | grep -c ."), ("status", "hoist status ID --json"), ("why", "hoist why ID --json (100 MB log)")):
    m, s = r[name]["mean"] * 1e3, r[name]["stddev"] * 1e3
    print(f"{label:<34}{m:>10.2f}{s:>9.2f}{w / r[name]['mean']:>10.2f}")
PY
