#!/usr/bin/env bash
# Self-test for the fake `brev` next to this file. Needs bash and python3 only
# (uses `ssh -G` to parse the written config when an ssh client is present).
# Exits non-zero on any mismatch.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export PATH="$HERE:$PATH"
FAILS=0
CHECKS=0
RC=0

# Fresh state dir + home for one scenario; $2 (optional) is setup.json.
scenario() {
    export FAKE_BREV_STATE="$TMP/$1/state" HOME="$TMP/$1/home"
    mkdir -p "$FAKE_BREV_STATE" "$HOME"
    if [ $# -ge 2 ]; then printf '%s\n' "$2" >"$FAKE_BREV_STATE/setup.json"; fi
    echo "== $1"
}

# Run brev with stdin = /dev/null; keep stdout/stderr/rc for the checks.
b() { brev "$@" </dev/null >"$TMP/out" 2>"$TMP/err"; RC=$?; }

# check LABEL PYTHON-EXPR: names out, err (raw text), rc, j (stdout as JSON or
# None), home, state, ls (list of workspaces from j, whatever the shape),
# ws(name) (that workspace or None), read(path), mode(path).
check() {
    CHECKS=$((CHECKS + 1))
    python3 -S - "$1" "$2" "$TMP/out" "$TMP/err" "$RC" <<'PY' || FAILS=$((FAILS + 1))
import json, os, stat, sys
label, expr, fo, fe, rc = sys.argv[1:6]
out, err, rc = open(fo).read(), open(fe).read(), int(rc)
try:
    j = json.loads(out)
except ValueError:
    j = None
home, state = os.environ["HOME"], os.environ["FAKE_BREV_STATE"]
ls = (j.get("workspaces") if isinstance(j, dict) else j) or []
def ws(name):
    return next((w for w in ls if w["name"] == name), None)
def read(p):
    return open(p).read()
def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)
try:
    ok = eval(expr)
except Exception as e:
    ok, expr = False, "%s  [raised %r]" % (expr, e)
if not ok:
    sys.stderr.write("FAIL %s\n  expr:   %s\n  rc:     %d\n  stdout: %r\n  stderr: %r\n"
                     % (label, expr, rc, out[:2000], err[:2000]))
    sys.exit(1)
PY
}

# Shorthand: the state triple of one workspace in the last `ls --json`.
triple() { check "$1" "(ws('$2')['status'], ws('$2')['build_status'], ws('$2')['shell_status'], ws('$2')['health_status']) == $3"; }

FIELDS='["name","id","status","build_status","shell_status","health_status","instance_type","instance_kind","gpu"]'
PROMPT='You are currently logged out, would you like to log in? [Y/n]: '

# ---------------------------------------------------------------- misc ----
scenario misc
b --version;            check "version" "rc == 0 and out == 'brev version v0.6.327\n' and err == ''"
printf '{"version":"v0.6.320"}' >"$FAKE_BREV_STATE/setup.json"
b --version;            check "version knob" "out == 'brev version v0.6.320\n'"
b frobnicate;           check "unknown command" "rc == 1 and 'Error: unknown command \"frobnicate\" for \"brev\"' in err"
b --nope;               check "unknown top flag" "rc == 1 and 'Error: unknown flag: --nope' in err"
b exec foo 'echo hi';   check "exec refused" "rc == 1 and err == 'fake brev: exec is not imitated; hoist runs commands over ssh\n' and out == ''"
b exec foo -- bash -c true; check "exec refused (tao form)" "rc == 1 and 'exec is not imitated' in err"
check "calls.log records exec" "[json.loads(l)['argv'] for l in read(state + '/calls.log').splitlines()][-2:] == [['exec','foo','echo hi'], ['exec','foo','--','bash','-c','true']]"
b search --json;        check "search needs no login" "rc == 0 and [r['type'] for r in j] == ['n1-highmem-4:nvidia-tesla-t4:1', 'g5.xlarge', 'gcp.h100x8.sxm']"
check "search keys" "all(set(['type','cloud','provider','gpu_name','gpu_count','vram_per_gpu_gb','total_vram_gb','capability','vcpus','memory','ram_gb','arch','disk_min_gb','disk_max_gb','boot_time_seconds','stoppable','rebootable','flex_ports','price_per_hour']) <= set(r) for r in j)"
b search gpu --gpu-name h100 --json; check "search gpu-name partial" "rc == 0 and [(r['type'], r['gpu_name'], r['gpu_count'], r['total_vram_gb']) for r in j] == [('gcp.h100x8.sxm','H100',8,640)]"
b search -g a10 --json; check "search partial a10" "[r['gpu_name'] for r in j] == ['A10G']"
b search --gpu-name B200 --json; check "search no match" "rc == 0 and out == '[]\n'"
b search cpu --json;    check "search cpu" "rc == 0 and j == []"
b search --json --min-total-vram 100; check "search filter" "[r['type'] for r in j] == ['gcp.h100x8.sxm']"
b search;               check "search table" "rc == 0 and 'TYPE' in out and 'g5.xlarge' in out"
b search --bogus;       check "search unknown flag" "rc == 1 and 'Error: unknown flag: --bogus' in err"

