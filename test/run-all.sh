#!/usr/bin/env bash
# Runs every test: unit tests and the integration suite against a real control plane on
# loopback. Works on a fresh machine (see test/bootstrap.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/bootstrap.sh
exec npx vitest run "$@"
