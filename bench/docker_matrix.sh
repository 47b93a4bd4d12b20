#!/usr/bin/env bash
# A Docker matrix of N trivial jobs (`true` in hoist-test/busybox:latest) on the local daemon,
# hoist against what a user does by hand, in the same run:
#   1. submit: hoist's batch (Hoist::create_jobs, through crates/hoist/examples/submit_many.rs)
#      against N sequential `docker run -d IMAGE true`
#   2. end to end: `hoist run --matrix i=1,...,N --max-parallel N -- true` (attached: returns
#      when every job has ended) against N `docker run -d` followed by one `docker wait` of all
# Prints wall times and ratios (baseline / hoist: above 1 means hoist is faster). Containers are
# removed between parts (not timed) and at the end, with the temporary HOIST_HOME.
# Needs the testbed's image (scripts/testbed.sh). HOIST_BIN / SUBMIT_MANY_BIN measure those
# binaries instead of building; CARGO_TARGET_DIR is honoured for the build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
IMAGE=${IMAGE:-hoist-test/busybox:latest}
work=$(mktemp -d)
export HOIST_HOME="$work/home"
label="hoist-bench-matrix=$$" # on the anchor containers, so cleanup finds them all
bin=${CARGO_TARGET_DIR:-$PWD/target}/x86_64-unknown-linux-gnu/release
hoist=${HOIST_BIN:-$bin/hoist}
many=${SUBMIT_MANY_BIN:-$bin/examples/submit_many}

# hoist's containers of this run (by the job-id label of each job in this HOIST_HOME) and the
# anchors (by their label).
remove_containers() {
  local ids
  ids=$("$hoist" ls --json 2>/dev/null | python3 -c 'import json, sys; print("\n".join(j["job_id"] for j in json.load(sys.stdin)))' 2>/dev/null || true)
  if [[ -n $ids ]]; then
    docker ps -a --filter label=hoist.job-id --format '{{.ID}} {{.Label "hoist.job-id"}}' |
      awk 'NR == FNR { want[$1] = 1; next } ($2 in want) { print $1 }' <(printf '%s\n' "$ids") - |
      xargs -r docker rm -f >/dev/null
  fi
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null
}
cleanup() {
  set +e
  remove_containers
  rm -rf "$work"
}
trap cleanup EXIT

docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "bench: $IMAGE is missing: run scripts/testbed.sh" >&2; exit 1; }
if [[ -z ${HOIST_BIN:-} ]]; then
  cargo build -q --release -p hoist-cli
  cargo build -q --release -p hoist --example submit_many
fi
# submit_many takes its platform and image from the environment and profile, as `hoist run` does.
mkdir -m 700 "$HOIST_HOME"
printf 'default_profile = "bench"\n\n[profiles.bench]\nplatform = "docker"\nimage = "%s"\n' "$IMAGE" >"$HOIST_HOME/config.toml"
# The first container start pays for the daemon's caches; neither side should.
docker run --rm "$IMAGE" true

now() { date +%s%N; }

t0=$(now)
"$many" "$N" true >"$work/many.json"
t1=$(now)
"$hoist" ls --json >"$work/batch_jobs.json"
remove_containers
t2=$(now)
for _ in $(seq "$N"); do docker run -d --label "$label" "$IMAGE" true >>"$work/anchor_ids"; done
t3=$(now)
remove_containers
t4=$(now)
"$hoist" run --platform docker --image "$IMAGE" --matrix "i=$(seq -s, 1 "$N")" --max-parallel "$N" -- true >"$work/matrix.out" 2>&1 ||
  { cat "$work/matrix.out" >&2; echo "bench: the hoist matrix failed" >&2; exit 1; }
t5=$(now)
remove_containers
t6=$(now)
for _ in $(seq "$N"); do docker run -d --label "$label" "$IMAGE" true >>"$work/e2e_ids"; done
docker wait $(<"$work/e2e_ids") >"$work/e2e_codes"
t7=$(now)
[[ $(wc -l <"$work/anchor_ids") -eq $N && $(grep -cx 0 "$work/e2e_codes") -eq $N ]] || { echo "bench: an anchor container failed" >&2; exit 1; }
# The matrix's jobs: those the batch of part 1 did not make.
done_jobs=$("$hoist" ls --json | python3 -c '
import json, sys
batch = {j["job_id"] for j in json.load(open(sys.argv[1]))}
print(sum(j["status"] == "Complete" for j in json.load(sys.stdin) if j["job_id"] not in batch))' "$work/batch_jobs.json")
[[ $done_jobs -eq $N ]] || { echo "bench: $done_jobs of the matrix's $N jobs completed" >&2; exit 1; }

python3 - "$N" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$t6" "$t7" "$work/many.json" <<'PY'
import json, sys
n, t0, t1, t2, t3, t4, t5, t6, t7 = map(int, sys.argv[1:10])
many = json.load(open(sys.argv[10]))
assert many["submitted"] == n, many
ms = lambda a, b: (b - a) / 1e6
submit, anchor = ms(t0, t1), ms(t2, t3)
e2e, e2e_anchor = ms(t4, t5), ms(t6, t7)
print(f"{'what':<52}{'wall ms':>10}{'baseline/hoist':>16}")
print(f"{f'hoist create_jobs ({n} jobs, submit_many)':<52}{submit:>10.0f}{anchor / submit:>15.1f}x")
print(f"{f'docker run -d loop ({n} containers)':<52}{anchor:>10.0f}")
print(f"{f'hoist run --matrix ({n} jobs, attached to the end)':<52}{e2e:>10.0f}{e2e_anchor / e2e:>15.1f}x")
print(f"{f'docker run -d x{n} + docker wait':<52}{e2e_anchor:>10.0f}")
print(f"inside submit_many, create_jobs took {many['create_jobs_ms']:.0f} ms (the process {many['process_ms']:.0f} ms)")
PY