# --------------------------------------------------------- stdin hazard ----
scenario stdin '{"logged_in": true}'
echo hello | brev ls --json >"$TMP/out" 2>"$TMP/err"; RC=$?
check "pipe stdin -> 3" "rc == 3 and err == 'fake brev: stdin is an open pipe; the real brev would read it as names and hang\n' and out == ''"
brev ls --json < <(true) >"$TMP/out" 2>"$TMP/err"; RC=$?
check "empty pipe still a hazard" "rc == 3"
echo data >"$TMP/stdin-file"
brev ls --json <"$TMP/stdin-file" >"$TMP/out" 2>"$TMP/err"; RC=$?
check "regular file with data -> 3" "rc == 3"
: >"$TMP/empty-file"
brev ls --json <"$TMP/empty-file" >"$TMP/out" 2>"$TMP/err"; RC=$?
check "empty regular file ok" "rc == 0"
brev ls --json <&- >"$TMP/out" 2>"$TMP/err"; RC=$?
check "closed stdin ok" "rc == 0"
b ls --json;            check "/dev/null ok" "rc == 0"
check "calls.log stdin flags" "[json.loads(l)['stdin_is_tty_or_null'] for l in read(state + '/calls.log').splitlines()] == [False, False, False, False, True, True]"
check "calls.log keys" "all(set(json.loads(l)) == {'argv','stdin_is_tty_or_null'} for l in read(state + '/calls.log').splitlines())"

# ----------------------------------------------------------------- login ----
scenario login '{"token": "good-token"}'
b ls --json;            check "logged out by default" "rc == 1 and out == '$PROMPT' and err == 'EOF\n'"
b create x -d;          check "create needs login" "rc == 1 and out == '$PROMPT' and err == 'EOF\n'"
b refresh;              check "refresh needs login" "rc == 1 and err == 'EOF\n'"
b stop x;               check "stop needs login" "rc == 1 and err == 'EOF\n'"
b login --token bad;    check "bad token" "rc == 1 and err == 'login failed: 401 Unauthorized\n'"
b ls --json;            check "still logged out" "rc == 1"
b login --token good-token; check "good token" "rc == 0 and out.strip() != '' and err == ''"
b ls --json;            check "logged in now" "rc == 0 and j == {'workspaces': None}"
b login --api-key bak-123 --org-id org-1; check "api key login" "rc == 0"
b login --api-key nope --org-id org-1; check "api key must be bak-" "rc == 1 and 'bak-' in err"
b login --api-key bak-123; check "api key needs org" "rc == 1 and 'api key auth requires an org id' in err"
b login --token;        check "token needs value" "rc == 1"
b login --email x;      check "login unknown flag" "rc == 1 and 'Error: unknown flag: --email' in err"

scenario login-any
b login --token anything; check "any token accepted by default" "rc == 0"
b ls --json;            check "ls after any-token login" "rc == 0"

scenario preloggedin '{"logged_in": true}'
b ls --json;            check "setup logged_in" "rc == 0"

