#!/usr/bin/env bash
# Install and start what the test suite needs on a fresh Debian machine (as root), or say exactly
# what is missing and how to fix it. Nothing is skipped: a component that cannot be set up fails
# the run. Idempotent: on a ready machine it only checks (about a second, mostly the two ssh round
# trips and slurmdbd's answer).
#
# After it succeeds:
#   - the commands below exist (Debian packages installed if missing);
#   - the Docker daemon answers, and the image hoist-test/busybox:latest exists (built locally:
#     no registry is reachable);
#   - an sshd for tests listens on 127.0.0.1:2222 and `ssh hoist-testbed-ssh` reaches it as root
#     with a pinned host key (DOCKER_HOST=ssh://hoist-testbed-ssh);
#   - the Docker API is also on tcp://127.0.0.1:23750 (socat to the unix socket);
#   - an image registry listens on http://127.0.0.1:5000 with basic auth (user hoist, password
#     hoist-registry-pass) and holds 127.0.0.1:5000/hoist/busybox:1 (the test image), a tag the
#     daemon does not have locally, so pulling it really asks the registry;
#   - a SLURM 22.05 cluster `ci` on loopback (munged, MariaDB, slurmdbd, slurmctld, two slurmd:
#     node1 and node2, 2 CPUs and 2 fake GPUs each; partitions debug (default, no time limit) and
#     short (10 minutes)), everything under $TB/slurm; its login node is the sshd above:
#     `ssh hoist-testbed-slurm` logs in as the plain user hoistuser (account hoist-ci, shared
#     results base /home/hoistuser/hoist-base) with SLURM_CONF set, as on a real cluster;
#   - an S3-compatible server (s3s-fs 0.14.1, built by cargo into $TB/s3s-fs) on
#     http://127.0.0.1:9000, path-style, region us-east-1, access key hoist-s3-access, secret key
#     hoist-s3-secret-key (a wrong signature gets 403). Its data root is /var/lib/hoist-testbed/s3
#     (mode 1777): a bucket is a directory there, so a test running as any user can make one with
#     mkdir; objects are files under it (their metadata: .bucket-*.json files in the root itself,
#     left there when an object is deleted). Needs cargo (on PATH or /root/.cargo/bin) and
#     crates.io the first time (about 90 s);
#   - the official Lepton client, leptonai 0.47.1, in the venv /var/lib/hoist-testbed/lepton-venv
#     (from PyPI the first time), for the Lepton stand-in's honesty check.
set -euo pipefail
trap 'echo "testbed: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

die() { echo "testbed: $*" >&2; exit 1; }

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds; fail after SECONDS.
wait_for() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# ours PIDFILE EXE: the process named in PIDFILE is alive and runs EXE (a stale pid file, a reused
# pid or a zombie does not count).
ours() {
  local pid
  { read -r pid || [[ -n $pid ]]; } 2>/dev/null <"$1" || return 1
  [[ -n $pid && $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$2")" ]]
}

# stop_ours PIDFILE EXE NAME: stop our daemon, e.g. to restart it with a changed config.
stop_ours() {
  local pid
  { read -r pid || true; } <"$1"
  echo "testbed: $3 config changed; restarting $3 (pid $pid)"
  kill "$pid"
  wait_for 20 bash -c "! [[ -e /proc/$pid/exe ]]" || die "$3 (pid $pid) did not stop"
}

# put FILE TEXT [MODE]: write TEXT to FILE (mode MODE, default 644) unless it holds it already;
# status 0 when it wrote (whatever reads FILE must then restart).
put() {
  if [[ -f $1 && $(<"$1") == "${2%$'\n'}" ]]; then
    return 1
  fi
  (umask 077 && printf '%s' "$2" >"$1.tmp")
  chmod "${3:-644}" "$1.tmp"
  mv "$1.tmp" "$1"
}

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT (bash's /dev/tcp, so no
# dependency on ss/netstat).
listening() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages, starts sshd, socat, a registry, a SLURM cluster and an S3 server, adds a user, and writes /root/.ssh): sudo $0"

TB=/var/lib/hoist-testbed            # everything the testbed owns, besides /root/.ssh entries
SSH_PORT=2222
DOCKER_TCP_PORT=23750
DOCKER_SOCK=/var/run/docker.sock
IMAGE=hoist-test/busybox:latest
IMAGE_RECIPE=1                       # bump when the image recipe below changes: forces a rebuild
CLIENT_KEY=/root/.ssh/hoist_testbed_ed25519
SSH_ALIAS=hoist-testbed-ssh
REGISTRY=127.0.0.1:5000
REGISTRY_USER=hoist
REGISTRY_PASS=hoist-registry-pass
REGISTRY_REPO=hoist/busybox
REGISTRY_TAG=1
REGISTRY_IMAGE=$REGISTRY/$REGISTRY_REPO:$REGISTRY_TAG
REGISTRY_BIN=/usr/bin/docker-registry  # Docker Distribution 2.8, from Debian's docker-registry
SD=$TB/slurm                         # the SLURM cluster: etc (configs), state, spool, log, run, dev, mysql
SLURM_CONF_FILE=$SD/etc/slurm.conf
SLURM_ALIAS=hoist-testbed-slurm      # ssh alias of the login node (this machine's sshd above)
SLURM_KEY=/root/.ssh/hoist_testbed_slurm_ed25519
CLUSTER_USER=hoistuser               # the plain user jobs run as (not SLURM_USER: SLURM_* is SLURM's namespace)
CLUSTER_ACCOUNT=hoist-ci
CLUSTER_HOME=/home/$CLUSTER_USER
CLUSTER_BASE=$CLUSTER_HOME/hoist-base  # the "shared filesystem" results base: one machine, so any path is shared
DB_PORT=13306                        # MariaDB for slurmdbd, 127.0.0.1 only
DB_PASS=hoist-slurmdbd-pass          # slurmdbd's database password (slurmdbd.conf is mode 600)
S3_DIR=$TB/s3s-fs                    # the S3 server: cargo's install root (bin/s3s-fs), pid file, log
S3_BIN=$S3_DIR/bin/s3s-fs
S3_VERSION=0.14.1                    # 0.15 and later need rustc 1.96
S3_PORT=9000
S3_ENDPOINT=http://127.0.0.1:$S3_PORT
S3_REGION=us-east-1
S3_ACCESS_KEY=hoist-s3-access
S3_SECRET_KEY=hoist-s3-secret-key
S3_ROOT=$TB/s3                       # its data: one directory per bucket, one file per object
S3_PROBE_BUCKET=hoist-testbed-probe

