#!/usr/bin/env bash
# The demo (README's main command): brings up a real control plane with OLM and Helm, replays
# both incidents without and with the guard, shows what a user sees, and tears everything down.
# Works on a fresh machine (see test/bootstrap.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. test/bootstrap.sh
exec node test/demo/demo.ts "$@"