# ---------------------------------------------------------------- expiry ----
scenario expiry '{"token": "t", "expire_after": 2}'
b login --token t;      check "login" "rc == 0"
b search --json;        check "search does not count" "rc == 0"
b ls --json;            check "api 1" "rc == 0"
b ls zzz;               check "failed command does not count" "rc == 1"
b ls --json;            check "api 2" "rc == 0"
b ls --json;            check "expired" "rc == 1 and out == 'WARN: malformed refresh token, logging out\n$PROMPT' and err == 'EOF\n'"
b ls --json;            check "then plainly logged out" "rc == 1 and out == '$PROMPT' and err == 'EOF\n'"
b create y -d;          check "create after expiry" "rc == 1 and err == 'EOF\n'"
b login --token t;      check "re-login" "rc == 0"
b ls --json;            check "works after re-login" "rc == 0"
b ls --json;            check "works (2)" "rc == 0"
b refresh;              check "expires again" "rc == 1 and out.startswith('WARN: malformed refresh token')"

# ------------------------------------------------------ create lifecycle ----
scenario create '{"logged_in": true}'
b ls --json;            check "empty object shape" "rc == 0 and j == {'workspaces': None}"
b create job-1 --gpu-name a100 -d
check "create stdout" "rc == 0 and out == 'job-1\n'"
check "create stderr" "err.splitlines() == ['Attempting to create 1 instance(s) with 1 parallel attempts', 'Instance types to try: a2-highgpu-1g', \"[Worker 1] Trying a2-highgpu-1g for instance 'job-1'...\", \"[Worker 1] a2-highgpu-1g Success! Created instance 'job-1'\"]"
b ls --json
check "ls fields" "list(ws('job-1')) == $FIELDS"
check "id shape" "len(ws('job-1')['id']) == 9 and all(c in 'abcdefghijklmnopqrstuvwxyz0123456789' for c in ws('job-1')['id'])"
check "gpu from --gpu-name" "(ws('job-1')['gpu'], ws('job-1')['instance_kind']) == ('A100', 'gpu')"
triple "deploying" job-1 "('DEPLOYING', '', 'NOT READY', '')"
ID1=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['workspaces'][0]['id'])" "$TMP/out")
b ls --json;            triple "building" job-1 "('RUNNING', 'BUILDING', 'NOT READY', '')"
b ls --json;            triple "ready" job-1 "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"
b ls --json;            triple "stays ready" job-1 "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"
check "id stable" "ws('job-1')['id'] == '$ID1'"
b create job-1 -d;      check "duplicate" "rc == 1 and err.splitlines()[-2:] == [\"workspace 'job-1' already exists. Use a different name or delete the existing workspace\", 'could only create 0/1 instances'] and out == ''"
b create job-2;         check "default type" "rc == 0 and out == 'job-2\n' and 'Instance types to try: g5.xlarge' in err and err.rstrip().endswith('Waiting for instance(s) to be ready...')"
b create job-3 -t gcp.h100x8.sxm --detached; check "create --type" "rc == 0 and 'Waiting' not in err"
b create job-4 --type=n1-highmem-4:nvidia-tesla-t4:1 --timeout 600 --mode vm -s @x.sh -d; check "create other flags" "rc == 0"
b create job-5 -gh100 -d; check "attached shorthand value" "rc == 0 and 'gcp.h100x8.sxm' in err"
b ls --json
check "gpu from type" "(ws('job-2')['gpu'], ws('job-2')['instance_type']) == ('A10G', 'g5.xlarge')"
check "other types gpu -" "(ws('job-3')['gpu'], ws('job-4')['gpu']) == ('-', '-')"
check "gpu upper-cased known name" "ws('job-5')['gpu'] == 'H100'"
check "unique ids" "len({w['id'] for w in ls}) == 5"
b create bad -t p9.nothing -d; check "unknown type" "rc == 1 and 'instance type p9.nothing not found' in err.splitlines() and err.splitlines()[-1] == 'could only create 0/1 instances'"
b create bad -t p9.nothing,g5.xlarge -d; check "type fallback chain" "rc == 0 and out == 'bad\n' and 'Instance types to try: p9.nothing, g5.xlarge' in err and \"[Worker 1] g5.xlarge Success! Created instance 'bad'\" in err"
b create bad2 --gpu-name B200 -d; check "unknown gpu" "rc == 1 and err.splitlines() == ['no instance types match the given filters', 'could only create 0/1 instances']"
b create -d;            check "create needs a name" "rc == 1"
b create 'bad name' -d; check "invalid name (space)" "rc == 1 and 'invalid' in err and out == ''"
b create -- -dash;      check "invalid name (leading dash)" "rc == 1 and 'invalid' in err"
b create "$(printf 'a%.0s' $(seq 64))" -d; check "invalid name (64 chars)" "rc == 1 and 'invalid' in err"
b create "$(printf 'a%.0s' $(seq 63))" -d; check "63 chars ok" "rc == 0"
b create A.b_c-9 -d;    check "name with . _ -" "rc == 0"
b create z --cloud-cred-id c1; check "no --cloud-cred-id" "rc == 1 and err.startswith('Error: unknown flag: --cloud-cred-id')"
b create z --workspace-group-id w1; check "no --workspace-group-id" "rc == 1 and 'Error: unknown flag: --workspace-group-id' in err"
b create z --stdin;     check "no --stdin (HEAD)" "rc == 1 and 'unknown flag: --stdin' in err"
b create z -x;          check "unknown shorthand" "rc == 1 and 'unknown shorthand flag' in err"

