#!/usr/bin/env bash
# Runs every test: unit tests and the integration suite against a real control plane on
# loopback. Works on a fresh machine (see test/bootstrap.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. test/bootstrap.sh
# The with-guard scenarios fail, never skip, when the guard cannot run.
export TG_REQUIRE_GUARD="${TG_REQUIRE_GUARD:-1}"
exec npx vitest run "$@"
