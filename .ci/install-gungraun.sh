#!/usr/bin/env bash
# Installs what the instruction-count benchmarks need, when missing: valgrind (Debian package)
# and gungraun-runner at the version of the gungraun library in Cargo.lock (they must match).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  echo "installing valgrind"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq valgrind >/dev/null
fi
want=$(awk '/^name = "gungraun"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [[ -z "$want" ]]; then
  echo "install-gungraun: no gungraun in Cargo.lock" >&2
  exit 1
fi
have=$(gungraun-runner --version 2>/dev/null | awk '{ print $2 }' || true)
if [[ "$have" != "$want" ]]; then
  echo "installing gungraun-runner $want (found: ${have:-none})"
  cargo install --locked --quiet gungraun-runner --version "$want"
fi
valgrind --version
gungraun-runner --version