scenario array '{"logged_in": true, "ls_shape": "array"}'
b ls --json;            check "array shape empty" "rc == 0 and out.strip() == 'null'"
b create a1 -d;  b ls --json; check "array shape" "isinstance(j, list) and j[0]['name'] == 'a1'"
b ls instances --json --all; check "ls instances --all" "rc == 0 and isinstance(j, list)"
b ls;                   check "ls table" "rc == 0 and 'a1' in out and 'NAME' in out"
b ls orgs --json;       check "ls orgs" "rc == 0 and set(j[0]) == {'name','id','is_active'}"

scenario fail '{"logged_in": true, "fail_create": ["doomed"]}'
b create doomed -d;     check "failing create exits 0" "rc == 0 and out == 'doomed\n'"
b ls --json;            triple "fail deploying" doomed "('DEPLOYING', '', 'NOT READY', '')"
b ls --json;            triple "failure" doomed "('FAILURE', 'CREATE_FAILED', 'NOT READY', 'UNHEALTHY')"
b ls --json;            triple "failure stays" doomed "('FAILURE', 'CREATE_FAILED', 'NOT READY', 'UNHEALTHY')"
b delete doomed;        check "delete failed instance" "rc == 0 and out == 'doomed\n'"

scenario steps '{"logged_in": true, "steps": 2}'
b create s1 -d
for expect in DEPLOYING DEPLOYING BUILDING BUILDING READY; do
    b ls --json
    case $expect in
        DEPLOYING) triple "steps=2 $expect" s1 "('DEPLOYING', '', 'NOT READY', '')" ;;
        BUILDING)  triple "steps=2 $expect" s1 "('RUNNING', 'BUILDING', 'NOT READY', '')" ;;
        READY)     triple "steps=2 $expect" s1 "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')" ;;
    esac
done

scenario steps0 '{"logged_in": true, "steps": 0}'
b create s0 -d; b ls --json; triple "steps=0 ready at once" s0 "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"

scenario types '{"logged_in": true, "known_types": ["x.b200.big"], "known_gpus": ["B200"]}'
b create t1 -t g5.xlarge -d; check "known_types restricts" "rc == 1 and 'instance type g5.xlarge not found' in err"
b create t2 -t x.b200.big -d; check "custom type ok" "rc == 0"
b create t3 -g b2 -d;   check "custom gpu ok" "rc == 0"
b create t4 -g a100 -d; check "default gpus replaced" "rc == 1 and 'no instance types match the given filters' in err"
b ls --json;            check "custom gpu name" "ws('t3')['gpu'] == 'B200' and ws('t3')['instance_type'] == 'x.b200.big'"
b search --json;        check "search lists known types" "[r['type'] for r in j] == ['x.b200.big'] and j[0]['gpu_name'] == 'B200'"