# ---------------------------------------------------------------------------------------------
# 1. Packages. command (or absolute path, for tools outside a plain user's PATH) -> Debian package
declare -A NEED=(
  [sqlite3]=sqlite3                     # store tests poke the database file directly (schema version, old rows)
  [python3]=python3                     # a test allocates memory under a --memory limit
  [sh]=dash
  [/bin/busybox]=busybox-static         # the only binary of the test image (must be the static build)
  [/usr/sbin/sshd]=openssh-server       # the ssh endpoint for the docker platform over ssh
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [socat]=socat                         # the tcp endpoint for the Docker API
  [timeout]=coreutils
  [setsid]=util-linux
  [$REGISTRY_BIN]=docker-registry       # the registry for the pull and credential tests
  [htpasswd]=apache2-utils              # its password file (bcrypt)
  [curl]=curl                           # probing it and the S3 server (--aws-sigv4: curl 7.75 or later)
  [/usr/sbin/munged]=munge              # SLURM's authentication
  [/usr/sbin/mariadbd]=mariadb-server   # slurmdbd's database (sacct needs slurmdbd)
  [mariadb-install-db]=mariadb-server
  [/usr/sbin/slurmdbd]=slurmdbd
  [/usr/sbin/slurmctld]=slurmctld
  [/usr/sbin/slurmd]=slurmd
  [sbatch]=slurm-client
  [sacctmgr]=slurm-client
  [ch-run]=charliecloud-runtime         # unprivileged containers inside SLURM jobs
  [mksquashfs]=squashfs-tools           # squashfs images for them
  [chromium]=chromium                   # headless, for hoist ui's browser tests (DevTools protocol)
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# Debian's plain `busybox` package also provides /bin/busybox, but linked dynamically: useless in
# an image with no libc. busybox-static replaces it.
# slurm-wlm is a metapackage (no command of its own): checked by its status too.
for pkg in busybox-static slurm-wlm; do
  [[ $(dpkg-query -W -f '${db:Status-Status}' "$pkg" 2>/dev/null) == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "testbed: installing ${missing[*]}"
  apt-get update -qq || die "apt-get update failed; check /etc/apt/sources.list* and the network to the Debian mirror"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd is still missing after installing ${NEED[$cmd]}"
done

# 1b. The official Lepton client, leptonai 0.47.1, in its own venv: the Lepton stand-in's honesty
# check (crates/hoist-lepton/tests/fake_server.rs) runs it against the stand-in. From PyPI, once;
# made with Debian's python3 (not whatever python3 comes first on PATH).
LEPTON_VENV=$TB/lepton-venv
LEPTON_VERSION=0.47.1
lepton_version() {
  "$LEPTON_VENV/bin/python" -c 'import importlib.metadata, leptonai; print(importlib.metadata.version("leptonai"))' 2>/dev/null
}
if [[ $(lepton_version) != "$LEPTON_VERSION" ]]; then
  echo "testbed: installing leptonai $LEPTON_VERSION into $LEPTON_VENV (from PyPI; log $TB/lepton-venv.log)"
  # `python3 -m venv` needs ensurepip, which Debian ships in a package of its own.
  if [[ $(dpkg-query -W -f '${db:Status-Status}' python3-venv 2>/dev/null) != installed ]]; then
    apt-get update -qq || die "apt-get update failed; check /etc/apt/sources.list* and the network to the Debian mirror"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv </dev/null >/dev/null \
      || die "apt-get install python3-venv failed"
  fi
  mkdir -p "$TB"
  rm -rf "$LEPTON_VENV"
  /usr/bin/python3 -m venv "$LEPTON_VENV" >"$TB/lepton-venv.log" 2>&1 \
    || die "python3 -m venv $LEPTON_VENV failed: $(tail -n 3 "$TB/lepton-venv.log")"
  "$LEPTON_VENV/bin/pip" install --no-input --disable-pip-version-check "leptonai==$LEPTON_VERSION" \
    </dev/null >>"$TB/lepton-venv.log" 2>&1 \
    || die "pip install leptonai==$LEPTON_VERSION failed (it needs PyPI): $(tail -n 3 "$TB/lepton-venv.log"); full log $TB/lepton-venv.log"
  [[ $(lepton_version) == "$LEPTON_VERSION" ]] \
    || die "after pip install, $LEPTON_VENV/bin/python does not import leptonai $LEPTON_VERSION; see $TB/lepton-venv.log"
fi
echo "testbed: leptonai $LEPTON_VERSION in $LEPTON_VENV"

# ---------------------------------------------------------------------------------------------
# 2. Docker daemon. Not installed here: the engine is part of the machine image, not of the tests.
command -v docker >/dev/null 2>&1 \
  || die "the docker CLI is missing; install a Docker engine (e.g. apt-get install docker.io) and start dockerd"
docker_version() { timeout 20 docker version --format '{{.Server.Version}}'; }
# A daemon that is still starting gets a few seconds.
wait_for 15 docker_version \
  || die "the Docker daemon does not answer on ${DOCKER_HOST:-unix://$DOCKER_SOCK}: start dockerd (e.g. 'service docker start' or 'dockerd &'); docker said: $(docker_version 2>&1 | tail -n 1)"
server_version=$(docker_version)
echo "testbed: docker server $server_version"

# ---------------------------------------------------------------------------------------------
# 3. Test image, built from the static busybox: no registry is reachable, so no `docker pull`.
image_recipe() { docker image inspect -f '{{index .Config.Labels "hoist.testbed.recipe"}}' "$IMAGE" 2>/dev/null; }
if [[ $(image_recipe) != "$IMAGE_RECIPE" ]]; then
  echo "testbed: building $IMAGE from /bin/busybox"
  rootfs=$(mktemp -d)
  # The ERR trap above still reports; this one only cleans up the scratch directory.
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,etc,root,tmp,proc,sys,dev,usr}
  cp /bin/busybox "$rootfs/bin/busybox"
  # One symlink per applet, all in /bin; /sbin, /usr/bin and /usr/sbin point there (merged /usr),
  # so `#!/usr/bin/env sh` and absolute paths work too.
  for applet in $("$rootfs/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"
  done
  ln -s bin "$rootfs/sbin"
  ln -s ../bin "$rootfs/usr/bin"
  ln -s ../bin "$rootfs/usr/sbin"
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"
  chmod 700 "$rootfs/root"
  chmod 1777 "$rootfs/tmp"
  tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL hoist.testbed.recipe=$IMAGE_RECIPE" \
    - "$IMAGE" >/dev/null || die "docker import of $IMAGE failed"
  rm -rf "$rootfs"
  trap - EXIT
fi
[[ $(image_recipe) == "$IMAGE_RECIPE" ]] || die "$IMAGE is missing after the build"
echo "testbed: image $IMAGE $(docker image inspect -f '{{.Id}}' "$IMAGE")"

# ---------------------------------------------------------------------------------------------
# 4. sshd on 127.0.0.1:2222, with its own config, host key and authorized keys under $TB/ssh.
mkdir -p "$TB/ssh/authorized_keys" /run/sshd
# Traversable, not listable: sshd reads a plain user's authorized keys file as that user, and
# SLURM commands read $SLURM_CONF_FILE. What is secret in here is mode 600 or in a 700 directory.
chmod 711 "$TB" "$TB/ssh"
[[ -f $TB/ssh/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C hoist-testbed-host -f "$TB/ssh/ssh_host_ed25519_key"

# Root logs in with the client key below, and only with a key.
sshd_config="Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $TB/ssh/ssh_host_ed25519_key
PidFile $TB/ssh/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile $TB/ssh/authorized_keys/%u
# scp and sftp, as on a real login node (OpenSSH 9's scp speaks sftp).
Subsystem sftp internal-sftp
# A non-interactive ssh command gets this PATH (the docker CLI may live in /usr/local/bin) and the
# SLURM cluster's config, kept out of /etc/slurm. One line: sshd applies only the first SetEnv.
SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SLURM_CONF=$SLURM_CONF_FILE
"
config_changed=false
if [[ ! -f $TB/ssh/sshd_config || $(<"$TB/ssh/sshd_config") != "${sshd_config%$'\n'}" ]]; then
  printf '%s' "$sshd_config" >"$TB/ssh/sshd_config"
  config_changed=true
fi
/usr/sbin/sshd -t -f "$TB/ssh/sshd_config" || die "sshd rejects $TB/ssh/sshd_config (see above)"

# With UsePAM no, sshd refuses even key logins to an account whose password is locked ('!...').
# '*' means "no password can match" and lets keys in.
if [[ $(getent shadow root | cut -d: -f2) == '!'* ]]; then
  echo "testbed: root's password is locked; setting it to '*' so sshd (UsePAM no) accepts key logins"
  usermod -p '*' root
fi

mkdir -p /root/.ssh
chmod 700 /root/.ssh
[[ -f $CLIENT_KEY ]] || ssh-keygen -q -t ed25519 -N '' -C hoist-testbed-client -f "$CLIENT_KEY"
install -m 600 "$CLIENT_KEY.pub" "$TB/ssh/authorized_keys/root"

# Our own sshd, restarted when its config changed; a foreign listener on the port is not touched
# (the ssh check at the end then fails and says so).
if $config_changed && ours "$TB/ssh/sshd.pid" /usr/sbin/sshd; then
  stop_ours "$TB/ssh/sshd.pid" /usr/sbin/sshd sshd
  wait_for 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT)" || die "port $SSH_PORT still busy after stopping sshd"
fi
if ! listening "$SSH_PORT"; then
  echo "testbed: starting sshd on 127.0.0.1:$SSH_PORT"
  # sshd daemonizes itself (stdio to /dev/null) once it listens.
  /usr/sbin/sshd -f "$TB/ssh/sshd_config" -E "$TB/ssh/sshd.log" </dev/null \
    || die "sshd did not start; see $TB/ssh/sshd.log"
  wait_for 10 listening "$SSH_PORT" || die "sshd is not listening on 127.0.0.1:$SSH_PORT; see $TB/ssh/sshd.log"
fi

# Client side, configured as a user would: a Host block in ~/.ssh/config and the host key pinned
# in ~/.ssh/known_hosts (read from the key file sshd was given, under the alias).
# ssh_host LABEL ALIAS USER KEY: a marked Host block (LABEL names its markers) in ~/.ssh/config,
# replaced when outdated; the rest of the file is the user's.
ssh_host() {
  local begin="# >>> $1 (scripts/testbed.sh) >>>" end="# <<< $1 <<<" block current
  block="$begin
Host $2
    HostName 127.0.0.1
    Port $SSH_PORT
    User $3
    IdentityFile $4
    IdentitiesOnly yes
    HostKeyAlias $2
$end"
  touch /root/.ssh/config
  chmod 600 /root/.ssh/config
  current=$(awk -v b="$begin" -v e="$end" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' /root/.ssh/config)
  if [[ $current != "$block" ]]; then
    # Drop an outdated block, then append the current one (once).
    awk -v b="$begin" -v e="$end" '$0 == b { on = 1 } !on { print } $0 == e { on = 0 }' /root/.ssh/config >/root/.ssh/config.hoist-tmp
    [[ ! -s /root/.ssh/config.hoist-tmp || $(tail -c 1 /root/.ssh/config.hoist-tmp) == '' ]] || echo >>/root/.ssh/config.hoist-tmp
    printf '%s\n' "$block" >>/root/.ssh/config.hoist-tmp
    chmod 600 /root/.ssh/config.hoist-tmp
    mv /root/.ssh/config.hoist-tmp /root/.ssh/config
  fi
}

# pin_host_key ALIAS: trust our sshd's host key under ALIAS (its HostKeyAlias) in ~/.ssh/known_hosts.
pin_host_key() {
  local known
  known="$1 $(cut -d' ' -f1,2 "$TB/ssh/ssh_host_ed25519_key.pub")"
  touch /root/.ssh/known_hosts
  chmod 600 /root/.ssh/known_hosts
  if ! grep -qxF "$known" /root/.ssh/known_hosts; then
    # A stale key for the alias (the testbed was wiped and rebuilt) would make ssh refuse: replace it.
    ssh-keygen -q -R "$1" -f /root/.ssh/known_hosts >/dev/null 2>&1 || true
    rm -f /root/.ssh/known_hosts.old
    echo "$known" >>/root/.ssh/known_hosts
  fi
}

ssh_host 'hoist testbed' "$SSH_ALIAS" root "$CLIENT_KEY"
pin_host_key "$SSH_ALIAS"

# What `DOCKER_HOST=ssh://hoist-testbed-ssh` needs: the docker CLI on the far side (this machine).
ssh_version=$(timeout 30 ssh -o BatchMode=yes "$SSH_ALIAS" docker version --format "'{{.Server.Version}}'" </dev/null 2>&1) \
  || die "ssh $SSH_ALIAS docker version failed: $ssh_version (sshd log: $TB/ssh/sshd.log; is another server on port $SSH_PORT?)"
[[ $ssh_version == "$server_version" ]] || die "ssh $SSH_ALIAS docker version printed '$ssh_version', expected '$server_version'"
echo "testbed: ssh ok: DOCKER_HOST=ssh://$SSH_ALIAS (root@127.0.0.1:$SSH_PORT)"

# ---------------------------------------------------------------------------------------------
# 5. Docker API on tcp://127.0.0.1:23750, for the platform's TCP transport. Unauthenticated:
# loopback only, on a test machine (anyone local with it is root, as with the socket itself).
if ! listening "$DOCKER_TCP_PORT"; then
  echo "testbed: starting socat 127.0.0.1:$DOCKER_TCP_PORT -> $DOCKER_SOCK"
  [[ -S $DOCKER_SOCK ]] || die "$DOCKER_SOCK is not a socket; the tcp endpoint forwards to it"
  # Detached from this shell (own session, stdio to a log) so it outlives the script and holds no
  # pipe of the caller open.
  setsid nohup socat "TCP-LISTEN:$DOCKER_TCP_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$DOCKER_SOCK" \
    </dev/null >>"$TB/socat.log" 2>&1 &
  echo $! >"$TB/socat.pid"
  wait_for 10 listening "$DOCKER_TCP_PORT" || die "socat is not listening on 127.0.0.1:$DOCKER_TCP_PORT; see $TB/socat.log"
fi
tcp_version=$(DOCKER_HOST=tcp://127.0.0.1:$DOCKER_TCP_PORT timeout 20 docker version --format '{{.Server.Version}}' 2>&1) \
  || die "DOCKER_HOST=tcp://127.0.0.1:$DOCKER_TCP_PORT docker version failed: $tcp_version (is another server on port $DOCKER_TCP_PORT?)"
[[ $tcp_version == "$server_version" ]] || die "the tcp endpoint answered '$tcp_version', expected '$server_version'"
echo "testbed: tcp ok: DOCKER_HOST=tcp://127.0.0.1:$DOCKER_TCP_PORT"

# ---------------------------------------------------------------------------------------------
# 6. Image registry on http://127.0.0.1:5000 with basic auth, for the pull and credential tests.
# Our own process, config and storage under $TB/registry: Debian's service is left alone (no
# systemd here, and its config listens on all interfaces).
mkdir -p "$TB/registry/storage"
chmod 700 "$TB/registry"

# Plain http works only because the daemon treats 127.0.0.0/8 as an insecure registry (built in,
# but a daemon.json can list the address itself instead).
insecure=$(docker info --format '{{range .RegistryConfig.InsecureRegistryCIDRs}}{{.}} {{end}}{{with index .RegistryConfig.IndexConfigs "'"$REGISTRY"'"}}{{if not .Secure}}'"$REGISTRY"'{{end}}{{end}}')
[[ " $insecure " == *" 127.0.0.0/8 "* || " $insecure " == *" $REGISTRY "* ]] \
  || die "the daemon would talk https to $REGISTRY (insecure registries: '${insecure% }'); add \"insecure-registries\": [\"$REGISTRY\"] to /etc/docker/daemon.json and restart dockerd"

registry_config="version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $TB/registry/storage
http:
  addr: $REGISTRY
  # Fixed, so no warning about a generated one; only signs upload state, on loopback.
  secret: hoist-testbed
auth:
  htpasswd:
    realm: hoist-testbed
    path: $TB/registry/htpasswd
"
registry_changed=false
if [[ ! -f $TB/registry/config.yml || $(<"$TB/registry/config.yml") != "${registry_config%$'\n'}" ]]; then
  printf '%s' "$registry_config" >"$TB/registry/config.yml"
  registry_changed=true
fi
# bcrypt salts differ on every run, so compare by verifying the password, not the file. The
# registry reads the file only at start.
if ! htpasswd -vb "$TB/registry/htpasswd" "$REGISTRY_USER" "$REGISTRY_PASS" >/dev/null 2>&1; then
  htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASS" >"$TB/registry/htpasswd"
  registry_changed=true
fi

# Our own registry, restarted when its config changed; a foreign listener on the port is not
# touched (the checks below then fail and say so).
if $registry_changed && ours "$TB/registry/registry.pid" "$REGISTRY_BIN"; then
  stop_ours "$TB/registry/registry.pid" "$REGISTRY_BIN" registry
  wait_for 10 bash -c "! (exec 3<>/dev/tcp/${REGISTRY%:*}/${REGISTRY#*:})" || die "port ${REGISTRY#*:} still busy after stopping the registry"
fi
# http status of GET /v2/ (000: no answer); 401 anonymously, 200 with the credentials.
registry_status() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@" "http://$REGISTRY/v2/"; }
registry_401() { [[ $(registry_status) == 401 ]]; }
if ! listening "${REGISTRY#*:}"; then
  echo "testbed: starting the registry on $REGISTRY"
  # Detached like socat above; the registry does not daemonize itself.
  setsid nohup "$REGISTRY_BIN" serve "$TB/registry/config.yml" </dev/null >>"$TB/registry/registry.log" 2>&1 &
  echo $! >"$TB/registry/registry.pid"
  wait_for 15 registry_401 || die "the registry on $REGISTRY does not answer 401 on /v2/ (got $(registry_status)); see $TB/registry/registry.log"
fi
status=$(registry_status)
[[ $status == 401 ]] || die "http://$REGISTRY/v2/ answered $status to an anonymous request, expected 401 (auth required); is another server on port ${REGISTRY#*:}? (ours: pid file $TB/registry/registry.pid)"
status=$(registry_status -u "$REGISTRY_USER:$REGISTRY_PASS")
[[ $status == 200 ]] || die "http://$REGISTRY/v2/ answered $status to $REGISTRY_USER's password, expected 200; a registry with another password file is on port ${REGISTRY#*:}: stop it (ours: pid file $TB/registry/registry.pid) and rerun"

# The tag must hold the current test image: its manifest's config digest is the image id. Pushed
# when missing or stale (the image was rebuilt).
image_id=$(docker image inspect -f '{{.Id}}' "$IMAGE")
pushed_id() {
  local manifest re='"config": *\{[^}]*"digest": *"(sha256:[0-9a-f]+)"'
  manifest=$(curl -s --max-time 10 -u "$REGISTRY_USER:$REGISTRY_PASS" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$REGISTRY_REPO/manifests/$REGISTRY_TAG") || return 1
  # A regex, not python3's json: that alone would cost 0.1 s per run.
  [[ $manifest =~ $re ]] && echo "${BASH_REMATCH[1]}"
}
if [[ $(pushed_id) != "$image_id" ]]; then
  echo "testbed: pushing $IMAGE to $REGISTRY_IMAGE"
  # A private client config: root's ~/.docker/config.json never gets the registry's password.
  docker_config=$(mktemp -d)
  trap 'rm -rf "$docker_config"' EXIT
  out=$(DOCKER_CONFIG=$docker_config docker login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" <<<"$REGISTRY_PASS" 2>&1) \
    || die "docker login $REGISTRY failed: $out"
  docker tag "$IMAGE" "$REGISTRY_IMAGE"
  out=$(DOCKER_CONFIG=$docker_config docker push "$REGISTRY_IMAGE" 2>&1) \
    || die "docker push $REGISTRY_IMAGE failed: $(tail -n 3 <<<"$out") (registry log: $TB/registry/registry.log)"
  rm -rf "$docker_config"
  trap - EXIT
  [[ $(pushed_id) == "$image_id" ]] || die "after the push, $REGISTRY_IMAGE in the registry is not $image_id"
fi
# Not present locally, so a test pulling it really pulls (and needs the credentials). Only this
# tag goes: the image keeps $IMAGE.
if docker image inspect "$REGISTRY_IMAGE" >/dev/null 2>&1; then
  docker rmi "$REGISTRY_IMAGE" >/dev/null
fi
echo "testbed: registry ok: $REGISTRY (user $REGISTRY_USER), image $REGISTRY_IMAGE"

# ---------------------------------------------------------------------------------------------
# 7. A SLURM cluster "ci" on loopback, driven the way a user drives one: ssh to a login node (our
# sshd), then sbatch/squeue/sacct/scancel there as a plain user. munged, MariaDB, slurmdbd,
# slurmctld and one slurmd per node all run on this machine; their config, state and logs live
# under $SD. Ports: slurmctld 16817, slurmd 17001/17002, slurmdbd 16819, MariaDB 13306.
export SLURM_CONF=$SLURM_CONF_FILE     # for the SLURM commands below (the login shell gets it from sshd)
slurm_started=false                    # a daemon (re)started: submit a smoke job at the end

# The plain user. '*' rather than useradd's locked '!': sshd with UsePAM no refuses locked accounts.
if ! id -u "$CLUSTER_USER" >/dev/null 2>&1; then
  echo "testbed: adding user $CLUSTER_USER"
  useradd --create-home --home-dir "$CLUSTER_HOME" --shell /bin/bash "$CLUSTER_USER"
fi
[[ $(getent shadow "$CLUSTER_USER" | cut -d: -f2) == '*' ]] || usermod -p '*' "$CLUSTER_USER"
[[ -d $CLUSTER_HOME ]] || install -d -m 755 -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$CLUSTER_HOME"
[[ -d $CLUSTER_BASE ]] || install -d -m 755 -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$CLUSTER_BASE"

[[ -f $SLURM_KEY ]] || ssh-keygen -q -t ed25519 -N '' -C hoist-testbed-slurm-client -f "$SLURM_KEY"
# Owned by the user: sshd opens it with the user's uid.
install -m 600 -o "$CLUSTER_USER" -g "$CLUSTER_USER" "$SLURM_KEY.pub" "$TB/ssh/authorized_keys/$CLUSTER_USER"
ssh_host 'hoist testbed slurm' "$SLURM_ALIAS" "$CLUSTER_USER" "$SLURM_KEY"
pin_host_key "$SLURM_ALIAS"

mkdir -p "$SD"/{etc,state,spool/node1,spool/node2,log,run,dev,mysql}
chmod 755 "$SD" "$SD/etc"
# Fake GPUs: gres/gpu needs character devices (a regular file or none drains the node); copies of
# /dev/null, shared by both nodes.
for i in 0 1; do
  [[ -c $SD/dev/fakegpu$i ]] || { rm -f "$SD/dev/fakegpu$i"; mknod -m 666 "$SD/dev/fakegpu$i" c 1 3; }
done

slurm_changed=false
put "$SLURM_CONF_FILE" "# Written by scripts/testbed.sh: hoist's test cluster, two nodes on loopback.
ClusterName=ci
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SD/state
SlurmdSpoolDir=$SD/spool/%n
SlurmctldPidFile=$SD/run/slurmctld.pid
SlurmdPidFile=$SD/run/slurmd-%n.pid
SlurmctldLogFile=$SD/log/slurmctld.log
SlurmdLogFile=$SD/log/slurmd-%n.log
# No cgroups here: linuxproc tracks processes, so no memory limit is enforced.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=16819
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/filetxt
JobCompLoc=$SD/log/jobcomp.txt
# Schedule within about a second, not the default minute.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,bf_interval=1,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Two nodes on a 2-core machine: trust the node lines, not the hardware.
SlurmdParameters=config_overrides
GresTypes=gpu
# Finished jobs stay visible to squeue/scontrol for an hour.
MinJobAge=3600
# A request over a partition's limits (time, nodes) is refused at submit, not left pending forever.
EnforcePartLimits=ALL
# A node that was down (slurmd restarted) comes back by itself; DRAIN does not.
ReturnToService=2
SlurmdTimeout=30
NodeName=node1 NodeAddr=127.0.0.1 NodeHostname=localhost Port=17001 CPUs=2 RealMemory=2000 Gres=gpu:2
NodeName=node2 NodeAddr=127.0.0.1 NodeHostname=localhost Port=17002 CPUs=2 RealMemory=2000 Gres=gpu:2
PartitionName=debug Nodes=node[1-2] Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=node[1-2] MaxTime=00:10:00 State=UP
" && slurm_changed=true
put "$SD/etc/gres.conf" "AutoDetect=off
NodeName=node[1-2] Name=gpu File=$SD/dev/fakegpu[0-1]
" && slurm_changed=true
# slurmdbd has no -f: it reads slurmdbd.conf beside \$SLURM_CONF. It holds the database password.
dbd_changed=false
put "$SD/etc/slurmdbd.conf" "AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=16819
SlurmUser=root
LogFile=$SD/log/slurmdbd.log
PidFile=$SD/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
" 600 && dbd_changed=true

# munged, on its default socket (/run/munge), where SLURM's auth/munge looks.
if ! ours /run/munge/munged.pid /usr/sbin/munged; then
  echo "testbed: starting munged"
  [[ -s /etc/munge/munge.key ]] || runuser -u munge -- mungekey --create \
    || die "no /etc/munge/munge.key and mungekey could not make one (reinstall munge: apt-get install --reinstall munge)"
  install -d -m 755 -o munge -g munge /run/munge
  # It daemonizes itself once its socket is up.
  runuser -u munge -- /usr/sbin/munged </dev/null >>"$SD/log/munged.out" 2>&1 \
    || die "munged did not start; see /var/log/munge/munged.log and $SD/log/munged.out"
  wait_for 10 munge -n || die "munged does not answer on /run/munge/munge.socket.2; see /var/log/munge/munged.log"
  slurm_started=true
fi

# MariaDB for slurmdbd: our own datadir, socket and port, not Debian's /var/lib/mysql and 3306.
# Every path it writes must belong to mysql, or it exits without a word.
DB=$SD/mysql
db() { mariadb --no-defaults --protocol=socket --socket="$DB/mysqld.sock" -u root "$@"; }
if ! ours "$DB/mysqld.pid" /usr/sbin/mariadbd; then
  echo "testbed: starting MariaDB on 127.0.0.1:$DB_PORT"
  chown mysql:mysql "$DB"
  chmod 700 "$DB"
  # The marker is written only after a complete initialisation: a half-made datadir is redone.
  if [[ ! -f $DB/initialized ]]; then
    rm -rf "$DB/data"
    runuser -u mysql -- mariadb-install-db --no-defaults --datadir="$DB/data" --auth-root-authentication-method=socket \
      --skip-test-db >"$DB/install.log" 2>&1 || die "mariadb-install-db failed; see $DB/install.log"
    touch "$DB/initialized"
  fi
  setsid nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB/data" --socket="$DB/mysqld.sock" \
    --pid-file="$DB/mysqld.pid" --bind-address=127.0.0.1 --port="$DB_PORT" --skip-name-resolve \
    --log-error="$DB/mariadb.log" </dev/null >>"$DB/mariadb.out" 2>&1 &
  wait_for 30 db -e 'SELECT 1' || die "MariaDB does not answer on $DB/mysqld.sock; see $DB/mariadb.log"
  slurm_started=true
fi
# Root logs in through the socket (unix_socket auth); slurmdbd over TCP with a password.
db -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
       ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
       GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
  || die "cannot create MariaDB user slurm (MariaDB log: $DB/mariadb.log)"

# SLURM daemons, restarted when their config changed. Each daemonizes itself and writes its pid file.
SLURM_DAEMONS=(slurmdbd slurmctld slurmd-node1 slurmd-node2)
declare -A DAEMON_EXE=([slurmdbd]=/usr/sbin/slurmdbd [slurmctld]=/usr/sbin/slurmctld [slurmd-node1]=/usr/sbin/slurmd [slurmd-node2]=/usr/sbin/slurmd)
declare -A DAEMON_CMD=([slurmdbd]=/usr/sbin/slurmdbd [slurmctld]="/usr/sbin/slurmctld -f $SLURM_CONF"
  [slurmd-node1]="/usr/sbin/slurmd -f $SLURM_CONF -N node1" [slurmd-node2]="/usr/sbin/slurmd -f $SLURM_CONF -N node2")
# What each must answer before the next starts: slurmctld registers the cluster with slurmdbd, and
# each slurmd registers with slurmctld.
declare -A DAEMON_PORT=([slurmdbd]=16819 [slurmctld]=16817 [slurmd-node1]=17001 [slurmd-node2]=17002)
for d in "${SLURM_DAEMONS[@]}"; do
  pidfile=$SD/run/$d.pid
  if ours "$pidfile" "${DAEMON_EXE[$d]}"; then
    if { [[ $d == slurmdbd ]] && $dbd_changed; } || { [[ $d != slurmdbd ]] && $slurm_changed; }; then
      stop_ours "$pidfile" "${DAEMON_EXE[$d]}" "$d"
    else
      continue
    fi
  fi
  echo "testbed: starting $d"
  rm -f "$pidfile"
  # shellcheck disable=SC2086 # the command line is meant to split
  ${DAEMON_CMD[$d]} </dev/null >>"$SD/log/$d.out" 2>&1 || die "$d did not start; see $SD/log/$d.log and $SD/log/$d.out"
  wait_for 15 ours "$pidfile" "${DAEMON_EXE[$d]}" || die "$d exited after starting; see $SD/log/$d.log"
  wait_for 15 listening "${DAEMON_PORT[$d]}" || die "$d is not listening on port ${DAEMON_PORT[$d]}; see $SD/log/$d.log"
  slurm_started=true
done

# Both nodes up. Idle on a quiet cluster; busy ones count (tests may be running). A node drained
# or set down by an earlier run stays so across restarts: resume it. A node whose slurmd has not
# registered yet ('*': not responding) is waited for.
nodes_up() {
  local node state up=0
  while read -r node state; do
    case $state in
      idle | mixed | allocated | completing) ;;
      drain* | down | fail*) scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true; up=1 ;;
      *) up=1 ;;
    esac
  done < <(sinfo -h -N -p debug -o '%N %T')
  return $up
}
wait_for 30 nodes_up \
  || die "SLURM nodes are not up: $(sinfo -h -N -p debug -o '%N %T' 2>&1 | tr '\n' ' ')(reasons: $(sinfo -h -R 2>&1 | tr '\n' ' ')); see $SD/log/slurmd-node1.log and $SD/log/slurmctld.log"
# What a user sees on the login node: their name, SLURM_CONF from sshd, both partitions, their
# account (sacctmgr asks slurmdbd, so this also proves accounting answers). One ssh round trip.
expected="$CLUSTER_USER $SLURM_CONF_FILE
debug* up
short up
$CLUSTER_ACCOUNT"
login_ok() {
  # shellcheck disable=SC2016 # expanded by the remote shell
  seen=$(timeout 30 ssh -o BatchMode=yes "$SLURM_ALIAS" \
    'echo "$(id -un) $SLURM_CONF"; sinfo -h -o "%P %a"; sacctmgr -nP show assoc where user=$(id -un) format=account' </dev/null 2>&1) \
    && [[ $seen == "$expected" ]]
}
# After a start, or when the check fails, set accounting up (slurmdbd answers sacct, the cluster has
# registered itself, the user's association exists) before checking (again).
if $slurm_started || ! login_ok; then
  wait_for 30 sacct -n -X -S now \
    || die "sacct fails: $(sacct -n -X -S now 2>&1 | tail -n 1); see $SD/log/slurmdbd.log and $DB/mariadb.log"
  cluster_registered() { sacctmgr -nP show cluster format=cluster | grep -qx ci; }
  wait_for 30 cluster_registered || die "cluster ci is not registered in slurmdbd; see $SD/log/slurmctld.log and $SD/log/slurmdbd.log"
  # The user's association, as a site admin would add it.
  if [[ -z $(sacctmgr -nP show assoc where cluster=ci user="$CLUSTER_USER" account="$CLUSTER_ACCOUNT" format=account) ]]; then
    echo "testbed: adding SLURM account $CLUSTER_ACCOUNT with user $CLUSTER_USER"
    if [[ -z $(sacctmgr -nP show account "$CLUSTER_ACCOUNT" format=account) ]]; then
      sacctmgr -i add account "$CLUSTER_ACCOUNT" cluster=ci description='hoist tests' organization=hoist >/dev/null \
        || die "sacctmgr add account $CLUSTER_ACCOUNT failed"
    fi
    sacctmgr -i add user "$CLUSTER_USER" account="$CLUSTER_ACCOUNT" defaultaccount="$CLUSTER_ACCOUNT" cluster=ci >/dev/null \
      || die "sacctmgr add user $CLUSTER_USER failed"
  fi
  login_ok || die "ssh $SLURM_ALIAS printed '$seen', expected '$expected' (sshd log: $TB/ssh/sshd.log)"
fi

# After a (re)start, one real job end to end, as the user: scheduled on a node with both fake GPUs,
# its output on the shared filesystem, COMPLETED in accounting.
if $slurm_started; then
  smoke_out=$CLUSTER_HOME/.hoist-testbed-smoke.out
  rm -f "$smoke_out"
  job=$(timeout 30 ssh -o BatchMode=yes "$SLURM_ALIAS" \
    "sbatch --parsable --gres=gpu:2 -o $smoke_out --wrap 'echo \$SLURMD_NODENAME gpus=\$CUDA_VISIBLE_DEVICES'" </dev/null 2>&1) || true
  [[ $job =~ ^[0-9]+$ ]] || die "sbatch through ssh $SLURM_ALIAS failed: $job"
  job_completed() { [[ $(sacct -n -X -P -j "$job" -o State) == COMPLETED ]]; }
  wait_for 60 job_completed \
    || die "smoke job $job did not complete: squeue says '$(squeue -h -t all -j "$job" -o '%T %r' 2>&1)', sacct '$(sacct -n -X -P -j "$job" -o State,ExitCode 2>&1)'; see $SD/log/slurmctld.log"
  smoke=$(cat "$smoke_out" 2>&1) || true
  [[ $smoke =~ ^node[12]\ gpus=0,1$ ]] || die "smoke job $job printed '$smoke', expected 'nodeN gpus=0,1'"
  echo "testbed: slurm smoke job $job: $smoke"
fi
echo "testbed: slurm ok: ssh $SLURM_ALIAS (user $CLUSTER_USER), partitions debug,short, base $CLUSTER_BASE"

# ---------------------------------------------------------------------------------------------
# 8. An S3-compatible server on $S3_ENDPOINT, for the object store tests: s3s-fs, which keeps
# buckets as directories and objects as files under one root, and checks SigV4 signatures against
# one key pair. Not in Debian: built from crates.io with cargo, once.
mkdir -p "$S3_DIR" "$S3_ROOT"
# Sticky and world-writable, like /tmp: a test running as any user makes its bucket with mkdir
# (and cannot remove another's). $TB is traversable, so the path works for everyone.
chmod 1777 "$S3_ROOT"

# What the daemon runs, version included: it is restarted when this changes (a new version
# replaces the binary under it, so it must stop before the install).
s3_changed=false
s3_args=(--host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$S3_ROOT")
put "$S3_DIR/server.args" "s3s-fs $S3_VERSION ${s3_args[*]}" && s3_changed=true
if $s3_changed && ours "$S3_DIR/s3s-fs.pid" "$S3_BIN"; then
  stop_ours "$S3_DIR/s3s-fs.pid" "$S3_BIN" s3s-fs
fi

# `s3s-fs --version` prints "s3s-fs 0.14.1".
if [[ $("$S3_BIN" --version 2>/dev/null) != "s3s-fs $S3_VERSION" ]]; then
  # sudo's secure_path leaves rustup's ~/.cargo/bin out of PATH.
  cargo=$(command -v cargo || command -v /root/.cargo/bin/cargo) \
    || die "cargo is missing (not on PATH, not in /root/.cargo/bin); it builds the S3 server s3s-fs $S3_VERSION: install a Rust toolchain for root (https://rustup.rs, rustc 1.95 is enough) or put cargo on PATH, then rerun"
  echo "testbed: installing s3s-fs $S3_VERSION into $S3_DIR with $cargo (about 90 s; log $S3_DIR/install.log)"
  # From /: a rust-toolchain file in the caller's directory must not pick the toolchain. --locked:
  # the dependency versions s3s-fs was released with (newer ones may need a newer rustc).
  (cd / && "$cargo" install s3s-fs --version "$S3_VERSION" --features binary --locked --root "$S3_DIR") \
    </dev/null >"$S3_DIR/install.log" 2>&1 \
    || die "cargo install s3s-fs $S3_VERSION failed (it needs crates.io and rustc 1.95 or later): $(tail -n 3 "$S3_DIR/install.log"); full log $S3_DIR/install.log"
  [[ $("$S3_BIN" --version 2>/dev/null) == "s3s-fs $S3_VERSION" ]] \
    || die "after cargo install, $S3_BIN --version says '$("$S3_BIN" --version 2>&1)', expected 's3s-fs $S3_VERSION'"
fi

# Our own server; a foreign listener on the port is not touched, but named.
if ! ours "$S3_DIR/s3s-fs.pid" "$S3_BIN"; then
  listening "$S3_PORT" \
    && die "something else listens on 127.0.0.1:$S3_PORT (not our s3s-fs: pid file $S3_DIR/s3s-fs.pid); stop it and rerun"
  echo "testbed: starting s3s-fs on $S3_ENDPOINT, data in $S3_ROOT"
  # Detached like socat above; it does not daemonize itself. umask 0: the files and directories it
  # writes into a test's bucket belong to root, and the test (any user) must be able to remove
  # them with its bucket. RUST_LOG=info: the log says when it listens; refused requests are logged
  # as errors whatever the level.
  # The subshell opens the log before its umask and then becomes s3s-fs, so $! is the server's pid.
  (umask 0 && RUST_LOG=info exec setsid nohup "$S3_BIN" "${s3_args[@]}") </dev/null >>"$S3_DIR/s3s-fs.log" 2>&1 &
  echo $! >"$S3_DIR/s3s-fs.pid"
  wait_for 10 listening "$S3_PORT" || die "s3s-fs is not listening on 127.0.0.1:$S3_PORT; see $S3_DIR/s3s-fs.log"
  ours "$S3_DIR/s3s-fs.pid" "$S3_BIN" || die "s3s-fs exited after starting; see $S3_DIR/s3s-fs.log"
fi

# A signed request, as a client sends it: list the probe bucket (a directory, as a test makes it).
# curl 7.88 (Debian 12) signs but does not send x-amz-content-sha256, which S3 requires:
# UNSIGNED-PAYLOAD is one of its allowed values (newer curl takes the header as given).
mkdir -p "$S3_ROOT/$S3_PROBE_BUCKET"
# s3_list SECRET: "BODY\nSTATUS" of the probe bucket's listing, signed with SECRET.
s3_list() {
  curl -sS --max-time 5 -w '\n%{http_code}' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$1" "$S3_ENDPOINT/$S3_PROBE_BUCKET/" 2>&1
}
out=$(s3_list "$S3_SECRET_KEY") \
  || die "curl could not list $S3_ENDPOINT/$S3_PROBE_BUCKET/: ${out%$'\n'*} (--aws-sigv4 needs curl 7.75 or later; server log: $S3_DIR/s3s-fs.log)"
[[ ${out##*$'\n'} == 200 && $out == *"<Name>$S3_PROBE_BUCKET</Name>"* ]] \
  || die "a signed listing of $S3_ENDPOINT/$S3_PROBE_BUCKET/ answered '${out//$'\n'/ }', expected 200 and a ListBucketResult; is another server on port $S3_PORT, or ours with other keys? (ours: pid file $S3_DIR/s3s-fs.pid, log $S3_DIR/s3s-fs.log)"
# The tests of bad credentials rely on the refusal.
out=$(s3_list "wrong-$S3_SECRET_KEY") || die "curl could not ask $S3_ENDPOINT: ${out%$'\n'*}"
[[ ${out##*$'\n'} == 403 ]] \
  || die "a listing of $S3_ENDPOINT/$S3_PROBE_BUCKET/ signed with a wrong secret answered '${out//$'\n'/ }', expected 403: the server does not check signatures (ours: pid file $S3_DIR/s3s-fs.pid)"
echo "testbed: s3 ok: $S3_ENDPOINT (path-style, region $S3_REGION, key $S3_ACCESS_KEY), buckets are directories in $S3_ROOT"

echo "testbed: ready"
