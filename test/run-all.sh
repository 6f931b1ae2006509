#!/usr/bin/env bash
# Runs every test: unit tests and the integration suite against a real control plane on
# loopback. Works on a fresh machine: it installs Node 24 (cached), the npm dependencies, and
# builds the pinned control-plane binaries on first use (cached by version).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .ci/ensure-node.sh
command -v openssl >/dev/null || { echo "installing openssl (Debian package)"; apt-get update -qq && apt-get install -y -qq openssl; }
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
bash test/cluster/build-binaries.sh
exec npx vitest run "$@"