# ------------------------------------------- pre-existing, start/stop/del ----
scenario life '{"logged_in": true, "instances": [
  {"name": "warm", "id": "warm00001", "status": "RUNNING", "instance_type": "g5.xlarge", "gpu": "A10G", "stoppable": true},
  {"name": "cold", "id": "cold00001", "status": "STOPPED", "instance_type": "g5.xlarge", "gpu": "A10G", "stoppable": true},
  {"name": "pinned", "id": "pin000001", "status": "RUNNING", "instance_type": "gcp.h100x8.sxm", "gpu": "H100", "stoppable": false},
  {"name": "sick", "id": "sick00001", "status": "UNHEALTHY", "instance_type": "g5.xlarge", "gpu": "A10G"}]}'
b ls --json
triple "pre-existing running ready" warm "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"
triple "pre-existing stopped" cold "('STOPPED', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
triple "unhealthy shown" sick "('UNHEALTHY', 'COMPLETED', 'READY', 'UNHEALTHY')"
check "pre-existing ids" "(ws('warm')['id'], ws('pinned')['gpu']) == ('warm00001', 'H100')"
b stop pinned;          check "non-stoppable" "rc == 1 and 'instance \"pinned\" does not support stop.' in err.splitlines() and out == ''"
b stop nope;            check "stop unknown" "rc == 1 and err == 'instance with id/name nope not found\n'"
b start nope;           check "start unknown" "rc == 1 and 'instance with id/name nope not found' in err"
b delete nope;          check "delete unknown" "rc == 1 and 'instance with id/name nope not found' in err"
b delete --yes warm;    check "delete --yes" "rc == 1 and 'Error: unknown flag: --yes' in err"
b delete -y warm;       check "delete -y" "rc == 1 and 'unknown shorthand flag' in err"
b delete;               check "delete needs a name" "rc == 1"
b stop warm00001;       check "stop by id" "rc == 0 and out == 'warm\n'"
b ls --json;            triple "stopping" warm "('STOPPING', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
b ls --json;            triple "stopped" warm "('STOPPED', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
b start warm cold;      check "start two" "rc == 0 and out == 'warm\ncold\n'"
b ls --json;            triple "starting" warm "('STARTING', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
triple "starting (2)" cold "('STARTING', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
b ls --json;            triple "started" cold "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"
b stop warm nope;       check "partial failure" "rc == 1 and out == 'warm\n' and 'instance with id/name nope not found' in err"
b delete cold sick00001; check "delete two (name, id)" "rc == 0 and out == 'cold\nsick\n'"
b ls --json;            triple "deleting" cold "('DELETING', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
b create cold -d;       check "deleting name still taken" "rc == 1 and 'already exists' in err"
b ls --json;            check "gone after delete" "ws('cold') is None and ws('sick') is None and ws('warm') is not None"
check "deleted seeds stay gone" "[w['name'] for w in ls] == ['warm', 'pinned']"
b create cold -d;       check "name free again" "rc == 0"
b start warm; b ls --json; b ls --json; triple "warm running again" warm "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"
b stop --all;           check "stop --all skips non-stoppable" "rc == 0 and out == 'warm\\ncold\\n' and 'pinned' in err"
b ls --json;            triple "stop --all stopping" warm "('STOPPING', 'COMPLETED', 'NOT READY', 'UNAVAILABLE')"
triple "stop --all left pinned" pinned "('RUNNING', 'COMPLETED', 'READY', 'HEALTHY')"
b delete --help;        check "help exits 0" "rc == 0 and 'Usage' in out"

# --------------------------------------------------------------- refresh ----
scenario refresh
KEY="$TMP/test_key"; printf 'PRIVATE KEY BYTES\n' >"$KEY"
cat >"$FAKE_BREV_STATE/setup.json" <<EOF
{"logged_in": true, "ssh": {"host": "127.0.0.1", "port": 2222, "user": "root", "key": "$KEY"},
 "instances": [{"name": "up", "status": "RUNNING"}, {"name": "down", "status": "STOPPED"}]}
