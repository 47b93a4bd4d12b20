#!/usr/bin/env bash
# Install and start what the test suite needs on a fresh Debian machine (as root), or say exactly
# what is missing and how to fix it. Nothing is skipped: a component that cannot be set up fails
# the run. Idempotent: on a ready machine it only checks (about half a second, mostly the ssh round trip).
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
#     daemon does not have locally, so pulling it really asks the registry.
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

# listening PORT: something accepts TCP connections on 127.0.0.1:PORT (bash's /dev/tcp, so no
# dependency on ss/netstat).
listening() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages, starts sshd, socat and a registry, and writes /root/.ssh): sudo $0"

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
  [curl]=curl                           # probing it
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# Debian's plain `busybox` package also provides /bin/busybox, but linked dynamically: useless in
# an image with no libc. busybox-static replaces it.
[[ $(dpkg-query -W -f '${db:Status-Status}' busybox-static 2>/dev/null) == installed ]] || missing+=(busybox-static)

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
chmod 700 "$TB" "$TB/ssh"
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
# A non-interactive ssh command gets this PATH: the docker CLI may live in /usr/local/bin.
SetEnv PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
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
sshd_pid=$(cat "$TB/ssh/sshd.pid" 2>/dev/null || true)
ours_running() { [[ -n $sshd_pid ]] && kill -0 "$sshd_pid" 2>/dev/null && [[ $(readlink "/proc/$sshd_pid/exe") == /usr/sbin/sshd ]]; }
if $config_changed && ours_running; then
  echo "testbed: sshd config changed; restarting sshd (pid $sshd_pid)"
  kill "$sshd_pid"
  wait_for 10 bash -c "! kill -0 $sshd_pid" || die "sshd (pid $sshd_pid) did not stop"
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
begin='# >>> hoist testbed (scripts/testbed.sh) >>>'
end='# <<< hoist testbed <<<'
block="$begin
Host $SSH_ALIAS
    HostName 127.0.0.1
    Port $SSH_PORT
    User root
    IdentityFile $CLIENT_KEY
    IdentitiesOnly yes
    HostKeyAlias $SSH_ALIAS
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

known="$SSH_ALIAS $(cut -d' ' -f1,2 "$TB/ssh/ssh_host_ed25519_key.pub")"
touch /root/.ssh/known_hosts
chmod 600 /root/.ssh/known_hosts
if ! grep -qxF "$known" /root/.ssh/known_hosts; then
  # A stale key for the alias (the testbed was wiped and rebuilt) would make ssh refuse: replace it.
  ssh-keygen -q -R "$SSH_ALIAS" -f /root/.ssh/known_hosts >/dev/null 2>&1 || true
  rm -f /root/.ssh/known_hosts.old
  echo "$known" >>/root/.ssh/known_hosts
fi

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
registry_pid=$(cat "$TB/registry/registry.pid" 2>/dev/null || true)
registry_ours() { [[ -n $registry_pid ]] && kill -0 "$registry_pid" 2>/dev/null && [[ $(readlink "/proc/$registry_pid/exe") == "$(readlink -f "$REGISTRY_BIN")" ]]; }
if $registry_changed && registry_ours; then
  echo "testbed: registry config changed; restarting the registry (pid $registry_pid)"
  kill "$registry_pid"
  wait_for 10 bash -c "! kill -0 $registry_pid" || die "the registry (pid $registry_pid) did not stop"
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

echo "testbed: ready"
