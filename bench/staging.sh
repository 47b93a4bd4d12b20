#!/usr/bin/env bash
# Data staging: hoist's transfers against `aws s3 cp` (awscli) on the same S3 server, and the
# runner's start overhead, each anchor measured in the same run. Prints absolute means and
# ratios (hoist / anchor), no pass/fail:
#   1. download of a 1 GiB object: the in-job runner fetching it as an input (`hoist __run`
#      with a plan that has one input and runs `true`) vs `aws s3 cp s3://… FILE`
#   2. upload of a 1 GiB file: the runner sending it as an output vs `aws s3 cp FILE s3://…`
#   3. runner start overhead with nothing to fetch: `hoist __run` around `true` vs `true`
#   4. a docker job start to finish with the runner copied in vs the same job without it
# Needs the testbed (scripts/testbed.sh: S3 server on 127.0.0.1:9000, the busybox image),
# hyperfine (Debian) and awscli (pip install awscli). HOIST_BIN=path measures that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-1024}
IMAGE=${IMAGE:-hoist-test/busybox:latest}
hoist=${HOIST_BIN:-$PWD/target/x86_64-unknown-linux-gnu/release/hoist}
s3root=/var/lib/hoist-testbed/s3
bucket=bench-$$
work=$(mktemp -d)
cleanup() {
  set +e
  rm -rf "$work" "${s3root:?}/$bucket"
}
trap cleanup EXIT

command -v hyperfine >/dev/null || { echo "installing hyperfine (Debian)"; apt-get install -y -qq hyperfine >/dev/null; }
command -v aws >/dev/null || { echo "awscli is missing: pip install awscli" >&2; exit 1; }
(exec 3<>/dev/tcp/127.0.0.1/9000) 2>/dev/null || scripts/testbed.sh
[[ -n ${HOIST_BIN:-} ]] || cargo build -q --release -p hoist-cli

export AWS_ACCESS_KEY_ID=hoist-s3-access AWS_SECRET_ACCESS_KEY=hoist-s3-secret-key
export AWS_DEFAULT_REGION=us-east-1 S3_ENDPOINT_URL=http://127.0.0.1:9000 HOIST_NO_PROGRESS=1
export TAO_RESULTS_ROOT="$work/results" HOIST_SCRATCH="$work/scratch"
aws_s3() { aws --endpoint-url "$S3_ENDPOINT_URL" s3 "$@" --only-show-errors; }

mkdir -p "$s3root/$bucket" "$work/results"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$work/big.bin"
aws_s3 cp "$work/big.bin" "s3://$bucket/big.bin"

plan() { # plan NAME INPUTS_JSON OUTPUTS_JSON
  printf '{"job_id":"bench","mode":"passthrough","command":{"argv":["true"]},"shell":null,"spec":null,"spec_format":"yaml","args":{},"inputs":%s,"outputs":%s,"upload_excludes":[]}\n' "$2" "$3" >"$work/plan-$1.json"
}
plan down "[{\"key\":\"$work/down/big.bin\",\"uri\":\"s3://$bucket/big.bin\"}]" '[]'
plan up '[]' "[{\"key\":\"$work/big.bin\",\"uri\":\"s3://$bucket/up-hoist/big.bin\"}]"
plan empty '[]' '[]'

echo "== 1 GiB download (${SIZE_MB} MiB object)"
hyperfine -N -r "$RUNS" --export-json "$work/down.json" \
  --prepare "rm -rf $work/down $work/aws-down.bin $work/scratch" \
  -n hoist "$hoist __run --plan $work/plan-down.json" \
  -n "aws s3 cp" "aws --endpoint-url $S3_ENDPOINT_URL s3 cp s3://$bucket/big.bin $work/aws-down.bin --only-show-errors" >/dev/null
# hyperfine's prepare ran again before the anchor: fetch once more to compare the bytes.
rm -rf "$work/down" "$work/scratch"
"$hoist" __run --plan "$work/plan-down.json" 2>/dev/null
cmp "$work/big.bin" "$work/down/big.bin" && echo "hoist's copy is byte-identical"

echo "== 1 GiB upload"
hyperfine -N -r "$RUNS" --export-json "$work/up.json" \
  -n hoist "$hoist __run --plan $work/plan-up.json" \
  -n "aws s3 cp" "aws --endpoint-url $S3_ENDPOINT_URL s3 cp $work/big.bin s3://$bucket/up-aws/big.bin --only-show-errors" >/dev/null
cmp "$work/big.bin" "$s3root/$bucket/up-hoist/big.bin" && echo "the uploaded object is byte-identical"

echo "== runner start overhead, nothing to fetch"
hyperfine -N -w 3 -r 30 --export-json "$work/start.json" \
  -n runner "$hoist __run --plan $work/plan-empty.json" \
  -n bare "true" >/dev/null

echo "== docker job, start to finish, with and without the runner"
export HOIST_HOME="$work/home"
hyperfine -w 1 -r "$RUNS" --export-json "$work/docker.json" \
  -n "with runner" "$hoist run --platform docker --image $IMAGE --rm -o /tmp/out -- true" \
  -n "without" "$hoist run --platform docker --image $IMAGE --rm -- true" >/dev/null 2>&1

python3 - "$work" "$SIZE_MB" <<'EOF'
import json, sys
w, mib = sys.argv[1], int(sys.argv[2])
def means(name):
    return {r["command"]: r["mean"] for r in json.load(open(f"{w}/{name}.json"))["results"]}
for name, a, b, unit in [("down", "hoist", "aws s3 cp", "s"), ("up", "hoist", "aws s3 cp", "s"),
                         ("start", "runner", "bare", "ms"), ("docker", "with runner", "without", "ms")]:
    m = means(name)
    k = 1000 if unit == "ms" else 1
    extra = ""
    if name in ("down", "up"):
        extra = "  (hoist %.0f MiB/s, aws %.0f MiB/s)" % (mib / m[a], mib / m[b])
    if name in ("start", "docker"):
        extra = "  (adds %.1f ms)" % ((m[a] - m[b]) * 1000)
    print(f"{name:7s} {a} {m[a]*k:8.2f} {unit}   {b} {m[b]*k:8.2f} {unit}   ratio {m[a]/m[b]:.2f}{extra}")
EOF
