#!/usr/bin/env bash
# Installs the real execution client the interop tests run (EthereumJS, from npm) into
# interop/node_modules, exactly as pinned by interop/package-lock.json. Idempotent: does nothing
# when that lock file is already installed. Needs node and npm (node 18+).
set -euo pipefail
cd "$(dirname "$0")/../interop"

entry=node_modules/@ethereumjs/client/dist/esm/bin/cli.js
stamp=node_modules/.executionbackup-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)

if [[ -f "$entry" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "interop: EthereumJS already installed ($(node -p "require('./node_modules/@ethereumjs/client/package.json').version"))"
    exit 0
fi

command -v npm >/dev/null || { echo "interop: npm is not installed" >&2; exit 1; }
echo "interop: npm ci (EthereumJS client, pinned by interop/package-lock.json)"
# Install scripts are not needed (the native modules ship prebuilt binaries) and are not run.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
test -f "$entry" || { echo "interop: $entry missing after npm ci" >&2; exit 1; }
echo "$want" > "$stamp"
echo "interop: EthereumJS $(node -p "require('./node_modules/@ethereumjs/client/package.json').version") installed"