EOF
mkdir -p "$HOME/.ssh"; printf 'Host other\n  User me\n' >"$HOME/.ssh/config"
b refresh
check "refresh output" "rc == 0 and out == 'refreshing brev...\nbrev has been refreshed\n'"
check "pem copied, 0600" "read(home + '/.brev/brev.pem') == 'PRIVATE KEY BYTES\n' and mode(home + '/.brev/brev.pem') == 0o600"
check "dirs 0700" "mode(home + '/.brev') == 0o700 and mode(home + '/.ssh') == 0o700"
check "include prepended" "read(home + '/.ssh/config') == 'Include \"%s/.brev/ssh_config\"\nHost other\n  User me\n' % home and mode(home + '/.ssh/config') == 0o600"
check "ssh_config header" "read(home + '/.brev/ssh_config').splitlines()[0] == '# included in %s/.ssh/config' % home"
check "entry for up" "'''Host up
  Hostname 127.0.0.1
  IdentityFile \"%s/.brev/brev.pem\"
  User root
  ServerAliveInterval 30
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  AddKeysToAgent yes
  RequestTTY yes
  ControlMaster auto
  ControlPath ~/.ssh/brev-control-%%C
  ControlPersist 10m
  Port 2222
''' % home in read(home + '/.brev/ssh_config')"
check "host entry" "'Host up-host\n' in read(home + '/.brev/ssh_config')"
check "no entry for stopped" "'Host down' not in read(home + '/.brev/ssh_config')"
check "ssh_config 0600" "mode(home + '/.brev/ssh_config') == 0o600"
b refresh
check "include not duplicated" "read(home + '/.ssh/config').count('Include') == 1"
if command -v ssh >/dev/null 2>&1; then
    ssh -G -F "$HOME/.ssh/config" up >"$TMP/out" 2>"$TMP/err"; RC=$?
    check "ssh -G parses via Include" "rc == 0 and 'hostname 127.0.0.1' in out.splitlines() and 'port 2222' in out.splitlines() and 'user root' in out.splitlines()"
fi
b create late -d; b refresh
check "not RUNNING yet: no alias" "'Host late' not in read(home + '/.brev/ssh_config')"
b ls --json; b ls --json; b refresh
check "RUNNING (building) gets alias" "'Host late\n' in read(home + '/.brev/ssh_config')"
b stop up; b ls --json; b refresh
check "stopping drops alias" "'Host up\n' not in read(home + '/.brev/ssh_config')"
rm -rf "$HOME/.ssh"; b refresh
check "creates .ssh/config" "read(home + '/.ssh/config') == 'Include \"%s/.brev/ssh_config\"\n' % home"

# -------------------------------------------------------------- parallel ----
scenario parallel '{"logged_in": true, "steps": 0}'
for k in $(seq 1 12); do
    brev create "p$k" -d </dev/null >"$TMP/par-$k.out" 2>&1 &
done
for k in $(seq 1 6); do brev ls --json </dev/null >/dev/null 2>&1 & done
wait
b ls --json
check "parallel creates all landed" "sorted(w['name'] for w in ls) == sorted('p%d' % k for k in range(1, 13))"
check "parallel ids unique" "len({w['id'] for w in ls}) == 12"
check "calls.log complete" "len([json.loads(l) for l in read(state + '/calls.log').splitlines()]) == 19"
for k in $(seq 1 12); do brev delete "p$k" </dev/null >/dev/null 2>&1 & done
wait
b ls --json;            check "parallel deletes" "ls == []"

# ------------------------------------------------------------- harness ----
scenario harness
printf '{not json' >"$FAKE_BREV_STATE/setup.json"
b ls;                   check "bad setup.json -> 2" "rc == 2 and 'setup.json' in err"
( unset FAKE_BREV_STATE; brev ls </dev/null >"$TMP/out" 2>"$TMP/err" ); RC=$?
check "missing FAKE_BREV_STATE -> 2" "rc == 2 and 'FAKE_BREV_STATE' in err"

echo
if [ "$FAILS" -ne 0 ]; then
    echo "selftest: $FAILS of $CHECKS checks FAILED"
    exit 1
fi
echo "selftest: all $CHECKS checks passed"
