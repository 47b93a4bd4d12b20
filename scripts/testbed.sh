#!/usr/bin/env bash
# Install what the test suite needs on a fresh Debian machine (as root), or say exactly what
# is missing. Idempotent: a ready machine costs a few `command -v` checks.
set -euo pipefail

# command -> Debian package that provides it
declare -A NEED=(
  [sqlite3]=sqlite3     # store tests poke the database file directly (schema version, old rows)
  [python3]=python3     # a test allocates memory under a --memory limit
  [sh]=dash
)

missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "testbed: missing ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "testbed: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "testbed: $cmd is still missing after install" >&2; exit 1; }
done
echo "testbed: ready"
