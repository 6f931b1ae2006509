#!/usr/bin/env bash
# The demo (README's main command): brings up a real control plane with OLM and Helm, replays
# both incidents without and with the guard, shows what a user sees, and tears everything down.
# Works on a fresh machine: installs Node 24 (cached), npm dependencies, and builds the pinned
# control-plane binaries on first use (cached by version).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. .ci/ensure-node.sh
command -v openssl >/dev/null || { echo "installing openssl (Debian package)"; apt-get update -qq && apt-get install -y -qq openssl; }
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
bash test/cluster/build-binaries.sh
exec node test/demo/demo.ts "$@"
